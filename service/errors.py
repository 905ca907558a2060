"""Errors at the HTTP edge: one table from domain error to status, one JSON error body, the handlers.

Routes raise (domain errors from ``index.errors``, or werkzeug's HTTP errors); nothing else builds an error response. API paths answer
``{"error": {"code", "message"}}``; pages answer the page renderer the factory hands in.
"""
from __future__ import annotations

import re
from typing import Callable

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from index.errors import (BadQuery, EngineUnavailable, IndexCorrupt, IndexNotBuilt, IndexUnavailable, ModelMismatch,
                          ModelUnavailable, ReloadFailed, ReloadInProgress, SpeechQAError, StoreUnavailable, UnknownId)

# First match wins; a domain error not listed here is a bug and answers 500.
STATUS: tuple[tuple[type[SpeechQAError], int], ...] = (
    (BadQuery, 400),
    (UnknownId, 404),
    (ReloadInProgress, 409),
    (IndexUnavailable, 503),
    (ReloadFailed, 503),
    (IndexNotBuilt, 503),
    (StoreUnavailable, 503),
    (IndexCorrupt, 503),
    (ModelMismatch, 503),
    # after a reload that failed for want of its model or engine while no build was served, until one loads; at
    # start the same errors stop `serve` with one line and exit 2 (they are not state.LOAD_ERRORS)
    (ModelUnavailable, 503),
    (EngineUnavailable, 503),
)
INTERNAL_MESSAGE = "internal server error — the details are in the server log"

PageRenderer = Callable[[int, str, str], object]
PageMessage = Callable[[BaseException], str]


def status_of(exc: SpeechQAError) -> int:
    """The HTTP status a domain error answers with."""
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 500)


def wants_json() -> bool:
    """Whether this request is an API call (JSON errors) rather than a page (HTML errors)."""
    path = request.path
    return path == "/api" or path.startswith("/api/") or path == "/healthz"


def refuse_empty_segments() -> None:
    """404 for a path with an empty segment (/api//search, /passages//x) that names a route once its
    slashes are merged: in the API's shape for an API path, a page for a page's.

    Werkzeug redirected it (308) with a Location it built from the Host header, so behind a proxy it
    pointed at the inner address, and a forged Host sent the reader elsewhere; with another method than
    the route's it answered 405 for a path that has no route. The 404 names the path meant instead.
    """
    path = request.path
    if "//" in path and isinstance(request.routing_exception, (RequestRedirect, MethodNotAllowed)):
        meant = re.sub("/{2,}", "/", path)
        # /passages//similar is a passage's similar page with its id left out, not /passages/similar (the
        # passage "similar") with a slash too many: an id put in the gap names another route than merging does
        with_an_id = _endpoint_of(re.sub("/{2,}", "/_/", path))
        if with_an_id is not None and with_an_id != _endpoint_of(meant):
            if wants_json():
                raise NotFound(f"no such endpoint {path}: an id in it is empty — see /api/openapi.json")
            raise NotFound(f"没有这个页面（{path}）：地址里的编号是空的。")
        if wants_json():
            raise NotFound(f"no such endpoint {path} (did you mean {meant}?) — see /api/openapi.json")
        raise NotFound(f"没有这个页面（{path}），是不是要找 {meant}？")


def _endpoint_of(path: str) -> str | None:
    """The endpoint of the app's route ``path`` names for this request's method, or None."""
    try:
        endpoint, _ = current_app.url_map.bind_to_environ(request.environ).match(path, method=request.method)
    except (HTTPException, RequestRedirect):
        return None
    return endpoint


def error_response(status: int, code: str, message: str, missing_ids: tuple[str, ...] = ()):
    """The API's one error shape; ``missing_ids``: the ids a request of several named that the index lacks."""
    response = jsonify({"error": {"code": code, "message": message, **({"missing_ids": list(missing_ids)}
                                                                         if missing_ids else {})}})
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


def init_app(app: Flask, *, page: PageRenderer, page_message: PageMessage) -> None:
    """Register the handlers; ``page(status, code, message)`` renders an HTML error and
    ``page_message(exc)`` words an error for a reader of the page."""
    app.before_request(refuse_empty_segments)

    def render(status: int, code: str, message: str, exc: BaseException | None, headers=()):
        if wants_json():
            response = error_response(status, code, message, exc.ids if isinstance(exc, UnknownId) else ())
        else:
            response = page(status, code, page_message(exc) if exc is not None else message)
        for name, value in headers:
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if isinstance(exc, InternalServerError):
            return internal_error(exc.original_exception or exc)
        code, message = http_error_text(exc)
        return render(exc.code or 500, code, message, exc, exc.get_headers())

    @app.errorhandler(SpeechQAError)
    def domain_error(exc: SpeechQAError):
        status = status_of(exc)
        if status == 500:
            return internal_error(exc)
        return render(status, exc.code, str(exc), exc)

    @app.errorhandler(Exception)
    def internal_error(exc: BaseException):
        app.logger.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return render(500, "internal_error", INTERNAL_MESSAGE, None)
