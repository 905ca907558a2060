"""Spliced articles: passages made wholly of paragraphs that other passages hold word for word.

A speech library (素材库) holds reprints, which index/dedup.py groups, and also articles spliced
together from paragraphs of several speeches under new titles and headings. A spliced passage is no
near-duplicate of any one passage (its paragraphs come from different speeches), so reprint groups
leave it alone, and a paragraph spliced into hundreds of articles filled a question's list with
itself. A *paragraph* here is a line long enough to say something (``MIN_PARAGRAPH`` letters; shorter
lines are the headings a splicer writes), compared in simplified characters without spacing or
punctuation. A passage is *spliced* when no paragraph of it is held first by it: every one is held by
an earlier passage — earlier as index/dedup.py chooses a reprint group's canonical copy, dated before
undated, by date, then by row (build order) — so the original speech's passage stays the source where
it is dated before what reuses it. Its *sources* are its paragraphs' first holders, the one holding most
of its characters first: the search ranks that one in its place and offers the spliced passage beside
each. A source is never spliced itself (it holds a paragraph first).

Dates alone tell which came first: an article dated before the speeches it copies (a 素材库's dates
are a compiler's) stays a passage of its own. Folding it anyway, where other passages hold all its
paragraphs but no one of them all, was weighed and left: a speech whose paragraphs two later speeches
each quote beside their own words reads the same, and would have folded into them.

Only a reprint group's canonical passage is marked (its copies fold with it), and it holds its copies'
paragraphs too, from each copy's own place (a line edited), so an article spliced from an edited reprint
still finds its source. One pass over the passages with a dict of paragraph keys, so the cost grows with
the characters, not with the pairs of passages.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from index.dedup import earliest_first
from index.simplified import simplified

# Characters (letters and digits, punctuation and whitespace left out) a line needs to count as a
# paragraph: the headings a splicer writes above what it copies (一、扎实推进国家安全) are shorter.
MIN_PARAGRAPH = 30
_NOT_LETTERS = re.compile(r"[\W_]+")


def paragraph_keys(text: str) -> list[tuple[bytes, int]]:
    """A key and a length for each line of ``text`` with ``MIN_PARAGRAPH`` letters or digits or more:
    the line in simplified characters without whitespace, punctuation or invisible marks (a comma's width,
    a traditional print or an indent make no other paragraph), hashed."""
    keys = []
    for line in simplified(text).split("\n"):
        letters = _NOT_LETTERS.sub("", line)
        if len(letters) >= MIN_PARAGRAPH:
            keys.append((hashlib.blake2b(letters.encode(), digest_size=12).digest(), len(letters)))
    return keys


def spliced_sources(texts: Sequence[str], canonical: Sequence[int],
                    dates: Sequence[str | None] | None = None) -> list[tuple[int, ...]]:
    """For each passage (row order), the rows whose paragraphs it is spliced from, the one holding most
    of its characters first (earlier first at equal length); ``()`` for a passage that is not spliced.

    ``canonical``: each row's reprint group's canonical row (itself when it has none), as
    ``dedup.near_duplicate_groups`` gives them; a copy is never marked, its canonical row is.
    ``dates``: the passages' speech dates as ISO strings (``None`` when unknown).
    """
    order = earliest_first(len(texts), dates)
    position = {row: at for at, row in enumerate(order)}
    first_holder: dict[bytes, int] = {}
    sources: list[tuple[int, ...]] = [() for _ in texts]
    for row in order:
        group = canonical[row]
        if group != row:
            # a copy's lines its canonical passage lacks are that passage's, from the copy's own place (a
            # copy may be a later article the Jaccard test took for a reprint); a spliced passage's copies
            # hold nothing first, and a word-for-word copy adds nothing
            if not sources[group] and texts[row] != texts[group]:
                for key, _ in paragraph_keys(texts[row]):
                    first_holder.setdefault(key, group)
            continue
        keys = paragraph_keys(texts[row])
        share: dict[int, int] = {}
        for key, length in keys:
            holder = first_holder.get(key)
            if holder is None:
                break
            share[holder] = share.get(holder, 0) + length
        else:
            if share:
                sources[row] = tuple(sorted(share, key=lambda source: (-share[source], position[source])))
                continue
        for key, _ in keys:
            first_holder.setdefault(key, row)
    return sources
