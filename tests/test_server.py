"""The real server: `python -m service --index ROOT serve` as a subprocess, queried over HTTP on loopback."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

import pytest

from eval.command import main as eval_main

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str, *, data: bytes | None = None, method: str | None = None,
          headers: dict | None = None) -> tuple[int, dict, bytes]:
    """(status, headers, body) for any status; the connection is always closed."""
    request = Request(url, data=data, method=method, headers=headers or {})
    try:
        with urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def server(index_root, tmp_path_factory):
    """The speechqa command serving the seed index on a free loopback port; stopped at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--index", str(index_root), "serve", "--port", str(port)],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            try:
                status, _, body = fetch(base + "/healthz")
            except (URLError, ConnectionError, TimeoutError):
                status = None
            if status == 200:
                break
            if status is not None:
                pytest.fail(f"server is up but /healthz answered {status}: {body.decode(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(f"server did not answer within {START_TIMEOUT}s:\n{log.read_text(errors='replace')}")
            time.sleep(0.25)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode is not None


def test_healthz_reports_the_served_build(server, searcher):
    status, headers, body = fetch(server + "/healthz")
    assert status == 200 and headers["Content-Type"] == "application/json"
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["build_id"] == searcher.manifest["build_id"]
    assert health["passages"] == len(searcher.passages)


def test_search_over_http_answers_a_chinese_question(server):
    status, headers, body = fetch(server + "/api/search?" + urlencode({"q": "如何保障粮食安全？", "k": 3}))
    assert status == 200
    payload = json.loads(body)
    assert len(payload["results"]) == 3
    assert "粮食安全" in payload["results"][0]["text"]
    assert "<mark>粮食安全</mark>" in payload["results"][0]["highlight"]
    assert headers["Server"] == "speechqa"


def test_post_search_over_http(server):
    data = json.dumps({"q": "边境安全防控怎么做", "k": 2, "mode": "bm25"}).encode()
    status, _, body = fetch(server + "/api/search", data=data, headers={"Content-Type": "application/json"})
    assert status == 200
    assert [r["rank"] for r in json.loads(body)["results"]] == [1, 2]


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/search?q=%E7%B2%AE&k=0", 400, "bad_query"),
    ("/api/search", 400, "bad_query"),
    ("/api/passages/nope", 404, "not_found"),
    ("/api/nope", 404, "not_found"),
])
def test_errors_over_http_are_json(server, path, status, code):
    got, headers, body = fetch(server + path)
    assert got == status and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == code


def test_oversized_body_over_http_is_413(server):
    data = json.dumps({"q": "粮" * 20000}).encode()
    status, _, body = fetch(server + "/api/search", data=data, headers={"Content-Type": "application/json"})
    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_results_page_over_http(server):
    status, headers, body = fetch(server + "/?q=" + quote("粮食安全"))
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "<mark>粮食安全</mark>".encode() in body


def test_concurrent_requests_all_succeed(server):
    questions = ["粮食安全", "保密意识", "边境防控", "国家安全", "food security", "意识形态"] * 4

    def ask(question):
        return fetch(server + "/api/search?" + urlencode({"q": question, "k": 5}))[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(ask, questions)) == {200}


def test_eval_over_http_scores_as_in_process_and_names_what_the_server_ran_on(server, index_root, tmp_path, capsys):
    # The scorers' path: `speechqa eval --url`. Its figures are the server's, so the engines and the CPU it
    # reports are the server's /healthz's, and on one machine they equal the in-process run's.
    questions = tmp_path / "four.jsonl"
    lines = (REPO / "eval" / "holdout.jsonl").read_text(encoding="utf-8").splitlines()
    questions.write_text("\n".join(lines[:2] + lines[-2:]) + "\n", encoding="utf-8")
    results = []
    for backend in (["--url", server], ["--index", str(index_root)]):
        assert eval_main(backend + ["--questions", str(questions), "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    over_http, in_process = results
    health = json.loads(fetch(server + "/healthz")[2])
    assert (over_http["index_engine"], over_http["query_engine"], over_http["cpu"]) == (
        health["engines"]["index"], health["engines"]["queries"], health["cpu"])
    for key in ("index_engine", "query_engine", "cpu", "metrics", "per_question"):
        assert over_http[key] == in_process[key], key
