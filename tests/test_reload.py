"""Hot reload: the CURRENT watcher, POST /api/admin/reload, refused corrupt builds, rollback; over real builds."""
from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import pytest

from index import lifecycle
from index.files import write_text_atomically
from index.build import build
from index.store import PASSAGES
import service.api as service_api
from service import create_app
from service.cli import main
from service.state import WATCHER

GRAIN = "守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。二是加强高标准农田建设。\n二、维护边境安全\n要筑牢边境防控体系，强化口岸管理。\n"
SECRECY = "保密工作讲话\n一、增强保密意识\n全体干部要牢固树立保密意识，严守保密纪律。\n"
TOKEN = "s3cret-reload-token"
WAIT = 30  # seconds; the watcher polls every 0.05 s and a tiny build loads in milliseconds


def wait_for(predicate, *, timeout: float = WAIT, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {timeout}s")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def template(tmp_path_factory, encoder) -> dict:
    """An index root whose CURRENT is a one-speech build; tests copy it, so rebuilds embed only the second speech."""
    corpus = tmp_path_factory.mktemp("reload-corpus")
    (corpus / "a_grain.txt").write_text(GRAIN, encoding="utf-8")
    root = tmp_path_factory.mktemp("reload-index")
    first = build([corpus], root, encoder=encoder)
    return {"root": root, "first": first.build_id}


@pytest.fixture
def setup(template, tmp_path) -> dict:
    """A private copy of the template root and of a two-speech corpus."""
    root = tmp_path / "index"
    shutil.copytree(template["root"], root)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a_grain.txt").write_text(GRAIN, encoding="utf-8")
    (corpus / "b_secrecy.txt").write_text(SECRECY, encoding="utf-8")
    return {"root": root, "corpus": corpus, "first": template["first"]}


@pytest.fixture
def make_app(encoder):
    """create_app over a root, with the session encoder; every watcher is stopped afterwards."""
    apps = []

    def make(root: Path, **config):
        app = create_app({"TESTING": True, "INDEX": str(root)} | config, encoder=encoder)
        apps.append(app)
        return app

    yield make
    for app in apps:
        if WATCHER in app.extensions:
            app.extensions[WATCHER].stop()
            # a reload under way ends first: one that outlived its test (a load over 5 s in a busy
            # CI run) logged into pytest's closed capture stream
            app.extensions[WATCHER].join(timeout=60)


def health(client) -> dict:
    response = client.get("/healthz")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def served_build(client) -> str:
    return health(client)["build_id"]


def passage_ids(root: Path, build_id: str) -> set[str]:
    from index.store import read_passages

    return {p.id for p in read_passages(root / lifecycle.BUILDS / build_id)}


def search(client, q="保密意识"):
    response = client.get("/api/search", query_string={"q": q, "k": 5})
    assert response.status_code == 200, response.get_json()
    return response


def test_watcher_swaps_in_a_rebuild(setup, make_app, encoder):
    client = make_app(setup["root"], RELOAD_INTERVAL=0.05).test_client()
    assert served_build(client) == setup["first"]
    assert {r["speech"]["title"] for r in search(client).get_json()["results"]} == {"守好粮仓"}

    second = build([setup["corpus"]], setup["root"], encoder=encoder)
    assert second.reused > 0  # the first speech's spans came from the copied cache

    wait_for(lambda: served_build(client) == second.build_id, what="the watcher's reload")
    assert "reload_error" not in health(client)
    response = search(client)
    assert response.headers["X-SpeechQA-Build"] == second.build_id
    assert response.get_json()["results"][0]["speech"]["title"] == "保密工作讲话"
    assert health(client)["speeches"] == 2


def test_a_server_started_before_the_first_build_picks_it_up(setup, make_app):
    (setup["root"] / lifecycle.CURRENT).unlink()
    client = make_app(setup["root"], RELOAD_INTERVAL=0.05).test_client()
    assert client.get("/healthz").status_code == 503
    write_text_atomically(setup["root"] / lifecycle.CURRENT, setup["first"] + "\n")
    wait_for(lambda: client.get("/healthz").status_code == 200, what="the first index")
    assert served_build(client) == setup["first"]


def test_reload_interval_zero_starts_no_watcher(setup, make_app):
    app = make_app(setup["root"], RELOAD_INTERVAL=0)
    assert WATCHER not in app.extensions


def test_a_corrupt_build_is_refused_once_and_the_old_one_keeps_serving(setup, make_app, encoder, caplog):
    root = setup["root"]
    broken = build([setup["corpus"]], root, encoder=encoder).build_id
    with open(root / lifecycle.BUILDS / broken / PASSAGES, "r+b") as handle:
        handle.truncate(10)
    lifecycle.rollback(root)
    assert lifecycle.current_id(root) == setup["first"]

    app = make_app(root, RELOAD_INTERVAL=0.05, RELOAD_TOKEN=TOKEN)
    client = app.test_client()
    caplog.set_level(logging.INFO, logger="service")
    write_text_atomically(root / lifecycle.CURRENT, broken + "\n")

    error = wait_for(lambda: health(client).get("reload_error"), what="the refused reload")
    assert error.startswith("index_corrupt: index file ") and "does not match its checksum" in error
    assert health(client)["status"] == "stale"  # a monitor reading status alone sees the library is not current
    assert served_build(client) == setup["first"]
    assert search(client).headers["X-SpeechQA-Build"] == setup["first"]

    time.sleep(0.5)  # ten intervals: the same broken id is not tried again
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and broken in refused[0].getMessage()

    # an operator's explicit reload does retry, and answers why it was refused
    response = client.post("/api/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 503
    body = response.get_json()["error"]
    assert body["code"] == "index_corrupt"
    assert body["message"].startswith(f"reload refused, still serving build {setup['first']}: index file ")
    assert served_build(client) == setup["first"]

    # pointing CURRENT back at the served build clears the error without loading anything
    write_text_atomically(root / lifecycle.CURRENT, setup["first"] + "\n")
    wait_for(lambda: "reload_error" not in health(client), what="the cleared reload error")
    assert served_build(client) == setup["first"] and health(client)["status"] == "ok"


def test_a_refused_admin_reload_with_nothing_served_says_so(setup, make_app):
    (setup["root"] / lifecycle.CURRENT).unlink()
    client = make_app(setup["root"], RELOAD_INTERVAL=0, RELOAD_TOKEN=TOKEN).test_client()
    response = client.post("/api/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 503
    assert response.get_json() == {"error": {
        "code": "index_not_built",
        "message": f"reload refused, no index is being served: no index at {setup['root']} — run `speechqa build`"}}
    # the note is the reload's: a search goes on answering the error the server holds, as before the reload
    assert client.get("/api/search", query_string={"q": "粮食"}).get_json()["error"]["message"] == (
        f"no index at {setup['root']} — run `speechqa build`")


def test_rollback_from_the_command_line_is_picked_up(setup, make_app, encoder, capsys):
    second = build([setup["corpus"]], setup["root"], encoder=encoder)
    client = make_app(setup["root"], RELOAD_INTERVAL=0.05).test_client()
    assert served_build(client) == second.build_id

    assert main(["--index", str(setup["root"]), "rollback"]) == 0
    assert capsys.readouterr().out.startswith(f"current build is now {setup['first']}")
    wait_for(lambda: served_build(client) == setup["first"], what="the rolled-back build")
    assert health(client)["speeches"] == 1


@pytest.mark.parametrize(("token", "headers", "status", "code"), [
    (None, {"Authorization": f"Bearer {TOKEN}"}, 404, "not_found"),
    ("", {"Authorization": "Bearer "}, 404, "not_found"),
    (TOKEN, {}, 401, "unauthorized"),
    (TOKEN, {"Authorization": TOKEN}, 401, "unauthorized"),
    (TOKEN, {"Authorization": f"Basic {TOKEN}"}, 401, "unauthorized"),
    (TOKEN, {"Authorization": "Bearer "}, 401, "unauthorized"),
    (TOKEN, {"Authorization": "Bearer wrong"}, 403, "forbidden"),
    (TOKEN, {"Authorization": f"Bearer {TOKEN}x"}, 403, "forbidden"),
    (TOKEN, {"Authorization": "Bearer 令牌"}, 403, "forbidden"),
])
def test_admin_reload_refuses_without_the_right_token(setup, make_app, token, headers, status, code):
    client = make_app(setup["root"], RELOAD_INTERVAL=0, RELOAD_TOKEN=token).test_client()
    response = client.post("/api/admin/reload", headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="speechqa admin"'
    assert served_build(client) == setup["first"]


def test_admin_reload_swaps_in_the_current_build(setup, make_app, encoder):
    client = make_app(setup["root"], RELOAD_INTERVAL=0, RELOAD_TOKEN=TOKEN).test_client()
    second = build([setup["corpus"]], setup["root"], encoder=encoder)
    assert served_build(client) == setup["first"]  # no watcher: nothing happens by itself

    response = client.post("/api/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["build_id"], body["previous_build_id"]) == ("reloaded", second.build_id,
                                                                            setup["first"])
    assert body["changed"] is True
    assert served_build(client) == second.build_id
    # again with nothing new: the same build loaded again, and said so
    again = client.post("/api/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert (again["build_id"], again["previous_build_id"], again["changed"]) == (second.build_id, second.build_id, False)


def test_token_from_the_environment_is_kept_as_text(setup, make_app, monkeypatch):
    monkeypatch.setenv("SPEECHQA_RELOAD_TOKEN", "0123")  # JSON would read this as the number 123
    client = make_app(setup["root"], RELOAD_INTERVAL=0).test_client()
    monkeypatch.delenv("SPEECHQA_RELOAD_TOKEN")
    assert client.post("/api/admin/reload", headers={"Authorization": "Bearer 123"}).status_code == 403
    assert client.post("/api/admin/reload", headers={"Authorization": "Bearer 0123"}).status_code == 200


def test_admin_reload_answers_409_while_another_reload_runs(setup, make_app, monkeypatch):
    app = make_app(setup["root"], RELOAD_INTERVAL=0, RELOAD_TOKEN=TOKEN)
    monkeypatch.setattr(service_api, "RELOAD_WAIT_SECONDS", 0.05)
    lock = app.extensions["speechqa"]._reloading
    with lock:
        response = app.test_client().post("/api/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 409
    assert response.get_json()["error"] == {"code": "reload_in_progress",
                                            "message": "another reload is running — retry in a few seconds"}


def test_no_response_mixes_two_builds_while_reloads_swap_them(setup, make_app, encoder):
    root = setup["root"]
    second = build([setup["corpus"]], root, encoder=encoder).build_id
    passages = {setup["first"]: passage_ids(root, setup["first"]), second: passage_ids(root, second)}
    app = make_app(root, RELOAD_INTERVAL=0, RELOAD_TOKEN=TOKEN)
    stop = threading.Event()
    seen: list[tuple[int, str, list[str]]] = []

    def ask():
        client = app.test_client()
        while not stop.is_set():
            response = client.get("/api/search", query_string={"q": "保密意识 粮食安全", "k": 10})
            seen.append((response.status_code, response.headers.get("X-SpeechQA-Build"),
                         [r["passage_id"] for r in response.get_json().get("results", [])]))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    admin = app.test_client()
    try:
        for target in [setup["first"], second] * 3:
            write_text_atomically(root / lifecycle.CURRENT, target + "\n")
            answered = sum(1 for _, build_id, _ in list(seen) if build_id == target)
            response = admin.post("/api/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.get_json()["build_id"] == target
            wait_for(lambda: sum(1 for _, build_id, _ in list(seen) if build_id == target) > answered + 2,
                     what=f"answers from {target}")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert seen and {status for status, _, _ in seen} == {200}
    assert {build_id for _, build_id, _ in seen} == {setup["first"], second}
    for _, build_id, ids in seen:
        assert set(ids) == passages[build_id]  # k=10 exceeds both builds' passages: all of one build, nothing else


@pytest.mark.parametrize("value", ["abc", "inf", "nan", -1, "-0.5"])
def test_a_reload_interval_that_is_no_number_of_seconds_is_refused_at_start(value):
    from index.errors import SettingError
    from service.state import seconds_setting

    with pytest.raises(SettingError, match=r"^SPEECHQA_RELOAD_INTERVAL must be a number of seconds, 0 to turn it off"):
        seconds_setting({"RELOAD_INTERVAL": value}, "RELOAD_INTERVAL", default=2.0)


def test_seconds_settings_read_numbers_and_an_empty_value_as_unset():
    from index.errors import SettingError
    from service.state import seconds_setting

    assert [seconds_setting({"X": v}, "X", default=2.0) for v in (None, "", " ", 0, "0.5", 3)] == [2.0, 2.0, 2.0, 0.0,
                                                                                                  0.5, 3.0]
    with pytest.raises(SettingError, match=r"^SPEECHQA_MILVUS_TIMEOUT must be a number of seconds above 0 \(got 0\)$"):
        seconds_setting({"MILVUS_TIMEOUT": 0}, "MILVUS_TIMEOUT", zero_is_off=False)


def test_a_glossary_path_list_ending_in_its_separator_names_no_extra_file():
    from service.state import table_paths

    assert table_paths("a.tsv:") == ["a.tsv"] and table_paths(":") == [] and table_paths(["a.tsv", ""]) == ["a.tsv"]
