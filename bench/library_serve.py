"""A library at scale: build a generated ≈10M-character library, then serve it beside the seeds, in one run.

    python bench/library_serve.py                   # ≈10M characters: the cold build takes ~40 min on 2 cores
    python bench/library_serve.py --chars 1000000   # a quicker look

The library is the seeds verbatim (so the eval's questions have their passages in it) plus varied
copies of them (bench/indexing.py's generator: paragraphs shuffled, places and digits changed, a
lead-in naming the place and the copy on every long paragraph), as reprints fill a real 素材库.

1. Build, skipped when ``bench/out/library-<chars>-index`` already holds the build of this very
   library together with the figures of the cold build that made it (``cold-build.json`` there):
   `python -m service build` as a child process into a fresh root — wall and CPU seconds, peak RSS,
   characters/s, span vectors and the distinct texts embedded, size on disk, 90M characters
   extrapolated at the same rate — then an unchanged rebuild, which must embed nothing. When
   another build has become current since, it is rebuilt from the cache (``--cold`` starts over).
2. Serve, always: the seeds' index and the library's, each in turn by the real `serve` process —
   seconds from spawn until it listens (index loaded, model warmed), RSS after start and after the
   load, HTTP p50/p95 at concurrency 1 on the same questions made unique, and the tuning and
   held-out sets' hybrid Recall@5 / MRR@10 through the API (`speechqa eval --url`).
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (HOLDOUT, QUESTIONS, ROOT, SCRATCH, SEEDS, describe, machine, questions,  # noqa: E402
                          release_memory, table, write_results)
from bench.indexing import BUILT, make_corpus  # noqa: E402
from bench.library import child  # noqa: E402
from bench.server import Server, ensure_index, load  # noqa: E402
from index.lifecycle import current_build, current_id  # noqa: E402
from index.store import read_manifest  # noqa: E402

LIBRARY_CHARS = 90_000_000
TARGETS = {"start_s": 5.0, "rss_mib": 2048, "p50_vs_seeds": 1.5}
COLD_BUILD = "cold-build.json"


def make_library(directory: Path, chars: int) -> tuple[list[Path], int]:
    """The seeds verbatim plus enough varied copies to reach ``chars`` characters in all."""
    seed_files = sorted(SEEDS.glob("*.txt"))
    seed_chars = sum(len(p.read_text(encoding="utf-8")) for p in seed_files)
    files = make_corpus(directory, max(1, math.ceil((chars - seed_chars) / seed_chars)))
    for path in seed_files:
        target = directory / f"orig_{path.name}"
        shutil.copyfile(path, target)
        files.append(target)
    return files, sum(len(p.read_text(encoding="utf-8")) for p in files)


def build(corpus: Path, index: Path, characters: int, log) -> dict:
    """A cold build into a fresh ``index`` root and an unchanged rebuild: the figures of both."""
    shutil.rmtree(index, ignore_errors=True)
    command = [sys.executable, "-m", "service", "--index", str(index), "build", "--corpus", str(corpus), "-q"]
    cold = child(command, SCRATCH / f"{index.name}-cold.log")
    match = BUILT.search(cold.pop("output"))
    if not match:
        raise RuntimeError("no build summary in the cold build's output")
    log(f"  cold build: {cold['wall_s']} s wall, {cold['cpu_s']} s CPU, peak RSS {cold['peak_rss_mib']} MiB")
    unchanged = rebuild(corpus, index)
    size = sum(p.stat().st_size for p in current_build(index).rglob("*") if p.is_file())
    rate = characters / cold["wall_s"]
    return {**cold, "build_id": match[1], "speeches": int(match[3]), "passages": int(match[5]),
            "span_vectors": int(match[6] or match[5]), "texts_embedded": int(match[7]),
            "distinct_vectors": current_manifest(index)["counts"].get("vectors"),
            "chars_per_s": round(rate), "90M_chars_h": round(LIBRARY_CHARS / rate / 3600, 1),
            "index_mib_on_disk": round(size / 2**20), "commit": commit(), "unchanged": unchanged}


def rebuild(corpus: Path, index: Path) -> dict:
    """Build ``index`` again from the same ``corpus``: what it cost, its id, and how much it embedded."""
    command = [sys.executable, "-m", "service", "--index", str(index), "build", "--corpus", str(corpus), "-q"]
    unchanged = child(command, SCRATCH / f"{index.name}-unchanged.log")
    again = BUILT.search(unchanged.pop("output"))
    return {**unchanged, "build_id": again[1] if again else None, "texts_embedded": int(again[7]) if again else None,
            "commit": commit()}


def commit() -> str | None:
    """The checked-out commit, so recorded figures say which code they measured."""
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or None


def current_manifest(index: Path) -> dict:
    return read_manifest(current_build(index))


def quality(port: int) -> dict:
    """Hybrid Recall@5 and MRR@10 of the tuning and held-out sets through the running server's API."""
    done = subprocess.run([sys.executable, "-m", "service", "eval", "--url", f"http://127.0.0.1:{port}", "--json",
                           "--mode", "hybrid", "--questions", str(QUESTIONS), str(HOLDOUT)],
                          cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"eval failed: {done.stderr.strip()[-1500:]}")
    return {Path(s["questions"]).stem: {"recall@5": round(s["metrics"]["recall@5"], 3),
                                        "mrr@10": round(s["metrics"]["mrr@10"], 3)}
            for s in json.loads(done.stdout)["sets"]}


def serve(name: str, index: Path, qs: list[str], seconds: float, log) -> dict:
    """Start the real server on ``index``, time its start, load it at concurrency 1, score it."""
    release_memory()
    with Server(index, log=SCRATCH / f"library-serve-{name}.log") as server:
        start_s = server.wait_ready(timeout=600)
        rss_start = server.rss()
        latency = load(server.port, qs, concurrency=1, seconds=seconds)
        scores = quality(server.port)
        row = {"index": name, "start_s": round(start_s, 2), "rss_start_mib": round(rss_start / 2**20),
               "rss_end_mib": round(server.rss() / 2**20), "n": latency["n"], "p50_ms": latency["p50_ms"],
               "p95_ms": latency["p95_ms"], "errors": latency["errors"],
               **{f"{set_}_{metric}": value for set_, metrics in scores.items() for metric, value in metrics.items()}}
    log(f"  {name}: {row}")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=10_000_000, help="library size in characters (default 10M)")
    parser.add_argument("--seconds", type=float, default=30, help="load per index, seconds (default 30)")
    parser.add_argument("--cold", action="store_true", help="build the library cold even when a recorded build exists")
    args = parser.parse_args(argv)
    log = lambda text: print(text, flush=True)  # noqa: E731
    started = time.perf_counter()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    label = f"{args.chars // 1_000_000}m" if args.chars >= 1_000_000 else f"{args.chars // 1000}k"
    corpus, index = SCRATCH / f"library-{label}-corpus", SCRATCH / f"library-{label}-index"
    files, characters = make_library(corpus, args.chars)
    log(f"library: {len(files)} files, {characters:,} characters")
    recorded = index / COLD_BUILD
    cold = json.loads(recorded.read_text()) if recorded.exists() else None
    # The generator is seeded, so the same size is the same library. The build served is an unchanged
    # rebuild after the recorded cold one; when another build has become current since (a new
    # index format, a build by hand), this code builds it again from the embedding cache instead of
    # throwing away the root and 40 minutes of vectors.
    if cold is not None and cold["characters"] == characters and not args.cold:
        if current_id(index) != cold["unchanged"]["build_id"]:
            log("another build is current: building it again with this code (embeds nothing) …")
            cold["unchanged"] = rebuild(corpus, index)
            recorded.write_text(json.dumps(cold, indent=1))
        log(f"build {cold['unchanged']['build_id']} of this library is current: its cold-build figures are reused")
    else:
        log("cold build (fresh root) …")
        cold = {"characters": characters, "files": len(files), **build(corpus, index, characters, log)}
        recorded.write_text(json.dumps(cold, indent=1))
    seeds_index = SCRATCH / "library-seeds-index"
    ensure_index(seeds_index, SEEDS)
    qs, source = questions()
    rows = []
    for name, root in (("seeds", seeds_index), (label, index), ("seeds, again", seeds_index)):
        rows.append(serve(name, root, qs, args.seconds, log))
    seeds_p50 = min(r["p50_ms"] for r in rows if r["index"].startswith("seeds"))
    big = rows[1]
    results = {
        "machine": machine(), "params": {"chars": args.chars, "seconds": args.seconds, "questions": source},
        "cold_build": cold, "rows": rows,
        "targets": {"start_le_5s": big["start_s"] <= TARGETS["start_s"],
                    "rss_le_2gb": max(big["rss_start_mib"], big["rss_end_mib"]) <= TARGETS["rss_mib"],
                    "p50_le_1.5x_seeds": big["p50_ms"] <= TARGETS["p50_vs_seeds"] * seeds_p50,
                    "unchanged_embeds_nothing": cold["unchanged"]["texts_embedded"] == 0},
        "seconds": round(time.perf_counter() - started, 1),
    }
    markdown = render(results)
    write_results(f"library_serve-{label}", results, markdown)
    print()
    print(markdown)
    return 0


BUILD_COLUMNS = ("characters", "files", "speeches", "passages", "span_vectors", "distinct_vectors", "texts_embedded",
                 "wall_s", "cpu_s", "peak_rss_mib", "chars_per_s", "90M_chars_h", "index_mib_on_disk")
SERVE_COLUMNS = ("index", "start_s", "rss_start_mib", "rss_end_mib", "n", "p50_ms", "p95_ms", "errors",
                 "questions_recall@5", "questions_mrr@10", "holdout_recall@5", "holdout_mrr@10")


def render(results: dict) -> str:
    cold = results["cold_build"]
    return "\n".join([
        "# bench/library_serve.py — a generated library built, then served beside the seeds",
        "",
        describe(results["machine"]),
        "",
        f"Cold build (`python -m service build` into a fresh root, one child process, code {cold.get('commit')}; "
        f"the unchanged rebuild served, code {cold['unchanged'].get('commit')}, took {cold['unchanged']['wall_s']} s "
        f"and embedded {cold['unchanged']['texts_embedded']} texts):",
        "",
        table([cold], BUILD_COLUMNS),
        "",
        f"Serving, each index in turn by the real server, {results['params']['seconds']} s at concurrency 1 on "
        f"unique questions ({results['params']['questions']}); quality is hybrid through the API:",
        "",
        table(results["rows"], SERVE_COLUMNS),
        "",
        f"Targets (start ≤ {TARGETS['start_s']} s, RSS ≤ 2 GiB, p50 ≤ {TARGETS['p50_vs_seeds']}× the seeds' "
        f"better p50): {results['targets']}",
    ])


if __name__ == "__main__":
    sys.exit(main())
