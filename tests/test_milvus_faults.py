"""A Milvus that is not there, stops answering, or goes away and comes back: one StoreUnavailable, then answers.

A real Milvus Lite server process (``milvus-lite server``) is started, frozen with SIGSTOP,
stopped and started again on the same port and data under a searcher that stays loaded.
"""
from __future__ import annotations

import time

import pytest

from index.errors import StoreUnavailable
from index.lifecycle import current_build
from index.milvus import MilvusIndex
from index.milvus.lite import LiteServer, free_port
from index.search import Searcher
from index.store import FaissBm25Store

QUESTION = "如何保障粮食安全？"
WAIT = 60  # seconds
ADVICE = " — start it, or point --store (or $SPEECHQA_STORE) at a running one"


def answers_within(reader, seconds: float) -> list[str]:
    """The reader's answer once Milvus gives one; the first calls after a restart may find it still
    loading its collections."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return [h.passage.id for h in reader.search(QUESTION, k=10)]
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def lite(tmp_path):
    with LiteServer(tmp_path / "milvus", log=tmp_path / "milvus.log") as server:
        yield server


def test_nothing_listening_is_one_store_unavailable_error():
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    with pytest.raises(StoreUnavailable) as raised:
        MilvusIndex(uri, timeout=1).open()
    assert str(raised.value) == (f"Milvus at {uri} is unreachable or did not answer within 1 s (Fail connecting to "
                                 f"server on 127.0.0.1:{port}, illegal connection params or server unavailable)"
                                 + ADVICE)
    assert raised.value.code == "store_unavailable"


def test_a_server_that_stops_answering_or_goes_away_then_comes_back(lite, index_root, encoder):
    index = MilvusIndex(lite.uri, timeout=1)
    index.publish(FaissBm25Store.load(current_build(index_root)))
    reader = Searcher(index.open(), encoder)
    expected = answers_within(reader, WAIT)  # the first search loads the collection: not a 1 s test
    assert len(expected) == 10

    lite.pause()
    with pytest.raises(StoreUnavailable, match=r"did not answer within 1 s \(deadline exceeded\) — start it"):
        reader.search(QUESTION, k=10)
    # the next request connects afresh to the frozen server: bounded by the timeout once, not twice
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        reader.search(QUESTION, k=10)
    assert time.monotonic() - started < 1.9
    lite.resume()
    assert answers_within(reader, WAIT) == expected

    lite.stop()
    with pytest.raises(StoreUnavailable, match=rf"^Milvus at {lite.uri} is unreachable"):
        reader.search(QUESTION, k=10)
    lite.start()  # same port, same data; Milvus Lite comes back with its collections released
    assert answers_within(reader, WAIT) == expected
    assert index.current_version() == 1


def test_a_milvus_lite_file_that_cannot_be_opened_says_why_in_one_line(tmp_path, capsys):
    from service.cli import main

    missing = tmp_path / "no-such-folder" / "x.db"
    assert main(["--index", str(tmp_path), "--store", str(missing), "status"]) == 2
    assert capsys.readouterr().err == (f"speechqa: the folder of the Milvus Lite file {missing} does not exist — "
                                       f"create {missing.parent}, or point --store (or $SPEECHQA_STORE) elsewhere\n")
    mistyped = tmp_path / "mistyped.db"  # anything but build leaves no empty store behind
    assert main(["--index", str(tmp_path), "--store", str(mistyped), "status"]) == 2
    assert capsys.readouterr().err == (f"speechqa: no Milvus Lite store at {mistyped} — "
                                       f"`speechqa --store {mistyped} build` makes one\n")
    assert not mistyped.exists()
    held = tmp_path / "held.db"
    with LiteServer(held, log=tmp_path / "milvus.log"):  # a server holds the file, as it may
        assert main(["--index", str(tmp_path), "--store", str(held), "status"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"speechqa: the Milvus Lite file {held} could not be opened (")
    assert f"run `milvus-lite server --data-dir {held}`" in error and error.count("\n") == 1  # no tracebacks


def test_a_milvus_lite_file_that_does_not_answer_in_time_is_not_told_to_start():
    """A local .db file has no server to start: a large library's load outlasts the deadline there."""
    import grpc

    from index.milvus.connection import Connection

    class DeadlineExceeded(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.DEADLINE_EXCEEDED

    message = Connection("/data/library.db")._unavailable(DeadlineExceeded(), 5.0)
    assert message == ("the Milvus Lite file /data/library.db did not answer within 5 s (deadline exceeded): Milvus "
                       "Lite, a pure-Python engine, serves tests and small libraries — for thousands of speeches use "
                       "the default faiss store or a Milvus server (README: Milvus)")
    assert "start it" in Connection("http://127.0.0.1:19530")._unavailable(DeadlineExceeded(), 5.0)
