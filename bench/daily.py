"""A day's intake: about a thousand new articles built into a served library while its server answers.

    python bench/daily.py                      # 1,000 new speeches into the 10M-character library
    python bench/daily.py --library 1m --articles 100 --seconds 10    # a quicker look

A 素材库 grows by about a thousand articles a day, and its readers keep asking while the day's
articles go in. The library is bench/library_serve.py's (built there first: `python
bench/library_serve.py --chars 10000000`); this run never touches its root.

1. Its index root is copied to a private one and its files linked into a private corpus, beside a
   folder ``day-1/`` of new speeches: varied copies of the seeds (bench/indexing.py's generator, with
   another seed) whose every sentence carries its copy's mark (bench/library.py ``--distinct``), so
   that none is in the embedding cache. Every sentence of the day is new text, the costly case; a
   real day's reprints and stock phrases would cost less.
2. The real server starts on the private root (watching its CURRENT every 2 s, as by default) and
   one client asks it ``--rate`` unique questions a second (default 2) for ``--seconds``: *before*.
3. `python -m service build --corpus <library + day-1>` runs as a child process while the same load
   goes on, until the server names the new build in /healthz: *during* — the requests answered and
   failed, their p50/p95, the build's wall and CPU seconds, peak RSS and what it embedded, and the
   seconds from the build's end until the server answered from the new build.
4. The same load on the new build: *after*. Then nothing lost: a sample of the day's sentences,
   each searched as a quoted phrase, must each come back in a passage that holds it; and the tuning
   and held-out sets' hybrid Recall@5 / MRR@10 through the API.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SCRATCH, SEEDS, describe, machine, questions, table, write_results  # noqa: E402
from bench.indexing import BUILT, make_corpus  # noqa: E402
from bench.library import child, make_distinct  # noqa: E402
from bench.library_serve import COLD_BUILD, commit, quality  # noqa: E402
from bench.load import health  # noqa: E402
from bench.server import Server, connect, ensure_index, get, load  # noqa: E402
from index.query import squash  # noqa: E402

DAY = "day-1"
# Seeds of the day's generator and of the sentence sample, so that a rerun writes the same day.
DAY_SEED = 20261206
SAMPLE_SEED = 5
PHRASES_CHECKED = 60
# Readers asking while the day goes in: a question every half second, a busy reading room; unpaced,
# one client alone kept a core busy and the 10M library's day took 818 s to build on the Zen 5 EPYC.
RATE = 2.0
SWAP_TIMEOUT_S = 300
# A whole sentence with its mark and no quotation marks of its own, so that it can be quoted as a phrase.
MARKED_SENTENCE = re.compile(r"(?<=[。！？；\n])[^。！？；\n“”‘’「」\"']{12,80}（v\d{4}）")


def speeches_per_copy() -> int:
    """How many speeches one copy of the seeds holds (what the parser finds in them)."""
    from index.parse import load_corpus

    speeches, _ = load_corpus(SEEDS)
    return len(speeches)


def prepare(library: str, corpus: Path, index: Path, articles: int, log) -> tuple[list[Path], int]:
    """The private root and corpus: the library's files linked, the day's articles written under DAY
    (returned with their characters)."""
    shutil.rmtree(index, ignore_errors=True)
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(SCRATCH / f"library-{library}-index", index)
    corpus.mkdir(parents=True)
    for path in sorted((SCRATCH / f"library-{library}-corpus").glob("*.txt")):
        os.link(path, corpus / path.name)
    copies = math.ceil(articles / speeches_per_copy())
    day = make_corpus(corpus / DAY, copies, seed=DAY_SEED)
    make_distinct(day)
    characters = sum(len(p.read_text(encoding="utf-8")) for p in day)
    log(f"  the day: {copies} copies of the seeds, {len(day)} files, {characters:,} characters")
    return day, characters


def phrase_sample(day_folder: Path, count: int) -> tuple[list[str], int]:
    """``count`` sentences of the day's speeches as the parser keeps them, each ending in its copy's
    mark, chosen by a fixed seed; and how many lines the parser named as left out (the generator
    copies the seeds' advertisements too)."""
    from index.parse import load_corpus

    speeches, warnings = load_corpus(day_folder)
    found = [m.group(0).strip() for speech in speeches for block in speech.blocks
             for m in MARKED_SENTENCE.finditer("\n" + block.text)]
    left_out = sum("left out as an advertisement" in warning for warning in warnings)
    return random.Random(SAMPLE_SEED).sample(found, min(count, len(found))), left_out


def phrases_found(port: int, sentences: list[str]) -> dict:
    """Each sentence searched as a quoted phrase: how many come back in a passage that holds them."""
    conn = connect(port)
    missing = []
    for sentence in sentences:
        status, body = get(conn, "/api/search?" + urllib.parse.urlencode({"q": f'"{sentence}"', "k": 3}))
        results = json.loads(body)["results"] if status == 200 else []
        if not any(squash(sentence) in squash(r["text"]) for r in results):
            missing.append(sentence)
    conn.close()
    return {"checked": len(sentences), "found": len(sentences) - len(missing), "missing_samples": missing[:3]}


def build_beside_load(server: Server, index: Path, corpus: Path, qs: list[str], old: str, rate: float, log) -> dict:
    """The day's build as a child process while concurrency-1 load runs, until the server serves it."""
    stop = threading.Event()
    outcome: dict = {}

    def build_and_wait() -> None:
        try:
            command = [sys.executable, "-m", "service", "--index", str(index), "build", "--corpus", str(corpus), "-q"]
            outcome["build"] = child(command, SCRATCH / "daily-build.log")
            finished = time.perf_counter()
            deadline = finished + SWAP_TIMEOUT_S
            while time.perf_counter() < deadline and health(server.port)["build_id"] == old:
                time.sleep(0.05)
            outcome["swap_after_build_s"] = round(time.perf_counter() - finished, 2)
        except Exception as exc:  # reported with the results: the load must stop either way
            outcome["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            stop.set()

    worker = threading.Thread(target=build_and_wait, daemon=True)
    worker.start()
    during = load(server.port, qs, concurrency=1, stop=stop, rate=rate)
    worker.join()
    if "error" in outcome:
        raise RuntimeError(f"the day's build failed: {outcome['error']}")
    build = outcome["build"]
    match = BUILT.search(build.pop("output"))
    if not match:
        raise RuntimeError("no build summary in the day's build output")
    log(f"  build {match[1]}: {build['wall_s']} s wall, {build['cpu_s']} s CPU, peak RSS {build['peak_rss_mib']} MiB; "
        f"served {outcome['swap_after_build_s']} s after it ended")
    return {"build": {**build, "build_id": match[1], "speeches": int(match[3]), "passages": int(match[5]),
                      "texts_embedded": int(match[7]), "reused": int(match[8])},
            "swap_after_build_s": outcome["swap_after_build_s"], "during": during}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", default="10m", help="which bench/library_serve.py library (default 10m)")
    parser.add_argument("--articles", type=int, default=1000, help="new speeches in the day (default 1000)")
    parser.add_argument("--seconds", type=float, default=30, help="load before and after the build, seconds")
    parser.add_argument("--rate", type=float, default=RATE,
                        help=f"questions a second, throughout (default {RATE:g}; 0: each as soon as the last is answered)")
    args = parser.parse_args(argv)
    log = lambda text: print(text, flush=True)  # noqa: E731
    started = time.perf_counter()
    library = args.library
    if not (SCRATCH / f"library-{library}-index" / COLD_BUILD).exists():
        parser.error(f"no built library {args.library!r}: run `python bench/library_serve.py --chars N` first "
                     f"(bench/out/library-{library}-index)")
    corpus, index = SCRATCH / "daily-corpus", SCRATCH / "daily-index"
    log(f"copying the {args.library} library's root, writing the day …")
    day, day_chars = prepare(library, corpus, index, args.articles, log)
    log("bringing the copy up to this code (an unchanged library embeds nothing) …")
    base = BUILT.search(ensure_index(index, SCRATCH / f"library-{library}-corpus"))
    qs, source = questions()
    with Server(index, log=SCRATCH / "daily-server.log") as server:
        start_s = server.wait_ready(timeout=600)
        old = health(server.port)["build_id"]
        rss_before = server.rss()
        before = load(server.port, qs, concurrency=1, seconds=args.seconds, rate=args.rate)
        log(f"  before: {before['n']} requests, p50 {before['p50_ms']} ms, p95 {before['p95_ms']} ms")
        day_build = build_beside_load(server, index, corpus, qs, old, args.rate, log)
        during = day_build["during"]
        log(f"  during: {during['n']} requests, {during['errors']} errors, p50 {during['p50_ms']} ms, "
            f"p95 {during['p95_ms']} ms")
        after = load(server.port, qs, concurrency=1, seconds=args.seconds, rate=args.rate)
        log(f"  after: {after['n']} requests, p50 {after['p50_ms']} ms, p95 {after['p95_ms']} ms")
        sample, left_out = phrase_sample(corpus / DAY, PHRASES_CHECKED)
        found = phrases_found(server.port, sample) | {"ads_left_out_with_a_warning": left_out}
        log(f"  the day's sentences as quoted phrases: {found['found']} of {found['checked']} found")
        scores = quality(server.port)
        rss_after = server.rss()
    build = day_build["build"]
    results = {
        "machine": machine(), "commit": commit(),
        "params": {"library": args.library, "articles": args.articles, "seconds": args.seconds, "rate": args.rate,
                   "questions": source},
        "library": {"speeches": int(base[3]), "passages": int(base[5])},
        "day": {"files": len(day), "characters": day_chars, "speeches": build["speeches"] - int(base[3]),
                "passages": build["passages"] - int(base[5])},
        "build": build | {"new_chars_per_s": round(day_chars / build["wall_s"])},
        "swap_after_build_s": day_build["swap_after_build_s"],
        "server": {"start_s": round(start_s, 2), "rss_before_mib": round(rss_before / 2**20),
                   "rss_after_mib": round(rss_after / 2**20)},
        "rows": [{"phase": name, **{key: row[key] for key in LOAD_COLUMNS[1:]}}
                 for name, row in (("before", before), ("during the build", during), ("after", after))],
        "phrases": found, "quality_after": scores,
        "checks": {"no_errors": before["errors"] == during["errors"] == after["errors"] == 0,
                   "new_build_served": day_build["swap_after_build_s"] < SWAP_TIMEOUT_S,
                   "every_day_sentence_found": found["found"] == found["checked"]},
        "seconds": round(time.perf_counter() - started, 1),
    }
    markdown = render(results)
    write_results(f"daily-{library}", results, markdown)
    print()
    print(markdown)
    return 0 if all(results["checks"].values()) else 1


LOAD_COLUMNS = ("phase", "n", "errors", "p50_ms", "p95_ms", "p99_ms", "qps")
BUILD_COLUMNS = ("wall_s", "cpu_s", "peak_rss_mib", "texts_embedded", "reused", "new_chars_per_s")


def render(results: dict) -> str:
    day, library, build = results["day"], results["library"], results["build"]
    return "\n".join([
        f"# bench/daily.py — a day's intake into the {results['params']['library']} library while it is served",
        "",
        describe(results["machine"]),
        "",
        f"Code {results['commit']}. The library: {library['speeches']:,} speeches, {library['passages']:,} passages. "
        f"The day: {day['files']} files, {day['characters']:,} characters, {day['speeches']:,} speeches and "
        f"{day['passages']:,} passages added, every sentence new text (none in the embedding cache).",
        "",
        "The day's build (`python -m service build`, one child process, beside the load):",
        "",
        table([build], BUILD_COLUMNS),
        "",
        f"The server (started in {results['server']['start_s']} s, RSS {results['server']['rss_before_mib']} → "
        f"{results['server']['rss_after_mib']} MiB) answered from the new build "
        f"{results['swap_after_build_s']} s after the build ended. One client, "
        f"{results['params']['rate'] or 'as fast as answered'} questions a second, unique questions "
        f"({results['params']['questions']}), {results['params']['seconds']:.0f} s before and after; during = "
        "from the build's start until the server named the new build:",
        "",
        table(results["rows"], LOAD_COLUMNS),
        "",
        f"The day's sentences (as the parser keeps them: it named {results['phrases']['ads_left_out_with_a_warning']} "
        "advertisement lines it left out) searched as quoted phrases: "
        f"{results['phrases']['found']} of {results['phrases']['checked']} found in a passage that holds them. "
        "Hybrid through the API after the "
        f"day: {results['quality_after']}.",
        "",
        f"Checks: {results['checks']}",
    ])


if __name__ == "__main__":
    sys.exit(main())
