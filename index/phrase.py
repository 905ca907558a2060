"""Verbatim phrase matching over passages, on characters, whitespace ignored, a quotation mark matching any
and a punctuation mark either of its widths.

``PhraseIndex`` keeps every passage with its whitespace removed, joined by newlines into one
array of code points, with each passage's start offset, and a position index: every offset of
the array sorted by its character (a stable argsort, so each character's offsets ascend). To
find a phrase it takes the offsets of the phrase's rarest character, shifts them to where the
phrase would start, keeps those where every other character of the phrase is in place, and turns
the survivors into rows with ``np.searchsorted``. The work is proportional to how often the
rarest character occurs, not to the library's size, and a squashed phrase holds no newline, so a
match never spans two passages. bench/phrase.py measures it on a 10M-character library
(bench/results/phrase.md: p95 8 ms over all phrases, 24 ms for words in most passages such as
安全; a ``str.find`` loop over the joined text took 35 ms and 129 ms in the same run). The index
costs 6 bytes a character (58 MiB for 10M) and ~3 s to build there, so a build saves it.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from index.query import QUOTATION_MARKS, phrase_parts, squash

# A punctuation mark and its other width are one mark to a phrase, as a quotation mark and another
# are: which width an input method gave is typography, not wording.


def is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def width_free(char: str) -> str:
    """A character as NFKC writes it: ，→ , and （→ (; 。、 and 《》 have no other width and stay."""
    return unicodedata.normalize("NFKC", char)

_SEPARATOR = "\n"
_ARRAYS = ("codes", "order", "chars", "bounds", "starts")


class PhraseIndex:
    """Which passages contain a phrase verbatim (whitespace ignored)."""

    def __init__(self, *, codes: np.ndarray, order: np.ndarray, chars: np.ndarray, bounds: np.ndarray,
                 starts: np.ndarray):
        self._codes = codes    # the joined squashed passages, one code point per character
        self._order = order    # offsets into codes, grouped by character, ascending within one
        self._chars = chars    # the distinct characters, ascending
        self._bounds = bounds  # character i's offsets are order[bounds[i]:bounds[i + 1]]
        self._starts = starts  # row i starts at codes[starts[i]]

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> PhraseIndex:
        """Index passages given in row order."""
        squashed = [squash(text) for text in texts]
        lengths = np.fromiter((len(s) + len(_SEPARATOR) for s in squashed), dtype=np.int64, count=len(squashed))
        starts = (np.cumsum(lengths) - lengths).astype(np.int64)  # each row's offset; none for no rows
        codes = np.frombuffer(_SEPARATOR.join(squashed).encode("utf-32-le"), dtype=np.uint32)
        if codes.size and codes.max() < 1 << 16:
            codes = codes.astype(np.uint16)  # half the memory, and numpy radix-sorts 16-bit keys
        order = np.argsort(codes, kind="stable").astype(np.int32 if codes.size < 1 << 31 else np.int64)
        chars, counts = np.unique(codes, return_counts=True)
        bounds = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(codes=codes, order=order, chars=chars, bounds=bounds, starts=starts)

    def save(self, path: Path) -> None:
        """Write the index to one ``.npz`` file at ``path``."""
        with open(path, "wb") as handle:
            np.savez(handle, **{name: getattr(self, f"_{name}") for name in _ARRAYS})

    @classmethod
    def load(cls, path: Path) -> PhraseIndex:
        """Read an index written by ``save``."""
        with np.load(path, allow_pickle=False) as arrays:
            return cls(**{name: arrays[name] for name in _ARRAYS})

    def __len__(self) -> int:
        return len(self._starts)

    def rows_containing(self, phrase: str) -> np.ndarray:
        """Rows, ascending, whose passage contains ``phrase`` (whitespace in it ignored; an ellipsis in it
        stands for any wording, so its pieces must occur in order, without overlapping); all rows for ""."""
        parts = phrase_parts(phrase)
        if not parts:
            return np.arange(len(self._starts), dtype=np.int64)
        positions = self._positions(parts[0])
        rows = np.searchsorted(self._starts, positions, side="right") - 1
        first = np.concatenate(([True], rows[1:] != rows[:-1])) if len(rows) else np.zeros(0, dtype=bool)
        rows, cursor = rows[first], positions[first] + len(parts[0])  # each row's earliest end of the piece
        ends = np.append(self._starts[1:] - len(_SEPARATOR), len(self._codes)) if len(parts) > 1 else None
        for part in parts[1:]:
            positions = self._positions(part)
            if not len(positions):
                return np.zeros(0, dtype=np.int64)
            at = np.searchsorted(positions, cursor)  # the earliest occurrence at or after the cursor
            found = positions[np.minimum(at, len(positions) - 1)]
            kept = (at < len(positions)) & (found < ends[rows])  # and still in the same passage
            rows, cursor = rows[kept], found[kept] + len(part)
        return rows.astype(np.int64)

    def _slot(self, point: int) -> int | None:
        slot = int(np.searchsorted(self._chars, point))
        return slot if slot < len(self._chars) and int(self._chars[slot]) == point else None

    @cached_property
    def _quotation_marks(self) -> np.ndarray:
        """The slots of the quotation marks the library uses."""
        slots = (self._slot(ord(mark)) for mark in QUOTATION_MARKS)
        return np.array(sorted(slot for slot in slots if slot is not None), dtype=np.int64)

    @cached_property
    def _punctuation_widths(self) -> dict[str, np.ndarray]:
        """The slots of the library's punctuation marks, by their one-width form (``width_free``)."""
        widths: dict[str, list[int]] = {}
        for slot, point in enumerate(self._chars.tolist()):
            char = chr(point)
            if is_punctuation(char):
                widths.setdefault(width_free(char), []).append(slot)
        return {form: np.array(slots, dtype=np.int64) for form, slots in widths.items()}

    def _slots(self, char: str) -> np.ndarray:
        """The slots a phrase's character matches: its own; every quotation mark's for one of them; a
        punctuation mark's in either width (保交楼,稳民生 typed in English mode is 保交楼，稳民生)."""
        if char in QUOTATION_MARKS:
            return self._quotation_marks
        if is_punctuation(char):
            return self._punctuation_widths.get(width_free(char), np.zeros(0, dtype=np.int64))
        slot = self._slot(ord(char))
        return np.array([] if slot is None else [slot], dtype=np.int64)

    def _positions(self, needle: str) -> np.ndarray:
        """Offsets into the joined text, ascending, where ``needle`` (squashed, not empty) starts; a
        quotation mark in it stands for any (``QUOTATION_MARKS``)."""
        slots = [self._slots(char) for char in needle]
        counts = [int(np.sum(self._bounds[s + 1] - self._bounds[s])) for s in slots]
        rarest = int(np.argmin(counts))
        anchors = [self._order[self._bounds[s]:self._bounds[s + 1]] for s in slots[rarest].tolist()]
        if not anchors:
            return np.zeros(0, dtype=np.int64)  # a character the library never uses
        # one character's offsets ascend already; several quotation marks' are merged
        positions = (anchors[0] if len(anchors) == 1 else np.sort(np.concatenate(anchors))).astype(np.int64) - rarest
        positions = positions[(positions >= 0) & (positions + len(needle) <= len(self._codes))]
        for offset, matching in enumerate(slots):
            if offset == rarest:
                continue
            found = self._codes[positions + offset]
            positions = positions[found == self._chars[matching[0]] if len(matching) == 1 else
                                  np.isin(found, self._chars[matching])]
        return positions
