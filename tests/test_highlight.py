"""Choosing and showing the sentence that answers: evidence, best sentence, excerpt — exact values and strings."""
from __future__ import annotations

import pytest

from service.highlight import (PATTERN_GAP, best_sentence, excerpt_span, highlight_excerpt, match_spans,
                               sentence_evidence, split_sentences)

# The shape of the complaint: a 科技安全 sentence shares the query's terms, the 粮食 one answers.
TEXT = "一、粮食安全。保障粮食安全是头等大事。科技安全方面要加强创新。粮食与能源方面，坚决遏制耕地非农化。要抓好新能源。"
TERMS = ["保障", "粮食", "安全"]
# Binary fractions, so the rescaled evidence is exact: 0.5, 1.0, 0.25, 0.75, 0.0 across 0..1.
COSINES = (0.5, 1.0, 0.25, 0.75, 0.0)


def test_sentences_of_the_example():
    assert split_sentences(TEXT) == ((0, 7), (7, 19), (19, 31), (31, 49), (49, 56))


def test_evidence_adds_half_the_lexical_share_to_the_rescaled_cosine():
    # distinct terms per sentence: 2 (粮食, 安全), 3, 1, 1, 0 of the 3 the passage holds
    # the heading 一、粮食安全 gets none: its words are the passage's topic, not an answer to quote
    assert sentence_evidence(TEXT, TERMS) == [0.0, 0.5, 1 / 6, 1 / 6, 0.0]
    assert sentence_evidence(TEXT, TERMS, sentence_scores=COSINES) == [0.0, 1.5, 0.25 + 1 / 6, 0.75 + 1 / 6, 0.0]
    # nor dense evidence, however close it is; the others' cosines are rescaled among themselves
    assert sentence_evidence(TEXT, [], sentence_scores=(1.0, 0.5, 0.25, 1.0, 0.0)) == [0.0, 0.5, 0.25, 1.0, 0.0]


def test_dense_evidence_outweighs_a_shared_term():
    cosines = (0.0, 0.25, 0.5, 1.0, 0.0)
    # term overlap alone (the old rule) underlines the sentence holding all three terms
    assert best_sentence(TEXT, TERMS) == {"text": "保障粮食安全是头等大事。", "start": 7, "end": 19}
    # 0.25 + 0.5 for it, 1.0 + 1/6 for the sentence the vectors put closest
    assert best_sentence(TEXT, TERMS, sentence_scores=cosines) == {
        "text": "粮食与能源方面，坚决遏制耕地非农化。", "start": 31, "end": 49}


def test_a_quoted_phrase_is_shown_where_it_is_however_close_another_sentence_reads():
    cosines = (0.0, 0.25, 0.5, 1.0, 0.0)
    assert best_sentence(TEXT, ["科技安全"], sentence_scores=cosines, verbatim=["科技安全"]) == {
        "text": "科技安全方面要加强创新。", "start": 19, "end": 31}
    # among the sentences that hold it, evidence decides as always
    assert best_sentence(TEXT, ["粮食"], sentence_scores=cosines, verbatim=["粮食"])["start"] == 31
    # wording no sentence holds leaves the choice to the evidence
    assert best_sentence(TEXT, TERMS, sentence_scores=cosines, verbatim=["不在这里"])["start"] == 31


def test_an_english_question_does_not_underline_a_bare_heading():
    assert best_sentence(TEXT, ["food", "security"], sentence_scores=(1.0, 0.75, 0.0, 0.5, 0.25)) == {
        "text": "保障粮食安全是头等大事。", "start": 7, "end": 19}


def test_a_long_heading_line_gets_no_dense_evidence_either():
    # a heading of any length is its own line with no sentence's end; a point that ends with 。 is no heading
    text = ("二、全力以赴保安全，为加快建设面向东盟开放合作的国际化大都市提供坚强保障\n"
            "运用保交楼专项借款等方式解决房地产问题。一是坚决维护政治安全，坚持把维护国家政治安全摆在首位，严密防范渗透破坏活动。")
    assert split_sentences(text) == ((0, 36), (37, 57), (57, 95))
    # rescaled among the two sentences that can win, the heading's top cosine left out
    assert sentence_evidence(text, [], sentence_scores=(1.0, 0.5, 0.0)) == [0.0, 1.0, 0.0]
    assert sentence_evidence(text, [], sentence_scores=(0.0, 0.5, 1.0)) == [0.0, 0.0, 1.0]
    assert best_sentence(text, [], sentence_scores=(1.0, 0.5, 0.0))["start"] == 37


def test_the_hint_stands_in_for_cosines_and_ties_go_to_marks_then_position():
    text = "第一句讲安全。第二句讲粮食安全。第三句无关。第四句也讲安全。"
    terms = ["粮食", "安全", "粮食安全"]
    assert best_sentence(text, terms) == {"text": "第二句讲粮食安全。", "start": 7, "end": 16}
    assert best_sentence(text, ["安全"]) == {"text": "第一句讲安全。", "start": 0, "end": 7}
    assert best_sentence(text, ["安全"], (22, 30)) == {"text": "第四句也讲安全。", "start": 22, "end": 30}
    assert best_sentence(text, ["安全"], (16, 22)) == {"text": "第三句无关。", "start": 16, "end": 22}
    assert best_sentence(text, ["英文"]) == {"text": "第一句讲安全。", "start": 0, "end": 7}
    assert best_sentence("", ["x"]) == {"text": "", "start": 0, "end": 0}


def test_cosines_of_the_wrong_length_are_ignored_for_the_hint():
    assert best_sentence(TEXT, [], (31, 49), sentence_scores=(1.0, 0.0)) == {
        "text": "粮食与能源方面，坚决遏制耕地非农化。", "start": 31, "end": 49}


@pytest.mark.parametrize(("best", "span"), [
    ((7, 19), (7, 31)),    # the best sentence and the one after it
    ((49, 56), (31, 56)),  # the last sentence takes its context from before
    ((0, 7), (0, 19)),
])
def test_excerpt_is_the_best_sentence_and_one_of_context(best, span):
    assert excerpt_span(TEXT, {"start": best[0], "end": best[1]}) == span


def test_excerpt_marks_terms_bolds_the_best_and_shows_where_it_was_cut():
    best = best_sentence(TEXT, TERMS, sentence_scores=COSINES)
    assert str(highlight_excerpt(TEXT, TERMS, best)) == (
        '…<strong class="best"><mark>保障粮食安全</mark>是头等大事。</strong>科技<mark>安全</mark>方面要加强创新。…')
    last = best_sentence(TEXT, ["新能源"])
    assert str(highlight_excerpt(TEXT, ["新能源"], last)) == (
        '…粮食与能源方面，坚决遏制耕地非农化。<strong class="best">要抓好<mark>新能源</mark>。</strong>')


def test_excerpt_escapes_and_a_short_passage_is_shown_whole():
    text = "<b>甲</b>。粮食安全。"
    best = best_sentence(text, ["粮食安全"])
    assert str(highlight_excerpt(text, ["粮食安全"], best)) == (
        '&lt;b&gt;甲&lt;/b&gt;。<strong class="best"><mark>粮食安全</mark>。</strong>')
    assert str(highlight_excerpt(text, ["粮食安全"], None)) == '&lt;b&gt;甲&lt;/b&gt;。<mark>粮食安全</mark>。'


def test_with_no_evidence_for_any_sentence_the_best_is_no_heading():
    # a similar passage's nearest sentence may be its heading, which gets no dense credit: every sentence
    # then has none, and the heading, being first, was bolded as "the closest wording"
    text = "二、维护社会稳定加强民族团结。要坚持和发展新时代“枫桥经验”，把矛盾纠纷化解在基层。"
    assert best_sentence(text, [], hint=[0, 15])["text"] == "要坚持和发展新时代“枫桥经验”，把矛盾纠纷化解在基层。"


def test_a_heading_the_query_marks_does_not_beat_the_passages_one_sentence():
    # the sentence's cosine is below the heading's, and only the heading holds the query's words:
    # both have no evidence, and the heading had won the tie on its marked characters
    text = "一、压实安全生产责任\n要认真落实“党政同责、一岗双责、齐抓共管、失职追责”，坚决遏制重特大事故发生。"
    terms = ["安全生产", "责任", "压实"]
    assert sentence_evidence(text, terms, sentence_scores=(0.9, 0.8)) == [0.0, 0.0]
    assert best_sentence(text, terms, sentence_scores=(0.9, 0.8))["start"] == 11


def test_a_quoted_pattern_marks_its_pieces_where_they_follow_one_another_not_every_occurrence():
    text = "坚持人民至上。坚持党的领导是做好边疆工作的根本原则，坚持依法治理。"
    pattern = PATTERN_GAP.join(["坚持", "是做好", "的根本原则"])
    # the 坚持 right before 是做好, not the passage's first or last (each piece alone marked all three)
    assert [text[a:b] for a, b in match_spans(text, [pattern])] == ["坚持", "是做好", "的根本原则"]
    assert match_spans(text, [pattern])[0] == (7, 9)
    assert match_spans(text, ["坚持"]) == [(0, 2), (7, 9), (26, 28)]
    # out of order, nothing; and every chain where the pattern matches twice
    assert match_spans(text, [PATTERN_GAP.join(["是做好", "坚持人民"])]) == []
    twice = "坚持甲是做好乙的根本原则。坚持丙是做好丁的根本原则。"
    assert [twice[a:b] for a, b in match_spans(twice, [pattern])] == ["坚持", "是做好", "的根本原则"] * 2
    # the best sentence is one that holds the pattern
    assert best_sentence(text, ["坚持"], verbatim=[pattern])["text"] == "坚持党的领导是做好边疆工作的根本原则，坚持依法治理。"
