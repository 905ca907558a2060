"""Why a search found nothing, in a reader's words: the page and `speechqa ask` say the same.

Pure: it reads the loaded index's library and speeches, and asks it how many passages hold a phrase.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from index.filters import Filters
from index.query import LIST_SEPARATOR, QUOTATION_MARKS, ParsedQuery, squash
from index.request import SearchRequest

FILTER_LABELS = {"place": "地点", "speaker": "讲话人"}
# Taiwan's and Hong Kong's spellings that folding one character for one (index/simplified.py) keeps, as
# simplified text writes those characters too, in other words (著作, 瞭望): a phrase that finds nothing
# is tried in the simplified spelling, and that is suggested where it finds something.
OTHER_SPELLINGS = (("瞭解", "了解"), ("反覆", "反复"), ("著", "着"))
# The marks between a list's items (index.query.LIST_SEPARATOR) are swapped freely (保交楼，稳民生 for the
# source's 保交楼、稳民生): each of these is tried in their place, never an ellipsis, which would stand for
# any wording between.
LIST_MARKS_TRIED = "、，；"


@dataclass(frozen=True)
class EmptyAnswer:
    """An empty search, with the filters that emptied it (``filters``: (field, value) pairs, those no
    speech passes alone, else those no speech passes together, else none; ``together`` says which)."""

    searcher: object
    asked: SearchRequest
    parsed: ParsedQuery
    filters: list[tuple[str, str | None]]
    together: bool

    @classmethod
    def of(cls, searcher, asked: SearchRequest, parsed: ParsedQuery) -> EmptyAnswer:
        filters = Filters.of(asked)
        alone = searcher.library.unmatched_filters(parsed, filters)
        together = [] if alone else searcher.library.unmatched_together(parsed, filters)
        return cls(searcher, asked, parsed, alone or together, bool(together))

    def reasons(self) -> list[str]:
        """What to tell the reader, empty when no reason is known beyond the wording."""
        if self.together:
            return _together_note(self.filters)
        near = self.near_wording
        in_titles = _phrases_in_titles(self.searcher, self.parsed)
        return (_emptied_notes(self.searcher, self.filters)
                or _phrases_apart(self.searcher, self.asked, self.parsed)
                + (in_titles or _phrase_absent(self.searcher, self.asked, self.parsed))
                + ([f"{near[2]}，{near[0]} 见于 {near[1]} 段。"] if near else []))

    @cached_property
    def near_wording(self) -> tuple[str, int, str] | None:
        """For a verbatim check that found nothing, (query, how many passages it finds, why) of its phrases
        written another way that finds something: in simplified spelling (``OTHER_SPELLINGS``), or with
        another mark between its list items; None when no such writing does (or the query asks words)."""
        if self.parsed.text or self.filters:
            return None
        for phrase in self.parsed.phrases:
            respelled = phrase
            for written, simplified in OTHER_SPELLINGS:
                respelled = respelled.replace(written, simplified)
            variants = [(respelled, "按简体写法")] + [(LIST_SEPARATOR.sub(mark, respelled), "换用原文的标点")
                                                    for mark in LIST_MARKS_TRIED] + _items_quoted(respelled)
            for variant, why in variants:
                if variant == phrase:
                    continue
                query = replace(self.parsed, phrases=tuple(variant if p == phrase else p
                                                           for p in self.parsed.phrases)).written()
                if count := self.searcher.matched(query, **self.asked.options):
                    return query, count, why
        return None


def _items_quoted(phrase: str) -> list[tuple[str, str]]:
    """The list ``phrase`` (黑天鹅、灰犀牛) with each item in the quote marks the speeches put around named
    items (“黑天鹅”、“灰犀牛”, also written “黑天鹅”“灰犀牛”), as (variant, why): writers checking a 提法 leave
    those marks out, and a verbatim check keeps them. None for one item or a phrase that quotes already."""
    items = LIST_SEPARATOR.split(phrase)
    if len(items) < 2 or not all(items) or QUOTATION_MARKS.intersection(phrase):
        return []  # a phrase with quote marks of its own is tried as written: quoting its items would nest them
    quoted = "".join(f"“{item}”{mark}" for item, mark in zip(items, [*LIST_SEPARATOR.findall(phrase), ""]))
    return [(quoted, "按原文加引号"), ("".join(f"“{item}”" for item in items), "按原文加引号")]


def _phrase_absent(searcher, asked: SearchRequest, parsed: ParsedQuery) -> list[str]:
    """What an empty verbatim check of one phrase says first: that no passage holds it, in so many words
    (the page's 没有找到相关段落 alone read as a semantic search that failed), or, where the speech or
    filters chosen narrowed it, how many passages hold it without them."""
    if parsed.text or len(parsed.phrases) != 1:
        return []
    phrase = parsed.phrases[0]
    everywhere = searcher.matched(ParsedQuery(text="", phrases=(phrase,)).written())
    if everywhere:
        return [f"所选范围内没有一段含有“{phrase}”，不限范围见于 {everywhere} 段。"]
    return [f"库中没有一段含有“{phrase}”这一提法。"]


def is_past_end(offset: int, matched: int | None, shown: int) -> bool:
    """Whether an empty answer is a page past a verbatim check's last result: nothing is missing there."""
    return not shown and bool(offset) and bool(matched)


def past_end_note(matched: int, offset: int) -> str:
    """What a page past a verbatim check's last result says: how many there are, so that the reader (or
    a script paging by hand) knows the offset, not the wording, emptied it."""
    return f"共 {matched} 条符合，第 {offset} 条之后没有了。"


def say_why_empty(payload: dict, searcher, asked: SearchRequest, parsed: ParsedQuery) -> dict:
    """``payload`` (``search_payload``'s) with ``empty_reasons``, what the page and ``ask`` say about an
    empty answer (none when it has results; ``past_end_note`` alone for a page past a verbatim check's
    end), and ``near_wording``, ``{"query", "matched"}`` of the verbatim check written as the library
    writes it (``EmptyAnswer.near_wording``) or null: a script could not tell wording the library lacks
    from wording it writes with another mark, or from filters that pass no speech."""
    reasons, near = [], None
    if is_past_end(asked.offset, payload["matched"], len(payload["results"])):
        reasons = [past_end_note(payload["matched"], asked.offset)]
    elif not payload["results"]:
        empty = EmptyAnswer.of(searcher, asked, parsed)
        reasons, near = empty.reasons(), empty.near_wording
    said = {"empty_reasons": reasons,
            "near_wording": None if near is None else {"query": near[0], "matched": near[1]}}
    *before, results = payload.items()  # the results stay last, as the contract lists them
    return dict(before) | said | dict([results])


def _emptied_notes(searcher, emptied: list[tuple[str, str | None]]) -> list[str]:
    """Why no result came, where a filter is the reason: one that no speech of the index passes
    (the library may name no dates, places or speakers at all), which other words would not help."""
    notes = []
    for field, value in emptied:
        if field == "title":
            notes.append(f"没有标题含“{value}”的讲话。")
        elif field == "date":
            dated = any(info.date for info in searcher.speeches)
            notes.append("没有一篇讲话的日期在所选范围内。" if dated else "库里的讲话都没有标注日期，按日期筛选会排除全部讲话。")
        else:
            label = FILTER_LABELS[field]
            named = any(getattr(info, field) for info in searcher.speeches)
            notes.append(f"没有{label}含“{value}”的讲话。" if named
                         else f"库里的讲话都没有标注{label}，按{label}筛选会排除全部讲话。")
    return notes


def _together_note(together: list[tuple[str, str | None]]) -> list[str]:
    """Why no result came when the filters pass no speech together, each passing some alone."""
    if not together:
        return []
    named = "、".join("日期在所选范围内" if field == "date" else f"{FILTER_LABELS.get(field, '标题')}含“{value}”"
                     for field, value in together)
    return [f"没有一篇讲话同时满足这几个条件：{named}。"]


def _phrases_apart(searcher, asked: SearchRequest, parsed: ParsedQuery) -> list[str]:
    """Why a verbatim check of several phrases found nothing: how many passages hold each alone, so that
    “前提在于”“关键在于” (two parts of one speech) is not read as wording the library lacks."""
    if parsed.text or len(parsed.phrases) < 2:
        return []
    held = [(phrase, searcher.matched(replace(parsed, phrases=(phrase,)).written(), **asked.options))
            for phrase in parsed.phrases]
    counts = "、".join(f"“{phrase}”{f'见于 {count} 段' if count else '没有一段含有'}" for phrase, count in held)
    return [f"{counts}，没有一段同时含有它们。" if all(count for _, count in held) else f"{counts}。"]


def _phrases_in_titles(searcher, parsed: ParsedQuery) -> list[str]:
    """Where a phrase no passage holds is a speech's title: a title is no passage's text, so a verbatim
    check of one finds nothing, and ``title:`` is what finds it."""
    notes = []
    for phrase in parsed.phrases:
        if searcher.matched(ParsedQuery(text="", phrases=(phrase,)).written()):
            continue  # passages hold it: its title is no reason ("粮食" "保交楼" was told 粮食 is a title's)
        titles = [info.title for info in searcher.speeches if squash(phrase) in squash(info.title)]
        if titles:
            field = ParsedQuery(text="", titles=(phrase,)).written()  # quoted where the words need it
            more = f"等 {len(titles)} 篇讲话" if len(titles) > 1 else ""
            notes.append(f"“{phrase}”是《{titles[0]}》{more}标题里的话，标题不算段落正文：按标题查找请用 {field}。")
    return notes
