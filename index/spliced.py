"""Spliced articles: passages made wholly of paragraphs that earlier passages hold word for word.

A speech library (素材库) holds reprints, which index/dedup.py groups, and also articles spliced
together from paragraphs of several speeches under new titles and headings. A spliced passage is no
near-duplicate of any one passage (its paragraphs come from different speeches), so reprint groups
leave it alone, and a paragraph spliced into hundreds of articles filled a question's list with
itself. Here a passage is *spliced* when every paragraph of it long enough to say something
(``MIN_PARAGRAPH`` characters; shorter lines are the headings the splicer wrote) was first held by
another passage; its *sources* are those first holders, the one holding most of its characters first.
The search ranks the first source in its place and offers the spliced passage beside it.

"First" is the order index/dedup.py chooses a reprint group's canonical copy in: dated before
undated, by date, then by row (build order), so the original speech's passage is the source where it
is dated earlier than the articles that reuse it. Only a reprint group's canonical passage is weighed
(its copies fold with it); a copy's paragraphs that its canonical lacks (a line edited) count as the
canonical's, so an article spliced from an edited reprint still finds its source. A source is never
spliced itself: it holds a paragraph no passage held before it.

One pass over the passages with a dict of paragraph keys, so the cost grows with the characters, not
with the pairs of passages.
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
            # a spliced canonical row holds nothing first: its copies neither; a word-for-word copy adds nothing
            if not sources[group] and texts[row] != texts[group]:
                for key, _ in paragraph_keys(texts[row]):
                    first_holder.setdefault(key, group)
            continue
        keys = paragraph_keys(texts[row])
        held: dict[int, int] = {}
        for key, length in keys:
            holder = first_holder.get(key)
            if holder is None:
                break
            held[holder] = held.get(holder, 0) + length
        else:
            if held:
                sources[row] = tuple(sorted(held, key=lambda source: (-held[source], position[source])))
                continue
        for key, _ in keys:
            first_holder.setdefault(key, row)
    return sources
