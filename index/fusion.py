"""Fusing the arms' ranked lists: reciprocal rank, and a learned score that is also the confidence.

``fuse`` is plain reciprocal-rank fusion (what ``dense`` uses for its two views). ``hybrid``
ranks the arms' candidates by a logistic model over each candidate's ranks and scores
(``feature_matrix``), fitted on the tuning set: equal-weight RRF let BM25 push lexically similar but
wrong passages up when the question's words differ from the source's, and the model learns to
trust BM25 by how much of the question the passage actually matches (``coverage``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.calibrate import LogisticModel
from index.lexical import Coverage
from index.records import ArmScore
from index.store import Match

# Cormack et al.'s constant; bench/ and eval/ measured the alternatives (see README).
RRF_K = 60
# Each arm's best this many rows are scored by the model; deeper rows never reached the top 10
# of any fusion measured on the tuning set.
CANDIDATES = 20
ARMS = ("dense", "dense_window", "bm25")
FEATURES = ("dense_rr", "dense_window_rr", "bm25_rr", "dense_cosine", "dense_gap", "bm25_share", "coverage")
# An English question's arms are other evidence (BM25 reads it through the dictionary, the dense arm across
# languages; the blind sets pooled: BM25 English Recall@5 0.909, dense 0.806): whether the question is
# English, and each feature again for English questions alone, let the model weigh them apart.
ENGLISH_FEATURES = ("english", *(f"english_{name}" for name in FEATURES))
_MISSED = ArmScore(None, None)


def fuse(arms: dict[str, list[Match]], *, rrf_k: int = RRF_K, limit: int | None = None) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: each arm adds 1/(rrf_k + rank) for the rows it ranked.

    Returns the best ``limit`` (default all) as (row, fused score), best first; ties keep the
    order in which the arms first listed the rows, so the result is deterministic.
    """
    fused: dict[int, float] = {}  # insertion order = first appearance, which the stable sort keeps for ties
    for ranked in arms.values():
        for rank, match in enumerate(ranked, start=1):
            fused[match.row] = fused.get(match.row, 0.0) + 1.0 / (rrf_k + rank)
    best = sorted(fused, key=fused.__getitem__, reverse=True)[:limit]
    return [(row, fused[row]) for row in best]


def arm_scores(arms: dict[str, list[Match]], rows: Sequence[int]) -> dict[int, dict[str, ArmScore]]:
    """For each of ``rows``, every arm's score and 1-based rank (None where it missed the row).

    Asked only for the rows a response shows: on the 10M-character library the arms list ~300
    rows, and scoring them all took 1.1 ms of a query.
    """
    listed = {arm: {match.row: (rank, match.score) for rank, match in enumerate(ranked, start=1)}
              for arm, ranked in arms.items()}
    scores = {}
    for row in rows:
        scores[row] = {}
        for arm, places in listed.items():
            rank, score = places.get(row, (None, None))
            scores[row][arm] = _MISSED if rank is None else ArmScore(score=score, rank=rank)
    return scores


def candidates(arms: dict[str, list[Match]], *, depth: int = CANDIDATES) -> list[int]:
    """Rows in any arm's best ``depth``, in the order the arms first list them."""
    return list(dict.fromkeys(m.row for ranked in arms.values() for m in ranked[:depth]))


def feature_matrix(rows: Sequence[int], arms: dict[str, list[Match]], coverage: Coverage,
                   names: Sequence[str], *, english: bool = False, rrf_k: int = RRF_K) -> np.ndarray:
    """The model inputs (``names``, from ``FEATURES`` and ``ENGLISH_FEATURES``) of each of ``rows``.

    ``*_rr`` is rrf_k/(rrf_k + rank) (RRF's term, scaled so rank 1 is near 1), 0 where the arm
    missed the row; ``dense_cosine`` is the sentence view's cosine, taken as its list's lowest
    where the row is not listed (it scored below that), and ``dense_gap`` its distance to the
    best; ``bm25_share`` is the BM25 score over the arm's best; ``coverage`` comes from
    ``coverage(rows)`` (``TermStats.coverage_of``); ``english`` is 1 for an ``english`` question, and
    ``english_<feature>`` the feature there, 0 for any other.
    """
    position = {row: i for i, row in enumerate(rows)}
    columns: dict[str, np.ndarray] = {}
    for arm in ARMS:
        values = np.zeros(len(rows))
        for rank, match in enumerate(arms.get(arm) or [], start=1):
            if match.row in position:
                values[position[match.row]] = rrf_k / (rrf_k + rank)
        columns[f"{arm}_rr"] = values
    dense = arms.get("dense") or []
    cosine = np.full(len(rows), dense[-1].score if dense else 0.0)
    for match in dense:
        if match.row in position:
            cosine[position[match.row]] = match.score
    columns["dense_cosine"] = cosine
    columns["dense_gap"] = (dense[0].score - cosine) if dense else np.zeros(len(rows))
    share = np.zeros(len(rows))
    lexical = arms.get("bm25") or []
    if lexical and lexical[0].score > 0:
        for match in lexical:
            if match.row in position:
                share[position[match.row]] = match.score / lexical[0].score
    columns["bm25_share"] = share
    columns["coverage"] = np.asarray(coverage(rows), dtype=float).reshape(len(rows))
    columns["english"] = np.full(len(rows), float(english))
    for name in FEATURES:
        columns[f"english_{name}"] = columns[name] * float(english)
    matrix = np.column_stack([columns[n] for n in names]) if names else np.zeros((len(rows), 0))
    return matrix.reshape(len(rows), len(names))


def learned_fuse(arms: dict[str, list[Match]], model: LogisticModel, coverage: Coverage, *,
                 english: bool = False, limit: int | None = None, rrf_k: int = RRF_K,
                 depth: int = CANDIDATES) -> list[tuple[int, float]]:
    """The candidates ranked by the model's probability, as (row, probability), best first.

    Ties keep the arms' first-listed order, as ``fuse`` does.
    """
    rows = candidates(arms, depth=depth)
    probability = model.probability(feature_matrix(rows, arms, coverage, model.features, english=english,
                                                   rrf_k=rrf_k))
    order = np.argsort(-probability, kind="stable")[:limit]
    return [(rows[i], float(probability[i])) for i in order]


def confidences(ranked: Sequence[tuple[int, float]], arms: dict[str, list[Match]],
                model: LogisticModel, coverage: Coverage, *, english: bool = False,
                rrf_k: int = RRF_K) -> list[float]:
    """The model's probability for each already-ranked row (the single-arm modes keep their order)."""
    rows = [row for row, _ in ranked]
    matrix = feature_matrix(rows, arms, coverage, model.features, english=english, rrf_k=rrf_k)
    return [float(p) for p in model.probability(matrix)] if rows else []
