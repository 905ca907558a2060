"""Dense, lexical and fused (reciprocal-rank) search over a loaded index."""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from index.errors import BadQuery, ModelMismatch
from index.lexical import LEXICAL_VERSION, tokenize
from index.records import ArmScore, Hit, Passage
from index.store import IndexStore, Match, SpeechInfo

if TYPE_CHECKING:
    from index.embed import Encoder

MODES = ("hybrid", "dense", "bm25")
MAX_K = 50
MAX_QUERY_CHARS = 500
# Cormack et al.'s constant; bench/ and eval/ measured the alternatives (see README).
RRF_K = 60
# How deep each arm looks before fusion: a passage ranked low by one arm and high by the
# other must still be seen by both.
FUSION_DEPTH = 100
_MISSED = ArmScore(None, None)


def validate(query: str, k: int, mode: str) -> str:
    """Return the stripped query or raise BadQuery with a message saying what is allowed."""
    if not isinstance(query, str) or not query.strip():
        raise BadQuery("q must be a non-empty question")
    query = query.strip()
    if len(query) > MAX_QUERY_CHARS:
        raise BadQuery(f"q must be at most {MAX_QUERY_CHARS} characters (got {len(query)})")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise BadQuery(f"k must be an integer between 1 and {MAX_K}")
    if mode not in MODES:
        raise BadQuery(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    return query


def fuse(arms: dict[str, list[Match]], *, rrf_k: int = RRF_K,
         limit: int | None = None) -> list[tuple[int, float, dict[str, ArmScore]]]:
    """Reciprocal-rank fusion: each arm adds 1/(rrf_k + rank) for the rows it ranked.

    Returns the best ``limit`` (default all) as (row, fused score, per-arm score and rank),
    best first; ties keep the order in which the arms first listed the rows, so the result
    is deterministic.
    """
    fused: dict[int, float] = {}  # insertion order = first appearance, which the stable sort keeps for ties
    seen: dict[int, dict[str, ArmScore]] = {}
    for arm, ranked in arms.items():
        for rank, match in enumerate(ranked, start=1):
            fused[match.row] = fused.get(match.row, 0.0) + 1.0 / (rrf_k + rank)
            seen.setdefault(match.row, {})[arm] = ArmScore(score=match.score, rank=rank)
    best = sorted(fused, key=fused.__getitem__, reverse=True)[:limit]
    return [(row, fused[row], {arm: seen[row].get(arm, _MISSED) for arm in arms}) for row in best]


class Searcher:
    """Answers questions from one loaded index with one query encoder.

    Every mode fuses its lists by reciprocal rank: ``dense`` fuses the sentence and the
    sentence-pair views, ``hybrid`` fuses those two with BM25, ``bm25`` has one list
    (so its score is 1/(rrf_k + rank)); each hit keeps every list's own score and rank.
    """

    def __init__(self, store: IndexStore, encoder: Encoder, *, rrf_k: int = RRF_K, depth: int = FUSION_DEPTH):
        if encoder.model_id != store.manifest["model_id"]:
            raise ModelMismatch(
                f"the index was built with model {store.manifest['model_id']!r} but queries would use "
                f"{encoder.model_id!r} — rebuild with `speechqa build --model {encoder.model_id}` "
                "or query without --model")
        if store.manifest.get("lexical") != LEXICAL_VERSION:
            raise ModelMismatch(f"the index was tokenised with {store.manifest.get('lexical')!r}, this program "
                                f"uses {LEXICAL_VERSION!r} — run `speechqa build`")
        self.store = store
        self.encoder = encoder
        self.rrf_k = rrf_k
        self.depth = depth
        self.manifest = store.manifest
        self.passages = store.passages
        self.speeches = store.speeches
        self._row = {p.id: i for i, p in enumerate(store.passages)}
        self._speech = {s.id: s for s in store.speeches}
        self._speech_rows: dict[str, list[int]] = {}
        for row, passage in enumerate(store.passages):
            self._speech_rows.setdefault(passage.speech_id, []).append(row)

    def search(self, query: str, *, k: int = 10, mode: str = "hybrid", speech: str | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``; ``speech`` restricts to one speech id."""
        query = validate(query, k, mode)
        rows = None
        if speech:
            if speech not in self._speech:
                raise BadQuery(f"unknown speech id {speech!r} — see /api/speeches")
            rows = self._speech_rows.get(speech, [])
        depth = max(k, self.depth)
        arms: dict[str, list[Match]] = {}
        if mode in ("hybrid", "dense"):
            vector = self.encoder.encode_queries([query])[0]
            views = self.store.dense_search(vector, depth, rows)
            arms["dense"], arms["dense_window"] = views["sentence"], views["window"]
        if mode in ("hybrid", "bm25"):
            arms["bm25"] = self.store.lexical_search(tokenize(query), depth, rows)
        ranked = fuse(arms, rrf_k=self.rrf_k, limit=k)
        spans = {m.row: m.span for m in arms.get("dense", [])}
        return [Hit(passage=self.passages[row], rank=rank, score=score, scores=scores, best_span=spans.get(row))
                for rank, (row, score, scores) in enumerate(ranked, start=1)]

    def passage(self, passage_id: str) -> Passage:
        """The passage with this id (KeyError if none)."""
        return self.passages[self._row[passage_id]]

    def neighbours(self, passage_id: str) -> tuple[str | None, str | None]:
        """Ids of the previous and next passage of the same speech."""
        row = self._row[passage_id]
        speech_id = self.passages[row].speech_id
        before = self.passages[row - 1].id if row > 0 and self.passages[row - 1].speech_id == speech_id else None
        after = (self.passages[row + 1].id
                 if row + 1 < len(self.passages) and self.passages[row + 1].speech_id == speech_id else None)
        return before, after

    def speech(self, speech_id: str) -> SpeechInfo:
        """The speech with this id (KeyError if none)."""
        return self._speech[speech_id]

    def speech_passages(self, speech_id: str) -> list[Passage]:
        """A speech's passages in reading order."""
        return [self.passages[row] for row in self._speech_rows.get(speech_id, [])]


def hit_to_dict(hit: Hit) -> dict:
    """The JSON shape of one result, shared by `speechqa ask --json` and the HTTP API."""
    passage = hit.passage
    return {
        "rank": hit.rank,
        "score": hit.score,
        "passage_id": passage.id,
        "text": passage.text,
        "speech": {"id": passage.speech_id, "title": passage.speech_title, "source": passage.source},
        "section": list(passage.section),
        "scores": {arm: {"score": s.score, "rank": s.rank} for arm, s in hit.scores.items()},
        "best_span": list(hit.best_span) if hit.best_span else None,
        "start": passage.start,
        "end": passage.end,
    }


def search_payload(searcher: Searcher, query: str, *, k: int = 10, mode: str = "hybrid",
                   speech: str | None = None) -> dict:
    """Run a search and wrap it as ``{"query", "mode", "took_ms", "results"}``."""
    started = time.perf_counter()
    hits = searcher.search(query, k=k, mode=mode, speech=speech)
    took_ms = (time.perf_counter() - started) * 1000
    return {"query": query.strip(), "mode": mode, "speech": speech or None, "took_ms": round(took_ms, 2),
            "results": [hit_to_dict(h) for h in hits]}


def load_searcher(index_root: Path | str, *, model: str | None = None, encoder: Encoder | None = None) -> Searcher:
    """Load the current build under ``index_root`` and the encoder that matches it.

    ``model`` asks for a specific embedding model; it must be the one the index was built with.
    """
    from index.embed import load_encoder
    from index.lifecycle import current_build
    from index.store import load

    store = load(current_build(Path(index_root)))
    if encoder is None:
        encoder = load_encoder(model or store.manifest.get("model_spec"))
    return Searcher(store, encoder)
