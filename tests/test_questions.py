"""The shipped question sets are sound, and the loader rejects broken sets by line number."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from eval.questions import (LANGS, TYPES, UNKNOWN, Question, QuestionSetError, SpanCheck, absent_spans, check_spans,
                            load_questions, load_unanswerable)

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SHIPPED = REPO / "eval" / "questions.jsonl"


def _speeches() -> dict[str, str]:
    """Body text of each seed speech by exact title, read straight from the files ("" = the untitled 004)."""
    (compilation,) = SEEDS.glob("000_*.txt")
    (untitled,) = SEEDS.glob("004_*.txt")
    lines = compilation.read_text(encoding="utf-8").split("\n")
    toc = lines.index("目录")
    titles = []
    for line in lines[toc + 1:]:
        entry = re.match(r"^\d+\.(.+?)\t\d+$", line)
        if not entry:
            break
        titles.append(entry.group(1))
    starts = [lines.index(title, toc + len(titles) + 1) for title in titles]
    ends = starts[1:] + [len(lines)]
    bodies = {title: "\n".join(lines[s + 1:e]) for title, s, e in zip(titles, starts, ends)}
    bodies[""] = untitled.read_text(encoding="utf-8")
    return bodies


SPEECHES = _speeches()
QUESTIONS = load_questions(SHIPPED)


def test_seed_titles_are_found():
    assert len(SPEECHES) == 11
    assert "全面贯彻落实总体国家安全观筑牢新时代壮乡首府安全屏障" in SPEECHES


def test_shipped_set_size_types_and_languages():
    types = Counter(q.type for q in QUESTIONS)
    langs = Counter(q.lang for q in QUESTIONS)
    assert len(QUESTIONS) >= 90
    assert set(types) == set(TYPES)
    assert min(types.values()) >= 10
    assert set(langs) == set(LANGS)
    assert langs["en"] >= 15


def test_shipped_ids_are_unique():
    ids = [q.id for q in QUESTIONS]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"q\d{3}", i) for i in ids)


def test_every_gold_span_is_verbatim_in_the_seeds():
    texts = [path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt"))]
    for q in QUESTIONS:
        for span in q.gold_spans:
            assert any(span in text for text in texts), (q.id, span)
            assert "\n" not in span and 8 <= len(span) <= 40, (q.id, span)


def test_named_speech_is_an_exact_title_holding_a_gold_span():
    for q in QUESTIONS:
        assert q.speech in SPEECHES, (q.id, q.speech)
        if q.speech:
            assert any(span in SPEECHES[q.speech] for span in q.gold_spans), q.id


def test_every_speech_is_asked_about_several_times():
    asked = Counter(title for q in QUESTIONS for title, body in SPEECHES.items()
                    if any(span in body for span in q.gold_spans))
    assert set(asked) == set(SPEECHES)
    assert min(asked.values()) >= 5


def _longest_common_run(a: str, b: str) -> int:
    best = 0
    for i in range(len(a)):
        while i + best < len(a) and a[i:i + best + 1] in b:
            best += 1
    return best


def test_chinese_paraphrases_do_not_copy_the_source():
    for q in QUESTIONS:
        if q.type == "paraphrase" and q.lang == "zh":
            assert max(_longest_common_run(q.question, span) for span in q.gold_spans) < 6, q.id


def _seed_texts() -> list[str]:
    return [path.read_text(encoding="utf-8") for path in SEEDS.glob("*.txt")]


def test_no_gold_span_of_the_shipped_set_is_absent_from_the_seeds():
    assert absent_spans((span for q in QUESTIONS for span in q.gold_spans), _seed_texts()) == set()


def test_check_spans_names_the_question_of_a_missing_span():
    questions = [Question("a1", "q", ("国家安全是 民族复兴的根基",)), Question("b2", "q", ("没有这句话的原文",))]
    texts = ["国家安全是民族\n复兴的根基，社会稳定是国家强盛的前提。"]
    absent = absent_spans(["国家安全是 民族复兴的根基", "没有这句话的原文"], texts)
    assert absent == {"没有这句话的原文"}
    with pytest.raises(QuestionSetError) as caught:
        check_spans(questions, SpanCheck(absent=frozenset(absent)))
    assert str(caught.value) == ("1 gold span(s) not found in the corpus — copy them verbatim from the source: "
                                 "b2: \"没有这句话的原文\"")


def test_absent_spans_wants_each_span_inside_one_text():
    assert absent_spans(["根基社会稳定"], [{"text": "国家安全是民族复兴的根基"}, {"text": "社会稳定是国家强盛的前提"}]) == {
        "根基社会稳定"}


def test_check_spans_notes_the_spans_a_backend_could_not_check():
    questions = [Question("a1", "q", ("坚持……是",)), Question("b2", "q", ("国家安全",))]
    check = SpanCheck(unchecked={"坚持……是": "only loosely matched"})
    assert check_spans(questions, check) == ("1 gold span(s) could not be checked against the corpus, so a miss on "
                                             "them may be the span's: a1: \"坚持……是\" (only loosely matched)")
    assert check_spans(questions, SpanCheck()) is None


GOOD = {"id": "q1", "question": "问题", "gold_spans": ["原文片段"], "speech": "", "type": "fact", "lang": "zh"}


def _line(**changes) -> str:
    obj = {**GOOD, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not ...}, ensure_ascii=False)


@pytest.mark.parametrize("bad_line, message", [
    ("{not json", "not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
    ("[1, 2]", "expected a JSON object, got list"),
    (_line(id=...), "missing field \"id\""),
    (_line(id=""), "field \"id\" is empty"),
    (_line(question=...), "missing field \"question\""),
    (_line(question=7), "field \"question\" must be a string (got int)"),
    (_line(gold_spans=...), "missing field \"gold_spans\""),
    (_line(gold_spans=[]), "field \"gold_spans\" is empty: list at least one verbatim span of the answer"),
    (_line(gold_spans="原文片段"), "field \"gold_spans\" must be a list of strings"),
    (_line(gold_spans=["原文片段", " "]), "field \"gold_spans\" holds a blank span"),
    (_line(type="opinion"), "unknown type \"opinion\" (use one of paraphrase, keyword, fact, topic, crosslingual)"),
    (_line(lang="fr"), "unknown lang \"fr\" (use one of zh, en)"),
    (_line(id="q0"), "duplicate id \"q0\" (first on line 1)"),
    ('{"id": "q1", "question": "a", "question": "b", "gold_spans": ["原文片段"]}', "duplicate key \"question\""),
    ('{"id": "q1", "question": "a", "gold_spans": ["原文片段"], "extra": {"n": 1, "n": 2}}', "duplicate key \"n\""),
])
def test_loader_names_the_line_and_the_problem(tmp_path, bad_line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(_line(id="q0") + "\n\n" + bad_line + "\n", encoding="utf-8")
    with pytest.raises(QuestionSetError) as caught:
        load_questions(path)
    assert str(caught.value) == f"{path}:3: {message}"
    assert isinstance(caught.value, ValueError)


def test_loader_defaults_and_ignores_extra_fields(tmp_path):
    path = tmp_path / "minimal.jsonl"
    path.write_text(json.dumps({"id": "x", "question": " 问 ", "gold_spans": ["片段"], "extra": 1}) + "\n",
                    encoding="utf-8")
    assert load_questions(path) == [Question(id="x", question="问", gold_spans=("片段",), speech="",
                                             type=UNKNOWN, lang=UNKNOWN, note="", line=1)]


def test_a_set_saved_with_a_utf8_byte_order_mark_loads(tmp_path):
    # what Windows Notepad writes as "UTF-8"
    questions, unanswerable = tmp_path / "bom.jsonl", tmp_path / "bom_ooc.jsonl"
    questions.write_text("\ufeff" + _line() + "\n", encoding="utf-8")
    unanswerable.write_text('\ufeff{"id": "o1", "question": "火星上有粮仓吗？"}\n', encoding="utf-8")
    assert [(q.id, q.gold_spans, q.line) for q in load_questions(questions)] == [("q1", ("原文片段",), 1)]
    assert load_unanswerable(unanswerable) == [("o1", "火星上有粮仓吗？")]


@pytest.mark.parametrize("content, message", [
    ('{"id": "o2", "id": "o3", "question": "b"}', "duplicate key \"id\""),
    ('["o2", "b"]', "expected a JSON object, got list"),
])
def test_out_of_corpus_loader_names_the_line_and_the_problem(tmp_path, content, message):
    path = tmp_path / "ooc.jsonl"
    path.write_text('{"id": "o1", "question": "a"}\n' + content + "\n", encoding="utf-8")
    with pytest.raises(QuestionSetError) as caught:
        load_unanswerable(path)
    assert str(caught.value) == f"{path}:2: {message}"


@pytest.mark.parametrize("content, message", [
    (None, "no such question set"),
    ("\n\n", "the question set is empty"),
])
def test_loader_rejects_missing_or_empty_files(tmp_path, content, message):
    path = tmp_path / "set.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(QuestionSetError, match=f"^{re.escape(str(path))}: {message}$"):
        load_questions(path)


# The untitled speech's first heading, which the parser makes its title and blind.jsonl names it by.
UNTITLED_HEADING = "保障粮食安全提高粮食产能"


def _assert_points_at_its_speeches(questions):
    assert absent_spans((span for q in questions for span in q.gold_spans), _seed_texts()) == set()
    for q in questions:
        body = SPEECHES[""] if q.speech == UNTITLED_HEADING else SPEECHES.get(q.speech)
        assert body is not None, (q.id, q.speech)
        if q.speech:
            assert any(re.sub(r"\s+", "", span) in re.sub(r"\s+", "", body) for span in q.gold_spans), q.id


@pytest.mark.parametrize("name", ["holdout", "blind", "blind2", "blind3", "blind4", "blind5", "blind6", "blind7",
                                  "blind8", "others_a", "others_b", "others_c"])
def test_every_other_shipped_set_loads_and_points_at_its_speeches(name):
    questions = load_questions(REPO / "eval" / f"{name}.jsonl")
    assert len({q.id for q in questions}) == len(questions) >= 60
    assert {q.type for q in questions} == set(TYPES) and {q.lang for q in questions} == set(LANGS)
    _assert_points_at_its_speeches(questions)


def test_two_hop_topic_set_loads_and_points_at_its_speeches():
    questions = load_questions(REPO / "eval" / "topic_twohop.jsonl")
    assert len({q.id for q in questions}) == len(questions) == 90
    assert {q.type for q in questions} == {"topic"} and {q.lang for q in questions} == set(LANGS)
    _assert_points_at_its_speeches(questions)
