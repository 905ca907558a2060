"""Everyday Chinese wording reaches the speeches' own terms: the lookup by hand, the packaged table, the seeds;
and a library's own term tables, read over the packaged ones by the searcher, the server and the CLI."""
from __future__ import annotations

import json
import os

import pytest

from index.bilingual import policy_glossary
from index.decode import decode
from index.errors import TermTableError
from index.query import squash
from index.search import Searcher
from index.thesaurus import official_terms, plain_wording, term_tables
from service import create_app
from service.cli import main, parser
from service.state import table_paths
from tests.conftest import SEEDS

VOCABULARY = {"保交楼", "信访", "村居", "党组织", "书记", "专项", "借款"}
PIECES = {"村居党组织书记": ["村居", "党组织", "书记"], "保交楼专项借款": ["保交楼", "专项", "借款"]}
TABLE = {"烂尾楼": ("保交楼", "保交楼专项借款"), "上访": ("信访",), "村干部": ("村居党组织书记",),
         "暴雷": ("爆雷",)}


def split(text):
    return PIECES.get(text, [text])


def test_each_everyday_wording_in_a_question_gives_the_speeches_terms_once():
    assert official_terms("烂尾楼 交不了房，村干部怎么管上访？", VOCABULARY, split, table=TABLE) == [
        "保交楼", "专项", "借款", "信访", "村居", "党组织", "书记"]  # the table's order
    assert official_terms("房企暴雷怎么办", VOCABULARY, split, table=TABLE) == []  # 爆雷 is no term of the index
    assert official_terms("保交楼怎么推进", VOCABULARY, split, table=TABLE) == []
    assert official_terms("烂 尾 楼", VOCABULARY, split, table=TABLE) == ["保交楼", "专项", "借款"]


def test_the_packaged_table_maps_wording_the_seeds_lack_to_terms_they_hold():
    table = plain_wording()
    assert len(table) > 300
    seeds = "".join(squash(decode(path.read_bytes(), path.name)) for path in sorted(SEEDS.glob("*.txt")))
    assert all(term in seeds for terms in table.values() for term in terms)
    assert not [plain for plain in table if plain in seeds]


def test_a_question_in_everyday_words_finds_the_passage_in_official_ones(searcher):
    question = "烂尾楼的购房人怎么办？"
    assert "保交楼" in searcher.lexical_terms(question)
    hits = searcher.search(question, k=3, mode="bm25")
    assert any("保交楼" in hit.passage.text for hit in hits)


# --- a library's own term tables -----------------------------------------------------------------

@pytest.fixture
def own_tables(tmp_path):
    """A glossary and a wording table of the kind a library on other topics would bring."""
    glossary = tmp_path / "glossary.tsv"
    glossary.write_text("# our library's English\nzorblax quux\t粮食 产能\nnational security\t国安\n",
                        encoding="utf-8")
    wording = tmp_path / "wording.tsv"
    wording.write_text("吃饱饭的事\t粮食安全\n", encoding="utf-8")
    return glossary, wording


def test_without_files_the_tables_are_the_packaged_ones():
    tables = term_tables()
    assert tables.glossary is policy_glossary() and tables.wording is plain_wording() and tables.files == ()


def test_a_librarys_lines_are_added_to_the_packaged_tables_and_win_on_the_same_key(own_tables):
    glossary, wording = own_tables
    tables = term_tables([glossary], [str(wording)])
    assert tables.glossary["zorblax quux"] == ("粮食", "产能")
    assert tables.glossary["national security"] == ("国安",) != policy_glossary().get("national security")
    assert tables.wording["吃饱饭的事"] == ("粮食安全",) and "烂尾楼" in tables.wording
    assert len(tables.glossary) == len(policy_glossary()) + 1
    assert tables.describe() == {"glossary": len(policy_glossary()) + 1, "wording": len(plain_wording()) + 1,
                                 "files": [str(glossary), str(wording)]}
    later = own_tables[0].with_name("later.tsv")
    later.write_text("zorblax quux\t产能\n", encoding="utf-8")
    assert term_tables([glossary, later]).glossary["zorblax quux"] == ("产能",)  # the later file wins


@pytest.mark.parametrize("content, option, message", [
    ("zorblax\n", "glossaries", "line 1: expected an English phrase"),
    ("# note\n\none two three four five six seven eight\t粮食\n", "glossaries", "line 3: expected an English phrase"),
    ("吃\t粮食\n", "wordings", "line 1: expected Chinese wording of two or more characters"),
    ("plain words\t粮食\n", "wordings", "line 1: expected Chinese wording"),
    ("吃饱饭的事\n", "wordings", "line 1: expected Chinese wording"),
])
def test_a_malformed_line_names_its_file_and_line(tmp_path, content, option, message):
    table = tmp_path / "t.tsv"
    table.write_text(content, encoding="utf-8")
    with pytest.raises(TermTableError) as caught:
        term_tables(**{option: [table]})
    assert str(caught.value).startswith(f"{table} {message}")


def test_a_missing_or_undecodable_table_is_a_clear_error(tmp_path):
    with pytest.raises(TermTableError, match=r"cannot read the term table .*missing\.tsv: No such file"):
        term_tables(glossaries=[tmp_path / "missing.tsv"])
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("吃饱饭的事\t粮食安全\n".encode("gb18030"))
    with pytest.raises(TermTableError, match="cannot read the term table .*latin.tsv"):
        term_tables(wordings=[latin])


def test_a_searcher_expands_questions_with_its_tables(searcher, own_tables):
    own = Searcher(searcher.store, searcher.encoder, tables=term_tables(*[[path] for path in own_tables]))
    assert searcher.search("zorblax quux", k=3, mode="bm25") == []
    assert {"粮食", "产能"} <= set(own.lexical_terms("zorblax quux"))
    hits = own.search("zorblax quux", k=3, mode="bm25")
    # BM25 indexes each passage with its speech's title
    assert hits and all({"粮食", "产能"} & set(own.lexical_terms(hit.passage.speech_title + hit.passage.text))
                        for hit in hits)
    assert "粮食安全" not in searcher.lexical_terms("吃饱饭的事怎么抓？")
    assert "粮食安全" in own.lexical_terms("吃饱饭的事怎么抓？")


def test_the_server_and_the_cli_read_a_librarys_tables(index_root, searcher, encoder, own_tables, capsys):
    glossary, wording = own_tables
    app = create_app({"TESTING": True, "INDEX": str(index_root), "RELOAD_INTERVAL": 0,
                      "GLOSSARY": os.pathsep.join([str(glossary)]), "WORDING": [str(wording)]}, encoder=encoder)
    client = app.test_client()
    assert client.get("/healthz").get_json()["term_tables"]["files"] == [str(glossary), str(wording)]
    results = client.get("/api/search", query_string={"q": "zorblax quux", "mode": "bm25"}).get_json()["results"]
    assert [result["passage_id"] for result in results] == [
        hit.passage.id for hit in Searcher(searcher.store, encoder, tables=term_tables([glossary])).search(
            "zorblax quux", mode="bm25")]

    assert main(["--index", str(index_root), "ask", "zorblax quux", "--mode", "bm25", "--json",
                 "--glossary", str(glossary)]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["passage_id"] == results[0]["passage_id"]
    assert main(["--index", str(index_root), "ask", "zorblax quux", "--wording", str(glossary)]) == 2
    assert "line 2: expected Chinese wording" in capsys.readouterr().err


def test_the_term_table_options_default_to_the_environment(monkeypatch):
    monkeypatch.setenv("SPEECHQA_GLOSSARY", os.pathsep.join(["a.tsv", "b.tsv"]))
    args = parser().parse_args(["ask", "问题", "--glossary", "c.tsv"])
    assert args.glossary == ["a.tsv", "b.tsv", "c.tsv"] and args.wording == []
    assert table_paths("a.tsv" + os.pathsep + "b.tsv") == ["a.tsv", "b.tsv"] and table_paths(None) == []
