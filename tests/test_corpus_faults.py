"""Bad corpus files through the whole build (real encoder), beyond the parser-level cases in test_parse.py.

A build warns once per bad file, naming it, indexes the good files, and publishes nothing when no file
is good. A 5 MB single-line file is warned about and checked through parse and chunk only: building it
would embed ~180,000 spans.
"""
from __future__ import annotations

import os

import pytest

from index import lifecycle
from index.build import build, dense_units
from index.chunk import chunk
from index.errors import CorpusError
from index.parse import load_corpus
from index.search import load_searcher
from service.cli import main

from .test_parse import POLICY

GOOD = "守好粮仓\n一、保障粮食安全\n一是稳定粮食播种面积。二是加强高标准农田建设。\n".encode("utf-8")
# every kind of bad file, by name, with the warning the build must give for it
BAD = {
    "a_empty.txt": (b"", "a_empty.txt: skipped, empty file"),
    "b_blank.txt": (b" \r\n\t\n", "b_blank.txt: skipped, empty file"),
    "c_binary.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
                     "c_binary.txt: binary file (contains NUL bytes) — only UTF-8, UTF-16, GB18030 or Big5 text is "
                     "indexed (skipped)"),
    "d_undecodable.txt": (b"\xff\xff\x80\x80",
                          "d_undecodable.txt: neither UTF-8, GB18030 nor Big5 text (closest: UTF-8, 4 bad bytes, "
                          "the first on line 1) — re-save it as UTF-8 (skipped)"),
    "e_bad_utf16.txt": (b"\xff\xfe" + "标题".encode("utf-16-le") + b"\x00\xd8",
                        "e_bad_utf16.txt: not valid UTF-16 text (unexpected end of data) — re-save it as UTF-8 "
                        "(skipped)"),
    "f_control.txt": ("标题\n正文".encode("utf-8") + b"\x01\x02\x03\x04" * 20,
                      "f_control.txt: looks binary (control characters) — only UTF-8, UTF-16, GB18030 or Big5 text "
                      "is indexed (skipped)"),
    "h_title_only.txt": ("只有一个标题\n".encode("utf-8"), "h_title_only.txt: skipped, only a title, no body"),
    "i_copy.txt": (b"\xef\xbb\xbf" + GOOD.replace(b"\n", b"\r\n"), "i_copy.txt: skipped, same content as g_good.txt"),
}


def write_faulty_corpus(directory, *, good: bool = True):
    """The bad files of BAD, a link named *.txt, a named pipe, and (``good``) one good file."""
    directory.mkdir()
    for name, (data, _) in BAD.items():
        (directory / name).write_bytes(data)
    if good:
        (directory / "g_good.txt").write_bytes(GOOD)
    else:
        (directory / "i_copy.txt").unlink()  # its warning names the good file
    os.symlink(directory / "missing-target", directory / "k_dangling.txt")
    os.mkfifo(directory / "l_pipe.txt")  # read, it would never end
    # the folder's links and other entries are named first, then each file read, in path order
    return (["k_dangling.txt: skipped, a link (not followed) — give the file it points to itself to index it",
             "l_pipe.txt: skipped, not a regular file (a named pipe or a device)"]
            + sorted(w for name, (_, w) in BAD.items() if good or name != "i_copy.txt"))


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, encoder):
    """A build of the faulty corpus: (report, index root, expected warnings)."""
    base = tmp_path_factory.mktemp("faults")
    expected = write_faulty_corpus(base / "corpus")
    report = build([base / "corpus"], base / "index", encoder=encoder)
    return report, base / "index", expected


def test_build_warns_naming_each_bad_file_and_indexes_the_good_one(faulty):
    report, root, expected = faulty
    assert report.warnings == expected
    assert report.speeches_added == ["守好粮仓"]
    counts = report.manifest["counts"]
    assert (counts["files"], counts["speeches"], counts["passages"]) == (1, 1, 1)
    assert lifecycle.current_id(root) == report.build_id


def test_the_good_file_is_searchable(faulty, encoder):
    _, root, _ = faulty
    (hit,) = load_searcher(root, encoder=encoder).search("粮食播种面积", k=5, mode="hybrid")
    assert (hit.passage.source, hit.passage.speech_title) == ("g_good.txt", "守好粮仓")
    assert hit.passage.text == "一、保障粮食安全\n一是稳定粮食播种面积。二是加强高标准农田建设。"  # the body, title apart


def test_a_corpus_of_only_bad_files_publishes_nothing(faulty, tmp_path, encoder):
    report, root, _ = faulty
    expected = write_faulty_corpus(tmp_path / "bad", good=False)
    with pytest.raises(CorpusError) as error:
        build([tmp_path / "bad"], root, encoder=encoder)
    assert str(error.value) == f"no speeches found in {tmp_path / 'bad'} ({'; '.join(expected)})"
    assert lifecycle.current_id(root) == report.build_id
    assert lifecycle.builds(root) == [report.build_id]


def test_the_command_line_says_so_in_one_line_and_exits_2(faulty, tmp_path, capsys):
    report, root, _ = faulty
    write_faulty_corpus(tmp_path / "bad", good=False)
    assert main(["--index", str(root), "build", "--corpus", str(tmp_path / "bad"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"speechqa: no speeches found in {tmp_path / 'bad'} (k_dangling.txt: skipped, a link ")
    assert err.count("\n") == 1
    assert lifecycle.current_id(root) == report.build_id


def test_a_word_document_is_built_and_searchable_beside_a_text_file(tmp_path, encoder):
    from docx import Document

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "g_good.txt").write_bytes(GOOD)
    document = Document()
    for line in ("守好城市防汛底线", "一、提高防汛应急能力", "一是完善城市排水管网，汛前完成易涝点整治。"):
        document.add_paragraph(line)
    document.save(corpus / "h_flood.docx")
    (corpus / "i_scan.pdf").write_bytes(b"%PDF-1.4")
    report = build([corpus], tmp_path / "index", encoder=encoder)
    assert report.warnings == ["i_scan.pdf: skipped, not a .txt or .docx file — save it as UTF-8 text or .docx to "
                               "index it"]
    assert report.speeches_added == ["守好粮仓 (g_good.txt)", "守好城市防汛底线 (h_flood.docx)"]  # from several files
    hit = load_searcher(tmp_path / "index", encoder=encoder).search("暴雨前怎么整治容易积水的地方", k=1)[0]
    assert (hit.passage.source, hit.passage.speech_title) == ("h_flood.docx", "守好城市防汛底线")
    assert hit.passage.text == "一、提高防汛应急能力\n一是完善城市排水管网，汛前完成易涝点整治。"


def test_a_build_loses_no_line_it_does_not_name(tmp_path, encoder):
    """Service prose, a broken sidecar, UTF-16 without a BOM, Big5: all indexed; the one
    advertisement and the ignored sidecar are each named in a warning."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "111_policy.txt").write_text(POLICY, encoding="utf-8")
    (corpus / "112_ad.txt").write_bytes(GOOD + "专业代写各类讲话稿、心得体会，加微信：xiezuo2023，当天交稿\n".encode("utf-8"))
    (corpus / "113_badmeta.txt").write_text("藏粮于地\n一、严守耕地保护红线\n要全面落实耕地保护党政同责。\n", encoding="utf-8")
    (corpus / "113_badmeta.meta.json").write_text("{not json", encoding="utf-8")
    (corpus / "114_utf16.txt").write_bytes("守好城市防汛底线\r\n一、提高防汛应急能力\r\n一是完善城市排水管网。".encode("utf-16-le"))
    (corpus / "115_big5.txt").write_bytes("端牢飯碗\n一、穩定糧食播種面積\n要壓實責任，確保糧食產量穩定。".encode("cp950"))
    report = build([corpus], tmp_path / "index", encoder=encoder)
    assert report.warnings == [
        "112_ad.txt: left out as an advertisement: '专业代写各类讲话稿、心得体会，加微信：xiezuo2023，…'",
        "113_badmeta.meta.json: unreadable metadata (Expecting property name enclosed in double quotes: line 1 "
        "column 2 (char 1)) — 113_badmeta.meta.json ignored, 113_badmeta.txt indexed without its metadata",
    ]
    assert report.speeches_added == ["关于优化政务服务的讲话 (111_policy.txt)", "守好粮仓 (112_ad.txt)",
                                     "藏粮于地 (113_badmeta.txt)", "守好城市防汛底线 (114_utf16.txt)", "端牢飯碗 (115_big5.txt)"]
    searcher = load_searcher(tmp_path / "index", encoder=encoder)
    texts = {}
    for passage in searcher.passages:
        texts.setdefault(passage.source, []).append(passage.text)
    assert texts == {
        "111_policy.txt": [POLICY.split("\n", 1)[1].strip()],
        "112_ad.txt": ["一、保障粮食安全\n一是稳定粮食播种面积。二是加强高标准农田建设。"],
        "113_badmeta.txt": ["一、严守耕地保护红线\n要全面落实耕地保护党政同责。"],
        "114_utf16.txt": ["一、提高防汛应急能力\n一是完善城市排水管网。"],
        "115_big5.txt": ["一、穩定糧食播種面積\n要壓實責任，確保糧食產量穩定。"],
    }
    (hit,) = searcher.search('"派单接单"', k=5)
    assert hit.passage.source == "111_policy.txt"


def test_a_5mb_single_line_chunks_into_bounded_passages_that_tile_it(tmp_path, encoder):
    line = "一、国家安全是头等大事，人民安全是根本。" * 90_000  # ~5.4 MB of UTF-8, no newline
    (tmp_path / "huge.txt").write_bytes(line.encode("utf-8"))
    (speech,), warnings = load_corpus(tmp_path)
    passages = chunk(speech, count_tokens=encoder.count_tokens, budget=512)
    assert warnings == [f"huge.txt: a line of {len(line):,} characters with no line break; "
                        "indexed, cut into passages at sentence ends"]
    assert "".join(p.text for p in passages) == line  # nothing lost or repeated (the line has no blanks)
    assert passages[0].start == 0 and passages[-1].end == len(line)
    assert all(a.end == b.start for a, b in zip(passages, passages[1:]))
    assert len(passages) == pytest.approx(len(line) / 780, rel=0.2)  # ~780 characters (~500 tokens) a passage
    sample = passages[:: len(passages) // 20]
    assert max(encoder.count_tokens(p.text) for p in sample) <= 512
    # why this case is not built: the dense arm would embed every sentence and sentence pair
    assert len(dense_units(passages[:10])) == 10 * len(dense_units(passages[:1]))


def test_a_file_of_ideographic_spaces_is_called_empty(tmp_path):
    (tmp_path / "blank.txt").write_bytes("\u3000\u3000\n\u3000\n".encode("utf-8"))
    assert load_corpus(tmp_path) == ([], ["blank.txt: skipped, empty file"])
