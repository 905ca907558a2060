"""Verbatim phrase matching agrees with a plain substring scan, and finds spans in the original text."""
from __future__ import annotations

import re

from hypothesis import assume, given
from hypothesis import strategies as st

from index.phrase import PhraseIndex
from index.query import QUOTATION_MARKS, phrase_parts, squash

PASSAGES = [
    "坚决守住保交楼、稳民生底线。",
    "上海 交通\n大学的同学们，",
    "上海交通大学",
    "保交\n楼工作要抓实。保交楼！",
    "",
    "COVID-19 e-commerce",
]


def test_rows_containing_exact_cases():
    index = PhraseIndex.from_texts(PASSAGES)
    assert len(index) == 6
    assert index.rows_containing("保交楼").tolist() == [0, 3]
    assert index.rows_containing("上海交通大学").tolist() == [1, 2]
    assert index.rows_containing("上海 交通 大学").tolist() == [1, 2]
    assert index.rows_containing("大学的").tolist() == [1]
    assert index.rows_containing("。上海").tolist() == []  # no match across two passages
    assert index.rows_containing("学上").tolist() == []
    assert index.rows_containing("COVID-19").tolist() == [5]
    assert index.rows_containing("").tolist() == [0, 1, 2, 3, 4, 5]


def test_an_ellipsis_in_a_phrase_stands_for_any_wording_between_its_pieces():
    index = PhraseIndex.from_texts(PASSAGES + ["据说……保交楼", "稳民生……保交楼"])
    assert index.rows_containing("坚决……底线").tolist() == [0]
    assert index.rows_containing("保交……稳民生").tolist() == [0]
    assert index.rows_containing("稳民生……保交楼").tolist() == [7]  # in order, not overlapping
    assert index.rows_containing("交楼…交楼").tolist() == [3]
    assert index.rows_containing("上海...大学").tolist() == [1, 2]
    assert index.rows_containing("……保交楼").tolist() == [0, 3, 6, 7]
    assert index.rows_containing("保交楼。……上海").tolist() == []  # never across two passages
    assert index.rows_containing("据说……保交楼").tolist() == [6]  # a literal ellipsis is still matched


def test_a_quotation_mark_in_a_phrase_matches_any_quotation_mark():
    index = PhraseIndex.from_texts(["坚决做到“两个维护”，", "坚决做到「两个维护」", '坚决做到"两个维护"', "坚决做到两个维护",
                                    "China’s path", "“”", "坚决做到“两个维护"])
    assert index.rows_containing('坚决做到"两个维护"').tolist() == [0, 1, 2]
    assert index.rows_containing("坚决做到『两个维护』").tolist() == [0, 1, 2]
    assert index.rows_containing("“两个维护").tolist() == [0, 1, 2, 6]
    assert index.rows_containing("China's").tolist() == [4]
    assert index.rows_containing('""').tolist() == [5]  # quotation marks alone
    assert index.rows_containing("做到”两").tolist() == [0, 1, 2, 6]  # a mark matches whichever way it faces
    assert PhraseIndex.from_texts(["坚决做到两个维护"]).rows_containing('"两个维护"').tolist() == []


def test_a_punctuation_mark_in_a_phrase_matches_either_width_and_nothing_else():
    index = PhraseIndex.from_texts(["保交楼，稳民生", "保交楼,稳民生", "保交楼、稳民生", "保交楼；稳民生", "（一）保交楼",
                                    "ＧＤＰ增长"])
    assert index.rows_containing("保交楼,稳民生").tolist() == [0, 1]  # typed in English mode
    assert index.rows_containing("保交楼，稳民生").tolist() == [0, 1]
    assert index.rows_containing("保交楼;稳民生").tolist() == [3]
    assert index.rows_containing("(一)保交楼").tolist() == [4]
    # a different mark is other wording, and letters keep their width, as they keep their case
    assert index.rows_containing("保交楼。稳民生").tolist() == []
    assert index.rows_containing("GDP增长").tolist() == []


def test_a_saved_index_loads_and_answers_the_same(tmp_path):
    PhraseIndex.from_texts(PASSAGES + ["𠮷野家的保交楼"]).save(tmp_path / "phrase.npz")
    index = PhraseIndex.load(tmp_path / "phrase.npz")
    assert index.rows_containing("保交楼").tolist() == [0, 3, 6]
    assert index.rows_containing("𠮷野家").tolist() == [6]  # beyond 16 bits: the codes stay 32-bit
    assert index.rows_containing("上海交通大学").tolist() == [1, 2]


def test_an_empty_library_contains_nothing():
    assert PhraseIndex.from_texts([]).rows_containing("保交楼").tolist() == []


def test_an_empty_library_has_no_rows_even_for_a_blank_phrase():
    # hypothesis found it: the row offsets of no passages were [0], so "" matched a row that does not exist
    assert PhraseIndex.from_texts([]).rows_containing(" ").tolist() == []
    assert len(PhraseIndex.from_texts([])) == 0


@given(st.lists(st.text(alphabet="保交楼 \n稳民生。𠮷“”「'", max_size=30), max_size=12),
       st.text(alphabet="保交楼 稳。𠮷x\"」’", min_size=1, max_size=4))
def test_rows_agree_with_a_substring_scan(texts, phrase):
    assume("。。。" not in phrase)  # three full stops type an ellipsis, any wording: the next test's case

    def one_mark(text):
        return squash(text).translate({ord(mark): '"' for mark in QUOTATION_MARKS})

    expected = [row for row, text in enumerate(texts) if one_mark(phrase) in one_mark(text)]
    assert PhraseIndex.from_texts(texts).rows_containing(phrase).tolist() == expected


@given(st.lists(st.text(alphabet="保交楼 \n稳民生…𠮷", max_size=30), max_size=12),
       st.text(alphabet="保交楼 稳…𠮷", min_size=1, max_size=7))
def test_rows_with_an_ellipsis_agree_with_a_regular_expression(texts, phrase):
    parts = phrase_parts(phrase)
    pattern = re.compile(".*?".join(map(re.escape, parts)))
    expected = [row for row, text in enumerate(texts) if pattern.search(squash(text))]
    assert PhraseIndex.from_texts(texts).rows_containing(phrase).tolist() == expected


def test_a_zero_width_mark_pasted_into_a_phrase_or_left_in_a_text_is_ignored():
    from service.highlight import match_spans

    index = PhraseIndex.from_texts(["坚决做到“两个维护”", "坚决做到“两个\u200d维护”", "两个维持"])
    assert index.rows_containing("两个\u200b维护").tolist() == [0, 1]
    assert index.rows_containing("两个\ufeff维护").tolist() == [0, 1]
    assert match_spans("坚决做到“两个\u200d维护”", ["两个\u2060维护"]) == [(5, 10)]
