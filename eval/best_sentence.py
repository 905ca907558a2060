"""How often the sentence a result underlines is the one that answers: before and after mixing evidence.

``python -m eval.best_sentence --index DIR [--labels eval/best_sentence.jsonl]`` prints a Markdown table.

A label names a question, a verbatim ``locator`` that finds its passage, and the ``answers``
(verbatim sentences, any of which counts). Rows with ``"passage": "gold"`` are the tuning set's own
gold passages, labelled with the sentences that hold its gold spans; ``"retrieved #n"`` rows are
other passages a search ranked n-th, judged by hand. No model call beyond one query encoding each:
sentence cosines come from the index's stored vectors.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from eval.questions import squash
from index.lexical import tokenize
from service import highlight as hl

DEFAULT_LABELS = Path(__file__).with_name("best_sentence.jsonl")


def lexical_first(text: str, terms: Sequence[str], hint: Sequence[int] | None, scores) -> dict:
    """The rule this replaced, kept as the baseline: most query terms wins, the dense best sentence breaks ties."""
    spans = hl.split_sentences(text)
    overlaps = hl.sentence_overlaps(text, spans, terms)
    tied = [i for i, overlap in enumerate(overlaps) if overlap == max(overlaps)]
    best = tied[0]
    if len(tied) > 1 and hint is not None:
        shared = [max(0, min(spans[i][1], hint[1]) - max(spans[i][0], hint[0])) for i in tied]
        if max(shared) > 0:
            best = tied[shared.index(max(shared))]
    return {"start": spans[best][0], "end": spans[best][1]}


def dense_only(text, terms, hint, scores) -> dict:
    """The dense arm's best sentence alone."""
    spans = hl.split_sentences(text)
    start, end = spans[int(np.argmax(scores))]
    return {"start": start, "end": end}


def mixed(text, terms, hint, scores) -> dict:
    """What the service does now (``highlight.best_sentence`` with sentence cosines)."""
    return hl.best_sentence(text, terms, hint, scores)


RULES: dict[str, Callable] = {"lexical first (before)": lexical_first, "dense only": dense_only,
                              "mixed (after)": mixed}


def load_labels(path: Path) -> list[dict]:
    """The labelled items of a JSON Lines file."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def measure(store, encoder, labels: Sequence[dict]) -> dict[str, dict[str, list[bool]]]:
    """Per rule, per bucket (all, passage kind, language), whether each item's chosen sentence is an answer."""
    from index.related import sentence_scores

    found = defaultdict(lambda: defaultdict(list))
    vectors = encoder.encode_queries([item["question"] for item in labels])
    for item, vector in zip(labels, vectors):
        rows = [r for r, p in enumerate(store.passages) if squash(item["locator"]) in squash(p.text)]
        if len(rows) != 1:
            raise ValueError(f"{item['id']}: locator {item['locator'][:30]!r} finds {len(rows)} passages, not one")
        text = store.passages[rows[0]].text
        (scores,) = sentence_scores(store, rows, vector)  # rows holds exactly one
        hint = hl.split_sentences(text)[int(np.argmax(scores))]
        terms = tokenize(item["question"])
        answers = {squash(answer) for answer in item["answers"]}
        kind = "gold passage" if item["passage"] == "gold" else "retrieved passage"
        for name, rule in RULES.items():
            chosen = rule(text, terms, hint, scores)
            right = squash(text[chosen["start"]:chosen["end"]]) in answers
            for bucket in ("all", kind, f"lang {item['lang']}"):
                found[name][bucket].append(right)
    return found


def table(found: dict[str, dict[str, list[bool]]]) -> str:
    """Accuracy per rule and bucket as a Markdown table (correct/total)."""
    buckets = ["all", "gold passage", "retrieved passage", "lang zh", "lang en"]
    lines = ["| rule | " + " | ".join(buckets) + " |", "|---" * (len(buckets) + 1) + "|"]
    for name, by_bucket in found.items():
        cells = []
        for bucket in buckets:
            marks = by_bucket.get(bucket, [])
            cells.append(f"{sum(marks) / len(marks):.3f} ({sum(marks)}/{len(marks)})" if marks else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Load the index and the labels, print the accuracy table."""
    from index.embed import load_encoder
    from index.lifecycle import current_build
    from index.store import FaissBm25Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True, help="index root (a private one, e.g. /tmp/you/index)")
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    args = parser.parse_args(argv)
    store = FaissBm25Store.load(current_build(Path(args.index)))
    encoder = load_encoder(store.manifest.get("model_spec"))
    print(table(measure(store, encoder, load_labels(args.labels))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
