"""JSON read with one meaning: a key given twice is refused, not settled by keeping the last one.

``json.loads`` keeps the last of two equal keys, so a question-set line or a request body that gives a
field twice would lose one unseen (and another reader, a proxy's, may keep the first).
"""
from __future__ import annotations

import json

from index.errors import as_written


class DuplicateKey(ValueError):
    """An object in the text gives ``key`` more than once."""

    def __init__(self, key: str):
        super().__init__(f"duplicate key {as_written(key)}")
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(key)
        obj[key] = value
    return obj


def loads(text: str | bytes) -> object:
    """``json.loads``, refusing a key given twice in any object with :class:`DuplicateKey`."""
    return json.loads(text, object_pairs_hook=_unique_keys)
