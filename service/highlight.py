"""Pure text helpers for showing a hit: sentence spans, escaped term highlights, the best sentence.

Query terms come from ``index.lexical.tokenize``, which NFKC-folds and lower-cases; matching
here folds the passage the same way, character by character, so offsets stay in the original.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from functools import lru_cache
from typing import Sequence

from markupsafe import Markup, escape

from index.chunk import sentence_spans

_ASCII_WORD = re.compile(r"[0-9a-z]+")


# Passages repeat across queries (a corpus has far fewer passages than a server answers
# queries), and one result is marked twice (highlight, best sentence): both are cached.
@lru_cache(maxsize=4096)
def split_sentences(text: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of each sentence, the same cut the dense arm embeds (so ``best_span`` lines up)."""
    return tuple(sentence_spans(text))


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    return unicodedata.normalize("NFKC", char).lower()


@lru_cache(maxsize=4096)
def _folded(text: str) -> tuple[str, tuple[int, ...]]:
    """``text`` folded like the tokenizer, plus the original index of every folded character."""
    out: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        folded = _fold_char(char)
        out.append(folded)
        origin.extend([i] * len(folded))
    return "".join(out), tuple(origin)


def _clean_terms(terms: Sequence[str]) -> list[str]:
    """Distinct non-blank terms, folded, longest first (so 粮食安全 wins over 粮食)."""
    folded = {unicodedata.normalize("NFKC", t).lower().strip() for t in terms}
    return sorted((t for t in folded if t), key=lambda t: (-len(t), t))


def match_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) spans of ``terms`` in ``text``, sorted, adjacent spans merged.

    Longer terms claim their characters first; ASCII words match whole words only
    (``ai`` does not light up inside ``said``).
    """
    return list(_match_spans(text, tuple(terms)))


@lru_cache(maxsize=4096)
def _match_spans(text: str, terms: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    folded, origin = _folded(text)
    taken = [False] * len(text)
    spans: list[tuple[int, int]] = []
    for term in _clean_terms(terms):
        ascii_word = bool(_ASCII_WORD.fullmatch(term))
        at = folded.find(term)
        while at != -1:
            end = at + len(term)
            start_char, end_char = origin[at], origin[end - 1] + 1
            bounded = not ascii_word or (
                (at == 0 or not folded[at - 1].isascii() or not folded[at - 1].isalnum())
                and (end == len(folded) or not folded[end].isascii() or not folded[end].isalnum()))
            if bounded and not any(taken[start_char:end_char]):
                for i in range(start_char, end_char):
                    taken[i] = True
                spans.append((start_char, end_char))
            at = folded.find(term, at + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def highlight(text: str, terms: Sequence[str]) -> Markup:
    """``text`` HTML-escaped, with every occurrence of ``terms`` wrapped in ``<mark>`` (never nested)."""
    parts: list[str] = []
    cursor = 0
    for start, end in match_spans(text, terms):  # every piece of ``text`` goes through escape()
        parts += (escape(text[cursor:start]), "<mark>", escape(text[start:end]), "</mark>")
        cursor = end
    parts.append(escape(text[cursor:]))
    return Markup("".join(parts))


def sentence_overlaps(text: str, sentences: Sequence[tuple[int, int]], terms: Sequence[str]) -> list[tuple[int, int]]:
    """How well each sentence of ``text`` covers the query: (distinct terms present, characters marked)."""
    folded, origin = _folded(text)
    clean = _clean_terms(terms)
    marks = match_spans(text, terms)
    overlaps = []
    first_mark = 0
    for start, end in sentences:  # sentences and marks are both sorted: walk them together
        while first_mark < len(marks) and marks[first_mark][1] <= start:
            first_mark += 1
        covered = 0
        for a, b in marks[first_mark:]:
            if a >= end:
                break
            covered += min(end, b) - max(start, a)
        piece = folded[bisect_left(origin, start):bisect_left(origin, end)]
        overlaps.append((sum(1 for term in clean if term in piece), covered))
    return overlaps


def best_sentence(text: str, terms: Sequence[str], hint: Sequence[int] | None = None) -> dict:
    """The sentence of ``text`` that best answers the query, as ``{"text", "start", "end"}``.

    Most distinct query terms (then most characters covered) wins. A tie at the top, or no
    term anywhere (an English question), goes to the tied sentence that overlaps ``hint`` most
    (the dense arm's best sentence, offsets into ``text``, when the search had one), else to
    the earliest tied sentence.
    """
    spans = split_sentences(text)
    if not spans:
        return {"text": "", "start": 0, "end": 0}
    overlaps = sentence_overlaps(text, spans, terms)
    top = max(overlaps)
    tied = [i for i, overlap in enumerate(overlaps) if overlap == top]
    best = tied[0]
    if len(tied) > 1 and hint is not None:
        h_start, h_end = hint
        shared = [max(0, min(spans[i][1], h_end) - max(spans[i][0], h_start)) for i in tied]
        if max(shared) > 0:
            best = tied[shared.index(max(shared))]
    start, end = spans[best]
    return {"text": text[start:end], "start": start, "end": end}


def highlight_passage(text: str, terms: Sequence[str], best: dict | None = None) -> Markup:
    """The passage for a page: terms in ``<mark>``, the best sentence in ``<strong class="best">``."""
    if not best or best["end"] <= best["start"]:
        return highlight(text, terms)
    start, end = best["start"], best["end"]
    return Markup("").join([
        highlight(text[:start], terms),
        Markup('<strong class="best">%s</strong>') % highlight(text[start:end], terms),
        highlight(text[end:], terms),
    ])
