"""What a caller may ask a search for: the parameters, their defaults and limits, checked once.

Every edge (the JSON API's query string and body, the page's form, `speechqa ask`, the
searcher itself) goes through :func:`parse_request` or :func:`check_request`, so a limit is
written down here and nowhere else. Errors are ``BadQuery`` with ``field`` naming the
parameter, so the page can say it in its own words.
"""
from __future__ import annotations

import calendar
import datetime
import re
import unicodedata
from dataclasses import dataclass
from typing import Mapping

from index.errors import BadQuery, as_written
from index.query import INVISIBLE_MARKS

MODES = ("hybrid", "dense", "bm25")
DEFAULT_MODE = "hybrid"
DEFAULT_K = 10
MAX_K = 50
# How far a verbatim check pages (``offset``): 两个维护 is held by 130 passages of the seeds alone, and a
# grown library's 提法 by thousands; each page folds the passages before it, so the bound keeps that cheap.
MAX_OFFSET = 10_000
# Reprints listed per result; ``duplicate_count`` has them all. A passage reprinted in hundreds of
# compilations otherwise made a 10-result response hundreds of KB, most of a request's time on a
# 10M-character library (bench/results/library_serve-10m.md).
LISTED_DUPLICATES = 20
# The most speeches one page of the speech list gives (/api/speeches?limit=, the /speeches page): a library
# of 5,435 speeches, many of them reprints, listed whole was 1.7 MB.
MAX_LIST_LIMIT = 1000
MAX_QUERY_CHARS = 500
GROUPS = ("speech",)
SORTS = ("relevance", "date")
DEFAULT_SORT = "relevance"
MAX_FILTER_CHARS = 100
# An integer k out of range is echoed whole up to this many digits, then only said to be too large
# (or small): a cut echo read 23 nines as 20, and int() refuses to read over 4300 digits at all.
SHOWN_K_DIGITS = 20
FIELDS = ("q", "k", "mode", "speech", "group", "from", "to", "place", "speaker", "sort", "offset")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A year or a month asked for whole (from=2021, to=2021-07): the range starts on its first day or ends on its last.
_YEAR_OR_MONTH = re.compile(r"([0-9]{4})(?:-([0-9]{2}))?")


@dataclass(frozen=True)
class SearchRequest:
    """A checked search: stripped query text, result count, arm, and the optional filters.

    ``date_from``/``date_to`` are the API's ``from``/``to`` (inclusive ISO dates; a speech with
    no known date is left out when either is given); ``place`` and ``speaker`` keep speeches
    whose metadata contains them; ``group="speech"`` keeps one result per speech; ``sort="date"``
    orders results oldest first; ``offset`` skips that many results of a verbatim check (quoted
    wording and filters alone, whose ``matched`` counts them all), so its results are paged.
    """

    q: str
    k: int = DEFAULT_K
    mode: str = DEFAULT_MODE
    speech: str | None = None
    group: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    place: str | None = None
    speaker: str | None = None
    sort: str = DEFAULT_SORT
    offset: int = 0

    @property
    def options(self) -> dict:
        """Everything but ``q``, as keyword arguments of ``Searcher.search`` and ``search_payload``."""
        return {"k": self.k, "mode": self.mode, "speech": self.speech, "group": self.group,
                "date_from": self.date_from, "date_to": self.date_to, "place": self.place,
                "speaker": self.speaker, "sort": self.sort, "offset": self.offset}


# What a date written as asked, YYYY-MM-DD, but naming no day is told (the page words it its own way).
NO_SUCH_DAY = "must be a day that exists"


def _date(value, field: str) -> str | None:
    """``from``'s or ``to``'s day, ISO; a year or a month alone stands for its first day in ``from``, its
    last in ``to``."""
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    if partial := _YEAR_OR_MONTH.fullmatch(text):
        year, month = int(partial.group(1)), int(partial.group(2) or (1 if field == "from" else 12))
        day = 1 if field == "from" or not 1 <= month <= 12 else calendar.monthrange(year, month)[1]
    elif _ISO_DATE.fullmatch(text):
        year, month, day = (int(part) for part in text.split("-"))
    else:
        raise BadQuery(f"{field} must be a date written YYYY-MM-DD (or YYYY-MM, or YYYY), such as 2023-04-15 "
                       f"(got {as_written(value, 20)})", field=field)
    try:
        return datetime.date(year, month, day).isoformat()
    except ValueError:
        # written as asked, so saying how to write it again would not help: say which part does not exist
        raise BadQuery(f"{field} {NO_SUCH_DAY} (got {as_written(text)}: {_no_such_day(year, month)})",
                       field=field) from None


def _no_such_day(year: int, month: int) -> str:
    """Why YYYY-MM-DD names no day: its year, its month or its day is out of the calendar."""
    if year < datetime.MINYEAR:
        return f"there is no year {year}"
    if not 1 <= month <= 12:
        return f"there is no month {month}"
    return f"{year:04d}-{month:02d} has {calendar.monthrange(year, month)[1]} days"


def _text(value, field: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise BadQuery(f"{field} must be text (got {as_written(value, 40)})", field=field)
    if len(value.strip()) > MAX_FILTER_CHARS:
        raise BadQuery(f"{field} must be text of at most {MAX_FILTER_CHARS} characters", field=field)
    return value.strip()


def _choice(value, field: str, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise BadQuery(f"{field} must be one of {', '.join(allowed)} (got {as_written(value, 40)})", field=field)
    return value


# What a pasted question carries unseen (zero-width marks, the soft hyphen, control characters, and the
# marks that set the direction of Arabic or Hebrew text: U+200E/F, U+202A–E, U+2066–9): each split the
# words around it as a space does (如何保障粮\u200b食安全 lost its answer), or was all there was.
_BIDI_MARKS = "\u200e\u200f" + "".join(map(chr, range(0x202A, 0x202F))) + "".join(map(chr, range(0x2066, 0x206A)))
_UNSEEN = frozenset(INVISIBLE_MARKS + "\u00ad" + _BIDI_MARKS)
# Full-width Latin letters, digits and signs, and the ideographic space, as a Chinese input method left on
# full-width types an English question (Ｈｏｗ　ｄｏ　ｃｉｔｉｅｓ…); a Chinese one keeps its own punctuation.
_FULL_WIDTH_ASCII = {0xFF01 + offset: 0x21 + offset for offset in range(94)} | {0x3000: 0x20}
_CHINESE = re.compile(r"[\u3400-\u9fff]")
# Text copied out of a PDF often has a space between every character (如 何 保 障 粮 食 安 全，如 何 …), and
# the arms read each character as a word of its own (the answer fell from rank 1 to nowhere). A question
# whose Chinese is mostly spaced apart so — three gaps or more, and more gaps between two characters
# (hanzi, full-width marks, digits) than characters side by side — is read with those gaps closed.
# Words a space may well separate (粮食 安全 耕地) have more characters side by side than gaps.
_CHINESE_LIKE = r"[\u3400-\u9fff\u3001-\u303f\uff01-\uff5e0-9]"
_GAP_IN_CHINESE = re.compile(rf"(?<={_CHINESE_LIKE})[^\S\n]+(?={_CHINESE_LIKE})")
_SIDE_BY_SIDE = re.compile(rf"{_CHINESE_LIKE}(?={_CHINESE_LIKE})")
MIN_SPACED_GAPS = 3


def readable_query(q: str) -> str:
    """``q`` without the characters no reader sees, spaced-out Chinese joined back, and an English
    question in plain ASCII width."""
    text = "".join(char for char in q
                   if char not in _UNSEEN and (char.isspace() or unicodedata.category(char) != "Cc"))
    if not _CHINESE.search(text):
        return text.translate(_FULL_WIDTH_ASCII)
    gaps = len(_GAP_IN_CHINESE.findall(text))
    if gaps >= MIN_SPACED_GAPS and gaps > len(_SIDE_BY_SIDE.findall(text)):
        return _GAP_IN_CHINESE.sub("", text)
    return text


def check_request(q, k=DEFAULT_K, mode=DEFAULT_MODE, speech=None, *, group=None, date_from=None, date_to=None,
                  place=None, speaker=None, sort=DEFAULT_SORT, offset=0) -> SearchRequest:
    """The request with ``q`` readable (``readable_query``) and stripped, or BadQuery naming the first
    parameter out of its limits."""
    if q is not None and not isinstance(q, str):
        raise BadQuery(f"q must be a string, the question (got {as_written(q, 40)})", field="q")
    q = None if q is None else readable_query(q)
    if q is None or not q.strip():
        raise BadQuery("q must be a non-empty question", field="q")
    q = q.strip()
    if len(q) > MAX_QUERY_CHARS:
        raise BadQuery(f"q must be at most {MAX_QUERY_CHARS} characters (got {len(q)})", field="q")
    _check_k(k)
    _check_offset(offset)
    if not isinstance(mode, str) or mode not in MODES:
        raise BadQuery(f"mode must be one of {', '.join(MODES)} (got {as_written(mode, 40)})", field="mode")
    if speech is not None and not isinstance(speech, str):
        raise BadQuery("speech must be a speech id (a string) — see /api/speeches or speechqa speeches", field="speech")
    date_from, date_to = _date(date_from, "from"), _date(date_to, "to")
    if date_from and date_to and date_from > date_to:
        raise BadQuery(f"from ({date_from}) must not be after to ({date_to})", field="from")
    # an id pasted with a space around it (speech=%205a50…%20) names the same speech, as q is stripped too
    return SearchRequest(q=q, k=k, mode=mode, speech=(speech or "").strip() or None, group=_choice(group, "group", GROUPS),
                         date_from=date_from, date_to=date_to, place=_text(place, "place"),
                         speaker=_text(speaker, "speaker"), sort=_choice(sort, "sort", SORTS) or DEFAULT_SORT,
                         offset=offset)


def _check_offset(offset) -> None:
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise _offset_error(as_written(offset, 20))
    if not 0 <= offset <= MAX_OFFSET:
        raise _offset_error(_shown_integer(str(offset)))


def _offset_error(got: str) -> BadQuery:
    return BadQuery(f"offset must be an integer between 0 and {MAX_OFFSET} (got {got})", field="offset")


def _k_error(got: str) -> BadQuery:
    return BadQuery(f"k must be an integer between 1 and {MAX_K} (got {got})", field="k")


def _shown_integer(text: str) -> str:
    """An integer written ``text`` as a message echoes it: whole, or too large or small to show."""
    if len(text.lstrip("+-").lstrip("0")) <= SHOWN_K_DIGITS:
        return text
    return "a number too small to show" if text.startswith("-") else "a number too large to show"


def _check_k(k) -> None:
    if isinstance(k, bool) or not isinstance(k, int):
        raise _k_error(as_written(k, 20))
    if not 1 <= k <= MAX_K:
        raise _k_error(_shown_integer(str(k)))


def _k_from_text(raw: str):
    return _integer_from_text(raw, _k_error)


def _integer_from_text(raw: str, error):
    """The integer a query-string value writes, or ``error(what was given)``."""
    text = raw.strip()
    if not _INTEGER.fullmatch(text):  # one sign at most, ASCII digits only ("--5" reached int() and a 500)
        raise error(as_written(raw[:20]))
    shown = _shown_integer(text)
    if shown != text:  # too many digits to show, and maybe to read: int() of 4301 was a 500
        raise error(shown)
    return int(text)


def parse_k(raw: str | None) -> int:
    """``k`` from a query string (missing or empty = the default), checked as a search checks it."""
    if raw is None or raw == "":
        return DEFAULT_K
    k = _k_from_text(raw)
    _check_k(k)
    return k


def parse_listing(offset: str | None, limit: str | None) -> tuple[int, int | None]:
    """A list's ``offset`` (0 when missing or empty) and ``limit`` (None, all, when missing or empty)
    from a query string: an offset of any size, a limit between 1 and ``MAX_LIST_LIMIT``."""
    def error(name: str, low: int, high: int | None):
        bounds = f"between {low} and {high}" if high is not None else f"of {low} or more"
        return lambda got: BadQuery(f"{name} must be an integer {bounds} (got {got})", field=name)

    start = 0 if offset in (None, "") else _integer_from_text(offset, error("offset", 0, None))
    if start < 0:
        raise error("offset", 0, None)(_shown_integer(str(start)))
    if limit in (None, ""):
        return start, None
    count = _integer_from_text(limit, error("limit", 1, MAX_LIST_LIMIT))
    if not 1 <= count <= MAX_LIST_LIMIT:
        raise error("limit", 1, MAX_LIST_LIMIT)(_shown_integer(str(count)))
    return start, count


def parse_request(source: Mapping, *, strict: bool = False) -> SearchRequest:
    """A checked request from query-string arguments (text) or, ``strict``, a JSON object.

    An empty value is a field not given (an HTML form sends ``k=``), except JSON's ``k``, which
    is taken only as an integer (or null). JSON bodies refuse unknown fields, so a misspelt
    ``query`` is not silently ignored; a query string without ``q`` names its unknown parameters
    in the error instead.
    """
    unknown = sorted(set(source) - set(FIELDS))
    if strict and unknown:
        raise BadQuery(f"unknown field {as_written(unknown[0])} — allowed: {', '.join(FIELDS)}", field=unknown[0])
    question = source.get("q")
    if not strict and unknown and (question is None or not question.strip()):
        # the question was probably sent under another name (query=, question=)
        named = f"{unknown[0]} is not a parameter" if len(unknown) == 1 else f"{', '.join(unknown)} are not parameters"
        raise BadQuery(f"q must be a non-empty question ({named}; the question goes in q)", field="q")

    def given(name):
        value = source.get(name)
        return None if value is None or (value == "" and not (strict and name == "k")) else value

    k, mode, offset = given("k"), given("mode"), given("offset")
    if isinstance(k, str) and not strict:
        k = _k_from_text(k)
    if isinstance(offset, str) and not strict:
        offset = _integer_from_text(offset, _offset_error)
    sort = given("sort")
    return check_request(source.get("q"), DEFAULT_K if k is None else k,
                         DEFAULT_MODE if mode is None else mode, given("speech"), group=given("group"),
                         date_from=given("from"), date_to=given("to"), place=given("place"),
                         speaker=given("speaker"), sort=DEFAULT_SORT if sort is None else sort,
                         offset=0 if offset is None else offset)
