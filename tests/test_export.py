"""Citations and exports as exact text: plain, Markdown, CSV (read back by csv) and DOCX (read back by python-docx)."""
from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest
from docx import Document
from docx.oxml.ns import qn

from index.parse import parse_text
from index.records import Passage, SpeechInfo
from service.export import (CSV_COLUMNS, EXPORT_FORMATS, Quote, Source, chinese_date, citation_markdown,
                            citation_text, docx_text, export, export_csv, export_docx, export_markdown, paragraphs,
                            quote_of, source_line)

from .conftest import one_file_searcher

COLLECTION = "关于在贯彻落实总体国家安全观座谈会上的发言材料汇编"
FULL = Quote("p-food", "保障粮食安全是头等大事。\n1.要落实党政同责，*严格*考核。",
             Source("粮食安全讲话", ("一、粮食安全", "（一）责任"), COLLECTION, "2023年4月15日", "南宁"))
BARE = Quote("p-bare", "=1+1 不是公式。", Source("无名讲话"))
UNTITLED = Quote("p-untitled", "正文。", Source("保障粮食安全", file="004.txt", title_inferred=True))
FULL_SOURCE = f"（摘自《粮食安全讲话》，《{COLLECTION}》，一、粮食安全 › （一）责任，2023年4月15日，南宁）"


@pytest.mark.parametrize(("source", "line"), [
    (FULL.source, FULL_SOURCE),
    (Source("无名讲话"), "（摘自《无名讲话》）"),
    (Source("讲话", ("一、总", "（一）分")), "（摘自《讲话》，一、总 › （一）分）"),
    (Source("讲话", (), None, None, "北京"), "（摘自《讲话》，北京）"),
    (Source("讲话", (), COLLECTION, "2024年1月", None), f"（摘自《讲话》，《{COLLECTION}》，2024年1月）"),
    (Source("讲话", ("一、总",), None, "2024年1月", "北京", "张三", "全市国家安全工作会议"),
     "（摘自《讲话》，一、总，张三，全市国家安全工作会议，2024年1月，北京）"),
    # a title the index made up is no title to cite: the speech is untitled, the made-up title marked so
    (Source("坚持以人民安全为宗旨", ("一、总",), file="汇编/08_下.txt", title_inferred=True),
     "（摘自无标题讲话〔拟题：坚持以人民安全为宗旨；汇编/08_下.txt〕，一、总）"),
])
def test_source_line_names_only_what_is_known(source, line):
    assert source_line(source) == line


def test_plain_citation_is_the_passage_then_its_source_line():
    assert citation_text(FULL) == "保障粮食安全是头等大事。\n1.要落实党政同责，*严格*考核。\n" + FULL_SOURCE


def test_markdown_citation_quotes_each_paragraph_and_escapes_syntax():
    assert citation_markdown(FULL) == ("> 保障粮食安全是头等大事。\n>\n> 1\\.要落实党政同责，\\*严格\\*考核。\n\n"
                                       + FULL_SOURCE)
    assert citation_markdown(BARE) == "> \\=1+1 不是公式。\n\n（摘自《无名讲话》）"
    # an entity reference shows as written, not as the character it names
    assert citation_markdown(Quote("p", "A&amp;B", Source("讲话"))) == "> A\\&amp;B\n\n（摘自《讲话》）"


def test_quote_of_a_passage_reads_the_speech_metadata_it_has():
    passage = Passage(id="p1", speech_id="s1", speech_title="讲话", source="seeds/a.txt", section=("一、总",),
                      first_block=0, last_block=0, start=10, end=15, text="正文五个字")
    speech = SpeechInfo(id="s1", title="讲话", source="seeds/a.txt", title_inferred=False,
                        sections=(("一、总",),), passages=1)
    assert quote_of(passage, speech) == Quote("p1", "正文五个字", Source("讲话", ("一、总",), file="seeds/a.txt"))
    dated = replace(speech, date="2023-04-15", place="南宁", collection=COLLECTION, speaker="张三", occasion="座谈会")
    assert quote_of(passage, dated) == Quote("p1", "正文五个字", Source("讲话", ("一、总",), COLLECTION,
                                                                   "2023-04-15", "南宁", "张三", "座谈会",
                                                                   file="seeds/a.txt"))
    assert source_line(quote_of(passage, dated).source) == f"（摘自《讲话》，《{COLLECTION}》，一、总，张三，座谈会，2023年4月15日，南宁）"
    untitled = replace(speech, title_inferred=True)
    assert quote_of(passage, untitled).source == Source("讲话", ("一、总",), file="seeds/a.txt", title_inferred=True)


@pytest.mark.parametrize(("iso", "written"), [("2023-04-15", "2023年4月15日"), ("2023-11", "2023年11月"),
                                              ("2023", "2023年"), ("spring", "spring")])
def test_chinese_date(iso, written):
    assert chinese_date(iso) == written


def test_markdown_export_has_a_heading_per_passage_in_order():
    assert export_markdown([FULL, BARE]) == (
        "# 讲话素材摘录\n\n"
        "## 1. 粮食安全讲话 · （一）责任\n\n"
        "> 保障粮食安全是头等大事。\n>\n> 1\\.要落实党政同责，\\*严格\\*考核。\n\n" + FULL_SOURCE + "\n\n"
        "## 2. 无名讲话\n\n"
        "> \\=1+1 不是公式。\n\n（摘自《无名讲话》）\n")
    assert "## 1. 保障粮食安全〔拟题〕\n" in export_markdown([UNTITLED])


def test_csv_export_opens_in_excel_and_reads_back_exactly():
    data = export_csv([FULL, BARE])
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8 only with it
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == [
        list(CSV_COLUMNS),
        ["1", "p-food", FULL.text, "粮食安全讲话", COLLECTION, "一、粮食安全 › （一）责任", "", "", "2023年4月15日",
         "南宁", citation_text(FULL), ""],
        ["2", "p-bare", "'=1+1 不是公式。", "无名讲话", "", "", "", "", "", "", "'=1+1 不是公式。\n（摘自《无名讲话》）", ""],
    ]
    assert data.decode("utf-8-sig").split("\r\n")[0] == "序号,段落编号,正文,讲话,汇编,部分,讲话人,场合,日期,地点,引用,文件"
    untitled, = list(csv.reader(io.StringIO(export_csv([UNTITLED]).decode("utf-8-sig"), newline="")))[1:]
    assert untitled[3] == "保障粮食安全〔拟题〕" and untitled[-1] == "004.txt"
    assert untitled[-2] == "正文。\n（摘自无标题讲话〔拟题：保障粮食安全；004.txt〕）"


def test_docx_export_reads_back_as_headings_paragraphs_and_source_lines():
    document = Document(io.BytesIO(export_docx([FULL, BARE])))
    assert [(p.style.name, p.text) for p in document.paragraphs] == [
        ("Title", "讲话素材摘录"),
        ("Heading 1", "1. 粮食安全讲话 · （一）责任"),
        ("Normal", "保障粮食安全是头等大事。"),
        ("Normal", "1.要落实党政同责，*严格*考核。"),
        ("Normal", FULL_SOURCE),
        ("Heading 1", "2. 无名讲话"),
        ("Normal", "=1+1 不是公式。"),
        ("Normal", "（摘自《无名讲话》）"),
    ]
    source_runs = [p.runs for p in document.paragraphs if p.text.startswith("（摘自")]
    assert [[run.italic for run in runs] for runs in source_runs] == [[True], [True]]
    assert document.core_properties.title == "讲话素材摘录"
    assert (document.core_properties.author, document.core_properties.last_modified_by) == ("speechqa", "speechqa")
    # A4, as Chinese offices print: 210 × 297 mm, stored in twentieths of a point (11906 × 16838)
    assert [(s.page_width.twips, s.page_height.twips) for s in document.sections] == [(11906, 16838)]


def test_docx_export_declares_its_text_chinese_so_word_proofs_it_as_chinese():
    document = Document(io.BytesIO(export_docx([FULL])))
    languages = document.styles.element.findall(".//" + qn("w:lang"))
    assert [(lang.get(qn("w:val")), lang.get(qn("w:eastAsia"))) for lang in languages] == [("zh-CN", "zh-CN")]
    assert document.core_properties.language == "zh-CN"


@pytest.mark.parametrize(("text", "shown"), [
    ("党政同责\x1e年度考核", "党政同责\u2011年度考核"),  # Word's non-breaking hyphen
    ("耕地\x1f保护", "耕地保护"),  # Word's optional hyphen
    ("防控体系\x0b守住国门", "防控体系\n守住国门"),  # Word's line break within a paragraph
    ("上一页\x0c下一页", "上一页\n下一页"),
    ("稳定\x01\x00\x7f粮食\ufffe面积", "稳定\x7f粮食面积"),  # DEL is XML; NUL, SOH and U+FFFE are not
    ("制表\t回车\r换行\n", "制表\t回车\r换行\n"),
    ("𠀀兆\u2028", "𠀀兆\u2028"),
])
def test_docx_text_keeps_only_what_xml_holds(text, shown):
    assert docx_text(text) == shown


def test_docx_export_of_text_with_control_characters_reads_back_as_word_shows_it():
    quote = Quote("p-ctrl", "要落实党政同责\x1e年度考核，严守耕地\x1f保护红线，稳定\x01粮食播种面积。\n完善防控体系\x0b守住国门。",
                  Source("控制\x1e字符\x01讲话", ("一、粮食\x1f安全",), None, None, "南\x0b宁"))
    document = Document(io.BytesIO(export_docx([quote])))
    assert [(p.style.name, p.text) for p in document.paragraphs] == [
        ("Title", "讲话素材摘录"),
        ("Heading 1", "1. 控制\u2011字符讲话 · 一、粮食安全"),
        ("Normal", "要落实党政同责\u2011年度考核，严守耕地保护红线，稳定粮食播种面积。"),
        ("Normal", "完善防控体系"),
        ("Normal", "守住国门。"),
        ("Normal", "（摘自《控制\u2011字符讲话》，一、粮食安全，南\n宁）"),
    ]


def test_export_dispatches_on_each_format_and_refuses_others():
    assert export([BARE], "markdown") == export_markdown([BARE]).encode("utf-8")
    assert export([BARE], "csv") == export_csv([BARE])
    assert export([BARE], "docx")[:2] == b"PK"  # a DOCX is a zip
    assert sorted(EXPORT_FORMATS) == ["csv", "docx", "markdown"]
    with pytest.raises(ValueError, match="format must be one of markdown, csv, docx \\(got \"pdf\"\\)"):
        export([BARE], "pdf")


# A passage of a speech converted from print: a paragraph hard-wrapped at the page's edge (its line break
# kept in the text, as the offsets need), then a paragraph of its own.
WRAPPED = Quote("p-flood", "各类水库汛期一律按照防汛要求运行，严格执行调度指令，水位在汛限水位以上\n一律不得蓄水，确保水库安全度汛。\n"
                           "要加强巡查值守，发现险情第一时间报告。", Source("守牢水库安全底线", ("二、突出重点环节",)))
WRAPPED_JOINED = "各类水库汛期一律按照防汛要求运行，严格执行调度指令，水位在汛限水位以上一律不得蓄水，确保水库安全度汛。"
WRAPPED_SOURCE = "（摘自《守牢水库安全底线》，二、突出重点环节）"


@pytest.mark.parametrize(("text", "read"), [
    # a wrapped line runs on; a sentence end, a short line, a heading before or a point after, a blank
    # line: paragraph breaks
    (WRAPPED.text, [WRAPPED_JOINED, "要加强巡查值守，发现险情第一时间报告。"]),
    ("同志们\n今天召开全市防汛抗旱工作会议，研究部署\n今年防汛抗旱工作。", ["同志们", "今天召开全市防汛抗旱工作会议，研究部署今年防汛抗旱工作。"]),
    ("一、坚持人民至上，压紧压实防汛责任体系\n要坚持以防为主、防抗救相结合，坚持常态减灾\n和非常态救灾相统一。",
     ["一、坚持人民至上，压紧压实防汛责任体系", "要坚持以防为主、防抗救相结合，坚持常态减灾和非常态救灾相统一。"]),
    ("要坚持以防为主、防抗救相结合，坚持常态减灾和\n非常态救灾相统一，全面提升应急处置能力\n一是完善预案。",
     ["要坚持以防为主、防抗救相结合，坚持常态减灾和非常态救灾相统一，全面提升应急处置能力", "一是完善预案。"]),
    ("一是完善预案，每年汛前组织修订防汛抗旱应急预案，\n开展实战演练，\n提高处置能力。",
     ["一是完善预案，每年汛前组织修订防汛抗旱应急预案，开展实战演练，", "提高处置能力。"]),
    ("要压实防汛责任，严格落实行政首长负责制和\n岗位责任制，确保各项防汛措施落到实处，\n\n要稳定粮食播种面积。",
     ["要压实防汛责任，严格落实行政首长负责制和岗位责任制，确保各项防汛措施落到实处，", "要稳定粮食播种面积。"]),
    # a line wrapped several times is one paragraph
    ("要坚持以防为主、防抗救相结合，坚持常态减灾和\n非常态救灾相统一，全面提升防汛抗旱和应急处置\n能力。",
     ["要坚持以防为主、防抗救相结合，坚持常态减灾和非常态救灾相统一，全面提升防汛抗旱和应急处置能力。"]),
    # English words were wrapped at a space
    ("We must keep every reservoir below its flood\nlimit during the flood season.",
     ["We must keep every reservoir below its flood limit during the flood season."]),
])
def test_paragraphs_run_a_wrapped_line_on_and_keep_every_other_break(text, read):
    assert paragraphs(text) == read


def test_paragraphs_read_a_passage_as_the_parser_joined_its_blocks():
    printed = ("扎实做好防汛抗旱工作\n一、坚持人民至上，压紧压实防汛责任\n要坚持以防为主、防抗救相结合，坚持常态减灾和非常态救灾相统一，\n"
               "全面提升防汛抗旱和应急处置能力，确保不发生重大人员伤亡。\n一是完善预案，每年汛前组织修订防汛抗旱应急预案，\n"
               "开展实战演练，\n提高处置能力。\n同志们\n今天召开全市防汛抗旱工作会议。")
    (speech,) = parse_text(printed, "flood.txt")
    blocks = [block.text for block in speech.blocks]
    assert [block.count("\n") for block in blocks] == [0, 1, 1, 0, 0, 0]
    assert paragraphs("\n".join(blocks)) == [block.replace("\n", "") for block in blocks]


def test_a_wrapped_line_is_no_paragraph_break_in_a_citation_or_an_export():
    assert citation_text(WRAPPED) == f"{WRAPPED_JOINED}\n要加强巡查值守，发现险情第一时间报告。\n{WRAPPED_SOURCE}"
    assert citation_markdown(WRAPPED) == f"> {WRAPPED_JOINED}\n>\n> 要加强巡查值守，发现险情第一时间报告。\n\n{WRAPPED_SOURCE}"
    assert export_markdown([WRAPPED]).endswith(f"\n\n{citation_markdown(WRAPPED)}\n")
    (row,) = list(csv.reader(io.StringIO(export_csv([WRAPPED]).decode("utf-8-sig"), newline="")))[1:]
    assert (row[2], row[10]) == (f"{WRAPPED_JOINED}\n要加强巡查值守，发现险情第一时间报告。", citation_text(WRAPPED))
    document = Document(io.BytesIO(export_docx([WRAPPED])))
    assert [p.text for p in document.paragraphs if p.style.name == "Normal"] == [
        WRAPPED_JOINED, "要加强巡查值守，发现险情第一时间报告。", WRAPPED_SOURCE]


# A speech reprinted from a periodical and converted from print: a page number cut its first paragraph,
# the page's edge its third.
PRINTED_SPEECH = """防汛抗旱工作讲话选编（第3期）
扎实做好防汛抗旱工作　全力保障人民群众生命财产安全
——在全市防汛抗旱工作会议上的讲话
市长　周志刚
（2024年5月20日）
一、坚持人民至上，压紧压实防汛责任
要坚持以防为主、防抗救相结合，坚持常态减灾和非常态救灾相统一，
— 3 —
全面提升防汛抗旱和应急处置能力，确保不发生重大人员伤亡。
二、突出重点环节，守牢水库安全底线
各类水库汛期一律按照防汛要求运行，严格执行调度指令，水位在汛限水位以上
一律不得蓄水，确保水库安全度汛。
要加强巡查值守，发现险情第一时间报告。
"""


@pytest.fixture(scope="module")
def printed_client(tmp_path_factory, encoder):
    """A Flask test client over a real index of PRINTED_SPEECH, and its passages in order."""
    from service import create_app

    searcher = one_file_searcher(tmp_path_factory, encoder, "printed.txt", PRINTED_SPEECH)
    return create_app({"TESTING": True}, searcher=searcher).test_client(), searcher.passages


def test_the_service_cites_and_exports_a_wrapped_passage_as_its_paragraphs(printed_client):
    client, passages = printed_client
    assert [passage.text for passage in passages] == [
        "一、坚持人民至上，压紧压实防汛责任\n要坚持以防为主、防抗救相结合，坚持常态减灾和非常态救灾相统一，\n"
        "全面提升防汛抗旱和应急处置能力，确保不发生重大人员伤亡。",
        "二、突出重点环节，守牢水库安全底线\n各类水库汛期一律按照防汛要求运行，严格执行调度指令，水位在汛限水位以上\n"
        "一律不得蓄水，确保水库安全度汛。\n要加强巡查值守，发现险情第一时间报告。"]
    source = ("（摘自《扎实做好防汛抗旱工作　全力保障人民群众生命财产安全》，《防汛抗旱工作讲话选编（第3期）》，"
              "二、突出重点环节，守牢水库安全底线，市长 周志刚，全市防汛抗旱工作会议，2024年5月20日）")
    read = ["二、突出重点环节，守牢水库安全底线", WRAPPED_JOINED, "要加强巡查值守，发现险情第一时间报告。"]
    citation = client.get(f"/api/passages/{passages[1].id}/citation").get_json()
    assert citation["citation"] == "\n".join([*read, source])
    assert citation["markdown"] == "\n>\n".join(f"> {paragraph}" for paragraph in read) + f"\n\n{source}"
    ids = [passage.id for passage in passages]
    markdown = client.post("/api/export", json={"ids": ids, "format": "markdown"}).get_data(as_text=True)
    assert ("\n>\n> 要坚持以防为主、防抗救相结合，坚持常态减灾和非常态救灾相统一，全面提升防汛抗旱和应急处置能力，确保不发生重大人员伤亡。\n\n"
            in markdown)
    assert markdown.endswith(f"\n\n{citation['markdown']}\n")
    rows = list(csv.reader(io.StringIO(client.post("/api/export", json={"ids": ids, "format": "csv"}).get_data(
        as_text=True).lstrip("\ufeff"), newline="")))
    assert rows[2][2] == "\n".join(read) and rows[2][10] == citation["citation"]
    assert rows[0][8] == "日期" and rows[2][8] == "2024-05-20"  # a date Excel sorts as one, not as text
    # an id named twice is exported once, where it was first named, as the page's cart keeps it
    twice = client.post("/api/export", json={"ids": [ids[1], ids[0], ids[1]], "format": "csv"}).get_data(as_text=True)
    assert [row[1] for row in csv.reader(io.StringIO(twice.lstrip("\ufeff"), newline=""))][1:] == [ids[1], ids[0]]
    document = Document(io.BytesIO(client.post("/api/export", json={"ids": ids[1:], "format": "docx"}).get_data()))
    assert [p.text for p in document.paragraphs if p.style.name == "Normal"] == [*read, source]
