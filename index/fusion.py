"""Fusing the arms' ranked lists: reciprocal rank, and a learned score that is also the confidence.

``fuse`` is plain reciprocal-rank fusion (what ``dense`` uses for its two views). ``hybrid``
ranks the arms' candidates by a logistic model over each candidate's ranks and scores
(``feature_matrix``), fitted on the tuning set: equal-weight RRF let BM25 push lexically similar but
wrong passages up when the question's words differ from the source's, and the model learns to
trust BM25 by how much of the question the passage actually matches (``coverage``).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from index.calibrate import LogisticModel
from index.records import ArmScore
from index.store import Match

# Cormack et al.'s constant; bench/ and eval/ measured the alternatives (see README).
RRF_K = 60
# Each arm's best this many rows are scored by the model; deeper rows never reached the top 10
# of any fusion measured on the tuning set.
CANDIDATES = 20
ARMS = ("dense", "dense_window", "bm25")
FEATURES = ("dense_rr", "dense_window_rr", "bm25_rr", "dense_cosine", "dense_gap", "bm25_share", "coverage")
_MISSED = ArmScore(None, None)


def fuse(arms: dict[str, list[Match]], *, rrf_k: int = RRF_K,
         limit: int | None = None) -> list[tuple[int, float, dict[str, ArmScore]]]:
    """Reciprocal-rank fusion: each arm adds 1/(rrf_k + rank) for the rows it ranked.

    Returns the best ``limit`` (default all) as (row, fused score, per-arm score and rank),
    best first; ties keep the order in which the arms first listed the rows, so the result
    is deterministic.
    """
    fused: dict[int, float] = {}  # insertion order = first appearance, which the stable sort keeps for ties
    seen = arm_scores(arms)
    for ranked in arms.values():
        for rank, match in enumerate(ranked, start=1):
            fused[match.row] = fused.get(match.row, 0.0) + 1.0 / (rrf_k + rank)
    best = sorted(fused, key=fused.__getitem__, reverse=True)[:limit]
    return [(row, fused[row], seen[row]) for row in best]


def arm_scores(arms: dict[str, list[Match]]) -> dict[int, dict[str, ArmScore]]:
    """Per row any arm listed, every arm's score and 1-based rank (None where it missed the row)."""
    seen: dict[int, dict[str, ArmScore]] = {}
    for arm, ranked in arms.items():
        for rank, match in enumerate(ranked, start=1):
            seen.setdefault(match.row, {})[arm] = ArmScore(score=match.score, rank=rank)
    return {row: {arm: scores.get(arm, _MISSED) for arm in arms} for row, scores in seen.items()}


@dataclass(frozen=True)
class TermStats:
    """Which BM25 terms each passage holds, and how rare each term is: enough to measure coverage."""

    terms: tuple[frozenset[str], ...]
    document_frequency: dict[str, int]

    @classmethod
    def of(cls, documents: Iterable[Iterable[str]]) -> TermStats:
        """Stats over the passages' BM25 terms, in row order."""
        terms = tuple(frozenset(d) for d in documents)
        return cls(terms, dict(Counter(t for d in terms for t in d)))

    def idf(self, term: str) -> float:
        """BM25's (Lucene) inverse document frequency; a term no passage holds gets the largest."""
        df = self.document_frequency.get(term, 0)
        return math.log(1 + (len(self.terms) - df + 0.5) / (df + 0.5))

    def coverage(self, query_terms: Sequence[str], row: int) -> float:
        """The share of the query's IDF weight that passage ``row`` holds (0 for no terms)."""
        return self.coverage_of(query_terms)(row)

    def coverage_of(self, query_terms: Sequence[str]) -> Callable[[int], float]:
        """``coverage`` for one query, its term weights computed once for all the rows it scores."""
        weights = {t: self.idf(t) for t in dict.fromkeys(query_terms)}
        total = sum(weights.values())

        def share(row: int) -> float:
            if not total:
                return 0.0
            held = self.terms[row]
            return sum(w for t, w in weights.items() if t in held) / total

        return share


def candidates(arms: dict[str, list[Match]], *, depth: int = CANDIDATES) -> list[int]:
    """Rows in any arm's best ``depth``, in the order the arms first list them."""
    return list(dict.fromkeys(m.row for ranked in arms.values() for m in ranked[:depth]))


def feature_matrix(rows: Sequence[int], arms: dict[str, list[Match]], coverage: Callable[[int], float],
                   names: Sequence[str], *, rrf_k: int = RRF_K) -> tuple[np.ndarray, dict[int, dict[str, ArmScore]]]:
    """The model inputs (``names``, from ``FEATURES``) of each of ``rows``, and every row's arm scores.

    ``*_rr`` is rrf_k/(rrf_k + rank) (RRF's term, scaled so rank 1 is near 1), 0 where the arm
    missed the row; ``dense_cosine`` is the sentence view's cosine, taken as its list's lowest
    where the row is not listed (it scored below that), and ``dense_gap`` its distance to the
    best; ``bm25_share`` is the BM25 score over the arm's best; ``coverage`` comes from
    ``coverage(row)`` (``TermStats.coverage_of``).
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
    columns["coverage"] = np.array([coverage(row) for row in rows], dtype=float)
    matrix = np.column_stack([columns[n] for n in names]) if names else np.zeros((len(rows), 0))
    seen = arm_scores(arms)
    return matrix.reshape(len(rows), len(names)), seen


def learned_fuse(arms: dict[str, list[Match]], model: LogisticModel, coverage: Callable[[int], float], *,
                 limit: int | None = None, rrf_k: int = RRF_K,
                 depth: int = CANDIDATES) -> list[tuple[int, float, dict[str, ArmScore]]]:
    """The candidates ranked by the model's probability, as (row, probability, arm scores), best first.

    Ties keep the arms' first-listed order, as ``fuse`` does.
    """
    rows = candidates(arms, depth=depth)
    matrix, seen = feature_matrix(rows, arms, coverage, model.features, rrf_k=rrf_k)
    probability = model.probability(matrix)
    order = np.argsort(-probability, kind="stable")[:limit]
    return [(rows[i], float(probability[i]), seen[rows[i]]) for i in order]


def confidences(ranked: Sequence[tuple[int, float, dict[str, ArmScore]]], arms: dict[str, list[Match]],
                model: LogisticModel, coverage: Callable[[int], float], *, rrf_k: int = RRF_K) -> list[float]:
    """The model's probability for each already-ranked row (the single-arm modes keep their order)."""
    rows = [row for row, _, _ in ranked]
    matrix, _ = feature_matrix(rows, arms, coverage, model.features, rrf_k=rrf_k)
    return [float(p) for p in model.probability(matrix)] if rows else []
