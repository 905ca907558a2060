"""Search backends for the evaluation: the local index in-process, or a running server over HTTP."""
from __future__ import annotations

import json
from pathlib import Path

from eval.scoring import EvalError, Search


class LocalSearch:
    """A backend over the index under ``index_dir``, loaded once (model and all); its questions are
    expanded with ``tables`` (default: the packaged term tables)."""

    def __init__(self, index_dir: Path | str, *, tables=None):
        from index.embed import query_engine_of
        from index.search import load_searcher, results_of

        self._searcher = load_searcher(index_dir, tables=tables)
        self._results_of = results_of
        self.passages = self._searcher.passages
        # what encodes the questions on this CPU: the figures differ a little between engines
        self.query_engine = query_engine_of(self._searcher.encoder)

    def __call__(self, query: str, k: int, mode: str) -> list[dict]:
        hits = self._searcher.answer(query, k=k, mode=mode).hits  # what the API answers
        return self._results_of(self._searcher, hits)


def http_search(url: str, *, timeout: float = 60.0) -> Search:
    """A backend that calls ``GET {url}/api/search`` of a running `speechqa serve`."""
    import urllib.error
    import urllib.parse
    import urllib.request

    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise EvalError(f"--url must start with http:// or https:// (got {url!r})")

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
            raise EvalError(f"{base} answered {exc.code}: {message}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EvalError(f"cannot reach {base} ({reason}) — is `speechqa serve` running there?") from None
        except ValueError:
            raise EvalError(f"{base}/api/search did not answer JSON — is --url the speechqa server?") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise EvalError(f"{base}/api/search answered without a results list — is --url the speechqa server?")
        return payload["results"]

    return search
