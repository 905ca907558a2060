"""Versions in Milvus (Milvus Lite, a local file): a rebuild writes only what changed, rollback, pruning.

One history is built once for the module: the seeds; the seeds again, unchanged; a speech
added; one of its paragraphs changed; the smallest seed file removed; the added speech removed again.
Vectors come from the session index's cache, so only the added speech is ever embedded.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from typing import NamedTuple

import pytest

from index.build import TextMemo, bm25_documents, build
from index.errors import IndexNotBuilt
from index.milvus import MilvusIndex, MilvusStore, PublishReport
from index.lifecycle import current_build
from index.milvus.schema import OPEN, build_rows
from index.search import Searcher
from index.store import FaissBm25Store
from tests.conftest import SEEDS

EXTRA = "zz_extra.txt"
EXTRA_TEXT = """统筹发展和安全专题会议上的讲话
一、守住粮食安全底线
粮食安全是国家安全的重要基础。要稳定粮食播种面积，加强高标准农田建设，确保谷物基本自给、口粮绝对安全。
二、筑牢网络安全防线
要健全网络安全监测预警体系，压实关键信息基础设施运营者责任，提升全民网络安全意识和防护技能。
"""
CHANGED_TEXT = EXTRA_TEXT.replace("提升全民网络安全意识和防护技能。", "开展网络安全宣传周活动，提升全民防护技能。")
QUESTION = "如何保障粮食安全？"


class Step(NamedTuple):
    built: FaissBm25Store
    published: PublishReport


def rows_of(built: FaissBm25Store) -> dict[str, set]:
    """What each collection should hold for a build, worked out from the build alone."""
    return {
        "speeches": {(i, json.dumps(asdict(s), ensure_ascii=False)) for i, s in enumerate(built.speeches)},
        "passages": {json.dumps(asdict(p), ensure_ascii=False) for p in built.passages},
        "spans": {(built.passages[row].id, start, end, view) for row, start, end, view in built.units.tolist()},
    }


def difference(old: FaissBm25Store, new: FaissBm25Store) -> tuple[int, int]:
    """(rows the new build adds, rows it drops) over the three collections."""
    before, after = rows_of(old), rows_of(new)
    return (sum(len(after[k] - before[k]) for k in after), sum(len(before[k] - after[k]) for k in after))


def test_publishing_takes_the_bm25_documents_from_the_builds_memo(index_root):
    built = FaissBm25Store.load(current_build(index_root))

    def tokenise_again(texts):
        raise AssertionError(f"{len(texts)} passages tokenised again")

    memo = TextMemo(index_root, bm25_documents(index_root).path.stem, tokenise_again)
    assert build_rows(built, memo.many)["passages"] == build_rows(built)["passages"]


@pytest.fixture(scope="module")
def history(tmp_path_factory, index_root, encoder):
    base = tmp_path_factory.mktemp("milvus-history")
    corpus, root = base / "corpus", base / "index"
    shutil.copytree(SEEDS, corpus)
    shutil.copytree(index_root / "cache", root / "cache")
    index = MilvusIndex(str(base / "milvus.db"))
    steps: dict[str, Step] = {}

    def step(name: str) -> None:
        built = FaissBm25Store.load(build([corpus], root, encoder=encoder).directory)
        steps[name] = Step(built, index.publish(built, documents=bm25_documents(root).many))

    step("seeds")
    first = Searcher(index.open(), encoder)
    first_hits = [h.passage.id for h in first.search(QUESTION, k=10)]
    step("unchanged")
    (corpus / EXTRA).write_text(EXTRA_TEXT, encoding="utf-8")
    step("added")
    (corpus / EXTRA).write_text(CHANGED_TEXT, encoding="utf-8")
    step("changed")
    min((p for p in corpus.glob("*.txt") if p.name != EXTRA), key=lambda p: p.stat().st_size).unlink()
    step("removed")
    (corpus / EXTRA).unlink()
    step("dropped")
    return index, steps, first, first_hits


def test_the_first_publish_writes_every_row(history):
    _, steps, _, _ = history
    built, report = steps["seeds"]
    counts = built.manifest["counts"]
    assert report == PublishReport(version=1, previous=None,
                                   inserted=counts["speeches"] + counts["passages"] + counts["spans"],
                                   closed=0, deleted=0)


def test_an_unchanged_rebuild_writes_nothing(history):
    _, steps, _, _ = history
    assert steps["unchanged"].built.manifest["build_id"] != steps["seeds"].built.manifest["build_id"]
    assert steps["unchanged"].published == PublishReport(version=1, previous=1, inserted=0, closed=0, deleted=0)
    assert steps["unchanged"].published.written == 0


@pytest.mark.parametrize("before, after, version", [
    ("unchanged", "added", 2), ("added", "changed", 3), ("changed", "removed", 4), ("removed", "dropped", 5)])
def test_a_rebuild_writes_only_the_rows_that_changed(history, before, after, version):
    _, steps, _, _ = history
    added, dropped = difference(steps[before].built, steps[after].built)
    report = steps[after].published
    assert (report.version, report.previous, report.inserted, report.closed) == (version, version - 1, added, dropped)
    assert added + dropped < sum(steps[after].built.manifest["counts"][k] for k in ("speeches", "passages", "spans"))


def test_the_changed_paragraph_is_one_new_passage(history):
    _, steps, _, _ = history
    old = {p.id for p in steps["added"].built.passages}
    new = [p for p in steps["changed"].built.passages if p.id not in old]
    assert [p.text for p in new] == ["二、筑牢网络安全防线\n要健全网络安全监测预警体系，压实关键信息基础设施运营者责任，开展网络安全宣传周活动，提升全民防护技能。"]


def test_pruning_keeps_three_versions_and_deletes_rows_only_older_ones_held(history):
    index, steps, _, _ = history
    assert index.versions() == [3, 4, 5]
    # version 2's passage that version 3 changed was held by versions 1 and 2 alone
    assert steps["dropped"].published.deleted == steps["changed"].published.closed > 0
    kept = [rows_of(steps[name].built) for name in ("changed", "removed", "dropped")]
    for kind, collection in zip(("speeches", "passages", "spans"), index.names.data):
        held = index.connection.call("query", collection, filter="", output_fields=["count(*)"])[0]["count(*)"]
        assert held == len(set().union(*(rows[kind] for rows in kept)))


@pytest.mark.parametrize("version, name", [(3, "changed"), (4, "removed"), (5, "dropped")])
def test_every_kept_version_reads_back_its_build(history, version, name):
    index, steps, _, _ = history
    store = index.open(version)
    built = steps[name].built
    assert (store.passages, store.speeches, store.units.tolist()) == (built.passages, built.speeches,
                                                                        built.units.tolist())
    assert store.manifest["build_id"] == built.manifest["build_id"]


def test_a_reader_keeps_its_version_whole_while_newer_ones_are_published(history, encoder):
    _, steps, first, first_hits = history
    assert first.store.version == 1
    assert [h.passage.id for h in first.search(QUESTION, k=10)] == first_hits
    assert first.passages == steps["seeds"].built.passages


def test_rollback_then_rebuild(history, encoder):
    """Last in the module: it moves the pointer."""
    index, steps, _, _ = history
    assert index.rollback() == 4
    assert index.open().passages == steps["removed"].built.passages
    assert index.rollback() == 3
    with pytest.raises(IndexNotBuilt, match=f"^no earlier version to roll back to in Milvus at {index.uri}$"):
        index.rollback()
    assert index.current_version() == 3
    # Version 5's rows are still the newest, so publishing its build again inserts and closes none;
    # versions 4 and 5 were rolled away from, so pruning drops them and the rows only version 4 held.
    kept = [rows_of(steps[name].built) for name in ("changed", "dropped")]
    only_4 = sum(len(rows - kept[0][kind] - kept[1][kind]) for kind, rows in rows_of(steps["removed"].built).items())
    assert index.publish(steps["dropped"].built) == PublishReport(version=6, previous=3, inserted=0, closed=0,
                                                                    deleted=only_4)
    assert index.versions() == [3, 6]
    assert index.open().passages == steps["dropped"].built.passages
    # a rollback returns to what was served before, 3, not to the versions rolled away from
    assert index.rollback() == 3
    assert index.open().passages == steps["changed"].built.passages


def test_rollback_follows_what_was_served_not_version_numbers(tmp_path, history):
    """v1, v2 (a speech added), rollback to v1, a changed build v3: a rollback returns to v1, not v2."""
    from index.milvus.schema import PLACEHOLDER, POINTER
    from index.milvus.versions import served

    _, steps, _, _ = history
    index = MilvusIndex(str(tmp_path / "milvus.db"))
    assert index.publish(steps["seeds"].built).version == 1
    assert index.publish(steps["added"].built).version == 2
    assert index.rollback() == 1
    assert index.publish(steps["changed"].built).version == 3
    assert index.versions() == [1, 3]
    assert index.rollback() == 1
    assert index.open().passages == steps["seeds"].built.passages
    # a pointer written before the history was kept reads as the versions up to the current one
    index.connection.call("upsert", index.names.versions, [{"version": POINTER, "current": 3,
                                                           "vector": PLACEHOLDER, "manifest": "{}"}])
    assert served(index.connection, index.names) == [1, 3]
    assert index.rollback() == 1


def test_an_unfinished_publish_is_invisible_and_undone(tmp_path, index_root, encoder):
    from index.lifecycle import current_build

    built = FaissBm25Store.load(current_build(index_root))
    index = MilvusIndex(str(tmp_path / "milvus.db"))
    index.publish(built)
    before = [h.passage.id for h in Searcher(index.open(), encoder).search(QUESTION, k=10)]
    spans = index.names.spans
    # what a publish of version 2 that died halfway leaves: one row of its own, one row it closed
    row = index.connection.call("query", spans, filter="since == 1", output_fields=["*"], limit=2)
    leftover = dict(row[0], pk="f" * 40 + ".2", since=2, until=OPEN)
    closed = row[1]["pk"]
    index.connection.call("insert", spans, [leftover])
    index.connection.call("upsert", spans, [{"pk": closed, "until": 2}], partial_update=True)
    reader = Searcher(MilvusStore.open(index.connection, index.names), encoder)
    assert [h.passage.id for h in reader.search(QUESTION, k=10)] == before

    assert index.publish(built) == PublishReport(version=1, previous=1, inserted=0, closed=0, deleted=0)
    assert index.connection.call("query", spans, filter=f'pk == "{leftover["pk"]}"', output_fields=["pk"]) == []
    assert index.connection.call("query", spans, filter=f'pk == "{closed}"', output_fields=["until"])[0]["until"] == OPEN


def test_one_writer_at_a_time_and_a_dead_writers_lock_is_taken_over(tmp_path, history):
    """Two roots adding a day's files to one Milvus both wrote version 2 and both said so; one day was lost."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import time

    from index.errors import BuildInProgress
    from index.milvus.schema import PLACEHOLDER
    from index.milvus.versions import LOCK

    _, steps, _, _ = history
    index = MilvusIndex(str(tmp_path / "milvus.db"))
    assert index.publish(steps["seeds"].built).version == 1

    def lock_held_by(pid: int) -> None:
        holder = {"host": socket.gethostname(), "pid": pid, "token": "other", "since": time.time()}
        index.connection.call("upsert", index.names.versions, [{"version": LOCK, "current": 0, "vector": PLACEHOLDER,
                                                               "manifest": json.dumps(holder)}])

    lock_held_by(os.getppid())  # a live process on this machine is publishing
    with pytest.raises(BuildInProgress, match=rf"another publish is writing to Milvus at .*pid {os.getppid()}.*"
                                              r"nothing was published"):
        index.publish(steps["added"].built)
    with pytest.raises(BuildInProgress):
        index.rollback()
    assert (index.versions(), index.current_version()) == ([1], 1)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    lock_held_by(int(finished.stdout))  # one that was killed halfway: its process is gone
    assert index.publish(steps["added"].built).version == 2
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "token": "other", "since": 0}  # a reused pid
    index.connection.call("upsert", index.names.versions, [{"version": LOCK, "current": 0, "vector": PLACEHOLDER,
                                                           "manifest": json.dumps(holder)}])
    assert index.rollback() == 1  # its lease ran out long ago
    assert index.connection.call("query", index.names.versions, filter=f"version == {LOCK}",
                                 output_fields=["version"]) == []  # released


def test_a_writer_that_lost_the_lock_midway_makes_nothing_current(tmp_path, history, monkeypatch):
    """Two writers that both found the lock free both take it; only the lock's last writer moves the pointer."""
    import json

    from index.errors import BuildInProgress
    from index.milvus import versions as versions_module
    from index.milvus.schema import PLACEHOLDER
    from index.milvus.versions import LOCK

    _, steps, _, _ = history
    index = MilvusIndex(str(tmp_path / "milvus.db"))
    assert index.publish(steps["seeds"].built).version == 1
    served = versions_module.served

    def another_writer_takes_the_lock(connection, names):  # called after the rows, before the version's row
        holder = {"host": "elsewhere", "pid": 1, "token": "other", "since": 9e12}
        connection.call("upsert", names.versions, [{"version": LOCK, "current": 0, "vector": PLACEHOLDER,
                                                    "manifest": json.dumps(holder)}])
        return served(connection, names)

    monkeypatch.setattr(versions_module, "served", another_writer_takes_the_lock)
    with pytest.raises(BuildInProgress, match="another publish is writing"):
        index.publish(steps["added"].built)
    monkeypatch.setattr(versions_module, "served", served)
    assert (index.versions(), index.current_version()) == ([1], 1)
    assert index.open().passages == steps["seeds"].built.passages
    index.connection.call("delete", index.names.versions, ids=[LOCK])  # that writer finished
    assert index.publish(steps["added"].built).version == 2  # and the lost one's rows were removed first
    assert index.open().passages == steps["added"].built.passages


def test_a_manifest_longer_than_a_row_holds_is_published_in_pieces_and_read_back_whole(tmp_path, index_root):
    """A library grown a day's add of single files at a time lists each among its sources: 3,429 made 157 KB,
    past the 64 KiB a row's text holds."""
    from index.milvus.schema import MAX_RECORD_BYTES
    from index.milvus.versions import manifest_of, manifest_rows

    built = FaissBm25Store.load(current_build(index_root))
    sources = [f"/library/day{n // 1000}/第{n:05d}篇讲话——全面贯彻总体国家安全观.txt" for n in range(3000)]
    index = MilvusIndex(str(tmp_path / "milvus.db"))
    long = json.dumps(dict(built.manifest, sources=sources), ensure_ascii=False).encode()
    assert len(long) > 3 * MAX_RECORD_BYTES
    rows = manifest_rows(2, dict(built.manifest, sources=sources))
    assert len(rows) >= 4 and all(len(row["manifest"].encode()) <= MAX_RECORD_BYTES for row in rows)

    index.publish(built)  # version 1: one row
    built.manifest["sources"] = sources
    assert index.publish(built).version == 2
    assert manifest_of(index.connection, index.names, 2)["sources"] == sources
    assert index.open().manifest["sources"] == sources
    # unchanged: the manifest read back whole is the same build, so nothing is written
    assert index.publish(built).written == 0
    # a third and a fourth publish prune version 1, and then 2 with its pieces
    for more in (["/library/extra.txt"], ["/library/extra.txt", "/library/more.txt"]):
        built.manifest["sources"] = sources + more
        index.publish(built, keep=2)
    pieces = index.connection.scan(index.names.versions, "version < -1", ["version"])
    assert len(pieces) == 2 * (len(rows) - 1)  # versions 3 and 4's, none of version 2's
    assert manifest_of(index.connection, index.names, 4)["sources"][-2:] == ["/library/extra.txt", "/library/more.txt"]
    # a publish that died after writing a piece leaves it; the next publish removes it before writing its own
    leftover = manifest_rows(5, dict(built.manifest, sources=sources[::-1]))[0]
    index.connection.call("insert", index.names.versions, [leftover])
    built.manifest["sources"] = sources + ["/library/last.txt"]
    assert index.publish(built, keep=2).version == 5
    assert manifest_of(index.connection, index.names, 5)["sources"][-1] == "/library/last.txt"
