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
"""
from __future__ import annotations

import re
from functools import cache

# The BMP's CJK ideographs: extension A, the unified block, the compatibility ideographs.
_IDEOGRAPHS = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00))


@cache
def simplified_table() -> dict[int, int]:
    """Code point → its simplified form's, for the characters that have one (``str.translate``'s table)."""
    import opencc  # 40 ms to load its dictionaries, paid by the first text folded, not by every import

    convert = opencc.OpenCC("t2s").convert
    forms = {chr(point): convert(chr(point)) for low, high in _IDEOGRAPHS for point in range(low, high)}
    simplified_forms = set(forms.values())
    return {ord(char): ord(form) for char, form in forms.items()
            if form != char and len(form) == 1 and char not in simplified_forms}


@cache
def _traditional() -> re.Pattern:
    # Searching for one costs ~11 ns a character, translating ~260: simplified text, nearly all a
    # library holds, is only searched.
    return re.compile("[" + "".join(map(chr, sorted(simplified_table()))) + "]")


def simplified(text: str) -> str:
    """``text`` with each traditional character in its simplified form (same length, same offsets)."""
    return text.translate(simplified_table()) if _traditional().search(text) else text
