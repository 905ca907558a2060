"""Versions of the index in Milvus: publish a build as a new version, roll back, prune.

A version is a number; the rows it holds are those with ``since <= v < until`` and readers
filter on it (``schema.alive``). Publishing version N writes only the difference from the
newest version: rows the build has and the newest version lacks are inserted with
``since = N``, rows the newest version has and the build lacks are closed (``until = N``),
then row N of the versions collection is written and, last, the pointer moves to N in one
upsert. Readers of N-1 never see N's rows (their ``since`` is N) and keep the rows N closed
(their ``until`` is N), so a reader sees a whole version or the one before it.

Why a version field and not a collection per version behind an alias: an alias switch needs
the new version written out in full, every span vector again, while a rebuild usually changes
a file or two; here an unchanged rebuild writes no row at all and a changed file writes only
its own passages and spans. What it costs (bench/results/milvus_quality.md): each search also
filters on ``since``/``until``, and BM25's corpus statistics count the rows kept for rollback too.

A publish that dies halfway leaves rows with ``since`` above every version, or rows closed at
such a version; the next publish removes the first and reopens the second before it starts.
Publishing is for one writer at a time, like building, and ``writing`` makes it so: a publish or a
rollback holds a lock row in the versions collection while it writes (two administrators adding a day's
files from two index roots both wrote "version 2", both were told so, and one day's files were lost).

Rollback follows the versions the pointer has named, not their numbers, as the builds under an
index root do (``index.lifecycle``): the pointer row keeps that history beside ``current`` and both
change in one upsert. After a rollback and a new publish, the version rolled away from is no
longer what a rollback returns to, and pruning drops it.
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from index.errors import BuildInProgress, IndexCorrupt, IndexNotBuilt, ModelMismatch, as_written
from index.lifecycle import KEEP_BUILDS, same_build
from index.milvus.connection import Connection
from index.milvus.schema import (MAX_RECORD_BYTES, OPEN, PLACEHOLDER, POINTER, Documents, Names, build_rows,
                                 create_missing, key_of, primary_key)
from index.store import FaissBm25Store

INSERT_BATCH = 500
# The versions collection's row a writer holds (versions count from 1, the pointer is 0).
LOCK = -1
# A holder on another machine that has not finished in this long is taken to have died (on this machine
# its process is asked): publishing the 50M-character library wrote for about ten minutes.
LOCK_LEASE_SECONDS = 3600
# How long a writer waits after writing the lock before it reads whether it holds it: two writers that
# both found it free both write it, and the later write is the one that stays.
LOCK_SETTLE_SECONDS = 0.5
# Manifest entries that differ between two builds of the same corpus.
VOLATILE = ("build_id", "built_at", "files")
# A manifest longer than one row's text field holds goes in pieces, rows of their own whose keys no version or
# the lock uses (piece n of version v: -(v * PIECES_PER_VERSION + n)), and the version's row says how many: a
# library grown a day's `add` of single files at a time lists every file among its sources (3,429 of them made
# a 157 KB manifest), which Milvus refused.
PIECES_PER_VERSION = 1_000_000
PIECES = "manifest_pieces"


@dataclass(frozen=True)
class PublishReport:
    """What a publish wrote: the version now current, the one before, and rows inserted, closed and deleted."""

    version: int
    previous: int | None
    inserted: int
    closed: int
    deleted: int

    @property
    def written(self) -> int:
        """Rows Milvus was sent (an unchanged rebuild sends none)."""
        return self.inserted + self.closed


def _pointer(connection: Connection, names: Names) -> dict | None:
    if not connection.call("has_collection", names.versions):
        return None
    found = connection.call("query", names.versions, filter=f"version == {POINTER}",
                            output_fields=["current", "manifest"])
    return found[0] if found else None


def current_version(connection: Connection, names: Names) -> int | None:
    """The version readers serve, or None when nothing was published under ``names``."""
    pointer = _pointer(connection, names)
    return int(pointer["current"]) if pointer else None


def served(connection: Connection, names: Names) -> list[int]:
    """The kept versions the pointer has named, oldest first, the current one last.

    A pointer written before the history was kept reads as the versions up to the current one
    in number order, which rollback followed then.
    """
    pointer = _pointer(connection, names)
    if pointer is None:
        return []
    current = int(pointer["current"])
    kept = versions(connection, names)
    history = json.loads(pointer["manifest"] or "{}").get("served") or [v for v in kept if v < current]
    if current in history:
        history = history[:len(history) - history[::-1].index(current)]
    else:
        history.append(current)
    return [v for v in history if v in kept]


def versions(connection: Connection, names: Names) -> list[int]:
    """Every published version, oldest first."""
    if not connection.call("has_collection", names.versions):
        return []
    rows = connection.scan(names.versions, f"version > {POINTER}", ["version"])
    return sorted(int(row["version"]) for row in rows)


def manifest_of(connection: Connection, names: Names, version: int) -> dict:
    """The build manifest version ``version`` was published from, with ``version`` added."""
    found = connection.call("query", names.versions, filter=f"version == {int(version)}", output_fields=["manifest"])
    if not found:
        raise IndexNotBuilt(f"Milvus at {connection.uri} has no version {version} — run `speechqa build`")
    manifest = json.loads(found[0]["manifest"])
    if PIECES not in manifest:
        return manifest
    pieces = connection.scan(names.versions, _pieces_of(int(version)), ["version", "manifest"])
    if len(pieces) != manifest[PIECES]:
        raise IndexCorrupt(f"Milvus at {connection.uri} holds {len(pieces)} of version {version}'s "
                           f"{manifest[PIECES]} manifest pieces — publish again")
    return json.loads("".join(row["manifest"] for row in sorted(pieces, key=lambda row: -row["version"])))


def _pieces_of(version: int, *, after: bool = False) -> str:
    """The filter of version ``version``'s manifest pieces (``after``: of every version after it)."""
    first = -(version * PIECES_PER_VERSION + 1)
    if after:
        return f"version < {-((version + 1) * PIECES_PER_VERSION)}"
    return f"version <= {first} and version > {first - PIECES_PER_VERSION + 1}"


def manifest_rows(version: int, manifest: dict) -> list[dict]:
    """The versions collection's rows of ``manifest``: one, or its pieces and then the version's own row."""
    text = json.dumps(manifest, ensure_ascii=False)
    pieces = _utf8_pieces(text, MAX_RECORD_BYTES)
    if len(pieces) > 1:
        text = json.dumps({PIECES: len(pieces)})
    else:
        pieces = []
    return [{"version": -(version * PIECES_PER_VERSION + n), "current": 0, "vector": PLACEHOLDER, "manifest": piece}
            for n, piece in enumerate(pieces, start=1)] + [
        {"version": version, "current": 0, "vector": PLACEHOLDER, "manifest": text}]


def _utf8_pieces(text: str, limit: int) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` bytes of UTF-8, never inside a character."""
    data, pieces, start = text.encode("utf-8"), [], 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte: back to the character's start
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces or [""]


def _open_keys(connection: Connection, collection: str) -> dict[str, str]:
    """Content key → primary key of the rows the newest version holds."""
    return {key_of(row["pk"]): row["pk"] for row in connection.scan(collection, f"until == {OPEN}", ["pk"])}


def _discard_unfinished(connection: Connection, names: Names, newest: int) -> None:
    """Undo what a publish that died after ``newest`` left: its rows (its manifest's pieces too), and the rows it
    closed."""
    pieces = connection.scan(names.versions, _pieces_of(newest, after=True), ["version"])
    if pieces:
        connection.write("delete", names.versions, ids=[row["version"] for row in pieces])
    for collection in names.data:
        unfinished = [row["pk"] for row in connection.scan(collection, f"since > {newest}", ["pk"])]
        if unfinished:
            connection.write("delete", collection, ids=unfinished)
        closed = connection.scan(collection, f"until > {newest} and until < {OPEN}", ["pk"])
        if closed:
            connection.write("upsert", collection, [{"pk": row["pk"], "until": OPEN} for row in closed],
                            partial_update=True)


def _lock_holder(connection: Connection, names: Names) -> dict | None:
    found = connection.call("query", names.versions, filter=f"version == {LOCK}", output_fields=["manifest"])
    return json.loads(found[0]["manifest"]) if found else None


def _abandoned(holder: dict) -> bool:
    """Whether the writer that holds the lock is gone: its lease ran out, or, on this machine, its process
    (a pid is reused in time, by a restarted container's first process say: the lease still ends)."""
    if time.time() - float(holder.get("since", 0)) > LOCK_LEASE_SECONDS:
        return True
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _held_by(connection: Connection, holder: dict) -> BuildInProgress:
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(holder.get("since", 0))))
    return BuildInProgress(f"another publish is writing to Milvus at {connection.uri} (host {holder.get('host')}, "
                           f"pid {holder.get('pid')}, since {since}) — nothing was published; run it again "
                           "when that one is done")


@contextmanager
def writing(connection: Connection, names: Names) -> Iterator[Callable[[], None]]:
    """Hold the writers' lock while the block writes; BuildInProgress, before anything is written, when
    another writer holds it. The block gets a check to call before it moves the pointer: Milvus has no
    compare-and-set, so two writers that find the lock free within one write's latency can both take it,
    and the check leaves only the lock's last writer to make its version current (the other's rows are
    the unfinished publish the next one removes)."""
    me = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex, "since": time.time()}
    holder = _lock_holder(connection, names)
    if holder is not None and not _abandoned(holder):
        raise _held_by(connection, holder)
    connection.write("upsert", names.versions, [{"version": LOCK, "current": 0, "vector": PLACEHOLDER,
                                                "manifest": json.dumps(me)}])
    time.sleep(LOCK_SETTLE_SECONDS)

    def still_held() -> None:
        holder = _lock_holder(connection, names)
        if holder is None or holder.get("token") != me["token"]:
            raise _held_by(connection, holder or me)

    still_held()
    try:
        yield still_held
    finally:
        holder = _lock_holder(connection, names)
        if holder is not None and holder.get("token") == me["token"]:
            connection.write("delete", names.versions, ids=[LOCK])


def _comparable(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k not in VOLATILE and k != "version"}


def publish(connection: Connection, names: Names, built: FaissBm25Store, *, keep: int = KEEP_BUILDS,
            documents: Documents | None = None) -> PublishReport:
    """Make ``built`` (a checked FAISS build) the current version in Milvus, writing only what changed.

    ``documents`` gives the passages' BM25 documents (``schema.build_rows``).
    Nothing is written when the current version is the newest and holds exactly this build's
    rows and manifest, or was published from this very build (or one it repeats byte for byte);
    then the report's version is the current one and ``written`` is 0.
    Versions beyond the newest ``keep`` (never the current one) are pruned afterwards.
    """
    dim = int(built.manifest["dim"])
    create_missing(connection, names, dim)
    with writing(connection, names) as still_held:
        current = current_version(connection, names)
        published = versions(connection, names)
        newest = published[-1] if published else 0
        if current is not None:
            before = manifest_of(connection, names, current)
            if before["dim"] != dim:
                raise ModelMismatch(f"Milvus at {connection.uri} holds {before['dim']}-dimensional vectors of "
                                    f"{as_written(before['model_id'])}; this build has {dim} — publish it under "
                                    "another store (a new .db file or Milvus database)")
        _discard_unfinished(connection, names, newest)
        # After a rollback the current version is not the newest, whose rows the comparison below reads:
        # the build it was published from, or one repeating that byte for byte, is still no new version.
        if current is not None and same_build({k: v for k, v in before.items() if k != "version"}, built.manifest):
            return PublishReport(version=current, previous=current, inserted=0, closed=0, deleted=0)
        target = build_rows(built, documents)
        held = {kind: _open_keys(connection, collection)
                for kind, collection in zip(("speeches", "passages", "spans"), names.data)}
        unchanged = all(set(target[kind]) == set(held[kind]) for kind in target)
        if (unchanged and current == newest and current is not None
                and _comparable(before) == _comparable(built.manifest)):
            return PublishReport(version=current, previous=current, inserted=0, closed=0, deleted=0)

        version = newest + 1
        inserted = closed = 0
        for kind, collection in zip(("speeches", "passages", "spans"), names.data):
            fresh = [dict(row, pk=primary_key(key, version), since=version, until=OPEN)
                     for key, row in target[kind].items() if key not in held[kind]]
            for start in range(0, len(fresh), INSERT_BATCH):
                batch = [dict(row, vector=[float(x) for x in row["vector"]]) if kind == "spans" else
                         dict(row, vector=PLACEHOLDER) if kind == "speeches" else row
                         for row in fresh[start:start + INSERT_BATCH]]
                connection.write("insert", collection, batch)
            gone = [{"pk": pk, "until": version} for key, pk in held[kind].items() if key not in target[kind]]
            for start in range(0, len(gone), INSERT_BATCH):
                connection.write("upsert", collection, gone[start:start + INSERT_BATCH], partial_update=True)
            inserted += len(fresh)
            closed += len(gone)
        manifest = dict(built.manifest, version=version)
        history = served(connection, names)
        still_held()  # before the version's row: without it, the rows above are what the next publish removes
        *pieces, version_row = manifest_rows(version, manifest)
        if pieces:  # written first: the version's row, written last, is what makes the version exist
            connection.write("insert", names.versions, pieces)
        connection.write("insert", names.versions, [version_row])
        _point(connection, names, [*history, version])
        deleted = prune(connection, names, keep=keep)
        return PublishReport(version=version, previous=current, inserted=inserted, closed=closed, deleted=deleted)


def _point(connection: Connection, names: Names, history: list[int]) -> None:
    """Serve ``history``'s last version, remembering the rest for rollback, in one upsert."""
    connection.write("upsert", names.versions, [{"version": POINTER, "current": history[-1], "vector": PLACEHOLDER,
                                                "manifest": json.dumps({"served": history})}])


def rollback(connection: Connection, names: Names) -> int:
    """Make the version served before the current one current again; returns it."""
    with writing(connection, names) as still_held:
        earlier = served(connection, names)[:-1]
        if not earlier:
            raise IndexNotBuilt(f"no earlier version to roll back to in Milvus at {connection.uri}")
        still_held()
        _point(connection, names, earlier)
        return earlier[-1]


def prune(connection: Connection, names: Names, *, keep: int = KEEP_BUILDS) -> int:
    """Keep the current version and the ``keep - 1`` a rollback would return through; drop the other
    versions and the rows only they held.

    Returns the number of data rows deleted.
    """
    kept = set(served(connection, names)[-keep:])
    if not kept:
        return 0  # nothing is known to have been served: what to keep is unknown, so nothing is dropped
    dropped = [v for v in versions(connection, names) if v not in kept]
    if not dropped:
        return 0
    deleted = 0
    for collection in names.data:
        closed = connection.scan(collection, f"until < {OPEN}", ["pk", "since", "until"])
        unheld = [row["pk"] for row in closed
                  if not any(row["since"] <= v < row["until"] for v in kept)]
        for start in range(0, len(unheld), INSERT_BATCH):
            connection.write("delete", collection, ids=unheld[start:start + INSERT_BATCH])
        deleted += len(unheld)
    connection.write("delete", names.versions, ids=dropped)
    for version in dropped:
        pieces = connection.scan(names.versions, _pieces_of(version), ["version"])
        if pieces:
            connection.write("delete", names.versions, ids=[row["version"] for row in pieces])
    return deleted
