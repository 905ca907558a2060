"""Small file-system helpers every writer of the index shares: atomic replacement, checksums, caches."""
from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator


def sha256_file(path: Path | str) -> str:
    """The sha256 hex digest of a file, read in 1 MiB blocks so large files stay out of memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_writer(path: Path | str, mode: str = "w") -> Iterator[IO]:
    """Write ``path`` through a temporary file beside it that replaces it only once complete.

    Readers see the old file or the new one, never a half-written one; the data is fsynced
    before the rename, so a crash cannot publish an empty file either. On an exception the
    temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomically(path: Path | str, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path) as handle:
        handle.write(text)


def read_marshal(path: Path) -> object | None:
    """The value marshalled in ``path``, or None when it is missing or damaged.

    The file is read whole and decoded from memory: ``marshal.load`` on an open file fetches every
    object with a read call of its own, twice as slow on jieba's 500k-word dictionary.
    """
    try:
        return marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None


def write_marshal(path: Path, value: object) -> None:
    """Marshal ``value`` into ``path`` atomically, making its folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path, "wb") as handle:
        handle.write(marshal.dumps(value))


def cached_marshal(path: Path, make: Callable[[], object]) -> object:
    """``make()``'s value, kept in ``path`` (marshal) and read from there once it exists.

    A cache that cannot be written only costs ``make()`` again next time.
    """
    value = read_marshal(path)
    if value is not None:
        return value
    value = make()
    with contextlib.suppress(OSError):
        write_marshal(path, value)
    return value
