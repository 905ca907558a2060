"""A corpus file's sidecar ``<stem>.meta.json`` → the metadata it gives the file and its speeches.

A sidecar is a JSON object with a speech's metadata fields in English (``date``, ``place``,
``speaker``, ``occasion``, ``collection``) for the whole file, and ``speeches``: {title: {fields}}
for single speeches. ``read_sidecar`` checks it and raises ``SidecarError`` for one that cannot be
used; a date it cannot hold is left out with a warning, as a header's is. Which source wins over
which is index/parse.py's to say.
"""
from __future__ import annotations

import json
from pathlib import Path

from index.dates import DATE_VALUE, iso_date, why_no_date
from index.errors import CorpusError, as_read
from index.records import SPEECH_METADATA
from index.simplified import simplified

SIDECAR_SUFFIX = ".meta.json"


class SidecarError(CorpusError):
    """A sidecar file that cannot be used; ``index.parse.load_corpus`` indexes its text without it."""


def _sidecar_fields(data: dict, where: str, warnings: list[str]) -> dict[str, str]:
    """The metadata fields of one sidecar object (SidecarError saying which is wrong). A date it
    cannot hold (2023-10, no real day) is left out with a warning in ``warnings``, as a header's is:
    the other fields are still the librarian's word."""
    fields = {}
    for name in SPEECH_METADATA:
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise SidecarError(f"{where}: {name} must be a non-empty string or null")
        if name == "date":
            written = DATE_VALUE.fullmatch(simplified(value.strip()))
            if not written or iso_date(written) is None:
                warnings.append(f"{where}: date {as_read(value)} {why_no_date(written)} — the date is left unset, "
                                "the other fields used; write it as 2023-04-15")
                continue
            value = iso_date(written)
        fields[name] = value.strip()
    return fields


def read_sidecar(path: Path) -> dict:
    """A sidecar file's metadata as {"file": fields, "speeches": {title: fields}, "warnings": [...]},
    checked (SidecarError)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SidecarError(f"{path.name}: unreadable metadata ({error})") from None
    if not isinstance(data, dict):
        raise SidecarError(f"{path.name}: metadata must be a JSON object")
    unknown = sorted(set(data) - set(SPEECH_METADATA) - {"speeches"})
    if unknown:
        raise SidecarError(f"{path.name}: unknown metadata field {', '.join(unknown)} — "
                           f"use {', '.join(SPEECH_METADATA)} and speeches")
    speeches = data.get("speeches") or {}
    if not isinstance(speeches, dict) or not all(isinstance(v, dict) for v in speeches.values()):
        raise SidecarError(f"{path.name}: speeches must map a speech title to its fields")
    warnings: list[str] = []
    return {"file": _sidecar_fields(data, path.name, warnings),
            "speeches": {title: _sidecar_fields(fields, f"{path.name} ({title})", warnings)
                         for title, fields in speeches.items()},
            "warnings": warnings}
