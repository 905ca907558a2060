"""Pure text helpers for showing a hit: sentence spans, escaped term highlights, the best sentence.

Query terms come from ``index.lexical.tokenize``, which NFKC-folds, lower-cases and simplifies
traditional characters; matching here folds the passage the same way, character by character, so offsets stay in the original.
Quotation marks fold to one, as a phrase's match them (``index.query.QUOTATION_MARKS``).
"""
from __future__ import annotations

import re
import unicodedata
from array import array
from bisect import bisect_left
from functools import lru_cache
from typing import Sequence

from markupsafe import Markup, escape

from index.chunk import LABEL_OPENER, sentence_spans
from index.parse import stops_mid_sentence
from index.query import QUOTATION_MARKS, is_ignored_in_phrases, squash
from index.simplified import simplified

_ASCII_WORD = re.compile(r"[0-9a-z]+")
# What markupsafe.escape replaces.
_HTML_SPECIAL = re.compile(r"[&<>\"']")
# Lexical evidence against dense (0..1 each), chosen with eval/best_sentence.py on
# eval/best_sentence.jsonl from 0.3/0.5/0.7/1.0 (bench/results/best_sentence.md): 0.5 picked the
# answering sentence most often there, and beat the old lexical-first rule on the held-out set too.
LEXICAL_WEIGHT = 0.5
OPENER_MAX_CHARS = 30
# Sentences of context shown after the best one before a result expands to its whole passage.
EXCERPT_CONTEXT = 1
ELLIPSIS = "…"


# Passages repeat across queries (a corpus has far fewer passages than a server answers
# queries), and one result is marked twice (highlight, best sentence): both are cached.
@lru_cache(maxsize=4096)
def split_sentences(text: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of each sentence, the same cut the dense arm embeds (so ``best_span`` lines up)."""
    return tuple(sentence_spans(text))


# Every character met so far, folded once for all passages: a passage's first highlight is what a
# large library's unseen results pay (per character, a dict of its folds cost 85 µs a passage).
# Written only by _learn_folds, a character's fold before the character joins _KNOWN_CHARS, so
# server threads that meet it at once read a complete table.
_FOLDS: dict[int, str] = {}  # code point → its fold, where that differs (str.translate's table)
_RESIZED_CHARS: set[str] = set()  # whose fold is not one character long (ligatures, "ß" → "ss")
_KNOWN_CHARS: set[str] = set()
_ONE_QUOTATION_MARK = {ord(mark): '"' for mark in QUOTATION_MARKS}


def _fold(text: str) -> str:
    return simplified(unicodedata.normalize("NFKC", text).lower()).translate(_ONE_QUOTATION_MARK)


def _learn_folds(chars: set[str]) -> None:
    for char in chars - _KNOWN_CHARS:
        folded = _fold(char)
        if folded != char:
            _FOLDS[ord(char)] = folded
        if len(folded) != 1:
            _RESIZED_CHARS.add(char)
        _KNOWN_CHARS.add(char)


# Sized for a whole large library (the 10M-character one has 18,715 passages): an entry is the
# folded copy of a passage (~1 KB) and, for nearly every passage, a range or 4 bytes a character.
@lru_cache(maxsize=32768)
def _folded(text: str) -> tuple[str, Sequence[int]]:
    """``text`` folded like the tokenizer and without whitespace and invisible marks (which a quoted
    phrase ignores, so one wrapped across lines is marked too), plus the original index of every
    folded character."""
    chars = set(text)
    _learn_folds(chars)
    spaced = any(map(is_ignored_in_phrases, chars))
    if not spaced and _RESIZED_CHARS.isdisjoint(chars):
        # CJK, ASCII and full-width text fold one character for one: the offsets are the original's
        # (a range, where a tuple of ints cost ~15 KB a passage to keep cached)
        return text.translate(_FOLDS), range(len(text))
    out: list[str] = []
    origin = array("I")
    for i, char in enumerate(text):
        if is_ignored_in_phrases(char):
            continue
        folded = _FOLDS.get(ord(char), char)
        out.append(folded)
        origin.extend([i] * len(folded))
    return "".join(out), origin


def _clean_terms(terms: Sequence[str]) -> tuple[str, ...]:
    """Distinct non-blank terms, folded, longest first (so 粮食安全 wins over 粮食)."""
    return _cleaned(tuple(terms))


@lru_cache(maxsize=1024)  # one query's terms are cleaned for each of its results
def _cleaned(terms: tuple[str, ...]) -> tuple[str, ...]:
    folded = {squash(_fold(t)) for t in terms}
    return tuple(sorted((t for t in folded if t), key=lambda t: (-len(t), t)))


# A quoted pattern's pieces joined by this (results.quoted_wording): they are marked where they occur in
# order, as the pattern matched, not wherever each occurs (坚持……是做好 marked every 坚持 of a passage).
# A private-use character: no text holds it, and folding (NFKC made … three dots) keeps it.
PATTERN_GAP = "\ue000"


def match_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) spans of ``terms`` in ``text``, sorted, adjacent spans merged.

    Longer terms claim their characters first; ASCII words match whole words only
    (``ai`` does not light up inside ``said``). Whitespace is ignored in both, as phrases are
    matched (``保交楼`` marks 保交\n楼); a span never starts or ends with it. A term with
    ``PATTERN_GAP`` in it marks its pieces where all of them follow one another.
    """
    return list(_match_spans(text, tuple(terms)))


@lru_cache(maxsize=4096)
def _match_spans(text: str, terms: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    folded, origin = _folded(text)
    taken = [False] * len(text)
    spans: list[tuple[int, int]] = []
    for term in _clean_terms(terms):
        ascii_word = bool(_ASCII_WORD.fullmatch(term))
        for occurrence in _occurrences(folded, term):
            places = [(origin[at], origin[end - 1] + 1) for at, end in occurrence]
            # a word's neighbours in the text itself: whitespace, left out of ``folded``, bounds it too
            bounded = not ascii_word or all(_not_a_word_character(text, start - 1) and _not_a_word_character(text, end)
                                            for start, end in places)
            if bounded and not any(any(taken[start:end]) for start, end in places):
                for start, end in places:
                    taken[start:end] = [True] * (end - start)
                spans.extend(places)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def _occurrences(folded: str, term: str):
    """Each place ``term`` occurs in ``folded``, as (start, end) per piece: one piece for a term, a
    pattern's pieces in order, the first the one nearest the next (the 坚持 right before 是做好)."""
    pieces = [piece for piece in term.split(PATTERN_GAP) if piece]
    at = 0
    while pieces and (first := folded.find(pieces[0], at)) != -1:
        rest, end = [], first + len(pieces[0])
        for piece in pieces[1:]:
            found = folded.find(piece, end)
            if found == -1:
                return
            rest.append((found, found + len(piece)))
            end = found + len(piece)
        if rest:
            first = folded.rfind(pieces[0], first, rest[0][0])
        yield ((first, first + len(pieces[0])), *rest)
        at = end if rest else first + 1


def _not_a_word_character(text: str, at: int) -> bool:
    if at < 0 or at >= len(text):
        return True
    char = _fold(text[at])
    return not (char.isascii() and char.isalnum())


def highlight(text: str, terms: Sequence[str]) -> Markup:
    """``text`` HTML-escaped, with every occurrence of ``terms`` wrapped in ``<mark>`` (never nested)."""
    # escape() makes a Markup of each piece, ~40% of highlighting a result; a text holding none of the
    # characters it replaces (nearly every passage of a speech) is the same escaped as not
    clean = escape if _HTML_SPECIAL.search(text) else str
    parts: list[str] = []
    cursor = 0
    for start, end in match_spans(text, terms):  # every piece of ``text`` goes through clean()
        parts += (clean(text[cursor:start]), "<mark>", clean(text[start:end]), "</mark>")
        cursor = end
    parts.append(clean(text[cursor:]))
    return Markup("".join(parts))


def sentence_overlaps(text: str, sentences: Sequence[tuple[int, int]], terms: Sequence[str]) -> list[tuple[int, int]]:
    """How well each sentence of ``text`` covers the query: (distinct terms present, characters marked)."""
    folded, origin = _folded(text)
    clean = [term for term in _clean_terms(terms) if term in folded]  # only these can be in a sentence
    if not clean:  # no term in the passage: nothing marked either (each mark is a term's occurrence)
        return [(0, 0)] * len(sentences)
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
            # conditional expressions, not min()/max(): ~40k calls a result page otherwise
            covered += (b if b < end else end) - (a if a > start else start)
        # a range of offsets (text that folds one character for one) needs no search
        piece = (folded[start:end] if isinstance(origin, range)
                 else folded[bisect_left(origin, start):bisect_left(origin, end)])
        overlaps.append((sum(map(piece.__contains__, clean)), covered))
    return overlaps


def is_opener(sentence: str) -> bool:
    """A heading or a point's opening line (一、… / （一）… / 1.… / 第一，… / 一是…): short enough to be only
    a label, or a heading line of any length, which stops with no sentence's end (二、全力以赴保安全，为…
    提供坚强保障 was shown as the answer to a question about housing)."""
    sentence = sentence.strip()
    return bool(LABEL_OPENER.match(sentence)) and (len(sentence) <= OPENER_MAX_CHARS or stops_mid_sentence(sentence))


@lru_cache(maxsize=4096)
def _openers(text: str) -> tuple[bool, ...]:
    """Which sentences of ``text`` (``split_sentences``) are openers: the same for every query that shows it."""
    return tuple(is_opener(text[start:end]) for start, end in split_sentences(text))


def sentence_evidence(text: str, terms: Sequence[str], hint: Sequence[int] | None = None,
                      sentence_scores: Sequence[float] | None = None) -> list[float]:
    """How well each sentence of ``text`` answers the query: dense evidence plus lexical evidence.

    Dense evidence is the sentence's cosine to the query (``sentence_scores``, one per sentence of
    ``split_sentences``), rescaled to 0..1 within the passage; without scores, 1 for the sentence
    ``hint`` overlaps most (the dense arm's best sentence), else nothing. Lexical evidence is the
    share of the passage's matched query terms that the sentence holds, weighted by ``LEXICAL_WEIGHT``.
    A heading or point opener gets neither: short generic labels sit close to every question, and a
    heading's words are its passage's topic, not an answer to quote (best-sentence labels unchanged:
    0.884 / 0.817).
    """
    spans = split_sentences(text)
    return _evidence(text, spans, sentence_overlaps(text, spans, terms), hint, sentence_scores)


def _evidence(text: str, spans: Sequence[tuple[int, int]], overlaps: Sequence[tuple[int, int]],
              hint: Sequence[int] | None, sentence_scores: Sequence[float] | None) -> list[float]:
    dense = [0.0] * len(spans)
    openers = _openers(text)
    if sentence_scores is not None and len(sentence_scores) == len(spans) and spans:
        # rescaled among the sentences that can win: a heading's cosine as the top would press the
        # passage's one real sentence towards nothing
        saying = [score for score, opener in zip(sentence_scores, openers) if not opener] or sentence_scores
        low, high = min(saying), max(saying)
        dense = [(score - low) / (high - low) if high > low else 0.0 for score in sentence_scores]
    elif hint is not None:
        h_start, h_end = hint
        shared = [max(0, min(end, h_end) - max(start, h_start)) for start, end in spans]
        if shared and max(shared) > 0:
            dense[shared.index(max(shared))] = 1.0
    present = max((distinct for distinct, _ in overlaps), default=0)
    # a heading or point opener gets no evidence at all: its words are the passage's topic, and as the
    # bold sentence (or the one sentence cited) it answered 下一步工作怎么安排 with 二、下一步安排
    return [0.0 if opener else value + LEXICAL_WEIGHT * (distinct / present if present else 0.0)
            for value, (distinct, _), opener in zip(dense, overlaps, openers)]


def best_sentence(text: str, terms: Sequence[str], hint: Sequence[int] | None = None,
                  sentence_scores: Sequence[float] | None = None, verbatim: Sequence[str] = ()) -> dict:
    """The sentence of ``text`` that best answers the query, as ``{"text", "start", "end"}``.

    Most evidence (``sentence_evidence``) wins; a tie goes to a sentence that is no heading or point
    opener (a heading gets no evidence, and where the passage's one other sentence was its dense
    minimum, 一、压实安全生产责任 won on the characters the query marked in it), then to the one with
    more characters marked, then to the earliest.
    eval/best_sentence.py measures the choice. When some sentence
    holds wording the query quoted (``verbatim``: its phrases' pieces), the choice is among those:
    a verbatim check shows where the wording is, however close another sentence's meaning.
    """
    spans = split_sentences(text)
    if not spans:
        return {"text": "", "start": 0, "end": 0}
    overlaps = sentence_overlaps(text, spans, terms)
    evidence = _evidence(text, spans, overlaps, hint, sentence_scores)
    covered = [chars for _, chars in overlaps]
    quoted = match_spans(text, verbatim) if verbatim else []
    holding = [any(a < end and start < b for a, b in quoted) for start, end in spans]
    if any(holding):
        evidence = [value if held else float("-inf") for value, held in zip(evidence, holding)]
    saying = [not opener for opener in _openers(text)]
    *_, earliest = max(zip(evidence, saying, covered, range(0, -len(spans), -1)))
    start, end = spans[-earliest]
    return {"text": text[start:end], "start": start, "end": end}


def excerpt_span(text: str, best: dict, *, context: int = EXCERPT_CONTEXT) -> tuple[int, int]:
    """Offsets of the excerpt shown first: the best sentence and ``context`` sentences after it.

    At the passage's end the context comes from before instead, so an excerpt always holds
    ``context + 1`` sentences when the passage has that many.
    """
    spans = split_sentences(text)
    if not spans or best["end"] <= best["start"]:
        return (0, len(text))
    at = next((i for i, (start, end) in enumerate(spans) if start <= best["start"] < end), 0)
    first = max(0, min(at, len(spans) - 1 - context))
    last = min(len(spans) - 1, first + context)
    return (spans[first][0], spans[last][1])


def highlight_excerpt(text: str, terms: Sequence[str], best: dict | None,
                      *, context: int = EXCERPT_CONTEXT) -> Markup:
    """The excerpt for a result: ``…`` where text is cut, terms in ``<mark>``, the best sentence in ``<strong>``."""
    if not best or best["end"] <= best["start"]:
        return highlight_passage(text, terms, best)
    start, end = excerpt_span(text, best, context=context)
    piece = text[start:end]
    inner = highlight_passage(piece, terms, {"start": best["start"] - start, "end": best["end"] - start})
    return Markup("").join([Markup(ELLIPSIS) if text[:start].strip() else Markup(""), inner,
                            Markup(ELLIPSIS) if text[end:].strip() else Markup("")])


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
