"""Citations and exports as exact text: plain, Markdown, CSV (read back by csv) and DOCX (read back by python-docx)."""
from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest
from docx import Document

from index.records import Passage, SpeechInfo
from service.export import (CSV_COLUMNS, EXPORT_FORMATS, Quote, Source, chinese_date, citation_markdown,
                            citation_text, docx_text, export, export_csv, export_docx, export_markdown, quote_of,
                            source_line)

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
    # a title the index made up is no title to cite: the speech is named by its file
    (Source("坚持以人民安全为宗旨", ("一、总",), file="汇编/08_下.txt", title_inferred=True),
     "（摘自无标题讲话〔汇编/08_下.txt〕，一、总）"),
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
                                                                   "2023年4月15日", "南宁", "张三", "座谈会",
                                                                   file="seeds/a.txt"))
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
    assert untitled[-2] == "正文。\n（摘自无标题讲话〔004.txt〕）"


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
    with pytest.raises(ValueError, match="format must be one of markdown, csv, docx \\(got 'pdf'\\)"):
        export([BARE], "pdf")
