"""Citations and exports of chosen passages: plain text, Markdown, CSV and DOCX. Pure functions.

A citation is the passage's wording exactly as in the source, in its paragraphs (``paragraphs``: a
line break the parser read as a wrap, text converted from print hard-wrapped or cut by a page
break, is no paragraph break in a citation or any export), then one Chinese source line naming the
speech (《title》), the compilation it came from, the section path, and the speaker, occasion, date
and place when the index knows them; fields it does not know are left out, never guessed. A title
the index made up for an untitled speech (``title_inferred``) is no title to cite: the line names
the speech as untitled, with that title marked 拟题 (what the export's headings show) and its file,
and headings and the CSV mark that title 拟题 too.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Sequence

from index.errors import BadQuery, as_written
from index.parse import wraps
from index.records import Passage, SpeechInfo

# One export holds what a speechwriter collects for one draft; at ~800 characters a passage,
# 50 of them stay under 100 KB in any format.
MAX_EXPORT_PASSAGES = 50
EXPORT_TITLE = "讲话素材摘录"
# The language a Word export declares for its text (w:lang), so Word proofs it as Chinese.
DOCUMENT_LANGUAGE = "zh-CN"
SECTION_SEPARATOR = " › "
# format name → (media type, file extension)
EXPORT_FORMATS = {
    "markdown": ("text/markdown; charset=utf-8", "md"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
}
EXPORT_FIELDS = ("ids", "format")
MAX_PASSAGE_ID_CHARS = 100
CSV_COLUMNS = ("序号", "段落编号", "正文", "讲话", "汇编", "部分", "讲话人", "场合", "日期", "地点", "引用", "文件")
INFERRED_MARK = "〔拟题〕"


def shown_title(title: str, inferred: bool) -> str:
    """A speech's title as headings, listings and tables show it: a made-up one (``title_inferred``) marked."""
    return title + INFERRED_MARK if inferred else title
# Characters that Markdown would read as syntax anywhere in a line (& opens an entity: &amp; shows as &).
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|&])")
# Line openings that Markdown would read as a heading, a list item or a rule (* and > are escaped inline).
_MARKDOWN_BLOCK = re.compile(r"^(\s*)([#+=-])")
_MARKDOWN_ORDERED = re.compile(r"^(\s*\d+)([.)])")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Word's plain text writes its non-breaking hyphen as \x1e, its optional hyphen as \x1f and a line
# break within a paragraph as \x0b (a page break as \x0c); a source file keeps them as it got them.
_WORD_CONTROLS = str.maketrans({"\x1e": "\u2011", "\x1f": None, "\x0b": "\n", "\x0c": "\n"})
# What XML 1.0 cannot hold (its Char production's complement): python-docx refuses a string with any.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Source:
    """Where a passage comes from, as far as the index knows it; ``date`` as the index keeps it
    (2023-04-15: the CSV's column, which Excel sorts as a date), the source line writing it in Chinese."""

    title: str
    section: tuple[str, ...] = ()
    collection: str | None = None
    date: str | None = None
    place: str | None = None
    speaker: str | None = None
    occasion: str | None = None
    file: str = ""
    title_inferred: bool = False

    @property
    def shown_title(self) -> str:
        """The title as headings and tables show it: a made-up one marked as such."""
        return shown_title(self.title, self.title_inferred)


@dataclass(frozen=True)
class Quote:
    """A passage to cite: its id, its text exactly as in the source, and its source."""

    passage_id: str
    text: str
    source: Source


def chinese_date(iso: str) -> str:
    """An ISO date as Chinese writes it: 2023-04-15 → 2023年4月15日 (a year or year-month stays partial)."""
    parts = iso.split("-")
    if not all(part.isdigit() for part in parts) or not 1 <= len(parts) <= 3:
        return iso
    return "".join(f"{int(part)}{unit}" for part, unit in zip(parts, "年月日"))


def quote_of(passage: Passage, speech: SpeechInfo) -> Quote:
    """The quote for ``passage`` of ``speech``; metadata the index does not know stays out of it."""
    return Quote(passage.id, passage.text, Source(
        title=speech.title, section=tuple(passage.section), collection=speech.collection or None,
        date=speech.date or None, place=speech.place or None,
        speaker=speech.speaker or None, occasion=speech.occasion or None, file=speech.source,
        title_inferred=speech.title_inferred))


def source_line(source: Source) -> str:
    """The Chinese source line: ``（摘自《title》，《collection》，section › path，speaker，occasion，date，place）``."""
    parts = [f"无标题讲话〔拟题：{source.title}；{source.file}〕" if source.title_inferred else f"《{source.title}》"]
    if source.collection:
        parts.append(f"《{source.collection}》")
    if source.section:
        parts.append(SECTION_SEPARATOR.join(source.section))
    date = chinese_date(source.date) if source.date else None
    parts += [field for field in (source.speaker, source.occasion, date, source.place) if field]
    return "（摘自" + "，".join(parts) + "）"


def paragraphs(text: str) -> list[str]:
    """A passage's text as the paragraphs it reads as: a wrapped line (``index.parse.wraps``) runs on
    into the next, as the parser joined them; every other line break, and a blank line, ends one."""
    found: list[str] = []
    last_line = ""
    for line in text.split("\n"):
        if line.strip() and found and wraps(last_line, line):
            # words of a Latin script were wrapped at a space; Chinese runs on without one
            found[-1] += (" " if last_line[-1].isascii() and line[0].isascii() else "") + line
        elif line.strip():
            found.append(line)
        last_line = line
    return found


def citation_text(quote: Quote) -> str:
    """Plain text to paste: the passage's paragraphs, a line each, then its source line."""
    return "\n".join([*paragraphs(quote.text), source_line(quote.source)])


def _markdown_inline(text: str) -> str:
    """``text`` with the characters Markdown reads as inline syntax escaped."""
    return _MARKDOWN_INLINE.sub(r"\\\1", text)


def _markdown_line(line: str) -> str:
    """A line of text that renders as written when it opens a Markdown line."""
    line = _markdown_inline(line)
    line = _MARKDOWN_BLOCK.sub(r"\1\\\2", line)
    return _MARKDOWN_ORDERED.sub(r"\1\\\2", line)


def citation_markdown(quote: Quote) -> str:
    """Markdown to paste: the passage as a block quote of its paragraphs, then its source line."""
    quoted = "\n>\n".join("> " + _markdown_line(paragraph) for paragraph in paragraphs(quote.text))
    return f"{quoted}\n\n{_markdown_inline(source_line(quote.source))}"


def heading_of(number: int, quote: Quote) -> str:
    """A passage's heading in an export: its number, its speech and its innermost section."""
    heading = f"{number}. {quote.source.shown_title}"
    if quote.source.section:
        heading += f" · {quote.source.section[-1]}"
    return heading


def export_markdown(quotes: Sequence[Quote]) -> str:
    """A Markdown document: a title, then per passage a heading, the passage and its source line."""
    parts = [f"# {EXPORT_TITLE}\n"]
    for number, quote in enumerate(quotes, start=1):
        parts.append(f"## {_markdown_inline(heading_of(number, quote))}\n\n{citation_markdown(quote)}\n")
    return "\n".join(parts)


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading formula character gets an apostrophe."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_csv(quotes: Sequence[Quote]) -> bytes:
    """CSV, one row per passage in order, UTF-8 with a byte-order mark so Excel reads the Chinese right."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for number, quote in enumerate(quotes, start=1):
        source = quote.source
        writer.writerow([str(number)] + [_cell(value) for value in (
            quote.passage_id, "\n".join(paragraphs(quote.text)), source.shown_title, source.collection or "",
            SECTION_SEPARATOR.join(source.section), source.speaker or "", source.occasion or "",
            source.date or "",
            source.place or "", citation_text(quote), source.file)])
    return out.getvalue().encode("utf-8-sig")


def docx_text(text: str) -> str:
    """``text`` as a Word document can hold it: Word's own control characters as Word shows them (a
    non-breaking hyphen, nothing for an optional one, a new line for a line or page break), any other
    character XML cannot hold left out."""
    return _NOT_XML_CHAR.sub("", text.translate(_WORD_CONTROLS))


def export_docx(quotes: Sequence[Quote]) -> bytes:
    """A Word document: a title, then per passage a level-1 heading, its paragraphs and its source line."""
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Mm

    document = Document()
    # the default template is US Letter; Chinese offices print on A4
    for section in document.sections:
        section.page_width, section.page_height = Mm(210), Mm(297)
    # Word picks a Chinese face from the East Asian font slot; the default template leaves it empty.
    for style_name in ("Normal", "Title", "Heading 1"):
        fonts = document.styles[style_name].element.get_or_add_rPr().get_or_add_rFonts()
        fonts.set(qn("w:eastAsia"), "SimSun")
    # The default template declares English for every script, so Word proofed the Chinese as English.
    # The text is Chinese throughout; its few Latin words (GDP, 5G) are names, not English to proof.
    language = document.styles.element.find(f'{qn("w:docDefaults")}/{qn("w:rPrDefault")}/{qn("w:rPr")}/{qn("w:lang")}')
    language.set(qn("w:val"), DOCUMENT_LANGUAGE)
    language.set(qn("w:eastAsia"), DOCUMENT_LANGUAGE)
    document.core_properties.language = DOCUMENT_LANGUAGE
    document.core_properties.title = EXPORT_TITLE
    # the template's own author, python-docx, would otherwise be named as the document's
    document.core_properties.author = document.core_properties.last_modified_by = "speechqa"
    document.add_heading(EXPORT_TITLE, level=0)
    for number, quote in enumerate(quotes, start=1):
        document.add_heading(docx_text(heading_of(number, quote)), level=1)
        for paragraph in paragraphs(quote.text):
            # after docx_text: splitlines() would also split at \x1e, a hyphen within a word
            for line in docx_text(paragraph).splitlines():
                if line.strip():
                    document.add_paragraph(line)
        document.add_paragraph().add_run(docx_text(source_line(quote.source))).italic = True
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def export(quotes: Sequence[Quote], format_name: str) -> bytes:
    """The export of ``quotes`` in ``format_name`` (a key of EXPORT_FORMATS) as bytes."""
    if format_name == "markdown":
        return export_markdown(quotes).encode("utf-8")
    if format_name == "csv":
        return export_csv(quotes)
    if format_name == "docx":
        return export_docx(quotes)
    raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)} (got {as_written(format_name)})")


def check_export_body(body: dict) -> tuple[list[str], str]:
    """(passage ids in the order chosen, each once as the page's cart keeps it, format name as
    ``EXPORT_FORMATS`` spells it) from an export request body, or BadQuery saying what is wrong."""
    unknown = sorted(set(body) - set(EXPORT_FIELDS))
    if unknown:
        raise BadQuery(f"unknown field {as_written(unknown[0])} — allowed: {', '.join(EXPORT_FIELDS)}",
                       field=unknown[0])
    given = body.get("format")
    # DOCX or Markdown as a reader writes the name is the format it names; {} or [] cannot be looked up
    format_name = given.lower() if isinstance(given, str) else None
    if format_name not in EXPORT_FORMATS:
        raise BadQuery(f"format must be one of {', '.join(EXPORT_FORMATS)} (got {as_written(given, 40)})",
                       field="format")
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids:
        raise BadQuery("ids must be a non-empty list of passage ids, in the order to export", field="ids")
    if len(ids) > MAX_EXPORT_PASSAGES:
        raise BadQuery(f"ids may list at most {MAX_EXPORT_PASSAGES} passages (got {len(ids)})", field="ids")
    if not all(isinstance(i, str) and 0 < len(i) <= MAX_PASSAGE_ID_CHARS for i in ids):
        raise BadQuery(f"each id must be a passage id (a string of 1 to {MAX_PASSAGE_ID_CHARS} characters)",
                       field="ids")
    return list(dict.fromkeys(ids)), format_name
