"""Word documents as corpus files (index/word.py): list numbers Word shows, read back as text.

The documents are real .docx files written with python-docx, their lists defined in the numbering
part as Word writes them (abstractNum levels with numFmt, lvlText and start; num instances, one
with a startOverride), so the parser sees the 一、 / （一） / 1. it would see in a text file.
"""
from __future__ import annotations

import zipfile

import pytest

from index.parse import load_corpus, read_corpus_file
from index.word import FORMATS, chinese_number

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
LEVELS = (("chineseCounting", "%1、"), ("chineseCounting", "（%2）"), ("decimal", "%3."))


def numbered_document(path, paragraphs, *, levels=LEVELS, restart_at=None, bullet=False, start="1"):
    """Write ``paragraphs`` — (level or None, text, list) — with one three-level list definition and
    two lists on it (list 2 starting again at ``restart_at``); ``bullet`` makes level 0 a bullet, and
    every level starts at ``start``, spelt as the file spells it."""
    from docx import Document
    from docx.oxml import parse_xml

    document = Document()
    numbering = document.part.numbering_part.element
    lvls = "".join(
        f'<w:lvl w:ilvl="{i}"><w:start w:val="{start}"/><w:numFmt w:val="{"bullet" if bullet and i == 0 else fmt}"/>'
        f'<w:lvlText w:val="{"•" if bullet and i == 0 else text}"/></w:lvl>' for i, (fmt, text) in enumerate(levels))
    numbering.append(parse_xml(f'<w:abstractNum xmlns:w="{W}" w:abstractNumId="90">{lvls}</w:abstractNum>'))
    override = ("" if restart_at is None else
                f'<w:lvlOverride w:ilvl="0"><w:startOverride w:val="{restart_at}"/></w:lvlOverride>')
    for num_id, extra in (("91", ""), ("92", override)):
        numbering.append(parse_xml(f'<w:num xmlns:w="{W}" w:numId="{num_id}"><w:abstractNumId w:val="90"/>'
                                   f'{extra}</w:num>'))
    for level, text, list_id in paragraphs:
        paragraph = document.add_paragraph(text)
        if level is not None:
            paragraph._p.get_or_add_pPr().append(parse_xml(
                f'<w:numPr xmlns:w="{W}"><w:ilvl w:val="{level}"/><w:numId w:val="{list_id}"/></w:numPr>'))
    document.save(path)
    return path


@pytest.mark.parametrize("n, text", [(1, "一"), (9, "九"), (10, "十"), (11, "十一"), (20, "二十"), (35, "三十五"),
                                     (100, "一百"), (105, "一百零五"), (110, "一百一十"), (999, "九百九十九")])
def test_chinese_numbers_count_as_headings_do(n, text):
    assert chinese_number(n) == text


@pytest.mark.parametrize("form, n, text", [("decimal", 12, "12"), ("decimalZero", 7, "07"),
                                           ("decimalFullWidth", 12, "１２"), ("lowerLetter", 1, "a"),
                                           ("lowerLetter", 27, "aa"), ("upperLetter", 28, "BB"),
                                           ("lowerRoman", 4, "iv"), ("upperRoman", 1994, "MCMXCIV"),
                                           ("chineseCountingThousand", 12, "十二")])
def test_each_number_format_counts_as_word_shows_it(form, n, text):
    assert FORMATS[form](n) == text


@pytest.mark.parametrize("form, n, text", [("decimal", 200_000_000_000, "32767"), ("decimalZero", -4, "00"),
                                           ("decimalFullWidth", 10**12, "３２７６７"),
                                           ("lowerRoman", 200_000_000_000, "m" * 32 + "dcclxvii"),
                                           ("upperLetter", 200_000_000_000, "G" * 1261),
                                           ("chineseCounting", 2_000_000_000, "32767")])
def test_a_number_past_words_ceiling_is_spelt_as_the_ceiling(form, n, text):
    assert FORMATS[form](n) == text


THREE = [(0, "甲", "91"), (0, "乙", "91"), (0, "丙", "91")]


@pytest.mark.parametrize("form, pattern, start, text", [
    # as in the 36 KB file that took a build to 4.9 GB: three labels of 200 million m's
    ("lowerRoman", "%1.", "200000000000", "\n".join(["m" * 32 + "dcclxvii." + t for t in "甲乙丙"])),
    ("decimal", "%1.", "9" * 5000, "32767.甲\n32767.乙\n32767.丙"),  # past int()'s 4,300 digits
    ("decimal", "%1.", "32766", "32766.甲\n32767.乙\n32767.丙"),  # a count held where Word's start stops
    ("decimal", "%1.", "-3", "0.甲\n1.乙\n2.丙"),
    ("decimal", "%1.", " +007 ", "7.甲\n8.乙\n9.丙"),  # an xsd:integer may carry a sign and spaces
    ("lowerLetter", "%1.", "32767", "甲\n乙\n丙"),  # 1,261 letters: past MAX_LABEL_CHARS, so no label
    ("decimal", "第%1条" + "附" * 70, "1", "甲\n乙\n丙"),  # a level's text past it gives none either
])
def test_a_list_number_past_what_word_counts_stays_a_short_label(tmp_path, form, pattern, start, text):
    path = numbered_document(tmp_path / "a.docx", THREE, levels=((form, pattern),), start=start)
    assert read_corpus_file(path.read_bytes(), "a.docx") == text


def test_a_numbering_value_that_is_no_number_reads_as_words_default_and_every_file_is_read(tmp_path):
    numbered_document(tmp_path / "a.docx", [(0, "提高防汛应急能力", "91"), ("二", "压实防汛责任", "91"),
                                            (0, "落实包保责任", "92")], start="abc", restart_at="1e3")
    numbered_document(tmp_path / "b.docx", [(0, "守好粮仓", "91")])
    speeches, warnings = load_corpus(tmp_path)
    assert [speech.source for speech in speeches] == ["a.docx", "b.docx"] and warnings == []
    assert read_corpus_file((tmp_path / "a.docx").read_bytes(), "a.docx") == "一、提高防汛应急能力\n二、压实防汛责任\n一、落实包保责任"


def test_a_level_word_would_not_open_is_read_as_its_nearest_level(tmp_path):
    from docx import Document
    from docx.oxml import parse_xml

    document = Document()
    numbering = document.part.numbering_part.element
    numbering.append(parse_xml(  # Word's levels are 0-8: 12 reads as 8, -1 as 0 and 一 (no number) as 0
        f'<w:abstractNum xmlns:w="{W}" w:abstractNumId="90">'
        f'<w:lvl w:ilvl="一"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:lvlText w:val="%1、"/></w:lvl>'
        f'<w:lvl w:ilvl="12"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1.%9"/></w:lvl>'
        f'</w:abstractNum>'))
    numbering.append(parse_xml(f'<w:num xmlns:w="{W}" w:numId="91"><w:abstractNumId w:val="90"/></w:num>'))
    for level, text in (("0", "提高防汛应急能力"), ("12", "完善排水管网"), ("-1", "压实防汛责任")):
        document.add_paragraph(text)._p.get_or_add_pPr().append(parse_xml(
            f'<w:numPr xmlns:w="{W}"><w:ilvl w:val="{level}"/><w:numId w:val="91"/></w:numPr>'))
    document.save(tmp_path / "f.docx")
    assert read_corpus_file((tmp_path / "f.docx").read_bytes(), "f.docx") == "一、提高防汛应急能力\n一.1完善排水管网\n二、压实防汛责任"


def test_word_list_numbers_come_back_as_the_markers_a_reader_sees(tmp_path):
    path = numbered_document(tmp_path / "a.docx", [
        (None, "守好城市防汛底线", "91"),
        (0, "提高防汛应急能力", "91"),
        (1, "完善排水管网", "91"),
        (2, "汛前完成易涝点整治。", "91"),
        (2, "暴雨期间道路不积水。", "91"),
        (1, "加强预警发布", "91"),
        (2, "预警到村到户到人。", "91"),
        (0, "压实防汛责任", "91"),
        (1, "", "91"),  # an empty numbered paragraph still counts, as in Word, and is dropped
        (1, "落实包保责任", "91"),
    ])
    assert read_corpus_file(path.read_bytes(), "a.docx") == "\n".join([
        "守好城市防汛底线", "一、提高防汛应急能力", "（一）完善排水管网", "1.汛前完成易涝点整治。", "2.暴雨期间道路不积水。",
        "（二）加强预警发布", "1.预警到村到户到人。", "二、压实防汛责任", "（二）落实包保责任"])
    (speech,) = load_corpus(path)[0]
    assert [b.section for b in speech.blocks][-1] == ("二、压实防汛责任", "（二）落实包保责任")


def test_a_list_started_again_counts_from_its_override_and_a_bullet_gives_no_label(tmp_path):
    path = numbered_document(tmp_path / "b.docx", [(0, "甲", "91"), (0, "乙", "91"), (0, "丙", "92"), (0, "丁", "92")],
                             restart_at=5)
    assert read_corpus_file(path.read_bytes(), "b.docx") == "一、甲\n二、乙\n五、丙\n六、丁"
    path = numbered_document(tmp_path / "c.docx", [(0, "要点", "91"), (1, "细目", "91")], bullet=True)
    assert read_corpus_file(path.read_bytes(), "c.docx") == "要点\n（一）细目"


def test_a_style_that_numbers_its_paragraphs_numbers_them_and_numid_0_switches_it_off(tmp_path):
    from docx import Document
    from docx.oxml import parse_xml

    document = Document()
    document.add_paragraph("守好粮仓")
    for text in ("稳定播种面积。", "建设高标准农田。"):
        document.add_paragraph(text, style="List Number")  # the default template numbers this style 1. 2.
    unnumbered = document.add_paragraph("附：名单", style="List Number")
    unnumbered._p.get_or_add_pPr().append(parse_xml(
        f'<w:numPr xmlns:w="{W}"><w:ilvl w:val="0"/><w:numId w:val="0"/></w:numPr>'))
    document.save(tmp_path / "d.docx")
    assert read_corpus_file((tmp_path / "d.docx").read_bytes(), "d.docx") == "守好粮仓\n1.稳定播种面积。\n2.建设高标准农田。\n附：名单"


def test_tracked_changes_read_as_accepted_and_no_wrapped_text_is_lost(tmp_path):
    from docx import Document
    from docx.oxml import parse_xml

    def xml(body: str):
        return parse_xml(f'<w:root xmlns:w="{W}">{body}</w:root>').getchildren()

    document = Document()
    document.add_paragraph("守好城市防汛底线")
    paragraph = document.add_paragraph("一是完善排水管网，")
    paragraph._p.extend(xml(
        '<w:ins w:id="1" w:author="a"><w:r><w:t>汛前完成整治，</w:t></w:r></w:ins>'
        '<w:del w:id="2" w:author="a"><w:r><w:delText>已删去的话，</w:delText></w:r></w:del>'
        '<w:smartTag w:uri="u" w:element="e"><w:r><w:t>确保</w:t></w:r></w:smartTag>'
        '<w:sdt><w:sdtContent><w:r><w:t>道路不积水。</w:t></w:r></w:sdtContent></w:sdt>'
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGE</w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>（见附件）</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>'))
    moved = document.add_paragraph()
    moved._p.extend(xml('<w:moveFrom w:id="3" w:author="a"><w:r><w:t>挪走的话。</w:t></w:r></w:moveFrom>'
                        '<w:r><w:t>第一句</w:t><w:tab/><w:t>第二句</w:t><w:br/><w:t>第三句</w:t></w:r>'))
    # a content control holding whole paragraphs, as templates wrap their fill-in parts
    document.element.body.insert(len(document.element.body) - 1, xml(
        '<w:sdt><w:sdtContent><w:p><w:r><w:t>二是加强预警发布。</w:t></w:r></w:p></w:sdtContent></w:sdt>')[0])
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "外表"
    table.cell(0, 1).add_table(rows=1, cols=2)
    inner = table.cell(0, 1).tables[0]
    inner.cell(0, 0).text, inner.cell(0, 1).text = "内表甲", "内表乙"
    document.save(tmp_path / "e.docx")
    assert read_corpus_file((tmp_path / "e.docx").read_bytes(), "e.docx") == "\n".join([
        "守好城市防汛底线", "一是完善排水管网，汛前完成整治，确保道路不积水。（见附件）", "第一句\t第二句", "第三句",
        "二是加强预警发布。", "外表 | 内表甲 | 内表乙"])


def test_a_docx_that_unpacks_past_the_limit_is_skipped_and_named(tmp_path):
    from docx import Document

    from index.word import MAX_DOCX_UNPACKED

    path = tmp_path / "bomb.docx"
    document = Document()
    document.add_paragraph("守好城市防汛底线")
    document.save(path)
    # zeros pack a thousandfold: the file stays small, what it unpacks to does not
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as packed:
        packed.writestr("word/media/filler.bin", bytes(MAX_DOCX_UNPACKED))
    assert path.stat().st_size < 1024 * 1024
    speeches, warnings = load_corpus(tmp_path)
    assert speeches == [] and len(warnings) == 1
    assert warnings[0].startswith("bomb.docx: unpacks to ") and warnings[0].endswith(
        " MB, past the 128 MB a Word document of speeches stays far below — split it, or save it as UTF-8 text "
        "(skipped)")


@pytest.mark.parametrize("part, xml, reason", [
    ("word/document.xml", f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="{W}"/>',
     "no document body"),
    ("word/document.xml", "<html><body><p>守好城市防汛底线</p></body></html>", "no document body"),
    ("word/styles.xml", "<html><body/></html>", "no style definitions"),
], ids=["w:document without w:body", "no w:document", "no w:styles"])
def test_a_docx_with_a_part_that_is_no_word_xml_is_skipped_and_named(tmp_path, part, xml, reason):
    # well-formed XML, so python-docx opens the file; the build must still go on without it
    from docx import Document

    document = Document()
    document.add_paragraph("守好城市防汛底线")
    document.add_paragraph("一是完善排水管网。")
    document.save(tmp_path / "b_good.docx")
    with zipfile.ZipFile(tmp_path / "b_good.docx") as good, zipfile.ZipFile(tmp_path / "a_broken.docx", "w") as bad:
        for member in good.infolist():
            bad.writestr(member, xml if member.filename == part else good.read(member))
    speeches, warnings = load_corpus(tmp_path)
    assert [(speech.source, speech.title) for speech in speeches] == [("b_good.docx", "守好城市防汛底线")]
    assert warnings == [f"a_broken.docx: not a readable Word .docx file ({reason}) — open and save it again in Word, "
                        "or save it as UTF-8 text (skipped)"]
