"""Run a question set against a search backend and score it: `speechqa eval`.

A backend is any ``search(query, k, mode) -> list[dict]`` whose dicts carry at least
``text``, ``speech`` {``id``, ``title``, ``source``} and ``passage_id`` — the shape of the
HTTP API's results, which ``LocalSearch`` and ``http_search`` both return.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from eval.metrics import aggregate, first_relevant, mrr, ndcg_at_k, recall_at_k
from eval.questions import Question, check_spans, load_questions, squash
from index.errors import SpeechQAError

Search = Callable[[str, int, str], list[dict]]

MODES = ("hybrid", "dense", "bm25")
DEFAULT_KS = (1, 5, 10)
# MRR, nDCG and the failure list look at the top 10 whatever ks asks for.
DEPTH = 10
SNIPPET = 60
DEFAULT_QUESTIONS = Path(__file__).resolve().parent / "questions.jsonl"
DEFAULT_INDEX = Path("var/index")


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


def score(question: Question, results: Sequence[dict], ks: Sequence[int]) -> dict[str, float | None]:
    """One question's metrics; ``speech_acc@1`` is None when the question names no speech."""
    rels = relevance(question, results)
    row: dict[str, float | None] = {f"recall@{k}": recall_at_k(rels, k) for k in ks}
    row[f"mrr@{DEPTH}"] = mrr(rels, DEPTH)
    row[f"ndcg@{DEPTH}"] = ndcg_at_k(rels, DEPTH)
    if question.speech:
        top = results[0]["speech"]["title"] if results else ""
        row["speech_acc@1"] = 1.0 if squash(top) == squash(question.speech) else 0.0
    else:
        row["speech_acc@1"] = None
    return row


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(sorted(set(ks)))
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise EvalError(f"-k takes positive integers (got {' '.join(map(str, ks)) or 'nothing'})")
    return ks


def _buckets(questions: Sequence[Question], rows: Sequence[dict], attr: str) -> dict[str, dict]:
    groups: dict[str, list[dict]] = {}
    for question, row in zip(questions, rows):
        groups.setdefault(getattr(question, attr), []).append(row)
    return {name: aggregate(groups[name]) for name in sorted(groups)}


def evaluate(questions: Sequence[Question], search: Search, *, ks: Sequence[int] = DEFAULT_KS,
             mode: str = "hybrid") -> dict:
    """Ask every question in ``mode`` and score the rankings.

    Returns ``{"mode", "n", "ks", "metrics", "by_type", "by_lang", "failures", "per_question"}``:
    ``metrics`` and each bucket map metric names (``recall@5``, ``mrr@10``, ...) to means plus
    ``n``; ``failures`` lists the questions with no relevant passage in the top 10 and what
    came first instead.
    """
    ks = _check_ks(ks)
    depth = max(max(ks), DEPTH)
    rows: list[dict] = []
    failures: list[dict] = []
    per_question: list[dict] = []
    for question in questions:
        results = search(question.question, depth, mode)
        row = score(question, results, ks)
        rows.append(row)
        rank = first_relevant(relevance(question, results))
        per_question.append({"id": question.id, "type": question.type, "lang": question.lang,
                             "rank": rank, "speech_ok": row["speech_acc@1"]})
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
        "failures": failures,
        "per_question": per_question,
    }


def compare(questions: Sequence[Question], search: Search, *, ks: Sequence[int] = DEFAULT_KS,
            modes: Sequence[str] = MODES) -> dict:
    """Evaluate several modes; the first mode's result at the top level, all of them under ``modes``."""
    runs = {mode: evaluate(questions, search, ks=ks, mode=mode) for mode in modes}
    result = dict(runs[modes[0]])
    result["modes"] = runs
    return result


class LocalSearch:
    """A backend over the index under ``index_dir``, loaded once (model and all)."""

    def __init__(self, index_dir: Path | str):
        from index.search import hit_to_dict, load_searcher

        self._searcher = load_searcher(index_dir)
        self._to_dict = hit_to_dict
        self.passages = self._searcher.passages

    def __call__(self, query: str, k: int, mode: str) -> list[dict]:
        return [self._to_dict(hit) for hit in self._searcher.search(query, k=k, mode=mode)]


def http_search(url: str, *, timeout: float = 60.0) -> Search:
    """A backend that calls ``GET {url}/api/search`` of a running `speechqa serve`."""
    import urllib.error
    import urllib.parse
    import urllib.request

    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise EvalError(f"--url must start with http:// or https:// (got {url!r})")

    def search(query: str, k: int, mode: str) -> list[dict]:
        address = f"{base}/api/search?" + urllib.parse.urlencode({"q": query, "k": k, "mode": mode})
        try:
            with urllib.request.urlopen(address, timeout=timeout) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                message = json.load(exc)["error"]["message"]
            except Exception:  # the body is not our JSON error shape; the status says enough
                message = exc.reason
            raise EvalError(f"{base} answered {exc.code}: {message}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EvalError(f"cannot reach {base} ({reason}) — is `speechqa serve` running there?") from None
        except ValueError:
            raise EvalError(f"{base}/api/search did not answer JSON — is --url the speechqa server?") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise EvalError(f"{base}/api/search answered without a results list — is --url the speechqa server?")
        return payload["results"]

    return search


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def format_table(result: dict) -> str:
    """The result as a plain-text table (arms side by side when ``modes`` is present) and failures."""
    names = metric_names(result["ks"])
    runs = result.get("modes") or {result["mode"]: result}
    buckets = [("all", lambda run: run["metrics"])]
    for kind, key in (("type", "by_type"), ("lang", "by_lang")):
        for name in result[key]:
            buckets.append((f"{kind}:{name}", lambda run, key=key, name=name: run[key].get(name)))
    label_w = max(len(label) for label, _ in buckets)
    arm_w = max(len(mode) for mode in runs)
    widths = [max(len(name), 6) for name in names]
    header = f"{'bucket':<{label_w}}  {'arm':<{arm_w}}  {'n':>4}  " + "  ".join(
        f"{name:>{w}}" for name, w in zip(names, widths))
    lines = [header, "-" * len(header)]
    for label, pick in buckets:
        for i, (mode, run) in enumerate(runs.items()):
            cells = pick(run) or {}
            first = label if i == 0 else ""
            lines.append(f"{first:<{label_w}}  {mode:<{arm_w}}  {cells.get('n', 0):>4}  " + "  ".join(
                f"{_fmt(cells.get(name)):>{w}}" for name, w in zip(names, widths)))
    for mode, run in runs.items():
        lines.append("")
        lines.append(f"{mode}: {len(run['failures'])} of {run['n']} questions with no relevant passage in the top {DEPTH}")
        for failure in run["failures"]:
            lines.append(f"  {failure['id']} [{failure['type']}/{failure['lang']}] {failure['question']}")
            if failure["expected_speech"]:
                lines.append(f"      expected: {failure['expected_speech']}")
            got = failure["got"]
            lines.append("      got:      " + ("(no results)" if got is None else f"{got['speech']} — {got['text']}"))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `speechqa eval`."""
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS,
                        help="JSON Lines question set (default: the bundled eval/questions.jsonl)")
    parser.add_argument("--mode", choices=(*MODES, "all"), default="hybrid",
                        help="retrieval arm; 'all' compares hybrid, dense and bm25 side by side")
    parser.add_argument("-k", type=int, nargs="+", default=list(DEFAULT_KS), metavar="K",
                        help="cut-offs for recall@k (default: 1 5 10)")
    parser.add_argument("--url", help="evaluate a running server (http://host:port) instead of a local index")
    # SUPPRESS: `speechqa --index DIR eval` sets the index on the parent parser, and a default here
    # would overwrite it when the subcommand's namespace is merged back.
    parser.add_argument("--index", type=Path, default=argparse.SUPPRESS,
                        help=f"index directory (default: the parent command's --index, else {DEFAULT_INDEX})")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help="also write DIR/index.html with tables, failures and a plot (needs matplotlib)")


def run_command(args: argparse.Namespace) -> int:
    """`speechqa eval`: validate the set, run it, print a table or JSON; 2 with a one-line message on bad input."""
    index = Path(getattr(args, "index", None) or DEFAULT_INDEX)
    try:
        questions = load_questions(args.questions)
        ks = _check_ks(args.k)
        if args.report is not None:
            from eval.report import require_matplotlib

            require_matplotlib()
        if args.url:
            search = http_search(args.url)
        else:
            search = LocalSearch(index)
            # Only a local index shows its passages; a span that lies in none of them can never match.
            check_spans(questions, search.passages)
        modes = MODES if args.mode == "all" else (args.mode,)
        result = compare(questions, search, ks=ks, modes=modes) if len(modes) > 1 else evaluate(
            questions, search, ks=ks, mode=modes[0])
        result["questions"] = str(args.questions)
        result["backend"] = args.url or str(index)
        report = None
        if args.report is not None:
            from eval.report import write_report

            try:
                report = write_report(result, args.report)
            except OSError as exc:
                raise EvalError(f"cannot write the report to {args.report} ({exc.strerror or exc})") from None
    except SpeechQAError as exc:  # QuestionSetError included
        print(f"speechqa: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(f"{result['n']} questions from {args.questions}, backend {result['backend']}")
        print(format_table(result))
    if report is not None:
        print(f"report: {report}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m eval.run ...`` behaves like `speechqa eval`."""
    parser = argparse.ArgumentParser(prog="speechqa eval", description="Score retrieval on a question set.")
    add_arguments(parser)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
