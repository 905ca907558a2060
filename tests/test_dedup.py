"""Reprint grouping: a speech copied with a line changed folds onto the original, and nothing else does."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from index.dedup import groups_from_pairs, jaccard, near_duplicate_groups, shingles

ORIGINAL = [
    "坚持把防范化解重大风险摆在突出位置，健全风险研判、决策评估、防控协同机制，"
    "做到早发现、早预警、早处置，坚决守住不发生系统性风险的底线。",
    "持续深化平安建设，完善立体化社会治安防控体系，严厉打击电信网络诈骗等突出违法犯罪，"
    "让人民群众的获得感、幸福感、安全感更加充实、更有保障、更可持续。",
    "加强国家安全宣传教育，把总体国家安全观纳入干部教育培训重要内容，组织开展全民国家安全教育日活动，"
    "推动国家安全意识深入人心。",
]
# The same speech reprinted: its second passage has one line rewritten, the others are copied.
REPRINT = [
    ORIGINAL[0],
    "持续深化平安建设，完善立体化社会治安防控体系，依法严惩黑恶势力和养老诈骗等违法犯罪，"
    "让人民群众的获得感、幸福感、安全感更加充实、更有保障、更可持续。",
    ORIGINAL[2].replace("，", "， "),  # whitespace does not count
]
OTHER = [
    "粮食安全是国家安全的重要基础，要全面落实粮食安全党政同责，严守耕地保护红线，稳定粮食播种面积。",
    "坚持把防范化解重大风险摆在突出位置。",  # shares a clause with ORIGINAL[0], but is no reprint of it
    "",
]
TEXTS = ORIGINAL + OTHER + REPRINT  # rows 0-2, 3-5, 6-8


def test_the_rewritten_passage_is_still_a_near_duplicate():
    assert 0.5 <= jaccard(shingles(ORIGINAL[1]), shingles(REPRINT[1])) < 0.9
    assert jaccard(shingles(ORIGINAL[0]), shingles(OTHER[1])) < 0.5
    assert jaccard(shingles(ORIGINAL[2]), shingles(REPRINT[2])) == 1.0


def test_a_reprint_folds_onto_the_original_in_build_order():
    assert near_duplicate_groups(TEXTS).tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2]


def test_the_earliest_dated_speech_is_canonical():
    dates = ["2023-04-15"] * 3 + [None] * 3 + ["2021-09-01"] * 3
    assert near_duplicate_groups(TEXTS, dates).tolist() == [6, 7, 8, 3, 4, 5, 6, 7, 8]
    # an undated copy never wins over a dated one, even when it was built first
    dates = [None] * 6 + ["2023-04-15"] * 3
    assert near_duplicate_groups(TEXTS, dates).tolist() == [6, 7, 8, 3, 4, 5, 6, 7, 8]


def test_groups_never_chain():
    assert groups_from_pairs(5, [(3, 1), (1, 4)]).tolist() == [0, 1, 2, 1, 1]
    # 3 is earliest, 1 joins it; 4 is a near-duplicate of 1 only, not of 3, so it stays apart
    assert groups_from_pairs(5, [(3, 1), (1, 4)], [None, None, None, "2020-01-01", None]).tolist() == [0, 3, 2, 3, 4]
    assert groups_from_pairs(3, [(0, 1), (1, 2)]).tolist() == [0, 0, 2]


def test_a_chain_of_passages_sharing_openings_does_not_fold_into_one():
    # each shares over half its 5-grams with the next (Jaccard .54, .59), a quarter with the one after
    parts = ["坚持把防范化解重大风险摆在突出位置", "健全风险研判决策评估防控协同机制", "做到早发现早预警早处置",
             "坚决守住不发生系统性风险的底线", "持续深化平安建设完善治安防控体系", "严厉打击电信网络诈骗"]
    chain = ["".join(parts[i:i + 4]) for i in range(3)]  # parts 0-3, 1-4, 2-5
    sets = [shingles(t) for t in chain]
    assert jaccard(sets[0], sets[1]) >= 0.5 and jaccard(sets[1], sets[2]) >= 0.5 > jaccard(sets[0], sets[2])
    assert near_duplicate_groups(chain).tolist() == [0, 0, 2]


def test_short_and_empty_texts():
    assert shingles("").tolist() == []
    assert len(shingles("保交楼")) == 1
    assert len(shingles("保交楼保交楼保交楼")) == 3  # 保交楼保交, 交楼保交楼, 楼保交楼保
    assert near_duplicate_groups(["", "", "保交楼", "保 交楼"]).tolist() == [0, 1, 2, 2]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="保交楼稳民生安全", min_size=0, max_size=40), max_size=10))
def test_every_grouped_pair_is_joined_by_exact_near_duplicates(texts):
    canonical = near_duplicate_groups(texts)
    sets = [shingles(t) for t in texts]
    # LSH may miss a pair the exact scan finds, never invent one: a row is grouped only under an
    # earlier canonical row it is itself a near-duplicate of
    for row, shown in enumerate(canonical.tolist()):
        assert shown == row or (shown < row and canonical[shown] == shown and jaccard(sets[shown], sets[row]) >= 0.5)
