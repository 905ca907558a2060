"""Traditional characters read as their simplified forms, one character for one.

A reader in Hong Kong or Taiwan types 糧食安全 for the speeches' 粮食安全, and a reprint may come in
traditional characters. Everything that matches wording — BM25 terms, quoted phrases, title and
metadata filters, highlights, reprint signatures — and the question the dense arm encodes see text
through this fold, so either script finds either. The table is OpenCC's traditional-to-simplified
conversion asked one character at a time (its phrase dictionary needs context a fold cannot keep),
where it gives one other character: a fold that keeps every offset lets a highlight or phrase found
in the folded text point into the original. A character that is also some character's simplified
form keeps its own (苧). The few that simplified text also writes in some words (乾 of 乾坤, whose
traditional 乾燥 is 干燥) fold all the same: matching folds both sides alike, so that only makes 乾坤
and 干坤 one wording. The seeds hold none of them.

OpenCC's t2s knows its own traditional standard, not Hong Kong's and Taiwan's forms of it (衞 of 拱衞首都,
which its s2hk writes, stayed 衞, and a verbatim check of the speeches' 拱卫首都 typed so found nothing):
where t2s leaves a character as it is, its hk2s and tw2s conversions give its form, unless GB2312 encodes
the character — simplified text's own (Taiwan writes 著 for 着, and 么 for 幺, which 著名 and 什么 are not).
So Taiwan's 著力 still misses the speeches' 着力: telling 著 apart needs the words around it.
"""
from __future__ import annotations

import re
from functools import cache

# Names the fold for what keeps folded text (BM25 documents, reprint signatures): a change to the table
# changes it.
FOLD_VERSION = "t2s-hk-tw-1"
# The BMP's CJK ideographs: extension A, the unified block, the compatibility ideographs.
_IDEOGRAPHS = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00))


@cache
def simplified_table() -> dict[int, int]:
    """Code point → its simplified form's, for the characters that have one (``str.translate``'s table)."""
    import opencc  # 40 ms to load its dictionaries, paid by the first text folded, not by every import

    convert = opencc.OpenCC("t2s").convert
    regional = [opencc.OpenCC(config).convert for config in ("hk2s", "tw2s")]

    def form(char: str) -> str:
        simplified_form = convert(char)
        if simplified_form != char or _in_gb2312(char):
            return simplified_form
        return next((other for other in (convert_regional(char) for convert_regional in regional) if other != char),
                    char)

    forms = {chr(point): form(chr(point)) for low, high in _IDEOGRAPHS for point in range(low, high)}
    simplified_forms = set(forms.values())
    return {ord(char): ord(folded) for char, folded in forms.items()
            if folded != char and len(folded) == 1 and char not in simplified_forms}


def _in_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


@cache
def _traditional() -> re.Pattern:
    # Searching for one costs ~11 ns a character, translating ~260: simplified text, nearly all a
    # library holds, is only searched.
    return re.compile("[" + "".join(map(chr, sorted(simplified_table()))) + "]")


def simplified(text: str) -> str:
    """``text`` with each traditional character in its simplified form (same length, same offsets)."""
    return text.translate(simplified_table()) if _traditional().search(text) else text
