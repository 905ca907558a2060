"""Spliced articles: a passage made of earlier passages' paragraphs under a new heading is marked, with its
sources, and nothing that says something of its own is."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from index.spliced import MIN_PARAGRAPH, paragraph_keys, spliced_sources

RISK = ("坚持把防范化解重大风险摆在突出位置，健全风险研判、决策评估、防控协同机制，"
        "做到早发现、早预警、早处置，坚决守住不发生系统性风险的底线。")
SAFETY = ("持续深化平安建设，完善立体化社会治安防控体系，严厉打击电信网络诈骗等突出违法犯罪，"
          "让人民群众的获得感、幸福感、安全感更加充实、更有保障、更可持续。")
GRAIN = "粮食安全是国家安全的重要基础，要全面落实粮食安全党政同责，严守耕地保护红线，稳定粮食播种面积。"
EDUCATION = "加强国家安全宣传教育，把总体国家安全观纳入干部教育培训重要内容，组织开展全民国家安全教育日活动。"
NEW = "我们要以钉钉子精神抓好各项任务落实，确保党中央决策部署在本地区落地生根、开花结果，不断取得新成效。"


def test_a_paragraph_is_a_line_long_enough_and_its_key_ignores_spacing_punctuation_and_script():
    assert [length for _, length in paragraph_keys(f"一、扎实推进国家安全\n{RISK}\n{GRAIN}")] == [59, 43]
    assert paragraph_keys("一、扎实推进国家安全") == []  # a heading says nothing to fold by
    assert paragraph_keys(RISK) == paragraph_keys(RISK.replace("，", ", ").replace("。", " . ")) \
        == paragraph_keys("\u200b" + RISK.replace("风险", "风\u200d险"))
    assert paragraph_keys("糧食安全是國家安全的重要基礎，要全面落實糧食安全黨政同責，嚴守耕地保護紅線，穩定糧食播種面積。") \
        == paragraph_keys(GRAIN)
    assert paragraph_keys("一" * (MIN_PARAGRAPH - 1)) == [] and len(paragraph_keys("一" * MIN_PARAGRAPH)) == 1


def test_a_passage_of_earlier_paragraphs_under_a_new_heading_is_spliced_from_them_most_first():
    texts = [f"{RISK}\n{SAFETY}", f"{GRAIN}\n{EDUCATION}",
             f"二、守牢安全稳定底线\n{GRAIN}\n{RISK}\n{SAFETY}",  # most of it is row 0's
             f"三、统筹发展和安全\n{EDUCATION}"]
    assert spliced_sources(texts, [0, 1, 2, 3]) == [(), (), (0, 1), (1,)]


def test_a_passage_with_a_paragraph_of_its_own_or_none_at_all_is_not_spliced():
    texts = [RISK, f"{RISK}\n{NEW}", "一、扎实推进国家安全", f"{NEW}\n{RISK}"]
    # the third holds no paragraph; the fourth is the second's paragraphs again: spliced, the longer's first
    assert spliced_sources(texts, [0, 1, 2, 3]) == [(), (), (), (0, 1)]


def test_first_is_the_earliest_date_then_build_order_and_dated_before_undated():
    texts = [f"三、统筹发展和安全\n{GRAIN}", f"{GRAIN}\n{SAFETY}"]
    assert spliced_sources(texts, [0, 1]) == [(), ()]  # in build order the article came first
    assert spliced_sources(texts, [0, 1], ["2024-05-01", "2023-01-01"]) == [(0 + 1,), ()]
    assert spliced_sources(texts, [0, 1], [None, "2023-01-01"]) == [(1,), ()]


def test_an_article_dated_before_the_speeches_it_mixes_stands_on_its_own():
    texts = [f"二、守牢底线\n{RISK}\n{GRAIN}", f"{RISK}\n{SAFETY}", f"{GRAIN}\n{EDUCATION}"]
    assert spliced_sources(texts, [0, 1, 2], ["2022-01-01", "2023-05-01", "2023-06-01"]) == [(), (), ()]
    assert spliced_sources(texts, [0, 1, 2], ["2024-01-01", "2023-05-01", "2023-06-01"]) == [(1, 2), (), ()]


def test_reprint_copies_are_never_marked_and_their_edited_lines_count_as_their_canonical_passages():
    edited = SAFETY.replace("严厉打击", "依法严惩")
    texts = [f"{RISK}\n{SAFETY}", f"{RISK}\n{edited}",  # row 1 reprints row 0 with a line edited
             f"一、守牢底线\n{edited}",  # spliced from the edited copy: its source is the copy's canonical
             f"一、守牢底线\n{edited}"]  # a reprint of the spliced passage (its canonical is row 2)
    assert spliced_sources(texts, [0, 0, 2, 2]) == [(), (), (0,), ()]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from([RISK, SAFETY, GRAIN, EDUCATION, NEW, "一、扎实推进"]),
                         min_size=1, max_size=4), min_size=1, max_size=8))
def test_sources_are_never_spliced_and_hold_every_paragraph_of_what_is_spliced_from_them(passages):
    texts = ["\n".join(lines) for lines in passages]
    sources = spliced_sources(texts, list(range(len(texts))))
    keys = [{key for key, _ in paragraph_keys(text)} for text in texts]
    for row, rows in enumerate(sources):
        if rows:
            assert all(not sources[source] and source != row for source in rows)
            assert keys[row] <= set().union(*(keys[source] for source in rows))
        elif keys[row]:  # a paragraph no earlier passage holds
            assert keys[row] - set().union(*keys[:row])
