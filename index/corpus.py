"""Where a corpus's files are and what each is called: the names its speeches take as ``source``.

``corpus_named`` turns the sources a build or ``speechqa add`` is given (folders, or single ``.txt``
and ``.docx`` files) into the files to read, each with a name no other file of the corpus has;
``corpus_files`` walks one folder, naming every other file it finds (another kind, a link, a pipe)
in a warning. ``named_as_copy`` tells a copy's name from its original's, for ``index.parse.load_corpus``
to keep the original of two files with one text.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from index.errors import CorpusError
from index.sidecar import SIDECAR_SUFFIX
from index.simplified import simplified
from index.word import WORD_SUFFIX

CORPUS_SUFFIXES = (".txt", WORD_SUFFIX)
# Word keeps an open document's owner in "~$<name>.docx" beside it: a lock, not a document.
_WORD_LOCK_PREFIX = "~$"
# ``content_digest`` of a file that cannot be read: the same until it can be, as the build's warning about it is.
UNREADABLE = "unreadable"
# The names file managers and browsers give a copy, before the extension: 讲话 - 副本, 讲话 副本 2, 讲话的副本,
# 讲话 拷贝, 讲话 - Copy (2), 讲话 copy 2, 讲话 (copy), 讲话 (2nd copy), 讲话 (1), 讲话（1）; and Copy of 讲话.
_COPY_NAME = re.compile(r"(?:副本|拷贝|(?<![a-z])copy|[(（](?:another |\d{1,3}(?:st|nd|rd|th) )?copy[)）])"
                        r"(?:\s*[(（]?\d{1,3}[)）]?)?$|[(（]\d{1,3}[)）]$", re.IGNORECASE)
_COPY_OF = re.compile(r"copy(?: \(\d{1,3}\))? of ", re.IGNORECASE)


def corpus_files(directory: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """The corpus files under ``directory`` and its folders, each with its name (its path from
    ``directory``, as a speech's ``source``), and a warning for each other file there.

    Libraries are kept in folders by year or topic, so every folder is read, in path order; hidden
    ones (.git) are not, and a link is named in a warning, not followed: one to a folder could lead
    back up the tree, and one to a file would let whoever may write to an intake folder publish any
    file the service may read (/etc/…, /dev/zero). So is what is no regular file (a named pipe, whose
    read never ends). Sidecars, hidden files and Word's lock files are neither corpus nor warned about.
    """
    chosen, others, links, file_links, unreadable = [], [], [], [], []
    for folder, folders, names in os.walk(directory):
        folders[:] = [f for f in folders if not f.startswith(".")]
        for name in folders + names:
            path = Path(folder) / name
            entry = (path, path.relative_to(directory).as_posix())
            if name in folders:  # os.walk lists a link to a folder here, and never enters it
                links += [entry] if path.is_symlink() else []
            elif name.startswith((".", _WORD_LOCK_PREFIX)) or name.endswith(SIDECAR_SUFFIX):
                continue
            elif path.suffix.lower() not in CORPUS_SUFFIXES:
                others.append(entry)
            elif path.is_symlink():
                file_links.append(entry)
            elif not path.is_file():
                unreadable.append(entry)
            else:
                chosen.append(entry)
    return _in_path_order(chosen), (
        [f"{relative}: skipped, a link to a folder (not followed) — give the folder itself as --corpus"
         for _, relative in _in_path_order(links)]
        + [f"{relative}: skipped, a link (not followed) — give the file it points to itself to index it"
           for _, relative in _in_path_order(file_links)]
        + [f"{relative}: skipped, not a regular file (a named pipe or a device)"
           for _, relative in _in_path_order(unreadable)]
        + [f"{relative}: skipped, not a .txt or .docx file — save it as UTF-8 text or .docx to index it"
           for _, relative in _in_path_order(others)])


def corpus_named(sources: Sequence[Path]) -> tuple[list[tuple[Path, str]], list[str]]:
    """Each source's corpus files with the name its speeches take as ``source``, and the warnings.

    A folder's files are named by their path from it, a file given alone by its own name. A name an
    earlier source already gave to another file takes as many of its folders as make it unique
    (``2024/汇编.txt``): a speech's id is drawn from its source and title, so an updated copy of a
    library file given to `speechqa add` from elsewhere would otherwise share its speeches' ids.
    Earlier sources keep their names, so adding a file never renames what the index already holds.
    """
    files: list[tuple[Path, str]] = []
    warnings: list[str] = []
    taken: set[str] = set()
    for source in sources:
        check_source(source)
        found, problems = ([(source, source.name)], []) if source.is_file() else corpus_files(source)
        warnings += problems if found else problems + [f"{source}: no .txt or .docx files found"]
        problems = [_not_utf8_name(name) for _, name in found if not _is_utf8_name(name)]
        found = [(path, name) for path, name in found if _is_utf8_name(name)]
        warnings += problems
        named = [(path, _unique_name(path, name, taken)) for path, name in found]
        taken.update(name for _, name in named)
        files += named
    return files, warnings


def _is_utf8_name(name: str) -> bool:
    """Whether a file name decoded as UTF-8: Python keeps other bytes as lone surrogates, which no
    speech id, index file or JSON answer can hold."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_name(name: str) -> str:
    """A file name as warnings print it: bytes that are not UTF-8 as \\x escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _not_utf8_name(name: str) -> str:
    """The warning for a file whose name is not UTF-8 (a zip made on Chinese Windows names files in GBK)."""
    raw = name.encode("utf-8", "surrogateescape")
    shown = shown_name(name)
    try:
        as_gbk = f" (read as GBK: {raw.decode('gbk')})"
    except UnicodeDecodeError:
        as_gbk = ""
    return (f"{shown}: skipped, its file name is not UTF-8{as_gbk} — rename it, "
            "e.g. `convmv -f gbk -t utf-8 --notest FILE`, to index it")


def content_digest(path: Path) -> str:
    """A digest of what a build reads of the corpus file ``path``: its bytes and its sidecar's, if it has one
    (``UNREADABLE`` where either cannot be read), so an edit to either tells the file from what was indexed."""
    digest = hashlib.sha256()
    try:
        digest.update(path.read_bytes())
        sidecar = path.with_suffix(SIDECAR_SUFFIX)
        if sidecar.exists():
            digest.update(b"\0" + SIDECAR_SUFFIX.encode() + b"\0" + sidecar.read_bytes())
    except OSError:
        return UNREADABLE
    return digest.hexdigest()


def check_source(source: Path) -> None:
    """CorpusError for a source that cannot be read: not there, or a file given by name that is no .txt
    or .docx (a folder's other files are named in a warning; one named alone was meant to be read)."""
    if not source.exists():
        raise CorpusError(f"corpus path {source} does not exist")
    if source.is_file() and source.suffix.lower() not in CORPUS_SUFFIXES:
        raise CorpusError(f"{source}: not a .txt or .docx file — save it as UTF-8 text or .docx")


def _unique_name(path: Path, name: str, taken: set[str]) -> str:
    parts = path.absolute().parts  # parts[0] is the root
    used = len(Path(name).parts)
    while name in taken and used < len(parts) - 1:
        used += 1
        name = "/".join(parts[-used:])
    return path.absolute().as_posix() if name in taken else name


def _in_path_order(found: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    # by folder, then name: a/b.txt before a/c/d.txt before ab.txt, as a file manager lists them
    return sorted(found, key=lambda item: Path(item[1]).parts)


def named_as_copy(name: str) -> bool:
    """Whether a file's name is one a file manager or a browser gives a copy (``_COPY_NAME``, ``_COPY_OF``)."""
    stem = simplified(Path(name).stem.strip())
    return bool(_COPY_NAME.search(stem) or _COPY_OF.match(stem))
