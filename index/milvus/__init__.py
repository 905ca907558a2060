"""The index in Milvus, for a library that outgrows one machine: the same two searches, versioned.

``MilvusIndex(uri)`` is the index held in one Milvus (a server at ``http(s)://host:port``, or
Milvus Lite's local ``.db`` file): ``publish`` a checked FAISS build as a new version (only
what changed is written), ``rollback``, list ``versions``, and ``open`` a version as a
``MilvusStore`` that ``Searcher`` uses unchanged. The FAISS build under the index root stays
the source of the rows: embeddings come from its cache, and a Milvus version carries its
manifest, so the searcher's model and tokeniser checks apply unchanged.

- ``connection.py``: calls bounded by a timeout, faults as ``StoreUnavailable``, reconnection.
- ``schema.py``: the four collections and the rows a build becomes.
- ``versions.py``: publish, rollback, prune — and why versions are a field, not collections.
- ``store.py``: ``MilvusStore``, the searches over one version.
"""
from __future__ import annotations

from index.lifecycle import KEEP_BUILDS
from index.milvus.connection import DEFAULT_TIMEOUT, Connection
from index.milvus.schema import Names
from index.milvus.store import MilvusStore
from index.milvus import versions as _versions
from index.milvus.versions import PublishReport
from index.store import FaissBm25Store

DEFAULT_PREFIX = "speechqa"

__all__ = ["DEFAULT_TIMEOUT", "Connection", "MilvusIndex", "MilvusStore", "PublishReport"]


class MilvusIndex:
    """The speechqa index held in one Milvus under a collection-name ``prefix``."""

    def __init__(self, uri: str, *, token: str = "", timeout: float = DEFAULT_TIMEOUT, prefix: str = DEFAULT_PREFIX):
        self.connection = Connection(uri, token=token, timeout=timeout)
        self.names = Names.of(prefix)

    @property
    def uri(self) -> str:
        return self.connection.uri

    def publish(self, built: FaissBm25Store, *, keep: int = KEEP_BUILDS, documents=None) -> PublishReport:
        """Make a checked FAISS build the current version, writing only what changed; prune to ``keep``
        (``documents``: the build's memo of BM25 documents, ``index.build.bm25_documents``)."""
        return _versions.publish(self.connection, self.names, built, keep=keep, documents=documents)

    def rollback(self) -> int:
        """Serve the version before the current one again; returns it."""
        return _versions.rollback(self.connection, self.names)

    def current_version(self) -> int | None:
        """The version readers serve (None before the first publish)."""
        return _versions.current_version(self.connection, self.names)

    def versions(self) -> list[int]:
        """The versions kept, oldest first."""
        return _versions.versions(self.connection, self.names)

    def manifest(self, version: int) -> dict:
        """The build manifest of one version."""
        return _versions.manifest_of(self.connection, self.names, version)

    def open(self, version: int | None = None) -> MilvusStore:
        """A store over ``version`` (default: the current one)."""
        return MilvusStore.open(self.connection, self.names, version)
