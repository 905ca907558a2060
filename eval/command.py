"""`speechqa eval`: load a question set, run it against a backend, print or write the report."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from eval.backends import HttpSearch, LocalSearch
from eval.questions import QuestionSetError, SpanCheck, check_spans, load_questions, load_unanswerable
from eval.report import (format_table, format_unanswerable, measured_on_text, report_folders, require_matplotlib,
                         write_overview, write_report)
from eval.scoring import (DEFAULT_KS, EvalError, QuestionRefused, check_ks, compare, evaluate,
                           evaluate_unanswerable)
from index.errors import SpeechQAError
from index.lifecycle import DEFAULT_ROOT
from index.request import MAX_K, MODES

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
                        help=f"cut-offs for recall@k, each from 1 to {MAX_K} (default: 1 5 10)")
    parser.add_argument("--url", help="evaluate a running server (http://host:port) instead of a local index")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help="also write DIR/index.html with tables, failures and plots (needs matplotlib); "
                             "with several sets, each set's in a folder DIR/<set name>/ and DIR/index.html "
                             "linking them")


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
            _refuse_own_term_tables(args)
            search = HttpSearch(args.url)
        else:
            search = LocalSearch(index, tables=getattr(args, "tables", None))
        spans = search.span_check(span for _, questions in sets for q in questions for span in q.gold_spans)
        for path, questions in sets:
            _check_set_spans(path, questions, spans)
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
            result.update(search.measured_on)
            results.append(result)
        no_answer = None if unanswerable is None else {
            "questions": str(args.out_of_corpus),
            "modes": {mode: _unanswerable(unanswerable, search, mode, args.out_of_corpus) for mode in modes}}
        reports = [] if args.report is None else _write_reports(results, no_answer, args.report)
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
            print(f"{result['n']} question{'' if result['n'] == 1 else 's'} from {result['questions']}, backend {result['backend']}"
                  + measured_on_text(result))
            print(format_table(result))
            print()
        if no_answer is not None:
            print(format_unanswerable(no_answer))
    for report in reports:
        print(f"report: {report}", file=sys.stderr)
    return 0


def _refuse_own_term_tables(args: argparse.Namespace) -> None:
    """EvalError when term tables are given with --url: the service expands questions with its own."""
    # The CLI fills these from $SPEECHQA_GLOSSARY and $SPEECHQA_WORDING too; `python -m eval.command` has neither.
    if getattr(args, "glossary", None) or getattr(args, "wording", None):
        raise EvalError("--glossary and --wording ($SPEECHQA_GLOSSARY, $SPEECHQA_WORDING) do not apply with --url: "
                        "the service expands questions with the term tables it was started with, and the run "
                        "records those from its /healthz — leave them out, or start the server with them")


def _check_set_spans(path: Path, questions, spans: SpanCheck) -> None:
    """``check_spans`` of one set, its file named: QuestionSetError for a span no passage holds, a line on
    stderr for those the backend could not check, before the run scores them."""
    try:
        note = check_spans(questions, spans)
    except QuestionSetError as exc:
        raise QuestionSetError(f"{path}: {exc}") from None
    if note:
        print(f"speechqa: {path}: {note}", file=sys.stderr)


def _write_reports(results: list[dict], no_answer: dict | None, directory: Path) -> list[Path]:
    """One set's report in ``directory``; several sets' each in a folder of its own there, under an
    overview page that links them. The out-of-corpus counts go on the page ``directory`` opens with."""
    try:
        if len(results) == 1:
            return [write_report(results[0], directory, no_answer=no_answer)]
        folders = report_folders([Path(result["questions"]) for result in results])
        pages = [write_report(result, directory / folder) for result, folder in zip(results, folders)]
        return [*pages, write_overview(results, folders, no_answer, directory)]
    except OSError as exc:
        where = exc.filename or directory
        raise EvalError(f"cannot write the report to {where} ({exc.strerror or exc})") from None


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
