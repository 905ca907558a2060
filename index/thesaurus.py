"""Everyday Chinese wording → the wording the speeches use (提法), for the lexical arm.

Readers ask in their own words (烂尾楼, 上访, 村干部) where a speech says 保交楼, 信访 or
村居党组织书记, and BM25 matches words, not meanings. ``plain_wording.tsv`` maps such wordings to
the speeches' terms; a Chinese question that holds one also gets those terms as BM25 terms, as an
English question gets Chinese ones from the policy glossary (index/bilingual.py).
"""
from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from functools import lru_cache

from index.bilingual import has_chinese, headword_terms, term_table
from index.query import squash


@lru_cache(maxsize=1)
def plain_wording() -> dict[str, tuple[str, ...]]:
    """Plain wording (whitespace removed) → the speeches' terms, from plain_wording.tsv."""
    table: dict[str, tuple[str, ...]] = {}
    for number, plain, terms in term_table("plain_wording.tsv"):
        plain = squash(plain)
        if len(plain) < 2 or not has_chinese(plain) or not terms:
            raise ValueError(f"plain_wording.tsv line {number}: expected Chinese wording of two or more "
                             f"characters, a tab and the speeches' terms, not {plain!r}")
        table[plain] = terms
    return table


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
