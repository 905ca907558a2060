"""The JSON API over the real seed index: shapes, errors, escaping, relevance, the OpenAPI document."""
from __future__ import annotations

import json
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import jieba
import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.bilingual import policy_glossary
from index.engines import choose_engine, choose_query_engine, machine_cpu
from index.thesaurus import plain_wording
from index.request import MAX_K, MAX_QUERY_CHARS
from service import create_app
from index.errors import BadQuery, QuerySyntaxError
from service.api import ADMIN_RELOAD, RELOAD_DISABLED
from service.errors import STATUS
from service.export import Source, source_line
from service.state import IndexHolder
from service.highlight import best_sentence, highlight, highlight_passage, match_spans, split_sentences
from service.openapi import BUILD_HEADER, build_spec

SEARCH_KEYS = ["query", "mode", "speech", "took_ms", "answered", "phrases_relaxed", "phrases_spread",
               "phrases_held", "named_speech", "speakers_named", "parts_listed", "matched", "empty_reasons",
               "near_wording", "results"]
RESULT_KEYS = ["rank", "score", "confidence", "passage_id", "text", "speech", "section", "scores", "best_span", "start", "end",
               "duplicates", "duplicate_count", "highlight", "best_sentence"]
METADATA_KEYS = ["date", "place", "speaker", "occasion", "collection"]
PASSAGE_KEYS = ["id", "speech_id", "speech_title", "source", "section", "first_block", "last_block",
                "start", "end", "text", "ordinal", "duplicate_of", "spliced_from"]
SUMMARY_KEYS = ["id", "title", "source", "title_inferred", "section_count", "passage_count"] + METADATA_KEYS
K_MESSAGE = f"k must be an integer between 1 and {MAX_K}"
Q_MESSAGE = "q must be a non-empty question"
MODE_MESSAGE = "mode must be one of hybrid, dense, bm25"


@pytest.fixture
def empty_client(tmp_path):
    """An app whose INDEX holds no index."""
    # no reload watcher: nothing here builds, and a watcher would outlive the test polling the folder
    return create_app({"TESTING": True, "INDEX": str(tmp_path / "nothing"), "RELOAD_INTERVAL": 0}).test_client()


def error_of(response) -> tuple[str, str]:
    body = response.get_json()
    assert list(body) == ["error"] and list(body["error"]) == ["code", "message"], body
    assert response.mimetype == "application/json"
    return body["error"]["code"], body["error"]["message"]


# --- highlight.py: pure functions -------------------------------------------------------------

def test_split_sentences_cuts_after_enders_keeps_closing_quotes_and_trims():
    text = "一是“保障粮食安全。”二是提高产能；\n\n 三、其他！尾巴"
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == ["一是“保障粮食安全。”", "二是提高产能；", "三、其他！", "尾巴"]
    assert split_sentences("") == () and split_sentences(" \n ") == ()


def test_highlight_escapes_everything_then_marks_longest_terms_without_nesting():
    text = '<script>alert(1)</script>保障粮食安全"'
    out = str(highlight(text, ["粮食", "粮食安全", "安全", "script"]))
    assert out == ('&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;保障'
                   '<mark>粮食安全</mark>&#34;')
    assert "<mark><mark>" not in out


def test_highlight_merges_adjacent_terms_and_folds_width_and_case():
    assert str(highlight("保障粮食安全", ["保障", "粮食安全"])) == "<mark>保障粮食安全</mark>"
    assert str(highlight("ＡＩ said ai", ["ai"])) == "<mark>ＡＩ</mark> said <mark>ai</mark>"
    assert match_spans("said", ["ai"]) == []


def test_a_character_that_folds_to_several_keeps_its_place_in_the_original():
    # NFKC makes ﬁ "fi" and ㎞ "km": the marks still cover the original characters, and the rest
    # of the passage keeps its offsets
    assert match_spans("ﬁve ㎞ 粮食", ["five", "km", "粮食"]) == [(0, 3), (4, 5), (6, 8)]
    assert str(highlight("ﬁve Ｋm", ["five", "km"])) == "<mark>ﬁve</mark> <mark>Ｋm</mark>"


def test_a_phrase_wrapped_across_lines_is_marked_where_it_is():
    text = "保交\n楼工作要抓实。保交楼！"
    assert match_spans(text, ["保交楼"]) == [(0, 4), (10, 13)]
    assert match_spans("上海 交通\n大学的同学们，", ["交通大学"]) == [(3, 8)]
    assert match_spans("said it", ["it", "ai"]) == [(5, 7)]  # whitespace still bounds a word


@given(st.text(alphabet="保交楼 \n稳民生。", max_size=30), st.text(alphabet="保交楼稳。", min_size=1, max_size=3))
def test_a_phrase_marks_each_of_its_occurrences_whitespace_ignored(text, phrase):
    marked = {i for start, end in match_spans(text, [phrase]) for i in range(start, end) if not text[i].isspace()}
    kept = [i for i, char in enumerate(text) if not char.isspace()]
    squashed, expected, at = "".join(text[i] for i in kept), set(), 0
    while (at := squashed.find(phrase, at)) != -1:  # non-overlapping, left to right, as marks claim them
        expected |= {kept[j] for j in range(at, at + len(phrase))}
        at += len(phrase)
    assert marked == expected
    assert all(not text[start].isspace() and not text[end - 1].isspace() for start, end in match_spans(text, [phrase]))


def test_a_quotation_mark_highlights_whichever_mark_the_text_prints():
    assert match_spans("坚决做到“两个维护”，", ['坚决做到"两个维护"']) == [(0, 10)]
    assert match_spans("China’s path", ["china's"]) == [(0, 7)]


def test_highlight_passage_wraps_best_sentence_and_escapes():
    text = "<b>甲</b>。粮食安全。"
    best = best_sentence(text, ["粮食安全"])
    assert str(highlight_passage(text, ["粮食安全"], best)) == (
        '&lt;b&gt;甲&lt;/b&gt;。<strong class="best"><mark>粮食安全</mark>。</strong>')


# --- search -------------------------------------------------------------------------------------

def test_an_empty_answer_says_why_as_the_page_does(client, searcher):
    # the bundled speeches name no place: the filter, not the wording, left nothing
    body = client.get("/api/search", query_string={"q": "粮食安全", "place": "南宁"}).get_json()
    assert (body["results"], body["near_wording"]) == ([], None)
    assert body["empty_reasons"] == ["库里的讲话都没有标注地点，按地点筛选会排除全部讲话。"]
    # a phrase passages hold is no title's wording to look for with title:, though a title holds it too
    apart = client.get("/api/search", query_string={"q": '"保交楼" "粮食"'}).get_json()
    assert apart["empty_reasons"] == ["“保交楼”见于 1 段、“粮食”见于 9 段，没有一段同时含有它们。"]
    # wording no passage holds in any writing is said to be absent, in so many words
    absent = client.post("/api/search", json={"q": '"不在这里的话"'}).get_json()
    assert (absent["results"], absent["empty_reasons"], absent["near_wording"]) == (
        [], ["库中没有一段含有“不在这里的话”这一提法。"], None)
    # within a chosen speech that lacks it, how many passages hold it without that choice
    lacking = next(p.speech_id for p in searcher.passages
                   if not any("粮食" in q.text for q in searcher.passages if q.speech_id == p.speech_id))
    narrowed = client.get("/api/search", query_string={"q": '"粮食"', "speech": lacking}).get_json()
    assert (narrowed["results"], narrowed["empty_reasons"]) == ([], ["所选范围内没有一段含有“粮食”，不限范围见于 9 段。"])
    # a page past a verbatim check's end says so, and how many there are: the offset emptied it, not the wording
    past = client.get("/api/search", query_string={"q": '"保交楼"', "offset": 100}).get_json()
    assert (past["matched"], past["results"], past["near_wording"]) == (1, [], None)
    assert past["empty_reasons"] == ["共 1 条符合，第 100 条之后没有了。"]


@pytest.mark.parametrize("path", ["/api/speeches", "/api/speeches/{speech}", "/api/passages/{passage}",
                                  "/api/passages/{passage}/citation"])
def test_a_get_without_parameters_names_those_it_was_given(client, searcher, path):
    url = path.format(speech=searcher.speeches[0].id, passage=searcher.passages[0].id)
    plain = client.get(url).get_json()
    assert "ignored_parameters" not in plain
    # a reader of ?context=2 took the passage alone for the context asked
    assert client.get(url, query_string={"context": "2"}).get_json() == plain | {"ignored_parameters": ["context"]}


def test_search_get_shape_is_exact(client):
    response = client.get("/api/search", query_string={"q": "如何保障粮食安全？", "k": 3})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == SEARCH_KEYS
    assert (body["query"], body["mode"], body["speech"]) == ("如何保障粮食安全？", "hybrid", None)
    assert [r["rank"] for r in body["results"]] == [1, 2, 3]
    for result in body["results"]:
        assert list(result) == RESULT_KEYS
        assert list(result["speech"]) == ["id", "title", "source"] + METADATA_KEYS + ["title_inferred"]
        assert "bm25" in result["scores"] and len(result["scores"]) >= 2, "hybrid keeps each arm's view"
        assert all(list(arm) == ["score", "rank"] for arm in result["scores"].values())
        assert list(result["best_sentence"]) == ["text", "start", "end"]
        best = result["best_sentence"]
        assert result["text"][best["start"]:best["end"]] == best["text"] != ""
    top = body["results"][0]
    assert "<mark>粮食安全</mark>" in top["highlight"]
    assert "粮食安全" in top["best_sentence"]["text"]


def test_search_post_matches_get(client):
    got = client.get("/api/search?q=边境安全防控怎么做&k=5&mode=bm25").get_json()
    posted = client.post("/api/search", json={"q": "边境安全防控怎么做", "k": 5, "mode": "bm25"}).get_json()
    assert [r["passage_id"] for r in posted["results"]] == [r["passage_id"] for r in got["results"]]
    assert posted["mode"] == "bm25" and len(posted["results"]) == 5


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
@pytest.mark.parametrize(("question", "expected"), [
    ("如何保障粮食安全？", "粮食安全"),
    ("基层怎样提高保密意识？", "保密意识"),
    ("边境安全防控怎么做", "边境"),
])
def test_chinese_questions_find_relevant_passages_in_top_3(client, mode, question, expected):
    body = client.get("/api/search", query_string={"q": question, "k": 3, "mode": mode}).get_json()
    assert any(expected in r["text"] for r in body["results"]), [r["text"][:30] for r in body["results"]]


def test_english_question_gets_results_marked_with_its_chinese_terms(client, searcher):
    question = "How should grassroots officials guarantee food security?"
    terms = searcher.lexical_terms(question)
    # the policy glossary: officials → 干部, "food security" → 粮食安全; CC-CEDICT: guarantee → 保障
    assert {"干部", "保障", "粮食安全"} <= set(terms)
    body = client.get("/api/search", query_string={"q": question, "k": 3, "mode": "dense"}).get_json()
    assert any("粮食安全" in r["text"] for r in body["results"])
    for result in body["results"]:
        best = result["best_sentence"]
        assert result["text"][best["start"]:best["end"]] == best["text"]
        assert "粮食安全</mark>" in result["highlight"]  # the glossary's term, marked whole


def test_english_words_met_only_through_passages_translations_are_marked_in_chinese(client, searcher):
    question = "protecting ecological civilization"
    # no CC-CEDICT gloss reads "protecting": the question reaches 保护 only through its stem, en_protect
    assert "en_protect" in searcher.lexical_terms(question) and "保护" not in searcher.lexical_terms(question)
    marked = searcher.marked_terms(question)
    assert "保护" in marked and not any(term.startswith("en_") for term in marked)
    body = client.get("/api/search", query_string={"q": question, "k": 5, "mode": "bm25"}).get_json()
    holding = [r for r in body["results"] if "保护" in r["text"]]
    assert holding and all(re.search(r"<mark>[^<]*保护[^<]*</mark>", r["highlight"]) for r in holding)


def test_speech_filter_restricts_results(client, searcher):
    speech = searcher.speeches[1]
    body = client.get("/api/search", query_string={"q": "安全", "k": 50, "speech": speech.id}).get_json()
    assert body["speech"] == speech.id
    assert body["results"] and {r["speech"]["id"] for r in body["results"]} == {speech.id}
    assert len(body["results"]) <= speech.passages
    # an id pasted with spaces around it is the same speech, in the query string and in a body
    padded = client.get("/api/search", query_string={"q": "安全", "k": 50, "speech": f" {speech.id} "}).get_json()
    posted = client.post("/api/search", json={"q": "安全", "k": 50, "speech": f"{speech.id}\n"}).get_json()
    for same in (padded, posted):
        assert same["speech"] == speech.id
        assert [r["passage_id"] for r in same["results"]] == [r["passage_id"] for r in body["results"]]


def test_query_with_markup_is_escaped_in_highlights(client):
    body = client.get("/api/search", query_string={"q": "<script>alert(1)</script>粮食安全", "k": 5}).get_json()
    assert body["query"] == "<script>alert(1)</script>粮食安全"
    assert all("<script" not in r["highlight"] for r in body["results"])
    assert any("<mark>" in r["highlight"] for r in body["results"])


def test_a_phrase_typed_with_other_inner_quotes_finds_and_marks_the_speeches_wording(client):
    def search(q):
        return client.get("/api/search", query_string={"q": q, "k": 50}).get_json()

    printed, typed = search("「坚决做到“两个维护”」"), search('「坚决做到"两个维护"」')
    assert len(printed["results"]) >= 3
    assert [r["passage_id"] for r in typed["results"]] == [r["passage_id"] for r in printed["results"]]
    assert typed["phrases_relaxed"] is False
    assert all("<mark>坚决做到“两个维护”</mark>" in r["highlight"] for r in typed["results"])


def test_a_phrase_quoted_with_two_closing_quotes_is_checked_as_quoted(client):
    def search(q):
        return client.get("/api/search", query_string={"q": q, "k": 50}).get_json()

    closers, quoted = search("”保交楼”"), search("“保交楼”")
    assert (closers["matched"], closers["phrases_relaxed"]) == (1, False)
    assert [r["passage_id"] for r in closers["results"]] == [r["passage_id"] for r in quoted["results"]]
    assert "<mark>保交楼</mark>" in closers["results"][0]["highlight"]
    # both typed as opening quotes: refused with the hint, as reversed ones are
    refused = client.get("/api/search", query_string={"q": "“保交楼“"})
    assert (refused.status_code, *error_of(refused)) == (
        400, "query_syntax", "unclosed quote “ at character 1 of q (…“保交楼“) — both quotes are opening ones: write “…”")


@pytest.mark.parametrize(("pasted", "typed"), [
    ("如何保障粮\u200b食安全", "如何保障粮食安全"),  # Word and web pages carry zero-width marks unseen
    ("如何保障粮食安全\x00", "如何保障粮食安全"),
    ("如 何 保 障 粮 食 安 全", "如何保障粮食安全"),  # PDF text: a space between every character
    ("粮 食 安 全，如 何 保 障", "粮食安全，如何保障"),  # punctuation touching the characters too
    ("「国家\u200f安全」", "「国家安全」"),  # a right-to-left mark
    ("Ｈｏｗ　ｄｏ　ｃｉｔｉｅｓ　ｆｉｇｈｔ　ｔｅｌｅｃｏｍ　ｆｒａｕｄ？", "How do cities fight telecom fraud?"),
])
def test_a_pasted_question_is_searched_as_its_reader_sees_it(client, pasted, typed):
    def searched(q):
        payload = client.get("/api/search", query_string={"q": q, "k": 3}).get_json()
        return [r["passage_id"] for r in payload["results"]], payload["query"]
    assert searched(pasted) == searched(typed)


def test_a_chinese_question_keeps_its_full_width_punctuation(client):
    # a phrase's marks must meet the source's own full-width comma
    payload = client.get("/api/search", query_string={"q": "「现代化，坚决维护」"}).get_json()
    assert payload["query"] == "「现代化，坚决维护」" and payload["matched"]


@pytest.mark.parametrize(("params", "message"), [
    ({}, Q_MESSAGE),
    ({"q": ""}, Q_MESSAGE),
    ({"q": "   "}, Q_MESSAGE),
    # only what no reader sees: a zero-width space, a control character
    ({"q": "\u200b"}, Q_MESSAGE),
    ({"q": "\x01 \u00ad"}, Q_MESSAGE),
    ({"q": "\u200e\u202e\u2069"}, Q_MESSAGE),
    ({"q": "粮" * (MAX_QUERY_CHARS + 1)}, f"q must be at most {MAX_QUERY_CHARS} characters (got 501)"),
    ({"q": "粮食", "k": "abc"}, K_MESSAGE),
    ({"q": "粮食", "k": "0"}, K_MESSAGE),
    ({"q": "粮食", "k": "51"}, K_MESSAGE),
    ({"q": "粮食", "k": "-1"}, K_MESSAGE),
    ({"q": "粮食", "k": "1.5"}, K_MESSAGE),
    ({"q": "粮食", "k": "１０"}, K_MESSAGE),
    ({"q": "粮食", "k": "99999999999999999999999"}, K_MESSAGE),
    ({"q": "粮食", "k": "9" * 5000}, f"{K_MESSAGE} (got a number too large to show)"),
    ({"q": "粮食", "mode": "sparse"}, MODE_MESSAGE),
    ({"q": "粮食", "speech": "no-such-speech"}, "unknown speech id \"no-such-speech\""),
])
def test_search_get_rejects_bad_parameters(client, params, message):
    response = client.get("/api/search", query_string=params)
    assert response.status_code == 400
    code, text = error_of(response)
    assert code == "bad_query"
    assert text.startswith(message)


@pytest.mark.parametrize(("body", "code", "message"), [
    (b"", "bad_request", "request body must be a JSON object"),
    (b"{", "bad_request", "request body is not valid JSON"),
    (b'{"q": "\xff"}', "bad_request", "request body is not valid JSON"),
    (b"[" * 6000 + b"]" * 6000, "bad_request", "request body nests arrays or objects too deeply to read"),
    # Python reads no integer of over 4300 digits, and its message named sys.set_int_max_str_digits
    (b'{"q": "x", "k": ' + b"9" * 5000 + b"}", "bad_request", "request body holds a number too long to read — send "
                                                              'a JSON object such as {"q": "如何保障粮食安全？"}'),
    (b"[1, 2]", "bad_request", "request body must be a JSON object, not list"),
    (b"null", "bad_request", "request body must be a JSON object, not null"),
    (b'"q"', "bad_request", "request body must be a JSON object, not str"),
    (b'{"q": 5}', "bad_query", "q must be a string, the question (got 5)"),
    (b'{"q": ["x"]}', "bad_query", "q must be a string, the question (got [\"x\"])"),
    (b'{"q": null}', "bad_query", Q_MESSAGE),
    (b'{"q": ""}', "bad_query", Q_MESSAGE),
    (b'{"k": 3}', "bad_query", Q_MESSAGE),
    (b'{"q": "\\u7cae\\u98df", "k": "5"}', "bad_query", K_MESSAGE),
    # the value given is named as the client wrote it, JSON, not as Python's repr (True, None, 'x')
    (b'{"q": "x", "k": true}', "bad_query", f"{K_MESSAGE} (got true)"),
    (b'{"q": "x", "k": 5.0}', "bad_query", f"{K_MESSAGE} (got 5.0)"),
    (b'{"q": true}', "bad_query", "q must be a string, the question (got true)"),
    (b'{"q": "x", "offset": false}', "bad_query", "offset must be an integer between 0 and 10000 (got false)"),
    (b'{"q": "x", "k": 0}', "bad_query", K_MESSAGE),
    (b'{"q": "x", "mode": "Hybrid"}', "bad_query", MODE_MESSAGE),
    (b'{"q": "x", "mode": ["hybrid"]}', "bad_query", f'{MODE_MESSAGE} (got ["hybrid"])'),
    (b'{"q": "x", "speech": 5}', "bad_query", "speech must be a speech id"),
    (b'{"q": "x", "speech": "nope"}', "bad_query", "unknown speech id \"nope\""),
    (b'{"query": "x"}', "bad_query", "unknown field \"query\" — allowed: q, k, mode, speech"),
])
def test_search_post_rejects_bad_bodies(client, body, code, message):
    response = client.post("/api/search", data=body, content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)[0] == code
    assert error_of(response)[1].startswith(message)


@pytest.mark.parametrize(("path", "body", "key"), [
    ("/api/search", '{"q": "安全", "q": "国家"}', "q"),
    ("/api/search", '{"q": "安全", "k": 3, "k": 3}', "k"),  # even with the same value
    ("/api/search", '{"q": "安全", "mode": {"x": 1, "x": 2}}', "x"),  # at any depth, as the eval loader
    ("/api/export", '{"ids": ["a"], "format": "csv", "format": "docx"}', "format"),
])
def test_a_body_giving_a_key_twice_is_refused_naming_the_key(client, path, body, key):
    # json.loads kept the last one: {"q": "安全", "q": "国家"} searched 国家
    for content_type in ("application/json", "text/plain"):
        response = client.post(path, data=body.encode("utf-8"), content_type=content_type)
        assert response.status_code == 400
        assert error_of(response) == (
            "bad_request", f"request body gives the key {json.dumps(key)} more than once — send each field once")


def test_a_json_body_sent_as_text_plain_is_still_searched(client):
    response = client.post("/api/search", data='{"q": "粮食安全", "k": 2}'.encode("utf-8"),
                           content_type="text/plain")
    assert (response.status_code, len(response.get_json()["results"])) == (200, 2)


@pytest.mark.parametrize(("k", "got"), [
    ("99999999999999999999", "99999999999999999999"),  # 20 digits: echoed whole
    ("99999999999999999999999", "a number too large to show"),  # 23: no longer cut to 20 nines
    ("-99999999999999999999999", "a number too small to show"),
    ("-3", "-3"),
])
def test_a_k_out_of_range_is_echoed_whole_or_said_too_large(client, k, got):
    for response in (client.get("/api/search", query_string={"q": "粮食", "k": k}),
                     client.post("/api/search", data=f'{{"q": "粮食", "k": {k}}}', content_type="application/json")):
        assert error_of(response) == ("bad_query", f"{K_MESSAGE} (got {got})")


def test_post_defaults_and_nulls(client):
    body = client.post("/api/search", json={"q": "粮食安全", "k": None, "mode": None, "speech": None}).get_json()
    assert (body["mode"], body["speech"], len(body["results"])) == ("hybrid", None, 10)


def test_oversized_body_is_413(client):
    response = client.post("/api/search", data=json.dumps({"q": "粮" * 20000}), content_type="application/json")
    assert response.status_code == 413
    assert error_of(response) == ("payload_too_large", "request body is too large: at most 16384 bytes")


UTF8_MESSAGE = ("the query string is not valid UTF-8: its %-escapes must encode UTF-8 text, such as %E7%B2%AE for 粮 "
                "— send valid Unicode text")


# werkzeug hands escapes that decode to no UTF-8 on as literal text: "%ED%A0%80" (a lone surrogate's UTF-8)
# was searched as those nine characters.
@pytest.mark.parametrize("path", ["/api/search?q=%ED%A0%80", "/api/search?q=%ff%fe", "/api/search?q=%E7%B2&k=3",
                                  "/api/speeches?x=%C0%AF", "/api/search?%ff=1&q=x"])
def test_a_query_string_that_is_not_utf8_is_400(client, path):
    response = client.get(path)
    assert response.status_code == 400
    assert error_of(response) == ("bad_request", UTF8_MESSAGE)


def test_an_escaped_percent_sign_is_still_searched_as_text(client):
    assert client.get("/api/search?q=%25ff&k=1").get_json()["query"] == "%ff"


def test_get_names_the_parameters_it_ignored_and_only_when_there_are_any(client):
    misspelt = client.get("/api/search", query_string={"q": "粮食安全", "speeker": "张三", "utm_source": "x"})
    assert misspelt.status_code == 200 and misspelt.get_json()["ignored_parameters"] == ["speeker", "utm_source"]
    assert "ignored_parameters" not in client.get("/api/search", query_string={"q": "粮食安全"}).get_json()


@pytest.mark.parametrize(("query", "ignored", "count"), [
    ("q=粮食&q=电信诈骗&k=3", ["q"], 3),
    ("q=粮食&k=3&k=20", ["k"], 3),
    ("q=粮食&k=3&speaker=李四&speaker=张三", ["speaker"], 0),  # no seed speech names its speaker
    ("q=粮食&k=3&k=20&speeker=张三", ["k", "speeker"], 3),
])
def test_get_names_a_parameter_given_twice_of_which_it_read_the_first_value(client, query, ignored, count):
    body = client.get(f"/api/search?{query}").get_json()
    assert (body["query"], len(body["results"]), body["ignored_parameters"]) == ("粮食", count, ignored)


def test_a_verbatim_check_is_paged_by_offset_on_get_and_post(client):
    whole = client.get("/api/search", query_string={"q": "“两个维护”", "k": 50}).get_json()
    page = client.get("/api/search", query_string={"q": "“两个维护”", "k": 5, "offset": 5}).get_json()
    posted = client.post("/api/search", json={"q": "“两个维护”", "k": 5, "offset": 5}).get_json()
    assert page["matched"] == whole["matched"] > 10 and "ignored_parameters" not in page
    assert [r["passage_id"] for r in page["results"]] == [r["passage_id"] for r in whole["results"][5:10]]
    assert [r["rank"] for r in page["results"]] == [6, 7, 8, 9, 10] and posted["results"] == page["results"]


def test_a_parameter_repeated_with_the_same_value_loses_nothing_and_is_not_named(client):
    assert "ignored_parameters" not in client.get("/api/search?q=粮食&k=3&k=3").get_json()


@pytest.mark.parametrize(("method", "params", "message"), [
    ("get", {"query": "粮食"}, f"{Q_MESSAGE} (query is not a parameter; the question goes in q)"),
    ("get", {"question": "粮食", "query": " "},
     f"{Q_MESSAGE} (query, question are not parameters; the question goes in q)"),
    ("get", {"q": "粮食", "from": "2023-02-29"},
     "from must be a day that exists (got \"2023-02-29\": 2023-02 has 28 days)"),
    ("get", {"q": "粮食", "from": "2025-13-40"},
     "from must be a day that exists (got \"2025-13-40\": there is no month 13)"),
    ("get", {"q": "粮食", "to": "2024-02-30"}, "to must be a day that exists (got \"2024-02-30\": 2024-02 has 29 days)"),
    ("post", {"q": "粮食", "to": "0000-01-01"}, "to must be a day that exists (got \"0000-01-01\": there is no year 0)"),
    ("post", {"q": "粮食", "place": ["南宁"]}, "place must be text (got [\"南宁\"])"),
    ("post", {"q": "粮食", "speaker": 5}, "speaker must be text (got 5)"),
    ("get", {"q": "“两个维护”", "offset": "-1"}, "offset must be an integer between 0 and 10000 (got -1)"),
    ("post", {"q": "“两个维护”", "offset": "5"}, "offset must be an integer between 0 and 10000 (got \"5\")"),
    ("get", {"q": "两个维护", "offset": "5"}, "offset pages a verbatim check (quoted wording and filters alone, whose "
                                            "`matched` counts its results); a question with words to rank lists its "
                                            "50 best at most"),
])
def test_a_bad_parameter_says_what_to_fix(client, method, params, message):
    response = (client.get("/api/search", query_string=params) if method == "get"
                else client.post("/api/search", json=params))
    assert response.status_code == 400
    assert error_of(response) == ("bad_query", message)


def test_too_deeply_nested_json_gets_a_whole_message(client):
    response = client.post("/api/search", data=b'{"q": ' + b"[" * 6000 + b"]" * 6000 + b"}",
                           content_type="application/json")
    assert error_of(response) == ("bad_request", 'request body nests arrays or objects too deeply to read — send a '
                                                 'JSON object such as {"q": "如何保障粮食安全？"}')


@pytest.mark.parametrize("field", ["mode", "speech", "group", "from", "to", "place", "speaker", "sort"])
def test_post_takes_an_empty_text_field_as_not_given_as_get_does(client, field):
    def answer(response):
        assert response.status_code == 200, response.get_json()
        return {key: value for key, value in response.get_json().items() if key != "took_ms"}

    plain = answer(client.post("/api/search", json={"q": "粮食安全", "k": 3}))
    assert answer(client.post("/api/search", json={"q": "粮食安全", "k": 3, field: ""})) == plain
    assert answer(client.get("/api/search", query_string={"q": "粮食安全", "k": 3, field: ""})) == plain


def test_post_still_takes_k_only_as_a_number_or_null(client):
    # JSON's k is a number: "" is as wrong as "5" (null is its "not given"); the query string's k= is the default
    refused = client.post("/api/search", json={"q": "粮食安全", "k": ""})
    assert error_of(refused) == ("bad_query", f'{K_MESSAGE} (got "")')
    assert len(client.get("/api/search?q=粮食安全&k=").get_json()["results"]) == 10


def test_unknown_api_route_is_json_404(client):
    response = client.get("/api/nothing/here")
    assert response.status_code == 404
    assert error_of(response) == ("not_found", "no such endpoint /api/nothing/here — see /api/openapi.json")


@pytest.mark.parametrize(("method", "path", "meant"), [
    ("get", "/api//search?q=粮食", "/api/search"),
    ("post", "/api//search", "/api/search"),
    ("get", "/api/speeches//x", "/api/speeches/x"),
    ("get", "/api//admin/reload", "/api/admin/reload"),
])
def test_an_api_path_with_a_double_slash_is_json_404_naming_the_path_meant(client, method, path, meant):
    # werkzeug redirected it (308) with an HTML page and a Location built from the Host header, or, for a
    # method the route lacks, answered 405
    response = getattr(client, method)(path, json={"q": "粮食"} if method == "post" else None)
    assert response.status_code == 404 and "Location" not in response.headers
    assert error_of(response) == (
        "not_found", f"no such endpoint {path.split('?')[0]} (did you mean {meant}?) — see /api/openapi.json")


@pytest.mark.parametrize("path", ["/api/passages//citation", "/api/passages//similar", "/api/passages//citation?k=3"])
def test_an_empty_passage_id_is_a_404_that_names_no_other_route(client, path):
    # the merged path /api/passages/citation is the passage with the id "citation", which was named as the one meant
    response = client.get(path)
    assert response.status_code == 404 and "Location" not in response.headers
    assert error_of(response) == ("not_found",
                                  f"no such endpoint {path.split('?')[0]}: an id in it is empty — see /api/openapi.json")


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("delete", "/api/search", "GET, POST"),
    ("put", "/api/speeches", "GET"),
    ("post", "/healthz", "GET"),
])
def test_wrong_method_is_json_405_with_allow(client, method, path, allowed):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert error_of(response) == ("method_not_allowed", f"{method.upper()} is not allowed on {path}; use {allowed}")
    assert set(response.headers["Allow"].split(", ")) >= set(allowed.split(", "))


def test_genuine_bug_is_json_500_without_traceback(client, searcher, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(searcher, "search", broken)
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/search?q=粮食")
    assert response.status_code == 500
    assert error_of(response) == ("internal_error", "internal server error — the details are in the server log")
    assert b"secret" not in response.data and b"Traceback" not in response.data
    assert "secret internals" in caplog.text


@pytest.mark.parametrize("method", ["get", "post", "put", "delete", "patch", "options"])
def test_reload_without_a_token_is_404_saying_how_to_enable_it_for_every_method(searcher, method):
    client = create_app({"TESTING": True, "RELOAD_TOKEN": None}, searcher=searcher).test_client()
    response = getattr(client, method)("/api/admin/reload")
    assert response.status_code == 404
    assert error_of(response) == ("not_found", RELOAD_DISABLED)
    assert RELOAD_DISABLED == ("reloading over HTTP is disabled: set SPEECHQA_RELOAD_TOKEN and restart the server "
                               "to enable POST /api/admin/reload")


def test_reload_with_a_token_still_answers_other_methods_405(searcher):
    client = create_app({"TESTING": True, "RELOAD_TOKEN": "t"}, searcher=searcher).test_client()
    assert error_of(client.get("/api/admin/reload")) == (
        "method_not_allowed", "GET is not allowed on /api/admin/reload; use POST")


@pytest.mark.parametrize(("method", "path", "request_args", "status"), [
    ("get", "/api/search?q=a&k=0", {}, 400),
    ("get", "/api/search?q=%ED%A0%80", {}, 400),  # the app's own check, before any route
    ("post", "/api/search", {"data": b"{", "content_type": "application/json"}, 400),
    ("post", "/api/search", {"data": b'{"q": "a", "q": "b"}', "content_type": "application/json"}, 400),
    ("post", "/api/export", {"json": {"ids": [], "format": "csv"}}, 400),
    ("post", "/api/search", {"data": json.dumps({"q": "粮" * 20000}), "content_type": "application/json"}, 413),
    ("put", "/api/search", {}, 405),
    ("get", "/api/nope", {}, 404),
    ("get", "/api", {}, 404),
    ("get", "/api//search", {}, 404),
    ("get", "/api/openapi.json", {}, 200),
    ("post", "/api/admin/reload", {}, 404),
    ("options", "/api/search", {}, 200),
])
def test_every_api_answer_names_the_build_it_came_from_an_error_included(client, searcher, method, path,
                                                                         request_args, status):
    response = getattr(client, method)(path, **request_args)
    assert (response.status_code, response.headers[BUILD_HEADER]) == (status, searcher.manifest["build_id"])


def test_every_admin_reload_answer_names_the_build_serving(index_root, encoder, searcher):
    app = create_app({"TESTING": True, "INDEX": str(index_root), "RELOAD_INTERVAL": 0, "RELOAD_TOKEN": "t"},
                     encoder=encoder)
    client, build_id = app.test_client(), searcher.manifest["build_id"]

    def answer(response):
        code = error_of(response)[0] if response.status_code != 200 else ""
        return response.status_code, code, response.headers[BUILD_HEADER]

    assert answer(client.post("/api/admin/reload")) == (401, "unauthorized", build_id)
    assert answer(client.post("/api/admin/reload", headers={"Authorization": "Bearer x"})) == (
        403, "forbidden", build_id)
    assert answer(client.get("/api/admin/reload")) == (405, "method_not_allowed", build_id)
    with app.extensions[ADMIN_RELOAD]:
        assert answer(client.post("/api/admin/reload", headers={"Authorization": "Bearer t"})) == (
            409, "reload_in_progress", build_id)
    assert answer(client.post("/api/admin/reload", headers={"Authorization": "Bearer t"})) == (200, "", build_id)


@pytest.mark.parametrize("path", ["/", "/healthz", "/passages/nope", "/apis"])
def test_only_api_paths_name_the_build(client, path):
    assert BUILD_HEADER not in client.get(path).headers


@pytest.mark.parametrize("path", ["/api/search?q=粮食", "/api/nope", "/api/openapi.json"])
def test_without_an_index_no_answer_names_a_build(empty_client, path):
    assert BUILD_HEADER not in empty_client.get(path).headers


def test_overlapping_admin_reloads_answer_409_while_the_first_one_runs(index_root, encoder, searcher, monkeypatch):
    app = create_app({"TESTING": True, "INDEX": str(index_root), "RELOAD_INTERVAL": 0, "RELOAD_TOKEN": "t"},
                     encoder=encoder)
    index_holder = app.extensions["speechqa"]
    reload, entered, release = index_holder.reload, threading.Event(), threading.Event()

    def held_reload(*args, **kwargs):  # the first reload stays under way until the others have answered
        entered.set()
        release.wait(timeout=60)
        return reload(*args, **kwargs)

    monkeypatch.setattr(index_holder, "reload", held_reload)

    def post():
        return app.test_client().post("/api/admin/reload", headers={"Authorization": "Bearer t"})

    with ThreadPoolExecutor(max_workers=12) as pool:
        first = pool.submit(post)
        try:
            assert entered.wait(timeout=30)
            # queued behind the first, each of these reloaded the same build again once it was let go
            others = [pool.submit(post) for _ in range(11)]
            answered = [future.result(timeout=20) for future in others]
        finally:
            release.set()
        done = first.result(timeout=120)
    for response in answered:
        assert response.status_code == 409
        assert error_of(response) == ("reload_in_progress", "another reload is running — retry in a few seconds")
    build_id = searcher.manifest["build_id"]
    assert done.status_code == 200
    assert (done.get_json()["build_id"], done.get_json()["previous_build_id"]) == (build_id, build_id)
    assert post().status_code == 200  # the lock is let go after an answer


# --- speeches, passages, health --------------------------------------------------------------------

def test_speeches_list(client, searcher):
    body = client.get("/api/speeches").get_json()
    assert list(body) == ["speeches", "total"] and body["total"] == len(searcher.speeches)
    assert [s["id"] for s in body["speeches"]] == [s.id for s in searcher.speeches]
    for item, info in zip(body["speeches"], searcher.speeches):
        assert list(item) == SUMMARY_KEYS
        assert (item["title"], item["section_count"], item["passage_count"]) == (
            info.title, len(info.sections), info.passages)


def test_the_speech_list_pages_by_offset_and_limit(client, searcher):
    every = client.get("/api/speeches").get_json()["speeches"]
    page = client.get("/api/speeches", query_string={"offset": 2, "limit": 3}).get_json()
    assert page == {"speeches": every[2:5], "total": len(every)}
    assert client.get("/api/speeches", query_string={"offset": len(every)}).get_json()["speeches"] == []
    assert client.get("/api/speeches", query_string={"offset": "", "limit": ""}).get_json()["speeches"] == every


@pytest.mark.parametrize("query, message", [
    ({"limit": "0"}, "limit must be an integer between 1 and 1000 (got 0)"),
    ({"limit": "1001"}, "limit must be an integer between 1 and 1000 (got 1001)"),
    ({"offset": "-1"}, "offset must be an integer of 0 or more (got -1)"),
    ({"offset": "x"}, 'offset must be an integer of 0 or more (got "x")'),
])
def test_a_bad_page_of_the_speech_list_is_a_400_that_says_why(client, query, message):
    response = client.get("/api/speeches", query_string=query)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == message


def test_speech_detail_has_outline_and_passages_in_order(client, searcher):
    info = searcher.speeches[0]
    body = client.get(f"/api/speeches/{info.id}").get_json()
    assert list(body) == SUMMARY_KEYS + ["sections", "passages"]
    assert body["sections"] == [list(path) for path in info.sections]
    assert [p["id"] for p in body["passages"]] == [p.id for p in searcher.speech_passages(info.id)]
    assert len(body["passages"]) == info.passages
    assert all(list(p) == PASSAGE_KEYS and p["speech_id"] == info.id for p in body["passages"])


def test_passage_neighbours_walk_the_speech(client, searcher):
    info = searcher.speeches[0]
    ids = [p.id for p in searcher.speech_passages(info.id)]
    assert len(ids) >= 3
    first = client.get(f"/api/passages/{ids[0]}").get_json()
    middle = client.get(f"/api/passages/{ids[1]}").get_json()
    last = client.get(f"/api/passages/{ids[-1]}").get_json()
    assert list(middle) == PASSAGE_KEYS + ["passage_id", "speech", "previous", "next"]
    assert (first["previous"], first["next"]) == (None, ids[1])
    # passage_id and speech as a search result gives them, so one mapper cites either
    result = next(r for r in client.get("/api/search", query_string={"q": middle["text"][:40], "k": 10}).get_json()[
        "results"] if r["passage_id"] == ids[1])
    assert (middle["passage_id"], middle["speech"]) == (result["passage_id"], result["speech"])
    assert (middle["previous"], middle["next"]) == (ids[0], ids[2])
    assert (last["previous"], last["next"]) == (ids[-2], None)
    assert middle["text"] == searcher.passage(ids[1]).text


@pytest.mark.parametrize(("path", "message"), [
    ("/api/speeches/nope", "no speech with id \"nope\" — see /api/speeches or speechqa speeches"),
    ("/api/passages/nope", "no passage with id \"nope\""),
    ("/api/passages/%3Cscript%3E", "no passage with id \"<script>\""),
    # as JSON writes it, and what no reader sees (a right-to-left override) escaped, as repr escaped it
    ("/api/passages/%E2%80%AE%1B", "no passage with id \"\\u202e\\u001b\""),
])
def test_unknown_ids_are_404(client, path, message):
    response = client.get(path)
    assert response.status_code == 404
    assert error_of(response) == ("not_found", message)


def test_healthz(client, searcher):
    body = client.get("/healthz").get_json()
    assert body == {"status": "ok", "passages": len(searcher.passages), "speeches": len(searcher.speeches),
                    "model": searcher.manifest["model_id"], "built_at": searcher.manifest["built_at"],
                    "build_id": searcher.manifest["build_id"],
                    "store": {"kind": "faiss", "version": searcher.manifest["build_id"]},
                    "engines": {"index": choose_engine(), "queries": choose_query_engine(choose_engine())},
                    "cpu": machine_cpu().to_json(),
                    "term_tables": {"glossary": len(policy_glossary()), "wording": len(plain_wording()), "files": []}}


# --- no index ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/search?q=粮食", "/api/speeches", "/api/speeches/x", "/api/passages/x",
                                  "/healthz"])
def test_without_an_index_the_api_answers_503_saying_what_to_run(empty_client, path):
    response = empty_client.get(path)
    assert response.status_code == 503
    code, message = error_of(response)
    assert code == "index_not_built"
    assert message.endswith("— run `speechqa build`")


def test_without_an_index_post_search_is_503_and_openapi_still_works(empty_client):
    assert empty_client.post("/api/search", json={"q": "粮食"}).status_code == 503
    assert empty_client.get("/api/openapi.json").status_code == 200


def test_index_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHQA_INDEX", str(tmp_path / "from-env"))
    app = create_app({"TESTING": True, "RELOAD_INTERVAL": 0})
    assert app.config["INDEX"] == str(tmp_path / "from-env")
    assert str(tmp_path / "from-env") in error_of(app.test_client().get("/healthz"))[1]


def test_holder_swaps_searcher_and_error_together(searcher):
    holder = IndexHolder()
    holder.load("/nonexistent/speechqa-index")
    assert holder.searcher is None and holder.error.code == "index_not_built"
    holder.swap(searcher, None)
    assert holder.require() is searcher and holder.error is None


def test_factory_warms_up_jieba(app):
    assert jieba.dt.initialized


# --- a corpus with markup in it ---------------------------------------------------------------------

def test_markup_in_a_speech_file_is_escaped_in_highlights(markup_client):
    body = markup_client.get("/api/search", query_string={"q": "script 标签测试", "k": 3}).get_json()
    hit = next(r for r in body["results"] if "<script>" in r["text"])
    assert "<script>" not in hit["highlight"]
    assert "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;" in hit["highlight"]


# --- OpenAPI ----------------------------------------------------------------------------------------

def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def conforms(spec: dict, schema: dict, value, where: str = "$") -> None:
    """A small checker for the subset of JSON Schema the document uses (closed objects, arrays, types, oneOf)."""
    schema = _resolve(spec, schema)
    if "oneOf" in schema:
        matched = []
        for option in schema["oneOf"]:
            try:
                conforms(spec, option, value, where)
            except AssertionError:
                continue
            matched.append(option)
        assert len(matched) == 1, (where, value, matched)
        return
    if value is None:
        assert schema.get("nullable"), f"{where} is null"
        return
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(value, dict), where
        props = schema.get("properties", {})
        assert set(schema.get("required", [])) <= set(value), (where, schema.get("required"), list(value))
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                conforms(spec, props[key], item, f"{where}.{key}")
            elif isinstance(extra, dict):
                conforms(spec, extra, item, f"{where}.{key}")
            else:
                assert extra is not False, f"{where}.{key} is not in the schema"
    elif kind == "array":
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            conforms(spec, schema["items"], item, f"{where}[{i}]")
    elif kind == "string":
        assert isinstance(value, str), where
        if "enum" in schema:
            assert value in schema["enum"], where
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif kind == "number":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), where
    elif kind == "boolean":
        assert isinstance(value, bool), where


def test_openapi_documents_every_api_route_and_method(app, client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec == build_spec(max_content_length=16 * 1024)
    assert spec["openapi"].startswith("3.0")
    served = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule == "/healthz":
            path = rule.rule.replace("<", "{").replace(">", "}")
            served.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert {path: set(ops) for path, ops in spec["paths"].items()} == served


def test_openapi_limits_match_the_code(client):
    spec = client.get("/api/openapi.json").get_json()
    params = {p["name"]: p["schema"] for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert params["q"]["maxLength"] == MAX_QUERY_CHARS
    assert (params["k"]["minimum"], params["k"]["maximum"]) == (1, MAX_K)
    assert params["mode"]["enum"] == ["hybrid", "dense", "bm25"]
    body = spec["components"]["schemas"]["SearchRequest"]["properties"]
    assert body["k"]["maximum"] == MAX_K and body["q"]["maxLength"] == MAX_QUERY_CHARS


def test_responses_conform_to_the_openapi_schemas(client, searcher):
    spec = client.get("/api/openapi.json").get_json()
    speech = searcher.speeches[0].id
    passage = searcher.speech_passages(speech)[1].id
    cases = [
        ("get", "/api/search?q=粮食安全&k=3", None, "/api/search", 200),
        ("post", "/api/search", {"q": "food security", "mode": "dense"}, "/api/search", 200),
        ("get", "/api/search?q=讲壮乡首府安全屏障的那篇，维护政治安全这块说了什么", None, "/api/search", 200),
        ("get", "/api/speeches", None, "/api/speeches", 200),
        ("get", f"/api/speeches/{speech}", None, "/api/speeches/{speech_id}", 200),
        ("get", f"/api/passages/{passage}", None, "/api/passages/{passage_id}", 200),
        ("get", "/healthz", None, "/healthz", 200),
        ("get", "/api/search?k=0", None, "/api/search", 400),
        ("post", "/api/search", [1], "/api/search", 400),
        ("get", "/api/passages/nope", None, "/api/passages/{passage_id}", 404),
        ("delete", "/api/search", None, "/api/search", 405),
        ("get", "/api/speeches?x=%C0%AF", None, "/api/speeches", 400),
        ("get", "/api/openapi.json", None, "/api/openapi.json", 200),
        ("post", "/api/openapi.json", None, "/api/openapi.json", 405),
        ("get", "/healthz?x=%C0%AF", None, "/healthz", 400),
    ]
    for method, url, payload, path, status in cases:
        response = getattr(client, method)(url, json=payload) if payload is not None else getattr(client, method)(url)
        assert response.status_code == status, url
        operation = spec["paths"][path].get(method, spec["paths"][path]["get"])
        assert str(status) in operation["responses"], (url, status)
        documented = _resolve(spec, operation["responses"][str(status)])
        conforms(spec, documented["content"]["application/json"]["schema"], response.get_json())
        headers = {name: _resolve(spec, header) for name, header in documented.get("headers", {}).items()}
        required = {name for name, header in headers.items() if header.get("required")}
        assert required <= set(response.headers.keys()), url
        # documented on the shared errors, but sent only on /api/ paths
        assert (BUILD_HEADER in response.headers) == (BUILD_HEADER in headers and path.startswith("/api/")), url


def test_the_admin_reloads_refusals_conform_to_the_openapi_document(searcher):
    client = create_app({"TESTING": True, "RELOAD_TOKEN": "t"}, searcher=searcher).test_client()
    spec = client.get("/api/openapi.json").get_json()
    documented = spec["paths"]["/api/admin/reload"]["post"]["responses"]
    for status, headers in ((401, {}), (403, {"Authorization": "Bearer x"})):
        response = client.post("/api/admin/reload", headers=headers)
        assert response.status_code == status
        answer = documented[str(status)]
        conforms(spec, answer["content"]["application/json"]["schema"], response.get_json())
        required = {name for name, header in answer["headers"].items() if header.get("required")}
        assert required <= set(response.headers.keys()) and BUILD_HEADER in answer["headers"]
    assert client.post("/api/admin/reload").headers["WWW-Authenticate"] == 'Bearer realm="speechqa admin"'


def _codes(text: str) -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", text))


def test_the_openapi_document_names_every_error_code_at_its_status(client):
    spec = client.get("/api/openapi.json").get_json()
    listed = spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["description"]
    listed = listed.removeprefix("Stable machine-readable code: ").removesuffix(".").split(", ")
    shared = spec["components"]["responses"]
    reload = spec["paths"]["/api/admin/reload"]["post"]["responses"]
    described: dict[int, set[str]] = {}
    for status, response in [*((int(name[1:]), r) for name, r in shared.items()), *reload.items()]:
        described.setdefault(int(status), set()).update(_codes(_resolve(spec, response)["description"]))
    assert sorted(listed) == sorted(set().union(*described.values()))
    # every domain error the app answers, at the status the app answers it with (service/errors.py)
    for kind, status in STATUS:
        assert kind.code in described[status], kind
    assert _codes(shared["E503"]["description"]) == {kind.code for kind, status in STATUS if status == 503}
    assert _codes(shared["E400"]["description"]) == {BadQuery.code, QuerySyntaxError.code, "bad_request"}
    # and those the server writes itself (service/server.py)
    assert _codes(shared["E431"]["description"]) == {"request_header_fields_too_large"}
    assert _codes(shared["E501"]["description"]) == {"not_implemented"}
    assert _codes(shared["E413"]["description"]) == {"payload_too_large"}


def test_every_operation_documents_the_refusals_any_request_can_meet(client):
    spec = client.get("/api/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert {"400", "405", "413", "431", "500", "501"} <= set(operation["responses"]), (path, method)
    shared = spec["components"]["responses"]
    assert list(shared["E405"]["headers"]) == ["Allow", BUILD_HEADER]
    # written by the server before the app sees the request: no build is named
    assert "headers" not in shared["E431"] and "headers" not in shared["E501"]


# What OpenAPI 3.0.3's Schema Object allows: JSON Schema's type keyword takes one name, and 3.1's additions
# (type lists, const, examples, prefixItems, $defs, …) are not in it.
SCHEMA_FIELDS_3_0 = {
    "title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength",
    "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties", "required", "enum", "type",
    "allOf", "oneOf", "anyOf", "not", "items", "properties", "additionalProperties", "description", "format",
    "default", "nullable", "discriminator", "readOnly", "writeOnly", "xml", "externalDocs", "example", "deprecated"}
TYPES_3_0 = {"string", "number", "integer", "boolean", "array", "object"}
PARAMETER_PLACES = {"query", "header", "path", "cookie"}


def openapi_3_0_problems(spec: dict) -> list[str]:
    """What in ``spec`` OpenAPI 3.0.3 does not allow, of what can be checked without a validator, each with its place."""
    problems = []

    def resolves(ref: str, where: str) -> None:
        node = spec
        for part in ref.removeprefix("#/").split("/"):
            if not ref.startswith("#/") or not isinstance(node, dict) or part not in node:
                problems.append(f"{where}: $ref {ref} resolves to nothing")
                return
            node = node[part]

    def every_ref(node, where: str) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                resolves(node["$ref"], where)
            for key, value in node.items():
                every_ref(value, f"{where}/{key}")
        elif isinstance(node, list):
            for position, value in enumerate(node):
                every_ref(value, f"{where}/{position}")

    def schema(node: dict, where: str) -> None:
        if "$ref" in node:
            if set(node) != {"$ref"}:
                problems.append(f"{where}: keywords beside $ref, which 3.0 ignores: {sorted(set(node) - {'$ref'})}")
            return
        problems.extend(f"{where}: {key} is not a 3.0 schema keyword"
                        for key in sorted(set(node) - SCHEMA_FIELDS_3_0) if not key.startswith("x-"))
        kind = node.get("type")
        if kind is not None and (not isinstance(kind, str) or kind not in TYPES_3_0):
            problems.append(f"{where}: type {kind!r} is not one of {sorted(TYPES_3_0)}")
        if "nullable" in node and "type" not in node:
            problems.append(f"{where}: nullable without type, which 3.0.3 ignores")
        if kind == "array" and "items" not in node:
            problems.append(f"{where}: an array without items")
        problems.extend(f"{where}: {key} must be a boolean in 3.0" for key in ("exclusiveMinimum", "exclusiveMaximum")
                        if key in node and not isinstance(node[key], bool))
        required = node.get("required")
        if required is not None and (not required or len(set(required)) != len(required)):
            problems.append(f"{where}: required must list distinct names, at least one")
        if required and node.get("additionalProperties") is False:
            problems.extend(f"{where}: required {name} is not a property"
                            for name in required if name not in node.get("properties", {}))
        if "enum" in node and not node["enum"]:
            problems.append(f"{where}: an empty enum")
        for key in ("items", "not"):
            if key in node:
                schema(node[key], f"{where}/{key}")
        for key in ("allOf", "oneOf", "anyOf"):
            for position, option in enumerate(node.get(key, [])):
                schema(option, f"{where}/{key}/{position}")
        for name, value in node.get("properties", {}).items():
            schema(value, f"{where}/properties/{name}")
        if isinstance(node.get("additionalProperties"), dict):
            schema(node["additionalProperties"], f"{where}/additionalProperties")

    def content(node: dict, where: str) -> None:
        for media, entry in node.get("content", {}).items():
            schema(entry["schema"], f"{where}/content/{media}/schema")
        for name, header in node.get("headers", {}).items():
            schema(_resolve(spec, header)["schema"], f"{where}/headers/{name}/schema")

    def responses(node: dict, where: str) -> None:
        for status, response in node.items():
            if status != "default" and not re.fullmatch(r"[1-5](?:[0-9]{2}|XX)", status):
                problems.append(f"{where}/{status}: not a status code")
            if "$ref" not in response:
                if "description" not in response:
                    problems.append(f"{where}/{status}: a response without a description")
                content(response, f"{where}/{status}")

    if not re.fullmatch(r"3\.0\.[0-9]+", spec.get("openapi", "")):
        problems.append(f"openapi: {spec.get('openapi')!r} is not 3.0.x")
    every_ref(spec, "#")
    for name, value in spec.get("components", {}).get("schemas", {}).items():
        schema(value, f"#/components/schemas/{name}")
    for name, value in spec.get("components", {}).get("responses", {}).items():
        content(value, f"#/components/responses/{name}")
    operation_ids = []
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            where = f"#/paths/{path}/{method}"
            operation_ids.append(operation.get("operationId"))
            declared = set()
            for parameter in operation.get("parameters", []):
                place, name = parameter.get("in"), parameter.get("name")
                if place not in PARAMETER_PLACES:
                    problems.append(f"{where}: parameter {name} is in {place!r}")
                if place == "path":
                    declared.add(name)
                    if parameter.get("required") is not True:
                        problems.append(f"{where}: path parameter {name} must be required")
                if "allowEmptyValue" in parameter and place != "query":
                    problems.append(f"{where}: allowEmptyValue on a {place} parameter")
                schema(parameter["schema"], f"{where}/parameters/{name}/schema")
            if declared != set(re.findall(r"{([^}]+)}", path)):
                problems.append(f"{where}: path parameters {sorted(declared)} do not match the path")
            if "requestBody" in operation:
                content(operation["requestBody"], f"{where}/requestBody")
            responses(operation.get("responses", {}), f"{where}/responses")
    if len(set(operation_ids)) != len(operation_ids) or None in operation_ids:
        problems.append(f"operationIds are not unique: {operation_ids}")
    return problems


def test_the_openapi_document_is_valid_openapi_3_0(client):
    assert openapi_3_0_problems(client.get("/api/openapi.json").get_json()) == []


@pytest.mark.parametrize(("schema", "problem"), [
    ({"type": ["string", "integer"], "nullable": True}, "type ['string', 'integer'] is not one of"),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True}, "nullable without type"),
    ({"type": "string", "const": "x"}, "const is not a 3.0 schema keyword"),
    ({"$ref": "#/components/schemas/Nowhere"}, "$ref #/components/schemas/Nowhere resolves to nothing"),
    ({"type": "object", "properties": {"a": {"type": "null"}}}, "type 'null' is not one of"),
    ({"type": "array"}, "an array without items"),
])
def test_the_openapi_check_finds_what_3_0_lacks(schema, problem):
    found = openapi_3_0_problems({"openapi": "3.0.3", "paths": {}, "components": {"schemas": {"Bad": schema}}})
    assert len(found) == 1 and found[0].startswith("#/components/schemas/Bad") and problem in found[0], found


def test_the_citation_description_spells_out_the_source_line(client):
    described = (client.get("/api/openapi.json").get_json()
                 ["components"]["schemas"]["Citation"]["properties"]["citation"]["description"])
    every_field = Source(title="title", collection="collection", section=("section", "path"), speaker="speaker",
                         occasion="occasion", date="date", place="place")
    assert source_line(every_field) in described
    untitled = source_line(Source(title="made-up title", file="file", title_inferred=True))
    assert untitled.removeprefix("（摘自").removesuffix("）") in described


def test_a_phrase_search_shows_each_result_where_the_phrase_is(client):
    results = client.get("/api/search", query_string={"q": "“总体国家安全观”", "k": 50}).get_json()["results"]
    assert len(results) > 20
    assert all("总体国家安全观" in r["best_sentence"]["text"] for r in results)


def test_a_relaxed_question_marks_its_quoted_words_as_it_was_ranked(client):
    body = client.get("/api/search", query_string={"q": 'What is the "lake revolution" campaign?', "k": 3}).get_json()
    assert body["phrases_relaxed"] is True
    first = body["results"][0]
    assert "<mark>湖泊革命</mark>" in first["highlight"] and "湖泊革命" in first["best_sentence"]["text"]


def test_an_english_quote_no_passage_holds_is_searched_for_its_chinese(client):
    # a Chinese library holds no English sentence word for word: the quote asks for what it translates
    body = client.get("/api/search", query_string={"q": '"the lake revolution"', "k": 3}).get_json()
    assert (body["phrases_relaxed"], body["matched"]) == (True, 0)
    assert "湖泊革命" in body["results"][0]["text"]
    assert body["answered"] is True
    # Chinese wording quoted alone is a verbatim check still
    strict = client.get("/api/search", query_string={"q": "“湖泊大革命”", "k": 3}).get_json()
    assert (strict["phrases_relaxed"], strict["matched"], strict["results"], strict["answered"]) == (False, 0, [], False)


def test_a_named_speechs_results_mark_the_part_asked_not_the_words_naming_it(client):
    body = client.get("/api/search", query_string={"q": "讲“中国糖都”的那篇，在边疆社会治理上用了什么模式？",
                                                   "k": 3}).get_json()
    named, first = body["named_speech"], body["results"][0]
    assert first["speech"]["id"] == named["id"]
    assert "中国糖都" not in first["best_sentence"]["text"] and "治理模式" in first["best_sentence"]["text"]
    assert "<mark>中国糖都</mark>" not in first["highlight"]


def test_similar_names_the_parameters_it_ignored_and_only_when_there_are_any(client, searcher):
    passage_id = searcher.passages[0].id
    plain = client.get(f"/api/passages/{passage_id}/similar", query_string={"k": 3}).get_json()
    assert "ignored_parameters" not in plain
    asked = client.get(f"/api/passages/{passage_id}/similar?k=3&k=20&speaker=x").get_json()
    assert asked["ignored_parameters"] == ["k", "speaker"] and len(asked["results"]) == 3


def test_the_api_answers_a_browser_on_an_origin_it_was_told_to_trust_and_no_other(searcher):
    from service import create_app

    trusting = create_app({"TESTING": True, "CORS_ORIGINS": "https://addin.example, https://portal.example"},
                          searcher=searcher).test_client()
    preflight = trusting.options("/api/search", headers={"Origin": "https://addin.example",
                                                         "Access-Control-Request-Method": "POST",
                                                         "Access-Control-Request-Headers": "Content-Type"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://addin.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    answer = trusting.get("/api/search", query_string={"q": "粮食"}, headers={"Origin": "https://portal.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "https://portal.example"
    assert {"X-SpeechQA-Build", "Content-Disposition"} <= set(answer.headers["Access-Control-Expose-Headers"].split(", "))
    other = trusting.get("/api/search", query_string={"q": "粮食"}, headers={"Origin": "https://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    # an origin is matched whole, and a request with none is not told which are trusted
    for near in ("https://addin.example.evil.example", "https://addin.exampl", "https://addin.example:8443"):
        assert "Access-Control-Allow-Origin" not in trusting.get("/api/search?q=粮食", headers={"Origin": near}).headers
    assert "Access-Control-Allow-Origin" not in trusting.get("/api/search?q=粮食").headers
    ipv6 = create_app({"TESTING": True, "CORS_ORIGINS": "http://[::1]:8080"}, searcher=searcher).test_client()
    assert ipv6.get("/api/search?q=粮食", headers={"Origin": "http://[::1]:8080"}).headers[
        "Access-Control-Allow-Origin"] == "http://[::1]:8080"
    assert "Access-Control-Allow-Origin" not in ipv6.get("/api/search?q=粮食", headers={"Origin": "http://1:8080"}).headers
    # the pages are no API for other sites, and by default no origin is trusted
    assert "Access-Control-Allow-Origin" not in trusting.get("/", headers={"Origin": "https://addin.example"}).headers
    default = create_app({"TESTING": True}, searcher=searcher).test_client()
    assert "Access-Control-Allow-Origin" not in default.get(
        "/api/search", query_string={"q": "粮食"}, headers={"Origin": "https://addin.example"}).headers


@pytest.mark.parametrize("origins", ["https://addin.example", "https://addin.example https://portal.example"])
def test_every_api_answer_varies_by_origin_once_an_origin_is_trusted(searcher, origins):
    # flask-cors said Vary: Origin only beside an origin it echoed, and only with several allowed: a shared
    # cache could hand the answer to one origin (or to none) to another
    trusting = create_app({"TESTING": True, "CORS_ORIGINS": origins}, searcher=searcher).test_client()
    for origin in ("https://addin.example", "https://elsewhere.example", None):
        headers = {"Origin": origin} if origin else {}
        for path in ("/api/search?q=粮食", "/api/nope", "/api/search?q=a&k=0"):
            assert trusting.get(path, headers=headers).headers.getlist("Vary") == ["Origin"], (origin, path)
    preflight = trusting.options("/api/search", headers={"Origin": "https://elsewhere.example",
                                                         "Access-Control-Request-Method": "POST"})
    assert preflight.headers.getlist("Vary") == ["Origin"]
    # the pages get no CORS headers, nor does the API when no origin is trusted: neither varies by Origin
    assert "Vary" not in trusting.get("/", headers={"Origin": "https://addin.example"}).headers
    default = create_app({"TESTING": True}, searcher=searcher).test_client()
    assert "Vary" not in default.get("/api/search?q=粮食", headers={"Origin": "https://addin.example"}).headers


@pytest.mark.parametrize("origins", ["*", "addin.example", "https://addin.example/path", "https://addin.example?",
                                     "https://addin.example.*", "https://(addin|evil).example"])
def test_an_origin_setting_that_names_no_origin_is_refused_at_start(searcher, origins):
    from index.errors import SettingError
    from service import create_app

    with pytest.raises(SettingError, match="SPEECHQA_CORS_ORIGINS must list web origins"):
        create_app({"CORS_ORIGINS": origins}, searcher=searcher)


def test_a_reload_token_no_request_can_send_is_refused_at_start_and_a_short_one_warned_about(searcher, caplog):
    from index.errors import SettingError
    from service import create_app

    with pytest.raises(SettingError, match="SPEECHQA_RELOAD_TOKEN must be ASCII"):
        create_app({"RELOAD_TOKEN": "pässwort"}, searcher=searcher)
    caplog.set_level(logging.WARNING, logger="service")
    create_app({"TESTING": True, "RELOAD_TOKEN": "1"}, searcher=searcher)
    assert [r.getMessage() for r in caplog.records] == [
        "SPEECHQA_RELOAD_TOKEN is 1 characters: one that short can be guessed — use 16 or more, "
        "e.g. python -c 'import secrets; print(secrets.token_urlsafe())'"]
    caplog.clear()
    create_app({"TESTING": True, "RELOAD_TOKEN": "x" * 16}, searcher=searcher)
    assert caplog.records == []
