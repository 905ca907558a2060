"""`speechqa eval`: load a question set, run it against a backend, print or write the report."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from eval.backends import LocalSearch, http_search
from eval.questions import check_spans, load_questions
from eval.report import format_table, require_matplotlib, write_report
from eval.scoring import DEFAULT_KS, EvalError, check_ks, compare, evaluate
from index.errors import SpeechQAError
from index.lifecycle import DEFAULT_ROOT
from index.request import MODES

DEFAULT_QUESTIONS = Path(__file__).resolve().parent / "questions.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `speechqa eval`."""
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS,
                        help="JSON Lines question set (default: the bundled eval/questions.jsonl)")
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
    index = Path(getattr(args, "index", None) or DEFAULT_ROOT)
    try:
        questions = load_questions(args.questions)
        ks = check_ks(args.k)
        if args.report is not None:
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
    """Stand-alone entry point: ``python -m eval.command ...`` behaves like `speechqa eval`."""
    parser = argparse.ArgumentParser(prog="speechqa eval", description="Score retrieval on a question set.")
    parser.add_argument("--index", type=Path, default=DEFAULT_ROOT, help="index root directory (default %(default)s)")
    add_arguments(parser)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
