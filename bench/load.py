"""Load the real server at concurrency 16, then again while a rebuild is published and hot-reloaded.

    python bench/load.py [--quick]

Phase "steady": `python -m service --index <dir> serve` on a free loopback port, 16 keep-alive
http.client threads sending GET /api/search for the eval questions (each made unique, so the query
cache never answers) for 60 s (`--quick`: 15 s), at most --max-requests requests.

Phase "reload": the same load while `python -m service --index <dir> build --corpus <seeds + one extra
speech>` runs beside it; the server's watcher (SPEECHQA_RELOAD_INTERVAL=0.5) swaps the new build in, and
then POST /api/admin/reload swaps it in once more. The phase lasts its duration or until 5 s after the
last swap, whichever is later (never more than duration + 240 s). It must end with 0 failed requests,
and no response may mix two indexes: every result's passage_id must belong to the build named by the
response's X-SpeechQA-Build header, and no client may see the old build again after the new one.

Writes bench/results/load.{json,md}; scratch (index copy, corpus copy, server log) goes to bench/out/.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SCRATCH, SEEDS, describe, fresh, machine, questions, summary_ms, table, write_results
from bench.server import Server, connect, ensure_index, search_path

CONCURRENCY = 16
TOKEN = "bench-load-reload-token"
RELOAD_INTERVAL = 0.5
# A speech the seeds do not have, on topics the eval questions ask about, so the new build's own
# passages show up in results and a mixed response would be visible.
EXTRA = """统筹发展和安全专题会议上的讲话
一、守住粮食安全底线
粮食安全是国家安全的重要基础。要稳定粮食播种面积，加强高标准农田建设，落实粮食安全党政同责，确保谷物基本自给、口粮绝对安全。
二、筑牢网络安全防线
要健全网络安全监测预警体系，压实关键信息基础设施运营者责任，开展网络安全宣传教育，提升全民网络安全意识和防护技能。
三、维护边境和口岸安全
要完善边境立体化防控体系，强化口岸查验和国门生物安全防控，深化军警民联防，坚决防范境外敌对势力渗透破坏。
四、防范化解重大风险
要健全风险研判、决策风险评估、风险防控协同和风险防控责任机制，对金融、安全生产、公共卫生等领域风险早发现、早处置。
"""


class Run:
    """Shared counters of one phase's clients."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.builds: dict[str, int] = {}
        self.mixed: list[str] = []
        self.flip_backs = 0
        self.new_only_hits = 0
        self.requests = 0


def passage_ids(index: Path, build_id: str) -> set[str] | None:
    """Passage ids of one build under ``index`` (None if there is no such build)."""
    from index.lifecycle import build_dir
    from index.store import read_passages

    try:
        return {p.id for p in read_passages(build_dir(index, build_id))}
    except OSError:
        return None


def drive(ports: list[int], qs: list[str], run: Run, *, seconds_until, max_requests: int, index: Path,
          first: str) -> float:
    """16 clients, spread over the servers on ``ports``, until ``seconds_until()`` says stop or
    ``max_requests`` are sent; returns wall seconds.

    Build ids sort by build time, so a client that gets a build id below one it already got has
    seen the old build after the new one (a flip-back). ``first`` is the build served at the start.
    """
    known: dict[str, set[str]] = {}
    known_lock = threading.Lock()

    def members(build_id: str) -> set[str] | None:
        with known_lock:
            if build_id not in known:
                known[build_id] = passage_ids(index, build_id)
            return known[build_id]

    started = time.perf_counter()

    def client(slot: int) -> None:
        port = ports[slot % len(ports)]
        conn = connect(port)
        i, newest = slot * 7, ""
        while time.perf_counter() - started < seconds_until():
            with run.lock:
                if run.requests >= max_requests:
                    break
                run.requests += 1
                n = run.requests
            path = search_path(fresh(qs[i % len(qs)], n), 10)
            i += 1
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Connection": "keep-alive"})
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                with run.lock:
                    run.failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = connect(port)
                continue
            elapsed = time.perf_counter() - t0
            if response.status != 200:
                with run.lock:
                    run.failures.append(f"HTTP {response.status}: {body[:200]!r}")
                continue
            build_id = response.getheader("X-SpeechQA-Build") or "?"
            ids = [r["passage_id"] for r in json.loads(body)["results"]]
            allowed = members(build_id)
            with run.lock:
                run.latencies.append(elapsed)
                run.builds[build_id] = run.builds.get(build_id, 0) + 1
                if allowed is None or not set(ids) <= allowed:
                    run.mixed.append(f"{build_id}: {sorted(set(ids) - (allowed or set()))[:3]}")
                if build_id < newest:
                    run.flip_backs += 1
                if build_id != first:
                    run.new_only_hits += bool(set(ids) - members(first))
            newest = max(newest, build_id)
        conn.close()

    threads = [threading.Thread(target=client, args=(s,), daemon=True) for s in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def summarize(run: Run, wall: float) -> dict:
    return {"requests": run.requests, "ok": len(run.latencies), "failures": len(run.failures),
            "failure_samples": run.failures[:3], **summary_ms(run.latencies), "wall_s": round(wall, 1),
            "qps": round(len(run.latencies) / wall, 1) if wall else None, "builds_seen": run.builds,
            "mixed_responses": len(run.mixed), "mixed_samples": run.mixed[:3], "flip_backs": run.flip_backs}


def health(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/healthz")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def admin_reload(port: int) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", "/api/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def prepare(index: Path, corpus: Path, log) -> str:
    """A private index of the seeds (the bench's seed index copied when there is one, for its cache) and
    a corpus of the seeds plus EXTRA."""
    from index.lifecycle import current_id

    shutil.rmtree(index, ignore_errors=True)
    shared = SCRATCH / "index-seeds"
    if current_id(shared) is not None:
        shutil.copytree(shared, index)
    log(f"index at {index}: {ensure_index(index)}")
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(SEEDS, corpus)
    (corpus / "zz_extra.txt").write_text(EXTRA, encoding="utf-8")
    return current_id(index)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="15 s per phase instead of 60")
    ap.add_argument("--seconds", type=float, help="seconds per phase (default 60, quick 15)")
    ap.add_argument("--max-requests", type=int, default=100_000, help="request cap per phase (default 100000)")
    args = ap.parse_args(argv)
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    started = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - started:6.1f}s] {msg}", flush=True)  # noqa: E731
    info = machine()
    qs, source = questions()
    index, corpus = SCRATCH / "load-index", SCRATCH / "load-corpus"
    first = prepare(index, corpus, log)
    env = {"SPEECHQA_RELOAD_INTERVAL": str(RELOAD_INTERVAL), "SPEECHQA_RELOAD_TOKEN": TOKEN}
    results: dict = {"machine": info, "questions": {"source": source, "count": len(qs)},
                     "params": {"concurrency": CONCURRENCY, "seconds_per_phase": seconds, "k": 10,
                                "max_requests_per_phase": args.max_requests, "reload_interval_s": RELOAD_INTERVAL}}
    with Server(index, env=env, log=SCRATCH / "server-load.log") as server:
        results["startup_s"] = round(server.wait_ready(), 2)
        assert health(server.port)["build_id"] == first
        log(f"server on port {server.port} serving {first}; steady phase, {seconds:.0f} s")
        steady = Run()
        wall = drive([server.port], qs, steady, seconds_until=lambda: seconds, max_requests=args.max_requests,
                     index=index, first=first)
        results["steady"] = summarize(steady, wall)
        log(f"  {_line(results['steady'])}")

        log("reload phase: rebuild with one extra speech beside the load, watcher + admin reload")
        events: dict = {}
        phase_start = time.perf_counter()
        done = threading.Event()

        def rebuild_and_reload() -> None:
            time.sleep(min(3.0, seconds / 5))
            events["build_started_s"] = round(time.perf_counter() - phase_start, 1)
            build = subprocess.run([sys.executable, "-m", "service", "--index", str(index), "build",
                                    "--corpus", str(corpus), "-q"], capture_output=True, text=True, timeout=900)
            events["build_finished_s"] = round(time.perf_counter() - phase_start, 1)
            events["build_output"] = (build.stdout + build.stderr).strip()[-600:]
            from index.lifecycle import current_id

            new = current_id(index)
            events["new_build_id"] = new
            deadline = time.perf_counter() + 120
            while time.perf_counter() < deadline and health(server.port)["build_id"] != new:
                time.sleep(0.05)
            events["watcher_swap_seen_s"] = round(time.perf_counter() - phase_start, 1)
            events["health_after_watcher"] = health(server.port)
            time.sleep(1.0)
            status, body = admin_reload(server.port)
            events["admin_reload"] = {"http_status": status, **body}
            events["admin_reload_done_s"] = round(time.perf_counter() - phase_start, 1)
            done.set()

        worker = threading.Thread(target=rebuild_and_reload, daemon=True)
        worker.start()

        def until() -> float:
            if not done.is_set():
                return seconds + 240
            return max(seconds, events["admin_reload_done_s"] + 5)

        reload_run = Run()
        wall = drive([server.port], qs, reload_run, seconds_until=until, max_requests=args.max_requests,
                     index=index, first=first)
        worker.join(timeout=5)
        results["reload"] = summarize(reload_run, wall) | {
            "events": events, "responses_with_new_only_passages": reload_run.new_only_hits}
        log(f"  {_line(results['reload'])}")
        log(f"  events: {json.dumps({k: v for k, v in events.items() if k != 'build_output'}, ensure_ascii=False)}")
        results["server_log_tail"] = (SCRATCH / "server-load.log").read_text(errors="replace")[-1500:]

    reload_ok = (events.get("admin_reload", {}).get("http_status") == 200
                 and events.get("health_after_watcher", {}).get("build_id") == events.get("new_build_id") != first)
    results["checks"] = {
        "steady_no_failures": results["steady"]["failures"] == 0,
        "reload_no_failures": results["reload"]["failures"] == 0,
        "reload_happened": reload_ok,
        "no_mixed_responses": results["steady"]["mixed_responses"] == results["reload"]["mixed_responses"] == 0,
        "no_flip_backs": results["reload"]["flip_backs"] == 0,
        "both_builds_answered": set(results["reload"]["builds_seen"]) == {first, events.get("new_build_id")},
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    markdown = render(results)
    write_results("load", results, markdown)
    print()
    print(markdown)
    return 0 if all(results["checks"].values()) else 1


def _line(row: dict) -> str:
    return (f"{row['requests']} requests, {row['failures']} failed, p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, "
            f"p99 {row['p99_ms']} ms, {row['qps']} q/s, mixed {row['mixed_responses']}, builds {row['builds_seen']}")


def render(results: dict) -> str:
    rows = [{"phase": name, **results[name]} for name in ("steady", "reload")]
    events = results["reload"]["events"]
    lines = [
        "# bench/load.py — concurrency 16, steady and across a hot reload",
        "",
        describe(results["machine"]),
        "",
        f"GET /api/search (k=10) on the real `python -m service serve` (waitress, 4 threads) over loopback; "
        f"{results['params']['concurrency']} keep-alive http.client threads, "
        f"{results['questions']['count']} questions from {results['questions']['source']}, each made unique; "
        f"{results['params']['seconds_per_phase']:.0f} s a phase, at most "
        f"{results['params']['max_requests_per_phase']} requests. The server and the clients share the machine's "
        "cores (the rebuild too, in the second phase).",
        "",
        table(rows, ("phase", "requests", "failures", "p50_ms", "p95_ms", "p99_ms", "qps", "wall_s",
                     "mixed_responses", "flip_backs")),
        "",
        f"Reload phase: `speechqa build` of the seeds plus one extra speech started at "
        f"{events.get('build_started_s')} s "
        f"and published {events.get('new_build_id')} at {events.get('build_finished_s')} s; the watcher "
        f"(SPEECHQA_RELOAD_INTERVAL={results['params']['reload_interval_s']}) was serving it by "
        f"{events.get('watcher_swap_seen_s')} s; POST /api/admin/reload then answered "
        f"{events.get('admin_reload', {}).get('http_status')} in {events.get('admin_reload', {}).get('took_ms')} ms. "
        f"Responses per build: {results['reload']['builds_seen']}; "
        f"{results['reload']['responses_with_new_only_passages']} responses carried passages only the new build has.",
        "",
        "No mixing: every result's passage_id was checked against the passage set of the build named by the "
        "response's X-SpeechQA-Build header; a flip-back is a client seeing the old build after the new one.",
        "",
        f"Checks: {results['checks']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
