"""Everyday Chinese wording → the wording the speeches use (提法), for the lexical arm; and the
term tables a searcher expands questions with.

Readers ask in their own words (烂尾楼, 上访, 村干部) where a speech says 保交楼, 信访 or
村居党组织书记, and BM25 matches words, not meanings. ``plain_wording.tsv`` maps such wordings to
the speeches' terms; a Chinese question that holds one also gets those terms as BM25 terms, as an
English question gets Chinese ones from the policy glossary (index/bilingual.py).

Both packaged tables hold the vocabulary of the bundled speeches (national security). A library on
other topics brings its own tables in the same format (``term_tables``): their lines are added to
the packaged ones, and where both have a key, the library's line wins.
"""
from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from index.bilingual import has_chinese, headword_terms, policy_glossary, read_glossary, read_term_table
from index.query import squash


def read_wording(table: Traversable) -> dict[str, tuple[str, ...]]:
    """Plain wording (whitespace removed) → the speeches' terms, from a plain-wording table."""
    return read_term_table(table, squash, lambda plain: len(plain) >= 2 and has_chinese(plain),
                           "Chinese wording of two or more characters, a tab and the speeches' terms")


@lru_cache(maxsize=1)
def plain_wording() -> dict[str, tuple[str, ...]]:
    """The packaged plain-wording table, plain_wording.tsv."""
    return read_wording(files("index") / "plain_wording.tsv")


@dataclass(frozen=True)
class TermTables:
    """What a searcher adds to a question's BM25 terms: ``glossary`` (English phrase → Chinese terms)
    for English questions, ``wording`` (everyday Chinese → the speeches' terms) for Chinese ones."""

    glossary: Mapping[str, tuple[str, ...]]
    wording: Mapping[str, tuple[str, ...]]
    # the library's own tables read over the packaged ones, in order
    files: tuple[str, ...] = ()

    def describe(self) -> dict:
        """Entry counts and the library's own files, for ``/healthz``."""
        return {"glossary": len(self.glossary), "wording": len(self.wording), "files": list(self.files)}


def term_tables(glossaries: Sequence[Path | str] = (), wordings: Sequence[Path | str] = ()) -> TermTables:
    """The packaged tables, with the lines of each of ``glossaries`` and ``wordings`` added in order
    (a later line wins over an earlier one with the same key). TermTableError names the file and
    line of the first malformed one."""
    if not glossaries and not wordings:
        return TermTables(policy_glossary(), plain_wording())
    glossary, wording = dict(policy_glossary()), dict(plain_wording())
    for path in glossaries:
        glossary.update(read_glossary(Path(path)))
    for path in wordings:
        wording.update(read_wording(Path(path)))
    return TermTables(glossary, wording, tuple(str(p) for p in (*glossaries, *wordings)))


def official_terms(question: str, vocabulary: Container[str], split: Callable[[str], Sequence[str]],
                   table: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """The BM25 terms of ``vocabulary`` that the plain wordings in ``question`` stand for, each once,
    in the table's order (``table`` defaults to plain_wording.tsv; ``split`` is the BM25 tokeniser,
    for terms the index holds as several words)."""
    table = plain_wording() if table is None else table
    squashed = squash(question)
    terms: dict[str, None] = {}
    for plain, official in table.items():
        if plain in squashed:
            terms.update(dict.fromkeys(headword_terms(official, vocabulary, split, max_split=None)))
    return list(terms)
