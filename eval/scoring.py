"""Scoring a question set against a search backend: relevance, per-question metrics, per-arm runs.

A backend is any ``search(query, k, mode) -> list[dict]`` whose dicts carry at least
``text``, ``speech`` {``id``, ``title``, ``source``} and ``passage_id`` — the shape of the
HTTP API's results (see :mod:`eval.backends`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from eval.metrics import aggregate, first_relevant, mrr, ndcg_at_k, recall_at_k, sign_test, wilson_interval
from eval.questions import Question, squash
from index.calibrate import expected_calibration_error, load_models, reliability
from index.errors import BadQuery, SpeechQAError
from index.request import MAX_K, MODES

Search = Callable[[str, int, str], list[dict]]

DEFAULT_KS = (1, 5, 10)
# MRR, nDCG and the failure list look at the top 10 whatever ks asks for.
DEPTH = 10
SNIPPET = 60


class EvalError(SpeechQAError):
    """The evaluation cannot run: bad arguments or an unreachable backend."""

    code = "eval_error"


def relevance(question: Question, results: Sequence[dict]) -> list[bool]:
    """Per result: does its text contain any gold span (whitespace removed from both)?"""
    spans = [squash(span) for span in question.gold_spans]
    return [any(span in squash(result.get("text", "")) for span in spans) for result in results]


def metric_names(ks: Sequence[int]) -> list[str]:
    """The metric keys, in table order."""
    return [f"recall@{k}" for k in ks] + [f"mrr@{DEPTH}", f"ndcg@{DEPTH}", "speech_acc@1"]


def speeches_of(result: dict) -> list[str]:
    """The titles of the speeches a result stands for: its own, then its folded reprints' (``duplicates``)."""
    return [result["speech"]["title"]] + [copy["speech"]["title"] for copy in result.get("duplicates") or ()]


def score(question: Question, results: Sequence[dict], ks: Sequence[int]) -> dict[str, float | None]:
    """One question's metrics; ``speech_acc@1`` is None when the question names no speech.

    The first result names the right speech when it or one of the reprints folded into it is that
    speech: a library shows a reprinted speech's earliest copy, whichever compilation that is.
    """
    rels = relevance(question, results)
    row: dict[str, float | None] = {f"recall@{k}": recall_at_k(rels, k) for k in ks}
    row[f"mrr@{DEPTH}"] = mrr(rels, DEPTH)
    row[f"ndcg@{DEPTH}"] = ndcg_at_k(rels, DEPTH)
    if question.speech:
        named = results and any(squash(title) == squash(question.speech) for title in speeches_of(results[0]))
        row["speech_acc@1"] = 1.0 if named else 0.0
    else:
        row["speech_acc@1"] = None
    return row


def check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    """The cut-offs sorted, each once; EvalError unless each is one the search answers (1 to ``MAX_K``)."""
    ks = tuple(sorted(set(ks)))
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K for k in ks):
        raise EvalError(f"-k takes integers from 1 to {MAX_K} (got {' '.join(map(str, ks)) or 'nothing'})")
    return ks


class QuestionRefused(EvalError):
    """The backend refused one question of the set (the message names it)."""


def ask(search: Search, question_id: str, question: str, k: int, mode: str) -> list[dict]:
    """``search``'s results, or QuestionRefused naming the question the backend refused (a bad quote, too long)."""
    try:
        return search(question, k, mode)
    except BadQuery as exc:
        raise QuestionRefused(f"question {question_id}: {exc}") from None


def _buckets(questions: Sequence[Question], rows: Sequence[dict], attr: str) -> dict[str, dict]:
    groups: dict[str, list[dict]] = {}
    for question, row in zip(questions, rows):
        groups.setdefault(getattr(question, attr), []).append(row)
    return {name: aggregate(groups[name]) for name in sorted(groups)}


def evaluate(questions: Sequence[Question], search: Search, *, ks: Sequence[int] = DEFAULT_KS,
             mode: str = "hybrid") -> dict:
    """Ask every question in ``mode`` and score the rankings.

    Returns ``{"mode", "n", "ks", "metrics", "by_type", "by_lang", "intervals", "failures",
    "per_question", "calibration"}``: ``metrics`` and each bucket map metric names (``recall@5``,
    ``mrr@10``, ...) to means plus ``n``; ``intervals`` bounds each recall@k (``recall_intervals``);
    ``failures`` lists the questions with no relevant passage in the top 10 and what came first instead.
    """
    ks = check_ks(ks)
    depth = max(max(ks), DEPTH)
    rows: list[dict] = []
    failures: list[dict] = []
    per_question: list[dict] = []
    judged: list[tuple[float, bool]] = []
    for question in questions:
        results = ask(search, question.id, question.question, depth, mode)
        row = score(question, results, ks)
        rows.append(row)
        rels = relevance(question, results)
        rank = first_relevant(rels)
        judged += [(r["confidence"], rel) for r, rel in zip(results[:DEPTH], rels)
                   if r.get("confidence") is not None]
        per_question.append({"id": question.id, "type": question.type, "lang": question.lang,
                             "rank": rank, "speech_ok": row["speech_acc@1"],
                             "confidence": results[0].get("confidence") if results else None})
        if rank is None or rank > DEPTH:
            top = results[0] if results else None
            failures.append({
                "id": question.id, "question": question.question, "type": question.type,
                "lang": question.lang, "expected_speech": question.speech,
                "gold_spans": list(question.gold_spans),
                "got": None if top is None else {
                    "speech": top["speech"]["title"], "passage_id": top.get("passage_id"),
                    "text": squash(top["text"])[:SNIPPET]},
            })
    return {
        "mode": mode, "n": len(rows), "ks": list(ks),
        "metrics": aggregate(rows),
        "by_type": _buckets(questions, rows, "type"),
        "by_lang": _buckets(questions, rows, "lang"),
        "intervals": recall_intervals(per_question, ks),
        "failures": failures,
        "per_question": per_question,
        "calibration": calibration_summary(judged, [q["confidence"] for q in per_question], mode),
    }


def _found(rank: int | None, k: int) -> bool:
    return rank is not None and rank <= k


def _by_language(per_question: Sequence[dict]) -> dict[str, list[dict]]:
    """The questions of each bucket the intervals and paired counts report: all, then each language."""
    languages: dict[str, list[dict]] = {}
    for row in per_question:
        languages.setdefault(row["lang"], []).append(row)
    return {"all": list(per_question), **{lang: languages[lang] for lang in sorted(languages)}}


def recall_intervals(per_question: Sequence[dict], ks: Sequence[int]) -> dict[str, dict[str, list[float] | None]]:
    """95% Wilson intervals of recall@k, for all questions and for each language (``evaluate``'s rows)."""
    return {bucket: {f"recall@{k}": _listed(wilson_interval(sum(_found(r["rank"], k) for r in rows), len(rows)))
                     for k in ks}
            for bucket, rows in _by_language(per_question).items()}


def _listed(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else list(interval)


def paired_recall(first: Sequence[dict], other: Sequence[dict], ks: Sequence[int]) -> dict[str, dict[str, dict]]:
    """How two runs over the same questions differ at each recall@k, for all and for each language:
    ``wins`` (the first finds the answer, the other does not), ``losses`` (the reverse) and the
    sign test's ``p``. A difference of a question or two between arms is noise until p says otherwise.
    """
    if [row["id"] for row in first] != [row["id"] for row in other]:
        raise ValueError("paired runs must score the same questions in the same order")
    rank_of = {row["id"]: row["rank"] for row in other}
    out: dict[str, dict[str, dict]] = {}
    for bucket, rows in _by_language(first).items():
        out[bucket] = {}
        for k in ks:
            wins = sum(_found(r["rank"], k) and not _found(rank_of[r["id"]], k) for r in rows)
            losses = sum(_found(rank_of[r["id"]], k) and not _found(r["rank"], k) for r in rows)
            out[bucket][f"recall@{k}"] = {"wins": wins, "losses": losses, "p": sign_test(wins, losses)}
    return out


def answer_threshold(mode: str) -> float:
    """The committed threshold under which a search in ``mode`` says ``answered: false``.

    A server answers with the calibration shipped in its own package; an HTTP backend of
    another release may differ.
    """
    return load_models()[mode].threshold


def calibration_summary(judged: Sequence[tuple[float, bool]], top_confidence: Sequence[float | None],
                        mode: str, *, bins: int = 10) -> dict | None:
    """Reliability of the hits' ``confidence`` against the gold-span rule, over every top-``DEPTH`` hit,
    and how many of these (answerable) questions the top hit's confidence flags as not answered.

    None when the backend reports no confidence.
    """
    if not judged:
        return None
    table = reliability([c for c, _ in judged], [ok for _, ok in judged], bins=bins)
    threshold = answer_threshold(mode)
    return {"hits": len(judged), "ece": expected_calibration_error(table), "threshold": threshold,
            "flagged": sum(c is None or c < threshold for c in top_confidence),
            "bins": [{"low": b.low, "high": b.high, "n": b.n, "mean_confidence": b.mean_confidence,
                      "observed": b.observed} for b in table]}


def compare(questions: Sequence[Question], search: Search, *, ks: Sequence[int] = DEFAULT_KS,
            modes: Sequence[str] = MODES) -> dict:
    """Evaluate several modes; the first mode's result at the top level, all of them under ``modes``, and
    under ``paired`` each other mode against the first (``paired_recall``)."""
    runs = {mode: evaluate(questions, search, ks=ks, mode=mode) for mode in modes}
    result = dict(runs[modes[0]])
    result["modes"] = runs
    result["paired"] = {mode: paired_recall(runs[modes[0]]["per_question"], runs[mode]["per_question"],
                                            runs[mode]["ks"]) for mode in modes[1:]}
    return result


def evaluate_unanswerable(questions: Sequence[tuple[str, str]], search: Search, *, mode: str = "hybrid") -> dict:
    """Ask questions the speeches do not answer, as (id, question); count those flagged not answered.

    Returns ``{"mode", "n", "threshold", "flagged", "per_question"}``, each question with its
    top hit's confidence (None without results, which counts as flagged).
    """
    threshold = answer_threshold(mode)
    per_question = []
    for qid, question in questions:
        results = ask(search, qid, question, 1, mode)
        confidence = results[0].get("confidence") if results else None
        per_question.append({"id": qid, "confidence": confidence,
                             "flagged": confidence is None or confidence < threshold})
    return {"mode": mode, "n": len(per_question), "threshold": threshold,
            "flagged": sum(q["flagged"] for q in per_question), "per_question": per_question}
