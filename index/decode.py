"""A corpus file's bytes → its canonical text, the text before any parsing.

``decode`` turns a text file's bytes into its canonical text: UTF-8 (a BOM is dropped), UTF-16 with or
without a BOM, GB18030, or Big5 (where GB18030 would read it as rare characters). Bytes that none of the
three reads whole are read in the one that leaves the fewest bad bytes (GB18030 before Big5, as
above) when that is at most one byte in 1,000 — a copy cut mid-character, a stray byte, a line
saved in another encoding — with a U+FFFD for each sequence it cannot read (a stray byte each), and
``index.parse.load_corpus`` names the encoding, the count and the first lines holding them in a warning;
a file further off is refused, naming the closest reading's first bad line. CRLF/CR become LF, each line
loses its surrounding whitespace (U+3000 indentation included) and blank lines are dropped, a line that
holds only zero-width marks (U+200B–U+200D, U+2060, U+FEFF) among them.
A Word document's body (index/word.py: each paragraph, and each table row, a line, in
reading order, list numbers as Word shows them) is brought to the same form (``canonical_file``).
"""
from __future__ import annotations

import re

from index.errors import CorpusError
from index.query import visible
from index.word import WORD_SUFFIX, read_docx

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_TEXT_ONLY = "only UTF-8, UTF-16, GB18030 or Big5 text is indexed"
# What a speech is written in: ASCII, Latin-1, general punctuation, ①…, CJK punctuation, hanzi,
# fullwidth forms.
_TEXT_CHARS = re.compile(r"[\t\n\r\x20-\x7e\u00a0-\u00ff\u2000-\u206f\u2460-\u24ff"
                         r"\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_UTF16_TEXT_SHARE = 0.95
_GB2312_SHARE = 0.5
_ENCODING_SAMPLE = 5000  # characters: enough to tell an encoding, cheap on a 10 MB file
# A file none of the encodings reads whole is still read when one of them reads all but one byte in this
# many: a copy cut mid-character, a stray byte or a line saved in another encoding (a heading saved as GBK
# in the UTF-8 compilation seed: 35 bad bytes of 96,501) loses a few characters, not the file.
_BAD_BYTES_PER = 1000
_BAD_LINES_NAMED = 5
# surrogateescape reads each byte the codec cannot as one of these, which no text holds
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def decode(data: bytes, source: str) -> str:
    """Decode a corpus file to its canonical text (see the module docstring); CorpusError if not text."""
    return _decoded(data, source)[0]


def _decoded(data: bytes, source: str) -> tuple[str, list[str]]:
    """``decode``'s text and a warning naming the bytes it replaced, if it replaced any."""
    warnings: list[str] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise CorpusError(f"{source}: not valid UTF-16 text ({error.reason}) — re-save it as UTF-8") from None
    elif b"\x00" in data:
        text = _utf16_without_bom(data)
        if text is None:
            raise CorpusError(f"{source}: binary file (contains NUL bytes) — {_TEXT_ONLY}")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = _gb18030_or_big5(data)
            if text is None:
                text, warning = _nearly_text(data, source)
                warnings.append(warning)
    text = text.lstrip("\ufeff")
    if len(_CONTROL.findall(text)) > max(2, len(text) // 100):
        raise CorpusError(f"{source}: looks binary (control characters) — {_TEXT_ONLY}")
    return _canonical(text), warnings


def _utf16_without_bom(data: bytes) -> str | None:
    """The text of UTF-16 bytes saved without a byte-order mark, in the byte order that reads as text.

    UTF-8 and GB18030 text never holds a NUL byte and UTF-16 text nearly always does (every ASCII
    character carries one). The other byte order reads a Chinese text as ~30–40% text characters
    (English ~80%), random bytes as ~30%: the text's own order reads ~100%.
    """
    readings = []
    for codec in ("utf-16-le", "utf-16-be"):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        sample = text[:_ENCODING_SAMPLE]
        readings.append((len(_TEXT_CHARS.findall(sample)) / len(sample), text))
    share, text = max(readings, default=(0.0, None))
    return text if share >= _UTF16_TEXT_SHARE else None


def _gb18030_or_big5(data: bytes) -> str | None:
    """GB18030 text, or Big5 (Windows' cp950) where GB18030 reads the bytes as rare characters.

    GB18030 decodes nearly any byte string, a Big5 file included. A simplified-Chinese text's
    characters are GB2312's common ones (all of the seeds'); a Big5 file read as GB18030 holds ~28%
    of them (kana, Cyrillic, rare hanzi), and a GB18030 file that Big5 also reads stays GB18030.
    """
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is None or _gb2312_share(text) < _GB2312_SHARE:
        try:
            return data.decode("cp950")
        except UnicodeDecodeError:
            pass
    return text


def _nearly_text(data: bytes, source: str) -> tuple[str, str]:
    """Bytes that UTF-8, GB18030 and Big5 all fail to read whole, read in the one that leaves the fewest
    bad bytes, and the warning saying where; CorpusError, naming that reading's first bad line, when
    more than one byte in ``_BAD_BYTES_PER`` is bad (the file is no text in any of them).

    GB18030 reading the bytes as rare characters ranks after Big5, as in ``_gb18030_or_big5``. The
    text is the codec's ``errors="replace"`` reading: a U+FFFD for each byte sequence it cannot read (for
    UTF-8 each stray byte; a character cut in two is one).
    """
    readings = []
    for rank, codec, name in ((0, "utf-8", "UTF-8"), (1, "gb18030", "GB18030"), (2, "cp950", "Big5")):
        try:
            escaped = data.decode(codec, "surrogateescape")
        except UnicodeDecodeError:  # a bad sequence holding an ASCII byte, which cannot be escaped
            continue
        if codec == "gb18030" and _gb2312_share(escaped) < _GB2312_SHARE:
            rank = 3
        readings.append((len(_ESCAPED_BYTE.findall(escaped)), rank, codec, name, escaped))
    if not readings:
        raise CorpusError(f"{source}: neither UTF-8, GB18030 nor Big5 text — re-save it as UTF-8")
    bad, _, codec, name, escaped = min(readings, key=lambda reading: reading[:2])
    lines = _lines_with_bad_bytes(escaped)
    if bad > max(1, len(data) // _BAD_BYTES_PER):
        raise CorpusError(f"{source}: neither UTF-8, GB18030 nor Big5 text (closest: {name}, {bad:,} bad bytes, "
                          f"the first on line {lines[0]}) — re-save it as UTF-8")
    where = ", ".join(map(str, lines[:_BAD_LINES_NAMED])) + (" …" if len(lines) > _BAD_LINES_NAMED else "")
    count = "1 bad byte" if bad == 1 else f"{bad:,} bad bytes"
    return data.decode(codec, "replace"), (
        f"{source}: read as {name} with {count} replaced by U+FFFD (line{'s' if len(lines) > 1 else ''} {where}) "
        "— compare those lines with the original and re-save it as UTF-8")


def _lines_with_bad_bytes(escaped: str) -> list[int]:
    """The numbers of the first lines (one more than a warning names) holding an escaped bad byte,
    counted as an editor counts them: CRLF, CR or LF ends a line."""
    numbers: list[int] = []
    line, counted = 1, 0
    for bad in _ESCAPED_BYTE.finditer(escaped):
        line += len(_LINE_BREAK.findall(escaped, counted, bad.start()))
        counted = bad.start()
        if numbers and numbers[-1] == line:
            continue
        if len(numbers) > _BAD_LINES_NAMED:
            break
        numbers.append(line)
    return numbers


def _gb2312_share(text: str) -> float:
    """Of the first non-ASCII characters of ``text``, the share in GB2312's punctuation or hanzi rows."""
    wide = [char for char in text[:_ENCODING_SAMPLE] if ord(char) > 0x7F]
    common = sum(0xA1 <= lead <= 0xA3 or 0xB0 <= lead <= 0xF7
                 for lead in (char.encode("gb2312", "replace")[0] for char in wide))
    return common / len(wide) if wide else 1.0


def is_blank(text: str) -> bool:
    """Whether ``text`` shows nothing: only whitespace and the zero-width marks (``visible``) that a line
    pasted from the web or Word may hold alone."""
    return not visible(text).strip()


def _canonical(text: str) -> str:
    lines = (line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if not is_blank(line))


def canonical_file(data: bytes, source: str) -> tuple[str, list[str]]:
    """The canonical text of a corpus file's bytes, index/word.py's for a .docx, else ``decode``'s, and
    ``decode``'s warning about bytes it replaced."""
    if source.lower().endswith(WORD_SUFFIX):
        return _canonical(read_docx(data, source)), []
    return _decoded(data, source)
