"""The web service: a server-rendered search page and a JSON API over one loaded index.

``create_app`` reads the configuration, gives the app its index (:mod:`service.state`), registers
the two Blueprints (:mod:`service.views`, :mod:`service.api`) and the error handlers
(:mod:`service.errors`).
"""
from __future__ import annotations

import logging
import os
import re
from typing import Mapping
from urllib.parse import unquote_to_bytes

from flask import Flask, request
from flask_cors import CORS
from werkzeug.exceptions import BadRequest

from index.errors import SettingError
from index.lifecycle import DEFAULT_ROOT

# scheme://host[:port] and nothing more, as a browser's Origin header names a page's origin: the host a
# name or a bracketed IPv6 address; anything else (a path, a query, a wildcard) names no origin
_ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# A reload token shorter than this can be guessed: the endpoint answers thousands of tries a second.
SHORT_TOKEN = 16
log = logging.getLogger("service")
TEMPLATES = ("index.html", "passage.html", "speech.html", "speeches.html", "error.html", "similar.html")


def create_app(config: Mapping | None = None, *, searcher=None, encoder=None) -> Flask:
    """Application factory: defaults, then ``SPEECHQA_*`` environment variables, then ``config``.

    ``searcher`` serves a ready searcher instead of loading ``INDEX`` (no watcher then);
    ``encoder`` is a ready query encoder to load ``INDEX`` with.
    """
    # Imported here, not with the package: `speechqa serve` sets the OpenMP environment before
    # FAISS loads libgomp, which reads it once, and the CLI is a module of this package.
    from service import api, errors, state, views

    app = Flask(__name__)
    app.config.from_mapping(
        INDEX=str(DEFAULT_ROOT),
        STORE="faiss",
        MILVUS_TOKEN=None,
        MILVUS_TIMEOUT=None,
        MODEL=None,
        MAX_CONTENT_LENGTH=16 * 1024,
        RELOAD_TOKEN=None,
        RELOAD_INTERVAL=None,  # state.RELOAD_INTERVAL
        GLOSSARY=None,  # the library's own term tables (index/thesaurus.py): paths, or one string
        WORDING=None,   # of them joined by os.pathsep, as $SPEECHQA_GLOSSARY / $SPEECHQA_WORDING give
        CORS_ORIGINS=None,  # web origins whose pages may call /api/ from a browser (see _allow_origins)
    )
    app.config.from_prefixed_env("SPEECHQA")
    for token in ("RELOAD_TOKEN", "MILVUS_TOKEN"):
        if f"SPEECHQA_{token}" in os.environ:
            # from_prefixed_env parses values as JSON, which would turn a token such as 0123 into a number
            app.config[token] = os.environ[f"SPEECHQA_{token}"]
    if config is not None:
        app.config.from_mapping(config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    _allow_origins(app)
    _check_reload_token(app.config.get("RELOAD_TOKEN"))
    state.init_app(app, searcher=searcher, encoder=encoder)
    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    errors.init_app(app, page=views.error_page, page_message=views.page_message)
    app.before_request(_require_utf8_query_string)
    app.after_request(_security_headers)
    for name in TEMPLATES:
        app.jinja_env.get_template(name)  # compile now, not on the first request
    return app


def _check_reload_token(token) -> None:
    """SettingError for a reload token no request can send (HTTP headers are read as Latin-1, so a
    token of other characters never matched), a warning for one short enough to guess."""
    if not token:
        return
    if not str(token).isascii():
        raise SettingError("SPEECHQA_RELOAD_TOKEN must be ASCII (HTTP headers cannot carry other characters) — "
                           "e.g. python -c 'import secrets; print(secrets.token_urlsafe())'")
    if len(str(token)) < SHORT_TOKEN:
        log.warning("SPEECHQA_RELOAD_TOKEN is %d characters: one that short can be guessed — use %d or more, "
                    "e.g. python -c 'import secrets; print(secrets.token_urlsafe())'", len(str(token)), SHORT_TOKEN)


def _allow_origins(app: Flask) -> None:
    """Let the pages of ``CORS_ORIGINS`` ($SPEECHQA_CORS_ORIGINS: origins separated by spaces or commas,
    such as ``https://addin.example``) call the JSON API from a browser: a Word add-in or an intranet
    portal served from another origin could not. None by default, and never ``*``: with no login, any
    web page a colleague opens could otherwise read the library through their browser."""
    from service.api import API_PATHS
    from service.openapi import BUILD_HEADER

    given = app.config.get("CORS_ORIGINS")
    origins = given if isinstance(given, list) else str(given or "").replace(",", " ").split()
    bad = [origin for origin in origins if not _ORIGIN.fullmatch(str(origin))]
    if bad:
        raise SettingError(f"SPEECHQA_CORS_ORIGINS must list web origins such as https://addin.example, "
                           f"never * (got {bad[0]!r})")
    if not origins:
        return
    # flask-cors's own Vary (vary_header) comes only with an Access-Control-Allow-Origin it echoes, and only
    # when several origins are allowed; but the answer to a refused origin, or with one allowed, varies by
    # Origin too, and a shared cache must not hand it to another origin
    # Each origin as a pattern of itself, whole: flask-cors reads a string with a regex character in it
    # ([::1]'s brackets) as a regex it matches at the start only. always_send off: an answer to a request
    # without an Origin named the trusted origins to whoever asked.
    exact = [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in origins]
    CORS(app, resources={API_PATHS: {"origins": exact}}, methods=["GET", "POST"], always_send=False,
         allow_headers=["Content-Type", "Authorization"], vary_header=False,
         # an add-in saving an export names the file as the server does
         expose_headers=[BUILD_HEADER, "Content-Disposition"])

    @app.after_request
    def vary_by_origin(response):
        if API_PATHS.match(request.path):
            response.vary.add("Origin")
        return response


def _require_utf8_query_string() -> None:
    """400 for a query string whose escapes are not UTF-8 (q=%ED%A0%80, %FF%FE): werkzeug would hand
    them on as the literal text "%ED%A0%80", and that would be searched."""
    try:
        unquote_to_bytes(request.query_string).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the query string is not valid UTF-8: its %-escapes must encode UTF-8 text, such as "
                         "%E7%B2%AE for 粮 — send valid Unicode text") from None


def _security_headers(response):
    """Only our own stylesheet and script (service/static/), no outside resources: a last line behind escaping."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # a page's URL holds the question (q=…): no other site learns it from a link followed
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")
    return response
