"""The JSON API: search, speeches, passages, health and the OpenAPI document.

Routes raise; :mod:`service.errors` turns every error into ``{"error": {"code", "message"}}``
with its HTTP status.
"""
from __future__ import annotations

import hmac
import json
import re
import threading
import time
from dataclasses import asdict
from typing import Mapping, Sequence

from flask import Blueprint, current_app, jsonify, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import BadRequest, Forbidden, NotFound, Unauthorized

from index import strictjson
from index.embed import query_engine_of
from index.engines import machine_cpu
from index.errors import ReloadInProgress, SpeechQAError, StoreUnavailable, UnknownId, as_written
from index.query import parse_query
from index.records import Hit
from index.request import FIELDS, parse_k, parse_listing, parse_request
from index.search import results_of, search_payload, speech_about
from service.explain import say_why_empty
from service.export import (EXPORT_FORMATS, check_export_body, citation_markdown, citation_text, export,
                            quote_of)
from service.openapi import BUILD_HEADER, build_spec
from service.results import annotate, speech_summary
from service.state import WATCHER, build_id_of, holder, loaded, served, source, store_of

bp = Blueprint("api", __name__)

# The JSON API's paths, /api and everything under /api/: their answers name their build, and the origins
# of SPEECHQA_CORS_ORIGINS may read them
API_PATHS = re.compile(r"/api(?:/|$)")

EXPORT_FILENAME = "speechqa-export"
# How long POST /api/admin/reload waits for a reload the watcher is already running.
RELOAD_WAIT_SECONDS = 60
RELOAD_PATH = "/api/admin/reload"
RELOAD_DISABLED = ("reloading over HTTP is disabled: set SPEECHQA_RELOAD_TOKEN and restart the server to enable "
                   f"POST {RELOAD_PATH}")
# app.extensions key of the lock one admin reload holds from its first look at the served build to its answer
ADMIN_RELOAD = "speechqa.admin_reload"


@bp.record_once
def _admin_reload_lock(setup) -> None:
    """Each app its own lock, made before any request can race to make it."""
    setup.app.extensions[ADMIN_RELOAD] = threading.Lock()


SEARCH_EXAMPLE = '{"q": "如何保障粮食安全？"}'
EXPORT_EXAMPLE = '{"ids": ["<passage_id>", …], "format": "csv"}'


def json_body(example: str = SEARCH_EXAMPLE) -> dict:
    """The request body as a JSON object, or a 400 saying what was expected (``example``: the endpoint's)."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise BadRequest(f"request body must be a JSON object such as {example}")
    try:
        body = strictjson.loads(raw)
    except strictjson.DuplicateKey as exc:
        # another JSON reader, a proxy's, may take the first of the two where this one took the last
        raise BadRequest(f"request body gives the key {as_written(exc.key)} more than once — "
                         "send each field once") from None
    except RecursionError:
        raise BadRequest(f"request body nests arrays or objects too deeply to read — send a JSON object such as "
                         f"{example}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON ({exc})") from None
    except ValueError:
        # Python's own limit on reading integers (4300 digits): its message is about Python, not the request
        raise BadRequest("request body holds a number too long to read — send a JSON object such as "
                         f"{example}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object, not {type(body).__name__ if body is not None else 'null'}")
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # JSON allows "\ud800", which no UTF-8 response can echo back (it was a 500)
        raise BadRequest("request body contains an unpaired UTF-16 surrogate escape (such as \\ud800) "
                         "— send valid Unicode text") from None
    return body


@bp.after_app_request
def _name_the_build(response):
    """Every answer to an API path while an index is loaded, an error included, says which build it came
    from (the one the request read, ``state.loaded``), so that a client can tell an id of an older build
    from a wrong one. App-wide, not this Blueprint's: routing's 404s and 405s, and the 400s of the app's own
    checks before any route, reach no Blueprint."""
    if API_PATHS.match(request.path) and (searcher := loaded()) is not None:
        response.headers.setdefault(BUILD_HEADER, build_id_of(searcher) or "")
    return response


def _search(source: Mapping, *, strict: bool, ignored: Sequence[str] = ()):
    asked = parse_request(source, strict=strict)
    searcher = served()
    hits: list[Hit] = []
    payload = say_why_empty(search_payload(searcher, asked.q, **asked.options, keep=hits), searcher, asked,
                            parse_query(asked.q))
    annotate(searcher, payload["query"], payload["results"], hits, relaxed=payload["phrases_relaxed"],
             named_speech=payload["named_speech"])
    if ignored:
        payload["ignored_parameters"] = ignored
    return jsonify(payload)


@bp.get("/api/search")
def search_get():
    """Search with query-string parameters (a shareable URL)."""
    # a URL's extra parameters are no error (links and tools add their own), but they are named
    return _search(request.args, strict=False, ignored=ignored_parameters(request.args, FIELDS))


@bp.post("/api/search")
def search_post():
    """Search with a JSON body carrying the same fields."""
    return _search(json_body(), strict=True)


@bp.get("/api/speeches")
def speeches():
    """The speeches in index order, all of them or the ``limit`` after the first ``offset``, and how many there are."""
    searcher = served()
    offset, limit = parse_listing(request.args.get("offset"), request.args.get("limit"))
    listed = searcher.speeches[offset:None if limit is None else offset + limit]
    return jsonify(noting_ignored({"speeches": [speech_summary(s) for s in listed], "total": len(searcher.speeches)},
                                  known=("offset", "limit")))


@bp.get("/api/speeches/<speech_id>")
def speech(speech_id: str):
    """One speech with its outline and its passages in reading order."""
    searcher = served()
    info = searcher.speech(speech_id)
    return jsonify(noting_ignored(speech_summary(info) | {
        "sections": [list(path) for path in info.sections],
        "passages": [asdict(p) for p in searcher.speech_passages(speech_id)],
    }))


@bp.get("/api/passages/<passage_id>")
def passage(passage_id: str):
    """One passage plus the ids of its neighbours in the same speech, and its ``passage_id`` and ``speech`` as a
    search result gives them (a client citing a passage it fetched by id needed a second call for the
    speech's metadata, and a second mapper for its flat fields, which stay)."""
    searcher = served()
    found = searcher.passage(passage_id)
    previous, following = searcher.neighbours(passage_id)
    return jsonify(noting_ignored(asdict(found) | {
        "passage_id": found.id, "speech": speech_about(found, searcher.speech(found.speech_id)),
        "previous": previous, "next": following}))


@bp.get("/api/passages/<passage_id>/citation")
def citation(passage_id: str):
    """A passage ready to paste: plain text with its Chinese source line, and the same as Markdown."""
    searcher = served()
    found = searcher.passage(passage_id)
    quote = quote_of(found, searcher.speech(found.speech_id))
    return jsonify(noting_ignored({"passage_id": found.id, "citation": citation_text(quote),
                                   "markdown": citation_markdown(quote)}))


@bp.get("/api/passages/<passage_id>/similar")
def similar(passage_id: str):
    """Passages of other speeches that make the same point, one per speech, reprints folded, as
    /api/search's results."""
    searcher = served()
    k = parse_k(request.args.get("k"))
    started = time.perf_counter()
    hits = searcher.similar(passage_id, k)
    took_ms = round((time.perf_counter() - started) * 1000, 2)
    results = annotate(searcher, "", results_of(searcher, hits), hits)
    return jsonify(noting_ignored({"passage_id": passage_id, "took_ms": took_ms, "results": results}, known=("k",)))


def noting_ignored(body: dict, *, known: Sequence[str] = ()) -> dict:
    """``body`` with ``ignored_parameters`` where the request's query string holds any: a reader of
    /api/passages/<id>?context=2 took the passage alone for the context asked."""
    ignored = ignored_parameters(request.args, known)
    return body | {"ignored_parameters": ignored} if ignored else body


def ignored_parameters(args, known) -> list[str]:
    """The query-string parameters an endpoint does not read: unknown ones (a misspelt filter would
    pass for an answer to the filtered question) and those given more than once with different
    values (k=3&k=20), of which only the first is read."""
    unknown = set(args) - set(known)
    repeated = {name for name, values in args.lists() if len(set(values)) > 1}
    return sorted(unknown | repeated)


@bp.post("/api/export")
def export_passages():
    """The chosen passages with their citations as one Markdown, CSV or DOCX file, in the order given."""
    ids, format_name = check_export_body(json_body(EXPORT_EXAMPLE))
    return export_response(served(), ids, format_name)


def export_response(searcher, ids: list[str], format_name: str):
    """The export file of these passages as an attachment; UnknownId (a 404 listing every id the index
    lacks, as ``missing_ids``) when any is gone, so that a saved cart is mended in one request, not one
    per stale id."""
    found, missing = [], []
    for passage_id in ids:
        try:
            found.append(searcher.passage(passage_id))
        except UnknownId:
            missing.append(passage_id)
    if missing:
        raise UnknownId(f"no passage with id {', '.join(map(as_written, missing))} ({len(missing)} of the {len(ids)} ids; "
                        "a rebuild since they were found drops a passage whose text or file name changed) — export the others, "
                        "or search for them again", kind="passage", id=missing[0], ids=tuple(missing))
    quotes = [quote_of(passage, searcher.speech(passage.speech_id)) for passage in found]
    media_type, extension = EXPORT_FORMATS[format_name]
    response = current_app.response_class(export(quotes, format_name), content_type=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{EXPORT_FILENAME}.{extension}"'
    response.headers["Cache-Control"] = "no-store"  # a reader's chosen excerpts: no shared cache keeps them
    return response


@bp.get("/healthz")
def healthz():
    """Liveness and what is being served; 503 (error shape) while no index is loaded."""
    index_holder = holder()
    state = index_holder.snapshot()
    searcher = index_holder.require() if state.searcher is None else state.searcher
    watcher = current_app.extensions.get(WATCHER)
    if watcher is not None and watcher.outage:
        # every search answers 503 while the store is down: a health check must not send traffic here
        raise StoreUnavailable(f"{watcher.outage} — build {build_id_of(searcher)} is still loaded, and searches "
                               "answer 503 until the store answers again")
    manifest = searcher.manifest
    # a refused reload leaves an older build serving: "stale", so that a monitor reading status alone sees it
    body = {"status": "stale" if state.reload_error else "ok", "passages": len(searcher.passages), "speeches": len(searcher.speeches),
            "model": manifest.get("model_id"), "built_at": manifest.get("built_at"),
            "build_id": manifest.get("build_id"), "store": store_of(searcher),
            "engines": {"index": manifest.get("engine"), "queries": query_engine_of(searcher.encoder)},
            "cpu": machine_cpu().to_json(), "term_tables": searcher.tables.describe()}
    if state.reload_error:
        body["reload_error"] = state.reload_error
    return jsonify(body)


@bp.before_app_request
def _reload_disabled() -> None:
    """404 saying how to enable reloads, for every method, while no reload token is configured: the route
    alone would answer GET with 405 "use POST", and POST with a bare "no such endpoint"."""
    if request.path == RELOAD_PATH and not current_app.config.get("RELOAD_TOKEN"):
        raise NotFound(RELOAD_DISABLED)


def _check_reload_token() -> None:
    """404 unless a reload token is configured; 401 without a bearer token, 403 with a wrong one."""
    token = current_app.config.get("RELOAD_TOKEN")
    if not token:
        raise NotFound(RELOAD_DISABLED)  # never compare a bearer token against an unset one
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("send Authorization: Bearer <SPEECHQA_RELOAD_TOKEN>",
                           www_authenticate=_bearer_challenge())
    # compare bytes in constant time (str arguments must be ASCII)
    if not hmac.compare_digest(given.strip().encode("utf-8", "surrogatepass"), str(token).encode("utf-8")):
        raise Forbidden("wrong reload token")


def _bearer_challenge():
    return WWWAuthenticate("bearer", {"realm": "speechqa admin"})


@bp.post(RELOAD_PATH)
def admin_reload():
    """Load the current build now (CURRENT's, or Milvus's current version), beside the served one; the
    old keeps serving if it fails."""
    _check_reload_token()
    # One admin reload at a time, refused rather than queued: queued ones each reloaded the build just
    # swapped in, and two reported the same swap. A watcher's reload is still waited for, below.
    admin = current_app.extensions[ADMIN_RELOAD]
    if not admin.acquire(blocking=False):
        raise ReloadInProgress("another reload is running — retry in a few seconds")
    try:
        return _reload(holder())
    finally:
        admin.release()


def _reload(index_holder):
    """Reload and answer the swap; ReloadInProgress while the watcher's reload outlasts RELOAD_WAIT_SECONDS,
    else the load's own error, its message saying which build still serves."""
    started = time.perf_counter()
    try:
        previous, build_id = index_holder.reload(source(), model=current_app.config["MODEL"], wait=RELOAD_WAIT_SECONDS)
    except ReloadInProgress:
        raise  # nothing was tried, so there is no build to note
    except SpeechQAError as exc:
        serving = build_id_of(index_holder.searcher)
        note = f"still serving build {serving}" if serving else "no index is being served"
        # a new one of the same type, so errors.py answers its code at its status: the holder keeps this one
        # as the error it serves while no build loads, and must not serve it with this note
        raise type(exc)(f"reload refused, {note}: {exc}") from exc
    # changed: a deploy script's reload just after the watcher's loaded the same build again ("reloaded" alone
    # could not tell it from a swap)
    return jsonify({"status": "reloaded", "build_id": build_id, "previous_build_id": previous,
                    "changed": build_id != previous, "took_ms": round((time.perf_counter() - started) * 1000, 2)})


@bp.get("/api/openapi.json")
def openapi():
    """The OpenAPI 3.0 description of this API."""
    return jsonify(build_spec(max_content_length=current_app.config.get("MAX_CONTENT_LENGTH")))
