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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from index.errors import SpeechQAError

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
            raise ValueError(f"missing field {name!r}")
        return ""
    value = obj[name]
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a string (got {type(value).__name__})")
    if required and not value.strip():
        raise ValueError(f"field {name!r} is empty")
    return value.strip()


def _choice(obj: dict, name: str, allowed: Sequence[str]) -> str:
    value = _string(obj, name, required=False)
    if not value:
        return UNKNOWN
    if value not in allowed and value != UNKNOWN:
        raise ValueError(f"unknown {name} {value!r} (use one of {', '.join(allowed)})")
    return value


def parse_question(line: str, number: int = 0) -> Question:
    """One line of a question set as a Question; ValueError says what is wrong with it."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    qid = _string(obj, "id", required=True)
    question = _string(obj, "question", required=True)
    if "gold_spans" not in obj:
        raise ValueError("missing field 'gold_spans'")
    spans = obj["gold_spans"]
    if not isinstance(spans, list) or not all(isinstance(s, str) for s in spans):
        raise ValueError("field 'gold_spans' must be a list of strings")
    if not spans:
        raise ValueError("field 'gold_spans' is empty: list at least one verbatim span of the answer")
    if any(not squash(s) for s in spans):
        raise ValueError("field 'gold_spans' holds a blank span")
    return Question(
        id=qid, question=question, gold_spans=tuple(s.strip() for s in spans),
        speech=_string(obj, "speech", required=False), type=_choice(obj, "type", TYPES),
        lang=_choice(obj, "lang", LANGS), note=_string(obj, "note", required=False), line=number)


def load_questions(path: Path | str) -> list[Question]:
    """Read and validate a JSON Lines question set; errors name the file and line number."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QuestionSetError(f"{path}: no such question set") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionSetError(f"{path}: cannot read the question set ({exc})") from None
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            question = parse_question(line, number)
        except ValueError as exc:
            raise QuestionSetError(f"{path}:{number}: {exc}") from None
        if question.id in seen:
            raise QuestionSetError(f"{path}:{number}: duplicate id {question.id!r} (first on line {seen[question.id]})")
        seen[question.id] = number
        questions.append(question)
    if not questions:
        raise QuestionSetError(f"{path}: the question set is empty")
    return questions


def _text_of(item) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return item["text"]
    return item.text


def missing_spans(questions: Iterable[Question], passages_or_texts: Iterable) -> list[tuple[str, str]]:
    """(question id, span) for every gold span found in none of the texts.

    Each span must lie inside one text, so checking against passages also catches a
    span that straddles a passage boundary and could never match a retrieved passage.
    """
    # NUL never occurs in a squashed span, so a hit in the joined text lies inside one text.
    corpus = "\0".join(squash(_text_of(item)) for item in passages_or_texts)
    return [(q.id, span) for q in questions for span in q.gold_spans if squash(span) not in corpus]


def check_spans(questions: Iterable[Question], passages_or_texts: Iterable) -> None:
    """Raise QuestionSetError naming each question whose gold span occurs nowhere in the corpus.

    ``passages_or_texts`` holds strings, Passage-like objects (``.text``) or result dicts (``["text"]``).
    """
    missing = missing_spans(questions, passages_or_texts)
    if missing:
        shown = "; ".join(f"{qid}: {span!r}" for qid, span in missing[:5])
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise QuestionSetError(
            f"{len(missing)} gold span(s) not found in the corpus — copy them verbatim from the source: {shown}{more}")


def load_unanswerable(path: Path | str) -> list[tuple[str, str]]:
    """(id, question) of each line of an out-of-corpus set: questions no passage answers, no gold spans."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionSetError(f"{path}: cannot read the question set ({exc})") from None
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            out.append((_string(obj, "id", required=True), _string(obj, "question", required=True)))
        except (ValueError, TypeError, AttributeError) as exc:
            raise QuestionSetError(f"{path}:{number}: {exc}") from None
    if not out:
        raise QuestionSetError(f"{path}: the question set is empty")
    return out
