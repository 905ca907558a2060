"""The console script as scripts and other terminals meet it: `--json` errors, output a terminal cannot encode."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def speechqa(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m service ARGS` to its end, stdout and stderr as bytes."""
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=REPO, capture_output=True, timeout=300,
                          env=os.environ | env)


def test_ask_json_to_a_latin1_pipe_is_valid_json_with_escapes(index_root):
    run = speechqa("--index", str(index_root), "ask", "--json", "-k", "1", "粮食安全", PYTHONIOENCODING="latin-1")
    assert run.returncode == 0, run.stderr.decode("latin-1")
    assert run.stdout.isascii()  # what latin-1 cannot hold is escaped, not a traceback
    payload = json.loads(run.stdout)
    assert payload["query"] == "粮食安全" and "粮食" in payload["results"][0]["text"]


def test_a_surrogate_pair_escapes_a_character_beyond_the_bmp():
    from service.cli import _json_escape

    error = UnicodeEncodeError("latin-1", "a𠮷b", 1, 2, "ordinal not in range")
    assert _json_escape(error) == ("\\ud842\\udfb7", 2)
    assert json.loads('"' + _json_escape(error)[0] + '"') == "𠮷"


def test_ask_json_answers_an_error_as_the_apis_error_object(index_root):
    run = speechqa("--index", str(index_root), "ask", "--json", "-k", "0", "粮食")
    assert run.returncode == 2
    assert json.loads(run.stdout) == {"error": {"code": "bad_query",
                                                "message": "k must be an integer between 1 and 50 (got 0)"}}
    assert run.stderr.decode().strip() == "speechqa: k must be an integer between 1 and 50 (got 0)"


@pytest.mark.parametrize(("argv", "message"), [
    (["ask", "--json", "--bogus", "粮食"], "unrecognized arguments: --bogus"),
    (["ask", "--json", "-粮食"], "the following arguments are required: question"),
])
def test_ask_json_answers_what_argparse_refuses_with_the_error_object_too(argv, message, capsys):
    from service.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert json.loads(out) == {"error": {"code": "bad_query", "message": message}}
    assert err.rstrip().endswith(message) and "usage:" in err  # the terminal still gets argparse's usage


def test_without_json_or_after_the_question_marker_argparse_refusals_print_nothing_on_stdout(capsys):
    from service.cli import asks_for_json, main

    assert asks_for_json(["ask", "--json", "x"]) and not asks_for_json(["ask", "--", "--json"])
    with pytest.raises(SystemExit):
        main(["ask", "--bogus", "粮食"])
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(("options", "message"), [
    (["-k", "abc"], "k must be an integer between 1 and 50 (got \"abc\")"),
    (["-k", "1.5"], "k must be an integer between 1 and 50 (got \"1.5\")"),
    (["--offset", "x"], "offset must be an integer between 0 and 10000 (got \"x\")"),
    (["--group", "x"], "group must be one of speech (got \"x\")"),
    (["--sort", "x"], "sort must be one of relevance, date (got \"x\")"),
])
def test_ask_json_answers_a_bad_option_as_get_answers_its_parameter(index_root, client, capsys, options, message):
    from service.cli import main

    assert main(["--index", str(index_root), "ask", "--json", *options, "粮食"]) == 2
    error = json.loads(capsys.readouterr().out)
    parameter = {"-k": "k", "--offset": "offset", "--group": "group", "--sort": "sort"}[options[0]]
    answer = client.get("/api/search", query_string={"q": "粮食", parameter: options[1]})
    assert error == answer.get_json() == {"error": {"code": "bad_query", "message": message}}


def test_ask_json_echoes_the_question_as_the_api_searched_it(index_root, client, capsys):
    from service.cli import main

    for pasted in ("国家\u200b安全", "Ｈｏｗ　ａｒｅ　ｆａｒｍｓ　ｐｒｏｔｅｃｔｅｄ"):
        assert main(["--index", str(index_root), "ask", "--json", "-k", "3", pasted]) == 0
        echoed = json.loads(capsys.readouterr().out)
        served = client.get("/api/search", query_string={"q": pasted, "k": 3}).get_json()
        assert echoed["query"] == served["query"] in ("国家安全", "How are farms protected")
        assert [r["passage_id"] for r in echoed["results"]] == [r["passage_id"] for r in served["results"]]
        # each result as the API gives it, its highlight and best sentence included (best_span alone had been
        # all a script got, and it may be the passage's heading)
        assert [sorted(r) for r in echoed["results"]] == [sorted(r) for r in served["results"]]
        assert [r["best_sentence"] for r in echoed["results"]] == [r["best_sentence"] for r in served["results"]]


def test_an_index_folder_the_machine_refuses_is_one_line_not_a_traceback(tmp_path, capsys):
    from service.cli import main

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。\n", encoding="utf-8")
    (tmp_path / "not-a-folder").write_text("", encoding="utf-8")
    index = tmp_path / "not-a-folder" / "index"
    assert main(["--index", str(index), "build", "--corpus", str(tmp_path / "corpus"), "-q"]) == 2
    assert capsys.readouterr().err == f"speechqa: build failed: Not a directory ({index})\n"


def test_ask_lists_as_many_results_as_the_api_by_default(index_root, capsys):
    from index.request import DEFAULT_K
    from service.cli import main

    assert main(["--index", str(index_root), "ask", "--json", "国家安全"]) == 0
    assert len(json.loads(capsys.readouterr().out)["results"]) == DEFAULT_K == 10


def test_ask_says_why_it_found_nothing_as_the_page_does(index_root, capsys):
    from service.cli import main

    # the bundled speeches carry no dates: a date range leaves nothing, and no wording would help
    assert main(["--index", str(index_root), "ask", '"总体国家安全观"', "--from", "2023-01-01"]) == 0
    assert capsys.readouterr().out.startswith("没有找到相关段落：库里的讲话都没有标注日期，按日期筛选会排除全部讲话。\n")
    assert main(["--index", str(index_root), "ask", "“前提在于”“关键在于”"]) == 0
    assert capsys.readouterr().out.startswith(
        "没有找到相关段落：“前提在于”见于 1 段、“关键在于”见于 1 段，没有一段同时含有它们。\n")
    # a verbatim check's next page, and a page past its end
    assert main(["--index", str(index_root), "ask", "“两个维护”", "-k", "5", "--offset", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("共 13 条符合，列出第 6–10 条\n 6. ")
    assert main(["--index", str(index_root), "ask", "“两个维护”", "--offset", "20"]) == 0
    assert capsys.readouterr().out.startswith("共 13 条符合，第 20 条之后没有了。\n")
    assert main(["--index", str(index_root), "ask", "--json", "“两个维护”", "--offset", "20"]) == 0
    past = json.loads(capsys.readouterr().out)
    assert (past["results"], past["empty_reasons"]) == ([], ["共 13 条符合，第 20 条之后没有了。"])
    # a speech's title is no passage's text
    assert main(["--index", str(index_root), "ask", "“坚决筑牢中国式现代化xx国门安全屏障”"]) == 0
    assert capsys.readouterr().out.startswith(
        "没有找到相关段落：“坚决筑牢中国式现代化xx国门安全屏障”是《坚决筑牢中国式现代化xx国门安全屏障》标题里的话，"
        "标题不算段落正文：按标题查找请用 title:坚决筑牢中国式现代化xx国门安全屏障。\n")
    # a title that holds quotes of its own is offered quoted, so that it stays one title filter
    title = "认真践行总体国家安全观坚决筑牢首都“护城河”xx防线"
    assert main(["--index", str(index_root), "ask", f"「{title}」"]) == 0
    assert f"按标题查找请用 title:\"{title}\"。\n" in capsys.readouterr().out
    # --json carries the same reasons, and the wording as the library writes it, for a script to act on
    assert main(["--index", str(index_root), "ask", "--json", '"保交楼,稳民生"']) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["results"], payload["near_wording"]) == ([], {"query": '"保交楼、稳民生"', "matched": 1})
    assert payload["empty_reasons"] == ["库中没有一段含有“保交楼,稳民生”这一提法。", '换用原文的标点，"保交楼、稳民生" 见于 1 段。']
    assert main(["--index", str(index_root), "ask", "--json", "国家安全"]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert (answered["empty_reasons"], answered["near_wording"]) == ([], None)


def test_a_file_name_cannot_forge_a_line_or_colour_the_terminal_in_build_output(tmp_path, capsys):
    from service.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text("守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。\n", encoding="utf-8")
    (corpus / "a\nbuilt 99999 in 0.1s: all good.txt").write_bytes(b"")
    (corpus / "b\x1b[31mRED.txt").write_bytes(b"")
    assert main(["--index", str(tmp_path / "index"), "build", "--corpus", str(corpus), "-q"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert sorted(warnings) == ["warning: a\\nbuilt 99999 in 0.1s: all good.txt: skipped, empty file",
                                "warning: b\\x1b[31mRED.txt: skipped, empty file"]


def test_library_logs_go_to_the_stderr_of_the_moment_they_are_written(tmp_path, monkeypatch):
    # main() installs its log handlers once a process: bound to the stderr of the first call (a test's captured
    # stream, closed since), every later record printed a "--- Logging error ---" traceback instead
    import io
    import logging

    from service.cli import main

    first = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stderr", first)
    main(["--index", str(tmp_path / "none"), "status"])
    first.close()
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    logging.getLogger("index").warning("a record after the first stream closed")
    assert now.getvalue() == "speechqa: a record after the first stream closed\n"


def test_an_answers_reprints_are_named_by_title_once_each():
    from service.cli import copies_line

    def copy(title, passage):
        return {"speech": {"title": title}, "passage_id": passage}

    listed = [copy("甲", f"a{n}") for n in range(18)] + [copy("乙", "b1"), copy("丙", "c1")]
    assert copies_line(listed, 331) == "甲 (a0 等 18 篇); 乙 (b1); 丙 (c1); …另有 311 篇"
    assert copies_line(listed[:1], 1) == "甲 (a0)"


def test_verbose_lists_every_advertisement_line_even_where_the_other_files_warnings_are_counted():
    from index.parse import LEFT_OUT_AS_AD
    from service.cli import _warning_lines

    ad = f"a.txt: {LEFT_OUT_AS_AD}: '【笔杆子素材库】添加客服'"
    empty = "b.txt: empty file, skipped"
    # remove's files are gone, so every warning is about the library's other files: counted, ads and all
    assert _warning_lines([ad, empty], last=[], others_counted=True, verbose=False) == [
        "2 about the library's other files, as before (`--all-warnings` lists them)"]
    # -v lists the advertisement lines and counts the rest
    assert _warning_lines([ad, empty], last=[], others_counted=True, verbose=True) == [
        "1 about the library's other files, as before (`--all-warnings` lists them)", ad]
    assert _warning_lines([ad], last=[], others_counted=True, verbose=True) == [ad]
    # listed in full, the ads are counted in one line unless -v
    assert _warning_lines([ad, empty], last=[], others_counted=False, verbose=False) == [
        "1 line left out as advertisements, in 1 file (`-v` lists them)", empty]
