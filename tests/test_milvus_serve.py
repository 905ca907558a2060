"""Serving from Milvus: two apps share one Milvus Lite server, swap in a new version by themselves,
answer 503 store_unavailable while it is away and again when it is back; the command line on Milvus.

Milvus Lite runs as its own process (``milvus-lite server``) that the tests stop and start.
"""
from __future__ import annotations

import json
import re
import threading
import time

import pytest

from index.build import build
from index.milvus import MilvusIndex
from index.milvus.lite import LiteServer, free_port
from index.store import FaissBm25Store
from service import create_app
from service.cli import main
from service.state import WATCHER

GRAIN = "守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。二是加强高标准农田建设。\n二、维护边境安全\n要筑牢边境防控体系，强化口岸管理。\n"
SECRECY = "保密工作讲话\n一、增强保密意识\n全体干部要牢固树立保密意识，严守保密纪律。\n"
WAIT = 60  # seconds; the watchers poll every 0.05 s


def wait_for(predicate, *, what: str):
    deadline = time.monotonic() + WAIT
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {WAIT}s")
        time.sleep(0.02)
    return value


@pytest.fixture
def setup(tmp_path, encoder):
    """A Milvus Lite server holding version 1 (one speech); the corpus of version 2 (two) beside it."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a_grain.txt").write_text(GRAIN, encoding="utf-8")
    root = tmp_path / "index"
    first = build([corpus], root, encoder=encoder)
    (corpus / "b_secrecy.txt").write_text(SECRECY, encoding="utf-8")
    with LiteServer(tmp_path / "milvus", log=tmp_path / "milvus.log") as server:
        index = MilvusIndex(server.uri, timeout=1)
        index.publish(FaissBm25Store.load(first.directory))
        yield {"server": server, "index": index, "root": root, "corpus": corpus, "first": first.build_id}


@pytest.fixture
def make_app(encoder):
    apps = []

    def make(setup, **config):
        app = create_app({"TESTING": True, "INDEX": str(setup["root"]), "STORE": setup["server"].uri,
                          "RELOAD_INTERVAL": 0.05, "MILVUS_TIMEOUT": 1} | config, encoder=encoder)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions[WATCHER].stop()
        app.extensions[WATCHER].join(timeout=5)


def health(client) -> dict:
    response = client.get("/healthz")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_two_servers_on_one_milvus_swap_in_a_new_version_without_a_failed_request(setup, make_app, encoder):
    # the served default (5 s), not the fixture's 1 s: hundreds of calls (two watchers polling 20 times a second,
    # two search loops) run beside an in-process build, and one of them waiting out 1 s on a busy machine was a
    # 503, or a watcher outage that /healthz reports as 503; a request the swap fails still fails at once
    clients = [make_app(setup, MILVUS_TIMEOUT=5).test_client() for _ in range(2)]
    uri = setup["server"].uri
    for client in clients:
        assert health(client)["store"] == {"kind": "milvus", "uri": uri, "version": 1}
        assert health(client)["build_id"] == setup["first"]
    statuses: list[int] = []
    stop = threading.Event()

    def load(client) -> None:
        while not stop.is_set():
            statuses.append(client.get("/api/search", query_string={"q": "保密意识", "k": 3}).status_code)

    threads = [threading.Thread(target=load, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    second = build([setup["corpus"]], setup["root"], encoder=encoder)
    setup["index"].publish(FaissBm25Store.load(second.directory))
    for client in clients:
        wait_for(lambda: health(client)["store"]["version"] == 2, what="the watcher's swap")
    stop.set()
    for thread in threads:
        thread.join()
    assert statuses and set(statuses) == {200}
    for client in clients:
        assert health(client)["build_id"] == second.build_id
        top = client.get("/api/search", query_string={"q": "保密意识", "k": 1}).get_json()["results"][0]
        assert top["speech"]["title"] == "保密工作讲话"
        # Milvus keeps no vectors in process: the page offers no 相似说法 link that could only fail
        page = client.get("/", query_string={"q": "保密意识"}).get_data(as_text=True)
        assert "更多上下文" in page and "相似说法" not in page
        assert "相似说法" not in client.get(f"/passages/{top['passage_id']}").get_data(as_text=True)


def test_503_store_unavailable_while_milvus_is_away_then_answers_again(setup, make_app):
    client = make_app(setup).test_client()
    server = setup["server"]

    def status() -> tuple[int, dict]:
        response = client.get("/api/search", query_string={"q": "粮食安全", "k": 3})
        return response.status_code, response.get_json()

    assert status()[0] == 200
    server.pause()
    code, body = status()
    assert code == 503 and body["error"]["code"] == "store_unavailable"
    assert body["error"]["message"].startswith(f"Milvus at {server.uri} is unreachable or did not answer within 1 s")
    # the page says the store is away, not that an index must be built
    page = client.get("/", query_string={"q": "粮食安全"})
    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert "索引存储暂时连不上" in text and "连上后检索会自动恢复，不需要重建索引" in text and "speechqa build" not in text
    server.resume()
    wait_for(lambda: status()[0] == 200, what="an answer after the pause")
    server.stop()
    code, body = status()
    assert (code, body["error"]["code"]) == (503, "store_unavailable")
    # a health check says so too, once the watcher has found Milvus gone, so traffic goes elsewhere
    wait_for(lambda: client.get("/healthz").status_code == 503, what="/healthz to say the store is away")
    error = client.get("/healthz").get_json()["error"]
    assert error["code"] == "store_unavailable" and "searches answer 503 until the store answers again" in error["message"]
    server.start()
    # the first calls after a restart may still find Milvus Lite loading its collections
    wait_for(lambda: status()[0] == 200, what="an answer after the restart")
    # read from the answer waited for: a watcher's poll may wait out the 1 s once more between two requests
    back = wait_for(lambda: (answer := client.get("/healthz")).status_code == 200 and answer.get_json(),
                    what="/healthz to answer 200 again")
    assert back["store"]["version"] == 1


def test_a_milvus_restarted_on_other_data_is_503_store_unavailable_until_it_holds_the_index_again(
        setup, make_app, tmp_path, caplog):
    # it was a 500 and a traceback on every search, and /healthz read "ok" for a load balancer
    caplog.set_level("INFO", logger="service.state")
    client = make_app(setup).test_client()
    server = setup["server"]
    assert client.get("/api/search", query_string={"q": "粮食安全", "k": 3}).status_code == 200
    held = server.data_dir
    server.stop()
    server.data_dir = tmp_path / "other-milvus"
    server.start()
    # the first call after the restart may still find the old channel closed: "unreachable", then this
    searched = wait_for(lambda: (answer := client.get("/api/search", query_string={"q": "粮食安全", "k": 3})
                                 ).status_code != 200 and "holds no collection" in answer.get_data(as_text=True)
                        and answer, what="a search on the empty Milvus to say why it fails")
    error = searched.get_json()["error"]
    assert (searched.status_code, error["code"]) == (503, "store_unavailable")
    assert error["message"].startswith(f"Milvus at {server.uri} holds no collection ")
    # the page says waiting will not help, not that search comes back by itself
    page = client.get("/", query_string={"q": "粮食安全"}).get_data(as_text=True)
    assert "里面已经没有这个索引" in page and "连上后检索会自动恢复" not in page
    # the watcher may still report the restart's moment of "unreachable" before it asks the empty Milvus
    health_error = wait_for(lambda: (answer := client.get("/healthz")).status_code == 503
                            and "holds no index now" in answer.get_data(as_text=True) and answer.get_json(),
                            what="/healthz to say the index is gone")
    assert health_error["error"]["code"] == "store_unavailable"
    server.stop()
    server.data_dir = held
    server.start()
    wait_for(lambda: client.get("/api/search", query_string={"q": "粮食安全", "k": 3}).status_code == 200,
             what="an answer from the Milvus that holds the index")
    wait_for(lambda: client.get("/healthz").status_code == 200, what="/healthz to answer 200 again")
    # the log names the Milvus that answers again ("the index source" named nothing)
    assert f"{server.uri} answers again" in caplog.text


def test_a_server_on_a_restarted_milvus_lite_logs_no_tracebacks_for_the_collections_it_loads(setup, make_app):
    import logging

    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger = logging.getLogger("pymilvus.decorators")  # where pymilvus logs each failed call, traceback and all
    logger.addHandler(handler)
    try:
        setup["server"].stop()
        setup["server"].start()  # Milvus Lite starts with every collection released
        client = make_app(setup, MILVUS_TIMEOUT=5).test_client()  # what is logged is asserted, not how fast
        assert client.get("/api/search", query_string={"q": "粮食安全", "k": 1}).status_code == 200
    finally:
        logger.removeHandler(handler)
    assert [record.getMessage()[:80] for record in records if record.levelno >= logging.WARNING] == []


def test_a_server_cannot_start_without_its_milvus(tmp_path, capsys):
    uri = f"http://127.0.0.1:{free_port()}"
    assert main(["--index", str(tmp_path), "--store", uri, "serve", "--port", str(free_port())]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"speechqa: Milvus at {uri} is unreachable or did not answer within 5 s (")
    assert error.count("\n") == 1


def test_the_command_line_builds_rolls_back_and_asks_on_milvus(setup, capsys):
    uri = setup["server"].uri
    setup["server"].stop()  # free the data directory for a Milvus Lite file of the command's own
    store = str(setup["root"].parent / "cli.db")
    common = ["--index", str(setup["root"]), "--store", store]
    assert main([*common, "build", "--corpus", str(setup["corpus"]), "-q"]) == 0
    out = capsys.readouterr().out
    assert f"  publishing to Milvus at {store} (only what changed) …\n" in out
    assert re.search(rf"published to Milvus at {re.escape(store)} as version 1 in \d+\.\ds: \d+ rows written", out)
    assert main([*common, "build", "--corpus", str(setup["corpus"]), "-q"]) == 0
    assert f"Milvus at {store} already serves this build as version 1: nothing written" in capsys.readouterr().out
    (setup["corpus"] / "b_secrecy.txt").unlink()
    assert main([*common, "build", "--corpus", str(setup["corpus"]), "-q"]) == 0
    assert f"published to Milvus at {store} as version 2 in " in capsys.readouterr().out
    assert main([*common, "status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["store"], status["version"], status["counts"]["speeches"]) == (
        {"kind": "milvus", "uri": store, "versions": [1, 2]}, 2, 1)
    assert main([*common, "ask", "保密意识", "--json", "-k", "2"]) == 0
    assert {r["speech"]["title"] for r in json.loads(capsys.readouterr().out)["results"]} == {"守好粮仓"}
    assert main([*common, "rollback"]) == 0
    assert capsys.readouterr().out.startswith("current build is now version 1; a running server picks it up on reload\n")
    assert main([*common, "ask", "保密意识", "--json", "-k", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["speech"]["title"] == "保密工作讲话"
    assert uri != store
    # the same root built without --store is told that Milvus will not see it
    assert main(["--index", str(setup["root"]), "--store", "faiss", "build", "--corpus", str(setup["corpus"]), "-q"]) == 0
    assert (f"warning: {setup['root']} publishes to Milvus at {store}; without --store {store} (or SPEECHQA_STORE) "
            f"this command changes only {setup['root']}" in capsys.readouterr().err)


@pytest.mark.parametrize("store", ["milvus", "tcp://host:19530",
                                   # tracebacks from pymilvus, or another port or a database taken quietly
                                   "http://127.0.0.1:99999", "http://127.0.0.1:abc", "http://127.0.0.1:0",
                                   "http://127.0.0.1:",
                                   "http://127.0.0.1:19530/db1"])
def test_a_bad_store_is_refused_in_one_line(tmp_path, capsys, monkeypatch, store):
    allowed = (f"store must be \"faiss\", a Milvus Lite file ending in .db, or http(s)://host:port of a Milvus server "
               f"(got {json.dumps(store)})")
    # the one line that says what is wrong, no usage line before it
    assert main(["--index", str(tmp_path), "--store", store, "status"]) == 2
    assert capsys.readouterr().err == f"speechqa: --store: {allowed}\n"
    assert main(["--index", str(tmp_path), "speeches", "--store", store, "--json"]) == 2  # after the command too
    assert capsys.readouterr() == (json.dumps({"error": {"code": "setting_error", "message": f"--store: {allowed}"}},
                                              ensure_ascii=False) + "\n", f"speechqa: --store: {allowed}\n")
    monkeypatch.setenv("SPEECHQA_STORE", store)  # the environment's value is checked the same way, by its name
    assert main(["--index", str(tmp_path), "status"]) == 2
    assert capsys.readouterr().err == f"speechqa: $SPEECHQA_STORE: {allowed}\n"
    # --store given decides, whatever the environment says
    assert main(["--index", str(tmp_path), "--store", "faiss", "status"]) == 2  # no index there, but a good store
    assert capsys.readouterr().err == f"speechqa: no index at {tmp_path} — run `speechqa build`\n"
