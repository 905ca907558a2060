"""Do searches through Milvus rank as the FAISS ones do? Both question sets, hybrid and dense.

    python bench/milvus_quality.py

The seed build is published to a fresh Milvus Lite file and every question of eval/questions.jsonl
and eval/holdout.jsonl is asked of both stores: how often the top passage agrees, how often the whole
top 10 is the same list, and each store's Recall@5 / MRR@10 (eval/scoring.py). Then the seeds plus one
extra speech are published, and the seeds again: the newest version holds exactly the seeds, but the
extra speech's rows stay for rollback, and Milvus's BM25 counts them in its corpus statistics; the
third column measures what that costs. Also timed: each publish (a full one, one speech added, it
removed, an unchanged one) and the dense search with and without the version filter. Writes
bench/results/milvus_quality.{json,md}.
"""
from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import HOLDOUT, QUESTIONS, ROOT, SCRATCH, SEEDS, describe, machine, table, write_results
from bench.load import EXTRA
from bench.server import ensure_index
from index.milvus.schema import alive

MODES = ("hybrid", "dense")
TOP = 10
REPEATS = 30


def recorder(searcher, log: dict):
    """An eval backend over ``searcher`` that keeps each question's ranked passage ids."""
    from index.search import hit_to_dict

    def search(query: str, k: int, mode: str) -> list[dict]:
        results = [hit_to_dict(hit, searcher.speech(hit.passage.speech_id))
                   for hit in searcher.search(query, k=k, mode=mode)]
        log[(query, mode)] = [(r["passage_id"], round(r["score"], 9)) for r in results[:TOP]]
        return results

    return search


def untied(found: list[tuple[str, float]]) -> list[str]:
    """A ranking's passage ids with each run of exactly equal scores (by its own engine) in id order."""
    return [passage for _, passage in sorted(((-score, passage) for passage, score in found))]


def timed(publish) -> dict:
    """A publish's report and wall seconds."""
    started = time.perf_counter()
    report = publish()
    return {"seconds": round(time.perf_counter() - started, 2), "version": report.version,
            "inserted": report.inserted, "closed": report.closed, "deleted": report.deleted}


def filter_cost(store, encoder, repeats: int = REPEATS) -> dict:
    """Median ms of the store's dense span search with the version filter and without it (same query, same depth)."""
    vector = encoder.encode_queries(["如何保障粮食安全？"])[0].tolist()
    depth = min(4000, len(store.units))

    def median_ms(expression: str) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            store.connection.call("search", store.names.spans, data=[vector], anns_field="vector", limit=depth,
                                  filter=expression, search_params={"metric_type": "IP"},
                                  output_fields=["passage_id", "start", "end", "view"])
            times.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(times), 2)

    return {"spans": len(store.units), "limit": depth, "repeats": repeats,
            "version_filter": median_ms(alive(store.version)), "no_filter": median_ms("")}


def main() -> int:
    from eval.questions import load_questions
    from eval.scoring import evaluate
    from index.build import build
    from index.embed import load_encoder
    from index.lifecycle import current_build
    from index.milvus import MilvusIndex
    from index.search import Searcher
    from index.store import FaissBm25Store

    info = machine()
    index = SCRATCH / "milvus-quality-index"
    ensure_index(index)
    encoder = load_encoder()
    seeds = FaissBm25Store.load(current_build(index))
    database = SCRATCH / "milvus-quality.db"
    shutil.rmtree(database, ignore_errors=True)
    milvus = MilvusIndex(str(database))
    costs = {"publish_all": timed(lambda: milvus.publish(seeds))}
    stores = {"faiss": Searcher(seeds, encoder), "milvus": Searcher(milvus.open(), encoder)}
    costs["search_ms"] = filter_cost(stores["milvus"].store, encoder)

    corpus = SCRATCH / "milvus-quality-corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(SEEDS, corpus)
    (corpus / "zz_extra.txt").write_text(EXTRA, encoding="utf-8")
    grown = FaissBm25Store.load(build([corpus], index, encoder=encoder).directory)
    costs["publish_one_speech_added"] = timed(lambda: milvus.publish(grown))
    shrunk = FaissBm25Store.load(build([SEEDS], index, encoder=encoder).directory)
    costs["publish_it_removed"] = timed(lambda: milvus.publish(shrunk))
    costs["publish_unchanged"] = timed(lambda: milvus.publish(shrunk))
    stores["milvus_after_rebuilds"] = Searcher(milvus.open(), encoder)
    assert stores["milvus_after_rebuilds"].passages == seeds.passages and milvus.current_version() == 3

    rows, per_set = [], {}
    for path in (QUESTIONS, HOLDOUT):
        questions = load_questions(path)
        name = path.relative_to(ROOT).as_posix()
        for mode in MODES:
            ranked: dict[str, dict] = {}
            metrics = {}
            for store, searcher in stores.items():
                ranked[store] = {}
                metrics[store] = evaluate(questions, recorder(searcher, ranked[store]), mode=mode)["metrics"]
            keys = list(ranked["faiss"])
            ids = {store: {q: [i for i, _ in found] for q, found in lists.items()} for store, lists in ranked.items()}
            row = {"set": name, "mode": mode, "n": len(questions)}
            for store in ("milvus", "milvus_after_rebuilds"):
                row[f"top1_agree_{store}"] = round(sum(ids[store][q][:1] == ids["faiss"][q][:1] for q in keys)
                                                   / len(keys), 3)
                row[f"top10_equal_{store}"] = round(sum(ids[store][q] == ids["faiss"][q] for q in keys)
                                                    / len(keys), 3)
                # the same list once passages with exactly the same score are put in id order
                row[f"top10_equal_but_ties_{store}"] = round(sum(untied(ranked[store][q]) == untied(ranked["faiss"][q])
                                                                 for q in keys) / len(keys), 3)
            for store in stores:
                row[f"recall@5_{store}"] = round(metrics[store]["recall@5"], 3)
                row[f"mrr@10_{store}"] = round(metrics[store]["mrr@10"], 3)
            rows.append(row)
            per_set[f"{name} {mode}"] = {"metrics": metrics, "disagreements": [
                {"question": q, "faiss": ranked["faiss"][(q, m)][:3], "milvus": ranked["milvus"][(q, m)][:3]}
                for q, m in keys if ids["milvus"][(q, m)][:1] != ids["faiss"][(q, m)][:1]]}
    results = {"machine": info, "rows": rows, "costs": costs, "details": per_set}
    columns = ("set", "mode", "n", "top1_agree_milvus", "top10_equal_milvus", "top10_equal_but_ties_milvus",
               "recall@5_faiss", "recall@5_milvus",
               "mrr@10_faiss", "mrr@10_milvus", "top1_agree_milvus_after_rebuilds", "recall@5_milvus_after_rebuilds",
               "mrr@10_milvus_after_rebuilds")
    markdown = "\n".join([
        "# bench/milvus_quality.py — the same questions through Milvus Lite and through FAISS",
        "",
        describe(info),
        "",
        "top1_agree: share of questions whose first passage is the same; top10_equal: share whose whole "
        "top 10 is the same list; top10_equal_but_ties: the same once passages of exactly equal score are "
        "put in id order (which of two tied passages comes first is each engine's own). `milvus_after_rebuilds`: the seeds published again after a version "
        "with one extra speech, whose rows Milvus keeps for rollback and counts in BM25's statistics.",
        "",
        table(rows, columns),
        "",
        "## What the version field costs (one run, Milvus Lite in process)",
        "",
        table([{"publish": name, **costs[name]} for name in
               ("publish_all", "publish_one_speech_added", "publish_it_removed", "publish_unchanged")],
              ("publish", "seconds", "version", "inserted", "closed", "deleted")),
        "",
        f"A collection per version behind an alias would write every row for each version, as publish_all "
        f"does. Dense span search, median of {costs['search_ms']['repeats']} ({costs['search_ms']['spans']} spans, "
        f"limit {costs['search_ms']['limit']}): {costs['search_ms']['version_filter']} ms with the version filter, "
        f"{costs['search_ms']['no_filter']} ms without.",
    ])
    write_results("milvus_quality", results, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
