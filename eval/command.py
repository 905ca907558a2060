"""`speechqa eval`: load a question set, run it against a backend, print or write the report."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from eval.backends import LocalSearch, http_search, served_on
from eval.questions import check_spans, load_questions, load_unanswerable
from eval.report import format_table, format_unanswerable, measured_on_text, require_matplotlib, write_report
from eval.scoring import (DEFAULT_KS, EvalError, QuestionRefused, check_ks, compare, evaluate,
                           evaluate_unanswerable)
from index.errors import SpeechQAError
from index.lifecycle import DEFAULT_ROOT
from index.request import MODES

DEFAULT_QUESTIONS = Path(__file__).resolve().parent / "questions.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `speechqa eval`."""
    parser.add_argument("--questions", type=Path, nargs="+", default=[DEFAULT_QUESTIONS], metavar="SET",
                        help="JSON Lines question sets, each reported on its own "
                             "(default: the bundled eval/questions.jsonl)")
    parser.add_argument("--out-of-corpus", type=Path, metavar="SET",
                        help="questions the speeches do not answer (id, question): count how many "
                             "each arm flags as not answered")
    parser.add_argument("--mode", choices=(*MODES, "all"), default="hybrid",
                        help="retrieval arm; 'all' compares hybrid, dense and bm25 side by side")
    parser.add_argument("-k", type=int, nargs="+", default=list(DEFAULT_KS), metavar="K",
                        help="cut-offs for recall@k (default: 1 5 10)")
    parser.add_argument("--url", help="evaluate a running server (http://host:port) instead of a local index")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help="also write DIR/index.html with tables, failures and a plot (needs matplotlib)")


def run_command(args: argparse.Namespace) -> int:
    """`speechqa eval`: validate the set, run it, print a table or JSON; 2 with a one-line message on bad input."""
    # the CLI hands in the source --store names (FAISS builds or Milvus); else the index root
    index = getattr(args, "source", None) or Path(getattr(args, "index", None) or DEFAULT_ROOT)
    try:
        sets = [(path, load_questions(path)) for path in args.questions]
        unanswerable = load_unanswerable(args.out_of_corpus) if args.out_of_corpus else None
        ks = check_ks(args.k)
        if args.report is not None:
            require_matplotlib()
        if args.url:
            search = http_search(args.url)
            measured_on = served_on(args.url)
        else:
            search = LocalSearch(index, tables=getattr(args, "tables", None))
            measured_on = search.measured_on
            # Only a local index shows its passages; a span that lies in none of them can never match.
            for _, questions in sets:
                check_spans(questions, search.passages)
        modes = MODES if args.mode == "all" else (args.mode,)
        results = []
        for path, questions in sets:
            try:
                result = compare(questions, search, ks=ks, modes=modes) if len(modes) > 1 else evaluate(
                    questions, search, ks=ks, mode=modes[0])
            except QuestionRefused as exc:
                raise QuestionRefused(f"{path}: {exc}") from None
            result["questions"] = str(path)
            result["backend"] = args.url or str(index)
            result.update(measured_on)
            results.append(result)
        no_answer = None if unanswerable is None else {
            "questions": str(args.out_of_corpus),
            "modes": {mode: _unanswerable(unanswerable, search, mode, args.out_of_corpus) for mode in modes}}
        reports = []
        if args.report is not None:
            for result in results:
                # One set writes DIR itself; several write DIR/<set name>/ each.
                target = args.report if len(results) == 1 else args.report / Path(result["questions"]).stem
                try:
                    reports.append(write_report(result, target))
                except OSError as exc:
                    raise EvalError(f"cannot write the report to {target} ({exc.strerror or exc})") from None
    except SpeechQAError as exc:  # QuestionSetError included
        print(f"speechqa: {exc}", file=sys.stderr)
        return 2
    if args.json:
        payload = results[0] if len(results) == 1 and no_answer is None else {"sets": results}
        if no_answer is not None:
            payload["out_of_corpus"] = no_answer
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        for result in results:
            print(f"{result['n']} questions from {result['questions']}, backend {result['backend']}"
                  + measured_on_text(result))
            print(format_table(result))
            print()
        if no_answer is not None:
            print(format_unanswerable(no_answer))
    for report in reports:
        print(f"report: {report}", file=sys.stderr)
    return 0


def _unanswerable(questions, search, mode: str, path: Path) -> dict:
    try:
        return evaluate_unanswerable(questions, search, mode=mode)
    except QuestionRefused as exc:
        raise QuestionRefused(f"{path}: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m eval.command ...`` behaves like `speechqa eval`."""
    parser = argparse.ArgumentParser(prog="speechqa eval", description="Score retrieval on a question set.")
    parser.add_argument("--index", type=Path, default=DEFAULT_ROOT, help="index root directory (default %(default)s)")
    add_arguments(parser)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
