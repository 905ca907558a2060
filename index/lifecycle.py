"""Versioned builds under one index root, published atomically.

Layout::

    <root>/builds/<build-id>/   complete builds (see index/store.py)
    <root>/CURRENT              the build id being served, replaced atomically
    <root>/SERVED               the builds CURRENT has named, oldest first, that rollback returns through
    <root>/cache/               embeddings by passage hash, reused across builds

A build is written to ``builds/.tmp-*`` and renamed into place before CURRENT
changes, so a reader only ever sees complete builds; a build killed halfway leaves
a ``.tmp-*`` directory that the next build removes.

Rollback follows SERVED, not the order of build ids: after a rollback and a new build, the
build rolled away from is no longer what a rollback returns to, and pruning keeps the builds
SERVED still names (and, until the next publish, one an unchanged rebuild replaced).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from index.errors import IndexCorrupt, IndexNotBuilt
from index.files import write_text_atomically

# Where `speechqa` keeps its index when neither --index nor $SPEECHQA_INDEX says otherwise.
DEFAULT_ROOT = Path("var/index")
BUILDS = "builds"
CURRENT = "CURRENT"
SERVED = "SERVED"
KEEP_BUILDS = 3
# What two builds of the same files into the same index differ in: when, and under which id, they were made.
MADE = ("build_id", "built_at")


@dataclass(frozen=True)
class Published:
    """Where a published build lives, and the current build it repeated (None: it differs from it).

    A repeat takes the place of the build it repeats among the kept ones, so an unchanged
    rebuild costs no rollback slot.
    """

    directory: Path
    replaced: str | None


def new_build_id() -> str:
    """A sortable, unique build id (UTC time plus a few random characters)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{os.urandom(2).hex()}"


def staging_dir(root: Path) -> Path:
    """A fresh path to build into; leftovers of killed builds are removed first."""
    builds = root / BUILDS
    builds.mkdir(parents=True, exist_ok=True)
    clear_staging(root)
    return Path(tempfile.mkdtemp(prefix=".tmp-", dir=builds)) / "index"


def clear_staging(root: Path) -> None:
    """Remove what builds that did not finish staged (one build runs per root at a time)."""
    for leftover in (root / BUILDS).glob(".tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def same_build(manifest: dict, other: dict) -> bool:
    """Whether two manifests describe the same index: equal, every file's checksum included, but for ``MADE``
    and the record of the corpus files' bytes (``store.FILES_READ``): a file saved again with the same text
    changes that record, not the index."""
    from index.store import FILES_READ

    def index_part(manifest: dict) -> dict:
        files = {name: digest for name, digest in (manifest.get("files") or {}).items() if name != FILES_READ}
        return {k: v for k, v in manifest.items() if k not in MADE} | {"files": files}

    return index_part(manifest) == index_part(other)


def publish(root: Path, staged: Path, build_id: str) -> Published:
    """Move a complete staged build into place and make it current.

    A build that repeats the current one byte for byte takes its place in the served history
    instead of pushing the builds before it towards pruning.
    """
    from index.store import read_manifest

    history = served(root)
    replaced = None
    if history and history[-1] == current_id(root):
        try:
            if same_build(read_manifest(build_dir(root, history[-1])), read_manifest(staged)):
                replaced = history.pop()
        except (IndexNotBuilt, IndexCorrupt):
            pass  # a current build that cannot be read is repeated by nothing: the new one is pushed after it
    final = build_dir(root, build_id)
    os.replace(staged, final)
    shutil.rmtree(staged.parent, ignore_errors=True)
    _write_served(root, [*history, build_id])
    write_text_atomically(root / CURRENT, build_id + "\n")
    prune(root, spare=replaced)
    return Published(final, replaced)


def build_dir(root: Path, build_id: str) -> Path:
    """Where the build ``build_id`` lives under ``root`` (whether or not it exists)."""
    return root / BUILDS / build_id


def builds(root: Path) -> list[str]:
    """Complete build ids, oldest first."""
    directory = root / BUILDS
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def current_id(root: Path) -> str | None:
    """The id of the build being served, if any."""
    try:
        build_id = (root / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return build_id or None


def current_build(root: Path) -> Path:
    """The directory of the build being served, or IndexNotBuilt saying what to run."""
    build_id = current_id(root)
    if build_id is None:
        raise IndexNotBuilt(f"no index at {root} — run `speechqa build`")
    if not build_dir(root, build_id).is_dir():
        earlier = "`speechqa rollback` serves the build before it, " if served(root) else ""
        raise IndexNotBuilt(f"the current build {build_id} under {root} is gone — {earlier}"
                            "`speechqa build` rebuilds the index's sources")
    return build_dir(root, build_id)


def served(root: Path) -> list[str]:
    """The builds still kept that CURRENT has named, oldest first: the current one last, when it is kept.

    CURRENT decides where SERVED may be behind or ahead of it (a publish or rollback killed
    between the two writes, CURRENT written by hand): entries after the current build are
    dropped, and a current build SERVED lacks is added. A root written before SERVED existed
    reads as its builds up to the current one in id order, which rollback followed then.
    """
    current = current_id(root)
    try:
        history = (root / SERVED).read_text(encoding="utf-8").split()
    except FileNotFoundError:
        history = [b for b in builds(root) if current is None or b < current]
    if current in history:
        history = history[:len(history) - history[::-1].index(current)]
    elif current is not None:
        history.append(current)
    return [b for b in history if build_dir(root, b).is_dir()]


def _write_served(root: Path, history: list[str]) -> None:
    write_text_atomically(root / SERVED, "".join(f"{b}\n" for b in history))


def served_before(root: Path) -> list[str]:
    """The kept builds served before the current one, oldest first: what a rollback returns through
    (all of ``served(root)`` when CURRENT names a build that is gone). IndexNotBuilt without an index."""
    history = served(root)
    current = current_id(root)
    if history and history[-1] == current:
        return history[:-1]
    if history and current is not None:
        return history
    raise IndexNotBuilt(f"no index at {root} — run `speechqa build`")


def rollback(root: Path, to: str | None = None) -> str:
    """Make the build served before the current one current again, or ``to``, one served earlier
    still (of ``served_before(root)``); returns its id."""
    earlier = served_before(root)
    if to is not None:
        earlier = earlier[:earlier.index(to) + 1]
    if not earlier:
        raise IndexNotBuilt(f"no earlier build to roll back to under {root}: {current_id(root)} is the oldest kept")
    write_text_atomically(root / CURRENT, earlier[-1] + "\n")
    _write_served(root, earlier)
    return earlier[-1]


def prune(root: Path, keep: int = KEEP_BUILDS, *, spare: str | None = None) -> None:
    """Keep the current build and the ``keep - 1`` a rollback would return through; remove the others.

    ``spare`` is kept this once though no rollback returns to it: the build a repeat just replaced,
    which a server serves until its next reload. The next publish removes it.
    """
    kept = served(root)[-keep:]
    if not kept:
        return  # no build is known to have been served: what to keep is unknown, so nothing is removed
    _write_served(root, kept)
    for old in builds(root):
        if old not in kept and old != spare:
            shutil.rmtree(build_dir(root, old), ignore_errors=True)
