"""Fusion, coverage and English→Chinese terms, checked against hand-computed cases."""
import math

import numpy as np
import pytest

from index.bilingual import chinese_terms, english_words, has_chinese, headword_terms
from index.lexical import tokenize
from index.calibrate import LogisticModel
from index.fusion import (ENGLISH_FEATURES, FEATURES, arm_scores, candidates, confidences, feature_matrix, fuse,
                          learned_fuse)
from index.lexical import TermStats
from index.records import ArmScore
from index.store import Match
from service.highlight import highlight


def test_fuse_adds_reciprocal_ranks_and_keeps_every_arms_view():
    arms = {"a": [Match(1, 0.9), Match(2, 0.8)], "b": [Match(2, 5.0), Match(3, 4.0)]}
    fused = fuse(arms, rrf_k=1)
    # row 2: 1/(1+2) + 1/(1+1); row 1: 1/2; row 3: 1/3
    assert [(row, round(score, 6)) for row, score in fused] == [(2, 0.833333), (1, 0.5), (3, 0.333333)]
    assert fuse(arms, rrf_k=1, limit=1) == [fused[0]]


def test_fuse_ties_keep_first_listed_order():
    arms = {"a": [Match(7, 1.0)], "b": [Match(4, 1.0)]}
    assert [row for row, _ in fuse(arms)] == [7, 4]
    arms = {"dense": [Match(1, 0.5), Match(2, 0.4)], "bm25": [Match(2, 3.0), Match(1, 2.0)]}
    assert [row for row, _ in fuse(arms)] == [1, 2]


def test_arm_scores_give_each_asked_rows_rank_and_score_in_every_arm():
    arms = {"dense": [Match(7, 0.9), Match(3, 0.8)], "bm25": [Match(3, 12.0), Match(5, 4.0)]}
    assert arm_scores(arms, [3, 5, 9]) == {
        3: {"dense": ArmScore(0.8, 2), "bm25": ArmScore(12.0, 1)},
        5: {"dense": ArmScore(None, None), "bm25": ArmScore(4.0, 2)},
        9: {"dense": ArmScore(None, None), "bm25": ArmScore(None, None)}}
    assert arm_scores({"a": [Match(0, 2.0)], "b": []}, [0]) == {0: {"a": ArmScore(2.0, 1), "b": ArmScore(None, None)}}
    assert arm_scores(arms, []) == {} and arm_scores({}, [4]) == {4: {}}


def shares(table):
    """A coverage function that answers from a table of row → share."""
    return lambda rows: np.array([table[row] for row in rows], dtype=float)


def no_coverage(rows):
    return np.zeros(len(rows))


def test_bm25_over_groups_of_passages_by_hand():
    # passages 0 and 1 make group 0, passage 2 group 1; passage 3 (a reprint) counts in none
    stats = TermStats.of([["a", "b"], ["b"], ["c"], ["a"]])
    group_of = np.array([0, 0, 1, -1])
    idf = math.log(1 + (2 - 1 + 0.5) / 1.5)  # two groups; each term in one of them
    norm_0 = 1.2 * (1 - 0.75 + 0.75 * 2 / 1.5)  # group 0 holds 2 passages, groups 1.5 on average
    norm_1 = 1.2 * (1 - 0.75 + 0.75 * 1 / 1.5)
    a_then_b = stats.group_bm25(["a", "b", "a"], group_of, 2)
    assert a_then_b == pytest.approx([idf * 1 * 2.2 / (1 + norm_0) + idf * 2 * 2.2 / (2 + norm_0), 0.0])
    assert stats.group_bm25(["c", "z"], group_of, 2) == pytest.approx([0.0, idf * 2.2 / (1 + norm_1)])
    assert stats.group_bm25(["a"], np.array([-1, -1, -1, -1]), 2).tolist() == [0.0, 0.0]


def test_idf_and_coverage_by_hand():
    stats = TermStats.of([["a", "b"], ["b"], ["c"]])
    idf_a = math.log(1 + (3 - 1 + 0.5) / 1.5)   # df 1
    idf_b = math.log(1 + (3 - 2 + 0.5) / 2.5)   # df 2
    idf_z = math.log(1 + 3.5 / 0.5)             # in no passage
    assert stats.idf("a") == pytest.approx(idf_a)
    assert stats.idf("z") == pytest.approx(idf_z)
    assert stats.coverage(["a", "b", "a"], 0) == 1.0
    assert stats.coverage(["a", "b"], 1) == pytest.approx(idf_b / (idf_a + idf_b))
    assert stats.coverage(["z", "c"], 2) == pytest.approx(stats.idf("c") / (idf_z + stats.idf("c")))
    assert stats.coverage([], 0) == 0.0
    # many rows at once, as fusion asks: the same shares
    assert stats.coverage_of(["a", "b"])([0, 1, 2]).tolist() == pytest.approx([1.0, idf_b / (idf_a + idf_b), 0.0])
    assert stats.document_frequency == {"a": 1, "b": 2, "c": 1}
    assert stats.rows_holding("b").tolist() == [0, 1] and stats.rows_holding("z").tolist() == []


def test_features_of_candidates_by_hand():
    arms = {"dense": [Match(5, 0.90), Match(6, 0.80)], "dense_window": [Match(6, 0.85)],
            "bm25": [Match(6, 10.0), Match(7, 4.0)]}
    matrix = feature_matrix([6, 7], arms, shares({6: 0.5, 7: 0.0}), FEATURES, rrf_k=60)
    assert dict(zip(FEATURES, matrix[0])) == pytest.approx({
        "dense_rr": 60 / 62, "dense_window_rr": 60 / 61, "bm25_rr": 60 / 61,
        "dense_cosine": 0.80, "dense_gap": 0.10, "bm25_share": 1.0, "coverage": 0.5})
    # Row 7: the dense arm missed it, so its cosine is taken as the list's lowest (0.80).
    assert dict(zip(FEATURES, matrix[1])) == pytest.approx({
        "dense_rr": 0.0, "dense_window_rr": 0.0, "bm25_rr": 60 / 62,
        "dense_cosine": 0.80, "dense_gap": 0.10, "bm25_share": 0.4, "coverage": 0.0})
    only_bm25 = feature_matrix([7], {"bm25": arms["bm25"]}, shares({7: 0.25}), ("bm25_rr", "coverage"))
    assert only_bm25.tolist() == [[60 / 62, 0.25]]
    # an English question's features again under english_, which a Chinese question's are 0 in
    names = ("bm25_rr", "english", "english_bm25_rr", "english_coverage")
    english = feature_matrix([7], arms, shares({7: 0.25}), names, english=True)
    assert english[0].tolist() == pytest.approx([60 / 62, 1.0, 60 / 62, 0.25])
    assert feature_matrix([7], arms, shares({7: 0.25}), names)[0].tolist() == pytest.approx([60 / 62, 0.0, 0.0, 0.0])
    assert ENGLISH_FEATURES == ("english", *(f"english_{name}" for name in FEATURES))


def test_candidates_take_each_arms_best_rows_in_first_listed_order():
    arms = {"a": [Match(1, 0), Match(2, 0), Match(3, 0)], "b": [Match(4, 0), Match(1, 0)]}
    assert candidates(arms, depth=2) == [1, 2, 4]
    assert candidates(arms, depth=None) == [1, 2, 3, 4]


def test_learned_fuse_ranks_by_the_models_probability():
    # P = sigmoid(2 * bm25_share - 1): a row BM25 missed gets sigmoid(-1).
    model = LogisticModel(("bm25_share",), (0.0,), (1.0,), (2.0,), -1.0)
    arms = {"dense": [Match(1, 0.9), Match(2, 0.8)], "bm25": [Match(2, 8.0), Match(3, 2.0)]}
    ranked = learned_fuse(arms, model, no_coverage)
    sigmoid = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    # Row 3's share 0.25 gives sigmoid(-0.5), ahead of row 1, which BM25 missed.
    assert [row for row, _ in ranked] == [2, 3, 1]
    assert [p for _, p in ranked] == pytest.approx([sigmoid(1.0), sigmoid(-0.5), sigmoid(-1.0)])
    assert confidences(fuse(arms), arms, model, no_coverage) == pytest.approx(
        [sigmoid(1.0), sigmoid(-1.0), sigmoid(-0.5)])
    # P = sigmoid(3 * english - 1) for every row: the question's language moves them all alike
    by_language = LogisticModel(("english",), (0.0,), (1.0,), (3.0,), -1.0)
    assert [p for _, p in learned_fuse(arms, by_language, no_coverage, english=True)] == pytest.approx([sigmoid(2.0)] * 3)
    assert [p for _, p in learned_fuse(arms, by_language, no_coverage)] == pytest.approx([sigmoid(-1.0)] * 3)


GLOSSES = {"food security": ("粮食安全",), "food": ("粮食",), "security": ("安全",), "coal": ("煤炭", "煤"),
           "work": ("工作", "事务", "作业", "办事", "办公", "运转", "干活"), "xingtai": ("邢台",)}


def test_chinese_terms_take_the_longest_gloss_first():
    vocabulary = {"粮食安全", "粮食", "安全", "煤炭", "邢台"}
    assert chinese_terms("Food security and coals in Xingtai's work", vocabulary, index=GLOSSES) == [
        "粮食安全", "煤炭", "邢台"]
    # A gloss with more terms in the vocabulary than MAX_SENSES (6) is too vague to use; six are kept.
    work = GLOSSES["work"]
    assert chinese_terms("work", set(work), index=GLOSSES) == []
    assert chinese_terms("work", set(work[:6]), index=GLOSSES) == list(work[:6])
    assert chinese_terms("food", {"安全"}, index=GLOSSES) == []


def test_headword_terms_split_unknown_headwords_and_drop_single_characters():
    vocabulary = {"国家", "安全", "国安", "城市", "城", "市", "管理", "行政", "执法"}
    # 国家安全 is no jieba word of the index: it stands for 国家 + 安全; 城 and 市 are dropped.
    assert headword_terms(("国安", "国家安全"), vocabulary, tokenize) == ["国安", "国家", "安全"]
    assert headword_terms(("城", "城市", "市"), vocabulary, tokenize) == ["城市"]
    # Longer than MAX_SPLIT_HEADWORD: an institution's name stays whole, so it gives nothing.
    assert headword_terms(("城市管理行政执法局",), vocabulary, tokenize) == []
    # Without a splitter only whole headwords count; a split with a term outside the vocabulary gives nothing.
    assert headword_terms(("国家安全",), vocabulary) == []
    assert headword_terms(("粮食安全",), {"安全"}, tokenize) == []
    # a split must keep two thirds of the headword in terms: 灰犀牛 keeps 犀牛, 中国糖都 (中国, 糖; 都 a
    # stop word) would stand for 中国 alone
    assert headword_terms(("灰犀牛",), {"灰", "犀牛"}, tokenize, max_split=None) == ["犀牛"]
    assert headword_terms(("中国糖都",), {"中国", "糖"}, tokenize, max_split=None) == []


def test_chinese_terms_split_with_the_bm25_tokeniser():
    glosses = {"national security": ("国安", "国家安全"), "city": ("城", "城市", "市"), "law": ("法",)}
    vocabulary = {"国家", "安全", "城市", "城", "市", "法"}
    assert chinese_terms("National security laws of the city", vocabulary, index=glosses, split=tokenize) == [
        "国家", "安全", "城市"]  # 法 alone is a single character: "laws" gives no term


def test_english_words_and_chinese_detection():
    assert english_words("Xingtai's 'zero-waste city'?") == ["xingtai", "zero-waste", "city"]
    assert has_chinese("Which speech 讲 this?")
    assert not has_chinese("Which speech mentions Xingtai?")


def test_cedict_terms_highlight_an_english_question():
    """The packaged CC-CEDICT: place names and compounds, and the marks they give a Chinese passage."""
    vocabulary = {"邢台", "煤矿", "安全", "晋中", "国家安全"}
    terms = chinese_terms("How does Xingtai keep coal mine safety? And Jinzhong's national security?", vocabulary)
    assert terms == ["邢台", "煤矿", "安全", "晋中", "国家安全"]
    assert str(highlight("邢台的煤矿安全，晋中", terms)) == "<mark>邢台</mark>的<mark>煤矿安全</mark>，<mark>晋中</mark>"
