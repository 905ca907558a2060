"""What the server serves: the loaded index, swapped whole on reload, and the watcher that reloads it.

``init_app`` puts one ``IndexHolder`` in ``app.extensions["speechqa"]``; handlers reach it through
:func:`holder` and take one ``snapshot``/``require`` per request, so a reload during a request
never mixes two indexes.

Hot reload: a daemon ``ReloadWatcher`` asks the index source (``<INDEX>/CURRENT``, or the version
pointer in Milvus when ``STORE`` names one) which build is current every ``RELOAD_INTERVAL`` seconds
(0 disables it) and ``POST /api/admin/reload`` reloads on demand. Either way the new build is
loaded, verified and warmed up beside the old one and only then swapped in; a build that fails to
load leaves the old one serving and is reported in ``/healthz`` as ``reload_error``.
"""
from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask, current_app, g

from index.errors import (IndexCorrupt, IndexNotBuilt, IndexUnavailable, ModelMismatch, ReloadFailed,
                          ReloadInProgress, SettingError, SpeechQAError, StoreLostIndex, StoreUnavailable,
                          as_written)
from index.bilingual import gloss_index
from index.lexical import warm_up as load_jieba
from index.milvus import MilvusStore
from index.milvus.connection import lost_index_advice
from index.search import Searcher, load_searcher
from index.thesaurus import TermTables, term_tables
from index.source import IndexSource, source_for

EXTENSION = "speechqa"
WATCHER = "speechqa.watcher"
SOURCE = "speechqa.source"
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


def store_of(searcher) -> dict:
    """Where the served index is held and which version of it, for ``/healthz``."""
    store = searcher.store
    if isinstance(store, MilvusStore):
        return {"kind": "milvus", "uri": store.connection.uri, "version": store.version}
    return {"kind": "faiss", "version": build_id_of(searcher)}


class IndexHolder:
    """The loaded searcher, or the domain error that kept it from loading.

    Both live in one immutable snapshot, so a reload replaces them together and a request
    never sees a new searcher with an old error.
    """

    def __init__(self, searcher=None, error: SpeechQAError | None = None, *, tables: TermTables | None = None):
        self._state = _State(searcher, error)
        self._reloading = threading.Lock()
        self.tables = tables  # every build this holder loads expands questions with these

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

    def load(self, source: IndexSource, *, model: str | None = None, encoder=None) -> None:
        """Load the current build of ``source``; a missing or bad index is kept as ``error``."""
        try:
            searcher = load_searcher(source, model=model, encoder=encoder, tables=self.tables)
        except LOAD_ERRORS as exc:
            log.warning("no index loaded: %s", exc)
            self.swap(None, exc)
            return
        warm_up(searcher)
        self.swap(searcher, None)

    def reload(self, source: IndexSource, *, model: str | None = None,
               wait: float | None = None) -> tuple[str | None, str | None]:
        """Load the current build of ``source`` beside the served one, warm it up, then swap it in.

        Returns the build ids served before and after, both read under the reload lock (a watcher's
        swap cannot fall between them). On failure the old searcher keeps serving, the reason is kept as
        ``reload_error`` and the domain error is raised (ReloadFailed for anything unexpected).
        ``wait`` bounds how long to wait for another reload (None: forever); then ReloadInProgress.
        """
        if not self._reloading.acquire(timeout=-1 if wait is None else wait):
            raise ReloadInProgress("another reload is running — retry in a few seconds")
        try:
            old = self._state
            try:
                searcher = _load_beside(source, model, getattr(old.searcher, "encoder", None), self.tables)
                warm_up(searcher)
            except Exception as exc:
                error = exc if isinstance(exc, SpeechQAError) else ReloadFailed(
                    f"loading {source} failed ({type(exc).__name__}: {exc}) — see the server log")
                log.error("reload of %s refused, still serving %s: %s",
                          source, build_id_of(old.searcher), error,
                          exc_info=not isinstance(exc, SpeechQAError))
                if old.searcher is None:
                    self._state = _State(None, error)
                else:
                    self._state = _State(old.searcher, None, f"{error.code}: {error}")
                raise error from exc
            self.swap(searcher, None)
            if build_id_of(searcher) == build_id_of(old.searcher):
                log.info("build %s loaded again (it was already served)", build_id_of(searcher))
            else:
                # Milvus's version beside the build id: the publisher says "published … as version 8"
                store = store_of(searcher)
                version = f", Milvus version {store['version']}" if store["kind"] == "milvus" else ""
                log.info("now serving build %s%s (was %s)", build_id_of(searcher), version, build_id_of(old.searcher))
            return build_id_of(old.searcher), build_id_of(searcher)
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


def _load_beside(source: IndexSource, model: str | None, encoder, tables: TermTables | None):
    """A searcher over the current build, reusing the served query encoder when the build's model matches."""
    if encoder is not None:
        try:
            return load_searcher(source, model=model, encoder=encoder, tables=tables)
        except ModelMismatch:
            if model is not None:
                raise  # the server was told which model to use: a build with another one is refused
    return load_searcher(source, model=model, tables=tables)


class ReloadWatcher(threading.Thread):
    """Asks the index source which build is current and reloads when that changes.

    A build id that failed to load is not retried until the current build changes again, so a
    broken build costs one attempt and one log line, not one every interval. While the source
    cannot be asked (Milvus down), the served index stays and the watcher logs the outage once.
    """

    def __init__(self, index_holder: IndexHolder, source: IndexSource, *, interval: float, model: str | None = None,
                 seen: str | None = None):
        super().__init__(name="speechqa-reload", daemon=True)
        self.holder, self.source, self.interval, self.model = index_holder, source, interval, model
        self.seen = seen
        self._outage: str | None = None
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.check()
            except StoreUnavailable as exc:
                if self._outage is None:
                    log.warning("cannot ask for the current build, still serving the loaded one: %s", exc)
                self._outage = str(exc)
            except Exception:  # the watcher must outlive any surprise; the next change retries
                log.exception("reload watcher error")

    @property
    def outage(self) -> str | None:
        """Why the source could not be asked the last time (None while it answers)."""
        return self._outage

    def stop(self) -> None:
        """Stop polling (the thread ends within one interval)."""
        self._stopped.set()

    def check(self) -> bool:
        """Reload if the source names a build not yet tried; True when a new build was swapped in."""
        build_id = self.source.current()
        state = self.holder.snapshot()
        serving = build_id_of(state.searcher)
        if build_id is None and serving is not None and self.source.reads_at_search:
            # a Milvus started on other data answers, but holds none of the rows the loaded build reads:
            # every search would fail, and /healthz read "ok"
            raise StoreLostIndex(f"{self.source} holds no index now, and build {serving} reads its rows from "
                                 f"it — {lost_index_advice(str(self.source))}")
        if self._outage is not None:
            log.info("%s answers again", self.source)  # the URI or root: "the index source" named neither
            self._outage = None
        if build_id is None or build_id == self.seen:
            return False
        if build_id == serving:
            self.seen = build_id  # back to the build being served: nothing to load
            self.holder.forget_reload_error(state.searcher)
            return False
        try:
            self.holder.reload(self.source, model=self.model, wait=0)
        except ReloadInProgress:
            return False  # someone else is reloading; look again next interval
        except Exception:
            self.seen = build_id  # reported in /healthz; tried again only when the current build changes
            return False
        self.seen = build_id
        return True


def warm_up(searcher) -> None:
    """Load jieba's dictionary, build the phrase matcher and run one query through both arms, so the
    first real query is not slower (the phrase matcher takes seconds on a large library)."""
    preload = getattr(searcher.encoder, "preload", None)  # the ONNX weights load beside what follows
    if preload is not None:
        preload()
    load_jieba()
    # cached on first use; built here, before the swap, instead of inside somebody's request
    searcher.library.phrases  # noqa: B018 — the verbatim matcher (seconds on a large library)
    searcher.term_stats  # noqa: B018 — BM25 vocabulary and coverage weights
    gloss_index()  # CC-CEDICT's English glosses, for English questions (parsed once, then cached on disk)
    searcher.search("预热 warm up", k=1, mode="hybrid")


# How often a server asks whether another build is current, when SPEECHQA_RELOAD_INTERVAL does not say.
RELOAD_INTERVAL = 2.0


def seconds_setting(config: Mapping, name: str, *, default: float | None = None,
                    zero_is_off: bool = True) -> float | None:
    """A setting in seconds: a finite number ≥ 0, 0 meaning "off" (refused unless ``zero_is_off``: a
    timeout of 0 would call every Milvus unreachable); ``default`` when unset or empty ("" as an unset
    variable's value often is)."""
    # SettingError naming SPEECHQA_<name> otherwise (abc, inf, nan, -1): not a traceback at start,
    # nor a watcher that quietly never runs
    value = config.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero_is_off):
        allowed = "a number of seconds, 0 to turn it off" if zero_is_off else "a number of seconds above 0"
        raise SettingError(f"SPEECHQA_{name} must be {allowed} (got {as_written(value)})")
    return seconds


def table_paths(setting) -> list[str]:
    """A GLOSSARY or WORDING setting as paths: a list as it is, a string split at os.pathsep (as
    $SPEECHQA_GLOSSARY is), nothing for None or ""."""
    if not setting:
        return []
    paths = [str(p) for p in setting] if isinstance(setting, (list, tuple)) else str(setting).split(os.pathsep)
    return [path for path in paths if path]  # "a.tsv:" appended to an unset variable names no second file


def holder() -> IndexHolder:
    """The running app's index holder."""
    return current_app.extensions[EXTENSION]


def loaded():
    """The searcher this request reads, taken from the holder once a request (None while no index is
    loaded): a reload during a request must not give its results one build and its cart or form another."""
    if "searcher" not in g:
        g.searcher = holder().searcher
    return g.searcher


def served():
    """``loaded()``, or the domain error (IndexNotBuilt, …) that says what to run."""
    return loaded() or holder().require()


def source() -> IndexSource:
    """The running app's index source (FAISS builds under INDEX, or Milvus when STORE names one)."""
    return current_app.extensions[SOURCE]


def init_app(app: Flask, *, searcher: Searcher | None = None, encoder=None) -> IndexHolder:
    """Give ``app`` its index: ``searcher`` as given (no watcher then), else the current build of
    the source ``app.config["STORE"]`` and ``["INDEX"]`` name, loaded with ``encoder`` when one is
    passed, and watched for new builds. Milvus unreachable at start raises StoreUnavailable; a
    term table in ``["GLOSSARY"]`` or ``["WORDING"]`` that cannot be read, TermTableError."""
    index = IndexHolder(tables=term_tables(table_paths(app.config["GLOSSARY"]), table_paths(app.config["WORDING"])))
    timeout = seconds_setting(app.config, "MILVUS_TIMEOUT", zero_is_off=False)
    app.extensions[SOURCE] = source_for(app.config["STORE"], app.config["INDEX"], token=app.config["MILVUS_TOKEN"] or "",
                                        timeout=timeout)
    if searcher is not None:
        warm_up(searcher)
        index.swap(searcher, None)
    else:
        origin = app.extensions[SOURCE]
        # read before loading, so a build published during the load is still noticed
        seen = origin.current()
        index.load(origin, model=app.config["MODEL"], encoder=encoder)
        interval = seconds_setting(app.config, "RELOAD_INTERVAL", default=RELOAD_INTERVAL)
        if interval:
            watcher = ReloadWatcher(index, origin, interval=interval, model=app.config["MODEL"], seen=seen)
            watcher.start()
            app.extensions[WATCHER] = watcher
    app.extensions[EXTENSION] = index
    return index
