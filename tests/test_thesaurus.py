"""Everyday Chinese wording reaches the speeches' own terms: the lookup by hand, the packaged table, the seeds."""
from __future__ import annotations

from index.parse import decode
from index.query import squash
from index.thesaurus import official_terms, plain_wording
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
