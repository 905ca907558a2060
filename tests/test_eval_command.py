"""`speechqa eval` over the real API of `speechqa serve` and over the real seeds index side by side: a gold span
no passage holds is refused alike, and a run records the term tables its figures were measured with."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from eval.command import main as eval_main
from index.bilingual import policy_glossary
from service.cli import main as cli_main
from tests.test_server import fetch, free_port, speechqa, stop, wait_until_up


@pytest.fixture(scope="module")
def glossary(tmp_path_factory) -> Path:
    """A library's own glossary of one entry the packaged one lacks."""
    path = tmp_path_factory.mktemp("tables") / "gl3.tsv"
    path.write_text("martian granary\t粮食储备\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(index_root, glossary, tmp_path_factory) -> str:
    """The base URL of the seed index served with ``glossary`` read over the packaged one; stopped at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as out:
        process = speechqa("--index", str(index_root), "serve", "--port", str(port), "--glossary", str(glossary),
                           stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, base, log)
        yield base
    finally:
        stop(process)


def _write_set(path: Path, spans: dict[str, list[str]]) -> Path:
    path.write_text("".join(json.dumps({"id": qid, "question": "首府怎样维护国家安全？", "gold_spans": gold},
                                       ensure_ascii=False) + "\n" for qid, gold in spans.items()), encoding="utf-8")
    return path


# in the seeds as written: plain, and with the speech's own quotation marks
FOUND = ["坚定不移贯彻总体国家安全观", "坚决做到“两个维护”"]
NOT_FOUND = {
    "x4": ["这句话在任何一篇讲话里都没有"],
    "x5": ["9000万字材料，轻松解决您的各类素材需求"],  # an advertisement line the build leaves out
    "x6": ["坚决做到「两个维护」"],  # the API's phrase matches any quotation mark; the gold-span rule does not
    "x7": ["深刻领悟……的决定性意义"],  # the API's phrase reads the ellipsis as any wording; the rule does not
}


def test_a_gold_span_no_passage_holds_is_refused_through_the_api_as_locally(server, index_root, tmp_path, capsys):
    questions = _write_set(tmp_path / "spans.jsonl", {"q1": FOUND, **NOT_FOUND})
    listed = "; ".join(f"{qid}: {json.dumps(spans[0], ensure_ascii=False)}" for qid, spans in NOT_FOUND.items())
    refusal = (f"speechqa: {questions}: 4 gold span(s) not found in the corpus — copy them verbatim from the source: "
               f"{listed}\n")
    for backend in (["--url", server], ["--index", str(index_root)]):
        assert eval_main([*backend, "--questions", str(questions)]) == 2
        assert capsys.readouterr() == ("", refusal)


def test_spans_found_through_the_api_are_scored_and_one_no_phrase_can_express_is_named(server, tmp_path, capsys):
    questions = _write_set(tmp_path / "spans.jsonl", {"q1": FOUND, "y1": ["……"]})
    assert eval_main(["--url", server, "--questions", str(questions), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == (f"speechqa: {questions}: 1 gold span(s) could not be checked against the corpus, so a miss on "
                   "them may be the span's: y1: \"……\" (no quoting makes it one phrase query)\n")
    assert json.loads(out)["n"] == 2


def test_a_run_records_the_term_tables_and_refuses_its_own_with_url(server, glossary, index_root, tmp_path, capsys,
                                                                    monkeypatch):
    questions = _write_set(tmp_path / "one.jsonl", {"q1": FOUND})
    served = json.loads(fetch(server + "/healthz")[2])["term_tables"]
    assert (served["glossary"], served["files"]) == (len(policy_glossary()) + 1, [str(glossary)])
    runs = []
    for backend in (["eval", "--url", server], ["eval", "--glossary", str(glossary)]):
        assert cli_main(["--index", str(index_root), *backend, "--questions", str(questions), "--json"]) == 0
        runs.append(json.loads(capsys.readouterr().out)["term_tables"])
    assert runs == [served, served]
    assert cli_main(["--index", str(index_root), "eval", "--url", server, "--questions", str(questions)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(
        f", term tables packaged + {glossary} ({served['glossary']} glossary and {served['wording']} wording entries)")
    refusal = ("speechqa: --glossary and --wording ($SPEECHQA_GLOSSARY, $SPEECHQA_WORDING) do not apply with --url: "
               "the service expands questions with the term tables it was started with, and the run records those "
               "from its /healthz — leave them out, or start the server with them\n")
    assert cli_main(["eval", "--url", server, "--questions", str(questions), "--wording", str(glossary)]) == 2
    assert capsys.readouterr() == ("", refusal)
    monkeypatch.setenv("SPEECHQA_GLOSSARY", str(glossary))
    assert cli_main(["eval", "--url", server, "--questions", str(questions)]) == 2
    assert capsys.readouterr() == ("", refusal)
