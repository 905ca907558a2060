"""Fit the fusion/confidence models on the tuning set: `python -m eval.calibration`.

For every question the searcher's arms are run once; each mode's candidates are labelled by
the gold-span rule and a logistic model is fitted per mode (index/calibrate.py). The
``answered`` threshold is chosen on five-fold out-of-fold confidences of the top hit (so it
is not fitted to the very scores it judges): the highest that flags at most 5% of the
questions whose top hit answers. Writes ``index/calibration.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eval.questions import Question, load_questions, squash
from index.calibrate import CALIBRATION, LogisticModel, choose_threshold, fit
from index.filters import Filters
from index.bilingual import has_chinese
from index.fusion import ENGLISH_FEATURES, FEATURES, candidates, feature_matrix, fuse
from index.query import parse_query

# Each mode's model sees only what that mode computes.
MODE_FEATURES = {
    "hybrid": FEATURES + ENGLISH_FEATURES,
    "dense": ("dense_rr", "dense_window_rr", "dense_cosine", "dense_gap"),
    "bm25": ("bm25_rr", "bm25_share", "coverage"),
}
MODE_ARMS = {"hybrid": ("dense", "dense_window", "bm25"), "dense": ("dense", "dense_window"), "bm25": ("bm25",)}
# Penalty on the standardised weights; 3-30 gave the same held-out ranking, 10 the best
# five-fold MRR on the tuning set (README, Quality).
L2 = 10.0
FOLDS = 5
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "index" / CALIBRATION


def mode_rows(mode: str, arms: dict) -> list[int]:
    """The rows a mode's model scores: every listed row for hybrid, the fused order otherwise."""
    if mode == "hybrid":
        return candidates(arms, depth=None)
    return [row for row, _ in fuse(arms)]


def served_query(searcher, question: str) -> tuple[str, object]:
    """What a search of ``question`` ranks, as ``Searcher.answer``'s first search serves it: the free text
    and the rows its "quoted" wording allows (None: all), the quotes dropped when no passage holds them.

    Fitting on the raw question instead scored wording the served search never ranks (a quoted
    phrase is a filter there), and the model learned from lists no user sees.
    """
    parsed = parse_query(question.strip())
    rows = searcher.library.rows(parsed, Filters())
    if rows is not None and len(rows) == 0 and parsed.without_phrases() is not None:
        parsed = parse_query(parsed.without_phrases())
        rows = searcher.library.rows(parsed, Filters())
    return parsed.ranking_text, rows


def question_data(searcher, questions: Sequence[Question]) -> list[dict]:
    """Per question: the hybrid arms, the BM25 terms, and the rows the gold spans mark relevant."""
    data = []
    for question in questions:
        text, rows = served_query(searcher, question.question)
        arms, terms, _ = searcher.arms(text, "hybrid", searcher.depth, rows)
        spans = [squash(s) for s in question.gold_spans]
        relevant = {row for row, p in enumerate(searcher.passages) if any(s in squash(p.text) for s in spans)}
        data.append({"arms": arms, "terms": terms, "relevant": relevant, "english": not has_chinese(text)})
    return data


def design(mode: str, item: dict, stats) -> tuple[list[int], np.ndarray, np.ndarray]:
    """One question's rows, feature matrix and labels for ``mode``."""
    arms = {arm: item["arms"][arm] for arm in MODE_ARMS[mode]}
    rows = mode_rows(mode, arms)
    matrix = feature_matrix(rows, arms, stats.coverage_of(item["terms"]), MODE_FEATURES[mode],
                            english=item["english"])
    return rows, matrix, np.array([row in item["relevant"] for row in rows], dtype=float)


def fit_mode(mode: str, items: list[dict], stats, *, l2: float = L2, folds: int = FOLDS) -> tuple[LogisticModel, dict]:
    """The mode's model fitted on every question, its threshold and its out-of-fold ranking figures."""
    designs = [design(mode, item, stats) for item in items]
    top_confidence, top_correct, first_ranks = [], [], []
    for fold in range(folds):
        train = [d for i, d in enumerate(designs) if i % folds != fold]
        model = fit(np.vstack([d[1] for d in train]), np.concatenate([d[2] for d in train]),
                    MODE_FEATURES[mode], l2=l2)
        for i, (rows, matrix, labels) in enumerate(designs):
            if i % folds != fold:
                continue
            probability = model.probability(matrix) if len(rows) else np.array([])
            order = np.argsort(-probability, kind="stable") if mode == "hybrid" else np.arange(len(rows))
            top_confidence.append(float(probability[order[0]]) if len(rows) else 0.0)
            top_correct.append(bool(len(rows)) and bool(labels[order[0]]))
            hits = [r for r, i_ in enumerate(order[:10], start=1) if labels[i_]]
            first_ranks.append(hits[0] if hits else None)
    model = fit(np.vstack([d[1] for d in designs]), np.concatenate([d[2] for d in designs]),
                MODE_FEATURES[mode], l2=l2)
    threshold = choose_threshold(top_confidence, top_correct)
    n = len(designs)
    report = {"out_of_fold_recall@1": sum(r == 1 for r in first_ranks) / n,
              "out_of_fold_recall@5": sum(r is not None and r <= 5 for r in first_ranks) / n,
              "out_of_fold_mrr@10": sum(1 / r for r in first_ranks if r) / n,
              "flagged": sum(c < threshold for c in top_confidence) / n,
              "flagged_with_right_top": sum(c < threshold and ok for c, ok in zip(top_confidence, top_correct)) / n}
    return LogisticModel(model.features, model.mean, model.scale, model.weights, model.bias, threshold), report


def main(argv: Sequence[str] | None = None) -> int:
    """Fit every mode's model on a question set and write the calibration JSON."""
    parser = argparse.ArgumentParser(prog="python -m eval.calibration", description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=Path("var/index"), help="index root to search")
    parser.add_argument("--questions", type=Path, default=Path(__file__).resolve().parent / "questions.jsonl",
                        help="the tuning set (never the held-out, blind or out-of-corpus sets)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to write (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    from index.embed import load_encoder
    from index.lifecycle import current_build
    from index.search import Searcher
    from index.store import FaissBm25Store

    questions = load_questions(args.questions)
    store = FaissBm25Store.load(current_build(args.index))
    # No models yet: only the arms are run, and the models are what this fits.
    searcher = Searcher(store, load_encoder(store.manifest.get("model_spec")), models={})
    items = question_data(searcher, questions)
    models, reports = {}, {}
    for mode in MODE_FEATURES:
        model, report = fit_mode(mode, items, searcher.term_stats)
        models[mode], reports[mode] = model.to_dict(), report
    payload = {"fitted_on": args.questions.name, "questions": len(questions), "l2": L2, "folds": FOLDS,
               "cross_validation": reports, "models": models}
    args.out.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(reports, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
