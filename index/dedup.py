"""Reprints: passages that are near-duplicates of each other, grouped at build time.

Two passages are near-duplicates when the Jaccard similarity of their character 5-gram sets
(whitespace removed) is at least ``THRESHOLD``: a 400-character passage with one 40-character
line rewritten keeps ~0.8, two passages that share a stock phrase stay far below. Comparing
every pair is quadratic, so candidates come from MinHash signatures cut into LSH bands (rows
that agree on a whole band share a bucket), and each candidate is then checked on its exact
Jaccard, so a grouping never rests on an estimate. bench/dedup.py (bench/results/dedup.md)
measured it against exact all-pairs Jaccard on a reprint-heavy generated library: the pairs that
share any 5-gram grow quadratically (12M at 6,000 passages, ~630M expected at 10M characters),
while LSH grouped 10M characters in ~16 s with 99.9% of passages given the same canonical row
as the exact grouping at 1k–6k passages.

Groups never chain: passages are taken earliest first — by speech date where one is known (dated
before undated), else by row, which is build order — and each joins the first earlier canonical
passage it is itself a near-duplicate of, or becomes one. Joining near-duplicates transitively
(union-find, until 2026-12) let chains of passages that each share a stock opening with the next
fold 8,123 of the 18,715 passages of bench/library_serve.py's 10M-character library into one
result; now every member of a group is a near-duplicate of the canonical passage shown for it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.query import squash
from index.simplified import FOLD_VERSION

SHINGLE = 5
THRESHOLD = 0.5
# 42 bands of 3 rows: a pair at Jaccard 0.5 shares a band with probability 1 - (1 - 0.5³)⁴² = 0.996,
# at 0.8 with certainty; pairs below ~0.3 seldom meet, which keeps the exact checks few.
BANDS = 42
ROWS_PER_BAND = 3
HASHES = BANDS * ROWS_PER_BAND
_PRIME = (1 << 61) - 1
_BASE = np.uint64(1_000_003)
_SEED = 20240415
# Passages whose shingles are hashed together in one numpy pass (bounds the (hashes × shingles) matrix).
_BATCH_SHINGLES = 20_000
# What a signature depends on: builds remember them per text under this name (index/build.py).
SIGNATURE_VERSION = f"{SHINGLE}-{BANDS}x{ROWS_PER_BAND}-{_SEED}-{FOLD_VERSION}"


def shingles(text: str) -> np.ndarray:
    """The distinct 32-bit hashes of the text's character 5-grams (whitespace removed), ascending.

    A text shorter than five characters is one shingle; an empty one has none.
    """
    codes = np.frombuffer(squash(text).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) == 0:
        return np.zeros(0, dtype=np.uint64)
    width = min(SHINGLE, len(codes))
    hashed = np.zeros(len(codes) - width + 1, dtype=np.uint64)
    for offset in range(width):  # polynomial hash, wrapping modulo 2**64
        hashed = hashed * _BASE + codes[offset:len(codes) - width + 1 + offset]
    return np.unique((hashed ^ (hashed >> np.uint64(32))) & np.uint64(0xFFFFFFFF))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted shingle sets (0 when both are empty)."""
    union = len(a) + len(b)
    if union == 0:
        return 0.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (union - common)


def signatures(sets: Sequence[np.ndarray], *, hashes: int = HASHES, seed: int = _SEED) -> np.ndarray:
    """MinHash signatures, one row of ``hashes`` minima per shingle set (all-max for an empty set)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 32, size=hashes, dtype=np.uint64)[:, None]
    b = rng.integers(0, 1 << 32, size=hashes, dtype=np.uint64)[:, None]
    result = np.full((len(sets), hashes), np.iinfo(np.uint64).max, dtype=np.uint64)
    start = 0
    while start < len(sets):
        stop, total = start, 0
        while stop < len(sets) and (stop == start or total + len(sets[stop]) <= _BATCH_SHINGLES):
            total += len(sets[stop])
            stop += 1
        batch = [(row, s) for row, s in enumerate(sets[start:stop], start=start) if len(s)]
        if batch:
            values = np.concatenate([s for _, s in batch])
            offsets = np.cumsum([0] + [len(s) for _, s in batch[:-1]])
            # a < 2**32 and values < 2**32, so a * values + b fits in 64 bits before the modulus
            hashed = (a * values[None, :] + b) % np.uint64(_PRIME)
            result[[row for row, _ in batch]] = np.minimum.reduceat(hashed, offsets, axis=1).T
        start = stop
    return result


def signature_bytes(texts: Sequence[str]) -> list[bytes]:
    """Each text's MinHash signature (``signatures`` of its ``shingles``) as bytes, for a build to keep."""
    return [row.tobytes() for row in signatures([shingles(text) for text in texts])]


def earliest_first(count: int, dates: Sequence[str | None] | None) -> list[int]:
    """Rows in the order a group's canonical member is chosen: dated before undated, by date, then by row."""
    def key(row: int) -> tuple[bool, str, int]:
        date = dates[row] if dates is not None else None
        return date is None, date or "", row

    return sorted(range(count), key=key)


def groups_from_pairs(count: int, pairs, dates: Sequence[str | None] | None = None) -> np.ndarray:
    """Each row's canonical member, given every near-duplicate pair: earliest first, a row joins the
    earliest canonical row it is paired with, else is canonical itself."""
    neighbours: dict[int, set[int]] = {}
    for first, second in pairs:
        neighbours.setdefault(first, set()).add(second)
        neighbours.setdefault(second, set()).add(first)
    order = earliest_first(count, dates)
    position = {row: at for at, row in enumerate(order)}
    canonical = np.arange(count, dtype=np.int64)
    leader = np.zeros(count, dtype=bool)
    for row in order:
        joined = [other for other in neighbours.get(row, ()) if leader[other]]
        if joined:
            canonical[row] = min(joined, key=position.__getitem__)
        else:
            leader[row] = True
    return canonical


def canonical_rows(passages: Sequence) -> list[int]:
    """Each passage's (``Passage``, row order) reprint group's canonical row, as its ``duplicate_of`` names it
    (its own row where it names none, or a passage not among them)."""
    row_of = {p.id: row for row, p in enumerate(passages)}
    return [row_of.get(p.duplicate_of, row) if p.duplicate_of else row for row, p in enumerate(passages)]


def near_duplicate_groups(texts: Sequence[str], dates: Sequence[str | None] | None = None, *,
                          threshold: float = THRESHOLD, signature: np.ndarray | None = None) -> np.ndarray:
    """For each passage (row order), the row of its group's canonical member (its own row when unique).

    ``dates`` are the passages' speech dates as ISO strings (``None`` when unknown); ``signature``
    the texts' MinHash signatures when the caller kept them (else they are computed).
    """
    shingle_sets: dict[int, np.ndarray] = {}  # made when a row is first compared: kept signatures need none

    def shingles_of(row: int) -> np.ndarray:
        if row not in shingle_sets:
            shingle_sets[row] = shingles(texts[row])
        return shingle_sets[row]

    if signature is None:
        signature = signatures([shingles_of(row) for row in range(len(texts))])
    # an empty set's signature is all-max; a real minimum is below the 61-bit prime
    empty = signature[:, 0] == np.iinfo(np.uint64).max if len(texts) else np.zeros(0, dtype=bool)
    band_keys = [[signature[row, band * ROWS_PER_BAND:(band + 1) * ROWS_PER_BAND].tobytes() for band in range(BANDS)]
                 for row in range(len(texts))]
    order = earliest_first(len(texts), dates)
    position = {row: at for at, row in enumerate(order)}
    canonical = np.arange(len(texts), dtype=np.int64)
    # Per band and bucket, the canonical rows in it so far: a row is checked against those only, so
    # a bucket of n copies of one text costs n checks, not n².
    leaders: list[dict[bytes, list[int]]] = [{} for _ in range(BANDS)]
    for row in order:
        if empty[row]:
            continue
        candidates = {leader for band, key in enumerate(band_keys[row]) for leader in leaders[band].get(key, ())}
        for leader in sorted(candidates, key=position.__getitem__):
            if jaccard(shingles_of(leader), shingles_of(row)) >= threshold:
                canonical[row] = leader
                break
        else:
            for band, key in enumerate(band_keys[row]):
                leaders[band].setdefault(key, []).append(row)
    return canonical
