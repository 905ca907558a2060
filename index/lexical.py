"""Tokenisation for the lexical (BM25) arm: jieba in search mode, punctuation and stop words out.

The same function tokenises passages at build time and queries at search time, so
the manifest records ``LEXICAL_VERSION`` and an index tokenised differently is refused.
"""
from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import jieba
import numpy as np

from index.bilingual import translated_terms
from index.files import cached_marshal
from index.model import default_cache_dir
from index.simplified import FOLD_VERSION, simplified

# Names the tokeniser and what a BM25 document holds (see ``document_terms``).
LEXICAL_VERSION = f"jieba-search-title-english-4-{FOLD_VERSION}"
# jieba's dictionary counts 高峰 1,556 times, 金山 291, 李白 374, but 李四 106 and 张三 0 (jieba 0.42.1).
COMMON_WORD_COUNT = 200

# Function words and the corpus's anonymisation placeholders (xx, 20xx): they occur in
# nearly every passage, so they only add noise to BM25's term weights.
STOP_WORDS = frozenset(
    """
    的 了 和 与 及 以及 或 是 在 对 把 被 将 为 以 于 从 向 中 上 下 等 这 那 其 之 而 并 也 都 就 又
    要 着 个 们 我 我们 你 你们 他 他们 它 有 让 使 由 还 更 最 很 各 各级 一 不 没 没有 如何 怎么 怎样
    什么 哪些 哪个 哪 吗 呢 吧 啊 多少 为什么 是否 方面 问题 关于 通过 进行 一个 这个 那个
    xx xxx 20xx x
    the a an of to in on for and or is are was were be by with as at from that this what which how
    do does did who whom why when where about into it its
    """.split()
)

_WORD = re.compile(r"\w", re.UNICODE)
# An English possessive, which jieba cuts into the word, the apostrophe and a lone "s" (Shanghai's →
# Shanghai ' s): the "s" is no word of the question.
_POSSESSIVE = re.compile(r"(?<=[A-Za-z])['’]s\b")
jieba.setLogLevel(logging.WARNING)


def _is_meaningful(token: str) -> bool:
    return bool(_WORD.search(token)) and token not in STOP_WORDS


@lru_cache(maxsize=4096)
def _tokenize_cached(text: str) -> tuple[str, ...]:
    if not jieba.dt.initialized:  # a build or an eval run loads the dictionary the fast way too
        warm_up()
    text = simplified(unicodedata.normalize("NFKC", text).lower())
    return tuple(t for t in (w.strip() for w in jieba.lcut_for_search(text)) if _is_meaningful(t))


def tokenize(text: str) -> list[str]:
    """Split ``text`` into BM25 terms (jieba search mode, NFKC-folded, lower-cased, traditional characters
    simplified)."""
    return list(_tokenize_cached(text))


def meaningful_words(text: str) -> list[str]:
    """The words of ``text`` as typed (jieba's precise cut, not search mode's overlapping terms), each once,
    in order, without punctuation or stop words: what a shorter wording of a question keeps."""
    if not jieba.dt.initialized:
        warm_up()
    words = (word for word in jieba.lcut(_POSSESSIVE.sub("", text)) if _WORD.search(word))
    return list(dict.fromkeys(w for w in words if simplified(unicodedata.normalize("NFKC", w).lower()) not in STOP_WORDS))


def is_common_word(word: str) -> bool:
    """Whether jieba's dictionary counts ``word`` as a common word (``COMMON_WORD_COUNT`` times or more in the
    corpus it was made from): 高峰, 金山 are words before they are a speaker's name; 许长青 is not in it,
    张三 and 李四 are, rarely."""
    if not jieba.dt.initialized:
        warm_up()
    return (jieba.get_FREQ(word) or 0) >= COMMON_WORD_COUNT


def document_text(speech_title: str, text: str) -> str:
    """The BM25 document of one passage: its speech's title, then its text.

    Questions name the speech they mean (「晋中这篇发言…」) while its passages seldom repeat the
    place, so the title's terms are indexed with every passage. Measured with eval/: held-out
    MRR@10 0.882 → 0.892, the tuning set unchanged; adding the heading path as well did not help.
    """
    return speech_title + "\n" + text


def document_terms(speech_title: str, text: str) -> list[str]:
    """BM25 terms of one passage's ``document_text`` (``text_terms``)."""
    return text_terms(document_text(speech_title, text))


def text_terms(text: str) -> list[str]:
    """BM25 terms of a document: its words, then the English their dictionary senses give
    (``index.bilingual.translated_terms``), which English questions match."""
    words = tokenize(text)
    return words + translated_terms(words)


def warm_up() -> None:
    """Load jieba's dictionary now rather than on the first query.

    jieba's own cache load (marshal.load on the open file, 1.0–1.5 s here, all of it holding the
    GIL) was the longest step of a server's start; the same prefix dictionary kept in the model
    cache and read whole loads in ~0.5 s. jieba's lock guards it as in ``jieba.initialize``.
    """
    tokenizer = jieba.dt
    with tokenizer.lock:
        if tokenizer.initialized or tokenizer.dictionary != jieba.DEFAULT_DICT:
            return
        with tokenizer.get_dict_file() as handle:
            dictionary = handle.read()
        digest = hashlib.sha1(jieba.__version__.encode() + dictionary).hexdigest()[:16]
        tokenizer.FREQ, tokenizer.total = cached_marshal(
            default_cache_dir() / f"jieba-prefix-dict-{digest}.marshal",
            lambda: tokenizer.gen_pfdict(io.BytesIO(dictionary)))
        tokenizer.initialized = True


# rows → each row's share of the query's term weight (TermStats.coverage_of)
Coverage = Callable[[Sequence[int]], np.ndarray]


@dataclass(frozen=True, eq=False)  # arrays inside: compared by identity, not element by element
class TermStats:
    """Which passages hold each BM25 term, and how rare each term is: enough to measure coverage.

    A term-by-passage incidence in compressed columns, as bm25s keeps its scores: the passages
    holding the term of column ``c`` are ``rows[starts[c]:starts[c + 1]]``, ascending. A server reads it
    from the BM25 index as it is instead of making a set of terms per passage (1.2 s at start on
    a 10M-character library), and a query looks up only its own terms.
    """

    columns: dict[str, int]  # term → its column
    starts: np.ndarray
    rows: np.ndarray
    passages: int

    @classmethod
    def of(cls, documents: Iterable[Iterable[str]]) -> TermStats:
        """Stats over the passages' BM25 terms, in row order."""
        holding: dict[str, list[int]] = {}
        passages = 0
        for row, terms in enumerate(documents):
            passages = row + 1
            for term in dict.fromkeys(terms):
                holding.setdefault(term, []).append(row)
        counts = [len(rows) for rows in holding.values()]
        return cls({term: column for column, term in enumerate(holding)},
                   np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64),
                   np.asarray([row for rows in holding.values() for row in rows], dtype=np.int64), passages)

    @cached_property
    def document_frequency(self) -> dict[str, int]:
        """Each term some passage holds → how many passages hold it."""
        counts = np.diff(self.starts).tolist()
        return {term: counts[column] for term, column in self.columns.items()
                if column < len(counts) and counts[column]}

    def rows_holding(self, term: str) -> np.ndarray:
        """The passages that hold ``term`` (none for a term outside the vocabulary)."""
        column = self.columns.get(term)
        if column is None or column + 1 >= len(self.starts):
            return self.rows[:0]
        return self.rows[self.starts[column]:self.starts[column + 1]]

    def idf(self, term: str) -> float:
        """BM25's (Lucene) inverse document frequency; a term no passage holds gets the largest."""
        df = len(self.rows_holding(term))
        return math.log(1 + (self.passages - df + 0.5) / (df + 0.5))

    def group_bm25(self, query_terms: Sequence[str], group_of: np.ndarray, groups: int, *,
                   k1: float = 1.2, b: float = 0.75) -> np.ndarray:
        """BM25 of the query over groups of passages taken as documents (``group_of[row]``, -1 for a
        row in none): a term occurs in a group as often as its passages hold it, and a group is as
        long as its passages are many. Each group's score, in group order."""
        counted = group_of[group_of >= 0]
        sizes = np.bincount(counted, minlength=groups).astype(float)
        documents = int(np.count_nonzero(sizes))
        scores = np.zeros(groups)
        if not documents:
            return scores
        norm = k1 * (1 - b + b * sizes / (len(counted) / documents))
        for term in dict.fromkeys(query_terms):
            held = group_of[self.rows_holding(term)]
            frequency = np.bincount(held[held >= 0], minlength=groups).astype(float)
            df = int(np.count_nonzero(frequency))
            if df:
                idf = math.log(1 + (documents - df + 0.5) / (df + 0.5))
                scores += idf * frequency * (k1 + 1) / (frequency + norm)
        return scores

    def coverage(self, query_terms: Sequence[str], row: int) -> float:
        """The share of the query's IDF weight that passage ``row`` holds (0 for no terms)."""
        return float(self.coverage_of(query_terms)([row])[0])

    def coverage_of(self, query_terms: Sequence[str]) -> Coverage:
        """``coverage`` of many rows at once, for one query: its terms are looked up once for all."""
        weights = {t: self.idf(t) for t in dict.fromkeys(query_terms)}
        total = sum(weights.values())

        def shares(rows: Sequence[int]) -> np.ndarray:
            rows = np.asarray(rows, dtype=np.int64)
            held = np.zeros(len(rows))
            if not total:
                return held
            for term, weight in weights.items():
                holders = self.rows_holding(term)
                if len(holders):  # ascending, so a binary search finds each row (np.isin sorts both again)
                    at = np.minimum(np.searchsorted(holders, rows), len(holders) - 1)
                    held += weight * (holders[at] == rows)
            return held / total

        return shares
