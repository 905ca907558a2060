"""What a passage's own span vectors tell without a model call: how close each of its sentences is
to a query, and which passages of other speeches make the same point.

The vectors are the ones the build stored, read back from an in-process FAISS index; a store that
keeps its vectors elsewhere (Milvus) offers none, and the callers fall back (best sentence) or say
so (similar passages).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from index.store import VIEWS, IndexStore, Match

SENTENCE_VIEW = VIEWS.index("sentence")
# Passages each source sentence retrieves before the scores are pooled: deep enough that a passage
# close on several of the source's sentences is seen for each of them.
SIMILAR_DEPTH = 50


def span_vectors(store: IndexStore, unit_ids: Sequence[int]) -> np.ndarray | None:
    """The stored unit vectors of these span rows, or None when the store does not hold them in process."""
    return store.span_vectors(unit_ids) if offers_similar(store) else None


def offers_similar(store: IndexStore) -> bool:
    """Whether the store holds its span vectors in process, which finding similar passages reads."""
    return getattr(store, "span_vectors", None) is not None  # FaissBm25Store's; MilvusStore has none


def sentence_units(store: IndexStore, row: int) -> np.ndarray:
    """The unit ids of a passage's sentences, in reading order (the cut ``split_sentences`` makes).

    Both stores keep units in passage-row order, so a passage's units are one slice, found by bisection.
    """
    units = store.units
    first, end = np.searchsorted(units[:, 0], (row, row + 1))
    return first + np.flatnonzero(units[first:end, 3] == SENTENCE_VIEW)


def sentence_scores(store: IndexStore, rows: Sequence[int], query: np.ndarray) -> list[tuple[float, ...]] | None:
    """Cosine of each sentence of each passage in ``rows`` to a unit query vector, one tuple per row,
    or None without stored vectors.

    The rows' vectors are gathered in one call and scored in one product: per row, a result page's
    ten passages cost ten FAISS calls and ten products, ~0.3 ms of a query on the AVX2 EPYC.
    """
    units = [sentence_units(store, row) for row in rows]
    vectors = span_vectors(store, np.concatenate(units) if units else np.zeros(0, dtype=np.int64))
    if vectors is None:
        return None
    scores = (vectors @ np.asarray(query, dtype=np.float32)).tolist()
    per_row, start = [], 0
    for ids in units:
        per_row.append(tuple(scores[start:start + len(ids)]))
        start += len(ids)
    return per_row


def similar_rows(store: IndexStore, row: int, k: int, *, excluded: Sequence[int] = ()) -> list[Match] | None:
    """Up to ``k`` passages of other speeches that make the points passage ``row`` makes, one per speech.

    Each of the passage's sentences retrieves the passages whose best sentence is closest to it
    (the search's own dense arm); a candidate's score is the mean, over the source sentences,
    of its best cosine to each (a source sentence that did not reach it counts as the lowest
    score that sentence retrieved), so a passage close on several points beats one that shares
    a single stock phrase. The source passage's speech and the rows in ``excluded`` (its
    reprints) are never candidates; the best passage of each remaining speech competes, so the
    answers come from ``k`` different speeches. ``span`` is the candidate's sentence closest to
    any source sentence. None when the store offers no vectors.
    """
    vectors = span_vectors(store, sentence_units(store, row))
    if vectors is None:
        return None
    passages = store.passages
    speech_id = passages[row].speech_id
    banned = set(excluded)
    allowed = [r for r, passage in enumerate(passages) if passage.speech_id != speech_id and r not in banned]
    if not allowed or len(vectors) == 0 or k <= 0:
        return []
    totals: dict[int, float] = {}
    seen: dict[int, int] = {}
    closest: dict[int, tuple[float, tuple[int, int] | None]] = {}
    floor_sum = 0.0
    for vector in vectors:
        matches = store.dense_search(vector, SIMILAR_DEPTH, allowed)["sentence"]
        if not matches:
            continue
        floor = matches[-1].score
        floor_sum += floor
        for match in matches:
            # stored as the excess over this sentence's floor, so the floor can be added back for all
            totals[match.row] = totals.get(match.row, 0.0) + match.score - floor
            seen[match.row] = seen.get(match.row, 0) + 1
            if match.score > closest.get(match.row, (-2.0, None))[0]:
                closest[match.row] = (match.score, match.span)
    count = len(vectors)
    scored = sorted(totals, key=lambda r: (-(totals[r] + floor_sum) / count, r))
    best_of_speech: dict[str, int] = {}
    for candidate in scored:
        best_of_speech.setdefault(passages[candidate].speech_id, candidate)
    chosen = list(best_of_speech.values())[:k]  # insertion order is score order
    return [Match(r, (totals[r] + floor_sum) / count, closest[r][1]) for r in chosen]


def reprint_rows(passages: Sequence, groups: Sequence[int], row: int) -> list[int]:
    """Rows of the speeches that reprint passage ``row``'s speech: any speech with a passage in a
    near-duplicate group (``groups``: a group id per row) that one of this speech's passages is in."""
    speech_id = passages[row].speech_id
    own_groups = {groups[r] for r, passage in enumerate(passages) if passage.speech_id == speech_id}
    reprinting = {passage.speech_id for r, passage in enumerate(passages)
                  if passage.speech_id != speech_id and groups[r] in own_groups}
    return [r for r, passage in enumerate(passages) if passage.speech_id in reprinting]
