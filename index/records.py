"""The nouns that travel between stages, as frozen dataclasses.

Offsets are character offsets (not bytes) into the source as the parser reads it
(``parse.read_corpus_file``: decoded, line ends made ``\n``, each line trimmed, blank lines and
lines left out as advertisements or page furniture dropped), so a passage's text is always
``source_text[start:end]`` of that text.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Block:
    """One paragraph of a speech body, exactly as in the source.

    ``kind`` is ``"heading"`` for a heading line (一、… / （一）… / 1. …), ``"point"``
    for a paragraph opened by a speech-style point (一是… / 第一，… / 一要…) and
    ``"paragraph"`` otherwise. ``section`` is the heading path the block belongs
    to, outermost first, and includes the block's own heading when it opens one
    (an inline 一、heading at the start of a long paragraph counts).
    """

    kind: str
    text: str
    start: int
    end: int
    section: tuple[str, ...] = ()
    heading: str = ""


# The metadata a speech may carry (Speech and SpeechInfo fields of the same names).
SPEECH_METADATA = ("date", "place", "speaker", "occasion", "collection")


@dataclass(frozen=True)
class Speech:
    """One speech: title, where it came from, and its body blocks in order.

    ``date`` (ISO, 2023-04-15), ``place``, ``speaker`` and ``occasion`` come from a metadata
    header or a sidecar file, the date also from a dated line of the text (index/parse.py);
    ``collection`` is the title of the compilation the speech came from. Each is None when
    unknown, never guessed.
    """

    id: str
    title: str
    source: str
    start: int
    end: int
    blocks: tuple[Block, ...]
    title_inferred: bool = False
    date: str | None = None
    place: str | None = None
    speaker: str | None = None
    occasion: str | None = None
    collection: str | None = None

    @property
    def sections(self) -> list[tuple[str, ...]]:
        """Distinct section paths in document order (the speech's own lead-in is ``()``)."""
        seen: dict[tuple[str, ...], None] = {}
        for block in self.blocks:
            seen.setdefault(block.section, None)
        return list(seen)


@dataclass(frozen=True)
class SpeechInfo:
    """What the index keeps of a speech: enough to list it and show its outline."""

    id: str
    title: str
    source: str
    title_inferred: bool
    sections: tuple[tuple[str, ...], ...]
    passages: int
    date: str | None = None
    place: str | None = None
    speaker: str | None = None
    occasion: str | None = None
    collection: str | None = None


@dataclass(frozen=True)
class Passage:
    """A retrievable unit: consecutive blocks of one section of one speech."""

    id: str
    speech_id: str
    speech_title: str
    source: str
    section: tuple[str, ...]
    first_block: int
    last_block: int
    start: int
    end: int
    text: str
    ordinal: int = 0
    # The canonical passage of this one's reprint group (index/dedup.py); None when it is the
    # canonical one or has no near-duplicate.
    duplicate_of: str | None = None
    # The passages whose paragraphs this one is spliced from (index/spliced.py), the one holding most of
    # it first, which ranks in its place; empty when it is not spliced (always, for a reprint copy).
    spliced_from: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict) -> "Passage":
        """A passage from its ``asdict`` read back from JSON (lists for tuples; a build before spliced
        passages were marked has no ``spliced_from``)."""
        return cls(**dict(data, section=tuple(data["section"]), spliced_from=tuple(data.get("spliced_from", ()))))


@dataclass(frozen=True)
class ArmScore:
    """One retrieval arm's view of a hit (``rank`` is 1-based; None when the arm missed it)."""

    score: float | None
    rank: int | None


@dataclass(frozen=True)
class Hit:
    """A ranked search result; ``best_span`` is the dense arm's best sentence, as offsets into the passage text.

    ``sentence_scores`` is each sentence's cosine to the query, in reading order, when the search
    embedded the query (the evidence ``service.highlight.best_sentence`` weighs).
    """

    passage: Passage
    rank: int
    score: float
    scores: dict[str, ArmScore] = field(default_factory=dict)
    best_span: tuple[int, int] | None = None
    sentence_scores: tuple[float, ...] | None = None
    # Reprints folded into this result, and, when results are grouped by speech, how many more
    # results its speech has.
    duplicates: tuple[Passage, ...] = ()
    more_in_speech: int | None = None
    # Spliced passages (index/spliced.py) of other speeches folded into this result or carrying one of its
    # paragraphs, and, where this is such a passage shown for its source, that source's.
    also_in: tuple[Passage, ...] = ()
    # The probability that this passage answers the question (index/calibrate.py); None where
    # no model scores the hit (similar passages).
    confidence: float | None = None


@dataclass(frozen=True)
class Answer:
    """What a question gets: its hits, and how the question was read.

    ``phrases_relaxed``: no passage held its quoted wording, so it was ranked without the quotes.
    ``phrases_spread``: the speeches that hold every quote between their passages lead with the
    passages that hold one (relaxed too: no one passage holds them all).
    ``phrases_held``: of a question with other words whose quoted wording fewer passages than asked for
    hold, how many leading hits hold it; the hits after them rank the question without its quotes.
    None when no hit was added so.
    ``named_speech``: the id of the speech the question named ("那篇…的发言，…"), whose passages
    for ``asked`` (the rest of the question) lead the hits; None when it named none.
    ``speakers_named``: the speakers' names the question holds whose passages lead the hits;
    ``parts_listed``: the parts a question listed its speech by (as the speech words them) whose
    passages lead the hits; empty when none did.
    """

    hits: list[Hit]
    phrases_relaxed: bool = False
    phrases_spread: bool = False
    phrases_held: int | None = None
    named_speech: str | None = None
    asked: str | None = None
    speakers_named: tuple[str, ...] = ()
    parts_listed: tuple[str, ...] = ()
