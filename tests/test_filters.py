"""Filtering and folding over hand-made records: rows allowed, reprints folded, speeches grouped, dates ordered."""
from __future__ import annotations

import numpy as np
import pytest

from index.filters import Filters, Folded, Library, speaker_names
from index.query import parse_query
from index.records import Passage, SpeechInfo


def passage(pid, speech, text, duplicate_of=None, spliced_from=()):
    return Passage(id=pid, speech_id=speech, speech_title=f"讲话{speech}", source=f"{speech}.txt", section=(),
                   first_block=0, last_block=0, start=0, end=len(text), text=text, duplicate_of=duplicate_of,
                   spliced_from=spliced_from)


def speech(sid, date=None, place=None, speaker=None):
    return SpeechInfo(id=sid, title=f"讲话{sid}", source=f"{sid}.txt", title_inferred=False, sections=((),),
                      passages=1, date=date, place=place, speaker=speaker)


PASSAGES = [passage("p0", "A", "保交楼 稳民生"), passage("p1", "A", "粮食安全"),
            passage("p2", "B", "保交楼 稳民生", duplicate_of="p0"), passage("p3", "C", "保交楼，粮食"),
            passage("p4", "C", "平安建设")]
SPEECHES = [speech("A", "2021-09-01", "广西南宁", "张三"), speech("B", "2023-04-15", "柳州 Liuzhou", "李四"),
            speech("C", None, "南宁", None)]
LIBRARY = Library(PASSAGES, SPEECHES)


def rows(query, **filters):
    found = LIBRARY.rows(parse_query(query), Filters(**filters))
    return None if found is None else found.tolist()


def test_rows_each_filter_allows():
    assert rows("安全") is None
    assert rows('"保交楼"') == [0, 2, 3]
    assert rows('"保交楼" -粮食') == [0, 2]
    assert rows("-保交楼") == [1, 4]
    assert rows("title:讲话C 安全") == [3, 4]
    assert rows("-title:讲话C 安全") == [0, 1, 2]
    assert rows("title:讲话 -title:讲话A -title:讲话B") == [3, 4]
    assert rows("安全", place="南宁") == [0, 1, 3, 4]
    assert rows("安全", speaker="李") == [2]
    assert rows("安全", place="liuzhou") == rows("安全", place="LIUZHOU") == [2]  # a name, whatever its case
    assert rows("安全", date_from="2022-01-01") == [2]  # C has no date, so a date filter leaves it out
    assert rows("安全", date_to="2023-04-15") == [0, 1, 2]
    assert rows('"保交楼"', speech="C") == [3]
    assert rows('"不在这里"') == []


def test_held_wording_is_the_longest_stretch_a_passage_holds():
    assert LIBRARY.held_wording("粮食安全") == "粮食安全"
    assert LIBRARY.held_wording("保障粮食安全") == "粮食安全"
    assert LIBRARY.held_wording("平安 建设工作") == "平安建设"  # matched as phrases are: spaces ignored
    assert LIBRARY.held_wording("稳住民生") == "民生"
    assert LIBRARY.held_wording("粮食平安") == "粮食"  # of equal stretches, the first
    assert LIBRARY.held_wording("风马牛") is None
    assert LIBRARY.held_wording("粮") is None  # one character is no wording


def test_spread_rows_are_the_quotes_passages_in_the_speeches_that_hold_every_quote():
    assert LIBRARY.spread_rows(["保交楼", "粮食"]).tolist() == [0, 1, 3]  # A across two passages, C in one
    assert LIBRARY.spread_rows(["保交楼", "平安"]).tolist() == [3, 4]
    assert LIBRARY.spread_rows(["粮食安全"]).tolist() == [1]
    assert LIBRARY.spread_rows(["保交楼", "不存在"]).tolist() == []
    assert LIBRARY.spread_rows([]).tolist() == []


def test_fold_shows_the_canonical_copy_when_ranked_and_it_lacks_no_wording_else_the_best_ranked_one():
    # the canonical copy is shown where its word-for-word reprint ranked, and the reprint's score ranks it
    folded = LIBRARY.fold([2, 3, 0], None)
    assert folded == [Folded(0, (2,), placed_by=2), Folded(3)]
    assert [f.ranked_row for f in folded] == [2, 3]
    assert LIBRARY.fold([2, 3], None) == [Folded(2, (0,)), Folded(3)]
    # a filter that leaves the canonical copy out lists it nowhere
    assert LIBRARY.fold([2, 3], np.array([2, 3])) == [Folded(2), Folded(3)]
    # a reprint with a line of its own is shown itself when the query's wording is in that line
    edited = Library([PASSAGES[0], passage("p2", "B", "保交楼 稳民生 养老诈骗", duplicate_of="p0")], SPEECHES[:2])
    assert edited.fold([1, 0], None, wording=["养老", "诈骗"]) == [Folded(1, (0,))]
    assert edited.fold([1, 0], None, wording=["保交楼", "诈骗骗子"]) == [Folded(0, (1,), placed_by=1)]
    assert edited.fold([1, 0], None) == [Folded(0, (1,), placed_by=1)]


# p2 is spliced from p0's and p1's paragraphs, p3 reprints p2, p4 reprints p0
SPLICED = Library([passage("p0", "A", "保交楼 稳民生"), passage("p1", "B", "粮食安全 耕地"),
                   passage("p2", "C", "二、守牢底线 保交楼 稳民生 粮食安全 耕地", spliced_from=("p0", "p1")),
                   passage("p3", "D", "二、守牢底线 保交楼 稳民生 粮食安全 耕地", duplicate_of="p2"),
                   passage("p4", "E", "保交楼 稳民生", duplicate_of="p0")],
                  [speech(name) for name in "ABCDE"])


def test_a_spliced_passage_and_its_reprints_rank_through_the_first_source_the_filters_allow():
    assert SPLICED.groups(None).tolist() == [0, 1, 0, 0, 0]
    assert SPLICED.groups(np.array([1, 2, 3])).tolist() == [0, 1, 1, 1, 0]  # p0's group is left out
    assert SPLICED.groups(np.array([2, 3])).tolist() == [0, 1, 2, 2, 0]  # no source: its own
    assert SPLICED.one_copy_each(None).tolist() == [0, 1]
    assert SPLICED.one_copy_each(np.array([1, 2, 3])).tolist() == [1]
    assert SPLICED.one_copy_each(np.array([2, 3, 4])).tolist() == [4]  # p0's reprint stands for its group
    assert SPLICED.one_copy_each(np.array([2, 3])).tolist() == [2]


def test_fold_offers_the_spliced_passages_beside_each_source_they_copy_and_never_on_their_own():
    assert SPLICED.fold([0, 2, 1], None) == [Folded(0, (4,), also_in=(2, 3)), Folded(1, also_in=(2, 3))]
    assert SPLICED.fold([1, 2], np.array([1, 2, 3])) == [Folded(1, also_in=(2, 3))]
    assert SPLICED.fold([3, 2], np.array([2, 3])) == [Folded(2, (3,), placed_by=3)]
    # a verbatim check counts a spliced passage under its source
    assert len(SPLICED.fold([0, 2, 3, 4], np.array([0, 2, 3, 4]))) == 1


def test_one_per_speech_and_date_order():
    folded = [Folded(3), Folded(1), Folded(4), Folded(0, (2,))]
    assert LIBRARY.one_per_speech(folded) == [Folded(3, (), 1), Folded(1, (), 1)]
    assert LIBRARY.one_per_speech([Folded(0, (2,), placed_by=2)]) == [Folded(0, (2,), 0, placed_by=2)]
    # oldest speech first, each speech's passages in reading order, undated last
    assert LIBRARY.by_date(folded) == [Folded(0, (2,)), Folded(1), Folded(3), Folded(4)]
    assert LIBRARY.by_date([Folded(4), Folded(1), Folded(3)]) == [Folded(1), Folded(3), Folded(4)]


def test_unmatched_filters_name_the_filters_no_speech_passes_even_alone():
    def unmatched(query="安全", **filters):
        return LIBRARY.unmatched_filters(parse_query(query), Filters(**filters))

    assert unmatched(place="南宁", speaker="李") == []  # each alone passes some speech (together none)
    assert unmatched(date_from="2024-01-01") == [("date", None)]
    assert unmatched(place="北京", speaker="王五") == [("place", "北京"), ("speaker", "王五")]
    assert unmatched("title:讲话A title:邢台 安全") == [("title", "邢台")]


def test_filters_are_named_as_emptying_together_only_when_they_alone_pass_no_speech():
    # 李四 spoke in 柳州 only: place and speaker together pass no speech, each alone some
    both = Filters(place="南宁", speaker="李四")
    assert LIBRARY.unmatched_together(parse_query("安全"), both) == [("place", "南宁"), ("speaker", "李四")]
    # a speech scope or a -title: exclusion that empties the list is no fault of the named filters
    scoped = Filters(speech="B", place="南宁", speaker="张三")
    assert LIBRARY.unmatched_together(parse_query("安全"), scoped) == []
    assert LIBRARY.unmatched_together(parse_query("安全 -title:讲话A"), Filters(place="南宁", speaker="张三")) == []


@pytest.mark.parametrize("speaker, names", [
    ("市委书记 许长青", ["许长青"]),
    ("沅江市 · 市委副书记 李秋实", ["李秋实"]),
    ("副市长 Tom Li（李汤姆）", ["李汤姆"]),
    ("县长\u200b 冯志强", ["冯志强"]),  # an invisible mark is no part of the name
    ("王五", ["王五"]),
    ("市长周雨桐", []),  # one part of five characters: the title cannot be told from the name
    ("Tom Li", []),
    ("", []),
    (None, []),
])
def test_speaker_names_are_the_last_part_of_a_speaker_line_or_what_its_brackets_hold(speaker, names):
    assert speaker_names(speaker) == names


def test_speakers_named_are_the_speakers_names_a_text_holds_with_their_speeches():
    assert LIBRARY.speakers_named("李四讲的保交楼") == {"李四": ["B"]}
    assert LIBRARY.speakers_named("张三和李四") == {"张三": ["A"], "李四": ["B"]}
    assert LIBRARY.speakers_named("保交楼") == {}
