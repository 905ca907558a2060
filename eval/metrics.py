"""Ranking metrics as pure functions over one question's relevance list.

``rels[i]`` says whether the result at rank ``i + 1`` is relevant. The lists come from
the gold-span rule (eval/scoring.py), which knows which retrieved passages are relevant
but not how many relevant passages the corpus holds, so every metric here treats a
question as having one answer (see ``ndcg_at_k``).
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer (got {k!r})")


def first_relevant(rels: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant result, or None when there is none."""
    for rank, rel in enumerate(rels, start=1):
        if rel:
            return rank
    return None


def recall_at_k(rels: Sequence[bool], k: int) -> float:
    """Success@k: 1.0 when any of the top ``k`` results is relevant, else 0.0.

    With one answer per question this is recall@k; it is *not* the fraction of all
    relevant passages found, which the gold-span rule cannot count.
    """
    _check_k(k)
    return 1.0 if any(rels[:k]) else 0.0


def mrr(rels: Sequence[bool], k: int = 10) -> float:
    """Reciprocal rank of the first relevant result within the top ``k`` (0.0 if none)."""
    _check_k(k)
    rank = first_relevant(rels[:k])
    return 0.0 if rank is None else 1.0 / rank


def ndcg_at_k(rels: Sequence[bool], k: int, *, n_relevant: int = 1) -> float:
    """Normalised DCG with binary gains and a log2(rank + 1) discount.

    The ideal DCG is that of ``n_relevant`` relevant results at the top; the default
    of one matches the gold-span rule, where spans are alternative wordings of one
    answer and a second matching passage is usually an overlapping or repeated copy
    of it. Only the first ``n_relevant`` relevant hits earn gain, so repeats are not
    rewarded and the score stays in [0, 1]; with the default it is
    ``1 / log2(1 + rank of the first relevant hit)``.
    """
    _check_k(k)
    _check_k(n_relevant)
    dcg = 0.0
    credited = 0
    for rank, rel in enumerate(rels[:k], start=1):
        if rel and credited < n_relevant:
            dcg += 1.0 / math.log2(rank + 1)
            credited += 1
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(n_relevant, k) + 1))
    return dcg / ideal


def aggregate(per_question: Iterable[Mapping[str, float | None]]) -> dict[str, float | int | None]:
    """Mean of each metric over the questions, plus ``n`` (the number of questions).

    A value of None means "does not apply to this question" (speech accuracy for a
    question with no expected speech) and is left out of that metric's mean; a metric
    that applies to no question comes out as None.
    """
    rows = list(per_question)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for row in rows:
        for name, value in row.items():
            sums.setdefault(name, 0.0)
            counts.setdefault(name, 0)
            if value is not None:
                sums[name] += float(value)
                counts[name] += 1
    result: dict[str, float | int | None] = {
        name: (sums[name] / counts[name] if counts[name] else None) for name in sums}
    result["n"] = len(rows)
    return result


# The two-sided 95% point of the standard normal.
Z_95 = 1.959963984540054


def wilson_interval(successes: int, n: int, *, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``successes``/``n`` (None for no trials).

    Recall@k over a question set is such a proportion. Unlike the normal approximation, this
    interval stays inside [0, 1] and is not empty at 0 or n, where our best figures sit: 119 of
    120 questions still leaves room below the goal.
    """
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, {n}] (got {successes})")
    share = successes / n
    spread = z * z / n
    centre = (share + spread / 2) / (1 + spread)
    half = z * math.sqrt(share * (1 - share) / n + spread / (4 * n)) / (1 + spread)
    # at 0 and n one end is exactly 0 or 1; the arithmetic would leave it a rounding error away
    return (0.0 if successes == 0 else centre - half), (1.0 if successes == n else centre + half)


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact p-value of ``wins`` against ``losses`` under a fair coin (McNemar's exact test).

    Comparing two arms on the same questions, only the questions one gets and the other misses
    say which is better; with none of those the arms cannot be told apart (p = 1).
    """
    if wins < 0 or losses < 0:
        raise ValueError("wins and losses count questions: they cannot be negative")
    trials = wins + losses
    tail = sum(math.comb(trials, i) for i in range(min(wins, losses) + 1)) / 2 ** trials
    return min(1.0, 2 * tail)
