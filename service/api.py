"""The JSON API: search, speeches, passages, health and the OpenAPI document.

Every error leaves as ``{"error": {"code", "message"}}`` with its HTTP status; the
translation from domain errors happens in ``service._register_errors``.
"""
from __future__ import annotations

import hmac
import json
import re
import time
from dataclasses import asdict
from typing import Mapping

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, NotFound, Unauthorized

from index.errors import BadQuery, SpeechQAError
from index.lexical import tokenize
from index.search import MAX_K, MODES, search_payload
from service import ReloadInProgress, build_id_of, holder
from service import highlight as hl

bp = Blueprint("api", __name__)

DEFAULT_K = 10
DEFAULT_MODE = "hybrid"
SEARCH_FIELDS = ("q", "k", "mode", "speech")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Every search response names the build that answered it, so a client (and bench/load.py) can tell
# which index a result list came from across a reload; a header keeps the JSON body's shape.
BUILD_HEADER = "X-SpeechQA-Build"
# How long POST /api/admin/reload waits for a reload the watcher is already running.
RELOAD_WAIT_SECONDS = 60


def error_response(status: int, code: str, message: str):
    """The API's one error shape."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def http_error_text(exc: HTTPException) -> tuple[str, str]:
    """A stable code and a message that says what to do, for a werkzeug HTTP error."""
    status = exc.code or 500
    if status == 404:
        if exc.description and exc.description != NotFound.description:
            return "not_found", exc.description
        return "not_found", f"no such endpoint {request.path} — see /api/openapi.json"
    if status == 405:
        allowed = ", ".join(sorted(m for m in (getattr(exc, "valid_methods", None) or []) if m not in ("HEAD", "OPTIONS")))
        return "method_not_allowed", f"{request.method} is not allowed on {request.path}; use {allowed}"
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return "payload_too_large", f"request body is too large: at most {limit} bytes"
    if status == 400:
        description = exc.description if exc.description != BadRequest.description else "malformed request"
        return "bad_request", description
    return exc.name.lower().replace(" ", "_").replace("'", ""), exc.description or exc.name


def parse_k(raw, *, strict: bool = False) -> int:
    """``k`` from a query string (text) or, ``strict``, from JSON (an integer or null); missing means the default."""
    if raw is None or (raw == "" and not strict):
        return DEFAULT_K
    message = f"k must be an integer between 1 and {MAX_K}"
    if isinstance(raw, str) and not strict:
        text = raw.strip()
        if not _INTEGER.fullmatch(text):  # one sign at most, ASCII digits only ("--5" reached int() and a 500)
            raise BadQuery(message + f" (got {raw[:20]!r})")
        raw = int(text)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_K:
        raise BadQuery(message + f" (got {raw!r:.20})")
    return raw


def search_args(source: Mapping, *, strict: bool = False) -> tuple[object, int, str, str | None]:
    """(q, k, mode, speech) from query-string args or a JSON object; ``q`` is checked by the searcher.

    ``strict`` (JSON bodies) refuses unknown fields, so a misspelt ``query`` is not silently ignored.
    """
    if strict:
        unknown = sorted(set(source) - set(SEARCH_FIELDS))
        if unknown:
            raise BadQuery(f"unknown field {unknown[0]!r} — allowed: {', '.join(SEARCH_FIELDS)}")
    query = source.get("q")
    k = parse_k(source.get("k"), strict=strict)
    mode = source.get("mode")
    if mode is None or (mode == "" and not strict):
        mode = DEFAULT_MODE
    if not isinstance(mode, str) or mode not in MODES:
        raise BadQuery(f"mode must be one of {', '.join(MODES)} (got {mode!r:.40})")
    speech = source.get("speech")
    if speech is not None and not isinstance(speech, str):
        raise BadQuery("speech must be a speech id (a string) — see /api/speeches")
    return query, k, mode, speech or None


def json_body() -> dict:
    """The request body as a JSON object, or a 400 saying what was expected."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise BadRequest('request body must be a JSON object such as {"q": "如何保障粮食安全？"}')
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"request body is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object, not {type(body).__name__ if body is not None else 'null'}")
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # JSON allows "\ud800", which no UTF-8 response can echo back (it was a 500)
        raise BadRequest("request body contains an unpaired UTF-16 surrogate escape (such as \\ud800) "
                         "— send valid Unicode text") from None
    return body


def annotate(query: str, results: list[dict]) -> list[dict]:
    """Add ``highlight`` and ``best_sentence`` to each result dict (in place) and return them.

    Ties in term overlap go to the dense arm's best sentence (``best_span``), which the search
    already computed, so this costs no model call.
    """
    terms = tokenize(query)
    for result in results:
        result["highlight"] = str(hl.highlight(result["text"], terms))
        result["best_sentence"] = hl.best_sentence(result["text"], terms, result.get("best_span"))
    return results


def _search(source: Mapping, *, strict: bool):
    query, k, mode, speech = search_args(source, strict=strict)
    searcher = holder().require()  # taken once: a reload during this request does not mix two indexes
    payload = search_payload(searcher, query, k=k, mode=mode, speech=speech)
    annotate(payload["query"], payload["results"])
    response = jsonify(payload)
    response.headers[BUILD_HEADER] = build_id_of(searcher) or ""
    return response


@bp.get("/api/search")
def search_get():
    """Search with query-string parameters (a shareable URL)."""
    return _search(request.args, strict=False)


@bp.post("/api/search")
def search_post():
    """Search with a JSON body carrying the same fields."""
    return _search(json_body(), strict=True)


def speech_summary(info) -> dict:
    """A speech as listed: id, title, source and how many sections and passages it has."""
    return {"id": info.id, "title": info.title, "source": info.source, "title_inferred": info.title_inferred,
            "section_count": len(info.sections), "passage_count": info.passages}


@bp.get("/api/speeches")
def speeches():
    """All speeches in index order."""
    searcher = holder().require()
    return jsonify({"speeches": [speech_summary(s) for s in searcher.speeches]})


@bp.get("/api/speeches/<speech_id>")
def speech(speech_id: str):
    """One speech with its outline and its passages in reading order."""
    searcher = holder().require()
    try:
        info = searcher.speech(speech_id)
    except KeyError:
        raise NotFound(f"no speech with id {speech_id!r} — see /api/speeches") from None
    return jsonify(speech_summary(info) | {
        "sections": [list(path) for path in info.sections],
        "passages": [asdict(p) for p in searcher.speech_passages(speech_id)],
    })


@bp.get("/api/passages/<passage_id>")
def passage(passage_id: str):
    """One passage plus the ids of its neighbours in the same speech."""
    searcher = holder().require()
    try:
        found = searcher.passage(passage_id)
    except KeyError:
        raise NotFound(f"no passage with id {passage_id!r}") from None
    previous, following = searcher.neighbours(passage_id)
    return jsonify(asdict(found) | {"previous": previous, "next": following})


@bp.get("/healthz")
def healthz():
    """Liveness and what is being served; 503 (error shape) while no index is loaded."""
    index_holder = holder()
    state = index_holder.snapshot()
    searcher = index_holder.require() if state.searcher is None else state.searcher
    manifest = searcher.manifest
    body = {"status": "ok", "passages": len(searcher.passages), "speeches": len(searcher.speeches),
            "model": manifest.get("model_id"), "built_at": manifest.get("built_at"),
            "build_id": manifest.get("build_id")}
    if state.reload_error:
        body["reload_error"] = state.reload_error
    return jsonify(body)


def _check_reload_token() -> None:
    """404 unless a reload token is configured; 401 without a bearer token, 403 with a wrong one."""
    token = current_app.config.get("RELOAD_TOKEN")
    if not token:
        raise NotFound()  # the endpoint does not exist unless the operator enables it
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("send Authorization: Bearer <SPEECHQA_RELOAD_TOKEN>",
                           www_authenticate=_bearer_challenge())
    # compare bytes in constant time (str arguments must be ASCII)
    if not hmac.compare_digest(given.strip().encode("utf-8", "surrogatepass"), str(token).encode("utf-8")):
        raise Forbidden("wrong reload token")


def _bearer_challenge():
    from werkzeug.datastructures import WWWAuthenticate

    return WWWAuthenticate("bearer", {"realm": "speechqa admin"})


@bp.post("/api/admin/reload")
def admin_reload():
    """Load the build CURRENT names now, beside the served one; the old keeps serving if it fails."""
    _check_reload_token()
    index_holder = holder()
    previous = build_id_of(index_holder.searcher)
    started = time.perf_counter()
    try:
        build_id = index_holder.reload(current_app.config["INDEX_DIR"], model=current_app.config["MODEL"],
                                       wait=RELOAD_WAIT_SECONDS)
    except ReloadInProgress as exc:
        return error_response(409, exc.code, str(exc))
    except SpeechQAError as exc:
        serving = build_id_of(index_holder.searcher)
        note = f"still serving build {serving}" if serving else "no index is being served"
        return error_response(503, exc.code, f"reload refused, {note}: {exc}")
    return jsonify({"status": "reloaded", "build_id": build_id, "previous_build_id": previous,
                    "took_ms": round((time.perf_counter() - started) * 1000, 2)})


@bp.get("/api/openapi.json")
def openapi():
    """The OpenAPI 3.0 description of this API."""
    from service.openapi import build_spec

    return jsonify(build_spec(max_content_length=current_app.config.get("MAX_CONTENT_LENGTH")))
