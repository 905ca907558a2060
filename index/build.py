"""The build: corpus files → speeches → passages → vectors and terms → a published index.

Embeddings are cached by a hash of (model, embedded text), so a rebuild re-embeds
only new or changed passages, and unchanged passages keep their ids.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

import faiss
import numpy as np

from index import dedup, lifecycle, spliced, store
from index.chunk import CHUNKER_VERSION, chunk, sentence_spans
from index.corpus import content_digest, corpus_named, shown_name
from index.engines import vector_id, vectors_of
from index.errors import BuildInProgress, CorpusError, IndexCorrupt, IndexNotBuilt
from index.files import atomic_writer, read_marshal, write_marshal
from index.bilingual import translation_digest
from index.lexical import LEXICAL_VERSION, document_text, text_terms
from index.parse import load_corpus
from index.records import SPEECH_METADATA, Passage, Speech, SpeechInfo
from index.simplified import simplified

if TYPE_CHECKING:
    from index.embed import Encoder

CACHE = "cache"
LOCK = "build.lock"
# Characters embedded between two cache checkpoints: ~6 s of embedding on 2 cores (the Zen 5 EPYC
# embeds ~10k characters a second), a part file of a few hundred KB. 2,048 of the longest texts took
# 25-34 s, so a build killed in its first half minute had saved nothing.
CHECKPOINT_CHARS = 60_000
# A checkpoint's part file beside its model's cache file (``EmbeddingCache``); stem "*" finds every model's.
PART_FILES = "{stem}.part-*.npz"
# Texts a call embeds, and the bar moves by: the bar sat at 0% for 30 s on 2,048 texts a call, and
# 128 embed as fast (1,536 texts of the 10M library, onnx-int8-blocks, Zen 5: 12.8 s in calls of
# 1,536, 12.1 s in calls of 128).
EMBED_TEXTS = 128
PAIR_BATCH = 65536  # pair vectors composed at a time: ~100 MB of temporaries
LOCK_POLL_S = 0.2


@dataclass
class BuildReport:
    """What a build did, for the command line and the logs."""

    build_id: str
    directory: Path
    manifest: dict
    seconds: float
    embedded: int
    reused: int
    warnings: list[str] = field(default_factory=list)
    speeches_added: list[str] = field(default_factory=list)
    speeches_removed: list[str] = field(default_factory=list)
    speeches_changed: list[str] = field(default_factory=list)
    passages_added: int = 0
    passages_removed: int = 0
    # The current build this one repeated byte for byte and replaced among the kept builds, so an
    # unchanged rebuild costs no rollback slot (None: it differs from the build before).
    replaced: str | None = None
    # Sources (files or folders, resolved) of which no speech came: `add` of such a file added nothing.
    barren: list[Path] = field(default_factory=list)
    # Cache files no kept build could use any more, removed at its end, with their sizes in bytes.
    cache_pruned: dict[str, int] = field(default_factory=dict)


def _bar(items: Sequence, desc: str, unit: str, progress: bool) -> Iterable:
    """``items``, counted on a tqdm bar when ``progress``."""
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit)


def _announce(stage: str, progress: bool) -> None:
    """Say on stderr, under the bars, that a stage with no bar of its own begins (nothing when not ``progress``).

    Each takes seconds on a grown library: an `add` of 1,000 files to 4,436 speeches printed nothing for
    14 s after parsing (chunking 2 s, finding reprints 6 s, sentence spans 5 s) and 16 s after the
    spans (BM25 terms 3 s, the BM25 index 9 s, writing the build 4 s).
    """
    if progress:
        print(f"{stage} …", file=sys.stderr, flush=True)


def dense_units(passages: Sequence[Passage]) -> np.ndarray:
    """(passage row, start, end, view) for every span the dense arm embeds.

    View 0 is each sentence, view 1 each pair of consecutive sentences of a passage
    (a sentence's neighbour often carries its subject). Spans are embedded as they are
    in the source: a title or heading prefix was measured with eval/ and did not help,
    because the speeches' titles are nearly identical.
    """
    rows = []
    for row, passage in enumerate(passages):
        spans = sentence_spans(passage.text)
        rows.extend((row, a, b, 0) for a, b in spans)
        rows.extend((row, a, d, 1) for (a, _), (_, d) in zip(spans, spans[1:]))
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def dense_vectors(passages: Sequence[Passage], units: np.ndarray, *, encoder: Encoder, cache: EmbeddingCache,
                  count_tokens: Callable[[str], int] | None = None,
                  progress: bool = False) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """The distinct span vectors, each unit's row among them, the cache keys used, and how many texts were embedded now.

    Only sentences (view 0) go through the model, each distinct text once (boilerplate and reprints
    repeat sentences verbatim), and only those the cache lacks. A pair's vector (view 1) is
    composed from its two sentences' vectors weighted by their token counts and re-normalised:
    cosine ≥ 0.97 (mean 0.99) to the embedded pair, for a third of the tokens, and hybrid Recall@5 /
    MRR@10 as good or better on the tuning, held-out and blind sets (bench/results/engines.md).
    ``count_tokens`` (default: the encoder's) gives those weights.

    Spans are told apart by what their vectors come from — a sentence by its text's cache key, a
    pair by its two sentences' keys — in order of first appearance, so no vector is made per
    unit: a library's units are several times its distinct vectors (the 10M-character library
    320k and 121k), and all of them as float32 took gigabytes before the duplicates were dropped.
    """
    count_tokens = count_tokens or encoder.count_tokens
    sentences = np.flatnonzero(units[:, 3] == 0)
    # in simplified characters, as questions are encoded: a reprint printed in traditional ones embeds
    # nothing its original has not
    texts = [simplified(passages[row].text[a:b]) for row, a, b, _ in units[sentences].tolist()]
    keys = [cache.key(text) for text in texts]
    text_of = dict(zip(keys, texts))
    missing = dict.fromkeys(key for key in keys if key not in cache.vectors)
    if missing:
        _embed(text_of, list(missing), encoder=encoder, cache=cache, progress=progress)
    key_at = dict(zip(sentences.tolist(), keys))
    sentence_units = list(zip(sentences.tolist(), units[sentences].tolist()))
    opening = {(row, a): i for i, (row, a, _, _) in sentence_units}
    closing = {(row, b): i for i, (row, _, b, _) in sentence_units}
    row_of: dict[object, int] = {}  # a sentence's key, or a pair's two keys → its distinct row
    unit_rows = np.empty(len(units), dtype=np.int64)
    pairs = []  # (distinct row, its first sentence's row, its second's) of each distinct pair
    for i, (row, a, b, view) in enumerate(units.tolist()):  # a passage's sentences come before its pairs
        if view == 0:
            source = key_at[i]
        else:
            first, second = opening[row, a], closing[row, b]
            source = (key_at[first], key_at[second])
        position = row_of.get(source)
        if position is None:
            position = row_of[source] = len(row_of)
            if view != 0:
                pairs.append((position, unit_rows[first], unit_rows[second]))
        unit_rows[i] = position
    distinct = np.empty((len(row_of), encoder.dim), dtype=np.float32)
    weight = np.zeros(len(row_of), dtype=np.float32)
    overhead = count_tokens("")
    for source, position in row_of.items():
        if isinstance(source, str):
            distinct[position] = cache.vectors[source]
            weight[position] = count_tokens(text_of[source]) - overhead
    for start in range(0, len(pairs), PAIR_BATCH):
        made, left, right = np.array(pairs[start:start + PAIR_BATCH], dtype=np.int64).T
        pair = weight[left, None] * distinct[left] + weight[right, None] * distinct[right]
        distinct[made] = pair / np.linalg.norm(pair, axis=1, keepdims=True)
    return distinct, unit_rows, keys, len(missing)


def _embed(text_of: dict[str, str], missing: list[str], *, encoder: Encoder, cache: EmbeddingCache,
           progress: bool) -> None:
    """Embed the texts of ``missing`` keys into the cache, longest first, checkpointing every
    ``CHECKPOINT_CHARS`` characters.

    Longest first over the whole build, so each chunk's batches pad little and the bar's ETA
    only gets better; the bar counts characters.
    """
    order = sorted(missing, key=lambda key: -len(text_of[key]))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(len(text_of[key]) for key in order), desc="embedding", unit="char", unit_scale=True)
    unsaved: list[str] = []
    unsaved_chars = 0
    try:
        for start in range(0, len(order), EMBED_TEXTS):
            batch = order[start:start + EMBED_TEXTS]
            fresh = encoder.encode_passages([text_of[key] for key in batch])
            for key, vector in zip(batch, fresh):
                cache.vectors[key] = np.asarray(vector, dtype=np.float32)
            chars = sum(len(text_of[key]) for key in batch)
            unsaved += batch
            unsaved_chars += chars
            if unsaved_chars >= CHECKPOINT_CHARS:
                cache.checkpoint(unsaved)
                unsaved, unsaved_chars = [], 0
            if bar is not None:
                bar.update(chars)
        if unsaved:
            cache.checkpoint(unsaved)
    finally:
        if bar is not None:
            bar.close()


class EmbeddingCache:
    """Vectors keyed by sha1(model id, text), one .npz per model under the index root.

    While a build embeds, each finished chunk of vectors is written at once as a part file beside
    it (``<slug>.part-<n>.npz``), so a build killed halfway resumes from what it had embedded;
    :meth:`save` folds the parts back into the one file.

    A vector stays while one of the last ``KEEP_BUILDS`` builds kept used it — while a build it belongs
    to can be rolled back to — so a file removed and added again, or a rollback and a rebuild, embeds
    nothing (keeping only the last build's vectors re-embedded 421 texts after a folder's remove and
    rollback). Each entry records the generation that last used it (``generations``), one per kept
    build: a build that takes the place of the one before it (an unchanged rebuild) takes its generation
    too. A file written before generations were recorded counts as this save's.
    """

    def __init__(self, root: Path, model_id: str):
        self.path = self.file(root, model_id)
        self.model_id = model_id
        self.vectors: dict[str, np.ndarray] = {}
        self.used_by: dict[str, int] = {}  # key → the last save that kept it for its build
        self.generation = 0  # the last save's number
        for path in [self.path, *self._parts()]:
            try:
                with np.load(path, allow_pickle=False) as data:
                    keys = data["keys"].tolist()
                    self.vectors.update(zip(keys, data["vectors"]))
                    if "generations" in data:
                        self.used_by.update(zip(keys, data["generations"].tolist()))
                        self.generation = max(self.generation, int(data["generation"]))
            except (OSError, ValueError, KeyError):
                pass  # a missing or damaged file only costs re-embedding

    @staticmethod
    def file(root: Path, model_id: str) -> Path:
        """Where the vectors named ``model_id`` (``engines.vector_id``) are kept under ``root``."""
        return root / CACHE / f"{hashlib.sha1(model_id.encode()).hexdigest()[:12]}.npz"

    def _parts(self) -> list[Path]:
        return sorted(self.path.parent.glob(PART_FILES.format(stem=self.path.stem)))

    @staticmethod
    def checkpointed(root: Path) -> int:
        """How many vectors the part files under ``root`` hold (any model's): what interrupted builds
        checkpointed and the next one resumes from, none once a build has finished and folded them in."""
        count = 0
        for part in (Path(root) / CACHE).glob(PART_FILES.format(stem="*")):
            try:
                with np.load(part, allow_pickle=False) as data:
                    count += len(data["keys"])
            except (OSError, ValueError, KeyError):
                pass  # a damaged part is skipped by the next build too: nothing of it is kept
        return count

    def key(self, text: str) -> str:
        return hashlib.sha1(f"{self.model_id}\0{text}".encode()).hexdigest()

    def _write(self, path: Path, keys: Sequence[str], **generations: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        dim = next(iter(self.vectors.values())).shape[0] if self.vectors else 0
        vectors = np.stack([self.vectors[k] for k in keys]) if keys else np.zeros((0, dim), np.float32)
        with atomic_writer(path, "wb") as handle:
            np.savez(handle, keys=np.array(keys, dtype=str), vectors=vectors, **generations)

    def checkpoint(self, keys: Sequence[str]) -> None:
        """Write these (just embedded) entries to a new part file at once."""
        self._write(self.path.with_name(f"{self.path.stem}.part-{len(self._parts()):06d}.npz"), list(keys))

    def save(self, keep: Sequence[str], *, replacing: bool = False) -> None:
        """Write the entries in ``keep`` (this build's) and those an earlier kept build used atomically,
        then drop the part files; ``replacing``: this build took the previous one's place among the kept."""
        parts = self._parts()
        if not (replacing and self.generation):  # a replacing build is the kept one it replaced
            self.generation += 1
        self.used_by.update(dict.fromkeys(keep, self.generation))
        oldest = self.generation - lifecycle.KEEP_BUILDS  # a save whose build has left the kept ones
        kept = [k for k in self.vectors if self.used_by.setdefault(k, self.generation) > oldest]
        self._write(self.path, kept, generations=np.array([self.used_by[k] for k in kept], dtype=np.int64),
                    generation=np.int64(self.generation))
        for part in parts:
            part.unlink(missing_ok=True)


class TextMemo:
    """What ``make_many`` derives from each text, kept from one build to the next in a marshal file.

    An unchanged rebuild spent most of its time deriving again what the same texts gave last
    time: jieba's BM25 terms of every passage, the model's token count of every span, each
    passage's MinHash signature (half, a third and a twentieth of a 1M-character library's
    rebuild). Texts are keyed by a 128-bit digest; ``name`` carries whatever else the values
    depend on (tokeniser version, model, hashing parameters), so a change of either starts a new
    file. :meth:`save` keeps only what this build asked for.
    """

    def __init__(self, root: Path, name: str, make_many: Callable[[list[str]], Sequence[object]]):
        self.path = root / CACHE / f"{name}.marshal"
        self._make_many = make_many
        self._known = read_marshal(self.path) or {}  # a missing or damaged file only costs deriving again
        self._asked: dict[bytes, object] = {}

    def many(self, texts: Sequence[str]) -> list:
        """The value of each text; those not known yet are made in one ``make_many`` call."""
        keys = [hashlib.blake2b(text.encode(), digest_size=16).digest() for text in texts]
        new = {key: text for key, text in zip(keys, texts) if key not in self._asked and key not in self._known}
        made = dict(zip(new, self._make_many(list(new.values())))) if new else {}
        for key in keys:
            if key not in self._asked:
                self._asked[key] = self._known[key] if key in self._known else made[key]
        return [self._asked[key] for key in keys]

    def __call__(self, text: str):
        return self.many([text])[0]

    def save(self) -> None:
        """Write what this build asked for (atomically), dropping what it did not."""
        write_marshal(self.path, self._asked)


def token_memo_name(model_id: str) -> str:
    """The name of the memo of each text's token count under ``model_id``'s tokenizer."""
    return f"tokens-{hashlib.sha1(model_id.encode()).hexdigest()[:12]}"


def bm25_documents(root: Path, *, progress: bool = False) -> TextMemo:
    """The root's memo of each passage's BM25 document: its terms joined by spaces (no term holds one);
    the texts it lacks are counted on a bar when ``progress``.

    One string a passage, where a list of its terms (hundreds of strings) held the 50M-character
    library's memo in 2.7 GiB of Python objects, loaded whole by every build that adds to it; and
    the very form Milvus indexes (``index.milvus.schema``), which publishing reads from here.
    """
    return TextMemo(root, f"documents-{LEXICAL_VERSION}-jieba-{metadata.version('jieba')}-{translation_digest()}",
                    lambda texts: [" ".join(text_terms(text))
                                   for text in _bar(texts, "BM25 terms", "passage", progress)])


def with_copies_terms(passages: Sequence[Passage], terms: Sequence[str]) -> list[str]:
    """Each passage's BM25 document (``terms``, a passage's terms joined by spaces), a reprint group's canonical
    passage's with the terms its copies hold and it lacks, each once.

    The arms rank one copy of each group, its canonical one (``Library.one_copy_each``): a newer printing
    that adds a paragraph, still grouped with the older by the Jaccard test, had its new words found by no
    BM25 search (a librarian's 图书馆员如何做素材库去重？ answered from the copy without them). Through its group's
    document the group ranks for them, and ``fold`` shows the copy that holds the question's words."""
    documents = list(terms)
    held: dict[int, set[str]] = {}
    for row, canonical in enumerate(dedup.canonical_rows(passages)):
        if canonical == row or passages[row].text == passages[canonical].text:
            continue
        have = held.setdefault(canonical, set(terms[canonical].split()))
        added = [term for term in dict.fromkeys(terms[row].split()) if term not in have]
        if added:
            have.update(added)
            documents[canonical] += " " + " ".join(added)
    return documents


def mark_reprints(passages: Sequence[Passage], dates: dict[str, str | None],
                  signatures: Callable[[list[str]], Sequence[bytes]] = dedup.signature_bytes) -> list[Passage]:
    """The passages with ``duplicate_of`` set to their reprint group's canonical passage (index/dedup.py).

    ``signatures`` gives each text's MinHash signature as bytes (``dedup.signature_bytes``, or a memo of it).
    """
    texts = [p.text for p in passages]
    signature = np.frombuffer(b"".join(signatures(texts)), dtype=np.uint64).reshape(len(texts), dedup.HASHES)
    canonical = dedup.near_duplicate_groups(texts, [dates.get(p.speech_id) for p in passages], signature=signature)
    return [replace(p, duplicate_of=passages[c].id if c != row else None)
            for row, (p, c) in enumerate(zip(passages, canonical.tolist()))]


def mark_spliced(passages: Sequence[Passage], dates: dict[str, str | None]) -> list[Passage]:
    """The passages with ``spliced_from`` set where they are spliced from others' paragraphs
    (index/spliced.py), their reprint groups read from ``duplicate_of``."""
    sources = spliced.spliced_sources([p.text for p in passages], dedup.canonical_rows(passages),
                                      [dates.get(p.speech_id) for p in passages])
    return [replace(p, spliced_from=tuple(passages[s].id for s in rows)) if rows else p
            for p, rows in zip(passages, sources)]


def corpus_hash(speeches: Sequence[Speech], passages: Sequence[Passage]) -> str:
    """A digest of everything the index was built from: passages (ids hash their text; their offsets
    into the source are added, as a line inserted above moves them) and speeches."""
    digest = hashlib.sha256()
    for passage in passages:
        digest.update(f"{passage.id}\0{passage.start}\0{passage.end}\0".encode())
    for speech in speeches:
        digest.update(f"{speech.id}\0{speech.title}\0{speech.source}".encode())
    return digest.hexdigest()


def _reads(folder: Path, path: Path) -> bool:
    """Whether reading the folder ``folder`` reads ``path``: it lies below it, outside its hidden folders."""
    return folder in path.parents and not any(part.startswith(".") for part in path.relative_to(folder).parts[:-1])


def distinct_sources(sources: Sequence[Path]) -> list[Path]:
    """``sources`` (resolved paths) in their order, each once, less those a folder among them already
    reads (a file or folder below it, outside its hidden folders): a file given to `speechqa add`
    that its folder also holds, or added once alone and again with its folder, is indexed once."""
    folders = [s for s in sources if s.is_dir()]
    return [source for source in dict.fromkeys(sources) if not any(_reads(folder, source) for folder in folders)]


def read_already(sources: Sequence[Path], paths: Sequence[Path]) -> list[Path]:
    """Those of ``paths`` (resolved) that building ``sources`` (resolved) reads already: each is among them or
    lies in a folder among them (``distinct_sources``), as a file `add` gave before does."""
    known = set(sources)
    folders = [source for source in known if source.is_dir()]
    return [path for path in paths if path in known or any(_reads(folder, path) for folder in folders)]


def files_read(sources: Sequence[Path]) -> dict[str, str]:
    """Each corpus file that building ``sources`` reads, by its path, with its ``content_digest``."""
    files, _ = corpus_named(sources)
    return {str(path): content_digest(path) for path, _ in files}


def files_read_by(root: Path, manifest: dict) -> dict[str, str] | None:
    """What the build ``manifest`` describes read (``files_read``), as kept in its folder under ``root`` (a Milvus
    version's too: it was published from there); None where that build kept no record, or is gone."""
    return store.read_files_read(lifecycle.build_dir(root, manifest["build_id"]), manifest)


@dataclass(frozen=True)
class SinceBuilt:
    """The paths given to `speechqa add`, against what the current build read (``files_read``).

    A given folder counts as one path: changed when any of its files is.
    """

    unchanged: list[Path]  # read by the current build, and unchanged since
    left_out: list[Path]  # of those, the ones no speech came from: no source of the index (a copy, an empty file)
    changed: list[Path]  # read by the current build, edited since (or a folder whose files were)
    new: list[Path]  # not read by the current build
    elsewhere: list[Path]  # files of the index's other sources edited, added or gone since

    @property
    def rebuild_needed(self) -> bool:
        """Whether building the sources with the given paths could differ from the current build: when not,
        the same files read again give the same speeches (those left out again left out)."""
        return bool(self.changed or self.new or self.elsewhere)


def since_built(read: dict[str, str], sources: Sequence[Path], given: Sequence[Path]) -> SinceBuilt:
    """Where ``given`` paths (resolved) stand against ``read``, what the current build of ``sources`` (resolved)
    read, and which other files of ``sources`` changed since: every file either reads is digested again."""
    sources = distinct_sources(sources)
    given = list(dict.fromkeys(given))
    held = set(read_already(sources, given))
    now = files_read(distinct_sources([*sources, *(path for path in given if path not in held)]))
    differing = {path for path, digest in now.items() if read.get(path) != digest}
    missing = [Path(path) for path in read if path not in now]
    differing |= {str(path) for path in read_already(distinct_sources([*sources, *given]), missing)}  # gone since
    known = now.keys() | read.keys()
    unchanged, changed, new, of_given = [], [], [], set()
    for path in given:
        files = ({name for name in known if _reads(path, Path(name))} if path.is_dir()
                 else {str(path)} & known)
        of_given |= files
        # a folder that is no source yet becomes one, whose later files the index's builds read: new, though
        # its files are all read already (one of them added alone before)
        if not files or any(name not in read for name in files) or (path.is_dir() and path not in held):
            new.append(path)
        elif files & differing:
            changed.append(path)
        else:
            unchanged.append(path)
    return SinceBuilt(unchanged=unchanged, left_out=[path for path in unchanged if path not in held],
                      changed=changed, new=new, elsewhere=sorted(Path(name) for name in differing - of_given))


def sources_with_speeches(sources: Sequence[Path], speeches: Sequence[Speech]) -> list[Path]:
    """Those of ``sources`` (as ``distinct_sources`` leaves them) that at least one of ``speeches`` came from.

    Only these are the index's sources, which a build without --corpus reads again: a file the
    build skipped (empty, a copy of another, no body) would otherwise be read by every later
    build, and stop each of them once it is deleted, though the index holds nothing of it.
    """
    named = {speech.source for speech in speeches}
    files, _ = corpus_named(sources)  # the names load_corpus gave the same sources' files
    giving = {path for path, name in files if name in named}
    return [source for source in sources
            if source in giving or (source.is_dir() and any(_reads(source, path) for path in giving))]


def _latest_build(root: Path) -> tuple[Path, dict] | None:
    """The current build's directory and manifest; when that build is gone or unreadable, the newest
    readable one it was served after (what the index last was). None when none can be read."""
    current = lifecycle.current_id(root)
    for build_id in dict.fromkeys(([current] if current else []) + lifecycle.served(root)[::-1]):
        directory = lifecycle.build_dir(root, build_id)
        try:
            return directory, store.read_manifest(directory)
        except (IndexNotBuilt, IndexCorrupt, OSError, ValueError):
            continue
    return None


def current_sources(root: Path) -> list[Path] | None:
    """The sources the index was last built from (``_latest_build``: a rebuild after the current build
    was lost must not shrink the library to the bundled corpus). None when ``root`` holds no build at
    all; CorpusError when it holds builds but none readable."""
    latest = _latest_build(root)
    if latest is not None and "sources" in latest[1]:
        return [Path(s) for s in latest[1]["sources"]]
    if lifecycle.builds(root):
        raise CorpusError(f"no build under {root} can be read to say what the index was built from — "
                          "give what to build with --corpus")
    return None


def _kept_training(root: Path, previous: dict | None, manifest: dict,
                   count: int) -> faiss.IndexIVFScalarQuantizer | None:
    """The current build's IVF, whose training this build of ``count`` vectors keeps, or None.

    Kept when the current build's vectors come from the same model, engine and dimension and
    ``count`` is within ``store.IVF_RETRAIN_GROWTH`` of the vectors its training saw
    (``store.keeps_training``): a day's additions to a large library then spare its k-means.
    """
    if previous is None or "ivf" not in previous or count <= store.EXACT_SEARCH_LIMIT:
        return None
    if any(previous.get(key) != manifest[key] for key in ("model_id", "engine", "dim")):
        return None
    if not store.keeps_training(previous["ivf"]["trained_on"], count):
        return None
    try:
        index = faiss.read_index(str(lifecycle.current_build(root) / store.DENSE))
    except (IndexNotBuilt, OSError, RuntimeError):
        return None  # trained again, as for a first build
    if not isinstance(index, faiss.IndexIVFScalarQuantizer) or index.nlist != previous["ivf"]["lists"]:
        return None
    return index


def _previous(root: Path) -> tuple[dict | None, list[Passage]]:
    """What this build follows (``_latest_build``), to say what changed and to reuse its IVF training."""
    latest = _latest_build(root)
    if latest is None:
        return None, []
    directory, manifest = latest
    try:
        return manifest, store.read_passages(directory)
    except (IndexNotBuilt, IndexCorrupt, OSError, ValueError):
        return None, []


@contextlib.contextmanager
def build_lock(root: Path, *, wait: float = 0.0, then: str = "build again") -> Iterator[None]:
    """Hold ``root``'s build lock: one build (or rollback) per index root at a time.

    Another build's lock is waited for up to ``wait`` seconds, then refused with
    :class:`BuildInProgress` naming its holder and saying to ``then`` once it is done. The lock is an
    ``flock`` on ``root/build.lock``, so the kernel releases it when its holder dies, even by SIGKILL.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a+", encoding="utf-8") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    waited = f"; waited {wait:g} s for it" if wait > 0 else ""
                    raise BuildInProgress(f"another build is running on {root} ({holder}{waited}) — "
                                          f"let it finish, then {then}") from None
                time.sleep(LOCK_POLL_S)
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} since {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(sources: Sequence[Path], root: Path, *, encoder: Encoder, model_spec: str | None = None,
          budget: int = 512, progress: bool = False, wait: float = 0.0, lock_held: bool = False,
          held: Sequence[Path] = ()) -> BuildReport:
    """Build an index of ``sources`` under ``root`` and make it current.

    Of ``sources``, those no speech comes from are left out of the new index's sources, except those in
    ``held`` (the sources the index had): a file added first whose text a later-added original now gives
    (a 副本 skipped as its copy) was dropped silently, and lost once that original was removed.

    One build per root at a time (:func:`build_lock`, waiting up to ``wait`` seconds for another, unless
    the caller holds it: ``lock_held``, as `add` does from reading the sources it adds to until it has
    published); a build killed while embedding resumes from the vectors it had checkpointed.
    """
    with contextlib.nullcontext() if lock_held else build_lock(Path(root), wait=wait):
        try:
            return _build(sources, Path(root), encoder=encoder, model_spec=model_spec, budget=budget,
                          progress=progress, held=held)
        except BaseException:
            # a build that failed (a full disk) or was interrupted leaves no half-written build taking
            # space; the vectors it embedded stay in the cache, which the next build resumes from
            lifecycle.clear_staging(Path(root))
            raise


def _build(sources: Sequence[Path], root: Path, *, encoder: Encoder, model_spec: str | None, budget: int,
           progress: bool, held: Sequence[Path]) -> BuildReport:
    started = time.perf_counter()
    sources = distinct_sources([Path(s).resolve() for s in sources])
    # before the parse: a file edited while it runs then reads as changed to the next `add`, never as unchanged
    read = files_read(sources)
    speeches, warnings = load_corpus(*sources, progress=progress)
    if not speeches:
        raise CorpusError(f"no speeches found in {', '.join(map(str, sources))}"
                          + (f" ({'; '.join(warnings)})" if warnings else ""))
    giving = set(sources_with_speeches(sources, speeches)) | {Path(s).resolve() for s in held}
    kept_sources = [source for source in sources if source in giving]
    barren = [source for source in sources if source not in giving]
    warnings += [f"{shown_name(str(source))}: no speech came from it, so it is not kept among the sources the index is rebuilt from"
                 for source in barren]
    count_tokens = TextMemo(root, token_memo_name(encoder.model_id),
                            lambda texts: [encoder.count_tokens(text) for text in texts])

    def tokens_as_embedded(text: str) -> int:  # in simplified characters, so a traditional reprint chunks as its original
        return count_tokens(simplified(text))

    passages = [p for speech in _bar(speeches, "chunk", "speech", progress)
                for p in chunk(speech, count_tokens=tokens_as_embedded, budget=budget)]
    _announce("finding reprints", progress)
    sketches = TextMemo(root, f"minhash-{dedup.SIGNATURE_VERSION}", dedup.signature_bytes)
    dates = {speech.id: speech.date for speech in speeches}
    # spliced passages under the reprints' line: 0.4 s of its 6.5 s on a 16 M-character library
    passages = mark_spliced(mark_reprints(passages, dates, sketches.many), dates)
    for memo in (count_tokens, sketches):  # before the embedding, so a build killed there resumes from them
        memo.save()

    _announce("sentence spans", progress)
    cache = EmbeddingCache(root, vector_id(encoder))
    units = dense_units(passages)
    distinct, unit_vectors, keys, embedded = dense_vectors(passages, units, encoder=encoder, cache=cache,
                                                           count_tokens=count_tokens, progress=progress)

    passages_of: dict[str, list[Passage]] = {}
    for passage in passages:  # grouped once: a scan per speech was quadratic (seconds at 10M characters)
        passages_of.setdefault(passage.speech_id, []).append(passage)
    infos = []
    for speech in speeches:
        own = passages_of.get(speech.id, [])
        infos.append(SpeechInfo(id=speech.id, title=speech.title, source=speech.source,
                                title_inferred=speech.title_inferred,
                                sections=tuple(dict.fromkeys(p.section for p in own)), passages=len(own),
                                **{name: getattr(speech, name) for name in SPEECH_METADATA}))
    manifest = {
        "model_id": encoder.model_id,
        "engine": encoder.engine,  # queries must agree with it (index/engines.py)
        "model_spec": model_spec,
        "dim": int(distinct.shape[1]),
        "chunker": CHUNKER_VERSION,
        "budget": budget,
        "lexical": LEXICAL_VERSION,
        "corpus_hash": corpus_hash(speeches, passages),
        "sources": [str(s) for s in kept_sources],
        "counts": {"files": len({s.source for s in speeches}), "speeches": len(speeches),
                   "sections": sum(len(i.sections) for i in infos), "passages": len(passages),
                   "spans": len(units)},
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    documents = bm25_documents(root, progress=progress)
    terms = with_copies_terms(passages, documents.many([document_text(p.speech_title, p.text) for p in passages]))
    _announce("dense and BM25 indexes", progress)
    previous_manifest, previous_passages = _previous(root)
    trained = _kept_training(root, previous_manifest, manifest, len(distinct))
    dense = store.make_dense_index(distinct, trained=trained)
    manifest["counts"]["vectors"] = len(distinct)
    manifest["dense_index"] = type(dense).__name__
    if isinstance(dense, faiss.IndexIVF):
        # how many vectors its lists were trained on, which the next build's choice reads
        manifest["ivf"] = {"lists": dense.nlist, "trained_on": (previous_manifest["ivf"]["trained_on"]
                                                                if trained is not None else len(distinct))}
    lexical = store.make_lexical_index(terms)

    _announce("writing the build", progress)
    build_id = lifecycle.new_build_id()
    manifest["build_id"] = build_id
    staged = lifecycle.staging_dir(root)
    manifest = store.FaissBm25Store(manifest, passages, infos, dense, lexical, units,
                                    unit_vectors=unit_vectors, files_read=read).save(staged)
    published = lifecycle.publish(root, staged, build_id)
    cache.save(keys, replacing=published.replaced is not None)
    for memo in (count_tokens, sketches, documents):
        memo.save()
    pruned = prune_cache(root, [cache.path, count_tokens.path, sketches.path, documents.path])

    report = BuildReport(build_id=build_id, directory=published.directory, manifest=manifest,
                         seconds=time.perf_counter() - started, embedded=embedded,
                         reused=len(units) - embedded, warnings=warnings, replaced=published.replaced,
                         barren=barren, cache_pruned=pruned)
    _describe_changes(report, speeches, passages, previous_passages if previous_manifest else None)
    return report


def prune_cache(root: Path, used: Sequence[Path]) -> dict[str, int]:
    """Remove the vector files and memos under ``root``'s cache that no build can use, and say which (name → bytes).

    Kept: what this build ``used``, the vectors and token counts of every model and engine a kept build was
    made with (a rollback and a rebuild reuse them), and every checkpoint part (an interrupted build of another
    engine resumes from it). The memos of another tokeniser or signature version are never read again: the
    BM25 documents of the version before stayed, 34 MB of a 5,435-speech library's. The caller holds the
    build lock, so no other build on ``root`` is using them.
    """
    keep = set(used)
    for build_id in lifecycle.builds(root):
        try:
            manifest = store.read_manifest(lifecycle.build_dir(root, build_id))
        except (IndexNotBuilt, IndexCorrupt):
            continue  # a build that cannot be read cannot be served or rolled back to
        # a build made before the manifest named its engine was embedded by torch, under the model's own name
        keep.add(EmbeddingCache.file(root, vectors_of(manifest["model_id"], manifest.get("engine") or "torch-fp32")))
        keep.add(root / CACHE / f"{token_memo_name(manifest['model_id'])}.marshal")
    removed = {}
    for path in sorted([*(root / CACHE).glob("*.npz"), *(root / CACHE).glob("*.marshal")]):
        if path not in keep and not path.match(PART_FILES.format(stem="*")):
            removed[path.name] = path.stat().st_size
            path.unlink(missing_ok=True)
    return removed


def _describe_changes(report: BuildReport, speeches: Sequence[Speech], passages: Sequence[Passage],
                      previous: list[Passage] | None) -> None:
    if previous is None:
        named = [(s.title, s.source) for s in speeches]
        report.speeches_added = _told_apart(named, Counter(title for title, _ in named))
        report.passages_added = len(passages)
        return
    old_ids = {p.id for p in previous}
    new_ids = {p.id for p in passages}
    report.passages_added = len(new_ids - old_ids)
    report.passages_removed = len(old_ids - new_ids)

    def by_speech(items):
        grouped: dict[str, tuple[tuple[str, str], set[str]]] = {}
        for p in items:
            grouped.setdefault(p.speech_id, ((p.speech_title, p.source), set()))[1].add(p.id)
        return grouped

    old, new = by_speech(previous), by_speech(passages)
    titles = Counter(title for (title, _), _ in {**old, **new}.values())
    report.speeches_added = _told_apart([new[s][0] for s in new if s not in old], titles)
    report.speeches_removed = _told_apart([old[s][0] for s in old if s not in new], titles)
    report.speeches_changed = _told_apart([new[s][0] for s in new if s in old and new[s][1] != old[s][1]], titles)


def _told_apart(speeches: list[tuple[str, str]], titles: Counter) -> list[str]:
    """(title, source) pairs as a change line names them: the title, and its file where the library
    (``titles``: how many of its speeches, before or after, bear each title) holds that title more than
    once ("changed: 筑牢安全屏障" says nothing in a library holding 27 copies of it) or the lines come
    from several files (a day's intake: which file gave which speech)."""
    several_files = len({source for _, source in speeches}) > 1
    return [f"{title} ({source})" if titles[title] > 1 or several_files else title for title, source in speeches]
