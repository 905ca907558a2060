"""Word .docx corpus files → their body text, as a reader sees it (python-docx).

Each paragraph is a line, and each table row a line of its cells joined by ``TABLE_CELL_SEPARATOR``
(a cell merged across columns once), in reading order. The text is the document with its tracked
changes accepted: insertions in, deletions and the old place of moved text out. Text in content
controls, smart tags, hyperlinks, fields' results and text boxes is text like any other; a
python-docx ``Paragraph.text`` leaves insertions, smart tags and content controls out, so the body
is walked here. Page headers, footers, footnotes and comments are not body text and stay out.

Word's automatic list numbering is formatting, not text, yet speechwriters number their headings
with it: the 一、 / （一） / 1. a reader sees before 提高防汛应急能力 lives in the numbering part.
``ListNumbers`` renders it as Word would (each list's counters by level, a level's restart when a
higher one moves on, the level's number format and text pattern), so that index/parse.py finds
the headings and sections it finds in a text file. Bullets and formats it does not know give no
label: the paragraph's own text is never touched. The numbering part is the file's word, not Word's:
a number that is no number reads as Word's default (start 1, level 0), a count is held to what Word
can count (``MAX_LIST_NUMBER``) and a label to ``MAX_LABEL_CHARS``, so no list makes a file unreadable
or spells itself out over megabytes.
"""
from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

from index.errors import CorpusError

WORD_SUFFIX = ".docx"
TABLE_CELL_SEPARATOR = " | "
# What a .docx's parts may unpack to. Its body XML runs 5-10 bytes a character of text, so this holds
# some twenty million characters, far past any compilation; a file of half a megabyte that unpacks to
# 289 MB (one character a hundred million times) held a build for minutes and 1.2 GB of memory.
MAX_DOCX_UNPACKED = 128 * 1024 * 1024
_SAVE_AGAIN = "open and save it again in Word, or save it as UTF-8 text"
_WORDPROCESSING = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_PLACEHOLDER = re.compile(r"%([1-9])")
# Word starts a level at 0 to 0x7FFF ([MS-DOC] LVLF.iStartAt), yet w:start may be any xsd:integer: a
# .docx starting a Roman list at 200000000000 spelt each of its three labels in 200 million m's (4.9 GB
# for a 36 KB file). Every number shown is held to Word's ceiling, so it is at most five digits, 40
# Roman letters or 1,261 repeated letters.
MAX_LIST_NUMBER = 0x7FFF
# A label (or a level's text) longer than this is left off. Word keeps a level's text to 31 characters
# ([MS-OI29500] 2.1.283) and a marker the parser reads (一、 （十二） 1.2.3.) is a few; the cap stops a
# crafted level (a long w:lvlText, letters a thousand deep) repeating itself before every paragraph
# that one style numbers.
MAX_LABEL_CHARS = 64
_LEVELS = 9  # Word's levels are 0-8 and it will not open a file with another ([MS-OI29500] 2.1.280)
# ST_DecimalNumber is an xsd:integer: digits with a sign and whitespace around, not Python's 1_000 or ٣
_INTEGER = re.compile(r"\s*([+-]?)0*([0-9]+)\s*")
_DIGITS = "零一二三四五六七八九"
# OOXML's numFmt values that mean counting in Chinese numerals (一, 二 … 十一 …)
_CHINESE_FORMATS = {"chineseCounting", "chineseCountingThousand", "chineseLegalSimplified", "ideographDigital",
                    "japaneseCounting", "taiwaneseCounting", "taiwaneseCountingThousand"}


def _w(name: str) -> str:
    """The element or attribute ``w:name`` as lxml spells it (python-docx's ``qn`` without importing docx)."""
    return _WORDPROCESSING + name


def _integer(text: str | None, default: int, low: int, high: int) -> int:
    """An ST_DecimalNumber attribute held to ``low``..``high``; ``default`` where it is missing or no number."""
    match = None if text is None else _INTEGER.fullmatch(text)
    if match is None:
        return default
    sign, digits = match.groups()
    if len(digits) > len(str(high)):  # past the bound, and int() refuses 4,300 digits and more
        return low if sign == "-" else high
    return min(max(int(sign + digits), low), high)


def _start(text: str | None) -> int:
    """A w:start or w:startOverride value: 1 where it is missing or no number, else held to 0..MAX_LIST_NUMBER."""
    return _integer(text, 1, 0, MAX_LIST_NUMBER)


def _level_number(text: str | None) -> int:
    """A w:ilvl value: level 0 where it is missing or no number, else held to Word's levels 0-8."""
    return _integer(text, 0, 0, _LEVELS - 1)


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 11 → 十一, 20 → 二十, 105 → 一百零五 (as a heading counts; 1-999)."""
    if not 0 < n < 1000:
        return str(n)
    hundreds, tens, ones = n // 100, n // 10 % 10, n % 10
    out = f"{_DIGITS[hundreds]}百" if hundreds else ""
    if tens:
        out += ("" if tens == 1 and not hundreds else _DIGITS[tens]) + "十"
    elif hundreds and ones:
        out += "零"
    return out + (_DIGITS[ones] if ones else "")


def _roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
                           (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        count, n = divmod(n, value)
        out += letters * count
    return out


def _letters(n: int) -> str:
    # Word's a … z, aa … zz, aaa …: the letter repeated, not a base-26 count
    return chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1)


def _held(spell):
    """``spell`` for a number held to 0..MAX_LIST_NUMBER, so that no count spells a longer label."""
    return lambda n: spell(min(max(n, 0), MAX_LIST_NUMBER))


FORMATS = {name: _held(spell) for name, spell in {
    "decimal": str,
    "decimalZero": lambda n: f"{n:02d}",
    "decimalFullWidth": lambda n: str(n).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    "lowerLetter": _letters,
    "upperLetter": lambda n: _letters(n).upper(),
    "lowerRoman": _roman,
    "upperRoman": lambda n: _roman(n).upper(),
    **{name: chinese_number for name in _CHINESE_FORMATS},
}.items()}


class ListNumbers:
    """The label Word shows before each automatically numbered paragraph, paragraph after paragraph."""

    def __init__(self, document):
        self._levels: dict[str, dict[int, tuple[str, str, int]]] = {}  # numId → level → (format, pattern, start)
        self._counts: dict[str, list[int]] = {}
        try:
            numbering = document.part.numbering_part.element
        except NotImplementedError:  # python-docx's answer for a document without lists (no numbering part)
            return
        abstract = {node.get(_w("abstractNumId")): node for node in numbering.findall(_w("abstractNum"))}
        for num in numbering.findall(_w("num")):
            reference = num.find(_w("abstractNumId"))
            definition = abstract.get(None if reference is None else reference.get(_w("val")))
            if definition is None:
                continue
            levels = {_level_number(lvl.get(_w("ilvl"))): self._level(lvl) for lvl in definition.findall(_w("lvl"))}
            for override in num.findall(_w("lvlOverride")):
                start = override.find(_w("startOverride"))
                level = _level_number(override.get(_w("ilvl")))
                if start is not None and level in levels:
                    levels[level] = levels[level][:2] + (_start(start.get(_w("val"))),)
            self._levels[num.get(_w("numId"))] = levels

    @staticmethod
    def _level(lvl) -> tuple[str, str, int]:
        def value(tag: str, default: str) -> str:
            node = lvl.find(_w(tag))
            return default if node is None else node.get(_w("val"), default)

        text = value("lvlText", "")
        return value("numFmt", "decimal"), text if len(text) <= MAX_LABEL_CHARS else "", _start(value("start", "1"))

    def label(self, paragraph, styles) -> str:
        """The label of ``paragraph`` (a ``w:p``; "" for none), counting it. ``styles`` finds a style by id."""
        found = self._numbering(paragraph, styles)
        if found is None:
            return ""
        num_id, level = found
        levels = self._levels.get(num_id)
        if not levels or level not in levels:
            return ""
        counts = self._counts.setdefault(num_id, [0] * _LEVELS)
        counts[level] += 1
        for deeper in range(level + 1, len(counts)):
            counts[deeper] = 0
        parts = []
        for match in _PLACEHOLDER.finditer(levels[level][1]):
            shown = int(match.group(1)) - 1
            form, _, start = levels.get(shown, ("decimal", "", 1))
            if form not in FORMATS:  # bullets, and formats this reader does not know
                return ""
            parts.append((match.span(), FORMATS[form](start - 1 + max(counts[shown], 1))))
        pattern = levels[level][1]
        for (begin, end), text in reversed(parts):
            pattern = pattern[:begin] + text + pattern[end:]
        return pattern if parts and len(pattern) <= MAX_LABEL_CHARS else ""

    def _numbering(self, paragraph, styles) -> tuple[str, int] | None:
        """(numId, level) from the paragraph's own properties, else from its style's (or the styles it is based on)."""
        holders = [paragraph.pPr]
        style = styles(paragraph.style)
        while style is not None:
            holders.append(style.element.pPr)
            style = style.base_style
        for properties in holders:
            numbered = None if properties is None else properties.find(_w("numPr"))
            if numbered is None:
                continue
            num_id, level = numbered.find(_w("numId")), numbered.find(_w("ilvl"))
            if num_id is None:
                continue
            value = num_id.get(_w("val"))
            if value == "0":  # numbering switched off for this paragraph, whatever its style says
                return None
            return value, _level_number(None if level is None else level.get(_w("val")))
        return None


# A run's text as Word shows it with changes accepted: not a deleted run's w:delText, not a field's
# w:instrText, not moved text where it came from; tabs and breaks as whitespace.
_RUN_TEXT = ("./descendant::w:r[not(ancestor::w:moveFrom)]"
             "/*[self::w:t or self::w:tab or self::w:br or self::w:cr or self::w:noBreakHyphen]")
_SHOWN = {"tab": "\t", "br": "\n", "cr": "\n", "noBreakHyphen": "-"}


def paragraph_text(paragraph) -> str:
    """The text of a ``w:p`` element as Word shows it with its tracked changes accepted."""
    pieces = []
    for node in paragraph.xpath(_RUN_TEXT):
        local = node.tag.rsplit("}", 1)[-1]
        pieces.append(node.text or "" if local == "t" else _SHOWN[local])
    return "".join(pieces)


def body_blocks(container) -> Iterator:
    """The ``w:p`` and ``w:tbl`` elements of a body or a table cell in reading order, content controls opened."""
    for child in container.iterchildren():
        if child.tag in (_w("p"), _w("tbl")):
            yield child
        elif child.tag == _w("sdt"):
            content = child.find(_w("sdtContent"))
            if content is not None:
                yield from body_blocks(content)


def _row_lines(table) -> Iterator[str]:
    """A ``w:tbl``'s rows, each its cells' text joined by ``TABLE_CELL_SEPARATOR``, empty cells left out."""
    for row in table.iterchildren(_w("tr")):
        cells = (_cell_text(cell) for cell in row.iterchildren(_w("tc")))  # a cell spanning columns is one w:tc
        yield TABLE_CELL_SEPARATOR.join(text for text in cells if text)


def _cell_text(cell) -> str:
    """A ``w:tc``'s paragraphs, and the rows of a table inside it, on one line."""
    parts = []
    for block in body_blocks(cell):
        parts += [paragraph_text(block)] if block.tag == _w("p") else list(_row_lines(block))
    return " ".join(" ".join(parts).split())


def read_docx(data: bytes, source: str) -> str:
    """A Word document's body text, a line per paragraph or table row; CorpusError if it is no .docx."""
    from docx import Document
    from docx.enum.style import WD_STYLE_TYPE
    try:
        unpacked = sum(member.file_size for member in zipfile.ZipFile(io.BytesIO(data)).infolist())
        if unpacked > MAX_DOCX_UNPACKED:
            raise CorpusError(f"{source}: unpacks to {unpacked / 2**20:,.0f} MB, past the {MAX_DOCX_UNPACKED // 2**20} MB "
                              "a Word document of speeches stays far below — split it, or save it as UTF-8 text")
        document = Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError):  # SyntaxError: lxml's XMLSyntaxError
        raise CorpusError(f"{source}: not a readable Word .docx file — {_SAVE_AGAIN}") from None
    # python-docx takes any well-formed XML for a part: a w:document without its w:body, or a part with
    # another root altogether, opens, and fails only where it is read, past the errors above
    body = document.element.find(_w("body"))
    if body is None:
        raise CorpusError(f"{source}: not a readable Word .docx file (no document body) — {_SAVE_AGAIN}")
    if document.styles.element.tag != _w("styles"):
        raise CorpusError(f"{source}: not a readable Word .docx file (no style definitions) — {_SAVE_AGAIN}")
    numbers = ListNumbers(document)

    def styles(style_id):
        return document.part.get_style(style_id, WD_STYLE_TYPE.PARAGRAPH)

    lines: list[str] = []
    for block in body_blocks(body):
        if block.tag == _w("tbl"):
            lines += _row_lines(block)
            continue
        text = paragraph_text(block)
        label = numbers.label(block, styles)
        # Word sets a tab after the label; the parser knows 一、提高… written as one run
        lines.append(label + text.lstrip() if label and text.strip() else text)
    return "\n".join(lines)
