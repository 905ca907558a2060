"""How a result is shown, shared by the JSON API, the page and `speechqa ask`: what it marks, its
highlight and best sentence, and a speech as listed.

Pure functions of the searcher and the result dicts, no request or response: a module of their own,
not the API Blueprint's, so that `speechqa ask` bolds the sentence the page bolds without importing
the routes, the OpenAPI document and the served index's state (:mod:`service.state`) to do it.
"""
from __future__ import annotations

from typing import Callable

from index.errors import QuerySyntaxError
from index.query import parse_query, phrase_parts
from index.records import SPEECH_METADATA, Hit
import service.highlight as hl


def query_terms(searcher, query: str) -> list[str]:
    """What a result highlights: the free text's search terms and the phrases, a phrase with an ellipsis
    as its pieces in order (``quoted_wording``; never the exclusions).

    The terms are the lexical arm's own, so an English question marks the Chinese words its
    dictionary terms found, and those its stemmed words met through the passages' translations
    (``Searcher.marked_terms``). A query that does not parse (a passage page's link may carry any
    ``q``) is all free text.
    """
    if not query:
        return []
    try:
        parsed = parse_query(query)
    except QuerySyntaxError:
        return searcher.marked_terms(query)
    return (searcher.marked_terms(parsed.text) if parsed.text else []) + quoted_wording(query)


def marking(searcher, query: str, *, relaxed: bool = False,
            named_speech: dict | None = None) -> Callable[[dict], tuple[list[str], list[str]]]:
    """What a result dict marks: its terms and the quoted wording its best sentence must show.

    What is marked is what was searched: a question whose quoted wording matched nothing
    (``relaxed``) was ranked by its words with the quotes dropped, and the results of a speech the
    question named (``named_speech``, the payload's) answer the part it asked, not the words naming it.
    """
    searched = (parse_query(query).without_phrases() or query) if relaxed else query
    whole = (query_terms(searcher, searched), [] if relaxed else quoted_wording(query))
    if not named_speech:
        return lambda result: whole
    asked = (query_terms(searcher, named_speech["asked"]), quoted_wording(named_speech["asked"]))
    return lambda result: asked if result["speech"]["id"] == named_speech["id"] else whole


def annotate(searcher, query: str, results: list[dict], hits: list[Hit] | None = None, *,
             relaxed: bool = False, named_speech: dict | None = None) -> list[dict]:
    """Add ``highlight`` and ``best_sentence`` to each result dict (in place) and return them.

    The best sentence weighs each sentence's query terms (``marking``) against its cosine to the
    query, which the search computed from the stored vectors (``hits``, in the same order), so this
    costs no model call; without them the dense arm's best sentence (``best_span``) stands in.
    """
    marks = marking(searcher, query, relaxed=relaxed, named_speech=named_speech)
    for position, result in enumerate(results):
        scores = hits[position].sentence_scores if hits is not None else None
        terms, quoted = marks(result)
        result["highlight"] = str(hl.highlight(result["text"], terms))
        result["best_sentence"] = hl.best_sentence(result["text"], terms, result.get("best_span"), scores, quoted)
    return results


def quoted_wording(query: str) -> list[str]:
    """The query's quoted phrases, which results mark and the best sentence shows where it can: a phrase
    with an ellipsis as its pieces joined by ``hl.PATTERN_GAP``, marked where they follow one another."""
    try:
        return [hl.PATTERN_GAP.join(parts) for phrase in parse_query(query).phrases if (parts := phrase_parts(phrase))]
    except QuerySyntaxError:
        return []


def speech_summary(info) -> dict:
    """A speech as listed: id, title, source and how many sections and passages it has."""
    return {"id": info.id, "title": info.title, "source": info.source, "title_inferred": info.title_inferred,
            "section_count": len(info.sections), "passage_count": info.passages,
            **{name: getattr(info, name) for name in SPEECH_METADATA}}
