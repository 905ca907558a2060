"""The index root's life: a build killed halfway leaves the served index untouched; rollback follows what was
served and pruning keeps it; an unchanged rebuild costs no rollback slot; a build rebuilds what is served."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    assert "cannot be served (tokenised as \"jieba-search-title-2\", this program tokenises as" in out
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
    # a copy of what the library already holds is named in a warning, not indexed again, and `add`
    # fails, saying so last: it added nothing
    assert main(["--index", str(root), "add", str(copies / "grain.txt"), "-q"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[-3:] == [
        "warning: copies/grain.txt: skipped, same content as grain.txt",
        f"warning: {copies / 'grain.txt'}: no speech came from it, so it is not kept among the sources the index "
        "is rebuilt from",
        f"speechqa: no speech came from {copies / 'grain.txt'}, so nothing of it was added (the warnings above "
        "say why)"]
    assert sorted(s.source for s in load_searcher(root).speeches) == ["downloads/grain.txt", "grain.txt"]


def test_a_file_the_index_held_stays_a_source_when_a_later_original_gives_its_text(tmp_path, capsys):
    # a 副本 added first, then its original: the copy was dropped from the sources silently, and its text
    # was lost once the original was removed
    from index.search import load_searcher
    from service.cli import main

    corpus, intake, root = tmp_path / "corpus", tmp_path / "intake", tmp_path / "index"
    corpus.mkdir(), intake.mkdir()
    (corpus / "base.txt").write_text("守好粮仓\n要压实粮食安全党政同责。\n", encoding="utf-8")
    text = "做好生态环境工作\n今年以来，全市累计排查黑臭水体问题866个。\n"
    copy, original = intake / "生态环境 - 副本.txt", intake / "生态环境.txt"
    copy.write_text(text, encoding="utf-8")
    original.write_text(text, encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    assert main(["--index", str(root), "add", str(copy), "-q"]) == 0
    assert main(["--index", str(root), "add", str(original), "-q"]) == 0
    sources = [Path(s) for s in load_searcher(root).manifest["sources"]]
    assert copy.resolve() in sources and original.resolve() in sources
    assert main(["--index", str(root), "remove", str(original), "-q"]) == 0
    (speech,) = [s for s in load_searcher(root).speeches if s.title == "做好生态环境工作"]
    assert speech.source == "生态环境 - 副本.txt"
    capsys.readouterr()


def test_add_lists_the_warnings_about_its_files_and_counts_the_librarys_own(tmp_path, capsys):
    from service.cli import main

    corpus, root = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "grain.txt").write_text("守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。\n", encoding="utf-8")
    (corpus / "notes.md").write_text("# 笔记\n", encoding="utf-8")  # not indexed, and said so at every build
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    flood = tmp_path / "flood.txt"
    flood.write_text("守好堤防\n【哒哒素材库】——每天更新材料1000多篇\n一、做好防汛工作\n一是加固堤防。\n",
                     encoding="utf-8")
    library_warning = next(line for line in capsys.readouterr().err.splitlines() if "notes.md" in line)
    assert main(["--index", str(root), "add", str(flood), "-q"]) == 0
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert errors == ["warning: 1 about the library's other files, as before (`--all-warnings` lists them)",
                      "warning: 1 line left out as advertisements, in 1 file (`-v` lists them)"]
    flood.write_text(flood.read_text(encoding="utf-8") + "二是疏浚河道。\n", encoding="utf-8")
    assert main(["--index", str(root), "add", str(flood), "-q", "--all-warnings", "-v"]) == 0
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert errors[0] == library_warning and "flood.txt: left out as an advertisement" in errors[-1]
    # remove counts them too: every warning left is about the library's own files
    assert main(["--index", str(root), "remove", str(flood), "-q"]) == 0
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")] == [
        "warning: 1 about the library's other files, as before (`--all-warnings` lists them)"]
    assert main(["--index", str(root), "add", str(flood), "-q"]) == 0
    assert main(["--index", str(root), "remove", str(flood), "-q", "--all-warnings"]) == 0
    assert library_warning in capsys.readouterr().err.splitlines()


def test_add_prints_the_files_it_skipped_below_the_speeches_and_above_the_summary_and_counts_the_ads(
        tmp_path, capsys, monkeypatch):
    from service.cli import main

    corpus, day, root = corpus_of(tmp_path / "corpus", GRAIN), tmp_path / "day", tmp_path / "index"
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    day.mkdir()
    (day / "ads.txt").write_text("守好堤防\n【哒哒素材库】——每天更新材料1000多篇\n一、做好防汛工作\n一是加固堤防。\n"
                                 "关注公众号“哒哒素材库”，获取更多材料\n", encoding="utf-8")
    (day / "empty.txt").write_bytes(b"")
    (day / "flood.txt").write_text(FLOOD, encoding="utf-8")
    (day / "flood - 副本.txt").write_text(FLOOD, encoding="utf-8")
    capsys.readouterr()
    monkeypatch.setattr(sys, "stderr", sys.stdout)  # one stream, as a terminal shows both
    assert main(["--index", str(root), "add", str(day), "-q"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[:2] == ["    added: 守好堤防 (ads.txt)", "    added: 守好城市防汛底线 (flood.txt)"]
    assert said[2:5] == ["warning: 2 lines left out as advertisements, in 1 file (`-v` lists them)",
                         "warning: empty.txt: skipped, empty file",
                         "warning: flood - 副本.txt: skipped, same content as flood.txt"]
    assert said[5].startswith("built ") and said[-1].startswith("  changes: +2 / -0 passages; speeches added 2")
    assert len(said) == 8
    # -v lists each line left out, in its place among the warnings
    (day / "ads.txt").write_text((day / "ads.txt").read_text(encoding="utf-8") + "二是巡查河道。\n", encoding="utf-8")
    assert main(["--index", str(root), "add", str(day), "-q", "-v"]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning: ")]
    assert [line.split(": ")[1:3] for line in warnings] == [
        ["ads.txt", "left out as an advertisement"], ["ads.txt", "left out as an advertisement"],
        ["empty.txt", "skipped, empty file"], ["flood - 副本.txt", "skipped, same content as flood.txt"]]


def test_a_folder_added_names_its_own_bad_files_and_a_name_that_is_not_utf8_skips_only_that_file(tmp_path, capsys):
    from service.cli import main

    corpus, root, day = tmp_path / "corpus", tmp_path / "index", tmp_path / "day"
    corpus.mkdir()
    day.mkdir()
    (corpus / "grain.txt").write_text("守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。\n", encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    (day / "flood.txt").write_text("守好堤防\n一、做好防汛工作\n一是加固堤防。\n", encoding="utf-8")
    (day / "empty.txt").write_bytes(b"")
    # 名字.txt as a zip made on Chinese Windows names it: GBK bytes, which Python reads as lone surrogates
    gbk_name = os.fsdecode(b"\xc3\xfb\xd7\xd6.txt")
    (day / gbk_name).write_text("守好边境\n一、强边固防\n一是巡边护边。\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["--index", str(root), "add", str(day), "-q"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: \\xc3\\xfb\\xd7\\xd6.txt: skipped, its file name is not UTF-8 (read as GBK: 名字.txt) — rename it, "
        "e.g. `convmv -f gbk -t utf-8 --notest FILE`, to index it",
        "warning: empty.txt: skipped, empty file"]
    assert [s.title for s in store.FaissBm25Store.load(lifecycle.current_build(root)).speeches] == ["守好粮仓", "守好堤防"]
    # the file stays in the folder, and the next build skips it again instead of failing
    assert main(["--index", str(root), "build", "-q"]) == 0


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
    assert (f"the current index was built from {elsewhere.resolve()}, which no longer exists — moved or renamed? "
            "put it back, or `speechqa remove` it (a folder: every file `add` gave from it) and `speechqa add` the "
            "files where they are now (their text is embedded already), or give what to build with --corpus"
            ) in capsys.readouterr().err
    assert lifecycle.current_id(root) == served
    # a gone source `add` gave is removed by name, and the index is rebuilt without its speeches
    assert main(["--index", str(root), "remove", str(elsewhere), "-q"]) == 0
    assert titles() == ["守好粮仓"] and lifecycle.current_id(root) != served
    assert "removed: 守好城市防汛底线" in capsys.readouterr().out
    assert main(["--index", str(root), "build", "-q"]) == 0


def _checked(line: str) -> str:
    """An `add` line with its "checked by content in N s" time left out."""
    return re.sub(r"checked by content in \d+\.\ds", "checked by content in …", line)


def test_add_of_unchanged_files_builds_nothing_and_an_edit_anywhere_in_the_sources_is_read_again(tmp_path, capsys):
    from index.search import load_searcher
    from service.cli import main

    corpus, elsewhere, root = tmp_path / "corpus", tmp_path / "elsewhere", tmp_path / "index"
    corpus.mkdir()
    elsewhere.mkdir()
    grain, flood, storm = corpus / "grain.txt", elsewhere / "flood.txt", elsewhere / "storm.txt"
    grain.write_text("守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。\n", encoding="utf-8")
    flood.write_text("守好城市防汛底线\n一、加强预警\n完善暴雨预警发布机制。\n", encoding="utf-8")
    storm.write_text("防御台风\n一、提前转移\n提前转移危险区域群众。\n", encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    assert main(["--index", str(root), "add", str(flood), "-q"]) == 0
    served = lifecycle.current_id(root)
    capsys.readouterr()

    # the same bytes given again, the folder's file too: said, and nothing built
    assert main(["--index", str(root), "add", str(flood), str(grain), "-q"]) == 0
    assert _checked(capsys.readouterr().out) == (
        "all 2 files given are unchanged since the current build read them, as is every other file of the index's "
        "sources (checked by content in …): nothing to add, nothing rebuilt\n")
    assert lifecycle.current_id(root) == served
    # an edited file given again is read again
    flood.write_text(flood.read_text(encoding="utf-8") + "二、及时转移群众。\n", encoding="utf-8")
    assert main(["--index", str(root), "add", str(flood), str(grain), "-q"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert _checked(out[0]) == ("of the 2 files given (checked by content in …): 0 new, 1 changed since the current "
                                "build read them (read again), 1 unchanged")
    assert "    changed: 守好城市防汛底线" in out
    assert any("及时转移群众" in p.text for p in load_searcher(root).passages)
    # a file new to the sources is added beside an unchanged one
    assert main(["--index", str(root), "add", str(flood), str(storm), "-q"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert _checked(out[0]) == ("of the 2 files given (checked by content in …): 1 new, 0 changed since the current "
                                "build read them (read again), 1 unchanged")
    assert "    added: 防御台风" in out
    # an edit to another source, its sidecar included, is taken in by the add that meets it, as by a build
    (corpus / "grain.meta.json").write_text('{"date": "2024-03-01"}', encoding="utf-8")
    assert main(["--index", str(root), "add", str(storm), "-q"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert _checked(out[0]) == ("of the 1 file given (checked by content in …): 0 new, 0 changed since the current "
                                "build read them (read again), 1 unchanged")
    assert out[1] == (f"1 other file of the index's sources changed since the current build ({grain.resolve()}): "
                      "the rebuild takes it in")
    assert [s.date for s in load_searcher(root).speeches if s.title == "守好粮仓"] == ["2024-03-01"]
    # so is a file dropped into a source folder, and one deleted there
    (corpus / "border.txt").write_text(BORDER, encoding="utf-8")
    assert main(["--index", str(root), "add", str(storm), "-q"]) == 0
    assert (f"1 other file of the index's sources changed since the current build ({(corpus / 'border.txt').resolve()}):"
            " the rebuild takes it in") in capsys.readouterr().out.splitlines()
    (corpus / "border.txt").unlink()
    assert main(["--index", str(root), "add", str(storm), "-q"]) == 0
    assert "    removed: 边境安全的思考" in capsys.readouterr().out.splitlines()
    assert main(["--index", str(root), "add", str(storm), "-q"]) == 0
    assert capsys.readouterr().out.endswith("nothing to add, nothing rebuilt\n")


def test_add_of_a_file_left_out_before_builds_nothing_and_fails_as_it_did(tmp_path, capsys):
    from service.cli import main

    corpus, root = corpus_of(tmp_path / "corpus", GRAIN), tmp_path / "index"
    flood, copy = tmp_path / "flood.txt", tmp_path / "flood - 副本.txt"
    flood.write_text(FLOOD, encoding="utf-8")
    copy.write_text(FLOOD, encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    assert main(["--index", str(root), "add", str(flood), str(copy), "-q"]) == 0
    served = lifecycle.current_id(root)
    capsys.readouterr()
    assert main(["--index", str(root), "add", str(copy), "-q"]) == 2
    out, err = capsys.readouterr()
    assert _checked(out) == (f"{copy} is unchanged since the current build read it (it was left out: no speech came "
                             "from it), as is every other file of the index's sources (checked by content in …): "
                             "nothing to add, nothing rebuilt\n")
    assert err == f"speechqa: no speech came from {copy}, so nothing of it was added (the add that gave it said why)\n"
    assert main(["--index", str(root), "add", str(flood), str(copy), "-q"]) == 0
    assert "(1 of them left out: no speech came from them)" in capsys.readouterr().out
    assert lifecycle.current_id(root) == served


def test_add_to_an_index_that_kept_no_record_of_what_it_read_rebuilds_and_keeps_one(tmp_path, capsys):
    from service.cli import main

    corpus, root = corpus_of(tmp_path / "corpus", GRAIN), tmp_path / "index"
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    # as a build made before builds kept the record: no file, and no checksum of one
    built = lifecycle.current_build(root)
    manifest = store.read_manifest(built)
    del manifest["files"][store.FILES_READ]
    (built / store.FILES_READ).unlink()
    (built / store.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    capsys.readouterr()
    assert main(["--index", str(root), "add", str(corpus / "0.txt"), "-q"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"{corpus / '0.txt'} is already among the index's sources, and the current build keeps no record "
                      "of what it read to tell whether they changed: rebuilding to take in what changed in the sources "
                      "since")
    assert out[-1].startswith("  no changes since the previous build")
    assert main(["--index", str(root), "add", str(corpus / "0.txt"), "-q"]) == 0
    assert capsys.readouterr().out.endswith("nothing to add, nothing rebuilt\n")


def test_remove_takes_only_what_add_gave_and_never_the_last_source(tmp_path, capsys):
    from service.cli import main

    corpus, root = corpus_of(tmp_path / "corpus", GRAIN), tmp_path / "index"
    flood = tmp_path / "flood.txt"
    flood.write_text(FLOOD, encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    assert main(["--index", str(root), "add", str(flood), "-q"]) == 0
    served = lifecycle.current_id(root)
    capsys.readouterr()
    # a file of a source folder is the folder's to drop; a file the index never had is named as such
    assert main(["--index", str(root), "remove", str(corpus / "0.txt")]) == 2
    assert f"lies in the source folder {corpus.resolve()}: move or delete it there" in capsys.readouterr().err
    assert main(["--index", str(root), "remove", str(tmp_path / "other.txt")]) == 2
    assert "is not among the current index's sources" in capsys.readouterr().err
    assert main(["--index", str(root), "remove", str(corpus), str(flood)]) == 2
    assert "would leave the index no source" in capsys.readouterr().err
    assert lifecycle.current_id(root) == served, "a refused remove builds nothing"
    assert main(["--index", str(root), "remove", str(flood), "-q"]) == 0
    assert titles(root) == ["守好粮仓"]


def test_add_after_a_renamed_file_says_to_remove_its_old_name_and_names_each_file_it_adds(tmp_path, capsys):
    from service.cli import main

    corpus, root = corpus_of(tmp_path / "corpus", GRAIN), tmp_path / "index"
    flood, border, secrecy = (tmp_path / name for name in ("flood.txt", "border.txt", "secrecy.txt"))
    for path, text in ((flood, FLOOD), (border, BORDER), (secrecy, SECRECY)):
        path.write_text(text, encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    assert main(["--index", str(root), "add", str(flood), str(border)]) == 0
    out = capsys.readouterr().out
    assert "added: 守好城市防汛底线 (flood.txt)" in out and "added: 边境安全的思考 (border.txt)" in out
    served = lifecycle.current_id(root)
    flood.rename(tmp_path / "flood-renamed.txt")
    assert main(["--index", str(root), "add", str(secrecy)]) == 2
    err = capsys.readouterr().err
    assert f"built from {flood.resolve()}, which no longer exists" in err
    assert "`speechqa remove` it" in err and "nothing was added" in err
    assert lifecycle.current_id(root) == served
    assert main(["--index", str(root), "remove", str(flood), "-q"]) == 0
    assert main(["--index", str(root), "add", str(secrecy), str(tmp_path / "flood-renamed.txt"), "-q"]) == 0
    assert titles(root) == sorted(["守好粮仓", "边境安全的思考", "保密工作讲话", "守好城市防汛底线"])


def test_a_days_intake_folder_moved_away_is_named_once_and_removed_whole(tmp_path, capsys):
    from service.cli import main

    corpus, root = corpus_of(tmp_path / "corpus", GRAIN), tmp_path / "index"
    intake = tmp_path / "today"
    intake.mkdir()
    for name, text in (("flood.txt", FLOOD), ("border.txt", BORDER)):
        (intake / name).write_text(text, encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    assert main(["--index", str(root), "add", *map(str, sorted(intake.iterdir())), "-q"]) == 0
    intake.rename(tmp_path / "processed")  # the librarian clears the intake folder
    (tmp_path / "secrecy.txt").write_text(SECRECY, encoding="utf-8")
    capsys.readouterr()
    assert main(["--index", str(root), "add", str(tmp_path / "secrecy.txt"), "-q"]) == 2
    assert (f"built from {(intake / 'border.txt').resolve()}, {(intake / 'flood.txt').resolve()}, which no "
            "longer exist — moved or renamed?") in capsys.readouterr().err
    # one file of the gone folder named alone: the rest are named as gone too, not the rebuild's first miss
    assert main(["--index", str(root), "remove", str(intake / "flood.txt"), "-q"]) == 2
    assert f"built from {(intake / 'border.txt').resolve()}, which no longer exists" in capsys.readouterr().err
    # the folder, gone, removes every file add gave from it; added from where they are now, nothing is lost
    assert main(["--index", str(root), "remove", str(intake), "-q"]) == 0
    assert titles(root) == ["守好粮仓"]
    assert main(["--index", str(root), "add", *map(str, sorted((tmp_path / "processed").iterdir())), "-q"]) == 0
    assert titles(root) == sorted(["守好粮仓", "守好城市防汛底线", "边境安全的思考"])


def test_many_gone_sources_are_named_by_folder_in_one_short_line():
    from service.cli import _named_by_folder

    day = [Path(f"/lib/today/{n:03d}.txt") for n in range(402)]
    assert _named_by_folder(day) == "402 files in /lib/today"
    assert _named_by_folder(day[:3]) == "/lib/today/000.txt, /lib/today/001.txt, /lib/today/002.txt"
    spread = [Path(f"/lib/{folder}/a.txt") for folder in "abcdefg"]
    assert _named_by_folder(spread) == "/lib/a/a.txt, /lib/b/a.txt, /lib/c/a.txt, /lib/d/a.txt, /lib/e/a.txt and 2 more"


GRAIN = "守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。二是加强高标准农田建设。\n"
FLOOD = "守好城市防汛底线\n一、加强预警\n完善暴雨预警发布机制，提前转移危险区域群众。\n"
BORDER = "边境安全的思考\n一、打好边境安全防控战\n坚持五级书记抓边防。\n"
SECRECY = "保密工作讲话\n一、增强保密意识\n全体干部要牢固树立保密意识，严守保密纪律。\n"


def titles(root) -> list[str]:
    from index.search import load_searcher

    return sorted(s.title for s in load_searcher(root).speeches)


def corpus_of(folder, *texts: str):
    """``folder`` holding exactly ``texts``, one file each; returned for building."""
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.txt"):
        old.unlink()
    for number, text in enumerate(texts):
        (folder / f"{number}.txt").write_text(text, encoding="utf-8")
    return folder


def grain_then_flood(tmp_path) -> tuple:
    """An index root built from a grain speech, then given a flood speech from elsewhere with `add`:
    (root, the folder of the flood speech, the first build's id)."""
    from service.cli import main

    root, elsewhere = tmp_path / "index", tmp_path / "elsewhere"
    corpus = corpus_of(tmp_path / "corpus", GRAIN)
    elsewhere.mkdir()
    (elsewhere / "flood.txt").write_text(FLOOD, encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    first = lifecycle.current_id(root)
    assert main(["--index", str(root), "add", str(elsewhere / "flood.txt"), "-q"]) == 0
    return root, elsewhere, first


def test_a_second_rollback_does_not_bring_back_the_build_rolled_away_from(tmp_path, capsys):
    from service.cli import main

    root, elsewhere, first = grain_then_flood(tmp_path)
    assert main(["--index", str(root), "rollback"]) == 0
    assert main(["--index", str(root), "build", "-q"]) == 0
    assert titles(root) == ["守好粮仓"]
    capsys.readouterr()

    assert main(["--index", str(root), "rollback"]) == 2
    current = lifecycle.current_id(root)
    assert capsys.readouterr().err == (f"speechqa: no earlier build to roll back to under {root}: {current} is the "
                                       "oldest kept\n")
    assert titles(root) == ["守好粮仓"]
    # the build with the added file, rolled away from, is gone; the first, which the unchanged rebuild
    # replaced, is no rollback target and stays only until the next publish (a server may still serve it)
    assert lifecycle.builds(root) == [first, current]


def test_rollback_returns_through_what_was_served_and_pruning_keeps_those_builds(tmp_path, encoder):
    root, corpus = tmp_path / "index", tmp_path / "corpus"
    first, second, third = (build([corpus_of(corpus, *texts)], root, encoder=encoder).build_id
                            for texts in ([GRAIN], [GRAIN, FLOOD], [GRAIN, FLOOD, BORDER]))
    assert lifecycle.rollback(root) == second
    assert lifecycle.rollback(root) == first
    fourth = build([corpus_of(corpus, GRAIN, SECRECY)], root, encoder=encoder).build_id
    # the newest three ids would be second, third and fourth: the two rolled away from go instead
    assert lifecycle.builds(root) == [first, fourth]
    assert lifecycle.rollback(root) == first
    assert titles(root) == ["守好粮仓"]


def test_a_root_written_before_the_served_history_rolls_back_in_build_order(tmp_path, encoder):
    root, corpus = tmp_path / "index", tmp_path / "corpus"
    first, second, third = (build([corpus_of(corpus, *texts)], root, encoder=encoder).build_id
                            for texts in ([GRAIN], [GRAIN, FLOOD], [GRAIN, FLOOD, BORDER]))
    (root / lifecycle.SERVED).unlink()
    assert lifecycle.rollback(root) == second
    assert (root / lifecycle.SERVED).read_text(encoding="utf-8") == f"{first}\n{second}\n"


def test_an_unchanged_rebuild_takes_no_rollback_slot(tmp_path, encoder, capsys):
    from service.cli import main

    root, corpus = tmp_path / "index", tmp_path / "corpus"
    first, second, third = (build([corpus_of(corpus, *texts)], root, encoder=encoder).build_id
                            for texts in ([GRAIN], [GRAIN, FLOOD], [GRAIN, FLOOD, BORDER]))
    assert main(["--index", str(root), "build", "-q"]) == 0
    repeat = lifecycle.current_id(root)
    assert repeat != third  # a new id all the same: a running server reloads, `build --if-missing` sees an index
    assert (f"  no changes since the previous build: this one takes its place ({third}), using no rollback "
            "slot\n") in capsys.readouterr().out
    # the build it replaced goes with the next publish, not at once: a server serves it until it reloads
    assert lifecycle.builds(root) == [first, second, third, repeat]
    fourth = build([corpus_of(corpus, GRAIN, SECRECY)], root, encoder=encoder).build_id
    assert lifecycle.builds(root) == [second, repeat, fourth]
    assert lifecycle.rollback(root) == repeat
    assert lifecycle.rollback(root) == second


def test_a_rebuild_that_changes_only_a_speechs_details_says_so(tmp_path, capsys):
    from index.search import load_searcher
    from service.cli import main

    root, corpus = tmp_path / "index", corpus_of(tmp_path / "corpus", GRAIN)
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    (corpus / "0.meta.json").write_text('{"place": "南宁"}', encoding="utf-8")  # beside corpus_of's 0.txt
    capsys.readouterr()
    assert main(["--index", str(root), "build", "-q"]) == 0
    assert ("  no passage changed; the speeches' details (date, place, speaker …) or the build's settings did\n"
            in capsys.readouterr().out)
    assert [s.place for s in load_searcher(root).speeches] == ["南宁"]


def test_on_milvus_a_build_after_a_rollback_rebuilds_what_milvus_serves(tmp_path, capsys):
    import json

    from service.cli import main

    root, elsewhere, store = tmp_path / "index", tmp_path / "elsewhere", str(tmp_path / "milvus.db")
    corpus = corpus_of(tmp_path / "corpus", GRAIN)
    elsewhere.mkdir()
    (elsewhere / "flood.txt").write_text(FLOOD, encoding="utf-8")
    on_milvus = ["--index", str(root), "--store", store]

    def titles_on_milvus() -> list[str]:
        capsys.readouterr()
        assert main([*on_milvus, "speeches", "--json"]) == 0
        return sorted(s["title"] for s in json.loads(capsys.readouterr().out)["speeches"])

    assert main([*on_milvus, "build", "--corpus", str(corpus), "-q"]) == 0
    assert main([*on_milvus, "add", str(elsewhere / "flood.txt"), "-q"]) == 0
    assert main([*on_milvus, "rollback"]) == 0
    assert titles_on_milvus() == titles(root) == ["守好粮仓"]  # the index root follows Milvus back
    capsys.readouterr()

    assert main([*on_milvus, "build", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"rebuilding the current index's sources: {corpus.resolve()} (--corpus DIR builds another)\n" in out
    assert f"  Milvus at {store} already serves this build as version 1: nothing written (" in out
    assert titles_on_milvus() == titles(root) == ["守好粮仓"]
    assert main([*on_milvus, "rollback"]) == 2
    assert capsys.readouterr().err == f"speechqa: no earlier version to roll back to in Milvus at {store}\n"


@pytest.mark.parametrize("name, text, message", [
    ("notes.md", GRAIN, "{path}: not a .txt or .docx file — save it as UTF-8 text or .docx (nothing was added)"),
    ("gone.txt", None, "corpus path {path} does not exist (nothing was added)"),
], ids=["not-a-speech-file", "missing"])
def test_add_refuses_a_file_it_cannot_index_and_builds_nothing(tmp_path, capsys, name, text, message):
    from service.cli import main

    root, path = tmp_path / "index", tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus_of(tmp_path / "corpus", FLOOD)), "-q"]) == 0
    served = lifecycle.current_id(root)
    capsys.readouterr()
    assert main(["--index", str(root), "add", str(path), "-q"]) == 2
    assert capsys.readouterr().err == f"speechqa: {message.format(path=path)}\n"
    assert lifecycle.builds(root) == [served] and lifecycle.current_id(root) == served
    # given by name to a build, it is refused the same way
    assert main(["--index", str(root), "build", "--corpus", str(path), "-q"]) == 2
    built_nothing = message.format(path=path).replace("nothing was added", "nothing was built")
    assert capsys.readouterr().err == f"speechqa: {built_nothing}\n"
    assert lifecycle.builds(root) == [served]


def test_what_add_skips_is_not_kept_as_a_source_and_later_builds_do_without_it(tmp_path, capsys):
    from service.cli import main

    root, elsewhere = tmp_path / "index", tmp_path / "elsewhere"
    corpus = corpus_of(tmp_path / "corpus", GRAIN)
    (elsewhere / "drafts").mkdir(parents=True)
    skipped = {"empty.txt": "", "copy.txt": GRAIN, "title.txt": "只有标题\n"}
    for name, text in skipped.items():
        (elsewhere / name).write_text(text, encoding="utf-8")
    (elsewhere / "flood.txt").write_text(FLOOD, encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    capsys.readouterr()

    given = [elsewhere / name for name in [*skipped, "drafts", "flood.txt"]]
    assert main(["--index", str(root), "add", *map(str, given), "-q"]) == 0
    err = capsys.readouterr().err
    for reason in ("empty.txt: skipped, empty file", "copy.txt: skipped, same content as 0.txt",
                   "title.txt: skipped, only a title, no body", f"{elsewhere / 'drafts'}: no .txt or .docx files found"):
        assert f"warning: {reason}\n" in err
    for path in given[:-1]:
        assert (f"warning: {path}: no speech came from it, so it is not kept among the sources the index is "
                "rebuilt from\n") in err
    assert store.read_manifest(lifecycle.current_build(root))["sources"] == [str(corpus.resolve()),
                                                                              str((elsewhere / "flood.txt").resolve())]
    assert titles(root) == ["守好城市防汛底线", "守好粮仓"]

    for path in given[:-1]:
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
    assert main(["--index", str(root), "build", "-q"]) == 0
    assert titles(root) == ["守好城市防汛底线", "守好粮仓"]


def test_add_names_last_the_file_it_could_not_add_and_fails_only_when_it_added_nothing(tmp_path, capsys):
    from index.search import load_searcher
    from service.cli import main

    corpus, day, root = tmp_path / "corpus", tmp_path / "day", tmp_path / "index"
    corpus.mkdir()
    day.mkdir()
    (corpus / "grain.txt").write_text("守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。\n", encoding="utf-8")
    (day / "flood.txt").write_text("守好城市防汛底线\n一、加强预警\n完善暴雨预警发布机制。\n", encoding="utf-8")
    (day / "title_only.txt").write_text("关于某项工作的讲话\n", encoding="utf-8")
    assert main(["--index", str(root), "build", "--corpus", str(corpus), "-q"]) == 0
    capsys.readouterr()
    assert main(["--index", str(root), "add", str(day / "flood.txt"), str(day / "title_only.txt"), "-q"]) == 0
    assert sorted(s.title for s in load_searcher(root).speeches) == ["守好城市防汛底线", "守好粮仓"]
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"speechqa: no speech came from {day / 'title_only.txt'}, so nothing of it was added "
        "(the warnings above say why)")
    assert main(["--index", str(root), "add", str(day / "title_only.txt"), "-q"]) == 2


def test_rollback_waits_for_no_build_and_refuses_while_one_runs(tmp_path, capsys):
    from index.build import build_lock
    from service.cli import main

    root, _, _ = grain_then_flood(tmp_path)
    added = lifecycle.current_id(root)
    capsys.readouterr()
    with build_lock(root):  # a build under way would publish over the rollback
        assert main(["--index", str(root), "rollback"]) == 2
    assert capsys.readouterr().err.startswith(f"speechqa: another build is running on {root} (pid {os.getpid()} ")
    assert lifecycle.current_id(root) == added


def test_an_add_that_waits_for_another_builds_on_what_that_one_added(tmp_path, capsys, encoder):
    import threading

    from index.build import build_lock
    from index.store import read_manifest
    from service.cli import main

    root, elsewhere, _ = grain_then_flood(tmp_path)
    (elsewhere / "border.txt").write_text(BORDER, encoding="utf-8")
    (elsewhere / "secrecy.txt").write_text(SECRECY, encoding="utf-8")
    holding = threading.Event()

    def another_add():  # what `speechqa add border.txt` does, holding the lock throughout
        with build_lock(root):
            holding.set()
            time.sleep(1.0)  # long enough for the add below to be waiting
            sources = [*read_manifest(lifecycle.current_build(root))["sources"], str(elsewhere / "border.txt")]
            build([Path(s) for s in sources], root, encoder=encoder, lock_held=True)

    other = threading.Thread(target=another_add)
    other.start()
    holding.wait()
    capsys.readouterr()
    started = time.monotonic()
    assert main(["--index", str(root), "add", str(elsewhere / "secrecy.txt"), "-q", "--wait", "60"]) == 0
    waited = time.monotonic() - started
    other.join()
    assert waited > 0.5  # it queued behind the other
    # and read the sources once that one was done: its file stays in the library
    assert titles(root) == ["保密工作讲话", "守好城市防汛底线", "守好粮仓", "边境安全的思考"]
    # without --wait it is refused at once, as before
    with build_lock(root):
        assert main(["--index", str(root), "remove", str(elsewhere / "secrecy.txt")]) == 2
    assert "another build is running on" in capsys.readouterr().err


def test_rollback_passes_over_a_damaged_build_and_a_lost_current_one_does_not_shrink_the_library(tmp_path, capsys):
    import shutil

    from service.cli import main

    root, elsewhere, first = grain_then_flood(tmp_path)
    (elsewhere / "storm.txt").write_text(FLOOD.replace("防汛", "防台风"), encoding="utf-8")
    assert main(["--index", str(root), "add", str(elsewhere / "storm.txt"), "-q"]) == 0
    between = lifecycle.served(root)[-2]
    with open(lifecycle.build_dir(root, between) / "passages.jsonl", "a") as damaged:
        damaged.write("y")
    capsys.readouterr()
    assert main(["--index", str(root), "rollback"]) == 0
    assert lifecycle.current_id(root) == first  # the damaged build between is passed over, and said to be
    said = capsys.readouterr()
    assert said.err == (f"warning: passed over {between}: its files no longer match their checksums, "
                        "so it cannot be served\n")
    assert said.out.startswith(f"current build is now {first}; a running server picks it up on reload\n")
    # which files the next build leaves out, by name (it had said "sources that the builds rolled away from
    # added", also where the rollback brought a removed file back)
    dropped = next(line for line in said.out.splitlines() if "no longer among the index's sources" in line)
    assert "storm.txt" in dropped and "flood.txt" in dropped and "again (remove" not in said.out
    assert main(["--index", str(root), "add", str(elsewhere / "flood.txt"), "-q"]) == 0
    # the current build's folder lost: status says what to run, rollback serves the one before
    shutil.rmtree(lifecycle.current_build(root))
    capsys.readouterr()
    assert main(["--index", str(root), "status"]) == 2
    assert "is gone — `speechqa rollback` serves the build before it" in capsys.readouterr().err
    # and a build without --corpus rebuilds the sources of the newest build left, not the bundled corpus
    assert main(["--index", str(root), "build", "-q"]) == 0
    assert titles(root) == ["守好粮仓"]
    shutil.rmtree(lifecycle.current_build(root))
    assert main(["--index", str(root), "rollback"]) == 0
    assert titles(root) == ["守好粮仓"]


def test_rolling_back_a_remove_says_the_file_is_a_source_again(tmp_path, capsys):
    from service.cli import main

    root, elsewhere, _ = grain_then_flood(tmp_path)
    assert main(["--index", str(root), "remove", str(elsewhere / "flood.txt"), "-q"]) == 0
    capsys.readouterr()
    assert main(["--index", str(root), "rollback"]) == 0
    said = capsys.readouterr().out
    assert "  among the index's sources again (remove them to leave them out): " in said and "flood.txt" in said
    assert "no longer among" not in said


def test_a_change_line_names_the_file_where_titles_repeat(tmp_path, capsys):
    from service.cli import main

    corpus = corpus_of(tmp_path / "corpus", GRAIN)
    (corpus / "copy_edited.txt").write_text(GRAIN.replace("二是", "三是"), encoding="utf-8")
    assert main(["--index", str(tmp_path / "index"), "build", "--corpus", str(corpus), "-q"]) == 0
    added = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("added:")]
    assert sorted(added) == ["added: 守好粮仓 (0.txt)", "added: 守好粮仓 (copy_edited.txt)"]
    # one copy changed: the library still holds two speeches of that title, so the line names which
    (corpus / "copy_edited.txt").write_text(GRAIN.replace("二是", "四是"), encoding="utf-8")
    assert main(["--index", str(tmp_path / "index"), "build", "-q"]) == 0
    changed = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("changed:")]
    assert changed == ["changed: 守好粮仓 (copy_edited.txt)"]


def test_add_while_the_first_build_runs_names_that_build_not_a_missing_index(tmp_path, capsys):
    from index.build import build_lock
    from service.cli import main

    root, elsewhere = tmp_path / "index", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "flood.txt").write_text(FLOOD, encoding="utf-8")
    with build_lock(root):
        assert main(["--index", str(root), "add", str(elsewhere / "flood.txt"), "-q"]) == 2
    assert capsys.readouterr().err.startswith(f"speechqa: another build is running on {root} (pid ")
    assert main(["--index", str(root), "add", str(elsewhere / "flood.txt"), "-q"]) == 2
    assert capsys.readouterr().err == f"speechqa: no index at {root} — run `speechqa build`\n"


def test_status_sums_up_many_sources_by_folder_lists_them_with_files_and_still_verifies(tmp_path, capsys):
    from service.cli import LISTED_SOURCES, main

    library, day1, day2, root = tmp_path / "library", tmp_path / "day1", tmp_path / "day2", tmp_path / "index"
    for folder in (library, day1, day2):
        folder.mkdir()
    (library / "grain.txt").write_text(GRAIN, encoding="utf-8")
    singles = []
    for number in range(LISTED_SOURCES + 1):
        singles.append(day1 / f"{number:02d}.txt")
        singles[-1].write_text(f"第{number}篇讲话\n一、总的要求\n坚持第{number}项重点工作。\n", encoding="utf-8")
    (day2 / "flood.txt").write_text(FLOOD, encoding="utf-8")
    sources = [library, *singles, day2 / "flood.txt"]
    assert main(["--index", str(root), "build", "-q", *(f"--corpus={path}" for path in sources)]) == 0
    capsys.readouterr()
    assert main(["--index", str(root), "status"]) == 0
    out, err = capsys.readouterr()
    assert "sources" not in json.loads(out)  # never the manifest's key with another type
    assert json.loads(out)["sources_by_folder"] == {"total": LISTED_SOURCES + 3, "folders": [str(library.resolve())],
                                          "files_by_folder": {str(day1.resolve()): LISTED_SOURCES + 1,
                                                              str(day2.resolve()): 1}}
    assert err == f"(sources summed up by folder: `speechqa status --files` lists all {LISTED_SOURCES + 3})\n"
    assert main(["--index", str(root), "status", "--files"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["sources"] == [str(path.resolve()) for path in sources] and err == ""
    # summed up or not, every file of the build is checked against its checksum
    (lifecycle.current_build(root) / store.PASSAGES).write_text("", encoding="utf-8")
    assert main(["--index", str(root), "status"]) == 2
    assert "does not match its checksum" in capsys.readouterr().err
