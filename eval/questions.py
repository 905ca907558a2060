"""Question sets: JSON Lines of questions with verbatim gold spans, loaded and checked.

One object a line::

    {"id": "q001", "question": "...", "gold_spans": ["verbatim source text", ...],
     "speech": "exact speech title or empty", "type": "paraphrase", "lang": "zh", "note": ""}

``id``, ``question`` and ``gold_spans`` are required; a set without ``type``/``lang``
still works (bucket "unknown"); unknown extra fields are ignored so other teams can
annotate their sets.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from index import strictjson
from index.errors import SpeechQAError, as_written

TYPES = ("paraphrase", "keyword", "fact", "topic", "crosslingual")
LANGS = ("zh", "en")
UNKNOWN = "unknown"
_SPACE = re.compile(r"\s+")


class QuestionSetError(SpeechQAError, ValueError):
    """A question set cannot be used: the message names the file, line or question id."""

    code = "bad_question_set"


@dataclass(frozen=True)
class Question:
    """One evaluation question and the verbatim spans that make a passage relevant."""

    id: str
    question: str
    gold_spans: tuple[str, ...]
    speech: str = ""
    type: str = UNKNOWN
    lang: str = UNKNOWN
    note: str = ""
    line: int = 0


def squash(text: str) -> str:
    """The text with all whitespace removed, the form gold spans are matched in."""
    return _SPACE.sub("", text)


def _string(obj: dict, name: str, *, required: bool) -> str:
    if name not in obj:
        if required:
            raise ValueError(f"missing field {as_written(name)}")
        return ""
    value = obj[name]
    if not isinstance(value, str):
        raise ValueError(f"field {as_written(name)} must be a string (got {type(value).__name__})")
    if required and not value.strip():
        raise ValueError(f"field {as_written(name)} is empty")
    return value.strip()


def _choice(obj: dict, name: str, allowed: Sequence[str]) -> str:
    value = _string(obj, name, required=False)
    if not value:
        return UNKNOWN
    if value not in allowed and value != UNKNOWN:
        raise ValueError(f"unknown {name} {as_written(value)} (use one of {', '.join(allowed)})")
    return value


def _json_object(line: str) -> dict:
    """One line of a set as a JSON object; ValueError says what is wrong with it."""
    try:
        obj = strictjson.loads(line)  # its DuplicateKey is the ValueError that names the key
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def parse_question(line: str, number: int = 0) -> Question:
    """One line of a question set as a Question; ValueError says what is wrong with it."""
    obj = _json_object(line)
    qid = _string(obj, "id", required=True)
    question = _string(obj, "question", required=True)
    if "gold_spans" not in obj:
        raise ValueError('missing field "gold_spans"')
    spans = obj["gold_spans"]
    if not isinstance(spans, list) or not all(isinstance(s, str) for s in spans):
        raise ValueError('field "gold_spans" must be a list of strings')
    if not spans:
        raise ValueError('field "gold_spans" is empty: list at least one verbatim span of the answer')
    if any(not squash(s) for s in spans):
        raise ValueError('field "gold_spans" holds a blank span')
    return Question(
        id=qid, question=question, gold_spans=tuple(s.strip() for s in spans),
        speech=_string(obj, "speech", required=False), type=_choice(obj, "type", TYPES),
        lang=_choice(obj, "lang", LANGS), note=_string(obj, "note", required=False), line=number)


def load_questions(path: Path | str) -> list[Question]:
    """Read and validate a JSON Lines question set; errors name the file and line number."""
    path = Path(path)
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, line in _lines(path):
        try:
            question = parse_question(line, number)
        except ValueError as exc:
            raise QuestionSetError(f"{path}:{number}: {exc}") from None
        if question.id in seen:
            raise QuestionSetError(f"{path}:{number}: duplicate id {as_written(question.id)} "
                                   f"(first on line {seen[question.id]})")
        seen[question.id] = number
        questions.append(question)
    return questions


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of each line of a set that is not blank; QuestionSetError when there is none."""
    try:
        # utf-8-sig: Windows Notepad saves UTF-8 with a byte-order mark, which is no part of line 1
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QuestionSetError(f"{path}: no such question set") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionSetError(f"{path}: cannot read the question set ({exc})") from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise QuestionSetError(f"{path}: the question set is empty")
    return lines


def _text_of(item) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return item["text"]
    return item.text


def absent_spans(spans: Iterable[str], passages_or_texts: Iterable) -> set[str]:
    """The spans found in none of the texts (whitespace ignored).

    Each span must lie inside one text, so checking against passages also catches a
    span that straddles a passage boundary and could never match a retrieved passage.
    ``passages_or_texts`` holds strings, Passage-like objects (``.text``) or result dicts (``["text"]``).
    """
    # NUL never occurs in a squashed span, so a hit in the joined text lies inside one text.
    corpus = "\0".join(squash(_text_of(item)) for item in passages_or_texts)
    return {span for span in spans if squash(span) not in corpus}


@dataclass(frozen=True)
class SpanCheck:
    """What a backend says of gold spans: those no passage holds, and those it cannot tell about, with why."""

    absent: frozenset[str] = frozenset()
    unchecked: Mapping[str, str] = field(default_factory=dict)


def _listed(pairs: Sequence[tuple[str, str]]) -> str:
    shown = "; ".join(f"{qid}: {text}" for qid, text in pairs[:5])
    return shown + (f" (and {len(pairs) - 5} more)" if len(pairs) > 5 else "")


def check_spans(questions: Iterable[Question], check: SpanCheck) -> str | None:
    """Raise QuestionSetError naming each question with a gold span no passage holds; else a note naming
    those whose spans the backend could not check (None when it checked every one)."""
    questions = list(questions)
    missing = [(q.id, as_written(span)) for q in questions for span in q.gold_spans if span in check.absent]
    if missing:
        raise QuestionSetError(f"{len(missing)} gold span(s) not found in the corpus — copy them verbatim from "
                               f"the source: {_listed(missing)}")
    unchecked = [(q.id, f"{as_written(span)} ({check.unchecked[span]})") for q in questions for span in q.gold_spans
                 if span in check.unchecked]
    if not unchecked:
        return None
    return (f"{len(unchecked)} gold span(s) could not be checked against the corpus, so a miss on them may be "
            f"the span's: {_listed(unchecked)}")


def load_unanswerable(path: Path | str) -> list[tuple[str, str]]:
    """(id, question) of each line of an out-of-corpus set: questions no passage answers, no gold spans."""
    path = Path(path)
    out = []
    for number, line in _lines(path):
        try:
            obj = _json_object(line)
            out.append((_string(obj, "id", required=True), _string(obj, "question", required=True)))
        except ValueError as exc:
            raise QuestionSetError(f"{path}:{number}: {exc}") from None
    return out
