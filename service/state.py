"""What the server serves: the loaded index, swapped whole on reload, and the watcher that reloads it.

``init_app`` puts one ``IndexHolder`` in ``app.extensions["speechqa"]``; handlers reach it through
:func:`holder` and take one ``snapshot``/``require`` per request, so a reload during a request
never mixes two indexes.

Hot reload: a daemon ``ReloadWatcher`` polls ``<INDEX>/CURRENT`` every ``RELOAD_INTERVAL`` seconds
(0 disables it) and ``POST /api/admin/reload`` reloads on demand. Either way the new build is
loaded, verified and warmed up beside the old one and only then swapped in; a build that fails to
load leaves the old one serving and is reported in ``/healthz`` as ``reload_error``.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from index import lifecycle
from index.errors import (IndexCorrupt, IndexNotBuilt, IndexUnavailable, ModelMismatch, ReloadFailed,
                          ReloadInProgress, SpeechQAError)
from index.lexical import warm_up as load_jieba
from index.search import Searcher, load_searcher

EXTENSION = "speechqa"
WATCHER = "speechqa.watcher"
# Errors that mean "no usable index": the app still starts and says what to run.
LOAD_ERRORS = (IndexNotBuilt, IndexCorrupt, ModelMismatch)

log = logging.getLogger(__name__)


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
    load_jieba()
    searcher.search("预热 warm up", k=1, mode="hybrid")


def holder() -> IndexHolder:
    """The running app's index holder."""
    return current_app.extensions[EXTENSION]


def init_app(app: Flask, *, searcher: Searcher | None = None, encoder=None) -> IndexHolder:
    """Give ``app`` its index: ``searcher`` as given (no watcher then), else the current build of
    ``app.config["INDEX"]``, loaded with ``encoder`` when one is passed, and watched for new builds."""
    index = IndexHolder()
    if searcher is not None:
        warm_up(searcher)
        index.swap(searcher, None)
    else:
        root = app.config["INDEX"]
        # read before loading, so a build published during the load is still noticed
        seen = lifecycle.current_id(Path(root))
        index.load(root, model=app.config["MODEL"], encoder=encoder)
        interval = float(app.config["RELOAD_INTERVAL"] or 0)
        if interval > 0:
            watcher = ReloadWatcher(index, root, interval=interval, model=app.config["MODEL"], seen=seen)
            watcher.start()
            app.extensions[WATCHER] = watcher
    app.extensions[EXTENSION] = index
    return index
