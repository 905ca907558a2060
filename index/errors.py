"""Domain errors, raised deep inside and translated only at the edges (CLI, HTTP), and how their messages
name a value (``as_written``) and quote a piece of the corpus (``as_read``)."""
from __future__ import annotations

import json


def as_written(value, limit: int | None = None) -> str:
    """``value`` as a message names it: as JSON writes it (true, null, "text", ["x"]), the way an API
    client sends it and a reader types it, not as Python's repr (True, None, 'text'), which no client
    wrote; characters no reader sees escaped, as repr escaped them, and cut to ``limit`` characters
    with an ellipsis."""
    written = "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
                      for char in json.dumps(value, ensure_ascii=False))
    return written if limit is None or len(written) <= limit else written[:limit] + "…"


class SpeechQAError(Exception):
    """Base class: the message says what went wrong and what to do about it."""

    code = "error"


class IndexNotBuilt(SpeechQAError):
    """No usable index at the expected place."""

    code = "index_not_built"


class IndexCorrupt(SpeechQAError):
    """An index directory exists but its files are missing, truncated or altered."""

    code = "index_corrupt"


class ModelMismatch(SpeechQAError):
    """The index was built with a different embedding model than the one asked for."""

    code = "model_mismatch"


class BadQuery(SpeechQAError):
    """The caller's query parameters are invalid; ``field`` names the parameter when one is at fault."""

    code = "bad_query"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class UnknownId(SpeechQAError):
    """No passage or speech has the id asked for (``kind`` says which of the two); ``ids``: every id of
    the request the index lacks, when it asked for several."""

    code = "not_found"

    def __init__(self, message: str, *, kind: str, id: str, ids: tuple[str, ...] = ()):
        super().__init__(message)
        self.kind = kind
        self.id = id
        self.ids = ids


class CorpusError(SpeechQAError):
    """A corpus file or directory cannot be used at all."""

    code = "corpus_error"


class BuildInProgress(SpeechQAError):
    """Another build holds the index root's build lock."""

    code = "build_in_progress"


class QuerySyntaxError(BadQuery):
    """The query text does not follow the search syntax (an unclosed quote, an empty phrase).

    Besides its English message it says what is wrong for others to word it (the page, in Chinese):
    ``kind`` is "unclosed_quote", "empty_phrase", "no_value" or "too_many_parts" (``part`` then their
    count); ``at`` the 1-based character where the
    fault starts; ``part`` the text at fault (the quote mark, the empty phrase, the filter name: a
    ``-`` right before it, at ``at - 1``, makes it an exclusion); ``shown`` a few characters of the
    query from there; ``reversed_quotes`` that an unclosed quote's own closing mark stands before it
    (”保交楼“), ``both_opening`` that its own opening mark follows it and no closing one does (“保交楼“).
    Positions count in the query as checked (``index.request.readable_query``, stripped).
    """

    code = "query_syntax"

    def __init__(self, message: str, *, kind: str | None = None, at: int | None = None, part: str = "",
                 shown: str = "", reversed_quotes: bool = False, both_opening: bool = False):
        super().__init__(message, field="q")
        self.kind, self.at, self.part, self.shown = kind, at, part, shown
        self.reversed_quotes, self.both_opening = reversed_quotes, both_opening


class IndexUnavailable(SpeechQAError):
    """The server was asked to search but has no index loaded (the message says why and what to run)."""

    code = "index_unavailable"


class ReloadInProgress(SpeechQAError):
    """Another reload holds the lock for longer than the caller would wait."""

    code = "reload_in_progress"


class ReloadFailed(SpeechQAError):
    """A reload hit an error that is not one of the index's own (the server log has the details)."""

    code = "reload_failed"


class StoreUnavailable(SpeechQAError):
    """The search engine holding the index (a Milvus server) cannot be reached or did not answer in time."""

    code = "store_unavailable"


class StoreLostIndex(StoreUnavailable):
    """The search engine answers but no longer holds the index (Milvus started on other data, its collections
    dropped): the same 503 for a client, other advice for a reader, as waiting will not bring it back."""


class ModelUnavailable(SpeechQAError):
    """The embedding model asked for (--model, $SPEECHQA_MODEL) is not on this machine or cannot be loaded."""

    code = "model_unavailable"


class EngineUnavailable(SpeechQAError):
    """The encoder asked for cannot run on this machine's CPU (the message names the one to use)."""

    code = "engine_unavailable"


class TermTableError(SpeechQAError, ValueError):
    """A term table (a glossary or a plain-wording table) cannot be read or has a malformed line."""

    code = "term_table_error"


class SettingError(SpeechQAError, ValueError):
    """A setting (a ``SPEECHQA_*`` environment variable or the app's config) holds a value it cannot take."""

    code = "setting_error"


def as_read(text: str) -> str:
    """``text`` in quotes as it reads, for a warning: repr printed a U+3000 as \\u3000."""
    return f"'{text}'"
