"""One Milvus endpoint: every call bounded by a timeout, every fault one domain error, recovery without a restart.

pymilvus keeps a gRPC channel per client; after the server goes away the channel backs off
and can stay failed after the server is back, so a call that finds the server unreachable
drops its client and the next call makes a fresh one (measured on Milvus Lite: refused
connections fail in ~10 ms, a stopped server at the timeout, and the first call after a
restart succeeds). Milvus Lite also starts with every indexed collection released, so a
collection found released is loaded and the call tried once more.
"""
from __future__ import annotations

import logging
import threading
import time

from index.errors import StoreLostIndex, StoreUnavailable

# Seconds any one call to Milvus may take: a search here answers in milliseconds, so anything
# slower means a server that is down or stuck, and the request should fail rather than hang.
DEFAULT_TIMEOUT = 5.0
# Writes and whole-collection reads (a publish, opening a version) move thousands of rows a call;
# Milvus Lite's BM25 analyzer took over a second for 500 passages on this loaded 2-core machine.
BULK_TIMEOUT = 120.0
# Milvus's codes for "collection not loaded" and "collection does not exist" (Milvus Lite and Milvus agree).
COLLECTION_NOT_LOADED = 101
COLLECTION_NOT_FOUND = 100
# Rows per page when reading a whole collection back.
SCAN_BATCH = 4096


def _unreachable(exc: BaseException) -> bool:
    import grpc
    from pymilvus.exceptions import ConnectionConfigException, MilvusException

    if isinstance(exc, grpc.RpcError):
        return exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                              grpc.StatusCode.CANCELLED)
    if isinstance(exc, ConnectionConfigException):
        return True  # a .db file another process holds, or its directory missing
    return isinstance(exc, MilvusException) and exc.code == 2  # pymilvus's CONNECT_FAILED


class Connection:
    """Calls to one Milvus (``uri``, ``token``), each within ``timeout`` seconds (``bulk_timeout`` for
    writes and scans).

    Thread-safe: requests share one client; a call that finds Milvus unreachable raises
    StoreUnavailable and lets the next call connect afresh.
    """

    def __init__(self, uri: str, *, token: str = "", timeout: float = DEFAULT_TIMEOUT,
                 bulk_timeout: float = BULK_TIMEOUT):
        self.uri = uri
        self.token = token
        self.timeout = timeout
        self.bulk_timeout = max(timeout, bulk_timeout)
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Connection({self.uri!r})"

    def _connected(self):
        with self._lock:
            if self._client is None:
                from pymilvus import MilvusClient

                # after the import, whose logging config sets its own levels: pymilvus logs every
                # failed call with a traceback (a released collection at each Milvus Lite start,
                # four in a server's log), Milvus Lite a 60-line one for a file another process
                # holds, and this class handles or reports each one itself
                for name in ("pymilvus", "milvus_lite"):
                    logging.getLogger(name).setLevel(logging.CRITICAL)

                # dedicated: pymilvus otherwise shares one channel per address, and a fresh
                # client would inherit the failed one. No keepalive pings on an idle channel:
                # Milvus Lite's gRPC server answers pymilvus's 10 s pings with GOAWAY
                # ("too_many_pings"), which fails the calls in flight.
                self._client = MilvusClient(self.uri, token=self.token, timeout=self.timeout, dedicated=True,
                                            grpc_options={"grpc.keepalive_permit_without_calls": False})
            return self._client

    def _forget(self, client) -> None:
        """Make the next call connect afresh. The old client is not closed: other threads may still be
        in a call on it (closing would fail them with "closed channel"); it closes when they let go."""
        with self._lock:
            if self._client is client:
                self._client = None

    def call(self, method: str, *args, **kwargs):
        """A read: ``MilvusClient.<method>(*args, **kwargs)`` within the timeout (the first argument, when a
        string, is the collection to load if Milvus reports it released), tried once more on a fresh
        channel if Milvus could not be reached.

        StoreUnavailable when Milvus cannot be reached or does not answer in time.
        """
        collection = args[0] if args and isinstance(args[0], str) else None

        def read(client):
            return getattr(client, method)(*args, timeout=self.timeout, **kwargs)

        started = time.monotonic()
        try:
            return self._run(collection, self.timeout, read)
        except StoreUnavailable as exc:
            # a connection refused fails in milliseconds; one that waited out the timeout (a frozen
            # Milvus) would only wait it out again, and the request would take twice its bound
            if (isinstance(exc, StoreLostIndex) or not _refused(exc.__cause__)
                    or time.monotonic() - started > self.timeout / 2):
                raise  # a lost collection is not lost in transit
            # a read is safe to repeat: once more on a fresh channel (the old one may have been
            # closed under it by the server, GOAWAY), and a Milvus that is really down refuses fast
            return self._run(collection, self.timeout, read)

    def write(self, method: str, collection: str, *args, **kwargs):
        """A call that writes (``insert``, ``upsert``, ``delete``, ``create_collection``), within ``bulk_timeout``."""
        return self._run(collection, self.bulk_timeout, lambda client: getattr(client, method)(
            collection, *args, timeout=self.bulk_timeout, **kwargs))

    def scan(self, collection: str, filter: str, fields: list[str]) -> list[dict]:
        """Every row of ``collection`` that matches ``filter``, with ``fields`` (a query is capped at 16,384 rows)."""
        def scan_all(client):
            rows: list[dict] = []
            iterator = client.query_iterator(collection, batch_size=SCAN_BATCH, filter=filter,
                                             output_fields=fields, timeout=self.bulk_timeout)
            try:
                while batch := iterator.next():
                    rows.extend(batch)
            finally:
                iterator.close()
            return rows

        return self._run(collection, self.bulk_timeout, scan_all)

    def _run(self, collection: str | None, timeout: float, work):
        from pymilvus.exceptions import MilvusException

        client = None
        try:
            client = self._connected()
            try:
                return work(client)
            except MilvusException as exc:
                if exc.code == COLLECTION_NOT_FOUND and collection is not None:
                    # a Milvus started on other data, or the collections dropped: not a bug of ours
                    # (it was a 500 and a traceback on every search), and no retry brings them back
                    raise StoreLostIndex(self._collection_gone(collection)) from exc
                if exc.code != COLLECTION_NOT_LOADED or collection is None:
                    raise
                client.load_collection(collection, timeout=self.bulk_timeout)
                return work(client)
        except Exception as exc:
            if not _unreachable(exc):
                raise
            if client is not None:
                self._forget(client)
            raise StoreUnavailable(self._unavailable(exc, timeout)) from exc

    def _collection_gone(self, collection: str) -> str:
        return (f"Milvus at {self.uri} holds no collection {collection}: the index it held is gone (Milvus started "
                f"on other data, or the collection dropped) — {lost_index_advice(self.uri)}")

    def _unavailable(self, exc: BaseException, timeout: float) -> str:
        """What went wrong reaching Milvus, and what to do: a Milvus Lite file fails to open at once
        (its folder missing, or another process holding it), a server by not answering."""
        from pathlib import Path

        from pymilvus.exceptions import ConnectionConfigException

        if self.uri.endswith(".db") and isinstance(exc, ConnectionConfigException):
            folder = Path(self.uri).parent
            if not folder.is_dir():
                return (f"the folder of the Milvus Lite file {self.uri} does not exist — create {folder}, "
                        "or point --store (or $SPEECHQA_STORE) elsewhere")
            return (f"the Milvus Lite file {self.uri} could not be opened ({_reason(exc)}): it is open in one "
                    "process at a time — to share it, run "
                    f"`milvus-lite server --data-dir {self.uri}` and use --store http://127.0.0.1:19530")
        if self.uri.endswith(".db"):
            # nothing to start: a file this process opened, slow (a librarian's 3,420 speeches: 277 s to open,
            # then every search past the deadline), where "start it" sent the reader looking for a server
            return (f"the Milvus Lite file {self.uri} did not answer within {timeout:g} s ({_reason(exc)}): Milvus "
                    "Lite, a pure-Python engine, serves tests and small libraries — for thousands of speeches use "
                    "the default faiss store or a Milvus server (README: Milvus)")
        return (f"Milvus at {self.uri} is unreachable or did not answer within {timeout:g} s ({_reason(exc)}) — "
                "start it, or point --store (or $SPEECHQA_STORE) at a running one")

    def close(self) -> None:
        """Drop the client (a later call connects again)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def lost_index_advice(uri: str) -> str:
    """What to do when the Milvus at ``uri`` answers but no longer holds the index."""
    return f"start it on the data that holds the index, or publish again with `speechqa --store {uri} build`"


def _refused(exc: BaseException | None) -> bool:
    """A failure to reach Milvus at all, as opposed to a call it did not answer in time."""
    import grpc

    return exc is not None and not (isinstance(exc, grpc.RpcError) and exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED)


def _reason(exc: BaseException) -> str:
    import grpc

    if isinstance(exc, grpc.RpcError):
        return exc.code().name.lower().replace("_", " ")
    return getattr(exc, "message", None) or str(exc)
