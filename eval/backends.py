"""Search backends for the evaluation: the local index in-process, or a running server over HTTP."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from eval.scoring import EvalError, Search
from index.errors import BadQuery


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
        # The figures differ a little between engines, and between kinds of CPU through one engine.
        self.measured_on = {"index_engine": self._searcher.manifest.get("engine"),
                            "query_engine": query_engine_of(self._searcher.encoder),
                            "cpu": machine_cpu().to_json()}

    def __call__(self, query: str, k: int, mode: str) -> list[dict]:
        hits = self._searcher.answer(query, k=k, mode=mode).hits  # what the API answers
        return self._results_of(self._searcher, hits)


def http_search(url: str, *, timeout: float = 60.0) -> Search:
    """A backend that calls ``GET {url}/api/search`` of a running `speechqa serve`."""
    base = _base_of(url)

    def search(query: str, k: int, mode: str) -> list[dict]:
        address = f"{base}/api/search?" + urllib.parse.urlencode({"q": query, "k": k, "mode": mode})
        try:
            with urllib.request.urlopen(address, timeout=timeout) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                message = json.load(exc)["error"]["message"]
            except Exception:  # the body is not our JSON error shape; the status says enough
                message = exc.reason
            # a 400 refuses the question (an unclosed quote, too long), which the caller names
            error = BadQuery if exc.code == 400 else EvalError
            raise error(f"{base} answered {exc.code}: {message}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EvalError(f"cannot reach {base} ({reason}) — is `speechqa serve` running there?") from None
        except ValueError:
            raise EvalError(f"{base}/api/search did not answer JSON — is --url the speechqa server?") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise EvalError(f"{base}/api/search answered without a results list — is --url the speechqa server?")
        return payload["results"]

    return search


def served_on(url: str, *, timeout: float = 10.0) -> dict:
    """What the server at ``url`` says its figures are measured on (``/healthz``'s engines and CPU), as
    ``LocalSearch.measured_on`` holds it; empty when it does not say (not a speechqa server, or an older one)."""
    try:
        with urllib.request.urlopen(f"{_base_of(url)}/healthz", timeout=timeout) as response:
            health = json.load(response)
    except (urllib.error.URLError, TimeoutError, OSError, ValueError):
        return {}  # the search requests report an unreachable server in their own words
    if not isinstance(health, dict):
        return {}
    engines = health.get("engines") if isinstance(health.get("engines"), dict) else {}
    found = {"index_engine": engines.get("index"), "query_engine": engines.get("queries"), "cpu": health.get("cpu")}
    return {key: value for key, value in found.items() if value is not None}


def _base_of(url: str) -> str:
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise EvalError(f"--url must start with http:// or https:// (got {url!r})")
    return base
