"""Finding exactly: phrases, exclusions, title and metadata filters, reprint folding, grouping, date order.

The corpus (tests/conftest.py FIND_CORPUS) holds a speech (a_, 2021-09-01, 南宁, 张三), its reprint
with one line rewritten (b_, 2023-04-15, 柳州, 李四) and a speech on grain (c_, dated by a line of its
text 2022-05-10, place and speaker from its sidecar file) that also mentions 保交楼.
"""
from __future__ import annotations

import json

import pytest

from index.errors import BadQuery, QuerySyntaxError
from index.search import search_payload
from service import create_app
from service.cli import main

A_FLATS, A_SAFETY = ("a_original.txt", "一、坚决守住保交楼、稳民生底线"), ("a_original.txt", "二、持续深化平安建设")
B_FLATS, B_SAFETY = ("b_reprint.txt", "一、坚决守住保交楼、稳民生底线"), ("b_reprint.txt", "二、持续深化平安建设")
C_LAND, C_STORE = ("c_grain.txt", "一、严守耕地保护红线"), ("c_grain.txt", "二、健全粮食储备体系")


@pytest.fixture(scope="module")
def ids(find_searcher):
    """Passage id by (source, section heading or None for the lead-in)."""
    return {(p.source, p.section[0] if p.section else None): p.id for p in find_searcher.passages}


def found(searcher, query, **options):
    """[(passage key, [duplicate keys], more_in_speech)] of a search, keys as in ``ids``."""
    key = {p.id: (p.source, p.section[0] if p.section else None) for p in searcher.passages}
    return [(key[h.passage.id], [key[d.id] for d in h.duplicates], h.more_in_speech)
            for h in searcher.search(query, **options)]


def test_the_build_marks_the_reprint_and_keeps_the_metadata(find_searcher, ids):
    duplicate_of = {(p.source, p.section[0] if p.section else None): p.duplicate_of for p in find_searcher.passages}
    assert duplicate_of == {A_FLATS: None, A_SAFETY: None, B_FLATS: ids[A_FLATS], B_SAFETY: ids[A_SAFETY],
                            C_LAND: None, C_STORE: None}
    assert [(s.source, s.date, s.place, s.speaker, s.occasion) for s in find_searcher.speeches] == [
        ("a_original.txt", "2021-09-01", "南宁", "张三", "全市国家安全工作会议"),
        ("b_reprint.txt", "2023-04-15", "柳州", "李四", None),
        ("c_grain.txt", "2022-05-10", "南宁", "王五", None),
    ]


def test_a_pasted_sentence_is_shown_in_the_copy_that_holds_it_not_a_reprint_that_rewords_it(tmp_path, encoder):
    from index.build import build
    from index.search import load_searcher

    body = ("一、保障粮食安全\n加快构建供给稳定、储备充足的粮食安全保障体系，确保粮食自给率{}100%，稳定粮食播种面积，"
            "加强高标准农田建设，健全种粮农民收益保障机制，严守耕地保护红线。\n")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a_original.txt").write_text("守好粮仓\n" + body.format("达"), encoding="utf-8")
    # a dated reprint comes first in its group (dated before undated), with one word changed
    (corpus / "b_reprint.txt").write_text("守好粮仓（转载）\n（2024年5月1日）\n" + body.format("达到"), encoding="utf-8")
    build([corpus], tmp_path / "index", encoder=encoder)
    searcher = load_searcher(tmp_path / "index", encoder=encoder)
    (hit,) = searcher.search("确保粮食自给率达100%", k=1)
    assert hit.passage.source == "a_original.txt" and "自给率达100%" in hit.passage.text
    assert [d.source for d in hit.duplicates] == ["b_reprint.txt"]
    # a question no copy holds word for word is shown in the group's first copy, as before
    assert searcher.search("粮食自给率要达到多少", k=1)[0].passage.source == "b_reprint.txt"



def test_words_only_a_later_printing_adds_are_found_by_bm25_through_its_group(tmp_path, encoder):
    """A newer printing that adds a paragraph is grouped with the older one, whose copy alone the arms rank:
    its new words had been found by no BM25 search, and the question answered from the older copy."""
    from index.build import build
    from index.search import load_searcher

    body = ("一、保障粮食安全\n加快构建供给稳定、储备充足的粮食安全保障体系，稳定粮食播种面积，加强高标准农田建设，"
            "健全种粮农民收益保障机制，严守耕地保护红线，确保谷物基本自给、口粮绝对安全。\n")
    added = "各级图书馆员要把素材库去重作为长期任务，做到每日入库、每日核对。\n"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a_original.txt").write_text("守好粮仓\n（2023年6月1日）\n" + body, encoding="utf-8")
    (corpus / "b_reprint.txt").write_text("守好粮仓\n（2024年11月20日）\n" + body + added, encoding="utf-8")
    build([corpus], tmp_path / "index", encoder=encoder)
    searcher = load_searcher(tmp_path / "index", encoder=encoder)
    assert [p.duplicate_of is not None for p in searcher.passages] == [False, True]  # one group, the older first
    for mode in ("bm25", "hybrid"):
        hits = searcher.search("图书馆员如何做素材库去重", k=3, mode=mode)
        assert hits[0].passage.source == "b_reprint.txt" and "图书馆员" in hits[0].passage.text, mode
        assert [d.source for d in hits[0].duplicates] == ["a_original.txt"]
    # what both copies hold is still shown in the group's first copy
    assert searcher.search("严守耕地保护红线", k=1, mode="bm25")[0].passage.source == "a_original.txt"

def test_a_phrase_finds_exactly_the_passages_that_contain_it_reprints_folded(find_searcher):
    assert found(find_searcher, '"保交楼"') == [(A_FLATS, [B_FLATS], None), (C_LAND, [], None)]
    assert found(find_searcher, "“保 交 楼”", sort="date") == [(A_FLATS, [B_FLATS], None), (C_LAND, [], None)]
    # characters, not jieba words: 上海 … 交通 … 大学 is no 上海交通大学
    assert found(find_searcher, '"上海交通大学"') == []
    assert found(find_searcher, '"上海的交通"') == [(C_LAND, [], None)]
    # free text ranks within the phrase's passages
    assert found(find_searcher, '"养老诈骗" 平安建设') == [(B_SAFETY, [], None)]


def test_quoted_wording_no_passage_holds_relaxes_a_question_but_not_a_phrase_search(find_searcher, ids):
    answer = find_searcher.answer("哪里讲到“上海交通大学”的耕地保护红线？", k=3)
    assert answer.phrases_relaxed is True
    assert answer.hits[0].passage.id == ids[C_LAND]
    strict = find_searcher.answer('"上海交通大学"', k=3)
    assert (strict.hits, strict.phrases_relaxed) == ([], False)
    answer = find_searcher.answer("“保交楼”底线", k=2)
    assert (answer.phrases_relaxed, answer.phrases_held) == (False, None)
    assert {h.passage.id for h in answer.hits} == {ids[A_FLATS], ids[C_LAND]}


def test_a_question_whose_quote_few_passages_hold_gets_them_first_then_its_unquoted_ranking(find_searcher, ids):
    question = "除了“储备轮换”，粮食安全还要做什么？"  # only the grain speech's second part says 储备轮换
    answer = find_searcher.answer(question, k=3)
    assert answer.phrases_held == 1 and not answer.phrases_relaxed
    assert answer.hits[0].passage.id == ids[C_STORE]
    assert len(answer.hits) == 3 and all("储备轮换" not in hit.passage.text for hit in answer.hits[1:])
    assert [hit.rank for hit in answer.hits] == [1, 2, 3]
    assert search_payload(find_searcher, question, k=3)["phrases_held"] == 1
    assert search_payload(find_searcher, question, k=1)["phrases_held"] is None  # as many as asked for hold it
    # a verbatim check stays one, and so does a list not ranked by relevance
    assert [hit.passage.id for hit in find_searcher.answer("“储备轮换”", k=3).hits] == [ids[C_STORE]]
    grouped = find_searcher.answer(question, k=3, group="speech")
    assert grouped.phrases_held is None and [hit.passage.id for hit in grouped.hits] == [ids[C_STORE]]
    # the reprint holds 养老诈骗 and the original does not: one result for the two copies, not one each
    reprinted = find_searcher.answer("怎样打击“养老诈骗”等违法犯罪？", k=5)
    shown = [hit.passage.id for hit in reprinted.hits]
    assert shown[0] == ids[B_SAFETY] and ids[A_SAFETY] not in shown
    # nothing ranked beside what holds the quote (BM25 within the reprint's speech): nothing is "first"
    reprint_speech = next(p.speech_id for p in find_searcher.passages if p.id == ids[B_SAFETY])
    scoped = find_searcher.answer("打击“诈骗等违法犯罪”", k=5, mode="bm25", speech=reprint_speech)
    assert len(scoped.hits) == 1 and scoped.phrases_held is None


def test_quotes_no_passage_holds_together_lead_with_the_speech_that_holds_them_between_its_passages(
        find_searcher, ids):
    # c_ holds each in a part of its own; a_ (and its reprint) hold 保交楼 but no 粮食储备
    question = "哪篇讲话分“保交楼”和“粮食储备”两部分来讲？"
    answer = find_searcher.answer(question, k=3)
    assert (answer.phrases_relaxed, answer.phrases_spread) == (True, True)
    assert {hit.passage.id for hit in answer.hits[:2]} == {ids[C_LAND], ids[C_STORE]}
    assert answer.hits[2].passage.id == ids[A_FLATS]  # then the question's own hits, ranked without quotes
    assert [hit.rank for hit in answer.hits] == [1, 2, 3]
    relaxed = find_searcher.answer(question, k=3, group="speech")  # one per speech: nothing is put in front
    assert (relaxed.phrases_relaxed, relaxed.phrases_spread) == (True, False)
    assert relaxed.hits == find_searcher.search("哪篇讲话分保交楼和粮食储备两部分来讲？", k=3, group="speech")
    assert find_searcher.answer("“保交楼”“粮食储备”", k=3).hits == []  # phrases alone stay a verbatim check
    payload = search_payload(find_searcher, question, k=3)
    assert (payload["phrases_relaxed"], payload["phrases_spread"]) == (True, True)
    listed = find_searcher.answer("哪篇讲话分“保交楼、粮食储备”两部分来讲？", k=3)  # the parts quoted as one list
    assert (listed.phrases_relaxed, listed.phrases_spread) == (True, True)
    assert {hit.passage.id for hit in listed.hits[:2]} == {ids[C_LAND], ids[C_STORE]}


def test_an_ellipsis_in_quotes_matches_any_wording_and_highlights_the_pieces(find_searcher, client, ids):
    assert found(find_searcher, "“坚决守住……底线”") == [(A_FLATS, [B_FLATS], None)]
    assert found(find_searcher, "“底线……坚决守住”") == []
    body = client.get("/api/search", query_string={"q": "“严守……红线”"}).get_json()
    assert [r["passage_id"] for r in body["results"]] == [ids[C_LAND]]
    assert "<mark>严守</mark>耕地保护<mark>红线</mark>" in body["results"][0]["highlight"]


def test_exclusions_and_title_filters(find_searcher):
    assert found(find_searcher, '"保交楼" -粮食') == [(A_FLATS, [B_FLATS], None)]
    assert found(find_searcher, '"保交楼" -"国家安全的重要基础"') == [(A_FLATS, [B_FLATS], None)]
    assert {key for key, _, _ in found(find_searcher, "标题：粮食 安全")} == {C_LAND, C_STORE}
    assert found(find_searcher, "title:粮食 -耕地") == [(C_STORE, [], None)]
    assert found(find_searcher, "title:不存在的标题 安全") == []


def test_a_syntax_error_says_what_and_where(find_searcher):
    with pytest.raises(QuerySyntaxError) as caught:
        find_searcher.search('保交楼 "稳民生')
    assert str(caught.value) == 'unclosed quote " at character 5 of q (…"稳民生) — add the closing quote or remove it'


def test_no_two_results_are_reprints_of_each_other(find_searcher):
    results = found(find_searcher, "平安建设 治安防控")
    assert results[:2] == [(A_SAFETY, [B_SAFETY], None), (A_FLATS, [B_FLATS], None)]
    assert {key for key, _, _ in results} == {A_SAFETY, A_FLATS, C_LAND, C_STORE}


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_a_folded_reprint_that_holds_the_answer_is_shown_itself_ranked_as_its_group(find_searcher, mode):
    # only the reprint holds 养老诈骗: it is shown, the original (which lacks the line) beside it
    hits = find_searcher.search("依法严惩养老诈骗等违法犯罪", mode=mode)
    assert hits[0].passage.source == "b_reprint.txt" and [d.source for d in hits[0].duplicates] == ["a_original.txt"]
    assert "养老诈骗" in hits[0].passage.text
    # the arms rank one copy of each group, the original: its score places the group, whichever copy is shown
    original = hits[0].duplicates[0]
    unfolded = find_searcher.search("依法严惩养老诈骗等违法犯罪", mode=mode, speech=original.speech_id)
    assert unfolded[0].passage == original
    assert (hits[0].score, hits[0].confidence) == pytest.approx((unfolded[0].score, unfolded[0].confidence))
    for query in ("依法严惩养老诈骗等违法犯罪", "平安建设 治安防控", "保交楼", "粮食安全"):
        scores = [h.score for h in find_searcher.search(query, mode=mode)]
        assert scores == sorted(scores, reverse=True), query


def test_metadata_filters(find_searcher):
    # the reprint's speaker: its passages are the results, nothing of the original is folded in
    assert found(find_searcher, "平安建设", speaker="李四") == [(B_SAFETY, [], None), (B_FLATS, [], None)]
    assert {key[0] for key, _, _ in found(find_searcher, "安全", place="南宁")} == {"a_original.txt", "c_grain.txt"}
    assert {key[0] for key, _, _ in found(find_searcher, "安全", date_from="2022-01-01")} == {
        "b_reprint.txt", "c_grain.txt"}
    assert found(find_searcher, '"保交楼"', date_to="2021-12-31") == [(A_FLATS, [], None)]
    assert found(find_searcher, '"保交楼"', date_from="2022-01-01", date_to="2022-12-31") == [(C_LAND, [], None)]
    # a year or a month asked for whole: from its first day, to its last
    assert found(find_searcher, '"保交楼"', date_from="2022", date_to="2022") == [(C_LAND, [], None)]
    assert found(find_searcher, '"保交楼"', date_to="2021-12") == found(find_searcher, '"保交楼"', date_to="2021")
    assert found(find_searcher, "安全", speaker="没有这个人") == []


def test_date_order_is_oldest_first(find_searcher):
    dates = [h.passage.speech_id for h in find_searcher.search("安全", sort="date")]
    speech_dates = {s.id: s.date for s in find_searcher.speeches}
    assert [speech_dates[d] for d in dates] == ["2021-09-01"] * 2 + ["2022-05-10"] * 2


def test_date_order_of_a_phrase_starts_with_its_oldest_use_whatever_k(find_searcher):
    # "who said this first?": the most relevant passage (the grain speech, 2022) is not the oldest
    assert found(find_searcher, '"安全"', k=1)[0][0] == C_LAND
    oldest_first = found(find_searcher, '"安全"', sort="date")
    assert oldest_first[0] == (A_SAFETY, [B_SAFETY], None)
    assert found(find_searcher, '"安全"', k=1, sort="date") == oldest_first[:1]


def test_date_order_of_free_text_orders_its_best_hits_not_the_oldest_speechs_every_passage(find_searcher, ids):
    best = [h.passage.id for h in find_searcher.search("粮食储备", k=2)]
    assert ids[C_STORE] in best
    by_date = [h.passage.id for h in find_searcher.search("粮食储备", k=2, sort="date")]
    speech_dates = {s.id: s.date for s in find_searcher.speeches}
    dated = {p.id: speech_dates[p.speech_id] for p in find_searcher.passages}
    assert sorted(by_date) == sorted(best) and [dated[i] for i in by_date] == sorted(dated[i] for i in best)


def test_similar_passages_fold_reprints_into_one_result(find_searcher, ids):
    hits = find_searcher.similar(ids[C_LAND], 5)
    shown = [h.passage.id for h in hits]
    # the speech and its reprint make the same points: one result, the earlier copy, the reprint beside it
    assert ids[A_FLATS] in shown and ids[B_FLATS] not in shown and ids[B_SAFETY] not in shown
    (flats,) = [h for h in hits if h.passage.id == ids[A_FLATS]]
    assert [d.id for d in flats.duplicates] == [ids[B_FLATS]]
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_the_pages_speech_choice_tells_a_reprint_from_its_original_by_file(find_searcher):
    import re

    html = create_app(searcher=find_searcher).test_client().get("/").get_data(as_text=True)
    labels = re.findall(r'<option value="[0-9a-f]+">([^<]+)</option>', html)
    assert labels == ["筑牢新时代安全屏障（a_original.txt）", "筑牢新时代安全屏障（b_reprint.txt）", "扛稳粮食安全重任"]


def test_group_by_speech_counts_the_other_hits_that_answer(find_searcher):
    # free text: the speech's other passages confident enough to answer, as its first result must be
    threshold = find_searcher.models["hybrid"].threshold
    for hit in find_searcher.search("安全保障", group="speech"):
        within = find_searcher.search("安全保障", speech=hit.passage.speech_id, k=50)
        assert within[0].passage.id == hit.passage.id
        assert hit.more_in_speech == sum(other.confidence >= threshold for other in within[1:])
    # phrases alone: every other passage that holds them
    assert found(find_searcher, '"保交楼"', group="speech") == [(A_FLATS, [B_FLATS], 0), (C_LAND, [], 0)]
    assert [(key[0], more) for key, _, more in found(find_searcher, '"安全"', group="speech")] == [
        ("c_grain.txt", 0), ("a_original.txt", 0)]


@pytest.mark.parametrize("options, message", [
    ({"date_from": "2023-4-15"},
     "from must be a date written YYYY-MM-DD (or YYYY-MM, or YYYY), such as 2023-04-15 (got \"2023-4-15\")"),
    ({"date_to": "2023-13"}, "to must be a day that exists (got \"2023-13\": there is no month 13)"),
    ({"date_to": "2023-02-30"}, "to must be a day that exists (got \"2023-02-30\": 2023-02 has 28 days)"),
    ({"date_from": "2023-01-02", "date_to": "2023-01-01"}, "from (2023-01-02) must not be after to (2023-01-01)"),
    ({"group": "file"}, "group must be one of speech (got \"file\")"),
    ({"sort": "newest"}, "sort must be one of relevance, date (got \"newest\")"),
    ({"place": "长" * 101}, "place must be text of at most 100 characters"),
])
def test_bad_filters_are_refused(find_searcher, options, message):
    with pytest.raises(BadQuery) as caught:
        find_searcher.search("安全", **options)
    assert str(caught.value) == message


@pytest.fixture(scope="module")
def client(find_searcher):
    return create_app({"TESTING": True}, searcher=find_searcher).test_client()


def test_api_phrase_search_with_a_filter(client, ids):
    response = client.get("/api/search", query_string={"q": '"保交楼"', "place": "南宁", "sort": "date"})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["passage_id"] for r in results] == [ids[A_FLATS], ids[C_LAND]]
    first = results[0]
    # the reprint's speech (柳州) is filtered out, so nothing is folded into the original
    assert first["duplicates"] == []
    assert {k: first["speech"][k] for k in ("date", "place", "speaker", "occasion", "collection")} == {
        "date": "2021-09-01", "place": "南宁", "speaker": "张三", "occasion": "全市国家安全工作会议", "collection": None}
    assert "<mark>保交楼</mark>" in first["highlight"]
    assert "more_in_speech" not in first


def test_api_duplicates_and_grouping(client, find_searcher, ids):
    body = client.post("/api/search", json={"q": '"保交楼"', "group": "speech"}).get_json()
    b_speech = next(s for s in find_searcher.speeches if s.source == "b_reprint.txt")
    assert [(r["passage_id"], r["duplicates"], r["more_in_speech"]) for r in body["results"]] == [
        (ids[A_FLATS], [{"passage_id": ids[B_FLATS], "speech": {"id": b_speech.id, "title": "筑牢新时代安全屏障"}}], 0),
        (ids[C_LAND], [], 0)]


@pytest.mark.parametrize("query, status, code, message", [
    ({"q": '"保交楼'}, 400, "query_syntax",
     'unclosed quote " at character 1 of q (…"保交楼) — add the closing quote or remove it'),
    ({"q": "安全", "from": "yesterday"}, 400, "bad_query",
     "from must be a date written YYYY-MM-DD (or YYYY-MM, or YYYY), such as 2023-04-15 (got \"yesterday\")"),
    ({"q": "安全", "speech": "nope"}, 400, "bad_query", "unknown speech id \"nope\" — see /api/speeches or speechqa speeches"),
])
def test_api_errors(client, query, status, code, message):
    response = client.get("/api/search", query_string=query)
    assert response.status_code == status
    assert response.get_json() == {"error": {"code": code, "message": message}}


def test_api_speeches_carry_the_metadata(client):
    speeches = client.get("/api/speeches").get_json()["speeches"]
    assert [(s["source"], s["date"], s["place"], s["speaker"]) for s in speeches] == [
        ("a_original.txt", "2021-09-01", "南宁", "张三"), ("b_reprint.txt", "2023-04-15", "柳州", "李四"),
        ("c_grain.txt", "2022-05-10", "南宁", "王五")]


def test_the_page_shows_folded_reprints_and_the_filters(client, ids):
    html = client.get("/", query_string={"q": '"保交楼"', "group": "speech"}).get_data(as_text=True)
    assert html.count('<li class="result"') == 2
    assert "另见 1 篇" in html
    assert f'href="/passages/{ids[B_FLATS]}?q=' in html
    assert '<input type="checkbox" name="group" value="speech" checked>' in html
    html = client.get("/", query_string={"q": '"保交楼', "k": 10}).get_data(as_text=True)
    assert "检索式有误" in html


def test_the_page_and_ask_say_when_the_quotes_are_spread_over_one_speech(client, find_index, capsys):
    question = "哪篇讲话分“保交楼”和“粮食储备”两部分来讲？"
    html = client.get("/", query_string={"q": question}).get_data(as_text=True)
    assert "没有一段同时包含引号里的全部原文；前几条是在同一篇讲话里分别包含它们的段落。" in html
    assert "下面是不限定原文措辞的结果" not in html
    assert main(["--index", str(find_index), "ask", question, "-k", "2"]) == 0
    assert capsys.readouterr().out.startswith("没有一段同时含有引号里的全部原文：先列在同一篇讲话里分别含有它们的段落\n")


def test_speeches_shows_the_place_and_speaker_it_knows(find_searcher, find_index, capsys):
    assert main(["--index", str(find_index), "speeches"]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = find_searcher.speeches[0]
    assert lines[0] == (f"{first.id}  2021-09-01     {first.passages} 段  {first.title}  [南宁 · 张三]  "
                        f"({first.source})")


def test_ask_prints_reprints_and_takes_the_filters(find_index, capsys, ids):
    assert main(["--index", str(find_index), "ask", '"保交楼"', "--speaker", "张三", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [(r["passage_id"], [d["passage_id"] for d in r["duplicates"]]) for r in payload["results"]] == [
        (ids[A_FLATS], [])]
    assert main(["--index", str(find_index), "ask", '"保交楼"']) == 0
    out = capsys.readouterr().out
    assert "另见 1 篇: 筑牢新时代安全屏障" in out and "2021-09-01 · 南宁 · 张三" in out


def test_search_payload_echoes_the_query(find_searcher):
    payload = search_payload(find_searcher, '  "保交楼" -粮食 ', k=5)
    assert (payload["query"], len(payload["results"])) == ('"保交楼" -粮食', 1)


def test_a_verbatim_check_counts_every_result_it_allows_not_just_the_first_k(find_searcher):
    # 保交楼: a_ (its reprint b_ folded in) and c_; 安全 alone: every passage but the reprint's
    assert search_payload(find_searcher, '"保交楼"', k=1)["matched"] == 2
    assert len(search_payload(find_searcher, '"保交楼"', k=1)["results"]) == 1
    assert search_payload(find_searcher, '"保交楼"', k=1, group="speech")["matched"] == 2
    assert search_payload(find_searcher, '"保交楼" -粮食', k=5)["matched"] == 1
    assert search_payload(find_searcher, '"不在这里"', k=5)["matched"] == 0
    assert search_payload(find_searcher, '"保交楼"', k=5, place="柳州")["matched"] == 1
    assert search_payload(find_searcher, '保交楼 工作', k=5)["matched"] is None


def test_a_question_that_names_a_speaker_is_led_by_that_speakers_speeches(find_searcher, ids):
    # 王五 is c_grain's speaker (its sidecar), a name none of its passages holds
    question = "王五关于保交楼说过什么"
    assert find_searcher.search(question, k=1)[0].passage.id == ids[A_FLATS]
    answer = find_searcher.answer(question, k=5)
    assert (answer.hits[0].passage.id, answer.speakers_named) == (ids[C_LAND], ("王五",))
    assert ids[A_FLATS] in [hit.passage.id for hit in answer.hits], "the whole question's own hits follow"
    # a speaker or speech the request filters by decides alone
    assert find_searcher.answer(question, k=5, speaker="张三").hits == find_searcher.search(question, k=5,
                                                                                          speaker="张三")
    assert find_searcher.answer("赵六关于保交楼说过什么", k=5).hits == find_searcher.search("赵六关于保交楼说过什么", k=5)


def test_a_question_of_names_alone_is_led_by_their_speeches_and_a_quoted_or_excluded_name_names_no_one(
        find_searcher, ids):
    # the names taken out left nothing to rank by: 王五 alone, or with 张三, answered 400 "q must be a
    # non-empty question"; “王五” 保交楼 left “ ” 保交楼, an empty phrase
    alone = find_searcher.answer("王五", k=3)
    grain = find_searcher.passage(ids[C_LAND]).speech_id
    assert (alone.hits[0].passage.speech_id, alone.speakers_named) == (grain, ("王五",))
    assert set(find_searcher.answer("王五 张三", k=3).speakers_named) == {"王五", "张三"}
    assert find_searcher.answer("“王五” 保交楼", k=3).speakers_named == ()
    assert find_searcher.answer("保交楼 -王五", k=3).speakers_named == ()


def test_a_filter_leaves_no_best_passage_to_name_a_speech_by(find_searcher):
    # speaker=王五 made one of his speeches the "named" one of a question naming another
    question = "那篇讲平安建设的发言，保交楼怎么说"
    answer = find_searcher.answer(question, k=5, speaker="王五")
    assert answer.named_speech is None
    assert answer.hits == find_searcher.search(question, k=5, speaker="王五")


def test_a_named_speakers_passages_lead_only_where_they_answer(find_searcher):
    # 王五 spoke on grain, not on policing: his passages would lead with confidences far below the threshold
    question = "王五对打击电信网络诈骗有什么要求"
    threshold = find_searcher.models["hybrid"].threshold
    assert all(hit.confidence < threshold for hit in find_searcher.search(question, k=5, speaker="王五"))
    assert find_searcher.answer(question, k=5).hits == find_searcher.search(question, k=5)


def test_ask_says_which_speaker_led_the_results(find_index, capsys):
    from service.cli import main

    assert main(["--index", str(find_index), "ask", "王五关于保交楼说过什么", "-k", "3"]) == 0
    assert "问题提到讲话人王五：先列其讲话中回答这个问题的段落\n" in capsys.readouterr().out
