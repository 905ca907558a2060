"""The four collections a Milvus store keeps, and the rows a build becomes.

Every data row carries the versions it belongs to as ``since <= v < until`` (``until`` is
``OPEN`` while the newest version still holds it), and its primary key is its content key
plus ``since``: a row is written once, closed once when a later version drops it, and
deleted when no kept version holds it any more.

- ``<prefix>_spans``: one embedded span (passage id, offsets, view) and its vector, searched
  by exact inner product (FLAT, so the dense ranking is the FAISS build's).
- ``<prefix>_passages``: a passage's record, its span count, and its BM25 document: the terms
  ``index.lexical.document_terms`` gives (jieba search mode over title and text, stop words out, then
  the English pseudo-terms of its words),
  space-joined and split again by Milvus's whitespace tokenizer (``standard``, a ``\\w+`` split, on
  Milvus Lite, which has no whitespace tokenizer), so Milvus's BM25 scores the very terms bm25s
  does. Milvus's own jieba analyzer cuts differently: the hybrid top passage then agreed with
  FAISS's on 93.5% of the tuning questions, against 100% of the held-out ones
  (bench/results/milvus_quality.md has the run with our terms).
- ``<prefix>_speeches``: a speech's record and its position in the build.
- ``<prefix>_versions``: one row per version with its build manifest, and row ``POINTER``,
  whose ``current`` names the version readers serve.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from index.lexical import document_text, text_terms
from index.milvus.connection import Connection
from index.records import Passage, SpeechInfo
from index.store import FaissBm25Store

# ``until`` of a row the newest version holds.
OPEN = 2**62
# The versions collection's row that names the current version (versions count from 1).
POINTER = 0
KEY_CHARS = 40
# A passage is at most 512 model tokens; its title and text, or its record, stay well under these.
MAX_DOCUMENT_BYTES = 16_384
MAX_RECORD_BYTES = 65_535
MAX_ID_BYTES = 64
# How Milvus Lite names itself in get_server_version.
MILVUS_LITE = "milvus_lite"
# Milvus loads only collections with a vector field; these two hold none of their own.
PLACEHOLDER_DIM = 2
PLACEHOLDER = [0.0, 0.0]


@dataclass(frozen=True)
class Names:
    """The collection names under one prefix."""

    versions: str
    speeches: str
    passages: str
    spans: str

    @classmethod
    def of(cls, prefix: str) -> "Names":
        return cls(*(f"{prefix}_{kind}" for kind in ("versions", "speeches", "passages", "spans")))

    @property
    def data(self) -> tuple[str, str, str]:
        """The versioned collections, in the order a build writes them."""
        return self.speeches, self.passages, self.spans


def alive(version: int) -> str:
    """The filter expression for the rows ``version`` holds."""
    return f"since <= {int(version)} and until > {int(version)}"


def quoted(values) -> str:
    """A Milvus list literal of strings (ids are hex, so they need no escaping beyond JSON's)."""
    return json.dumps([str(v) for v in values])


def primary_key(key: str, since: int) -> str:
    return f"{key}.{since}"


def key_of(primary: str) -> str:
    return primary.rsplit(".", 1)[0]


def _key(row: dict) -> str:
    digest = hashlib.sha1(json.dumps({k: v for k, v in row.items() if k != "vector"}, ensure_ascii=False,
                                     sort_keys=True).encode())
    if "vector" in row:
        digest.update(np.asarray(row["vector"], dtype=np.float32).tobytes())
    return digest.hexdigest()[:KEY_CHARS]


Documents = Callable[[list[str]], Sequence[str]]


def build_rows(built: FaissBm25Store, documents: Documents | None = None) -> dict[str, dict[str, dict]]:
    """Per collection kind (``speeches``, ``passages``, ``spans``), content key → row, for one build.

    Vectors come from the build's FAISS index (each distinct one stored once there), which the build
    filled from its embedding cache. ``documents`` gives the BM25 documents (terms joined by spaces) of many
    ``document_text``s at once (the build's memo, ``index.build.bm25_documents``); without it every passage
    is tokenised again.
    """
    units = np.asarray(built.units, dtype=np.int64)
    vectors = built.span_vectors(np.arange(len(units)))  # one per span: Milvus keeps no shared vectors
    span_counts = np.bincount(units[:, 0], minlength=len(built.passages)) if len(units) else \
        np.zeros(len(built.passages), dtype=np.int64)
    speeches = [{"speech_id": info.id, "position": position,
                 "record": json.dumps(asdict(info), ensure_ascii=False)}
                for position, info in enumerate(built.speeches)]
    texts = [document_text(p.speech_title, p.text) for p in built.passages]
    joined = documents(texts) if documents is not None else [" ".join(text_terms(text)) for text in texts]
    passages = [{"passage_id": p.id, "speech_id": p.speech_id, "record": json.dumps(asdict(p), ensure_ascii=False),
                 "document": document, "spans": int(span_counts[row])}
                for row, (p, document) in enumerate(zip(built.passages, joined))]
    spans = [{"passage_id": built.passages[row].id, "speech_id": built.passages[row].speech_id,
              "start": start, "end": end, "view": view, "vector": vectors[j]}
             for j, (row, start, end, view) in enumerate(units.tolist())]
    return {kind: {_key(row): row for row in rows}
            for kind, rows in (("speeches", speeches), ("passages", passages), ("spans", spans))}


def speech_of(record: str) -> SpeechInfo:
    data = json.loads(record)
    return SpeechInfo(**dict(data, sections=tuple(tuple(s) for s in data["sections"])))


def passage_of(record: str) -> Passage:
    return Passage.from_dict(json.loads(record))


def create_missing(connection: Connection, names: Names, dim: int) -> None:
    """Create whichever of the four collections does not exist yet (strongly consistent, so a
    reader that sees the pointer move also sees every row written before it moved)."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    existing = set(connection.call("list_collections"))

    def versioned(schema):
        schema.add_field("pk", DataType.VARCHAR, max_length=MAX_ID_BYTES, is_primary=True)
        schema.add_field("since", DataType.INT64)
        schema.add_field("until", DataType.INT64)
        return schema

    def create(name, schema, vector_field, index_type, metric):
        index = MilvusClient.prepare_index_params()
        index.add_index(vector_field, index_type=index_type, metric_type=metric)
        connection.write("create_collection", name, schema=schema, index_params=index, consistency_level="Strong")

    if names.versions not in existing:
        schema = MilvusClient.create_schema()
        schema.add_field("version", DataType.INT64, is_primary=True)
        schema.add_field("current", DataType.INT64)
        schema.add_field("manifest", DataType.VARCHAR, max_length=MAX_RECORD_BYTES)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=PLACEHOLDER_DIM)
        create(names.versions, schema, "vector", "FLAT", "L2")
    if names.speeches not in existing:
        schema = versioned(MilvusClient.create_schema())
        schema.add_field("speech_id", DataType.VARCHAR, max_length=MAX_ID_BYTES)
        schema.add_field("position", DataType.INT64)
        schema.add_field("record", DataType.VARCHAR, max_length=MAX_RECORD_BYTES)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=PLACEHOLDER_DIM)
        create(names.speeches, schema, "vector", "FLAT", "L2")
    if names.passages not in existing:
        schema = versioned(MilvusClient.create_schema())
        schema.add_field("passage_id", DataType.VARCHAR, max_length=MAX_ID_BYTES)
        schema.add_field("speech_id", DataType.VARCHAR, max_length=MAX_ID_BYTES)
        schema.add_field("record", DataType.VARCHAR, max_length=MAX_RECORD_BYTES)
        lite = str(connection.call("get_server_version")).startswith(MILVUS_LITE)
        schema.add_field("document", DataType.VARCHAR, max_length=MAX_DOCUMENT_BYTES, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard" if lite else "whitespace"})
        schema.add_field("terms", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("spans", DataType.INT64)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["document"], output_field_names=["terms"]))
        create(names.passages, schema, "terms", "SPARSE_INVERTED_INDEX", "BM25")
    if names.spans not in existing:
        schema = versioned(MilvusClient.create_schema())
        schema.add_field("passage_id", DataType.VARCHAR, max_length=MAX_ID_BYTES)
        schema.add_field("speech_id", DataType.VARCHAR, max_length=MAX_ID_BYTES)
        for field in ("start", "end", "view"):
            schema.add_field(field, DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        create(names.spans, schema, "vector", "FLAT", "IP")
