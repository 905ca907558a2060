"""The same two searches on Milvus, for a library that outgrows one machine.

``MilvusStore`` implements ``IndexStore`` over two collections made from a finished build:
``<name>_spans`` holds every embedded span's vector (exact FLAT inner product, so its dense
ranking is the FAISS build's) with its passage row, offsets and view; ``<name>_passages``
holds each passage's BM25 document (speech title, then text, as ``index.lexical`` indexes it),
scored by Milvus's own BM25 function over a jieba analyzer. ``uri`` is a Milvus server
(``http://host:19530``) or, with Milvus Lite, a local ``.db`` file.

The build stays the source of truth: a Milvus store is loaded from a checked build directory
and carries its manifest, so the searcher's model and tokeniser checks apply unchanged.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from index.lexical import STOP_WORDS, document_text
from index.store import VIEWS, FaissBm25Store, Match, best_span_per_passage, span_search_depth

# A passage is at most 512 model tokens; its title and text stay well under this many bytes.
MAX_DOCUMENT_BYTES = 16_384
# Milvus caps one search's limit (topk).
MAX_LIMIT = 16_384
INSERT_BATCH = 1_000


def _rows_filter(field: str, rows: Sequence[int] | None) -> str:
    return "" if rows is None else f"{field} in {[int(r) for r in rows]}"


class MilvusStore:
    """An ``IndexStore`` whose vectors and BM25 documents live in Milvus."""

    def __init__(self, client, name: str, manifest: dict, passages, speeches, units: np.ndarray):
        self.client = client
        self.name = name
        self.manifest = manifest
        self.passages = passages
        self.speeches = speeches
        self.units = units  # (passage row, start, end, view) per span: how deep a filtered search must go

    @classmethod
    def from_build(cls, directory: Path | str, uri: str, *, name: str = "speechqa") -> "MilvusStore":
        """Load the build at ``directory`` (checked as usual) into fresh collections at ``uri``."""
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        built = FaissBm25Store.load(Path(directory))
        client = MilvusClient(uri)
        spans_name, passages_name = f"{name}_spans", f"{name}_passages"
        for collection in (spans_name, passages_name):
            if client.has_collection(collection):
                client.drop_collection(collection)

        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(built.manifest["dim"]))
        for field in ("row", "start", "end", "view"):
            schema.add_field(field, DataType.INT64)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="IP")
        client.create_collection(spans_name, schema=schema, index_params=index)
        vectors = built.dense.reconstruct_n(0, built.dense.ntotal)
        span_rows = [{"id": i, "vector": vectors[i].tolist(), "row": int(row), "start": int(start),
                      "end": int(end), "view": int(view)}
                     for i, (row, start, end, view) in enumerate(built.units.tolist())]

        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("document", DataType.VARCHAR, max_length=MAX_DOCUMENT_BYTES, enable_analyzer=True,
                         analyzer_params={"tokenizer": "jieba",
                                          "filter": [{"type": "stop", "stop_words": sorted(STOP_WORDS)}]})
        schema.add_field("terms", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["document"], output_field_names=["terms"]))
        index = client.prepare_index_params()
        index.add_index("terms", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        client.create_collection(passages_name, schema=schema, index_params=index)
        passage_rows = [{"id": row, "document": document_text(p.speech_title, p.text)}
                        for row, p in enumerate(built.passages)]

        for collection, rows in ((spans_name, span_rows), (passages_name, passage_rows)):
            for start in range(0, len(rows), INSERT_BATCH):
                client.insert(collection, rows[start:start + INSERT_BATCH])
        return cls(client, name, built.manifest, built.passages, built.speeches, built.units)

    def dense_search(self, query, k, rows=None):
        candidates = len(self.units) if rows is None else int(
            np.isin(self.units[:, 0], np.asarray(rows, dtype=np.int64)).sum())
        depth = min(span_search_depth(k, candidates), MAX_LIMIT)
        if k <= 0 or depth <= 0:
            return {view: [] for view in VIEWS}
        found = self.client.search(
            f"{self.name}_spans", data=[np.asarray(query, dtype=np.float32).tolist()], anns_field="vector",
            limit=depth, filter=_rows_filter("row", rows), search_params={"metric_type": "IP"},
            output_fields=["row", "start", "end", "view"])[0]
        spans = np.array([[hit["entity"][f] for f in ("row", "start", "end", "view")] for hit in found],
                         dtype=np.int64).reshape(-1, 4)
        scores = np.array([hit["distance"] for hit in found], dtype=np.float32)
        return best_span_per_passage(spans, scores, k)

    def lexical_search(self, terms, k, rows=None):
        if not terms or k <= 0 or (rows is not None and len(rows) == 0):
            return []
        # Milvus's analyzer tokenises the query text itself; our terms, space-joined, give it the
        # same words. Milvus Lite reports BM25 as a negated distance; abs() is the score either way.
        found = self.client.search(
            f"{self.name}_passages", data=[" ".join(terms)], anns_field="terms", limit=min(k, MAX_LIMIT),
            filter=_rows_filter("id", rows), search_params={"metric_type": "BM25"}, output_fields=["id"])[0]
        return [Match(int(hit["id"]), abs(float(hit["distance"]))) for hit in found if hit["distance"]]
