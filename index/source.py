"""Where a served index comes from: FAISS builds under an index root, or versions in a Milvus.

``IndexSource`` is what loading and hot reload need from either: ``current()`` names the build
that is current now (cheap enough to poll), ``open()`` loads it as an ``IndexStore``, ``rollback()``
makes the previous one current, ``manifest()`` reads the current manifest without loading, and
``describe()`` says what it is for ``/healthz`` and ``speechqa status``.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

from index import lifecycle
from index.errors import IndexNotBuilt, as_written

if TYPE_CHECKING:
    from index.store import FaissBm25Store, IndexStore

FAISS = "faiss"


def milvus_uri(spec: str) -> str | None:
    """The Milvus URI a ``--store`` value names, or None for the in-process FAISS store.

    ``faiss`` is the in-process store, a path ending in ``.db`` a Milvus Lite file,
    ``http(s)://host:port`` a Milvus server; anything else raises ValueError saying so.
    """
    spec = spec.strip()
    if spec == FAISS:
        return None
    if spec.endswith(".db"):
        return spec
    parsed = urlparse(spec)
    if parsed.scheme in ("http", "https") and parsed.hostname and _plain_address(parsed):
        return spec
    raise ValueError(f"store must be {as_written(FAISS)}, a Milvus Lite file ending in .db, or http(s)://host:port "
                     f"of a Milvus server (got {as_written(spec)})")


def _plain_address(parsed) -> bool:
    """A host and a port from 1 to 65535 (or none), nothing after them: pymilvus met :99999 or :abc with
    a traceback, took :0 for its default 19530, and /db1 for a database name to look up."""
    try:
        port = parsed.port
    except ValueError:
        return False
    # "host:" with no number reads as no port, and pymilvus took 19530
    return (port != 0 and not parsed.netloc.endswith(":") and parsed.path in ("", "/")
            and not (parsed.query or parsed.params or parsed.fragment))


class IndexSource(Protocol):
    """The index a command or a server uses, wherever it is held."""

    # whether a loaded build reads its rows from the source at every search (Milvus) rather than holding
    # them (FAISS): a source that loses its index then loses the loaded build too
    reads_at_search: bool

    def current(self) -> str | None:
        """The build id that is current, or None before the first build."""

    def open(self) -> IndexStore:
        """The current build, loaded and checked."""

    def manifest(self) -> dict:
        """The current build's manifest (checked), without loading the index."""

    def rollback(self) -> str:
        """Make the build before the current one current; returns what is current now."""

    def describe(self) -> dict:
        """``{"kind", ...}`` naming where the index is held."""

    def __str__(self) -> str:
        """The index root or the Milvus URI, for messages."""


class FaissSource:
    """Builds under an index root (``builds/<id>/``, ``CURRENT``): the in-process FAISS + bm25s store."""

    reads_at_search = False

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def __str__(self) -> str:
        return str(self.root)

    def current(self) -> str | None:
        return lifecycle.current_id(self.root)

    def open(self) -> FaissBm25Store:
        from index.store import FaissBm25Store

        return FaissBm25Store.load(lifecycle.current_build(self.root))

    def manifest(self) -> dict:
        from index.store import read_manifest, verify

        directory = lifecycle.current_build(self.root)
        manifest = read_manifest(directory)
        verify(directory, manifest)
        return manifest

    def rollback(self) -> str:
        """Serve the newest build served before the current one whose files still match their
        checksums (a build damaged since is passed over, as a reload would refuse it)."""
        from index.errors import IndexCorrupt, IndexNotBuilt
        from index.store import read_manifest, verify

        damaged = []
        for build_id in reversed(lifecycle.served_before(self.root)):
            directory = lifecycle.build_dir(self.root, build_id)
            try:
                verify(directory, read_manifest(directory))
            except (IndexCorrupt, IndexNotBuilt) as exc:
                damaged.append(f"{build_id} ({exc})")
                continue
            return lifecycle.rollback(self.root, to=build_id)
        if damaged:
            raise IndexCorrupt(f"no earlier build under {self.root} can be served: {'; '.join(damaged)}")
        return lifecycle.rollback(self.root)  # says why there is nothing to roll back to

    def describe(self) -> dict:
        return {"kind": "faiss", "index": str(self.root), "builds": lifecycle.builds(self.root)}


class MilvusSource:
    """Versions in one Milvus (``index.milvus.MilvusIndex``); the FAISS builds under the root feed them."""

    reads_at_search = True

    def __init__(self, index):
        self.index = index

    def __str__(self) -> str:
        return self.index.uri

    def current(self) -> str | None:
        version = self.index.current_version()
        return None if version is None else self.index.manifest(version)["build_id"]

    def open(self):
        return self.index.open()

    def manifest(self) -> dict:
        version = self.index.current_version()
        if version is None:
            raise IndexNotBuilt(f"no index in Milvus at {self.index.uri} — run `speechqa build --store {self.index.uri}`")
        return self.index.manifest(version)

    def rollback(self) -> str:
        return f"version {self.index.rollback()}"

    def describe(self) -> dict:
        return {"kind": "milvus", "uri": self.index.uri, "versions": self.index.versions()}


def source_for(store: str, root: Path | str, *, token: str = "", timeout: float | None = None) -> IndexSource:
    """The source a ``--store`` value names (``faiss``, a Milvus Lite ``.db`` file or ``http(s)://``);
    ``timeout`` bounds each call to Milvus (default ``index.milvus.DEFAULT_TIMEOUT``)."""
    from index.milvus.connection import DEFAULT_TIMEOUT

    uri = milvus_uri(store)
    if uri is None:
        return FaissSource(root)
    from index.milvus import MilvusIndex

    return MilvusSource(MilvusIndex(uri, token=token, timeout=DEFAULT_TIMEOUT if timeout is None else timeout))
