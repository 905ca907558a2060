"""The real server: `python -m service --index ROOT serve` as a subprocess, queried over HTTP on loopback;
and the command around it, run as a user runs it (a pipe that closes, bytes that are not UTF-8)."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

import pytest

from eval.command import main as eval_main
from service.cli import main as cli_main

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 180
TOKEN = "a-reload-token-of-24-chars"  # one the server does not warn about as too short to keep guessers out


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


def raw_get(base: str, target: bytes) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET whose request line carries ``target`` byte for byte, as curl
    sends it (urllib would refuse or percent-encode what is not ASCII)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n")
        response = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (field.partition(":") for field in fields)}
    return int(status_line.split()[1]), headers.get("content-type", ""), body


def speechqa(*args: str | bytes, **popen) -> subprocess.Popen:
    """`python -m service ARGS` started from the repository (the console script's code)."""
    return subprocess.Popen([sys.executable, "-m", "service", *args], cwd=REPO, **popen)


def speechqa_run(*args: str | bytes) -> subprocess.CompletedProcess:
    """`python -m service ARGS` run to its end, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=START_TIMEOUT)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_up(process: subprocess.Popen, base: str, log: Path, *, health: int = 200) -> None:
    """Return once /healthz answers ``health``; fail with the server's output if it exits or answers otherwise."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            status, _, body = fetch(base + "/healthz")
        except (URLError, ConnectionError, TimeoutError):
            status = None
        if status == health:
            return
        if status is not None:
            pytest.fail(f"server is up but /healthz answered {status}: {body.decode(errors='replace')}")
        if time.monotonic() > deadline:
            pytest.fail(f"server did not answer within {START_TIMEOUT}s:\n{log.read_text(errors='replace')}")
        time.sleep(0.25)


@contextmanager
def serving(index_root: Path, log: Path, *options: str, env: dict | None = None):
    """(base URL, port) of `speechqa serve OPTIONS` on a free loopback port, its output in ``log``; the
    reload watcher off unless ``env`` says otherwise."""
    port = free_port()
    with open(log, "wb") as out:
        process = speechqa("--index", str(index_root), "serve", "--port", str(port), *options, stdout=out,
                           stderr=subprocess.STDOUT, env=os.environ | {"SPEECHQA_RELOAD_INTERVAL": "0"} | (env or {}))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, base, log)
        yield base, port
    finally:
        stop(process)
    assert process.returncode is not None


@pytest.fixture(scope="module")
def served(index_root, tmp_path_factory):
    """(base URL, output file) of the speechqa command serving the seed index on a free loopback port;
    stopped at the end."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with serving(index_root, log) as (base, _):
        yield base, log


@pytest.fixture(scope="module")
def server(served) -> str:
    """The base URL of the served seed index."""
    return served[0]


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


def test_serve_says_where_it_listens(served, index_root):
    base, log = served
    assert log.read_text().splitlines().count(f"serving on {base}/ (index {index_root}, store faiss)") == 1


@pytest.mark.parametrize(("target", "params", "count"), [
    # curl -G --data-urlencode 'q="总体国家安全观"' -d place=南宁: the place goes as raw UTF-8 bytes
    # (and no seed speech names its place)
    ("/api/search?q=%22%E6%80%BB%E4%BD%93%E5%9B%BD%E5%AE%B6%E5%AE%89%E5%85%A8%E8%A7%82%22&place=南宁",
     {"q": '"总体国家安全观"', "place": "南宁"}, 0),
    ("/api/search?q=粮食安全&k=3", {"q": "粮食安全", "k": 3}, 3),
])
def test_raw_utf8_in_the_url_is_read_as_its_percent_encoding(server, target, params, count):
    status, content_type, body = raw_get(server, target.encode())
    assert (status, content_type) == (200, "application/json")
    payload, encoded = json.loads(body), json.loads(fetch(server + "/api/search?" + urlencode(params))[2])
    assert (payload["query"], len(payload["results"])) == (params["q"], count)
    assert [r["passage_id"] for r in payload["results"]] == [r["passage_id"] for r in encoded["results"]]


def test_raw_utf8_in_a_page_url_and_a_path(server):
    status, content_type, body = raw_get(server, "/?q=粮食安全".encode())
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert "<mark>粮食安全</mark>".encode() in body
    status, _, body = raw_get(server, "/api/passages/不存在".encode())
    assert (status, json.loads(body)) == (404, {"error": {"code": "not_found", "message": "no passage with id \"不存在\""}})


@pytest.mark.parametrize("target", [b"/api/search?q=%ED%A0%80", b"/api/search?q=%ff%fe", b"/api/search?q=\xff\xfe"])
def test_a_query_string_that_is_not_utf8_is_a_json_400_over_http(server, target):
    status, content_type, body = raw_get(server, target)
    assert (status, content_type) == (400, "application/json")
    assert json.loads(body)["error"] == {
        "code": "bad_request", "message": "the query string is not valid UTF-8: its %-escapes must encode UTF-8 text, "
                                          "such as %E7%B2%AE for 粮 — send valid Unicode text"}


@pytest.mark.parametrize(("target", "meant"), [(b"/api//search?q=x", "/api/search"),
                                             (b"/api/passages//x/citation", "/api/passages/x/citation")])
def test_an_api_path_with_a_double_slash_is_a_json_404_over_http(server, target, meant):
    # werkzeug's 308 was an HTML page whose Location came from the Host header: behind a proxy, the inner address
    status, content_type, body = raw_get(server, target)
    assert (status, content_type) == (404, "application/json")
    path = target.decode().split("?")[0]
    assert json.loads(body)["error"] == {
        "code": "not_found", "message": f"no such endpoint {path} (did you mean {meant}?) — see /api/openapi.json"}


def test_repeated_parameters_over_http_are_named_as_ignored(server):
    status, _, body = fetch(server + "/api/search?" + urlencode([("q", "粮食"), ("k", 3), ("k", 20)]))
    payload = json.loads(body)
    assert (status, len(payload["results"]), payload["ignored_parameters"]) == (200, 3, ["k"])


@pytest.mark.parametrize(("host", "reason"), [
    ("127.0.0.1", "Address already in use; another program listens there — stop it or choose another --port"),
    ("999.1.1.1", "\"999.1.1.1\" is not an IP address or a host name this machine resolves — check --host"),
])
def test_serve_that_cannot_listen_says_why_in_one_line(served, tmp_path, host, reason):
    port = served[0].rsplit(":", 1)[1]  # the served index's port: in use
    run = speechqa_run("--index", str(tmp_path), "serve", "--host", host, "--port", port)
    assert run.returncode == 2
    assert run.stdout == ""  # no "serving on" for a server that never listened
    assert run.stderr.splitlines()[-1] == f"speechqa: cannot listen on {host}:{port}: {reason}"
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_serve_refuses_a_port_out_of_range_before_starting(port, capsys):
    with pytest.raises(SystemExit) as refused:
        cli_main(["serve", "--port", port])
    assert refused.value.code == 2
    assert f"argument --port: must be an integer between 1 and 65535 (got \"{port}\")" in capsys.readouterr().err


def test_a_server_logs_each_line_once_with_one_prefix(tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = speechqa("--index", str(tmp_path / "nothing"), "serve", "--port", str(port), stdout=out,
                           stderr=subprocess.STDOUT,
                           env=os.environ | {"SPEECHQA_RELOAD_TOKEN": TOKEN, "SPEECHQA_RELOAD_INTERVAL": "0"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, base, log, health=503)
        # failed admin attempts, then a record logged while serving: waitress.serve's logging.basicConfig()
        # printed those twice
        assert fetch(base + "/api/admin/reload", method="POST")[0] == 401
        assert fetch(base + "/api/admin/reload", method="POST", headers={"Authorization": "Bearer x"})[0] == 403
        assert fetch(base + "/api/admin/reload", method="POST", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 503
        deadline = time.monotonic() + 30  # an access line is written once its answer is: the client may be faster
        while log.read_text().count("\n") < 7 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop(process)
    missing = f"no index at {tmp_path / 'nothing'} — run `speechqa build`"
    refused = "— failed admin attempt: missing or wrong token"
    lines = [re.sub(r" \d+\.\d ms", " N ms", line) for line in log.read_text().splitlines()]
    assert lines[:2] == [f"speechqa: no index loaded: {missing}",
                         f"serving on {base}/ (index {tmp_path / 'nothing'}, store faiss)"]
    assert sorted(lines[2:]) == sorted([  # an access line is written once its answer is: order may vary
        "speechqa: 127.0.0.1 GET /healthz 503 N ms",
        f"speechqa: 127.0.0.1 POST /api/admin/reload 401 N ms {refused}",
        f"speechqa: 127.0.0.1 POST /api/admin/reload 403 N ms {refused}",
        f"speechqa: reload of {tmp_path / 'nothing'} refused, still serving None: {missing}",
        "speechqa: 127.0.0.1 POST /api/admin/reload 503 N ms",
    ])


def test_every_request_leaves_one_access_line_without_its_query_string(served):
    base, log = served
    asked = {  # path → status, each also the name of its line
        "/api/search?q=" + quote("我的私人问题") + "&k=2": 200,
        "/api/search?q=%E7%B2%AE&k=0": 400,
        "/api/passages/access-log-probe": 404,
        "/api/passages/%E4%B8%8D%E5%AD%98%E5%9C%A8?k=1": 404,
    }
    for path, status in asked.items():
        assert fetch(base + path)[0] == status
    assert fetch(base + "/api/search", method="PUT")[0] == 405
    assert fetch(base + "/api/search", data=json.dumps({"q": "粮" * 20000}).encode(),
                 headers={"Content-Type": "application/json"})[0] == 413
    expected = [rf"GET {re.escape(path.split('?')[0])} {status}" for path, status in asked.items()]
    expected += ["PUT /api/search 405", "POST /api/search 413"]
    deadline = time.monotonic() + 30  # a line is written once its answer is: the client may read it first
    while True:
        text = log.read_text()
        if all(re.search(rf"^speechqa: 127\.0\.0\.1 {line} \d+\.\d ms$", text, re.M) for line in expected):
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
    # the question may be private: no query string, nor its words, in the log
    assert "?" not in text and "私人" not in text and quote("私人") not in text


def test_ask_into_a_closed_pipe_exits_quietly(index_root, tmp_path):
    # `speechqa ask … | head -1`: the reader is gone before the answer is written
    with open(tmp_path / "stderr", "wb") as stderr:
        process = speechqa("--index", str(index_root), "ask", "国家安全", "-k", "10", stdout=subprocess.PIPE,
                           stderr=stderr)
        process.stdout.close()
        assert process.wait(timeout=START_TIMEOUT) == 141  # 128 + SIGPIPE, as a shell reports `yes | head`
    errors = (tmp_path / "stderr").read_text()
    assert "BrokenPipeError" not in errors and "Traceback" not in errors


def test_ask_with_bytes_that_are_not_utf8_says_so(tmp_path):
    run = speechqa_run("--index", str(tmp_path), "ask", b"\xed\xa0\x80")  # refused while parsing: no index needed
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == (
        "speechqa ask: error: argument question: not valid UTF-8 text (the shell passed bytes in another "
        "encoding) — give valid Unicode text, or set the terminal to UTF-8")
