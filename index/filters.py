"""What a query may keep: phrase, exclusion, title and metadata filters, reprint folding, grouping.

``Library`` holds the per-index lookups (the phrase index, each passage's speech and date, the
reprint groups the build recorded in ``Passage.duplicate_of``). ``Library.rows`` turns a parsed
query and the request's filters into the passage rows a search may return — the ``rows`` both
stores' searches already accept — or None when nothing restricts them.

After ranking, ``fold`` keeps one result per reprint group: the group's canonical (earliest)
passage when the ranking holds it and it holds every word of the query the group's best-ranked
passage holds, else that best-ranked passage (a copy with a paragraph cut or a line changed may
lack what answered), with the group's other allowed members as its duplicates, so no two results
are near-duplicates. A passage spliced from other passages' paragraphs (``Passage.spliced_from``,
index/spliced.py) is no result of its own while one of its sources is allowed: it joins the group of the
first such source, and every result lists the spliced passages that copy a paragraph of it (``also_in``).
``one_copy_each`` gives the arms one passage of each group to rank, so a list does not hang on k.
``one_per_speech``
then keeps each speech's first result and counts the others, and ``by_date`` orders results
oldest first (undated last), relevance breaking ties.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from index.dedup import canonical_rows
from index.phrase import PhraseIndex
from index.query import ParsedQuery, squash, visible
from index.records import Passage, SpeechInfo


@dataclass(frozen=True)
class Filters:
    """The request's own filters, beside the ones written in the query text."""

    speech: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    place: str | None = None
    speaker: str | None = None

    @classmethod
    def of(cls, request) -> "Filters":
        """The filters of a checked request (``index.request.SearchRequest``)."""
        return cls(speech=request.speech, date_from=request.date_from, date_to=request.date_to,
                   place=request.place, speaker=request.speaker)


@dataclass(frozen=True)
class Folded:
    """One result row after folding: its reprints' rows, and (grouped by speech) the speech's further hits."""

    row: int
    duplicates: tuple[int, ...] = ()
    more_in_speech: int | None = None
    # The reprint whose rank gave the group its place, where another copy is shown: its score is the group's.
    placed_by: int | None = None
    # The spliced passages that hold a paragraph of the group's canonical passage (index/spliced.py).
    also_in: tuple[int, ...] = ()

    @property
    def ranked_row(self) -> int:
        """The row whose score ranks this result."""
        return self.row if self.placed_by is None else self.placed_by


def _contains(value: str | None, wanted: str) -> bool:
    # places and speakers are names: Beijing is beijing
    return value is not None and squash(wanted).casefold() in squash(value).casefold()


# A speaker line reads 职务 姓名 (市委书记 许长青, 副市长 Tom Li（李汤姆）): the name is its last part, or
# what that part's brackets hold; a Chinese name is two to four characters.
_SPEAKER_PARTS = re.compile(r"[\s·・,，、;；/]+")
_BRACKETED = re.compile(r"[（(]([^（）()]*)[）)]")
_CHINESE_NAME = re.compile(r"[\u3400-\u9fff\U00020000-\U0003134f]{2,4}")


def speaker_names(speaker: str | None) -> list[str]:
    """The Chinese names a speaker line gives: its last part and what brackets in it hold, where that is
    two to four Chinese characters (市委书记 许长青 → 许长青; 副市长 Tom Li（李汤姆） → 李汤姆)."""
    shown = visible(speaker or "")
    parts = _SPEAKER_PARTS.split(shown.strip())
    candidates = [_BRACKETED.sub("", parts[-1]), *_BRACKETED.findall(shown)]
    return list(dict.fromkeys(name for name in candidates if _CHINESE_NAME.fullmatch(name)))


class Library:
    """An index's passages and speeches, arranged for filtering and folding."""

    def __init__(self, passages: Sequence[Passage], speeches: Sequence[SpeechInfo],
                 phrases: PhraseIndex | None = None):
        self.passages = passages
        if phrases is not None:
            self.phrases = phrases  # the build's own (a store that saved one), so no query waits for it
        self.speeches = {s.id: s for s in speeches}
        rows_of: dict[str, list[int]] = {}
        for row, passage in enumerate(passages):
            rows_of.setdefault(passage.speech_id, []).append(row)
        self.speech_rows = {speech: np.asarray(rows, dtype=np.int64) for speech, rows in rows_of.items()}
        self.dates = [getattr(self.speeches.get(p.speech_id), "date", None) for p in passages]
        row_of = {p.id: row for row, p in enumerate(passages)}
        self.canonical = np.asarray(canonical_rows(passages), dtype=np.int64)
        self.members: dict[int, list[int]] = {}  # canonical row → the group, canonical first
        for row, canonical in enumerate(self.canonical.tolist()):
            if canonical != row:
                self.members.setdefault(canonical, [canonical]).append(row)
        # spliced passages (index/spliced.py), a reprint copy of one included: their rows, and each one's
        # sources' rows, most of it first, padded with -1
        sources = [[row_of[s] for s in passages[canonical].spliced_from]
                   for canonical in self.canonical.tolist()]
        self.spliced_rows = np.asarray([row for row, rows in enumerate(sources) if rows], dtype=np.int64)
        width = max((len(rows) for rows in sources), default=0)
        self.spliced_sources = np.full((len(self.spliced_rows), width), -1, dtype=np.int64)
        self.spliced_in: dict[int, list[int]] = {}  # a source's row → the spliced rows holding its paragraphs
        for at, row in enumerate(self.spliced_rows.tolist()):
            self.spliced_sources[at, :len(sources[row])] = sources[row]
            for source in sources[row]:
                self.spliced_in.setdefault(source, []).append(row)

    def speakers_named(self, text: str) -> dict[str, list[str]]:
        """The speakers' names ``text`` holds (``speaker_names``), each with its speeches, in library order."""
        squashed = squash(text)
        return {name: speeches for name, speeches in self._speeches_by_speaker_name.items() if name in squashed}

    @cached_property
    def _speeches_by_speaker_name(self) -> dict[str, list[str]]:
        by_name: dict[str, list[str]] = {}
        for info in self.speeches.values():
            for name in speaker_names(info.speaker):
                by_name.setdefault(name, []).append(info.id)
        return by_name

    @cached_property
    def phrases(self) -> PhraseIndex:
        """The verbatim matcher, made on the first query that needs it unless the store brought one
        (idempotent, so threads may race)."""
        return PhraseIndex.from_texts([p.text for p in self.passages])

    def rows(self, query: ParsedQuery, filters: Filters) -> np.ndarray | None:
        """Rows, ascending, that every filter allows; None when the query and the request have none."""
        restricted = None
        if query.titles or query.excluded_titles or filters != Filters():
            kept = [info.id for info in self.speeches.values() if self._speech_allowed(info, query, filters)]
            restricted = np.unique(np.concatenate(
                [self.speech_rows.get(speech, np.zeros(0, np.int64)) for speech in kept] or [np.zeros(0, np.int64)]))
        for phrase in query.phrases:
            found = self.phrases.rows_containing(phrase)
            restricted = found if restricted is None else np.intersect1d(restricted, found, assume_unique=True)
        for term in query.excluded:
            base = np.arange(len(self.passages), dtype=np.int64) if restricted is None else restricted
            restricted = np.setdiff1d(base, self.phrases.rows_containing(term), assume_unique=True)
        return restricted

    def held_wording(self, wording: str) -> str | None:
        """``wording`` if a passage holds it, else its longest start or end of two characters or more that
        one holds (the start first at equal length), else None: a question's words for a part carry extra
        words around the speech's (绷紧安全意识之弦 where the speech says 绷紧国家安全意识之弦 → 安全意识之弦).
        Starts and ends only, so a 15-character item costs at most 28 lookups (each up to ~8 ms on 10M
        characters, bench/results/phrase.md), not the 105 of every stretch."""
        squashed = squash(wording)
        for length in range(len(squashed), 1, -1):
            for stretch in dict.fromkeys((squashed[:length], squashed[-length:])):
                if len(self.phrases.rows_containing(stretch)):
                    return stretch
        return None

    def spread_rows(self, phrases: Sequence[str]) -> np.ndarray:
        """Rows, ascending, that hold at least one of ``phrases``, of the speeches that hold every one
        of them somewhere, each in a passage of its own or not."""
        if not phrases:
            return np.zeros(0, np.int64)
        holding = [self.phrases.rows_containing(phrase) for phrase in phrases]
        speeches = set.intersection(*({self.passages[row].speech_id for row in rows.tolist()} for rows in holding))
        rows = np.unique(np.concatenate(holding))
        return rows[[self.passages[row].speech_id in speeches for row in rows.tolist()]].astype(np.int64)

    def unmatched_filters(self, query: ParsedQuery, filters: Filters) -> list[tuple[str, str | None]]:
        """The filters that no speech passes even alone, as (field, value): ``("date", None)`` for the
        date range, ``("place", "南宁")``, ``("speaker", …)``, ``("title", …)`` for each title word, so
        that an empty answer can say which filter emptied it rather than suggest other words."""
        infos = list(self.speeches.values())
        unmatched: list[tuple[str, str | None]] = []
        if (filters.date_from or filters.date_to) and not any(
                self._speech_allowed(info, ParsedQuery(""), Filters(date_from=filters.date_from,
                                                                    date_to=filters.date_to)) for info in infos):
            unmatched.append(("date", None))
        for name in ("place", "speaker"):
            wanted = getattr(filters, name)
            if wanted and not any(_contains(getattr(info, name), wanted) for info in infos):
                unmatched.append((name, wanted))
        unmatched += [("title", title) for title in query.titles
                      if not any(squash(title) in squash(info.title) for info in infos)]
        return unmatched

    def unmatched_together(self, query: ParsedQuery, filters: Filters) -> list[tuple[str, str | None]]:
        """The filters (as ``unmatched_filters`` names them) when there are two or more and no speech
        passes them all, though each alone some speech passes: 王建国's speeches, none of them of 2023."""
        active = [*([("date", None)] if filters.date_from or filters.date_to else []),
                  *((name, getattr(filters, name)) for name in ("place", "speaker") if getattr(filters, name)),
                  *(("title", title) for title in query.titles)]
        if len(active) < 2 or self.unmatched_filters(query, filters):
            return []
        # the named filters alone: a speech scope or a -title: exclusion may empty the list too, but
        # then these are not what emptied it
        named_only = replace(query, excluded_titles=()), replace(filters, speech=None)
        return [] if any(self._speech_allowed(info, *named_only) for info in self.speeches.values()) else active

    @staticmethod
    def _speech_allowed(info: SpeechInfo, query: ParsedQuery, filters: Filters) -> bool:
        if filters.speech and info.id != filters.speech:
            return False
        if not all(squash(title) in squash(info.title) for title in query.titles):
            return False
        if any(squash(title) in squash(info.title) for title in query.excluded_titles):
            return False
        if (filters.date_from or filters.date_to) and info.date is None:
            return False
        if filters.date_from and info.date < filters.date_from:
            return False
        if filters.date_to and info.date > filters.date_to:
            return False
        if filters.place and not _contains(info.place, filters.place):
            return False
        return not filters.speaker or _contains(info.speaker, filters.speaker)

    def groups(self, allowed: np.ndarray | None) -> np.ndarray:
        """Each row's group, as the canonical row of a reprint group: its own reprint group's, or for a
        spliced passage the group of its first source (most of it first) that has a passage ``allowed``
        (ascending rows; None for all), its own where none has."""
        if not len(self.spliced_rows):
            return self.canonical
        if allowed is None:
            return self._groups_unfiltered
        return self._groups(allowed)

    @cached_property
    def _groups_unfiltered(self) -> np.ndarray:
        return self._groups(None)

    def _groups(self, allowed: np.ndarray | None) -> np.ndarray:
        sources = self.spliced_sources
        usable = sources >= 0
        if allowed is not None:
            open_group = np.zeros(len(self.canonical), dtype=bool)
            open_group[self.canonical[allowed]] = True
            usable &= open_group[np.where(usable, sources, 0)]
        found = usable.any(axis=1)
        first = usable.argmax(axis=1)
        groups = self.canonical.copy()
        groups[self.spliced_rows[found]] = sources[found, first[found]]
        return groups

    def one_copy_each(self, rows: np.ndarray | None) -> np.ndarray | None:
        """``rows`` (ascending; None for all) with one passage of each group (``groups``) among them: a
        reprint group's canonical copy where that is one of them, else its first; no spliced passage
        whose source has a passage among them; ``rows`` itself where no group has two."""
        if not self.members and not len(self.spliced_rows):
            return rows
        if rows is None:
            return self._ranked_rows
        groups = self.groups(rows)[rows]
        # a spliced passage ranks through its source, which some reprint of is among the rows
        own = groups == self.canonical[rows]
        rows, groups = rows[own], groups[own]
        canonical_here = groups == rows
        # a group whose canonical copy is allowed keeps that copy; any other, its first allowed member
        kept = canonical_here | ~np.isin(groups, groups[canonical_here])
        _, first = np.unique(groups[kept], return_index=True)
        return np.sort(rows[kept][first])

    @cached_property
    def _ranked_rows(self) -> np.ndarray:
        return np.flatnonzero(self.groups(None) == np.arange(len(self.canonical))).astype(np.int64)

    def fold(self, ranked: Sequence[int], allowed: np.ndarray | None, limit: int | None = None,
             wording: Sequence[str] = ()) -> list[Folded]:
        """One result per group (``groups``), in ``ranked`` order, the first ``limit`` (default all);
        ``wording``: the query's terms and phrases, which the copy shown must not lack. A spliced passage
        whose source is allowed is no result of its own: it is offered beside that source (``also_in``)."""
        position = {row: i for i, row in enumerate(ranked)}
        allowed_set = None if allowed is None else set(allowed.tolist())
        groups = self.groups(allowed)
        seen: set[int] = set()
        results = []
        for row in ranked:
            if limit is not None and len(results) >= limit:
                break
            group = int(groups[row])
            if group in seen or group != self.canonical[row]:
                continue
            seen.add(group)
            also_in = tuple(r for r in self.spliced_in.get(group, ()) if allowed_set is None or r in allowed_set)
            members = self.members.get(group)
            if not members:
                results.append(Folded(row, also_in=also_in))
                continue
            # ``row`` is the group's best-ranked member: the canonical copy stands in for it unless
            # it lacks wording of the query that ``row`` holds
            best, canonical = self.passages[row].text, self.passages[group].text
            shown = group if group in position and all(w in canonical for w in wording if w in best) else row
            allowed_members = [m for m in members if allowed_set is None or m in allowed_set]
            # the arms rank one copy of a group: another may hold more of the query's wording (a pasted
            # sentence read word for word by a copy, where the one ranked changed 达 to 达到; the line
            # only a reprint added), and is shown, ranked where its group's ranked copy is
            if wording and any(w not in self.passages[shown].text for w in wording):
                counted: dict[str, int] = {}  # most copies read alike: a group of 400 has a few texts

                def held(member: int) -> int:
                    text = self.passages[member].text
                    if text not in counted:
                        counted[text] = sum(w in text for w in wording)
                    return counted[text]
                fuller = max(allowed_members, key=held)
                shown = fuller if held(fuller) > held(shown) else shown
            duplicates = tuple(m for m in allowed_members if m != shown)
            results.append(Folded(shown, duplicates, placed_by=None if shown == row else row, also_in=also_in))
        return results

    def one_per_speech(self, results: Sequence[Folded],
                       counted: Callable[[Folded], bool] | None = None) -> list[Folded]:
        """Each speech's first result, with how many more of that speech's results are ``counted``
        (default: all)."""
        first: dict[str, int] = {}
        counts: dict[str, int] = {}
        for index, result in enumerate(results):
            speech = self.passages[result.row].speech_id
            if speech not in first:
                first[speech] = index
                counts[speech] = 0
            elif counted is None or counted(result):
                counts[speech] += 1
        return [replace(results[i], more_in_speech=counts[speech]) for speech, i in first.items()]

    def by_date(self, results: Sequence[Folded]) -> list[Folded]:
        """Results oldest speech first, undated last, each speech's passages together in reading order (a
        timeline of a 提法 read a speech's second passage before its first); speeches of one date, and the
        undated ones, in the order of their best result."""
        first_listed: dict[str, int] = {}
        for place, result in enumerate(results):
            first_listed.setdefault(self.passages[result.row].speech_id, place)
        return sorted(results, key=lambda r: (self.dates[r.row] is None, self.dates[r.row] or "",
                                              first_listed[self.passages[r.row].speech_id], r.row))
