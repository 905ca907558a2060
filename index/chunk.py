"""Speech → Passages: consecutive blocks of one section, packed up to a token budget.

A passage never crosses a speech or a section. Blocks are split into units: a
block that fits the budget is one unit; an over-long block is cut after each
sentence end (。！？；!?; plus closing quotes); a sentence that alone exceeds the
budget is cut after ，、：, and a clause that still exceeds it is cut into
character windows. Consecutive units of a section are then packed into
passages of even size (the greedy cut aims at total/k for the fewest k
passages that can hold the section), so a lone heading line joins the
paragraphs after it and a section does not end in a scrap.

``Passage.text`` is ``source_text[start:end]``. The chunker sees only blocks, so
a passage spans the gap between two blocks only when that gap is one character:
between two trimmed lines that can only be the newline (``parse.read_corpus_file``
drops blank lines, indentation and the lines left out as ads or page furniture,
so that is every paragraph break of a file as the build reads it).

``count_tokens`` measures what the model sees (prefix and special tokens included)
and ``count_tokens(passage.text) <= budget`` always holds. Each unit is counted once
and each multi-unit passage once more to check the estimate, which is the sum of
its units' counts less the fixed overhead, plus one token per paragraph break.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable

from index.decode import is_blank
from index.parse import stops_mid_sentence
from index.records import Block, Passage, Speech

CHUNKER_VERSION = "sections-2"

_SENTENCE = re.compile(r"[。！？!?；;]+[”’」』\"')）》]*")
_CLAUSE = re.compile(r"[，、,：:]+")
# The markers index/parse.py reads as headings and points, at a sentence's start: a line that opens
# with one is a label, which ends with its line, sentence end or not.
LABEL_OPENER = re.compile(r"(?:[一二三四五六七八九十]{1,3}[、是要]|第[一二三四五六七八九十]{1,3}[，,、：:]"
                          r"|[（(][一二三四五六七八九十0-9]{1,3}[)）]|[0-9]{1,2}[.．、])")
# A span longer than this many characters per token of budget cannot fit, so it is not counted.
_MAX_CHARS_PER_TOKEN = 64


def _ends(text: str, pattern: re.Pattern, start: int, end: int) -> list[tuple[int, int]]:
    """Cut text[start:end] after each match of pattern; the pieces that are not blank (``is_blank``),
    trimmed of whitespace, in order."""
    cuts = [start] + [m.end() for m in pattern.finditer(text, start, end) if m.end() < end] + [end]
    spans = []
    for a, b in zip(cuts, cuts[1:]):
        piece = text[a:b]
        stripped = piece.strip()
        if not is_blank(stripped):
            a += len(piece) - len(piece.lstrip())
            spans.append((a, a + len(stripped)))
    return spans


class _Counter:
    """count_tokens with a cache keyed by absolute span, and the budget check."""

    def __init__(self, count_tokens: Callable[[str], int], budget: int):
        self.count_tokens = count_tokens
        self.budget = budget
        self.cache: dict[tuple[int, int], int] = {}
        self.overhead = count_tokens("")
        if self.overhead >= budget:
            raise ValueError(f"budget {budget} leaves no room: an empty passage already counts {self.overhead} tokens")

    def count(self, span: tuple[int, int], text: str) -> int:
        if span not in self.cache:
            self.cache[span] = self.count_tokens(text)
        return self.cache[span]

    def fits(self, span: tuple[int, int], text: str) -> bool:
        if len(text) > _MAX_CHARS_PER_TOKEN * self.budget:
            return False
        return self.count(span, text) <= self.budget


def _windows(block: Block, a: int, b: int, counter: _Counter) -> list[tuple[int, int]]:
    """Cut block.text[a:b] (relative offsets) into character windows that each fit the budget."""
    text = block.text
    room = counter.budget - counter.overhead
    spans = []
    size = room
    pos = a
    while pos < b:
        while pos < b and text[pos].isspace():
            pos += 1
        if pos >= b:
            break
        size = max(1, min(size, b - pos))
        piece = text[pos:pos + size]
        span = (block.start + pos, block.start + pos + len(piece.rstrip()))
        used = counter.count(span, piece.rstrip())
        if used > counter.budget:
            if size == 1:
                raise ValueError(f"budget {counter.budget} is too small for the single character {piece!r}")
            size = max(1, min(size - 1, int(size * room / max(1, used - counter.overhead) * 0.95)))
            continue
        spans.append(span)
        pos += size
        if used < 0.85 * counter.budget:
            size = min(_MAX_CHARS_PER_TOKEN * counter.budget,
                       max(size + 1, int(size * room / max(1, used - counter.overhead) * 0.95)))
    return spans


def _units(block: Block, counter: _Counter) -> list[tuple[int, int]]:
    """The block's units as absolute spans: the whole block, else sentences, clauses, windows."""
    whole = (block.start, block.end)
    if counter.fits(whole, block.text):
        return [whole]
    units = []
    text = block.text
    for a, b in _ends(text, _SENTENCE, 0, len(text)):
        if counter.fits((block.start + a, block.start + b), text[a:b]):
            units.append((block.start + a, block.start + b))
            continue
        for c, d in _ends(text, _CLAUSE, a, b):
            if counter.fits((block.start + c, block.start + d), text[c:d]):
                units.append((block.start + c, block.start + d))
            else:
                units.extend(_windows(block, c, d, counter))
    return units


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of a passage as (start, end) offsets into ``text``: cut at sentence ends and at line
    breaks, but for a line break inside a sentence (a paragraph the parser joined again, wrapped by
    print): a sentence the dense arm embeds, or the page underlines, is a whole one."""
    spans = []
    offset = 0
    carried: tuple[int, int] | None = None  # the piece of a sentence the previous line left unfinished
    for line in text.split("\n"):
        pieces = [(offset + a, offset + b) for a, b in _ends(line, _SENTENCE, 0, len(line))]
        if carried is not None and pieces:
            pieces[0] = (carried[0], pieces[0][1])
        elif carried is not None:
            pieces = [carried]
        carried = None
        if pieces and stops_mid_sentence(line) and not LABEL_OPENER.match(line.lstrip()):
            carried = pieces.pop()
        spans.extend(pieces)
        offset += len(line) + 1
    if carried is not None:
        spans.append(carried)
    return spans



def _runs(blocks: tuple[Block, ...]) -> list[list[int]]:
    """Indices of blocks that may share a passage: same section, one newline apart."""
    runs: list[list[int]] = []
    for i, block in enumerate(blocks):
        if runs and blocks[runs[-1][-1]].section == block.section and block.start - blocks[i - 1].end == 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def chunk(speech: Speech, *, count_tokens: Callable[[str], int], budget: int = 512) -> list[Passage]:
    """Cut a speech into passages of at most ``budget`` tokens that never cross a section."""
    counter = _Counter(count_tokens, budget)
    room = budget - counter.overhead
    blocks = speech.blocks
    passages: list[Passage] = []
    # An id hashes the speech and the text, not its offsets, so an edit above a passage (a word
    # changed in an earlier paragraph) leaves the id, and the carts and links naming it, intact;
    # a text the speech repeats is told apart by how many times it came before.
    seen: Counter[str] = Counter()

    def text_of(units: list[tuple[int, int, int]], i: int, j: int) -> str:
        (first, start, _), (last, _, end) = units[i], units[j - 1]
        if first == last:
            block = blocks[first]
            return block.text[start - block.start:end - block.start]
        head, tail = blocks[first], blocks[last]
        middle = [blocks[k].text for k in range(first + 1, last)]
        return "\n".join([head.text[start - head.start:], *middle, tail.text[:end - tail.start]])

    for run in _runs(blocks):
        units = [(k, a, b) for k in run for a, b in _units(blocks[k], counter)]
        # A unit's share of a passage: its tokens without the fixed overhead, plus a newline token
        # when it opens a block (an over-estimate by one for a passage's first unit).
        weights = [counter.cache.get((a, b), 0) - counter.overhead + (1 if a == blocks[k].start else 0)
                   for k, a, b in units]
        total_after = [0] * (len(units) + 1)
        for n in range(len(units) - 1, -1, -1):
            total_after[n] = total_after[n + 1] + weights[n]
        i = 0
        while i < len(units):
            target = total_after[i] / max(1, math.ceil(total_after[i] / room))
            j, used = i + 1, weights[i]
            while j < len(units) and used + weights[j] <= room and used + weights[j] / 2 <= target:
                used += weights[j]
                j += 1
            while j - i > 1:
                span = (units[i][1], units[j - 1][2])
                if counter.count(span, text_of(units, i, j)) <= budget:
                    break
                j -= 1
            text = text_of(units, i, j)
            start, end = units[i][1], units[j - 1][2]
            digest = hashlib.sha1(f"{speech.id}\n{seen[text]}\n{text}".encode()).hexdigest()[:16]
            seen[text] += 1
            passages.append(Passage(id=digest, speech_id=speech.id, speech_title=speech.title,
                                    source=speech.source, section=blocks[units[i][0]].section,
                                    first_block=units[i][0], last_block=units[j - 1][0],
                                    start=start, end=end, text=text, ordinal=len(passages)))
            i = j
    return passages
