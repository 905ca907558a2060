"""Indexing throughput: `speechqa build` on the seeds and on a generated ~20k-passage corpus.

    python bench/indexing.py            # seeds, then ~20k passages (bounded to ~15 min of embedding)
    python bench/indexing.py --quick    # seeds, then ~2k passages

Each build runs as a child process (`python -m service --index <tmp> build --corpus <dir> -q`)
with the default model; wall time and peak RSS come from os.wait4's rusage. Each corpus is
built twice: the second build changes nothing and must re-embed nothing.

The larger corpus replicates the seed files with variations: long paragraphs are shuffled
within each file (headings, titles and the table of contents stay in place), the anonymised
place marker "xx" and digits are replaced, and each paragraph gets a variant-specific lead-in,
so every passage text is new and nothing is served from the embedding cache.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, SCRATCH, SEEDS, describe, machine, table, write_results  # noqa: E402

TARGET_RATE = 30.0
TARGET_REBUILD_S = 10.0
MAX_EMBED_SECONDS = 15 * 60
PLACES = ["南宁", "柳州", "桂林", "昆明", "贵阳", "成都", "重庆", "西安", "兰州", "银川", "西宁", "拉萨",
          "乌鲁木齐", "呼和浩特", "太原", "晋中", "石家庄", "济南", "青岛", "郑州", "武汉", "长沙", "南昌",
          "合肥", "南京", "苏州", "杭州", "宁波", "福州", "厦门", "广州", "深圳", "海口", "哈尔滨", "长春",
          "沈阳", "大连", "天津", "丹东", "延边"]
LONG = 60
# "built <id> in 12.3s: 11 speeches, 35 sections, 65 passages (1181 spans, 1170 distinct vectors: 611 texts
# embedded now, 570 reused …)"; older forms "(1181 span vectors: 611 texts embedded now, …)", "(1181 span
# vectors: 1181 embedded, 0 from cache)" and, before span vectors, "(65 embedded, 0 reused from cache)".
BUILT = re.compile(r"built (\S+) in ([\d.]+)s: (\d+) speeches, (\d+) sections, (\d+) passages "
                   r"\((?:(\d+) span(?:s| vectors)[^:]*: )?(\d+) (?:texts )?embedded(?: now)?, (\d+) (?:reused|from cache)")


def vary(text: str, variant: int, rng: random.Random) -> str:
    """One variation of a seed file: long paragraphs shuffled in place, places and numbers changed."""
    lines = text.splitlines()
    slots = [i for i, line in enumerate(lines) if len(line.strip()) >= LONG and "\t" not in line]
    bodies = [lines[i] for i in slots]
    rng.shuffle(bodies)
    for slot, body in zip(slots, bodies):
        place = rng.choice(PLACES)
        body = re.sub(r"xx", lambda _: rng.choice(PLACES), body)
        body = re.sub(r"\d", lambda _: str(rng.randrange(10)), body)
        lines[slot] = f"{place}第{variant}次专题会议上提出，{body.strip()}"
    return "\n".join(lines) + "\n"


def make_corpus(directory: Path, copies: int, seed: int = 7) -> list[Path]:
    """``copies`` varied copies of every seed file under ``directory`` (recreated)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    rng = random.Random(seed)
    written = []
    seeds = sorted(SEEDS.glob("*.txt"))
    for copy in range(copies):
        for path in seeds:
            target = directory / f"v{copy:04d}_{path.name}"
            target.write_text(vary(path.read_text(encoding="utf-8"), copy + 1, rng), encoding="utf-8")
            written.append(target)
    return written


def run_build(index: Path, corpus: Path, log_path: Path, timeout: float) -> dict:
    """One `build` child process: its parsed report, wall seconds, peak RSS and CPU seconds."""
    args = [sys.executable, "-m", "service", "--index", str(index), "build", "--corpus", str(corpus), "-q"]
    started = time.perf_counter()
    with open(log_path, "w") as log:
        child = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                child.kill()
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.2)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    output = log_path.read_text()
    match = BUILT.search(output)
    if child.returncode != 0 or not match:
        raise RuntimeError(f"build exited {child.returncode}: {output.strip()[-1500:]}")
    build_s, passages, embedded, reused = float(match[2]), int(match[5]), int(match[7]), int(match[8])
    vectors = int(match[6]) if match[6] else passages
    # Rates count passages: a cold build embeds every passage's vectors (all its spans).
    done = passages if embedded else 0
    return {"passages": passages, "vectors": vectors, "speeches": int(match[3]), "embedded": embedded,
            "reused": reused,
            "build_s": build_s, "wall_s": round(wall, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "passages_per_s_build": round(done / build_s, 2) if done else None,
            "passages_per_s_wall": round(done / wall, 2) if done else None,
            "vectors_per_s_build": round(embedded / build_s, 2) if embedded else None}


def twice(name: str, corpus: Path, files: int, timeout: float, log) -> list[dict]:
    """A cold build into a fresh index root, then an unchanged rebuild."""
    index = SCRATCH / f"indexing-{name}"
    shutil.rmtree(index, ignore_errors=True)
    rows = []
    for label in ("cold", "unchanged"):
        row = {"corpus": name, "files": files, "build": label,
               **run_build(index, corpus, SCRATCH / f"indexing-{name}-{label}.log", timeout)}
        log(f"  {name} {label}: {row['passages']} passages, {row['embedded']} embedded / {row['reused']} reused "
            f"in {row['build_s']}s (wall {row['wall_s']}s), peak RSS {row['peak_rss_mib']} MiB")
        rows.append(row)
    shutil.rmtree(index, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="~2k passages instead of ~20k")
    ap.add_argument("--passages", type=int, help="target passage count of the large corpus")
    ap.add_argument("--max-minutes", type=float, default=MAX_EMBED_SECONDS / 60,
                    help="embedding time the large corpus may take at the seeds' rate (default 15)")
    args = ap.parse_args(argv)
    budget = args.max_minutes * 60
    target = args.passages or (2_000 if args.quick else 20_000)
    info = machine()
    started = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - started:6.1f}s] {msg}", flush=True)  # noqa: E731
    SCRATCH.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": info, "params": {"target_passages": target, "max_embed_seconds": budget}}

    log("seeds")
    rows = twice("seeds", SEEDS, len(list(SEEDS.glob("*.txt"))), 1800, log)
    seed_passages, rate = rows[0]["passages"], rows[0]["passages_per_s_build"] or 1.0
    affordable = int(rate * budget)
    planned = min(target, affordable)
    copies = max(1, round(planned / seed_passages))
    results["plan"] = {"seed_passages": seed_passages, "seed_rate": rate, "affordable_in_15_min": affordable,
                       "copies": copies, "expected_passages": copies * seed_passages,
                       "reduced": planned < target}
    if planned < target:
        log(f"  at {rate} passages/s, {target} passages would take {target / rate / 60:.0f} min; "
            f"using {copies} copies (~{copies * seed_passages} passages) instead")
    corpus = SCRATCH / "indexing-corpus"
    files = make_corpus(corpus, copies)
    log(f"generated {len(files)} files ({copies} copies of the seeds) in {corpus}")
    rows += twice(f"varied-x{copies}", corpus, len(files), budget * 2 + 600, log)
    shutil.rmtree(corpus, ignore_errors=True)

    results["rows"] = rows
    cold = [r for r in rows if r["build"] == "cold"]
    warm = [r for r in rows if r["build"] == "unchanged"]
    results["targets"] = {
        "rate_ge_30_per_s": all((r["passages_per_s_build"] or 0) >= TARGET_RATE for r in cold),
        "unchanged_reembeds_nothing": all(r["embedded"] == 0 for r in warm),
        "unchanged_under_10s": all(r["wall_s"] < TARGET_REBUILD_S for r in warm),
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    markdown = render(results)
    write_results("indexing", results, markdown)
    print()
    print(markdown)
    return 0


COLUMNS = ("corpus", "files", "build", "passages", "vectors", "embedded", "reused", "build_s", "wall_s",
           "passages_per_s_build", "vectors_per_s_build", "peak_rss_mib", "cpu_s")


def render(results: dict) -> str:
    plan = results["plan"]
    note = (f"The large corpus was cut to {plan['copies']} copies (~{plan['expected_passages']} passages): at the seeds' "
            f"{plan['seed_rate']} passages/s, {results['params']['target_passages']} would exceed "
            f"{results['params']['max_embed_seconds'] / 60:.0f} min of embedding." if plan["reduced"] else
            f"Large corpus: {plan['copies']} varied copies of the seeds.")
    return "\n".join([
        "# bench/indexing.py — `speechqa build` throughput",
        "",
        describe(results["machine"]),
        "",
        "Default model; each build is a child process; peak RSS from os.wait4; `build_s` is the build's own "
        "report (parse → publish), `wall_s` includes interpreter and model start-up. `embedded`/`reused` count "
        "the vectors the build reports (one per span when it embeds spans); passages/s counts passages of a cold build.",
        "",
        table(results["rows"], COLUMNS),
        "",
        note,
        "",
        f"Targets: {results['targets']}",
    ])


if __name__ == "__main__":
    sys.exit(main())
