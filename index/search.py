"""Dense, lexical and fused (reciprocal-rank) search over a loaded index."""
from __future__ import annotations

import math
import re
import time
from dataclasses import replace
from functools import cached_property, lru_cache, partial, reduce
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np

from index.errors import BadQuery, ModelMismatch, QuerySyntaxError, UnknownId, as_written
from index.bilingual import (TRANSLATION_PREFIX, chinese_terms, english_terms, has_chinese, place_names,
                              romanized_names, words_translated_as)
from index.calibrate import LogisticModel, load_models
from index.fusion import RRF_K, arm_scores, confidences, fuse, learned_fuse
from index.lexical import LEXICAL_VERSION, TermStats, document_terms, is_common_word, meaningful_words, tokenize
from index.records import SPEECH_METADATA, Answer, ArmScore, Hit, Passage, SpeechInfo
from index.simplified import simplified
from index.filters import Filters, Folded, Library
from index.query import (ParsedQuery, listed_parts, named_speech_question, parse_query, phrase_parts, quoted_items,
                         squash)
from index.thesaurus import TermTables, official_terms, term_tables
from index.request import DEFAULT_K, DEFAULT_MODE, DEFAULT_SORT, LISTED_DUPLICATES, MAX_K, SearchRequest, check_request
from index.related import reprint_rows, sentence_scores, similar_rows
from index.store import IndexStore, Match

if TYPE_CHECKING:
    from index.embed import Encoder
    from index.source import IndexSource

# How deep each arm looks before fusion: a passage ranked low by one arm and high by the
# other must still be seen by both.
FUSION_DEPTH = 100
# How much deeper the arms go, try after try, while folding leaves fewer than k results (Searcher.search).
DEEPER = 4
# An English question's vector is mixed with this share of the vector of its CC-CEDICT Chinese
# terms (``query_vector``): the model matches Chinese to Chinese better than English to Chinese.
# Tuning-set dense Recall@1 0.815 → 0.839 at 0.2-0.4 alike; 1.0 lost the question's own sense.
CHINESE_MIX = 0.3
# How many passages of a named speech lead the answer to a question that names one (Searcher.answer).
# On eval/topic_twohop.jsonl 1, 2, 3 and 5 gave Recall@5 0.922, 0.933, 0.922, 0.867: more pushes the
# whole question's own hits out of the top 5.
NAMED_SPEECH_HITS = 3
# A question names its speech by words that speech alone holds (the Xingtai speech → 邢台, 壮乡首府 of
# its title) when the naming words' BM25 over whole speeches gives one speech at least this score and
# this many times the next one's (Searcher.speech_named_by_words). On the fifteen sets (QUALITY.md,
# 2026-12-07) 3 and 3 moved 20 ranks, all up; the development sets' named questions stay 83 of 90 right
# from ratio 2 to 5, so the values are not fitted to them.
NAMING_SCORE = 3.0
NAMING_DOMINANCE = 3.0
# Words that ask what a speaker said, not about what (许长青讲了什么, 许长青在会上的发言).
_SPEAKING_WORDS = frozenset("讲话 发言 讲 说 话 过 谈 讲过 说过 谈过 提到 讲到 谈到 致辞 会上 哪些 什么 分别 各自".split())
# A capitalised word of an English naming clause, which never opens the sentence: a place or a person
# (Tongwei, Xingtai, Zhuang).
_PROPER_NAME = re.compile(r"\b[A-Z][a-z]+\b")


def bm25_query_terms(text: str, *, vocabulary: Mapping[str, int], tables: TermTables | None = None) -> tuple[str, ...]:
    """BM25 terms of a query; one without Chinese also gets the Chinese of its words and its stemmed
    English words (which passages' translations hold) that ``vocabulary`` holds, one with Chinese the
    speeches' terms for its everyday wording (``tables``, by default the packaged ones: index/thesaurus.py)."""
    tables = term_tables() if tables is None else tables
    terms = tokenize(text)
    if has_chinese(text):
        return tuple(terms + [t for t in official_terms(text, vocabulary, tokenize, table=tables.wording)
                              if t not in terms])
    held = [t for t in terms if t in vocabulary]
    translated = chinese_terms(text, vocabulary, split=tokenize, glossary=tables.glossary)
    english = [t for t in english_terms(text) if t in vocabulary]
    return tuple(dict.fromkeys(held + translated + english))


class Searcher:
    """Answers questions from one loaded index with one query encoder.

    ``dense`` fuses the sentence and the sentence-pair views by reciprocal rank, ``bm25`` has
    one list (so its score is 1/(rrf_k + rank)), ``hybrid`` ranks the three lists' rows by the
    calibrated model (index/fusion.py), so its score is the hit's confidence. Every hit keeps
    every list's own score and rank, and ``confidence``: the probability that it answers, from
    ``models[mode]`` (default: the committed index/calibration.json). ``tables`` are the term tables
    questions are expanded with (default: the packaged ones).
    """

    def __init__(self, store: IndexStore, encoder: Encoder, *, rrf_k: int = RRF_K, depth: int = FUSION_DEPTH,
                 models: dict[str, LogisticModel] | None = None, tables: TermTables | None = None):
        if encoder.model_id != store.manifest["model_id"]:
            raise ModelMismatch(
                f"the index was built with model {as_written(store.manifest['model_id'])} but queries would use "
                f"{as_written(encoder.model_id)} — rebuild with `speechqa build --model {encoder.model_id}` "
                "or query without --model")
        if store.manifest.get("lexical") != LEXICAL_VERSION:
            raise ModelMismatch(f"the index was tokenised with {as_written(store.manifest.get('lexical'))}, "
                                f"this program uses {as_written(LEXICAL_VERSION)} — run `speechqa build`")
        self.store = store
        self.encoder = encoder
        self.rrf_k = rrf_k
        self.depth = depth
        self.models = load_models() if models is None else models
        self.tables = term_tables() if tables is None else tables
        self.manifest = store.manifest
        self.passages = store.passages
        self.speeches = store.speeches
        self._row = {p.id: i for i, p in enumerate(store.passages)}
        self.library = Library(store.passages, store.speeches, getattr(store, "phrases", None))

    def search(self, query: str, *, k: int = DEFAULT_K, mode: str = DEFAULT_MODE, speech: str | None = None,
               group: str | None = None, date_from: str | None = None, date_to: str | None = None,
               place: str | None = None, speaker: str | None = None, sort: str = DEFAULT_SORT,
               offset: int = 0, within: np.ndarray | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query`` (with its "phrases", -exclusions and title: filters).

        ``speech``, ``date_from``/``date_to``, ``place`` and ``speaker`` restrict the speeches
        (index/request.py says how); reprints fold into one hit each (``Hit.duplicates``);
        ``group="speech"`` keeps one hit per speech; ``sort="date"`` orders hits oldest first: the k
        best for free text, every passage allowed for a query of phrases and filters alone.
        The free text is ranked as always; a query of phrases alone ranks its phrases' text
        among the passages that contain them, and every passage that contains them is a
        candidate (those no arm ranked follow in reading order), so a phrase's hits are exactly
        the passages that hold it. ``within`` (ascending rows) narrows the candidates further.
        ``offset`` pages a query of phrases and filters alone: the results after its first ``offset``,
        ranked as ever (a question with words lists its ``k`` best only: BadQuery).
        """
        request = check_request(query, k, mode, speech, group=group, date_from=date_from, date_to=date_to,
                                place=place, speaker=speaker, sort=sort, offset=offset)
        parsed = parse_query(request.q)
        if request.offset and parsed.text:
            raise BadQuery("offset pages a verbatim check (quoted wording and filters alone, whose `matched` counts "
                           f"its results); a question with words to rank lists its {MAX_K} best at most", field="offset")
        k, mode = request.k, request.mode
        if request.speech and request.speech not in self.library.speeches:
            raise BadQuery(f"unknown speech id {as_written(request.speech)} — see /api/speeches or speechqa speeches",
                           field="speech")
        rows = self.library.rows(parsed, Filters.of(request))
        if within is not None:
            rows = within if rows is None else np.intersect1d(rows, within, assume_unique=True)
        if rows is not None and len(rows) == 0:
            return []
        allowed = rows
        # the arms rank one copy of each reprint group, so that a rank counts passages of different text: a
        # passage reprinted 377 times put the next one 378th, where fusion read it as all but no answer
        # (confidence 0.01, at 0.36 before the reprints), and its copies filled every arm's list (a library
        # of reprints answered 保密工作怎么做 with 1 result at k=50); fold gathers the copies again. A passage
        # spliced from others' paragraphs ranks through its source the same way (index/spliced.py). Milvus is
        # sent the rows a question may rank in its filter: there only a filtered search leaves copies out,
        # and the arms go deeper, below, while the copies fold into fewer than k
        if rows is not None or self.store.restricts_in_process:
            rows = self.library.one_copy_each(rows)
        text = parsed.ranking_text
        # grouping counts need every candidate, and so does the date order of what phrases and
        # filters alone allow; relevance order needs the first k
        whole = request.group == "speech" or (request.sort == "date" and not parsed.text)
        depth = max(k, self.depth)
        while True:
            arms, terms, vector = self.arms(text, mode, depth, rows) if text else ({}, [], None)
            fused = self._fuse(arms, terms, mode, english=not has_chinese(text))
            results = self._folded(parsed, request, fused, terms, rows, allowed, whole)
            # one result per speech (a speech's passages fill the list), or a reprint's copies on Milvus, can
            # leave fewer than k from the candidates: the arms go deeper until k results stand, or they hold
            # every passage they can rank
            if (len(results) >= request.offset + k or depth >= len(self.passages)
                    or not any(len(matches) >= depth for matches in arms.values())):
                break
            depth *= DEEPER
        if request.sort == "date":
            # free text puts its k best in date order: every candidate in date order would put the
            # oldest speech's least related passages first
            results = self.library.by_date(results[:k] if parsed.text else results)
        results = results[request.offset:]
        spans = {m.row: m.span for m in arms.get("dense", [])}
        shown_rows = [result.row for result in results[:k]]
        shown = arm_scores(arms, shown_rows)
        scores_of = None if vector is None else sentence_scores(self.store, shown_rows, vector)
        hits = []
        for rank, result in enumerate(results[:k], start=request.offset + 1):
            score, confidence = fused.get(result.ranked_row, (0.0, None))
            hits.append(Hit(passage=self.passages[result.row], rank=rank, score=score, scores=shown[result.row],
                            confidence=confidence,
                            best_span=spans.get(result.row),
                            sentence_scores=None if scores_of is None else scores_of[rank - request.offset - 1],
                            duplicates=tuple(self.passages[r] for r in result.duplicates),
                            also_in=tuple(self.passages[r] for r in result.also_in),
                            more_in_speech=result.more_in_speech))
        return hits

    def _folded(self, parsed: ParsedQuery, request: SearchRequest, fused: dict[int, tuple[float, float]],
                terms: list[str], rows: np.ndarray | None, allowed: np.ndarray | None, whole: bool) -> list[Folded]:
        """``search``'s candidates, reprints and spliced passages folded (one per speech with ``group="speech"``), in
        rank order: ``rows`` those the arms could rank (one copy of each group), ``allowed`` all the filters let
        through."""
        ranked = list(fused)
        if rows is not None and (parsed.phrases or not parsed.ranking_text):
            ranked += [row for row in rows.tolist() if row not in fused]
        # the free text whole too: a pasted sentence's copy that does not hold it must not stand in for one
        # that does (确保粮食自给率达100% shown as a reprint's 达到100%)
        wording = [*terms, *(part for phrase in parsed.phrases for part in phrase_parts(phrase)),
                   *([squash(parsed.text)] if parsed.text else [])]
        results = self.library.fold(ranked, allowed, None if whole else request.offset + request.k, wording)
        if request.group == "speech":
            # "本篇另有 N 处" counts the speech's other passages that answer as well as a first result must
            # (the mode's threshold), not every passage some arm ranked: of phrases alone, all that hold them
            threshold = self.models[request.mode].threshold
            results = self.library.one_per_speech(results, None if not parsed.text else (
                lambda result: fused.get(result.ranked_row, (0.0, None))[1] is not None
                and fused[result.ranked_row][1] >= threshold))
        return results

    def answer(self, query: str, **options) -> Answer:
        """What the API and the page answer: ``search``, relaxed when quoted wording matched nothing,
        and led by the named speech's passages when the question names one, else by the passages holding
        the parts it lists its speech by (``_led_by_listed_parts``) or a named speaker's (``_led_by_speaker``).

        Questions quote on their own (什么是“五联”机制？, the "five-link" mechanism) in wording the
        speeches need not share, and an empty answer helps nobody: when the quotes leave a question
        with no hit it is searched again without them. A query of phrases alone stays strict: that
        is a verbatim check, and no hit is its answer.

        A question that names its speech by one thing it says and asks about another part of it
        (index/query.py) is answered in two steps: the whole question finds the speech (its best
        hit is the passage that says the naming thing), then the part it asks is searched within
        that speech, and up to ``NAMED_SPEECH_HITS`` of those hits lead the list. Ranked as one
        question, the naming passage wins and the asked-for part of the speech ranks nowhere:
        on eval/topic_twohop.jsonl Recall@5 0.700 → 0.922, MRR@10 0.546 → 0.867 (README).
        A leading hit is no more confident than the hit that named its speech. A request that filters by
        speech has chosen its speech: the question's naming words change nothing.
        """
        first = self._search_or_relax(query, **options)
        hits = first.hits
        if not hits or not _ranked_as_asked(options):
            return first
        if options.get("speech"):  # the speech the question names would override it
            return first
        question = named_speech_question(query)
        if question is None and (placed := self.place_named(query)) is not None:
            return self._led_by_place(placed, query, first, **options)
        if question is None:
            return self._led_by_speaker(query, self._led_by_listed_parts(query, first, **options), **options)
        naming_hit = hits[0]
        speech_id = self.speech_named_by_words(question.naming)
        if speech_id is None:
            # the best passage's speech names nothing where the question is mostly what it asks, or where
            # a filter chose the passages it could come from (speaker=许长青 named a speech of his)
            if question.inline or any(options.get(name) for name in ("place", "speaker", "date_from", "date_to")):
                return first
            speech_id = naming_hit.passage.speech_id
        k = options.get("k", DEFAULT_K)
        asked = self._search_or_relax(question.asked, **options | {"speech": speech_id,
                                                                     "k": min(k, NAMED_SPEECH_HITS)})
        asked_hits = asked.hits
        asks_quoted = bool(parse_query(question.asked).phrases)
        if asks_quoted and not first.phrases_relaxed:
            # wording quoted in the part asked binds the leading passages as it binds the others
            asked_hits = ([] if asked.phrases_relaxed else
                          asked_hits if asked.phrases_held is None else asked_hits[:asked.phrases_held])
        if not asked_hits:
            return first
        leading = [replace(hit, confidence=_at_most(hit.confidence, naming_hit.confidence)) for hit in asked_hits]
        led = self._led_by(leading, hits, k)
        return replace(first, hits=led, named_speech=speech_id, asked=question.asked,
                       phrases_held=_holding_prefix(led, leading + hits[:first.phrases_held])
                       if first.phrases_held is not None and asks_quoted else None)

    def place_named(self, question: str) -> tuple[str, tuple[str, ...]] | None:
        """The one speech a question names by a place only its passages say, and the question's words
        that name it, or None. An English question writes the place in pinyin ("How does Tongwei
        describe …": CC-CEDICT's proper nouns, ``romanized_names``), a Chinese one as a word of its own or
        within one (通渭县: ``place_names``, CC-CEDICT's proper nouns glossed as a place, so not 大学). A
        place no passage says (Beijing, which the speeches write xx) or several speeches say names none,
        and so do two places of two speeches."""
        words = parse_query(question).text  # a quote or a title filter is no naming: 标题：晋中 filters
        if has_chinese(words):
            places = place_names()
            candidates = [(word, place) for word in dict.fromkeys(tokenize(words))
                          for place in _places_within(word, places)]
        else:
            names = romanized_names()
            candidates = [(word, place) for word in dict.fromkeys(_PROPER_NAME.findall(words))
                          for place in names.get(word.lower(), ())]
        named: dict[int, list[str]] = {}
        for word, place in candidates:
            speeches = {int(speech) for speech in self._speech_of_row[self.term_stats.rows_holding(place)]
                        if speech >= 0}
            if len(speeches) == 1:
                named.setdefault(speeches.pop(), []).append(word)
        if len(named) != 1:
            return None
        speech, words = named.popitem()
        return self._speech_ids[speech], tuple(dict.fromkeys(words))

    def _led_by_place(self, placed: tuple[str, tuple[str, ...]], query: str, first: Answer, **options) -> Answer:
        """``first``, led by up to ``NAMED_SPEECH_HITS`` passages of the speech the question names by a
        place, ``placed`` being that speech and the words naming it (``place_named``): ranked as a whole,
        its best passage came from another speech on the same subject as often as not, or was the
        speech's one passage that says the place's name.

        A Chinese question's place is a BM25 term of its own, which lifts whichever passage says it
        (通渭县发言认为…的关键在哪里？ was led by the opening that says 通渭, its answer 15th): the speech's
        passages are ranked by the question without the place (``asked``). On all sets that moved 42
        hybrid ranks up and 6 down (questions whose answer says the place: 这个县要建设什么样的新通渭？);
        ranking them by the whole question moved 22 up and none down, with Recall@1 +7 where the other
        gave +34. An English question's pinyin is no BM25 term: the speech's passages keep the order the
        whole question gave them, then its best others (13 up, none down)."""
        speech, words = placed
        k = options.get("k", DEFAULT_K)
        if has_chinese(query):
            parsed = parse_query(query)
            # in the question's order, so 通渭县 loses 通渭 and keeps 县: "the county's speech" ranked the
            # speech's passages better than the question without it (taken out whole: 1 rank up, 3 down)
            rest = reduce(lambda text, word: text.replace(word, " "), words, parsed.text)
            # a question of the place alone is ranked by it, there being nothing else to rank by
            asked = replace(parsed, text=rest).written() if re.search(r"\w", rest) else query
            leading = self.search(asked, **options | {"speech": speech, "k": NAMED_SPEECH_HITS})
        else:
            asked = query
            leading = [hit for hit in first.hits if hit.passage.speech_id == speech][:NAMED_SPEECH_HITS]
            if len(leading) < NAMED_SPEECH_HITS:
                shown = {hit.passage.id for hit in leading}
                more = self.search(query, **options | {"speech": speech, "k": NAMED_SPEECH_HITS})
                leading = (leading + [hit for hit in more if hit.passage.id not in shown])[:NAMED_SPEECH_HITS]
        if not leading:
            return first
        return replace(first, hits=self._led_by(leading, first.hits, k), named_speech=speech, asked=asked)

    def _led_by_listed_parts(self, query: str, first: Answer, **options) -> Answer:
        """``first``, led by the passages that hold the parts the question lists its speech by, in the
        speeches that hold them all (``query.listed_parts``: 哪篇发言分成根本原则、中心任务、最终目的、重要法宝
        四块来讲？); unchanged for a question that lists none, or whose listed parts no one speech holds.
        Quoted, such parts are read by ``_search_or_relax``."""
        parts = [held for held in map(self.library.held_wording, listed_parts(query)) if held]
        if len(parts) < 3 or parse_query(query).phrases:
            return first
        spread = self.library.spread_rows(parts)
        ranked = self.search(query, **options | {"within": spread, "k": min(len(spread), MAX_K)}) if len(spread) else []
        if not ranked:
            return first
        # the best speech's passage for each part, in the order listed: the three best passages overall
        # missed a part as often as not (two from one section)
        speech = ranked[0].passage.speech_id
        leading: list[Hit] = []
        for part in parts:
            hit = next((hit for hit in ranked if hit.passage.speech_id == speech and hit not in leading
                        and part in squash(hit.passage.text)), None)
            if hit is not None:
                leading.append(hit)
        k = options.get("k", DEFAULT_K)
        # each leading passage answers "which speech" as well as the best of them: they are one speech's
        # (the first part's passage, ranked low on its own, had read 相关性较弱 and answered false)
        surest = max((hit.confidence for hit in leading if hit.confidence is not None), default=None)
        leading = [replace(hit, confidence=surest) if surest is not None else hit for hit in leading[:k]]
        return replace(first, hits=self._led_by(leading, first.hits, k), parts_listed=tuple(parts))

    def _led_by_speaker(self, query: str, first: Answer, **options) -> Answer:
        """``first``, led by passages of the speeches whose speaker the question names (许长青在耕地保护上
        讲了什么？: a speaker line 市委书记 许长青), ranked by the rest of the question, that answer it as surely
        as a first result must (the mode's threshold; any, where the rest asks nothing but what the speaker
        said), where no speaker filter is given: a speaker is a speech's metadata, which no passage's words
        need hold. A name jieba counts as a common word (副市长 高峰; 早晚高峰交通拥堵怎么治理) names no one."""
        if options.get("speaker"):
            return first
        parsed = parse_query(query)  # a name quoted is wording to find, a name excluded names no one
        named = {name: speeches for name, speeches in self.library.speakers_named(parsed.text).items()
                 if not is_common_word(name)}
        if not named:
            return first
        rows = np.concatenate([self.library.speech_rows[speech] for speeches in named.values()
                               for speech in speeches])
        # the rest of the question ranks their passages: a name their text holds would lift any of them
        rest = reduce(lambda text, name: text.replace(name, " "), named, parsed.text)
        # 许长青讲了什么 asks for the speeches themselves, and so does 周雨桐市长讲了什么: the post their speaker
        # lines give them is part of naming them
        posts = {word for speeches in named.values() for speech in speeches
                 for word in tokenize(self.library.speeches[speech].speaker or "")}  # 市委书记: 书记 too
        asks = set(meaningful_words(rest)) - _SPEAKING_WORDS - posts
        threshold = self.models[options.get("mode") or DEFAULT_MODE].threshold if asks else None
        # a question of names alone is ranked by them, there being nothing else to rank by
        ranked_by = replace(parsed, text=rest).written() if rest.strip() or parsed.phrases else query
        led = self._led_from(rows, ranked_by, first, at_least=threshold, **options)
        return led if led is first else replace(led, speakers_named=tuple(named))

    def _led_from(self, rows: np.ndarray, query: str, first: Answer, *, at_least: float | None = None,
                  **options) -> Answer:
        """``first``, led by up to ``NAMED_SPEECH_HITS`` of ``rows`` (any order) ranked by ``query``, those
        whose confidence reaches ``at_least`` where it is given."""
        if not len(rows):
            return first
        k = options.get("k", DEFAULT_K)
        leading = [hit for hit in self.search(query, **options | {"within": np.unique(rows),
                                                                   "k": min(k, NAMED_SPEECH_HITS)})
                   if at_least is None or (hit.confidence is not None and hit.confidence >= at_least)]
        return replace(first, hits=self._led_by(leading, first.hits, k)) if leading else first

    def speech_named_by_words(self, naming: str) -> str | None:
        """The one speech whose title holds every word of ``naming`` (two at least), else the speech whose
        words ``naming`` holds far more than any other speech's, or None.

        A question names a speech by its title's words as often as by anything it says (筑牢首都“护城河”
        防线的那篇发言 is 认真践行总体国家安全观坚决筑牢首都“护城河”xx防线, though another speech says
        筑牢首都“护城河” in its text). The whole question's best passage tells its speech by what it says,
        and the naming words often by where it was given: "the Xingtai speech" is the one speech that says
        邢台, yet the question's best passage may come from another speech about the same thing. Each
        speech is one BM25 document of its passages (reprinted passages counted once, under their first
        copy); a clear winner names the speech, anything less leaves it to the best passage. English naming
        words are weighed by their proper names first ("the Tongwei county speech": 通渭 alone), as a
        library of county speeches holds 县域 in many: with "county" the winner was no longer clear;
        where no speech's words win, their translations may still point to one title (``_title_holding_most``).
        """
        words = [squash(word) for word in meaningful_words(naming)]
        titled = [speech_id for speech_id, title in self._squashed_titles
                  if all(word in title for word in words)] if len(words) >= 2 else []
        if len(titled) == 1:
            return titled[0]
        names = " ".join(_PROPER_NAME.findall(naming)) if not has_chinese(naming) else ""
        return ((names and self._clear_winner(names)) or self._clear_winner(naming)
                or self._title_holding_most(naming))

    def _title_holding_most(self, naming: str) -> str | None:
        """The speech whose title holds an English naming's distinctive words, two at least, by weight
        ``NAMING_DOMINANCE`` times any other title's: a word is held where the title holds any of its
        translations, distinctive where at most half the titles hold it, and weighs the more the fewer
        do ("the Zhuang-region capital speech": 壮乡首府; "the capital's 'moat' speech": 首都“护城河”).
        A Chinese naming is read by its title's own words (``speech_named_by_words``)."""
        titles = self._squashed_titles
        if has_chinese(naming) or len(titles) < 2:
            return None
        weights, words_held = np.zeros(len(titles)), np.zeros(len(titles), dtype=int)
        for word in re.findall(r"[A-Za-z]+", naming):
            translations = self.marked_terms(word)
            held = np.array([any(term in title for term in translations) for _, title in titles])
            # one word alone fits too many: "border" is 边疆 of one title, and two other border
            # places' speeches call themselves 南大门 and 国门
            if 0 < 2 * held.sum() <= len(titles):
                weights += held * math.log(len(titles) / held.sum())
                words_held += held
        best = int(np.argmax(weights))
        runner_up = np.partition(weights, -2)[-2]
        if words_held[best] < 2 or weights[best] < NAMING_DOMINANCE * runner_up:
            return None
        return titles[best][0]

    def _clear_winner(self, naming: str) -> str | None:
        """The speech whose words ``naming`` holds far more than any other speech's (``speech_named_by_words``)."""
        scores = self.term_stats.group_bm25(self.lexical_terms(naming), self._speech_of_row,
                                            len(self._speech_ids))
        if len(scores) < 2:
            return None
        best = int(np.argmax(scores))
        runner_up = np.partition(scores, -2)[-2]
        if scores[best] < NAMING_SCORE or scores[best] < NAMING_DOMINANCE * runner_up:
            return None
        return self._speech_ids[best]

    @cached_property
    def _squashed_titles(self) -> list[tuple[str, str]]:
        return [(info.id, squash(info.title)) for info in self.speeches]

    @cached_property
    def _speech_ids(self) -> list[str]:
        return list(self.library.speech_rows)

    @cached_property
    def _speech_of_row(self) -> np.ndarray:
        """Each passage's speech, as its place in ``_speech_ids``; -1 for a reprint of an earlier passage."""
        number = {speech: i for i, speech in enumerate(self._speech_ids)}
        speech_of = np.asarray([number[p.speech_id] for p in self.passages], dtype=np.int64)
        speech_of[self.library.canonical != np.arange(len(self.passages))] = -1
        return speech_of

    def _search_or_relax(self, query: str, **options) -> Answer:
        """``search``; when quoted wording left it with no hit, the same question with its quotes as
        plain words (``phrases_relaxed``), led by the passages that hold a quote in the speeches that
        hold every quote between their passages (``phrases_spread``); when it left fewer hits than
        asked for, those hits followed by the question ranked without its quotes (``phrases_held``).

        A question quotes to name what it asks about as often as to require wording: “中国糖都”所在的
        那个边境市，在陆地边境线和壮族人口上有什么特点？ quotes what names the city, which one passage
        holds, and was answered with that passage alone. On all sets 14 question×arm ranks moved,
        all up (hybrid: five from none, to 2, 2, 4, 8 and 10). A query of phrases alone stays strict,
        but for English quotes none of which a passage holds: a library of Chinese speeches holds no English
        sentence word for word, so "Without security and stability, nothing can be achieved" asks for the
        Chinese it translates (没有安全和稳定，一切都无从谈起), not whether the speeches say it in English.

        Questions that tell a speech by how it is built quote wording each of its parts opens with
        (用“前提在于”“关键在于”“重点在于”串起来的是哪篇？), or quote those parts as one list
        (用“前提在于、关键在于、重点在于”三段来组织), whose items count as quotes of their own
        (``quoted_items``): no one passage holds them all, yet they name one speech, and the passages
        that hold them are what such a question asks for.
        """
        hits = self.search(query, **options)
        k = options.get("k", DEFAULT_K)
        parsed = None if len(hits) >= k else parse_query(query.strip())
        relaxed = None if parsed is None else parsed.without_phrases(
            alone=not hits and not any(map(has_chinese, parsed.phrases)))
        if relaxed is None:
            return Answer(hits)
        if hits:
            if not _ranked_as_asked(options):
                return Answer(hits)
            filled = self._led_by(hits, self.search(relaxed, **options), k)
            return Answer(filled, phrases_held=len(hits) if len(filled) > len(hits) else None)
        hits = self.search(relaxed, **options)
        spread = self.library.spread_rows(quoted_items(parsed.phrases)) if _ranked_as_asked(options) else []
        leading = self.search(relaxed, **options | {"within": spread}) if len(spread) else []
        if not leading:
            return Answer(hits, phrases_relaxed=True)
        return Answer(self._led_by(leading, hits, k), phrases_relaxed=True, phrases_spread=True)

    def matched(self, query: str, *, speech: str | None = None, group: str | None = None, **filters) -> int | None:
        """How many results a query of quoted wording and filters alone allows in all (reprints and spliced passages
        folded, one per speech with ``group="speech"``): what a ``k`` without limit would list, so that a
        verbatim check says how often the speeches hold it. None for a query with words to rank.
        ``filters`` are ``search``'s date_from, date_to, place, speaker (k, mode and sort change nothing)."""
        request = check_request(query, DEFAULT_K, DEFAULT_MODE, speech, group=group,
                                **{name: filters.get(name) for name in ("date_from", "date_to", "place", "speaker")})
        parsed = parse_query(request.q)
        if parsed.text:
            return None
        rows = self.library.rows(parsed, Filters.of(request))
        if rows is None:  # no free text, so quoted wording, an exclusion or a title: filter restricts it
            return None
        results = self.library.fold(rows.tolist(), rows)
        return len(self.library.one_per_speech(results) if request.group == "speech" else results)

    def arms(self, text: str, mode: str, depth: int, rows=None) -> tuple[dict[str, list[Match]], list[str], object]:
        """The ranked lists ``mode`` fuses for ``text``, its BM25 terms, and its vector (None without dense)."""
        arms: dict[str, list[Match]] = {}
        vector = None
        terms = self.lexical_terms(text)
        if mode in ("hybrid", "dense"):
            vector = self.query_vector(text, terms)
            views = self.store.dense_search(vector, depth, rows)
            arms["dense"], arms["dense_window"] = views["sentence"], views["window"]
        if mode in ("hybrid", "bm25"):
            arms["bm25"] = self.store.lexical_search(terms, depth, rows)
        return arms, terms, vector

    def query_vector(self, text: str, terms: list[str]) -> np.ndarray:
        """The unit query vector of ``text``; for an English question with Chinese ``terms`` (its
        CC-CEDICT lookup), the question's vector plus ``CHINESE_MIX`` times the terms' (written
        together, as Chinese text), renormalised. Both are encoded in one call."""
        chinese = "" if has_chinese(text) else "".join(t for t in terms if has_chinese(t))
        if not chinese:
            return self.encoder.encode_queries([simplified(text)])[0]
        question, translated = self.encoder.encode_queries([text, chinese])
        return mix_vectors(question, translated, CHINESE_MIX)

    def _fuse(self, arms: dict[str, list[Match]], terms: list[str], mode: str, *,
              english: bool) -> dict[int, tuple[float, float]]:
        """Row → (score, confidence), best first; ``english``: the question is English."""
        if not arms:
            return {}
        model = self.models[mode]
        coverage = self.term_stats.coverage_of(terms)
        if mode == "hybrid":
            ranked = learned_fuse(arms, model, coverage, english=english, rrf_k=self.rrf_k, depth=None)
            return {row: (probability, probability) for row, probability in ranked}
        ranked = fuse(arms, rrf_k=self.rrf_k)
        return {row: (score, confidence) for (row, score), confidence
                in zip(ranked, confidences(ranked, arms, model, coverage, english=english, rrf_k=self.rrf_k))}

    @cached_property
    def term_stats(self) -> TermStats:
        """Which passages hold each BM25 term (coverage, and the English questions' vocabulary)."""
        from_index = getattr(self.store, "passage_terms", None)  # FaissBm25Store reads them from bm25s
        if from_index is not None:
            return from_index()
        return TermStats.of(document_terms(p.speech_title, p.text) for p in self.passages)

    def lexical_terms(self, text: str) -> list[str]:
        """BM25 terms of a query; a question without Chinese also gets CC-CEDICT's Chinese for its words."""
        return list(self._remembered_terms(text))

    @cached_property
    def _remembered_terms(self):
        # Asked twice a request (its arms, then its highlighting), and jieba takes ~0.3 ms a question on
        # the AVX2 EPYC, an English one's dictionary lookup ~1 ms more. Bound to the vocabulary, not to
        # self, so an index swapped out by a reload is freed without waiting for the cycle collector.
        return lru_cache(maxsize=1024)(partial(bm25_query_terms, vocabulary=self.term_stats.document_frequency,
                                               tables=self.tables))

    def marked_terms(self, text: str) -> list[str]:
        """What a result marks for ``text``: its BM25 terms, with an English question's stemmed words
        (``en_…``, which match no text) replaced by the passages' words their translations hold."""
        terms = self.lexical_terms(text)
        english = [t for t in terms if t.startswith(TRANSLATION_PREFIX)]
        if not english:
            return terms
        words = self._translated_words
        return list(dict.fromkeys([t for t in terms if not t.startswith(TRANSLATION_PREFIX)] +
                                  [word for term in english for word in words.get(term, ())]))

    @cached_property
    def _translated_words(self) -> dict[str, tuple[str, ...]]:
        # made on the first English question, not at start: it reads the translation table (~0.1 s)
        return words_translated_as(self.term_stats.document_frequency)

    def answered(self, hits: list[Hit], mode: str) -> bool:
        """Whether the top hit's confidence reaches the threshold chosen on the tuning set for ``mode``."""
        return bool(hits) and hits[0].confidence is not None and hits[0].confidence >= self.models[mode].threshold

    def similar(self, passage_id: str, k: int = DEFAULT_K, *, reprint_groups=None) -> list[Hit]:
        """Passages of other speeches that make the same points as this one, one per speech and reprint
        group (folded as in ``search``), best first.

        The speeches that reprint this one (a passage in one of its near-duplicate groups,
        ``reprint_groups``: a group id per row, by default the build's) are kept out too. Scores
        are ``related.similar_rows``'s. UnknownId for an unknown id; BadQuery from a store that
        keeps no vectors in process (Milvus).
        """
        row = self._row_of(passage_id)
        groups = self.library.canonical if reprint_groups is None else reprint_groups
        excluded = reprint_rows(self.passages, groups, row)
        # every other speech's best passage, so that reprints folded together still leave k results
        matches = similar_rows(self.store, row, len(self.speeches), excluded=excluded)
        if matches is None:
            raise BadQuery("similar passages need the in-process index (this store keeps no vectors here)")
        by_row = {m.row: m for m in matches}
        hits = []
        for rank, result in enumerate(self.library.fold([m.row for m in matches], None, k), start=1):
            placed = by_row[result.ranked_row]
            shown = by_row.get(result.row)  # a canonical copy shown in a reprint's place has no span of its own
            hits.append(Hit(passage=self.passages[result.row], rank=rank, score=placed.score,
                            scores={"dense": ArmScore(score=placed.score, rank=rank)},
                            best_span=None if shown is None else shown.span,
                            duplicates=tuple(self.passages[r] for r in result.duplicates),
                            also_in=tuple(self.passages[r] for r in result.also_in)))
        return hits

    def sentence_scores_for(self, query: str, passage_id: str) -> tuple[float, ...] | None:
        """Each sentence's cosine to ``query`` as a search ranks it, for a page that shows one passage
        outside a result list, so that it bolds the sentence the results bolded; None for a query with
        nothing to rank or that does not parse, or a store that keeps no vectors in process."""
        try:
            text = parse_query(query).ranking_text
        except QuerySyntaxError:
            return None
        if not text.strip():
            return None
        vector = self.query_vector(text, self.lexical_terms(text))  # the encoder remembers a query just searched
        scores = sentence_scores(self.store, [self._row_of(passage_id)], vector)
        return None if scores is None else scores[0]

    def _led_by(self, leading: list[Hit], hits: list[Hit], k: int) -> list[Hit]:
        """``leading``, then the ``hits`` of reprint groups they do not hold, ranked anew and cut at ``k``: two
        searches may show one group by different copies (the copy holding a quote, and the canonical one)."""
        def group(hit: Hit) -> int:
            return int(self.library.canonical[self._row_of(hit.passage.id)])

        led = {group(hit) for hit in leading}
        merged = leading + [hit for hit in hits if group(hit) not in led]
        return [replace(hit, rank=rank) for rank, hit in enumerate(merged[:k], start=1)]

    def _row_of(self, passage_id: str) -> int:
        try:
            return self._row[passage_id]
        except KeyError:
            raise UnknownId(f"no passage with id {as_written(passage_id)}", kind="passage", id=passage_id) from None

    def passage(self, passage_id: str) -> Passage:
        """The passage with this id (UnknownId if none)."""
        return self.passages[self._row_of(passage_id)]

    def neighbours(self, passage_id: str) -> tuple[str | None, str | None]:
        """Ids of the previous and next passage of the same speech."""
        row = self._row_of(passage_id)
        speech_id = self.passages[row].speech_id
        before = self.passages[row - 1].id if row > 0 and self.passages[row - 1].speech_id == speech_id else None
        after = (self.passages[row + 1].id
                 if row + 1 < len(self.passages) and self.passages[row + 1].speech_id == speech_id else None)
        return before, after

    def speech(self, speech_id: str) -> SpeechInfo:
        """The speech with this id (UnknownId if none)."""
        try:
            return self.library.speeches[speech_id]
        except KeyError:
            raise UnknownId(f"no speech with id {as_written(speech_id)} — see /api/speeches or speechqa speeches",
                            kind="speech", id=speech_id) from None

    def speech_passages(self, speech_id: str) -> list[Passage]:
        """A speech's passages in reading order (UnknownId for an unknown speech)."""
        self.speech(speech_id)
        return [self.passages[row] for row in self.library.speech_rows.get(speech_id, [])]


def _ranked_as_asked(options: dict) -> bool:
    """Whether a search with these options ranks by relevance, so hits may be put in front of others."""
    return options.get("group") is None and options.get("sort", DEFAULT_SORT) == DEFAULT_SORT


def _at_most(confidence: float | None, ceiling: float | None) -> float | None:
    return confidence if confidence is None or ceiling is None else min(confidence, ceiling)


def _holding_prefix(hits: list[Hit], holding: list[Hit]) -> int:
    """How many of ``hits`` come first that are among ``holding`` (by passage)."""
    ids = {hit.passage.id for hit in holding}
    return next((rank for rank, hit in enumerate(hits) if hit.passage.id not in ids), len(hits))


def mix_vectors(vector: np.ndarray, other: np.ndarray, weight: float) -> np.ndarray:
    """``vector + weight · other`` scaled to unit length, as float32 (inner product stays cosine)."""
    mixed = np.asarray(vector, dtype=np.float64) + weight * np.asarray(other, dtype=np.float64)
    return (mixed / np.linalg.norm(mixed)).astype(np.float32)


def speech_about(passage: Passage, speech: SpeechInfo | None = None) -> dict:
    """The ``speech`` object of a result: the passage's speech id, title and source, and with ``speech`` its
    metadata (date, place, speaker, occasion, collection) and whether its title was made up."""
    about = {"id": passage.speech_id, "title": passage.speech_title, "source": passage.source}
    if speech is not None:
        about |= {name: getattr(speech, name) for name in SPEECH_METADATA} | {"title_inferred": speech.title_inferred}
    return about


def hit_to_dict(hit: Hit, speech: SpeechInfo | None = None) -> dict:
    """The JSON shape of one result, shared by `speechqa ask --json` and the HTTP API.

    ``speech`` adds the speech's metadata (date, place, speaker, occasion, collection) to ``speech``,
    and whether its title was made up (``title_inferred``).
    """
    passage = hit.passage
    about = speech_about(passage, speech)
    result = {
        "rank": hit.rank,
        "score": hit.score,
        "confidence": hit.confidence,
        "passage_id": passage.id,
        "text": passage.text,
        "speech": about,
        "section": list(passage.section),
        "scores": {arm: {"score": s.score, "rank": s.rank} for arm, s in hit.scores.items()},
        "best_span": list(hit.best_span) if hit.best_span else None,
        "start": passage.start,
        "end": passage.end,
        "duplicates": [{"passage_id": d.id, "speech": {"id": d.speech_id, "title": d.speech_title}}
                       for d in hit.duplicates[:LISTED_DUPLICATES]],
        "duplicate_count": len(hit.duplicates),
    }
    if hit.also_in:
        result["also_in"] = [{"passage_id": p.id, "speech": {"id": p.speech_id, "title": p.speech_title}}
                             for p in hit.also_in[:LISTED_DUPLICATES]]
        result["also_in_count"] = len(hit.also_in)
    if hit.more_in_speech is not None:
        result["more_in_speech"] = hit.more_in_speech
    return result


def results_of(searcher: Searcher, hits: list[Hit]) -> list[dict]:
    """The JSON results of ``hits``, each with its speech's metadata: what every edge sends."""
    return [hit_to_dict(h, searcher.speech(h.passage.speech_id)) for h in hits]


def search_payload(searcher: Searcher, query: str, *, k: int = DEFAULT_K, mode: str = DEFAULT_MODE,
                   speech: str | None = None, keep: list[Hit] | None = None, **filters) -> dict:
    """Answer a question and wrap it as ``{"query", "mode", "speech", "took_ms", "answered",
    "phrases_relaxed", "phrases_spread", "phrases_held", "named_speech", "speakers_named", "parts_listed",
    "matched", "results"}``.

    ``answered`` is false when the top hit's confidence is under the mode's threshold (or there
    is no hit): the question is probably not one the speeches answer. ``phrases_relaxed`` is true
    when no passage held the question's quoted wording and the results rank it without the quotes;
    ``phrases_spread`` is true when, of those, the results open with the passages that hold a quote
    in the speeches that hold every quote between their passages; ``phrases_held`` is, for a question
    with other words whose quoted wording fewer passages than ``k`` hold, how many leading results hold
    it (the rest rank the question without its quotes), else null;
    ``named_speech`` is ``{"id", "title", "asked"}`` when the question named a speech and the
    results open with that speech's passages for the part it ``asked`` (``Searcher.answer``), else null;
    ``speakers_named`` and ``parts_listed`` list the speakers the question names and the parts it lists
    its speech by when the results open with their passages, else are empty.
    ``matched`` is ``Searcher.matched``'s count for a query of quoted wording and filters alone, else null;
    for such a query (a verbatim check, which no confidence judges) ``answered`` is whether any passage
    holds the wording: "xx" (44 passages) had answered false and “两个确立” (12) true.

    ``filters`` are ``Searcher.search``'s (group, date_from, date_to, place, speaker, sort).
    ``keep``, a list, receives the hits themselves (the API weighs their sentence scores).
    """
    started = time.perf_counter()
    answer = searcher.answer(query, k=k, mode=mode, speech=speech, **filters)
    if keep is not None:
        keep.extend(answer.hits)
    matched = searcher.matched(query, speech=speech, **filters)
    took_ms = (time.perf_counter() - started) * 1000
    return {"query": query.strip(), "mode": mode, "speech": speech or None, "took_ms": round(took_ms, 2),
            "answered": (searcher.answered(answer.hits, mode) if matched is None or answer.phrases_relaxed
                         else matched > 0),
            "phrases_relaxed": answer.phrases_relaxed,
            "phrases_spread": answer.phrases_spread, "phrases_held": answer.phrases_held,
            "named_speech": named_speech_of(searcher, answer), "speakers_named": list(answer.speakers_named),
            "parts_listed": list(answer.parts_listed), "matched": matched,
            "results": results_of(searcher, answer.hits)}


def named_speech_of(searcher: Searcher, answer: Answer) -> dict | None:
    """The JSON of the speech a question named, or None."""
    if answer.named_speech is None:
        return None
    return {"id": answer.named_speech, "title": searcher.speech(answer.named_speech).title, "asked": answer.asked}


def load_searcher(index: Path | str | IndexSource, *, model: str | None = None,
                  encoder: Encoder | None = None, tables: TermTables | None = None) -> Searcher:
    """Load the current build of ``index`` (an index root, or any ``IndexSource``, e.g. Milvus) and
    the encoder that matches it.

    ``model`` asks for a specific embedding model; it must be the one the index was built with.
    ``tables``: the term tables questions are expanded with (default: the packaged ones).
    """
    from index.embed import load_encoder
    from index.source import FaissSource

    store = (FaissSource(index) if isinstance(index, (str, Path)) else index).open()
    if encoder is None:
        # queries through the fastest engine whose vectors agree with the one that built the index
        encoder = load_encoder(model or store.manifest.get("model_spec"), index_engine=store.manifest.get("engine"))
    return Searcher(store, encoder, tables=tables)


def _places_within(word: str, places: frozenset[str]) -> list[str]:
    """The places ``word`` is or holds (通渭县: 通渭县 and 通渭), longest first."""
    spans = ((start, start + length) for length in range(len(word), 1, -1) for start in range(len(word) - length + 1))
    return [word[start:end] for start, end in spans if word[start:end] in places]
