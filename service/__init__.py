"""The web service: a server-rendered search page and a JSON API over one loaded index.

``create_app`` reads the configuration, gives the app its index (:mod:`service.state`), registers
the two Blueprints (:mod:`service.views`, :mod:`service.api`), the error handlers
(:mod:`service.errors`) and what every request and answer passes through (:mod:`service.security`).
"""
from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Mapping

from index.errors import SettingError
from index.lifecycle import DEFAULT_ROOT

if TYPE_CHECKING:
    from flask import Flask

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
    # FAISS loads libgomp, which reads it once, and the CLI is a module of this package, whose
    # `ask` and `build` need no web server (flask and its parts cost every command ~0.1 s).
    from flask import Flask

    from service import api, errors, security, state, views

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
        CORS_ORIGINS=None,  # web origins whose pages may call /api/ from a browser (see security.allow_origins)
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

    security.allow_origins(app)
    _check_reload_token(app.config.get("RELOAD_TOKEN"))
    state.init_app(app, searcher=searcher, encoder=encoder)
    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    errors.init_app(app, page=views.error_page, page_message=views.page_message)
    app.before_request(security.require_utf8_query_string)
    app.after_request(security.security_headers)
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
