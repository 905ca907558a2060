"""``MilvusStore``: the searcher's two searches over one version of the index in Milvus.

Opening a version reads its speeches, passages and span offsets (not the vectors) into the
process, as loading a FAISS build does, so the searcher's lookups stay local; the searches run
in Milvus, filtered to the version's rows and, when a search is restricted to some passages
(a speech, a date range, …), to those passages' ids, so a filter runs inside Milvus rather
than over a short list afterwards.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from index.errors import IndexCorrupt, IndexNotBuilt
from index.milvus.connection import Connection
from index.milvus.schema import Names, alive, passage_of, quoted, speech_of
from index.milvus.versions import current_version, manifest_of
from index.store import VIEWS, Match

# Milvus caps one search's limit (topk).
MAX_LIMIT = 16_384
UNIT_FIELDS = ("passage_id", "start", "end", "view")


class MilvusStore:
    """An ``IndexStore`` over version ``version`` of the index under ``names`` in Milvus."""

    restricts_in_process = False

    def __init__(self, connection: Connection, names: Names, version: int, manifest: dict, passages, speeches,
                 units: np.ndarray):
        self.connection = connection
        self.names = names
        self.version = version
        self.manifest = manifest
        self.passages = passages
        self.speeches = speeches
        self.units = units  # (passage row, start, end, view) per span, as units.npy orders them
        self._row = {p.id: row for row, p in enumerate(passages)}
        self._span_counts = np.bincount(units[:, 0], minlength=len(passages)) if len(units) else \
            np.zeros(len(passages), dtype=np.int64)

    @classmethod
    def open(cls, connection: Connection, names: Names, version: int | None = None) -> "MilvusStore":
        """Read version ``version`` (default: the current one) of the index; IndexNotBuilt if there is none."""
        if version is None:
            version = current_version(connection, names)
        if version is None:
            raise IndexNotBuilt(f"no index in Milvus at {connection.uri} — run `speechqa build --store {connection.uri}`")
        manifest = manifest_of(connection, names, version)
        holds = alive(version)
        speech_rows = sorted(connection.scan(names.speeches, holds, ["position", "record"]),
                             key=lambda r: r["position"])
        speeches = [speech_of(r["record"]) for r in speech_rows]
        position = {s.id: i for i, s in enumerate(speeches)}
        passages = sorted((passage_of(r["record"]) for r in connection.scan(names.passages, holds, ["record"])),
                          key=lambda p: (position.get(p.speech_id, len(position)), p.ordinal))
        row_of = {p.id: row for row, p in enumerate(passages)}
        spans = connection.scan(names.spans, holds, list(UNIT_FIELDS))
        counts = manifest["counts"]
        if (len(passages), len(spans), len(speeches)) != (counts["passages"], counts["spans"], counts["speeches"]) \
                or any(r["passage_id"] not in row_of for r in spans):
            raise IndexCorrupt(f"version {version} in Milvus at {connection.uri} holds {len(speeches)} speeches, "
                               f"{len(passages)} passages and {len(spans)} spans, its manifest "
                               f"{counts['speeches']}, {counts['passages']} and {counts['spans']} — "
                               "run `speechqa build` or `speechqa rollback`")
        units = np.array([[row_of[r["passage_id"]], r["start"], r["end"], r["view"]] for r in spans],
                         dtype=np.int64).reshape(-1, 4)
        units = units[np.lexsort((units[:, 1], units[:, 3], units[:, 0]))]
        return cls(connection, names, version, dict(manifest, store=connection.uri), passages, speeches, units)

    def _filter(self, rows: Sequence[int] | None) -> str:
        holds = alive(self.version)
        if rows is None:
            return holds
        return f"{holds} and passage_id in {quoted(self.passages[int(r)].id for r in rows)}"

    def dense_search(self, query, k, rows=None):
        # Milvus groups the spans by passage and keeps each passage's best, one search per view: the
        # reduction FAISS's store does over its span list, without sending Milvus's every span back
        # (fetching all 1,181 seed spans took 66 ms a search on Milvus Lite, 100 of them 11 ms).
        candidates = len(self.units) if rows is None else int(self._span_counts[np.asarray(rows, dtype=np.int64)].sum())
        limit = min(k, MAX_LIMIT, candidates)
        if limit <= 0:
            return {view: [] for view in VIEWS}
        vector = [np.asarray(query, dtype=np.float32).tolist()]
        matches = {}
        for number, view in enumerate(VIEWS):
            found = self.connection.call(
                "search", self.names.spans, data=vector, anns_field="vector", limit=limit,
                filter=f"{self._filter(rows)} and view == {number}", search_params={"metric_type": "IP"},
                group_by_field="passage_id", output_fields=["passage_id", "start", "end"])[0]
            matches[view] = [Match(self._row[hit["entity"]["passage_id"]], float(hit["distance"]),
                                   (int(hit["entity"]["start"]), int(hit["entity"]["end"]))) for hit in found]
        return matches

    def lexical_search(self, terms, k, rows=None):
        if not terms or k <= 0 or (rows is not None and len(rows) == 0):
            return []
        # The documents are our terms space-joined (schema.py), so the query is too. Milvus Lite
        # reports BM25 as a negated distance; abs() is the score either way.
        found = self.connection.call(
            "search", self.names.passages, data=[" ".join(terms)], anns_field="terms", limit=min(k, MAX_LIMIT),
            filter=self._filter(rows), search_params={"metric_type": "BM25"}, output_fields=["passage_id"])[0]
        return [Match(self._row[hit["entity"]["passage_id"]], abs(float(hit["distance"])))
                for hit in found if hit["distance"]]
