"""Versioned builds under one index root, published atomically.

Layout::

    <root>/builds/<build-id>/   complete builds (see index/store.py)
    <root>/CURRENT              the build id being served, replaced atomically
    <root>/cache/               embeddings by passage hash, reused across builds

A build is written to ``builds/.tmp-*`` and renamed into place before CURRENT
changes, so a reader only ever sees complete builds; a build killed halfway leaves
a ``.tmp-*`` directory that the next build removes.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from index.errors import IndexNotBuilt
from index.files import write_text_atomically

# Where `speechqa` keeps its index when neither --index nor $SPEECHQA_INDEX says otherwise.
DEFAULT_ROOT = Path("var/index")
BUILDS = "builds"
CURRENT = "CURRENT"
KEEP_BUILDS = 3


def new_build_id() -> str:
    """A sortable, unique build id (UTC time plus a few random characters)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{os.urandom(2).hex()}"


def staging_dir(root: Path) -> Path:
    """A fresh path to build into; leftovers of killed builds are removed first."""
    builds = root / BUILDS
    builds.mkdir(parents=True, exist_ok=True)
    for leftover in builds.glob(".tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=".tmp-", dir=builds)) / "index"


def publish(root: Path, staged: Path, build_id: str) -> Path:
    """Move a complete staged build into place and make it current."""
    final = build_dir(root, build_id)
    os.replace(staged, final)
    shutil.rmtree(staged.parent, ignore_errors=True)
    write_text_atomically(root / CURRENT, build_id + "\n")
    prune(root)
    return final


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
    if build_id is None or not build_dir(root, build_id).is_dir():
        raise IndexNotBuilt(f"no index at {root} — run `speechqa build`")
    return build_dir(root, build_id)


def rollback(root: Path) -> str:
    """Make the build before the current one current again; returns its id."""
    build_id = current_id(root)
    history = builds(root)
    if not history:
        raise IndexNotBuilt(f"no index at {root} — run `speechqa build`")
    older = [b for b in history if build_id is None or b < build_id]
    if not older:
        raise IndexNotBuilt(f"no earlier build to roll back to under {root}: {build_id} is the oldest kept")
    write_text_atomically(root / CURRENT, older[-1] + "\n")
    return older[-1]


def prune(root: Path, keep: int = KEEP_BUILDS) -> None:
    """Remove all but the newest ``keep`` builds, never the current one."""
    build_id = current_id(root)
    for old in builds(root)[:-keep]:
        if old != build_id:
            shutil.rmtree(build_dir(root, old), ignore_errors=True)
