"""The web service: a server-rendered search page and a JSON API over one loaded index.

``create_app`` loads the index and the query model once; handlers reach them through
``current_app.extensions["speechqa"]``, a holder whose state a reload swaps in one assignment.

Hot reload: a daemon ``ReloadWatcher`` polls ``<INDEX_DIR>/CURRENT`` every ``RELOAD_INTERVAL``
seconds (0 disables it) and ``POST /api/admin/reload`` reloads on demand. Either way the new build
is loaded, verified and warmed up beside the old one and only then swapped in; a build that fails
to load leaves the old one serving and is reported in ``/healthz`` as ``reload_error``.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException, InternalServerError

from index.errors import IndexCorrupt, IndexNotBuilt, ModelMismatch, SpeechQAError

EXTENSION = "speechqa"
WATCHER = "speechqa.watcher"
# Errors that mean "no usable index": the app still starts and says what to run.
LOAD_ERRORS = (IndexNotBuilt, IndexCorrupt, ModelMismatch)

log = logging.getLogger(__name__)


class IndexUnavailable(SpeechQAError):
    """Search was asked for but no index is loaded (the message says why and what to run)."""

    code = "index_unavailable"


class ReloadInProgress(SpeechQAError):
    """Another reload holds the lock for longer than the caller would wait."""

    code = "reload_in_progress"


class ReloadFailed(SpeechQAError):
    """A reload hit an error that is not one of the index's own (the server log has the details)."""

    code = "reload_failed"


@dataclass(frozen=True)
class _State:
    searcher: object | None
    error: SpeechQAError | None
    # why the last reload was refused while ``searcher`` kept serving; None after a good load
    reload_error: str | None = None


def build_id_of(searcher) -> str | None:
    """The build id a searcher serves (None for none)."""
    return None if searcher is None else searcher.manifest.get("build_id")


class IndexHolder:
    """The loaded searcher, or the domain error that kept it from loading.

    Both live in one immutable snapshot, so a reload replaces them together and a request
    never sees a new searcher with an old error.
    """

    def __init__(self, searcher=None, error: SpeechQAError | None = None):
        self._state = _State(searcher, error)
        self._reloading = threading.Lock()

    def snapshot(self) -> _State:
        """Searcher, error and reload error as one consistent value (take it once per request)."""
        return self._state

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

    def reload(self, index_dir: str, *, model: str | None = None, wait: float | None = None) -> str | None:
        """Load the current build of ``index_dir`` beside the served one, warm it up, then swap it in.

        Returns the new build id. On failure the old searcher keeps serving, the reason is kept as
        ``reload_error`` and the domain error is raised (ReloadFailed for anything unexpected).
        ``wait`` bounds how long to wait for another reload (None: forever); then ReloadInProgress.
        """
        if not self._reloading.acquire(timeout=-1 if wait is None else wait):
            raise ReloadInProgress("another reload is running — retry in a few seconds")
        try:
            old = self._state
            try:
                searcher = _load_beside(index_dir, model, getattr(old.searcher, "encoder", None))
                warm_up(searcher)
            except Exception as exc:
                error = exc if isinstance(exc, SpeechQAError) else ReloadFailed(
                    f"loading {index_dir} failed ({type(exc).__name__}: {exc}) — see the server log")
                log.error("speechqa: reload of %s refused, still serving %s: %s",
                          index_dir, build_id_of(old.searcher), error, exc_info=not isinstance(exc, SpeechQAError))
                if old.searcher is None:
                    self._state = _State(None, error)
                else:
                    self._state = _State(old.searcher, None, f"{error.code}: {error}")
                raise error from exc
            self.swap(searcher, None)
            log.info("speechqa: now serving build %s (was %s)", build_id_of(searcher), build_id_of(old.searcher))
            return build_id_of(searcher)
        finally:
            self._reloading.release()

    def forget_reload_error(self, searcher) -> None:
        """Drop ``reload_error`` if ``searcher`` still serves (CURRENT went back to it: nothing to load).

        Under the reload lock, and only if no reload holds it, so a stale snapshot never undoes a swap.
        """
        if self._reloading.acquire(blocking=False):
            try:
                state = self._state
                if state.searcher is searcher and state.reload_error:
                    self._state = _State(searcher, None)
            finally:
                self._reloading.release()

    def require(self):
        """The searcher, or the domain error (IndexNotBuilt, …) that says what to run."""
        state = self._state
        if state.searcher is None:
            if state.error is not None:
                # a fresh instance each time: re-raising the stored one would grow its traceback
                raise type(state.error)(str(state.error))
            raise IndexUnavailable("no index loaded — run `speechqa build`")
        return state.searcher


def _load_beside(index_dir: str, model: str | None, encoder):
    """A searcher over the current build, reusing the served query encoder when the build's model matches."""
    from index.search import load_searcher

    if encoder is not None:
        try:
            return load_searcher(index_dir, model=model, encoder=encoder)
        except ModelMismatch:
            if model is not None:
                raise  # the server was told which model to use: a build with another one is refused
    return load_searcher(index_dir, model=model)


class ReloadWatcher(threading.Thread):
    """Polls ``<index_dir>/CURRENT`` and reloads when the build id in it changes.

    A build id that failed to load is not retried until CURRENT changes again, so a broken
    build costs one attempt and one log line, not one every interval.
    """

    def __init__(self, index_holder: IndexHolder, index_dir: str, *, interval: float, model: str | None = None,
                 seen: str | None = None):
        super().__init__(name="speechqa-reload", daemon=True)
        self.holder, self.root, self.interval, self.model = index_holder, Path(index_dir), interval, model
        self.seen = seen
        self._stat = None
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.check()
            except Exception:  # the watcher must outlive any surprise; the next change retries
                log.exception("speechqa: reload watcher error")

    def stop(self) -> None:
        """Stop polling (the thread ends within one interval)."""
        self._stopped.set()

    def check(self) -> bool:
        """Reload if CURRENT names a build not yet tried; True when a new build was swapped in."""
        from index import lifecycle

        try:
            info = os.stat(self.root / lifecycle.CURRENT)
            stat = (info.st_ino, info.st_mtime_ns, info.st_size)
        except OSError:
            stat = None
        if stat == self._stat and stat is not None:
            return False  # replaced atomically, so an unchanged inode and mtime mean unchanged content
        self._stat = stat
        build_id = lifecycle.current_id(self.root) if stat is not None else None
        if build_id is None or build_id == self.seen:
            return False
        state = self.holder.snapshot()
        if build_id == build_id_of(state.searcher):
            self.seen = build_id  # back to the build being served: nothing to load
            self.holder.forget_reload_error(state.searcher)
            return False
        try:
            self.holder.reload(str(self.root), model=self.model, wait=0)
        except ReloadInProgress:
            self._stat = None  # someone else is reloading; look again next interval
            return False
        except Exception:
            self.seen = build_id  # reported in /healthz; tried again only when CURRENT changes
            return False
        self.seen = build_id
        return True


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

    ``test_config`` may carry a ready ``SEARCHER`` to serve instead of loading ``INDEX_DIR`` (no watcher
    then), or a ready query ``ENCODER`` to load ``INDEX_DIR`` with.
    """
    app = Flask(__name__)
    app.config.from_mapping(
        INDEX_DIR="var/index",
        MODEL=None,
        MAX_CONTENT_LENGTH=16 * 1024,
        RELOAD_TOKEN=None,
        RELOAD_INTERVAL=2,
    )
    app.config.from_prefixed_env("SPEECHQA")
    if "SPEECHQA_RELOAD_TOKEN" in os.environ:
        # from_prefixed_env parses values as JSON, which would turn a token such as 0123 into a number
        app.config["RELOAD_TOKEN"] = os.environ["SPEECHQA_RELOAD_TOKEN"]
    if test_config is not None:
        app.config.from_mapping(test_config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    index = IndexHolder()
    if app.config.get("SEARCHER") is not None:
        warm_up(app.config["SEARCHER"])
        index.swap(app.config["SEARCHER"], None)
    else:
        from index.lifecycle import current_id

        # read before loading, so a build published during the load is still noticed
        seen = current_id(Path(app.config["INDEX_DIR"]))
        index.load(app.config["INDEX_DIR"], model=app.config["MODEL"], encoder=app.config.get("ENCODER"))
        interval = float(app.config["RELOAD_INTERVAL"] or 0)
        if interval > 0:
            watcher = ReloadWatcher(index, app.config["INDEX_DIR"], interval=interval, model=app.config["MODEL"],
                                    seen=seen)
            watcher.start()
            app.extensions[WATCHER] = watcher
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
        status = (400 if exc.code == "bad_query" else 409 if isinstance(exc, ReloadInProgress)
                  else 503 if isinstance(exc, (IndexUnavailable, ReloadFailed, *LOAD_ERRORS)) else 500)
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
