"""The index on disk and in memory: passages, a FAISS dense index, a bm25s lexical index.

A build directory holds::

    manifest.json   model, dimension, chunker/lexical versions, corpus hash, counts,
                    build time, and a sha256 for every other file
    passages.jsonl  one Passage per line; row i = BM25 document i
    units.npy       (passage row, start, end, view) per embedded span, in passage-row order
    unit_vectors.npy  the FAISS row of each unit's vector: one row per distinct vector, since
                    reprints and boilerplate repeat sentences verbatim (builds before it: unit j = row j)
    speeches.json   the speeches (id, title, source, sections)
    dense.faiss     normalised span vectors, each distinct one once, so inner product is cosine
    bm25/           bm25s's own save format
    phrases.npz     the verbatim phrase matcher (index/phrase.py), seconds to make on a large library
    files_read.json every corpus file the build read, by path, with its content digest
                    (``index.corpus.content_digest``): what `speechqa add` proves a file unchanged against

The dense arm scores a passage by its best-matching span in each of two views, single
sentences and pairs of consecutive sentences: whole-passage vectors of ~400 tokens blur
a paragraph's point (README, "Quality", has the measurements).

``IndexStore`` is the small interface search needs; ``FaissBm25Store`` is the
single-machine implementation. A store for a server-side engine (Milvus: dense
vectors plus BM25 over a jieba analyzer) implements the same two searches.
"""
from __future__ import annotations

import json
import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple, Protocol, Sequence

import bm25s
import faiss
import numpy as np

from index.errors import IndexCorrupt, IndexNotBuilt, as_written
from index.files import atomic_writer, sha256_file
from index.lexical import TermStats
from index.phrase import PhraseIndex
from index.records import Passage, SpeechInfo

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
SPEECHES = "speeches.json"
DENSE = "dense.faiss"
UNITS = "units.npy"
UNIT_VECTORS = "unit_vectors.npy"
BM25_DIR = "bm25"
PHRASES = "phrases.npz"
FILES_READ = "files_read.json"

# Above this many distinct span vectors the dense index is an inverted file (IVF) instead of an
# exact scan: one query scanned the 10M-character library's 121,065 vectors in 20-28 ms on one core
# of the AMD EPYC (memory bound), ~165 ms per million, so 50k costs ~8 ms.
EXACT_SEARCH_LIMIT = 50_000
# IVF lists: 4·√n (faiss's guide: 4-16·√n), at most one per 39 training vectors (k-means' minimum);
# a query probes one in 16. On that library (1,392 lists, 87 probed; bench/ivf.py) tuning + held-out
# hybrid R@1/R@5/MRR@10 in-process were .837/.897/.862, the exact index's own, and the dense search
# 6.5 ms against 20.9 (expanding 4,000 found vectors to their passages is about half the 6.5).
IVF_LISTS_PER_ROOT = 4
IVF_MIN_TRAINING = 39
IVF_PROBED_SHARE = 16
# The IVF keeps each vector as 8 bits a dimension (faiss's scalar quantizer), not 32: on the 50M-character
# library (566,160 vectors; AMX Xeon, bench/results/intel-xeon-amx/) the seven blind sets' 887 questions
# scored the same hybrid Recall@1/@5 and MRR@10 as over the fp32 IVF, the dense search took 4.9 ms
# instead of 7.5, and the index 220 MiB instead of 842 (memory and disk); on the 10M one, over 1,071
# questions, as the exact scan, with fp32 lists two or three questions above both. Vectors read back
# from it keep cosine >= 0.9988 to the stored ones (mean 0.999997).
IVF_ENCODING = faiss.ScalarQuantizer.QT_8bit
# A build that adds to a library keeps its IVF's training (the lists' centroids and the 8-bit ranges)
# while the vectors number within this factor of those it was trained on, and trains again beyond it:
# training is k-means over every vector, 9 s of the 10M-character library's build and 99 s of the 50M
# one's on the Zen 5 EPYC, where filling the trained lists takes 1.2 and 8.3 s.
IVF_RETRAIN_GROWTH = 1.25
# Builds made before IVF, with over 150k vectors, are HNSW graphs: searched as they were made.
HNSW_EF_SEARCH = 512
# The dense views, in the order of units.npy's view column.
VIEWS = ("sentence", "window")
# A dense search first fetches this many spans per passage wanted and fetches four times as many
# while either view holds fewer than k distinct passages. On the 10M-character library (tuning,
# held-out, blind and others_a questions) 10 per passage sufficed for 88% of the questions; the
# fixed 4,000 spans it replaced cost 1.35 ms in FAISS against 0.76 for 1,000, and left 5 of 478
# questions with under 100 passages in a view (one with 5): a top-N list can be all windows.
SPANS_PER_PASSAGE = 10
DEEPER = 4


class Match(NamedTuple):
    """One arm's candidate: a passage row, its score, and for the dense arm the best sentence."""

    row: int
    score: float
    span: tuple[int, int] | None = None


class IndexStore(Protocol):
    """The searches the retrieval layer runs, whatever engine holds the vectors and terms."""

    manifest: dict
    passages: list[Passage]
    speeches: list[SpeechInfo]
    # Whether a search within some rows costs about what a search of all does (the rows stay in this
    # process), so that every search may leave reprints' copies out; a remote engine is sent the rows
    # in its filter expression, thousands of ids a question.
    restricts_in_process: bool

    def dense_search(self, query: np.ndarray, k: int, rows: Sequence[int] | None = None) -> dict[str, list[Match]]:
        """Per view, the best ``k`` passages by their best span's cosine to a unit query vector."""

    def lexical_search(self, terms: Sequence[str], k: int, rows: Sequence[int] | None = None) -> list[Match]:
        """Best ``k`` passages by BM25, positive scores only, optionally within ``rows``."""


def span_search_depths(k: int, candidates: int):
    """How many spans a dense search fetches, try after try, until ``k`` passages survive in each view.

    Each try is exact, not approximate: a passage missing from a top-N list has every span below
    the N-th score, so the first ``k`` distinct passages of the list are the best ``k`` by best span.
    A try that would fetch over half the candidates fetches them all (one search, not two, where
    k passages are most of a small library's).
    """
    depth = k * SPANS_PER_PASSAGE
    while True:
        depth = candidates if 2 * depth > candidates else depth
        yield depth
        if depth == candidates:
            return
        depth *= DEEPER


def best_span_per_passage(units: np.ndarray, unit_ids: np.ndarray, scores: np.ndarray, k: int) -> dict[str, list[Match]]:
    """Per view, the best ``k`` passages (or as many as the spans hold) by their best span.

    ``unit_ids`` are rows of ``units`` (units.npy: passage row, start, end, view) in descending
    ``scores`` order, as a vector search returns them, so a passage's first span in the list is its
    max. Rows are gathered with ``np.take``: on the 10M library's ~11k spans a query, indexing
    with ``units[unit_ids]`` took 1.6 ms, ``np.take`` 0.2.
    """
    spans = np.take(units, unit_ids, axis=0)
    matches = {}
    for view_number, view in enumerate(VIEWS):
        in_view = np.flatnonzero(spans[:, 3] == view_number)
        _, first = np.unique(np.take(spans[:, 0], in_view), return_index=True)
        best = np.take(in_view, np.sort(first)[:k])
        matches[view] = [Match(row, score, (start, end)) for (row, start, end), score
                         in zip(np.take(spans, best, axis=0)[:, :3].tolist(), np.take(scores, best).tolist())]
    return matches


def units_by_vector(unit_vectors: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The units grouped by vector: unit ids ordered by vector, and where each vector's group starts."""
    order = np.argsort(unit_vectors, kind="stable")
    return order, np.searchsorted(unit_vectors[order], np.arange(count + 1))


def ivf_lists(count: int) -> int:
    """How many inverted lists an IVF over ``count`` vectors gets."""
    return max(1, min(round(IVF_LISTS_PER_ROOT * math.sqrt(count)), count // IVF_MIN_TRAINING))


def keeps_training(trained_on: int, count: int) -> bool:
    """Whether an IVF trained on ``trained_on`` vectors may hold ``count`` without training again."""
    return trained_on / IVF_RETRAIN_GROWTH <= count <= trained_on * IVF_RETRAIN_GROWTH


def make_dense_index(vectors: np.ndarray, *, exact_limit: int | None = None,
                     trained: faiss.IndexIVFScalarQuantizer | None = None) -> faiss.Index:
    """Exact inner-product search up to ``exact_limit`` rows (default ``EXACT_SEARCH_LIMIT``), an
    inverted file (IVF) above: ``trained``'s lists emptied and filled with ``vectors`` when given (it
    is reused), else lists trained on ``vectors``.

    The IVF keeps a direct map, so stored vectors can be read back (similar passages, a Milvus copy),
    as its 8-bit codes decode them.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if len(vectors) <= (EXACT_SEARCH_LIMIT if exact_limit is None else exact_limit):
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index
    if trained is not None and trained.d == dim:
        index = trained
        index.reset()
    else:
        index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, ivf_lists(len(vectors)), IVF_ENCODING,
                                              faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
    index.add(vectors)
    index.make_direct_map()
    index.nprobe = max(1, index.nlist // IVF_PROBED_SHARE)
    return index


def make_lexical_index(documents: Sequence[str]) -> bm25s.BM25:
    """BM25 (Lucene variant) over passages' documents, each its terms joined by spaces.

    Each document becomes its terms' ids as it is split, so only one passage's terms exist as
    strings at a time (all of them at once took gigabytes at 50M characters); the vocabulary is
    numbered in order of first use, which also makes the saved index the same on every run.
    """
    vocabulary: dict[str, int] = {}
    ids = [[vocabulary.setdefault(term, len(vocabulary)) for term in document.split(" ") if term]
           for document in documents]
    retriever = bm25s.BM25(method="lucene")
    # an empty document's empty id list still keeps rows aligned
    retriever.index((ids, vocabulary), show_progress=False)
    return retriever


class FaissBm25Store:
    """An in-process index: FAISS for vectors, bm25s for terms."""

    restricts_in_process = True

    def __init__(self, manifest: dict, passages: list[Passage], speeches: list[SpeechInfo],
                 dense: faiss.Index, lexical: bm25s.BM25, units: np.ndarray, phrases: PhraseIndex | None = None,
                 unit_vectors: np.ndarray | None = None, files_read: dict[str, str] | None = None):
        self.manifest = manifest
        self.files_read = files_read  # written with the build, never loaded: only `add` reads it (read_files_read)
        self.phrases = phrases
        self.passages = passages
        self.speeches = speeches
        self.dense = dense
        self.lexical = lexical
        self.units = units
        self.unit_vectors = np.arange(len(units), dtype=np.int64) if unit_vectors is None else unit_vectors
        self._by_vector, self._vector_starts = units_by_vector(self.unit_vectors, dense.ntotal)

    def span_vectors(self, unit_ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these units."""
        ids = self.unit_vectors[np.asarray(unit_ids, dtype=np.int64)]
        if len(ids) == 0:
            return np.zeros((0, self.dense.d), dtype=np.float32)
        return self.dense.reconstruct_batch(ids)

    def dense_search(self, query, k, rows=None):
        candidates = self.dense.ntotal
        params = None
        allowed_units = None
        if rows is not None:
            allowed_units = np.isin(self.units[:, 0], np.asarray(rows, dtype=np.int64))
            allowed_vectors = np.unique(self.unit_vectors[allowed_units])
            candidates = len(allowed_vectors)
            selector = faiss.IDSelectorBatch(allowed_vectors.astype(np.int64))
            params = _restricted(self.dense, selector)
        if k <= 0 or candidates <= 0:
            return {view: [] for view in VIEWS}
        query = np.asarray(query, dtype=np.float32).reshape(1, -1)
        for depth in span_search_depths(k, candidates):
            scores, ids = self.dense.search(query, depth, params=params)
            found = ids[0] >= 0
            unit_ids, unit_scores = self._units_of(ids[0][found], scores[0][found])
            if allowed_units is not None:
                kept = allowed_units[unit_ids]
                unit_ids, unit_scores = unit_ids[kept], unit_scores[kept]
            views = best_span_per_passage(self.units, unit_ids, unit_scores, k)
            # an IVF returns at most what its probed lists hold: a deeper try would find nothing new
            if min(map(len, views.values())) >= k or found.sum() < depth:
                break
        return views

    def _units_of(self, vector_ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every unit of each found vector, in the vectors' (score) order, with its vector's score."""
        starts = np.take(self._vector_starts, vector_ids)
        counts = np.take(self._vector_starts, vector_ids + 1) - starts
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.take(self._by_vector, np.repeat(starts, counts) + offsets), np.repeat(scores, counts)

    def passage_terms(self) -> TermStats:
        """Which passages hold each BM25 term, read from the BM25 index.

        The same as tokenising every passage again (tests/test_store.py), without the minute jieba
        takes for that on a large library: bm25s keeps a term-by-passage score matrix in
        compressed columns whose entries are exactly the passages holding each term.
        """
        scores = self.lexical.scores
        return TermStats(dict(self.lexical.vocab_dict), np.asarray(scores["indptr"], dtype=np.int64),
                         np.asarray(scores["indices"], dtype=np.int64), len(self.passages))

    def lexical_search(self, terms, k, rows=None):
        if not terms:
            return []
        scores = self.lexical.get_scores(list(terms))
        if rows is not None:
            mask = np.zeros_like(scores, dtype=bool)
            mask[np.asarray(rows, dtype=np.int64)] = True
            scores = np.where(mask, scores, 0.0)
        positive = np.flatnonzero(scores > 0)
        if len(positive) > k:
            positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
        best = positive[np.lexsort((positive, -scores[positive]))]
        return [Match(int(i), float(scores[i])) for i in best]

    def save(self, directory: Path) -> dict:
        """Write this index into ``directory`` (which must be new) and return its final manifest.

        The manifest is written last and lists a checksum of every file, so a directory
        without a valid manifest is never mistaken for an index.
        """
        directory.mkdir(parents=True)
        with open(directory / PASSAGES, "w", encoding="utf-8") as handle:
            for passage in self.passages:
                handle.write(json.dumps(asdict(passage), ensure_ascii=False) + "\n")
        (directory / SPEECHES).write_text(
            json.dumps([asdict(s) for s in self.speeches], ensure_ascii=False, indent=1), encoding="utf-8")
        faiss.write_index(self.dense, str(directory / DENSE))
        np.save(directory / UNITS, np.asarray(self.units, dtype=np.int64))
        np.save(directory / UNIT_VECTORS, np.asarray(self.unit_vectors, dtype=np.int64))
        self.lexical.save(str(directory / BM25_DIR))
        if self.phrases is None:
            self.phrases = PhraseIndex.from_texts([p.text for p in self.passages])
        self.phrases.save(directory / PHRASES)
        if self.files_read is not None:
            (directory / FILES_READ).write_text(json.dumps(self.files_read, ensure_ascii=False, indent=0),
                                                encoding="utf-8")
        self.manifest = dict(self.manifest, format=FORMAT_VERSION, files={
            str(p.relative_to(directory)): sha256_file(p) for p in _data_files(directory)})
        with atomic_writer(directory / MANIFEST) as handle:
            json.dump(self.manifest, handle, ensure_ascii=False, indent=1)
        return self.manifest

    @classmethod
    def load(cls, directory: Path) -> "FaissBm25Store":
        """Load and check a build directory: manifest, every checksum, and agreeing counts."""
        manifest = read_manifest(directory)
        # The checksums are computed on another thread while this one parses (hashlib lets go of
        # the GIL): 0.3 s of a 10M-character library's start. Nothing is returned before both end.
        with ThreadPoolExecutor(max_workers=1) as pool:
            verified = pool.submit(verify, directory, manifest)
            store = cls._read(directory, manifest, verified)
            verified.result()
        return store

    @classmethod
    def _read(cls, directory: Path, manifest: dict, verified: Future) -> "FaissBm25Store":
        try:
            passages = read_passages(directory)
            speeches = [SpeechInfo(**dict(s, sections=tuple(tuple(x) for x in s["sections"])))
                        for s in json.loads((directory / SPEECHES).read_text(encoding="utf-8"))]
            dense = faiss.read_index(str(directory / DENSE))
            if isinstance(dense, faiss.IndexHNSW):
                dense.hnsw.efSearch = HNSW_EF_SEARCH
            lexical = bm25s.BM25.load(str(directory / BM25_DIR))
            units = np.load(directory / UNITS, allow_pickle=False)
            unit_vectors = (np.load(directory / UNIT_VECTORS, allow_pickle=False)
                            if (directory / UNIT_VECTORS).exists() else np.arange(len(units), dtype=np.int64))
            # builds made before phrases.npz existed make their matcher on first use instead
            phrases = PhraseIndex.load(directory / PHRASES) if (directory / PHRASES).exists() else None
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            verified.result()  # a file that fails its checksum says so rather than how it failed to parse
            raise IndexCorrupt(f"index at {directory} cannot be read ({exc}) — run `speechqa build`") from exc
        if not (len(passages) == manifest["counts"]["passages"] and units.ndim == 2 and units.shape[1] == 4
                and unit_vectors.shape == (len(units),)
                and (len(units) == 0 or (units[:, 0].max() < len(passages) and unit_vectors.min() >= 0
                                         and np.array_equal(np.unique(unit_vectors), np.arange(dense.ntotal))))):
            verified.result()
            raise IndexCorrupt(f"index at {directory} has {len(passages)} passages, {len(units)} spans and "
                               f"{dense.ntotal} vectors, which do not agree — run `speechqa build`")
        return cls(manifest, passages, speeches, dense, lexical, units, phrases, unit_vectors)


def _restricted(index: faiss.Index, selector: faiss.IDSelector) -> faiss.SearchParameters:
    """Search parameters that keep ``index`` to the selected vectors.

    An IVF probes every list then: a filter (one speech, a date range) may leave no allowed vector
    in the lists a query would probe, and skipping the others costs one membership test each.
    """
    if isinstance(index, faiss.IndexIVF):
        return faiss.SearchParametersIVF(sel=selector, nprobe=index.nlist)
    if isinstance(index, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=HNSW_EF_SEARCH)
    return faiss.SearchParameters(sel=selector)


def _data_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def read_manifest(directory: Path) -> dict:
    """The manifest of a build directory, or a message saying what to run."""
    path = directory / MANIFEST
    if not path.exists():
        raise IndexNotBuilt(f"no index at {directory} — run `speechqa build`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"index manifest {path} is unreadable ({exc}) — run `speechqa build`") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexCorrupt(f"index at {directory} has format {as_written(manifest.get('format'))}, "
                           f"this program reads {FORMAT_VERSION} — run `speechqa build`")
    return manifest


def verify(directory: Path, manifest: dict) -> None:
    """Check every file against the manifest's checksums."""
    expected = manifest.get("files") or {}
    present = {str(p.relative_to(directory)) for p in _data_files(directory)}
    missing = sorted(set(expected) - present)
    if missing:
        raise IndexCorrupt(f"index at {directory} is missing {', '.join(missing)} — run `speechqa build`")
    for name, digest in expected.items():
        if sha256_file(directory / name) != digest:
            raise IndexCorrupt(f"index file {directory / name} does not match its checksum "
                               "(truncated or altered) — run `speechqa build` or `speechqa rollback`")


def read_files_read(directory: Path, manifest: dict) -> dict[str, str] | None:
    """The corpus files the build in ``directory`` read, with their content digests, as its manifest vouches
    for them; None where it kept no such record (built before it existed) or its record fails its checksum."""
    expected = (manifest.get("files") or {}).get(FILES_READ)
    path = directory / FILES_READ
    try:
        if expected is None or sha256_file(path) != expected:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_passages(directory: Path) -> list[Passage]:
    """The passages of a build directory, in row order."""
    with open(directory / PASSAGES, encoding="utf-8") as handle:
        return [Passage.from_dict(data) for data in map(json.loads, handle)]
