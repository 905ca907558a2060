"""A build killed halfway leaves the served index untouched; the next build succeeds."""
import os
import signal
import subprocess
import sys
import time

from index import lifecycle, store
from index.build import build

from .conftest import SEEDS


def test_sigkill_during_build_keeps_the_served_index(tmp_path, encoder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("第一篇讲话\n一、总的要求\n坚持稳中求进。\n", encoding="utf-8")
    root = tmp_path / "index"
    served = build([corpus], root, encoder=encoder)
    small_seed = min(SEEDS.glob("*.txt"), key=lambda p: p.stat().st_size)
    (corpus / small_seed.name).write_bytes(small_seed.read_bytes())

    child = subprocess.Popen([sys.executable, "-m", "service", "--index", str(root), "build", "--corpus", str(corpus)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        # tqdm's bar on stderr means parsing is done and embedding has started: kill it there.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "%|" not in child.stderr.read(64):
            pass
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    assert lifecycle.current_build(root) == served.directory
    store.verify(served.directory, store.read_manifest(served.directory))
    assert [p.speech_title for p in store.FaissBm25Store.load(served.directory).passages] == ["第一篇讲话"]

    finished = build([corpus], root, encoder=encoder)
    assert lifecycle.current_build(root) == finished.directory
    assert finished.manifest["counts"]["speeches"] == 2
    assert not list((root / lifecycle.BUILDS).glob(".tmp-*"))


def test_build_if_missing_keeps_a_servable_index_and_rebuilds_one_tokenised_by_an_older_version(tmp_path, capsys):
    from service.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "grain.txt").write_text("守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。二是加强高标准农田建设。\n",
                                      encoding="utf-8")
    root = tmp_path / "index"
    command = ["--index", str(root), "build", "--corpus", str(corpus), "-q", "--if-missing"]
    assert main(command) == 0
    first = lifecycle.current_id(root)
    assert main(command) == 0 and lifecycle.current_id(root) == first
    assert "index already built at" in capsys.readouterr().out
    # the manifest an earlier release wrote, before passages' documents held their English
    manifest_path = lifecycle.current_build(root) / store.MANIFEST
    manifest_path.write_text(manifest_path.read_text(encoding="utf-8").replace(
        store.read_manifest(lifecycle.current_build(root))["lexical"], "jieba-search-title-2"), encoding="utf-8")
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "cannot be served (tokenised as 'jieba-search-title-2', this program tokenises as" in out
    assert lifecycle.current_id(root) != first
    assert "0 texts embedded now" in out  # the vectors came from the cache


def test_sources_are_read_once_however_often_a_file_or_its_folder_is_given(tmp_path):
    from index.build import distinct_sources

    folder, elsewhere = tmp_path / "library", tmp_path / "elsewhere"
    (folder / "sub").mkdir(parents=True)
    (folder / ".drafts").mkdir()
    elsewhere.mkdir()
    for path in (folder / "a.txt", folder / "sub" / "b.txt", folder / ".drafts" / "c.txt", elsewhere / "d.txt"):
        path.write_text("x", encoding="utf-8")
    given = [folder / "a.txt", folder, elsewhere / "d.txt", folder / "sub", folder / "sub" / "b.txt",
             elsewhere / "d.txt", folder / ".drafts" / "c.txt"]
    # the folder reads a.txt and sub/ itself; a file in a hidden folder is read only as given
    assert distinct_sources(given) == [folder, elsewhere / "d.txt", folder / ".drafts" / "c.txt"]


def test_an_updated_copy_of_a_library_file_added_from_elsewhere_keeps_both_apart(tmp_path, capsys):
    from index.search import load_searcher
    from service.cli import main

    corpus, downloads, copies, root = (tmp_path / name for name in ("corpus", "downloads", "copies", "index"))
    for folder in (corpus, downloads, copies):
        folder.mkdir()
    text = "守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。二是加强高标准农田建设。\n"
    (corpus / "grain.txt").write_text(text, encoding="utf-8")
    (downloads / "grain.txt").write_text(text + "三是健全种粮农民收益保障机制。\n", encoding="utf-8")
    (copies / "grain.txt").write_text(text, encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    (library_speech,) = load_searcher(root).speeches
    # same name, same title: the speech id (drawn from source and title) must not be shared
    assert main(["--index", str(root), "add", str(downloads / "grain.txt"), "-q"]) == 0
    speeches = {s.source: s for s in load_searcher(root).speeches}
    assert sorted(speeches) == ["downloads/grain.txt", "grain.txt"]
    assert speeches["grain.txt"].id == library_speech.id and speeches["downloads/grain.txt"].id != library_speech.id
    capsys.readouterr()
    # a copy of what the library already holds is named in a warning, not indexed again
    assert main(["--index", str(root), "add", str(copies / "grain.txt"), "-q"]) == 0
    assert "warning: copies/grain.txt: skipped, same content as grain.txt" in capsys.readouterr().err
    assert sorted(s.source for s in load_searcher(root).speeches) == ["downloads/grain.txt", "grain.txt"]


def test_add_indexes_a_file_once_and_build_keeps_what_add_gave_the_index(tmp_path, capsys):
    from index.search import load_searcher
    from service.cli import main

    corpus, elsewhere, root = tmp_path / "corpus", tmp_path / "elsewhere", tmp_path / "index"
    corpus.mkdir()
    elsewhere.mkdir()
    (corpus / "grain.txt").write_text("守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。二是加强高标准农田建设。\n",
                                      encoding="utf-8")
    (elsewhere / "flood.txt").write_text("守好城市防汛底线\n一、加强预警\n完善暴雨预警发布机制，提前转移危险区域群众。\n",
                                         encoding="utf-8")

    def titles() -> list[str]:
        return sorted(s.title for s in load_searcher(root).speeches)

    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    # a file the corpus folder already holds is not indexed a second time
    assert main(["--index", str(root), "add", str(corpus / "grain.txt"), "-q"]) == 0
    assert titles() == ["守好粮仓"]
    assert main(["--index", str(root), "add", str(elsewhere / "flood.txt"), "-q"]) == 0
    assert titles() == ["守好城市防汛底线", "守好粮仓"]
    # its folder added later reads it once
    assert main(["--index", str(root), "add", str(elsewhere), "-q"]) == 0
    assert titles() == ["守好城市防汛底线", "守好粮仓"]
    capsys.readouterr()
    # a build without --corpus rebuilds the index's own sources, the added ones too
    assert main(["--index", str(root), "build", "-q"]) == 0
    assert f"rebuilding the current index's sources: {corpus.resolve()}, {elsewhere.resolve()}" in capsys.readouterr().out
    assert titles() == ["守好城市防汛底线", "守好粮仓"]
    # and refuses, rather than drop its speeches, when one of them is gone
    (elsewhere / "flood.txt").unlink()
    elsewhere.rmdir()
    served = lifecycle.current_id(root)
    assert main(["--index", str(root), "build", "-q"]) == 2
    assert (f"the current index was built from {elsewhere.resolve()}, which no longer exists — give what to "
            "build with --corpus") in capsys.readouterr().err
    assert lifecycle.current_id(root) == served
