"""The web service: a server-rendered search page and a JSON API over one loaded index.

``create_app`` loads the index and the query model once; handlers reach them through
``current_app.extensions["speechqa"]``, a holder whose state a reload swaps in one assignment.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException, InternalServerError

from index.errors import IndexCorrupt, IndexNotBuilt, ModelMismatch, SpeechQAError

EXTENSION = "speechqa"
# Errors that mean "no usable index": the app still starts and says what to run.
LOAD_ERRORS = (IndexNotBuilt, IndexCorrupt, ModelMismatch)

log = logging.getLogger(__name__)


class IndexUnavailable(SpeechQAError):
    """Search was asked for but no index is loaded (the message says why and what to run)."""

    code = "index_unavailable"


@dataclass(frozen=True)
class _State:
    searcher: object | None
    error: SpeechQAError | None


class IndexHolder:
    """The loaded searcher, or the domain error that kept it from loading.

    Both live in one immutable snapshot, so a reload replaces them together and a request
    never sees a new searcher with an old error.
    """

    def __init__(self, searcher=None, error: SpeechQAError | None = None):
        self._state = _State(searcher, error)

    @property
    def searcher(self):
        return self._state.searcher

    @property
    def error(self) -> SpeechQAError | None:
        return self._state.error

    def swap(self, searcher=None, error: SpeechQAError | None = None) -> None:
        """Serve ``searcher`` from now on (or ``error`` when there is none)."""
        self._state = _State(searcher, error)

    def load(self, index_dir: str, *, model: str | None = None, encoder=None) -> None:
        """Load the current build of ``index_dir``; a missing or bad index is kept as ``error``."""
        from index.search import load_searcher

        try:
            searcher = load_searcher(index_dir, model=model, encoder=encoder)
        except LOAD_ERRORS as exc:
            log.warning("speechqa: no index loaded: %s", exc)
            self.swap(None, exc)
            return
        warm_up(searcher)
        self.swap(searcher, None)

    def require(self):
        """The searcher, or the domain error (IndexNotBuilt, …) that says what to run."""
        state = self._state
        if state.searcher is None:
            if state.error is not None:
                # a fresh instance each time: re-raising the stored one would grow its traceback
                raise type(state.error)(str(state.error))
            raise IndexUnavailable("no index loaded — run `speechqa build`")
        return state.searcher


def warm_up(searcher) -> None:
    """Load jieba's dictionary and run one query through both arms, so the first real query is not slower."""
    from index.lexical import warm_up as load_jieba

    load_jieba()
    searcher.search("预热 warm up", k=1, mode="hybrid")


def holder() -> IndexHolder:
    """The running app's index holder."""
    return current_app.extensions[EXTENSION]


def wants_json() -> bool:
    """Whether this request is an API call (JSON errors) rather than a page (HTML errors)."""
    path = request.path
    return path == "/api" or path.startswith("/api/") or path == "/healthz"


def create_app(test_config: dict | None = None) -> Flask:
    """Application factory: configuration, the index (loaded once), Blueprints, error handlers.

    ``test_config`` may carry a ready ``SEARCHER`` to serve instead of loading ``INDEX_DIR``.
    """
    app = Flask(__name__)
    app.config.from_mapping(
        INDEX_DIR="var/index",
        MODEL=None,
        MAX_CONTENT_LENGTH=16 * 1024,
        RELOAD_TOKEN=None,
    )
    app.config.from_prefixed_env("SPEECHQA")
    if test_config is not None:
        app.config.from_mapping(test_config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    index = IndexHolder()
    if app.config.get("SEARCHER") is not None:
        warm_up(app.config["SEARCHER"])
        index.swap(app.config["SEARCHER"], None)
    else:
        index.load(app.config["INDEX_DIR"], model=app.config["MODEL"])
    app.extensions[EXTENSION] = index

    from service import api, views

    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    _register_errors(app)
    app.after_request(_security_headers)
    for name in ("index.html", "passage.html", "speech.html", "speeches.html", "error.html"):
        app.jinja_env.get_template(name)  # compile now, not on the first request
    return app


def _register_errors(app: Flask) -> None:
    from service import api, views

    def render(status: int, code: str, message: str, headers=None):
        response = (api.error_response(status, code, message) if wants_json()
                    else views.error_page(status, code, message))
        for name, value in headers or ():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if isinstance(exc, InternalServerError):
            return internal_error(exc.original_exception or exc)
        code, message = api.http_error_text(exc)
        if not wants_json():
            message = views.http_error_message(exc)
        return render(exc.code or 500, code, message, exc.get_headers())

    @app.errorhandler(SpeechQAError)
    def domain_error(exc: SpeechQAError):
        status = 400 if exc.code == "bad_query" else 503 if isinstance(exc, (IndexUnavailable, *LOAD_ERRORS)) else 500
        return render(status, exc.code, str(exc))

    @app.errorhandler(Exception)
    def internal_error(exc: BaseException):
        app.logger.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return render(500, "internal_error", "internal server error — the details are in the server log")


def _security_headers(response):
    """No page needs scripts or outside resources, so forbid them: a last line behind escaping."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")
    return response
