"""Two servers on one Milvus Lite at concurrency 16 for 60 s, with a rebuild published in the middle.

    python bench/milvus_load.py [--quick] [--seconds S]

`milvus-lite server` runs as its own process (the data under bench/out/milvus-load/); the seed
build is published to it with `python -m service --index <dir> --store <uri> build`, and two
`python -m service serve` processes on their own ports serve it (SPEECHQA_STORE=<uri>,
SPEECHQA_RELOAD_INTERVAL=0.5). Sixteen keep-alive clients, eight per server, send GET /api/search
for the eval questions (each made unique) for 60 s (`--quick`: 20 s), and at least 5 s past the
swaps; a few seconds in,
the same build command publishes the seeds plus one extra speech as version 2, and each server's
watcher must notice the new version in Milvus and swap it in by itself.

It must end with 0 failed requests, both servers on version 2, and no response mixing two
versions (every result's passage_id belongs to the build named by X-SpeechQA-Build; no client sees
the old build after the new one). Writes bench/results/milvus_load.{json,md}; scratch in bench/out/.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, SCRATCH, describe, machine, questions, table, write_results
from bench.load import CONCURRENCY, Run, _line, drive, health, prepare, summarize
from bench.server import Server
from index.milvus.lite import LiteServer

RELOAD_INTERVAL = 0.5
SERVERS = 2


def publish(index: Path, corpus: Path, uri: str) -> str:
    """`speechqa build` of ``corpus`` published to the Milvus at ``uri``; its output."""
    done = subprocess.run([sys.executable, "-m", "service", "--index", str(index), "--store", uri, "build",
                           "--corpus", str(corpus), "-q"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"build --store {uri} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20 s instead of 60")
    ap.add_argument("--seconds", type=float, help="length of the phase (default 60, quick 20)")
    ap.add_argument("--max-requests", type=int, default=100_000, help="request cap (default 100000)")
    args = ap.parse_args(argv)
    seconds = args.seconds or (20.0 if args.quick else 60.0)
    started = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - started:6.1f}s] {msg}", flush=True)  # noqa: E731
    info = machine()
    qs, source = questions()
    index, corpus, data = SCRATCH / "milvus-load-index", SCRATCH / "milvus-load-corpus", SCRATCH / "milvus-load"
    prepare(index, corpus, log)
    shutil.rmtree(data, ignore_errors=True)
    results: dict = {"machine": info, "questions": {"source": source, "count": len(qs)},
                     "params": {"concurrency": CONCURRENCY, "servers": SERVERS, "seconds": seconds, "k": 10,
                                "max_requests": args.max_requests, "reload_interval_s": RELOAD_INTERVAL}}
    seeds_only = SCRATCH / "milvus-load-seeds"
    shutil.rmtree(seeds_only, ignore_errors=True)
    shutil.copytree(corpus, seeds_only, ignore=shutil.ignore_patterns("zz_extra.txt"))
    with LiteServer(data, log=SCRATCH / "milvus-lite.log") as milvus:
        log(f"milvus-lite server at {milvus.uri}")
        results["publish_v1"] = publish(index, seeds_only, milvus.uri)
        log(results["publish_v1"].splitlines()[-1])
        env = {"SPEECHQA_STORE": milvus.uri, "SPEECHQA_RELOAD_INTERVAL": str(RELOAD_INTERVAL)}
        servers = [Server(index, env=env, log=SCRATCH / f"server-milvus-{n}.log") for n in range(SERVERS)]
        try:
            results["startup_s"] = [round(s.wait_ready(), 2) for s in servers]
            first = health(servers[0].port)
            assert first["store"]["version"] == 1 and all(health(s.port) == first for s in servers[1:])
            log(f"servers on ports {[s.port for s in servers]} serving version 1 ({first['build_id']})")
            events: dict = {}
            phase = time.perf_counter()

            def rebuild() -> None:
                time.sleep(min(5.0, seconds / 6))
                events["build_started_s"] = round(time.perf_counter() - phase, 1)
                events["build_output"] = publish(index, corpus, milvus.uri)
                events["build_finished_s"] = round(time.perf_counter() - phase, 1)
                deadline = time.perf_counter() + 120
                for server in servers:
                    while time.perf_counter() < deadline and health(server.port)["store"]["version"] != 2:
                        time.sleep(0.05)
                events["both_swapped_s"] = round(time.perf_counter() - phase, 1)
                events["health_after"] = [health(s.port) for s in servers]

            worker = threading.Thread(target=rebuild, daemon=True)
            worker.start()

            def until() -> float:
                """The phase lasts ``seconds``, and at least 5 s past both swaps (never past seconds + 240)."""
                if "both_swapped_s" not in events:
                    return seconds + 240
                return max(seconds, events["both_swapped_s"] + 5)

            run = Run()
            wall = drive([s.port for s in servers], qs, run, seconds_until=until,
                         max_requests=args.max_requests, index=index, first=first["build_id"])
            worker.join(timeout=300)
            results["load"] = summarize(run, wall) | {"events": events,
                                                      "responses_with_new_only_passages": run.new_only_hits}
            log(f"  {_line(results['load'])}")
            log(f"  events: {json.dumps({k: v for k, v in events.items() if k != 'build_output'}, ensure_ascii=False)}")
        finally:
            for server in servers:
                server.stop()
        results["server_log_tail"] = [(SCRATCH / f"server-milvus-{n}.log").read_text(errors="replace")[-1200:]
                                      for n in range(SERVERS)]
    after = events.get("health_after") or []
    results["checks"] = {
        "no_failures": results["load"]["failures"] == 0,
        "both_servers_on_version_2": len(after) == SERVERS and all(h["store"]["version"] == 2 for h in after),
        "no_mixed_responses": results["load"]["mixed_responses"] == 0,
        "no_flip_backs": results["load"]["flip_backs"] == 0,
        "both_versions_answered": len(results["load"]["builds_seen"]) == 2,
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    markdown = render(results)
    write_results("milvus_load", results, markdown)
    print()
    print(markdown)
    return 0 if all(results["checks"].values()) else 1


def render(results: dict) -> str:
    load, events = results["load"], results["load"]["events"]
    return "\n".join([
        "# bench/milvus_load.py — two servers on one Milvus Lite, concurrency 16, a rebuild in the middle",
        "",
        describe(results["machine"]),
        "",
        f"GET /api/search (k=10) against {results['params']['servers']} `python -m service serve` processes "
        f"(waitress, 4 threads each) that share one `milvus-lite server` process over loopback gRPC; "
        f"{results['params']['concurrency']} keep-alive clients, half on each server, "
        f"{results['questions']['count']} questions from {results['questions']['source']}, each made unique; "
        f"{results['params']['seconds']:.0f} s. Everything shares the machine's cores: the servers, Milvus Lite, "
        "the clients and the rebuild.",
        "",
        table([{"phase": "load + rebuild", **load}],
              ("phase", "requests", "failures", "p50_ms", "p95_ms", "p99_ms", "qps", "wall_s", "mixed_responses",
               "flip_backs")),
        "",
        f"`speechqa build --store` of the seeds plus one extra speech started at {events.get('build_started_s')} s "
        f"and had published version 2 at {events.get('build_finished_s')} s ("
        f"{(events.get('build_output') or '').splitlines()[-1:] or ['?']}); both servers' watchers "
        f"(SPEECHQA_RELOAD_INTERVAL={results['params']['reload_interval_s']}) were serving it by "
        f"{events.get('both_swapped_s')} s. Responses per build: {load['builds_seen']}; "
        f"{load['responses_with_new_only_passages']} carried passages only version 2 has.",
        "",
        f"Checks: {results['checks']}",
    ])


if __name__ == "__main__":
    sys.exit(main())
