"""Search backends for the evaluation: the local index in-process, or a running server over HTTP.

Each is a ``Search`` (``search(query, k, mode) -> list[dict]``) that also says what its figures are
measured with (``measured_on``: engines, CPU, term tables) and which gold spans no passage holds
(``span_check``), so that a span nobody can match is refused before it is scored as a miss.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from eval.questions import SpanCheck, absent_spans, squash
from eval.scoring import EvalError
from index.errors import BadQuery, QuerySyntaxError, as_written
from index.query import CLOSING_QUOTE, ParsedQuery, parse_query
from index.query import squash as squash_phrase
from index.request import MAX_K


class LocalSearch:
    """A backend over the index under ``index_dir``, loaded once (model and all); its questions are
    expanded with ``tables`` (default: the packaged term tables)."""

    def __init__(self, index_dir: Path | str, *, tables=None):
        from index.embed import query_engine_of
        from index.engines import machine_cpu
        from index.search import load_searcher, results_of

        self._searcher = load_searcher(index_dir, tables=tables)
        self._results_of = results_of
        self.passages = self._searcher.passages
        # The figures differ a little between engines, between kinds of CPU through one engine, and
        # with the term tables the questions are expanded with.
        self.measured_on = {"index_engine": self._searcher.manifest.get("engine"),
                            "query_engine": query_engine_of(self._searcher.encoder),
                            "cpu": machine_cpu().to_json(),
                            "term_tables": self._searcher.tables.describe()}

    def __call__(self, query: str, k: int, mode: str) -> list[dict]:
        hits = self._searcher.answer(query, k=k, mode=mode).hits  # what the API answers
        return self._results_of(self._searcher, hits)

    def span_check(self, spans: Iterable[str]) -> SpanCheck:
        """The spans no passage of the index holds (whitespace ignored)."""
        return SpanCheck(absent=frozenset(absent_spans(spans, self.passages)))


class HttpSearch:
    """A backend that calls ``GET {url}/api/search`` of a running `speechqa serve`."""

    def __init__(self, url: str, *, timeout: float = 60.0):
        self.base = _base_of(url)
        self._timeout = timeout
        self.measured_on = served_on(self.base)

    def __call__(self, query: str, k: int, mode: str) -> list[dict]:
        return self._search(query, k, mode)["results"]

    def span_check(self, spans: Iterable[str]) -> SpanCheck:
        """The spans no passage holds, asked of the service one phrase query each (``phrase_query``).

        The service matches a phrase more loosely than a gold span is: a quotation mark in it matches
        any, an ellipsis any wording, and zero-width marks are skipped. So a listed passage that holds
        the span as written proves it present, and every passage that matched listed (none past the
        limit, none folded into a reprint's result; none at all for ``matched: 0``) with none holding
        it as written proves it absent; anything else is left unchecked, with why, rather than guessed.
        """
        absent, unchecked = set(), {}
        for span in dict.fromkeys(spans):
            query = phrase_query(span)
            if query is None:
                unchecked[span] = "no quoting makes it one phrase query"
                continue
            try:
                # bm25 needs no query vector, and a phrase alone lists the passages holding it in any mode
                answer = self._search(query, MAX_K, "bm25")
            except BadQuery as exc:
                unchecked[span] = str(exc)
                continue
            matched, listed = answer.get("matched"), answer["results"]
            as_written = any(squash(span) in squash(result.get("text", "")) for result in listed)
            if not isinstance(matched, int):
                unchecked[span] = f"{self.base} does not say how many passages hold a phrase (`matched`)"
            elif not as_written and matched == len(listed) and not any(r.get("duplicate_count") for r in listed):
                absent.add(span)
            elif not as_written:
                unchecked[span] = (f"the service matches it loosely (a quotation mark as any, an ellipsis as any "
                                   f"wording) in {matched} result(s), none of the {len(listed)} it lists holds it as "
                                   "written, and it does not show the rest or the reprints folded into them")
        return SpanCheck(absent=frozenset(absent), unchecked=unchecked)

    def _search(self, query: str, k: int, mode: str) -> dict:
        address = f"{self.base}/api/search?" + urllib.parse.urlencode({"q": query, "k": k, "mode": mode})
        try:
            with urllib.request.urlopen(address, timeout=self._timeout) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                message = json.load(exc)["error"]["message"]
            except Exception:  # the body is not our JSON error shape; the status says enough
                message = exc.reason
            # a 400 refuses the question (an unclosed quote, too long), which the caller names
            error = BadQuery if exc.code == 400 else EvalError
            raise error(f"{self.base} answered {exc.code}: {message}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EvalError(f"cannot reach {self.base} ({reason}) — is `speechqa serve` running there?") from None
        except ValueError:
            raise EvalError(f"{self.base}/api/search did not answer JSON — is --url the speechqa server?") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise EvalError(f"{self.base}/api/search answered without a results list — is --url the speechqa server?")
        return payload


def phrase_query(span: str) -> str | None:
    """``span`` quoted so that the query parser reads it back as exactly one phrase, the span itself, and
    nothing else; None when no kind of quote does (the span holds each kind's closing quote unbalanced,
    or nothing but an ellipsis).

    Quotes of another kind inside the span stay part of the phrase (「」 around “两个维护” or "…").
    """
    phrase = ParsedQuery(text="", phrases=(squash_phrase(span),))
    for opening, closing in CLOSING_QUOTE.items():
        query = f"{opening}{span}{closing}"
        try:
            if parse_query(query) == phrase:
                return query
        except QuerySyntaxError:
            continue
    return None


def served_on(url: str, *, timeout: float = 10.0) -> dict:
    """What the server at ``url`` says its figures are measured on (``/healthz``'s engines, CPU and term
    tables), as ``LocalSearch.measured_on`` holds it; empty when it does not say (not a speechqa server,
    or an older one)."""
    try:
        with urllib.request.urlopen(f"{_base_of(url)}/healthz", timeout=timeout) as response:
            health = json.load(response)
    except (urllib.error.URLError, TimeoutError, OSError, ValueError):
        return {}  # the search requests report an unreachable server in their own words
    if not isinstance(health, dict):
        return {}
    engines = health.get("engines") if isinstance(health.get("engines"), dict) else {}
    found = {"index_engine": engines.get("index"), "query_engine": engines.get("queries"), "cpu": health.get("cpu"),
             "term_tables": health.get("term_tables")}
    return {key: value for key, value in found.items() if value is not None}


def _base_of(url: str) -> str:
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise EvalError(f"--url must start with http:// or https:// (got {as_written(url)})")
    return base
