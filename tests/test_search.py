"""Validation and the three search modes over the real seed index."""
import dataclasses
import itertools
import json
import math

import numpy as np
import pytest

from index.errors import BadQuery, ModelMismatch
from index.query import named_speech_question
from index.request import LISTED_DUPLICATES, MAX_K, MAX_OFFSET, MAX_QUERY_CHARS, check_request
from index.search import CHINESE_MIX, NAMED_SPEECH_HITS, Searcher, hit_to_dict, mix_vectors, search_payload
from service.cli import main
from tests.conftest import one_file_searcher


@pytest.mark.parametrize(("query", "k", "mode", "message"), [
    ("", 5, "hybrid", "q must be a non-empty question"),
    ("   ", 5, "hybrid", "q must be a non-empty question"),
    ("粮" * (MAX_QUERY_CHARS + 1), 5, "hybrid", f"q must be at most {MAX_QUERY_CHARS} characters"),
    ("粮食", 0, "hybrid", f"k must be an integer between 1 and {MAX_K}"),
    ("粮食", MAX_K + 1, "hybrid", f"k must be an integer between 1 and {MAX_K}"),
    ("粮食", True, "hybrid", f"k must be an integer between 1 and {MAX_K}"),
    ("粮食", 5, "sparse", "mode must be one of hybrid, dense, bm25"),
])
def test_validate_rejects_with_a_message(query, k, mode, message):
    with pytest.raises(BadQuery) as caught:
        check_request(query, k, mode)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("offset", [-1, MAX_OFFSET + 1, True, "5", 2.0])
def test_an_offset_out_of_its_limits_is_refused_naming_it(offset):
    with pytest.raises(BadQuery) as caught:
        check_request("“两个维护”", offset=offset)
    assert caught.value.field == "offset" and str(caught.value).startswith(f"offset must be an integer between 0 and {MAX_OFFSET}")


@pytest.mark.parametrize("sort", ["relevance", "date"])
def test_a_verbatim_checks_pages_are_its_whole_list_in_pieces(searcher, sort):
    query = "“两个维护”"
    whole = searcher.search(query, k=MAX_K, sort=sort)
    assert searcher.matched(query) == len(whole) > 10
    pages = [hit for offset in range(0, len(whole) + 5, 5) for hit in searcher.search(query, k=5, offset=offset, sort=sort)]
    assert [(hit.passage.id, hit.rank) for hit in pages] == [(hit.passage.id, hit.rank) for hit in whole]
    assert searcher.search(query, k=5, offset=len(whole)) == []
    payload = search_payload(searcher, query, k=5, offset=5)
    assert [r["rank"] for r in payload["results"]] == [6, 7, 8, 9, 10] and payload["matched"] == len(whole)
    with pytest.raises(BadQuery) as caught:  # a question with words lists its best k, not pages
        searcher.search("如何做到两个维护？", offset=5)
    assert caught.value.field == "offset"


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
@pytest.mark.parametrize(("question", "expected"), [
    ("如何保障粮食安全？", "保障粮食安全提高粮食产能"),
    ("基层怎样提高保密意识？", "健全管理提升保密意识"),
    ("边境安全防控怎么做", "打好边境安全防控战"),
])
@pytest.mark.parametrize("store", ["searcher", "milvus_searcher"])
def test_hand_checked_questions_find_their_passage_in_top_3(request, store, mode, question, expected):
    hits = request.getfixturevalue(store).search(question, k=3, mode=mode)
    assert any(expected in hit.passage.text for hit in hits), [h.passage.text[:40] for h in hits]


def test_english_question_finds_chinese_passage(searcher):
    hits = searcher.search("How should grassroots officials guarantee food security?", k=3, mode="dense")
    assert any("粮食安全" in hit.passage.text for hit in hits)


def test_mix_vectors_by_hand():
    # (1, 0) + 0.5 · (0, 1) = (1, 0.5), of length √1.25
    mixed = mix_vectors(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.5)
    assert mixed.dtype == np.float32
    assert mixed.tolist() == pytest.approx([1 / math.sqrt(1.25), 0.5 / math.sqrt(1.25)])


def test_english_query_vector_mixes_in_its_chinese_terms(searcher, encoder):
    question = "How should grassroots officials guarantee food security?"
    terms = searcher.lexical_terms(question)
    chinese = "".join(t for t in terms if any("\u4e00" <= c <= "\u9fff" for c in t))
    # officials → 干部 and "food security" → 粮食安全 from the policy glossary, guarantee from CC-CEDICT
    assert chinese == "干部保管保证保障担保确保粮食安全"
    english, translated = encoder.encode_queries([question, chinese])
    expected = mix_vectors(english, translated, CHINESE_MIX)
    assert searcher.query_vector(question, terms) == pytest.approx(expected, abs=1e-6)
    # A Chinese question is encoded as it is.
    assert searcher.query_vector("如何保障粮食安全？", []) == pytest.approx(
        encoder.encode_queries(["如何保障粮食安全？"])[0], abs=1e-6)


def test_hybrid_keeps_each_arms_score_and_rank(searcher):
    hit = searcher.search("粮食安全", k=1, mode="hybrid")[0]
    assert set(hit.scores) == {"dense", "dense_window", "bm25"}
    assert hit.scores["bm25"].rank >= 1 and hit.scores["bm25"].score > 0
    assert hit.scores["dense"].rank >= 1 and 0 < hit.scores["dense"].score <= 1


def test_dense_hit_points_at_its_best_sentence(searcher):
    hit = searcher.search("如何保障粮食安全？", k=1, mode="dense")[0]
    start, end = hit.best_span
    assert "粮食" in hit.passage.text[start:end]
    assert set(hit.scores) == {"dense", "dense_window"}


def test_bm25_returns_no_zero_score_passages(searcher):
    assert searcher.search("sourdough baguette", k=10, mode="bm25") == []


def test_speech_filter_restricts_results(searcher):
    speech = searcher.speeches[3]
    hits = searcher.search("国家安全", k=50, mode="hybrid", speech=speech.id)
    assert hits and {h.passage.speech_id for h in hits} == {speech.id}
    with pytest.raises(BadQuery, match="unknown speech id"):
        searcher.search("国家安全", speech="nope")


def test_neighbours_stay_inside_the_speech(searcher):
    speech = searcher.speeches[0]
    passages = searcher.speech_passages(speech.id)
    assert searcher.neighbours(passages[0].id) == (None, passages[1].id)
    assert searcher.neighbours(passages[-1].id)[1] is None


def test_payload_shape_is_the_api_contract(searcher):
    payload = search_payload(searcher, " 粮食安全 ", k=2, mode="hybrid")
    assert set(payload) == {"query", "mode", "speech", "took_ms", "answered", "phrases_relaxed", "phrases_spread",
                            "phrases_held", "named_speech", "speakers_named", "parts_listed", "matched", "results"}
    assert payload["phrases_relaxed"] is False
    assert (payload["named_speech"], payload["speakers_named"], payload["parts_listed"]) == (None, [], [])
    assert payload["matched"] is None  # words to rank: nothing counts as matched
    assert payload["query"] == "粮食安全"
    # a verbatim check is answered where the wording is held, whatever its passages' confidences
    for wording, held in (('"xx"', True), ('"两个确立"', True), ('"不在这里的话"', False)):
        checked = search_payload(searcher, wording, k=2)
        assert (checked["answered"], checked["matched"] > 0) == (held, held)
    result = payload["results"][0]
    assert set(result) == {"rank", "score", "confidence", "passage_id", "text", "speech", "section", "scores", "start", "end",
                           "best_span", "duplicates", "duplicate_count"}
    info = searcher.speech(result["speech"]["id"])
    # the seeds name no date, place, speaker or occasion; the collection is the compilation's title or none
    assert result["speech"] == {"id": info.id, "title": info.title, "source": info.source, "date": None,
                                "place": None, "speaker": None, "occasion": None, "collection": info.collection,
                                "title_inferred": info.title_inferred}
    hit = searcher.search("粮食安全", k=1)[0]
    assert result == hit_to_dict(hit, searcher.speech(hit.passage.speech_id))


# Two questions of eval/topic_twohop.jsonl (tt001, tt006): each names its speech by one thing it says
# (the quoted 南大门; the ASEAN metropolis) and asks about another part of it.
NAMED_SPEECH_QUESTIONS = [
    ("那篇自称要在守好祖国“南大门”上走在前作表率的首府发言，在化解楼市风险、稳住民生上具体用了哪些办法？",
     "在化解楼市风险、稳住民生上具体用了哪些办法？", "保交楼专项借款"),
    ("In the speech by the city that positions itself as an international metropolis open to ASEAN, which "
     "flagship investment does it name when describing the big projects brought in to stabilise the economy?",
     "which flagship investment does it name when describing the big projects brought in to stabilise the "
     "economy?", "比亚迪动力电池"),
]


@pytest.mark.parametrize("question, asked, answer_words", NAMED_SPEECH_QUESTIONS)
def test_a_question_that_names_its_speech_is_answered_from_that_speech(searcher, question, asked, answer_words):
    as_one_question = searcher.search(question, k=10)
    naming_hit = as_one_question[0]
    answer = searcher.answer(question, k=10)
    assert searcher.speech_named_by_words(named_speech_question(question).naming) is None, "no word names it alone"
    assert (answer.named_speech, answer.asked, answer.phrases_relaxed) == (naming_hit.passage.speech_id, asked, False)
    leading = answer.hits[:NAMED_SPEECH_HITS]
    assert any(answer_words in hit.passage.text for hit in leading)
    assert all(hit.passage.speech_id == answer.named_speech for hit in leading)
    assert all(hit.confidence <= naming_hit.confidence for hit in leading), "no surer than the speech it came from"
    ids = [hit.passage.id for hit in answer.hits]
    # the quoted 南大门 filters the whole question's own hits to the few passages that say it
    assert [hit.rank for hit in answer.hits] == list(range(1, len(ids) + 1)) and len(set(ids)) == len(ids)
    assert naming_hit.passage.id in ids, "the whole question's own hits follow"


@pytest.mark.parametrize("question, place", [
    ("In the Xingtai speech, what does it say about food security?", "邢台"),
    ("In the Tongwei county speech, how does it handle ethnic unity?", "通渭"),
])
def test_a_speech_named_by_a_place_only_it_says_is_that_speech(searcher, question, place):
    # the whole question's best passage comes from another speech about the same thing
    assert place not in searcher.search(question, k=1)[0].passage.text
    answer = searcher.answer(question, k=5)
    speech_text = "".join(searcher.passages[row].text for row in searcher.library.speech_rows[answer.named_speech])
    assert place in speech_text
    assert not any(place in passage.text for passage in searcher.passages
                   if passage.speech_id != answer.named_speech), "the place names one speech only"
    assert all(hit.passage.speech_id == answer.named_speech for hit in answer.hits[:NAMED_SPEECH_HITS])


def test_a_speech_named_inside_an_english_question_leads_only_when_its_words_name_one(searcher):
    # "the Tongwei county speech": 通渭 is said by one speech, whose passages then lead
    named = searcher.answer("What does the Tongwei county speech say about ethnic unity?", k=5)
    assert "通渭" in searcher.speech(named.named_speech).title + "".join(
        p.text for p in searcher.speech_passages(named.named_speech))
    assert all(hit.passage.speech_id == named.named_speech for hit in named.hits[:NAMED_SPEECH_HITS])
    # "the county-level speech" fits several: the whole question's best passage is no sign of which
    # speech is meant (the question is mostly what it asks), so it is answered as one question
    question = "What kinds of social-stability incidents does the county-level speech say it must guard against?"
    assert named_speech_question(question).inline
    assert searcher.speech_named_by_words(named_speech_question(question).naming) is None
    unnamed = searcher.answer(question, k=5)
    assert (unnamed.hits, unnamed.named_speech) == (searcher.search(question, k=5), None)


def test_a_question_that_tells_its_speech_by_its_listed_parts_is_led_by_them(searcher):
    # others_b tb112: no one passage holds the four parts, and asked as one question none of the top 5 did
    question = "哪篇发言分成根本原则、中心任务、最终目的、重要法宝四块来讲？"
    parts = ("根本原则", "中心任务", "最终目的", "重要法宝")
    holding = {p.speech_id for p in searcher.passages if "根本原则" in p.text}
    speech = next(s for s in holding if all(any(part in p.text for p in searcher.speech_passages(s)) for part in parts))
    answer = searcher.answer(question, k=5)
    assert answer.parts_listed == parts
    # a passage for each part, in the order listed (the three best overall held two parts of one section)
    leading = list(itertools.takewhile(lambda hit: hit.passage.speech_id == speech, answer.hits))
    assert all(any(part in hit.passage.text for hit in leading) for part in parts)
    assert not any(hit.passage.speech_id == speech for hit in searcher.search(question, k=NAMED_SPEECH_HITS))
    # each answers "which speech" as surely as the best of them: the first part's own confidence read 相关性较弱
    assert len({hit.confidence for hit in leading}) == 1
    assert searcher.answered(answer.hits, "hybrid")
    # parts no one speech holds together lead nothing
    unheld = "哪篇发言分成根本原则、风马牛、不相及三块来讲？"
    assert searcher.answer(unheld, k=5).hits == searcher.search(unheld, k=5)


def test_wording_quoted_in_the_part_asked_binds_the_named_speechs_passages(searcher):
    # two of the named speech's three passages did not hold “政治安全”, and nothing said so
    answer = searcher.answer("讲壮乡首府安全屏障的那篇，“政治安全”这块说了什么", k=10)
    assert answer.named_speech is not None and not answer.phrases_relaxed
    held = len(answer.hits) if answer.phrases_held is None else answer.phrases_held
    assert held > 0 and all("政治安全" in hit.passage.text for hit in answer.hits[:held])


def test_a_speech_the_request_filters_by_is_not_overridden_by_the_one_the_question_names(searcher):
    # the named speech's passages led a request filtered to another speech
    other = next(info.id for info in searcher.speeches if "通渭" not in "".join(
        p.text for p in searcher.speech_passages(info.id)))
    for question in ("In the Tongwei county speech, how does it handle ethnic unity?",
                     "What does the Tongwei county speech say about ethnic unity?"):
        answer = searcher.answer(question, k=5, speech=other)
        assert answer.named_speech is None
        assert answer.hits == searcher.search(question, k=5, speech=other)
        assert {hit.passage.speech_id for hit in answer.hits} == {other}


@pytest.mark.parametrize("naming, title_words", [
    ("Zhuang-region capital speech", ("壮乡", "首府")),
    ("speech on the capital's 'moat' defense line", ("首都", "护城河")),
])
def test_an_english_naming_whose_words_translate_into_one_title_names_that_speech(searcher, naming, title_words):
    titled = [info.id for info in searcher.speeches if all(word in info.title for word in title_words)]
    assert len(titled) == 1
    assert searcher.speech_named_by_words(naming) == titled[0]


def test_an_english_naming_with_one_word_in_a_title_names_no_speech_by_it(searcher):
    # "border" translates into one title's 边疆, but the Yunnan and Chongzuo speeches are border speeches too
    border_titled = [info.id for info in searcher.speeches if "边疆" in info.title]
    assert len(border_titled) == 1
    assert searcher.speech_named_by_words("border-province") != border_titled[0]


def test_a_speech_named_by_its_titles_words_is_that_speech(searcher):
    # another speech says 筑牢首都“护城河” in its text; one title holds every naming word
    titled = [info.id for info in searcher.speeches if "护城河" in info.title and "防线" in info.title]
    assert len(titled) == 1
    assert any("护城河" in p.text for p in searcher.passages if p.speech_id != titled[0])
    assert searcher.speech_named_by_words("筑牢首都“护城河”防线的") == titled[0]
    answer = searcher.answer("筑牢首都“护城河”防线的那篇发言，是怎么概括二十大报告在国家安全理论上的新贡献的？", k=5)
    assert answer.named_speech == titled[0]
    assert "新定位" in answer.hits[0].passage.text
    # what the question asks before its comma is no part of the naming (it had named 邢台's speech)
    answer = searcher.answer("为加强社会治安智能化防控，“护城河”防线那篇发言要求加快哪个工程的实战应用？", k=5)
    assert answer.named_speech == titled[0]
    assert "雪亮工程" in answer.hits[0].passage.text


def test_a_speech_is_not_named_by_words_many_speeches_say(searcher):
    assert searcher.speech_named_by_words("the speech about national security") is None
    assert searcher.speech_named_by_words("") is None


def test_only_a_question_that_names_a_speech_and_wants_passages_is_answered_in_two_steps(searcher):
    question = NAMED_SPEECH_QUESTIONS[0][0]
    assert searcher.answer(question, k=5, group="speech").named_speech is None
    assert searcher.answer(question, k=5, sort="date").named_speech is None
    plain = searcher.answer("如何保障粮食安全？", k=5)
    assert (plain.hits, plain.named_speech) == (searcher.search("如何保障粮食安全？", k=5), None)
    payload = search_payload(searcher, question, k=5)
    assert payload["named_speech"] == {"id": searcher.answer(question, k=5).named_speech,
                                       "title": payload["results"][0]["speech"]["title"],
                                       "asked": NAMED_SPEECH_QUESTIONS[0][1]}


def test_a_result_lists_its_first_reprints_and_counts_them_all(searcher):
    hit = searcher.search("粮食安全", k=1)[0]
    others = [p for p in searcher.passages if p.id != hit.passage.id][:LISTED_DUPLICATES + 5]
    result = hit_to_dict(dataclasses.replace(hit, duplicates=tuple(others)))
    assert result["duplicate_count"] == LISTED_DUPLICATES + 5
    assert [d["passage_id"] for d in result["duplicates"]] == [p.id for p in others[:LISTED_DUPLICATES]]
    assert hit_to_dict(dataclasses.replace(hit, duplicates=()))["duplicate_count"] == 0


def test_a_different_query_model_is_refused(searcher):
    class OtherModel:
        model_id = "some/other-model"
        dim = 384

    with pytest.raises(ModelMismatch, match="rebuild with `speechqa build --model some/other-model`"):
        Searcher(searcher.store, OtherModel())


def test_ask_prints_which_speech_a_question_named(index_root, searcher, capsys):
    question = "讲壮乡首府安全屏障的那篇，维护政治安全这块说了什么"
    assert main(["--index", str(index_root), "ask", question, "-k", "3"]) == 0
    named = searcher.speech(searcher.answer(question, k=3).named_speech).title
    assert capsys.readouterr().out.startswith(f"问题指向《{named}》：先列这篇讲话里关于“维护政治安全这块说了什么”的段落\n")


def test_ask_says_when_nothing_matches_or_the_best_hit_may_not_answer(index_root, searcher, capsys):
    question = "如何做红烧肉？"
    assert not searcher.answered(searcher.answer(question, k=3).hits, "hybrid")
    assert main(["--index", str(index_root), "ask", question, "-k", "3"]) == 0
    assert capsys.readouterr().out.startswith("下面的段落可能没有直接回答这个问题（最高置信度未达阈值）\n 1. ")
    assert main(["--index", str(index_root), "ask", '"上海交通大学"']) == 0
    assert capsys.readouterr().out.startswith("没有找到相关段落：库中没有一段含有“上海交通大学”这一提法。\n(hybrid, ")
    # a phrase that occurs asks nothing: its passages are counted and listed without the caution or
    # a confidence
    assert main(["--index", str(index_root), "ask", '"保交楼"']) == 0
    out = capsys.readouterr().out
    total = len(searcher.search('"保交楼"', k=50))
    assert out.startswith(f"共 {total} 条符合" + (f"，列出前 5 条\n" if total > 5 else "\n") + " 1. ")
    assert "置信度" not in out


def test_ask_shows_the_sentence_that_answers_and_its_confidence(index_root, searcher, capsys):
    question = "城市防汛要达到怎样的设防等级？"
    assert main(["--index", str(index_root), "ask", question, "-k", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = searcher.answer(question, k=1).hits[0]
    assert f"[置信度 {first.confidence:.2f}] " in lines[-3]
    assert "百年一遇" in lines[-2]  # the answering sentence, not the passage's opening


def test_speeches_lists_the_ids_ask_takes_and_the_api_json(index_root, searcher, client, capsys):
    assert main(["--index", str(index_root), "speeches"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [s.id for s in searcher.speeches]
    assert lines[-1] == f"({len(searcher.speeches)} speeches)"
    # the seeds' untitled speech: its made-up title marked, as the page and exports mark it
    assert [line for line in lines if "〔拟题〕" in line] == [
        next(line for line in lines if line.startswith(s.id)) for s in searcher.speeches if s.title_inferred]
    assert sum(s.title_inferred for s in searcher.speeches) == 1
    assert main(["--index", str(index_root), "speeches", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == client.get("/api/speeches").get_json()


def test_more_in_a_speech_counts_the_passages_that_answer_not_every_one_ranked(searcher):
    (food, *_) = searcher.search("如何保障粮食安全", group="speech", k=5)
    rows = searcher.library.speech_rows[food.passage.speech_id]
    # every passage of the grain speech is a candidate of some arm; only those that answer count
    assert 1 <= food.more_in_speech < len(rows) - 1


# County speeches: 县域 all through two of them, 通渭 twice in a third; twenty more on other subjects
OTHER_SUBJECTS = ("春耕备耕", "防汛抗旱", "森林防火", "安全生产", "招商引资", "教育振兴", "医疗卫生", "文化旅游", "生态环保",
                  "交通运输", "住房保障", "就业创业", "养老服务", "食品药品", "科技创新", "金融服务", "统计调查", "审计监督",
                  "信访维稳", "档案管理")
COUNTY_SPEECHES = "".join(
    f"{title}\n讲话人：{speaker}\n---\n" + "\n".join(lines) + "\n" for title, speaker, lines in (
        ("做好县域经济工作", "张三", ["县域经济是县域发展的基础，县域产业要壮大。", "推动县域商业体系建设，县域消费要扩大。"]),
        ("推进县域治理现代化", "李四", ["县域治理是国家治理的基石，县域社会要稳定。", "提升县域应急能力，县域风险要化解。"]),
        ("守护一方平安", "王五", ["通渭县域地处陇中，民族团结是各族群众的生命线。", "通渭要把矛盾化解在基层。"]),
        *((f"在{subject}工作会议上的讲话", "赵六", [f"{subject}是今年的重中之重，{subject}{'甲乙丙丁'[n % 4]}方案已经印发。"])
          for n, subject in enumerate(OTHER_SUBJECTS))))


def test_an_english_naming_clause_is_weighed_by_its_proper_names_first(tmp_path_factory, encoder):
    searcher = one_file_searcher(tmp_path_factory, encoder, "county.txt", COUNTY_SPEECHES)
    tongwei = next(info.id for info in searcher.speeches if info.title == "守护一方平安")
    assert searcher.speech_named_by_words("Tongwei county") == tongwei
    assert searcher.speech_named_by_words("Tongwei") == tongwei
    # "county" alone names none of three county speeches
    assert searcher.speech_named_by_words("county") is None


POSTED_SPEAKERS = "".join(
    f"{title}\n讲话人：{speaker}\n---\n{body}\n" for title, speaker, body in (
        ("筑牢城市安全防线", "市长 周雨桐", "一、压实安全生产责任\n要认真落实党政同责、一岗双责，坚决遏制重特大事故发生。"),
        ("守好粮仓", "市委书记 许长青", "一、保障粮食安全\n要严格落实粮食安全党政同责，确保粮食播种面积稳定。"),
        *((f"在{subject}工作会议上的讲话", "副市长 赵六", f"{subject}是今年的重中之重，方案已经印发。")
          for subject in OTHER_SUBJECTS[:6])))


def test_a_speaker_named_with_the_post_their_speaker_line_gives_leads_with_their_speech(tmp_path_factory, encoder):
    # 周雨桐市长讲了什么 asked 市长 of her passages, which no answer holds as surely as a first result must:
    # no lead, where 周雨桐讲了什么 had one
    searcher = one_file_searcher(tmp_path_factory, encoder, "posted.txt", POSTED_SPEAKERS)
    safety = next(info.id for info in searcher.speeches if info.title == "筑牢城市安全防线")
    for question in ("周雨桐讲了什么", "周雨桐市长讲了什么", "市长周雨桐讲了什么"):
        answer = searcher.answer(question, k=3)
        assert (answer.speakers_named, answer.hits[0].passage.speech_id) == (("周雨桐",), safety), question
    both = searcher.answer("许长青书记、周雨桐市长分别讲了什么", k=5)
    assert set(both.speakers_named) == {"许长青", "周雨桐"}


def test_a_passage_reprinted_past_the_arms_depth_still_leaves_k_results(tmp_path, encoder):
    from index.build import build
    from index.search import load_searcher
    from tests.conftest import FIND_CORPUS

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    speech = FIND_CORPUS["a_original.txt"].split("---\n", 1)[1]
    for day in range(1, 7):  # a 素材库 reprints one speech under new headers
        (corpus / f"copy{day}.txt").write_text(f"日期：2021-09-{day:02d}\n---\n{speech}", encoding="utf-8")
    (corpus / "grain.txt").write_text(FIND_CORPUS["c_grain.txt"], encoding="utf-8")
    build([corpus], tmp_path / "index", encoder=encoder)
    store = load_searcher(tmp_path / "index", encoder=encoder).store
    # arms two passages deep: the first passage's copies alone fill them
    shallow = Searcher(store, encoder, depth=2)
    for mode in ("hybrid", "dense", "bm25"):
        hits = shallow.search("保交楼 平安建设 粮食安全 耕地", k=3, mode=mode)
        assert len(hits) == 3, mode
        texts = [hit.passage.text for hit in hits]
        assert len(set(texts)) == 3, "one result per reprint group"
    assert max(len(hit.duplicates) for hit in shallow.search("保交楼", k=3)) == 5
    # the arms rank one copy of each group, the canonical one: the grain speech's passage is second, not
    # seventh, and what a list opens with, confidence and all, hangs neither on k nor on the arms' depth
    rows = shallow.library.one_copy_each(None)
    assert all(shallow.library.canonical[rows] == rows) and len(rows) < len(shallow.passages)
    arms, _, _ = shallow.arms("保交楼 粮食安全", "hybrid", 20, rows)
    for arm, matches in arms.items():
        groups = [int(shallow.library.canonical[match.row]) for match in matches]
        assert len(groups) == len(set(groups)), arm
    deep = Searcher(store, encoder)
    for k in (1, 3, 5):
        assert [(hit.passage.id, hit.confidence) for hit in shallow.search("保交楼 粮食安全", k=k)] == \
            [(hit.passage.id, hit.confidence) for hit in deep.search("保交楼 粮食安全", k=5)][:k]


@pytest.mark.parametrize("question, place", [
    ("How does Tongwei describe building a departmental collaboration network?", "通渭"),
    ("How has Jinzhong changed its approach to petitions?", "晋中"),
    ("通渭县发言认为贯彻总体国家安全观的关键在哪里？", "通渭"),
])
def test_a_question_about_a_place_one_speech_says_is_led_by_that_speech(searcher, question, place):
    speech, words = searcher.place_named(question)
    saying = {p.speech_id for p in searcher.passages if place in p.text}
    assert saying == {speech}
    answer = searcher.answer(question, k=5)
    assert answer.named_speech == speech
    assert all(hit.passage.speech_id == speech for hit in answer.hits[:NAMED_SPEECH_HITS])


def test_a_chinese_question_ranks_its_places_speech_without_the_place(searcher):
    question = "通渭县发言认为贯彻总体国家安全观的关键在哪里？"
    # ranked whole, the place lifts a passage that says it over the one that answers, which does not
    assert "通渭" in searcher.search(question, k=1)[0].passage.text
    answer = searcher.answer(question, k=5)
    assert "关键在于压紧靠实工作责任" in answer.hits[0].passage.text and "通渭" not in answer.hits[0].passage.text
    assert "通渭" not in answer.asked and "关键" in answer.asked


@pytest.mark.parametrize("question", [
    "What did the Party Congress report say about national security?",  # capitalised English, no place
    "How do Xingtai and Jinzhong guard against risks?",  # two places of two speeches
    "What does Beijing ask of the capital's neighbours?",  # a place the speeches write xx
    "壮乡首府跟哪所大学联手搭建了研发机构？",  # 大学 is a proper noun to CC-CEDICT (the classic), no place
    "邢台和晋中怎样防范风险？",
    "标题：晋中",  # a title filter filters: it had been taken for a question about 晋中, and 500'd the page
    '"晋中" -粮食',  # quoted, a place is wording to check
])
def test_a_question_names_no_speech_by_place_unless_one_speech_alone_says_it(searcher, question):
    assert searcher.place_named(question) is None


@pytest.mark.parametrize("question", ["通渭县", "通渭县 标题：安全", "通渭县在“防范化解重大风险”上怎么做？"])
def test_a_place_question_keeps_its_filters_and_quotes_and_a_place_alone_is_ranked_by_it(searcher, question):
    answer = searcher.answer(question, k=5, speech="")
    speech, _ = searcher.place_named(question)
    assert answer.named_speech == speech and answer.hits
    assert all(hit.passage.speech_id == speech for hit in answer.hits[:1])




# An older speech of three one-paragraph sections, the spliced articles' third source.
MEDIATION, NETWORK, WORKPLACE = (
    "坚持和发展新时代“枫桥经验”，健全矛盾纠纷多元化解机制，把矛盾纠纷化解在基层、化解在萌芽状态，做到小事不出村、大事不出镇、"
    "矛盾不上交，让群众在家门口就能解决烦心事。",
    "加强网络安全保障体系和能力建设，压实关键信息基础设施运营者主体责任，开展网络安全检查和攻防演练，依法打击网络违法犯罪，"
    "筑牢网络安全防线，守护清朗网络空间。",
    "深入开展安全生产专项整治三年行动，紧盯危险化学品、道路交通、建筑施工等重点行业领域，压实企业主体责任和部门监管责任，"
    "坚决遏制重特大事故发生。")
OLDER = f"守护一方平安\n日期：2020-06-01\n---\n一、化解矛盾纠纷\n{MEDIATION}\n二、守护网络安全\n{NETWORK}\n三、抓好安全生产\n{WORKPLACE}\n"


def _spliced_article(number: int, sections: list[tuple[str, list[str]]]) -> str:
    """A 素材库 article of 2024: a new title and headings over paragraphs copied from other speeches."""
    lines = [f"守牢安全稳定底线（拼合{number}）", f"日期：2024-0{number}-01", "---"]
    for heading, paragraphs in sections:
        lines += [heading, *paragraphs]
    return "\n".join(lines) + "\n"


def test_spliced_articles_rank_through_the_speeches_they_copy_in_build_and_add(tmp_path, encoder, capsys):
    from index.search import load_searcher
    from tests.conftest import FIND_CORPUS

    corpus, root = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for name, text in [*FIND_CORPUS.items(), ("d_older.txt", OLDER)]:
        (corpus / name).write_text(text, encoding="utf-8")
    housing, safety = FIND_CORPUS["a_original.txt"].splitlines()[7], FIND_CORPUS["a_original.txt"].splitlines()[9]
    grain = FIND_CORPUS["c_grain.txt"].splitlines()[3]
    storage = FIND_CORPUS["c_grain.txt"].splitlines()[5]
    # each passage joins paragraphs of three speeches, no one of them alike enough to another to be its reprint
    (corpus / "s1.txt").write_text(_spliced_article(1, [("一、守牢民生底线", [housing, MEDIATION, grain])]),
                                   encoding="utf-8")
    (corpus / "s2.txt").write_text(_spliced_article(2, [("一、统筹发展和安全", [safety, NETWORK, WORKPLACE])]),
                                   encoding="utf-8")
    added = tmp_path / "s3.txt"
    added.write_text(_spliced_article(3, [("一、扎实推进平安建设", [MEDIATION, safety, storage])]), encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    assert main(["--index", str(root), "add", str(added), "-q"]) == 0
    searcher = load_searcher(root, encoder=encoder)
    spliced = {p.id: p for p in searcher.passages if p.source.startswith("s")}
    assert len(spliced) == 3 and all(p.spliced_from and not p.duplicate_of for p in spliced.values())
    question = "保交楼 平安建设 粮食安全 枫桥经验 网络安全 安全生产"
    hits = searcher.search(question, k=6)
    assert {hit.passage.source for hit in hits} == {"a_original.txt", "c_grain.txt", "d_older.txt"}
    # every spliced passage is offered beside each original passage it copies a paragraph of
    for hit in hits:
        copying = {p.id for p in spliced.values() if hit.passage.id in p.spliced_from}
        assert {p.id for p in hit.also_in} == copying
        shown = hit_to_dict(hit)
        assert (shown.get("also_in_count"), len(shown.get("also_in", []))) == \
            ((len(copying), len(copying)) if copying else (None, 0))
    assert {p.id for hit in hits for p in hit.also_in} == set(spliced)
    # the list does not hang on k
    for k in (1, 3, 5):
        assert [(h.passage.id, h.confidence) for h in searcher.search(question, k=k)] == \
            [(h.passage.id, h.confidence) for h in hits[:k]]
    # an article searched on its own stands on its own, and a verbatim check counts it under its source
    article = next(p.speech_id for p in spliced.values() if p.source == "s3.txt")
    assert [hit.passage.source for hit in searcher.search(question, k=5, speech=article)] == ["s3.txt"]
    assert searcher.matched('"枫桥经验"') == 1
    # Milvus folds them after ranking, its unfiltered arms ranking every passage: the same list
    from index.lifecycle import current_build
    from index.milvus import MilvusIndex
    from index.store import FaissBm25Store

    milvus = MilvusIndex(str(tmp_path / "speechqa.db"))
    milvus.publish(FaissBm25Store.load(current_build(root)))
    on_milvus = Searcher(milvus.open(), encoder).search(question, k=6)
    assert [(h.passage.id, [p.id for p in h.also_in]) for h in on_milvus] == \
        [(h.passage.id, [p.id for p in h.also_in]) for h in hits]
    # ask and the page offer them as the spliced articles a result is also in
    capsys.readouterr()
    assert main(["--index", str(root), "ask", "枫桥经验", "-k", "1"]) == 0
    assert "    亦见于 2 篇拼合文章: 守牢安全稳定底线（拼合1） (" in capsys.readouterr().out
    from service import create_app

    page = create_app({"TESTING": True}, searcher=searcher).test_client().get("/", query_string={"q": "枫桥经验"})
    assert "<summary>亦见于 2 篇拼合文章</summary>" in page.get_data(as_text=True)
