"""Query text → what must match, what must not, and what is left to rank.

The syntax, for the API's ``q``, the web form and ``speechqa ask``:

* ``"保交楼"``, ``“保交楼”``, ``「保交楼」`` (or ``『』``, full-width ``＂``) — a phrase that must occur
  verbatim in the passage. Whitespace inside it (and in the passage) is ignored and it is matched on
  characters, not jieba words, so ``"上海交通大学"`` never matches 上海 … 交通 … 大学. A quote closes
  at its own closing quote, so a 提法 that carries quotes of another kind is one phrase, quotes and
  all: ``「坚决做到“两个维护”」``, ``"深刻领悟“两个确立”的决定性意义"``. ``“”``, ``「」`` and ``『』``
  nest (``“坚决做到“两个维护””``); ``"`` and ``＂`` cannot. A quote whose own closing quote never
  comes closes at the first closing quote of another kind that closes nothing opened inside it
  (``“保交楼"``), because input methods mix them. For the same reason a closing quote typed for both
  (``”保交楼”``) quotes as ``"`` does, where its twin follows before any whitespace or other quote; an
  opening one typed for both (``“保交楼“``) is an unclosed quote that says so, since ``“`` nests and its
  second may open a quote inside the first. An ellipsis inside it
  (``……``, ``…`` or ``...``) stands for any wording: ``“坚持……是做好……的根本原则”`` matches a
  passage holding its pieces in that order. A quotation mark inside a phrase matches any quotation
  mark (``QUOTATION_MARKS``): ``「坚决做到"两个维护"」`` finds the speeches' “两个维护”, as the
  quote style is typography, not wording.
* ``-词`` or ``-"…"`` — leave out passages that contain it (again verbatim, on characters).
  The minus must open a term (start of the query, after a space or right after a phrase's closing
  quote, as in ``"保交楼"-"粮食"``): the hyphens of COVID-19 or e-commerce are part of the word.
* ``title:词``, ``标题:词`` or ``標題:词`` (either colon, ``：`` too; the value may be quoted) — only speeches
  whose title contains it; ``-title:词`` — only speeches whose title does not.
* Everything else is free text, ranked as before within the passages the rest allows.

A phrase may open anywhere, also in the middle of Chinese text with no spaces around it
(``如何做好“保交楼”工作`` ranks 如何做好 工作 among the passages containing 保交楼). An unclosed
quote or a phrase with nothing in it raises ``QuerySyntaxError`` saying where.

A question may also name its speech by one thing the speech says and ask about another part of it
(那篇要守好“南大门”的发言，在化解楼市风险上用了哪些办法？, "In the speech from the capital of the
Zhuang homeland, what award did …"): ``named_speech_question`` splits off the part it asks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from index.bilingual import has_chinese
from index.errors import QuerySyntaxError
from index.simplified import simplified

# Each opening quote's own closing quote. Chinese text quotes with “”, and in Taiwan, Hong Kong and
# older print with 「」 and 『』 (﹁﹂ and ﹃﹄ where copied from vertical print, 〝〞 in some print);
# ＂ is the full-width ASCII quote some input methods type. " and ＂ open and close with one character,
# so only the others can nest.
CLOSING_QUOTE = {"\"": "\"", "“": "”", "「": "」", "『": "』", "＂": "＂", "〝": "〞", "﹁": "﹂", "﹃": "﹄"}
OPENING_QUOTES = "".join(CLOSING_QUOTE)
CLOSING_QUOTES = "".join(CLOSING_QUOTE.values())
# The marks a phrase's own quotes may be typed as and a speech may print them as, ' and ’ included
# (English text's apostrophes vary the same way): within a phrase each matches any other.
QUOTATION_MARKS = frozenset("\"＂“”‘’'＇「」『』〝〞﹁﹂﹃﹄")
_DROP_QUOTATION_MARKS = str.maketrans("", "", "".join(QUOTATION_MARKS))
_NESTING_OPENER = {closing: opening for opening, closing in CLOSING_QUOTE.items() if opening != closing}
_DROP_QUOTES = str.maketrans("", "", OPENING_QUOTES + CLOSING_QUOTES)
# Zero-width marks that text copied from web pages and Word carries unseen (U+200B space, U+200C/D
# non-joiner and joiner, U+2060 word joiner, U+FEFF): a phrase pasted with one inside must still match.
INVISIBLE_MARKS = "\u200b\u200c\u200d\u2060\ufeff"
_DROP_INVISIBLE = str.maketrans("", "", INVISIBLE_MARKS)
_FIELD = re.compile(r"(?:title|标题|標題)[:：]", re.IGNORECASE)
# Each quoted piece (an ellipsis splits a phrase into pieces), exclusion and title filter is matched
# against the library on its own: 160 pieces of “，…，…” took 295 ms of a 3,579-passage library where a
# search takes 7, and grow with it. A 提法 check asks for a handful.
MAX_QUERY_PARTS = 30
# Written questions quote the pattern of a speech's parallel sentences with an ellipsis where the
# wording varies (“我们深刻认识到，落实总体国家安全观，必须……”): taken literally, no passage holds it.
# Three or more full stops (。。。) are how some type one without the input method's ellipsis key.
_GAP = re.compile(r"…+|⋯+|\.{3,}|。{3,}")
# Questions quote a speech's parts as one list (用“前提在于、关键在于、重点在于”三段来组织): the marks
# that separate its items.
LIST_SEPARATOR = re.compile(r"[、，,；;]")


@dataclass(frozen=True)
class ParsedQuery:
    """A query split by role; phrases, exclusions and title filters are whitespace-free, in query order."""

    text: str
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    excluded_titles: tuple[str, ...] = ()
    # The free text with each phrase's own words back in place, every quote mark dropped (also those
    # inside a phrase, which would otherwise quote again): what a question
    # that quotes wording the speeches do not use is ranked by (Searcher.answer).
    unquoted: str = field(default="", compare=False)

    def without_phrases(self, *, alone: bool = False) -> str | None:
        """The query again with its phrases as plain words and its filters kept, or None when there
        is nothing to relax (no phrase, or nothing but phrases: those stay strict unless ``alone``)."""
        if not self.phrases or not (self.text or alone):
            return None
        return replace(self, text=self.unquoted, phrases=()).written()

    def written(self) -> str:
        """Query text that parses back to this query: its free text, then its phrases, exclusions and
        title filters (quoted where a bare word would not parse back whole). Free text made here rather
        than parsed (a phrase's words put back, a name taken out) is written as plain words too
        (``plain_words``)."""
        def term(value: str) -> str:
            return value if value.isalnum() else _requoted(value)
        return " ".join([part for part in (plain_words(self.text), *map(_requoted, self.phrases)) if part]
                        + [f"-{term(value)}" for value in self.excluded]
                        + [f"title:{term(value)}" for value in self.titles]
                        + [f"-title:{term(value)}" for value in self.excluded_titles])

    @property
    def ranking_text(self) -> str:
        """What the ranking arms see: the free text, or, for a phrase-only query, the phrases without
        their inner quotation marks (which match any mark, so however they are typed the ranking is one)."""
        return self.text or " ".join(self.phrases).translate(_DROP_QUOTATION_MARKS)


@dataclass(frozen=True)
class NamedSpeechQuestion:
    """A question split into the words that name its speech and what it asks of that speech."""

    naming: str
    asked: str
    # the naming words stood inside the asked sentence ("What does the Tongwei speech say …"): the whole
    # question is mostly the asked part, so its best passage is no sign of which speech they name
    inline: bool = False


# The phrasings written questions use to point at one speech before asking about it: "…的那篇(发言)，…",
# "那篇…的发言，…", "…的那座城市，…", "In the speech …, …", "The speech …: …". Each needs enough text
# on both sides that neither half is a stray word; "哪篇" (which speech?) asks for the speech itself.
_NAMED_SPEECH = (
    re.compile(r"^(?P<naming>.{4,}?)(?:那篇|这篇|该篇)(?:发言|讲话|文章)?(?:里|中)?[，,：:]?(?P<asked>.{4,})$"),
    re.compile(r"^那篇(?P<naming>.{2,}?)(?:发言|讲话)(?:里|中)?[，,：:]?(?P<asked>.{4,})$"),
    re.compile(r"^(?P<naming>.{4,}?)的那(?:座|个)(?:城市|市|县|地方|地区)[，,]?(?P<asked>.{4,})$"),
    # English naming clauses hold commas of their own ("… four metaphors (lifeline, sense of security,
    # …), what does it say …"): the asked half opens with a question word where it can.
    re.compile(r"^(?:In|According to|From) (?:the|a|this|that) (?P<naming>[^,]*?\b(?:speech|address|remarks)\b.*?),"
               r"\s*(?P<asked>(?:what|which|how|who|whom|whose|where|when|why|does|do|did|is|are|was|were|can|in|on"
               r"|under|for)\b.{8,})$", re.IGNORECASE),
    re.compile(r"^(?:In|According to|From) (?:the|a|this|that) "
               r"(?P<naming>[^,]*?\b(?:speech|address|remarks)\b[^,]*),\s*(?P<asked>.{8,})$", re.IGNORECASE),
    re.compile(r"^The (?P<naming>(?:speech|address|remarks)\b[^:]+):\s*(?P<asked>.{8,})$", re.IGNORECASE),
)


# English questions name their speech inside the sentence as often as before it: "What does the Tongwei
# county speech identify as …", "Which projects does the port-city ('moat') speech mention …", "What does
# the speech from the capital of the Zhuang region say about …". The naming words are those around
# "speech" up to the verb that asks; the asked half is the question without them ("What does the speech
# identify as …"). A speech with no word of its own ("the speech", "this speech") names nothing.
_SPEECH_WORD = r"(?:speech|address|remarks)"
_ASKING_VERB = (r"(?:say|says|said|describe|describes|identify|identifies|list|lists|mention|mentions|cite|cites|"
                r"propose|proposes|call|calls|name|names|want|wants|single|stress|stresses|emphasi[sz]e|"
                r"highlight|highlights|set|sets|give|gives|use|uses|quote|quotes|define|defines|report|reports|"
                r"promise|promises|require|requires|see|sees|regard|treat|put|urge|urges|point|note|tie|link|"
                r"frame|open|opens|close|closes|end|ends|sum|present|plan|plans|aim|aims|ask|asks|assign|"
                r"assigns|offer|offers|recommend|pledge|commit|attribute|credit|rank|count|view|warn|warns)\b")
_EMBEDDED_NAMING = (
    re.compile(r"\b(?:does|did|do|would)\s+the\s+(?P<naming>(?!(?:same|whole|entire|other|above)\b)"
               r"[^,?;]{2,80}?)\s+" + _SPEECH_WORD + r"(?:\s*\([^()]{1,40}\))?\s+" + _ASKING_VERB, re.IGNORECASE),
    re.compile(r"\b(?:does|did|do|would)\s+the\s+" + _SPEECH_WORD + r"\s+(?P<naming>(?:from|by|of|given|"
               r"delivered|made|at|for)\s+[^,?;]{3,80}?)\s+" + _ASKING_VERB, re.IGNORECASE),
)


def named_speech_question(query: str) -> NamedSpeechQuestion | None:
    """The naming and asking halves of a question phrased as "the speech that says X: what about Y?",
    or None. A split that would cut a quoted phrase in two, or leave nothing to rank in the asked
    half (only punctuation, exclusions or filters), is no split. The patterns read the question in
    simplified characters (那篇 typed 那篇, 發言 as 发言); the halves are the question's own words."""
    query = query.strip()
    folded = simplified(query)  # one character for one: the match's offsets are the question's
    match = next((m for m in (pattern.match(folded) for pattern in _NAMED_SPEECH) if m), None)
    if match is None:
        embedded = next((m for m in (pattern.search(folded) for pattern in _EMBEDDED_NAMING) if m), None)
        if embedded is None:
            return None
        naming = query[embedded.start("naming"):embedded.end("naming")].strip()
        asked = " ".join((query[:embedded.start("naming")] + query[embedded.end("naming"):]).split())
        return _checked(naming, asked, inline=True)
    naming, asked = (query[match.start(half):match.end(half)].strip() for half in ("naming", "asked"))
    if has_chinese(naming):
        # "为加强社会治安智能化防控，“护城河”防线那篇发言要求加快…": the clause before the comma says what is
        # asked, only the words next to 那篇 name the speech (the whole had named the wrong one)
        clause = _last_clause_start(naming)
        naming, asked = naming[clause:].strip(), f"{naming[:clause]}{asked}"
        if not re.search(r"\w", naming):  # "在选人用人上，这篇发言…" names no speech
            return None
    return _checked(naming, asked)


def _last_clause_start(text: str) -> int:
    """Where the last clause of ``text`` starts: after its last comma or semicolon outside quotes; 0 for one clause."""
    start, open_quotes = 0, []
    for offset, char in enumerate(text):
        if open_quotes and char == CLOSING_QUOTE[open_quotes[-1]]:
            open_quotes.pop()
        elif char in CLOSING_QUOTE:
            open_quotes.append(char)
        elif not open_quotes and char in "，,；;":
            start = offset + 1
    return start


def _checked(naming: str, asked: str, *, inline: bool = False) -> NamedSpeechQuestion | None:
    try:
        parse_query(naming)
        words = parse_query(asked).text
    except QuerySyntaxError:
        return None
    return NamedSpeechQuestion(naming=naming, asked=asked, inline=inline) if re.search(r"\w", words) else None


# "哪篇发言分成根本原则、中心任务、最终目的、重要法宝四块来讲？": a question that tells its speech by the
# parts it is divided into, listed without quotes (quoted, ``quoted_items`` reads them). The list runs from
# the dividing verb to the count of parts, its items apart by 、, a comma or a slash; they are matched as
# the speech words them, so an item may carry words of the question (社会稳定与民族团结 is two parts' words).
_PART = r"[^，,、/／。？?！!：:；;“”\"]{2,15}"
_PART_SEPARATOR = re.compile(r"[、，,/／]")
_LISTED_PARTS = re.compile(rf"(?:分成|分为|分|按照|按|依次)(?P<list>{_PART}(?:{_PART_SEPARATOR.pattern}{_PART}){{2,7}}?)"
                           r"(?:[两二三四五六七八九十几\d]+)(?:个)?(?:块|部分|段|方面|板块|层次|点)")
_JOINED_PARTS = re.compile(r"[和与及]")


def listed_parts(query: str) -> list[str]:
    """The parts a question lists its speech by (at least three), in simplified characters, each split where
    和/与/及 join two; [] for any other question."""
    match = _LISTED_PARTS.search(simplified(query))
    if match is None:
        return []
    items = _PART_SEPARATOR.split(match.group("list"))
    return [piece for item in items for piece in _JOINED_PARTS.split(item) if piece]


def squash(text: str) -> str:
    """The text without any whitespace or invisible mark, in simplified characters (index/simplified.py):
    the form phrases are matched in."""
    return simplified(_unspaced(text))


def _unspaced(text: str) -> str:
    """The text without any whitespace or invisible mark, in its own characters: a parsed phrase as typed,
    which the page and ``ask`` quote back (縫 stays 縫), folded only where it is matched."""
    return "".join(visible(text).split())


def visible(text: str) -> str:
    """``text`` without the zero-width marks (``INVISIBLE_MARKS``) that text copied from the web or Word
    carries unseen: as it reads."""
    return text.translate(_DROP_INVISIBLE)


def is_ignored_in_phrases(char: str) -> bool:
    """Whether a phrase match skips ``char`` in the text, as ``squash`` does."""
    return char.isspace() or char in INVISIBLE_MARKS


def phrase_parts(phrase: str) -> tuple[str, ...]:
    """The squashed pieces of ``phrase`` between its ellipses, in order (one piece when it has none)."""
    return tuple(part for part in _GAP.split(squash(phrase)) if part)


def quoted_items(phrases: tuple[str, ...] | list[str]) -> list[str]:
    """The phrases with each quoted list (``根本原则、中心任务、最终目的``) as its items, in order.

    A list's items are wording the speech holds each in a part of its own, not together; an item
    of one character would match nearly every passage, so a list with fewer than two longer items
    stays one phrase.
    """
    items: dict[str, None] = {}
    for phrase in phrases:
        parts = [part for part in LIST_SEPARATOR.split(phrase) if len(part) > 1]
        items.update(dict.fromkeys(parts if len(parts) > 1 else [phrase]))
    return list(items)


def _opens_quote(query: str, at: int) -> bool:
    """Whether the character at ``at`` opens a phrase: an opening quote, or a closing one typed for both."""
    return query[at] in OPENING_QUOTES or _closer_typed_as_opener(query, at)


def _closer_typed_as_opener(query: str, at: int) -> bool:
    """Whether the closing quote at ``at`` opens a phrase as its twin's partner (”保交楼”): a closing quote
    opens nothing, so two around words can only be a pair. Only a twin before any whitespace or other
    quote counts, so that a stray closing quote in free text (两个维护” 是什么”) stays a word's, and free
    text written out with spaces between its words (``ParsedQuery.written``) parses back to itself."""
    mark = query[at]
    if mark not in _NESTING_OPENER:
        return False
    for end in range(at + 1, len(query)):
        if query[end] == mark:
            return bool(phrase_parts(query[at + 1:end]))  # ”” is no empty phrase to refuse: it was never one
        if query[end].isspace() or query[end] in OPENING_QUOTES or query[end] in CLOSING_QUOTES:
            return False
    return False


def _closing_quote(query: str, opening: int) -> int | None:
    """Where the quote at ``opening`` closes (see the module docstring), or None when nothing closes it."""
    opener = query[opening]
    closer = CLOSING_QUOTE.get(opener, opener)  # a closing quote typed for both closes at its twin
    depth = 0  # quotes of its own kind opened inside it and not yet closed
    opened_inside = dict.fromkeys(_NESTING_OPENER.values(), 0)  # the same for each other kind that nests
    mixed = None
    for i in range(opening + 1, len(query)):
        char = query[i]
        if char == closer:
            if depth == 0:
                return i
            depth -= 1
        elif char == opener:
            depth += 1
        elif char in _NESTING_OPENER and opened_inside[_NESTING_OPENER[char]]:
            opened_inside[_NESTING_OPENER[char]] -= 1
        elif char in CLOSING_QUOTES and mixed is None:  # it closes nothing opened inside
            mixed = i
        elif char in opened_inside:
            opened_inside[char] += 1
    return mixed


def plain_words(text: str) -> str:
    """``text`` with each of its words written so that it parses as words: a leading ``-`` would exclude
    it and a leading ``title:`` filter by it (“-粮食” 安全, searched without its quotes, had excluded
    粮食), so the dashes are dropped and the field's colon spaced off; a lone ``-`` is a word already."""
    # a closing quote that would pair with its twin (﹄两﹄, left in free text by the phrases taken out
    # between them) is a stray mark there, not a quote: dropped, it cannot turn words into a phrase
    words = ("".join(char for at, char in enumerate(word) if not _closer_typed_as_opener(word, at))
             for word in text.split())
    return " ".join(written for word in words if (written := _plain_word(word)))


def _plain_word(word: str) -> str:
    """One word of ``plain_words``: its leading dashes dropped and a leading field's colon spaced off, again for
    what follows that field (标题:-: had left -: behind it, which excluded “:”)."""
    word = word if word == "-" else word.lstrip("-")
    field = _FIELD.match(word)
    if not field:
        return word
    return f"{field.group()[:-1]} {_plain_word(word[field.end():])}".strip()


def _requoted(term: str) -> str:
    """``term`` between the first kind of quotes that parses back to it.

    One always does: a term parsed from a query holds no ``"`` unless it was quoted with another kind,
    whose quotes it then holds balanced or not at all.
    """
    return next(quoted for opening, closing in CLOSING_QUOTE.items()
                if _closing_quote(quoted := f"{opening}{term}{closing}", 0) == len(quoted) - 1)


def _quoted(query: str, opening: int) -> tuple[str, int]:
    """The content of the phrase whose quote is at ``opening``, whitespace and invisible marks dropped, and
    the index after its close."""
    close = _closing_quote(query, opening)
    if close is None:
        closing = CLOSING_QUOTE[query[opening]]
        # ”保交楼“: the closing mark typed first, where the opening one belongs
        reversed_ = closing != query[opening] and closing in query[:opening]
        # “保交楼“: the opening mark typed for both, and no closing one anywhere after it
        after = query[opening + 1:]
        both_opening = closing != query[opening] and query[opening] in after and closing not in after
        advice = (f"the quotes look reversed: write {query[opening]}…{closing}" if reversed_
                  else f"both quotes are opening ones: write {query[opening]}…{closing}" if both_opening
                  else "add the closing quote or remove it")
        raise QuerySyntaxError(
            f"unclosed quote {query[opening]} at character {opening + 1} of q "
            f"(…{query[opening:opening + 12]}) — {advice}",
            kind="unclosed_quote", at=opening + 1, part=query[opening], shown=query[opening:opening + 12],
            reversed_quotes=reversed_, both_opening=both_opening)
    phrase = _unspaced(query[opening + 1:close])
    if not phrase_parts(phrase):
        raise QuerySyntaxError(
            f"empty phrase {query[opening:close + 1]} at character {opening + 1} of q — "
            "put the exact wording between the quotes or remove them",
            kind="empty_phrase", at=opening + 1, part=query[opening:close + 1], shown=query[opening:close + 1])
    return phrase, close + 1


def _word_end(query: str, start: int) -> int:
    """Where a bare word starting at ``start`` ends: at whitespace or a quote that opens a phrase."""
    end = start
    while end < len(query) and not query[end].isspace() and not _opens_quote(query, end):
        end += 1
    return end


def _field_value(query: str, field: re.Match) -> tuple[str, int]:
    """The value of the ``title:`` at ``field`` (quoted or up to the next space), and the index after it."""
    start = field.end()
    if start < len(query) and _opens_quote(query, start):
        value, end = _quoted(query, start)
    else:
        end = _word_end(query, start)
        value = query[start:end]
    if not value:
        raise QuerySyntaxError(
            f"{field.group()} at character {field.start() + 1} of q has no value — "
            f"write it with the words the title must contain, e.g. {field.group()}安全",
            kind="no_value", at=field.start() + 1, part=field.group(), shown=query[field.start():field.start() + 12])
    return value, end


def parse_query(query: str) -> ParsedQuery:
    """Split ``query`` into free text, phrases, exclusions and title filters (see the module docstring)."""
    words: list[str] = []
    unquoted: list[tuple[bool, str]] = []  # (after whitespace?, text): Chinese quotes glue to their words
    phrases: dict[str, None] = {}
    excluded: dict[str, None] = {}
    titles: dict[str, None] = {}
    excluded_titles: dict[str, None] = {}
    i, n = 0, len(query)
    term_start = True  # at the start of the query or after whitespace
    after_phrase = False  # right after a phrase's closing quote, which ends a term as whitespace does
    while i < n:
        char = query[i]
        opens_term = term_start or after_phrase  # where - and title: count
        after_phrase = False
        if char.isspace():
            i += 1
            term_start = True
            continue
        if _opens_quote(query, i):
            opening = i
            phrase, i = _quoted(query, i)
            phrases[phrase] = None
            # glued to the words around it (什么是“五联”机制), not to a phrase right before it (“前提在于”“关键在于”)
            unquoted.append((opens_term, query[opening + 1:i - 1].translate(_DROP_QUOTES).strip()))
            term_start, after_phrase = False, True
            continue
        if opens_term and char == "-" and i + 1 < n and not query[i + 1].isspace():
            if field := _FIELD.match(query, i + 1):
                value, i = _field_value(query, field)
                excluded_titles[value] = None
                term_start = False
                continue
            if _opens_quote(query, i + 1):
                term, i = _quoted(query, i + 1)
            else:
                end = _word_end(query, i + 1)
                term, i = query[i + 1:end], end
            excluded[term] = None
            term_start = False
            continue
        field = _FIELD.match(query, i) if opens_term else None
        if field:
            value, i = _field_value(query, field)
            titles[value] = None
            term_start = False
            continue
        end = _word_end(query, i)
        words.append(query[i:end])
        unquoted.append((term_start, query[i:end]))
        i = end
        term_start = False
    parts = sum(len(phrase_parts(phrase)) for phrase in phrases) + len(excluded) + len(titles) + len(excluded_titles)
    if parts > MAX_QUERY_PARTS:
        raise QuerySyntaxError(f"q has {parts} quoted pieces, exclusions and title filters — at most "
                               f"{MAX_QUERY_PARTS}: leave some out", kind="too_many_parts", at=1, part=str(parts))
    return ParsedQuery(text=" ".join(words), phrases=tuple(phrases), excluded=tuple(excluded),
                       titles=tuple(titles), excluded_titles=tuple(excluded_titles),
                       unquoted="".join((" " if spaced else "") + piece for spaced, piece in unquoted).strip())
