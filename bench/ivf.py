"""Exact scan vs inverted file (IVF) on a built library, in one process: quality and dense-search time.

    python bench/ivf.py                                   # the 10M library of bench/library_serve.py
    python bench/ivf.py --index bench/out/library-10m-index --lists 1024 --probes 16,32,64

By default the IVF is the one a build makes (``store.ivf_lists`` lists) with the probed share a
build sets, half and twice it.

The current build's distinct span vectors are read back from its dense index and searched as an
exact ``IndexFlatIP`` and as the IVF a build makes (8-bit codes, ``store.IVF_ENCODING``; with
``--fp32-lists`` also as an fp32 ``IndexIVFFlat``) with each number of probed lists (a filtered
search probes every list, as index/store.py does). Quality is the eval's hybrid Recall@1/@5 and MRR@10 of
the tuning and held-out sets (or the ``--questions`` given) in-process (result text only, as through the
API); time is the store's ``dense_search`` (FAISS plus expanding the found vectors to passages) at one
OpenMP thread, p50 over those questions' vectors.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import HOLDOUT, QUESTIONS, ROOT, SCRATCH, describe, machine, table, write_results  # noqa: E402
from eval.backends import LocalSearch  # noqa: E402
from eval.questions import load_questions  # noqa: E402
from eval.scoring import evaluate  # noqa: E402
from index import store as stores  # noqa: E402

COLUMNS = ("index", "lists", "probed", "recall@1", "recall@5", "mrr@10", "dense_search_p50_ms")


def measure(search: LocalSearch, name: str, lists: int | None, probed: int | None, questions) -> dict:
    searcher = search._searcher
    metrics = evaluate(questions, search, mode="hybrid")["metrics"]
    vectors = [searcher.query_vector(q.question, searcher.lexical_terms(q.question)) for q in questions]
    times = []
    for vector in vectors:
        started = time.perf_counter()
        searcher.store.dense_search(vector, searcher.depth)
        times.append(time.perf_counter() - started)
    return {"index": name, "lists": lists, "probed": probed, "recall@1": round(metrics["recall@1"], 3),
            "recall@5": round(metrics["recall@5"], 3), "mrr@10": round(metrics["mrr@10"], 3),
            "dense_search_p50_ms": round(1000 * float(np.median(times)), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=str(SCRATCH / "library-10m-index"), help="index root (built)")
    parser.add_argument("--lists", type=int, help="IVF lists (default: what a build makes, store.ivf_lists)")
    parser.add_argument("--probes", help="probed lists to try, comma-separated (default: a build's share, "
                                         "half and twice it)")
    parser.add_argument("--vectors-of", type=Path, metavar="BUILD_DIR",
                        help="read the vectors from this build of the same library (e.g. one made before 8-bit "
                             "codes, whose dense index holds them in fp32) instead of the current build's")
    parser.add_argument("--fp32-lists", action="store_true",
                        help="also an IVF keeping fp32 vectors (IndexIVFFlat), the encoding before 8-bit codes")
    parser.add_argument("--trained-on", type=float, metavar="SHARE",
                        help="also the IVF a build keeps when the library has grown since its lists were trained: "
                             "trained on the first SHARE of the vectors (e.g. 0.8), filled with all, probed as a "
                             "build probes it")
    parser.add_argument("--questions", type=Path, nargs="+", default=[QUESTIONS, HOLDOUT],
                        help="question sets, scored together (default: the tuning and held-out sets)")
    args = parser.parse_args(argv)
    faiss.omp_set_num_threads(1)  # as `speechqa serve` searches
    search = LocalSearch(args.index)
    store = search._searcher.store
    questions = [q for path in args.questions for q in load_questions(path)]
    source = faiss.read_index(str(args.vectors_of / stores.DENSE)) if args.vectors_of else store.dense
    if source.ntotal != store.dense.ntotal:
        parser.error(f"{args.vectors_of} holds {source.ntotal:,} vectors, the current build {store.dense.ntotal:,}")
    vectors = source.reconstruct_n(0, source.ntotal)
    lists = args.lists or stores.ivf_lists(len(vectors))
    shipped = max(1, lists // stores.IVF_PROBED_SHARE)
    probes = [int(p) for p in args.probes.split(",")] if args.probes else [max(1, shipped // 2), shipped, 2 * shipped]
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    store.dense = exact
    rows = [measure(search, "exact", None, None, questions)]
    print(rows[-1], flush=True)
    dim = vectors.shape[1]
    encodings = {"ivf": faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, lists, stores.IVF_ENCODING,
                                                      faiss.METRIC_INNER_PRODUCT)}
    if args.fp32_lists:
        encodings["ivf, fp32 lists"] = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists,
                                                          faiss.METRIC_INNER_PRODUCT)
    for name, inverted in encodings.items():
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # training may use every core
        inverted.train(vectors)
        inverted.add(vectors)
        inverted.make_direct_map()
        faiss.omp_set_num_threads(1)
        store.dense = inverted
        for probed in probes:
            inverted.nprobe = probed
            rows.append(measure(search, name, lists, probed, questions))
            print(rows[-1], flush=True)
    if args.trained_on:
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        older = stores.make_dense_index(vectors[:int(len(vectors) * args.trained_on)])
        store.dense = stores.make_dense_index(vectors, trained=older)
        faiss.omp_set_num_threads(1)
        rows.append(measure(search, f"ivf trained on the first {args.trained_on:.0%}", store.dense.nlist,
                            store.dense.nprobe, questions))
        print(rows[-1], flush=True)
    display = os.path.relpath(args.index, ROOT)
    sets = [Path(path).name for path in args.questions]
    results = {"machine": machine(), "index": display, "vectors": int(store.dense.ntotal),
               "questions": len(questions), "sets": sets, "rows": rows}
    markdown = "\n".join([
        "# bench/ivf.py — exact scan vs IVF on one built library",
        "", describe(results["machine"]), "",
        f"Index {display}: {results['vectors']:,} distinct span vectors"
        + (f" (read from {os.path.relpath(args.vectors_of, ROOT)})" if args.vectors_of else "")
        + f"; {len(questions)} questions "
        f"({', '.join(sets)}), hybrid, in-process; dense search at one OpenMP thread.", "",
        *([f"The last row's lists were trained on the first {args.trained_on:.0%} of the vectors and hold all of "
           "them, as a build that keeps its IVF's training after the library grew (index/store.py "
           "IVF_RETRAIN_GROWTH).", ""] if args.trained_on else []),
        table(rows, COLUMNS)])
    default_sets = [Path(QUESTIONS).name, Path(HOLDOUT).name]
    write_results(f"ivf-{Path(args.index).name}" + ("" if sets == default_sets else "-" + "-".join(
        Path(name).stem for name in sets)) + (f"-trained-on-{args.trained_on:g}" if args.trained_on else ""),
        results, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
