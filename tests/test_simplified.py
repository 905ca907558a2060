"""Traditional characters fold to simplified ones, one for one: either script finds either."""
from __future__ import annotations

from pathlib import Path

from index.build import build
from index.dedup import near_duplicate_groups
from index.lexical import tokenize
from index.phrase import PhraseIndex
from index.simplified import simplified
from service.highlight import match_spans

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SIMPLIFIED_PASSAGE = "运用房地产平稳基金、保交楼专项借款等方式市场化、法治化解决房地产问题，实现“保交楼、稳民生”。"
TRADITIONAL_PASSAGE = "運用房地產平穩基金、保交樓專項借款等方式市場化、法治化解決房地產問題，實現「保交樓、穩民生」。"


def test_traditional_characters_take_their_simplified_forms_and_keep_their_places():
    assert simplified("糧食安全「堅持黨的領導」") == "粮食安全「坚持党的领导」"
    assert simplified(TRADITIONAL_PASSAGE) == SIMPLIFIED_PASSAGE.replace("“", "「").replace("”", "」")
    assert simplified("Food security 糧食") == "Food security 粮食"


def test_hong_kong_and_taiwan_forms_fold_where_simplified_text_never_writes_them():
    assert simplified("拱衞首都 敍述 衹有") == "拱卫首都 叙述 只有"  # Hong Kong's forms (OpenCC's s2hk writes them)
    assert simplified("屋簷 麻痺") == "屋檐 麻痹"  # Taiwan's
    # GB2312 encodes 著 and 么: Taiwan's 著 for 着 is left to the words around it, which a fold cannot see
    assert simplified("著力 显著 什么") == "著力 显著 什么"


def test_simplified_text_keeps_its_characters():
    # 苧 is a traditional character and the simplified form of another; 著 is simplified 显著's own
    assert simplified("显著成效 苧麻") == "显著成效 苧麻"
    for path in SEEDS.glob("*.txt"):
        text = path.read_text(encoding="utf-8")
        assert simplified(text) == text


def test_either_script_gives_the_same_bm25_terms():
    assert tokenize("如何保障糧食安全？") == tokenize("如何保障粮食安全？")
    assert tokenize(TRADITIONAL_PASSAGE) == tokenize(SIMPLIFIED_PASSAGE)


def test_a_phrase_in_either_script_finds_the_passage_in_the_other():
    index = PhraseIndex.from_texts([SIMPLIFIED_PASSAGE, TRADITIONAL_PASSAGE, "保交房"])
    assert index.rows_containing("保交樓專項借款").tolist() == [0, 1]
    assert index.rows_containing("“保交楼、稳民生”").tolist() == [0, 1]


def test_a_simplified_term_is_highlighted_in_traditional_text_at_its_own_characters():
    spans = match_spans(TRADITIONAL_PASSAGE, ["房地产", "保交楼"])
    assert [TRADITIONAL_PASSAGE[start:end] for start, end in spans] == ["房地產", "保交樓", "房地產", "保交樓"]


def test_a_traditional_reprint_folds_onto_its_simplified_original():
    assert near_duplicate_groups([SIMPLIFIED_PASSAGE, TRADITIONAL_PASSAGE]).tolist() == [0, 0]


def test_a_traditional_reprint_embeds_nothing_its_original_has_not(tmp_path, encoder):
    original = f"保交楼稳民生的做法\n一、防范化解房地产风险\n{SIMPLIFIED_PASSAGE}\n"
    reprint = f"保交樓穩民生的做法\n一、防範化解房地產風險\n{TRADITIONAL_PASSAGE.replace('「', '“').replace('」', '”')}\n"
    assert simplified(reprint) == original
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "original.txt").write_text(original, encoding="utf-8")
    assert build([corpus], tmp_path / "index", encoder=encoder).embedded > 0
    (corpus / "reprint.txt").write_text(reprint, encoding="utf-8")
    assert build([corpus], tmp_path / "index", encoder=encoder).embedded == 0


def test_a_question_in_traditional_characters_is_answered_as_in_simplified(searcher):
    simplified_hits = searcher.search("如何保障粮食安全？", k=5)
    traditional_hits = searcher.search("如何保障糧食安全？", k=5)
    assert [hit.passage.id for hit in traditional_hits] == [hit.passage.id for hit in simplified_hits]


def test_a_traditional_phrase_check_finds_and_marks_the_simplified_wording(client):
    body = client.get("/api/search", query_string={"q": "「保交樓、穩民生」"}).get_json()
    assert body["matched"] >= 1 and body["query"] == "「保交樓、穩民生」"
    assert "<mark>保交楼、稳民生</mark>" in body["results"][0]["highlight"]


def test_a_traditional_question_naming_its_speech_keeps_its_own_words(searcher):
    question = "講壯鄉首府安全屏障的那篇，維護政治安全這塊說了什麼"
    answer = searcher.answer(question, k=3)
    assert answer.named_speech == searcher.answer("讲壮乡首府安全屏障的那篇，维护政治安全这块说了什么", k=3).named_speech
    assert answer.asked == "維護政治安全這塊說了什麼"


def test_a_phrase_in_traditional_characters_is_kept_as_typed_and_matched_folded():
    from index.query import parse_query

    parsed = parse_query("「保交樓」 title:壯鄉")
    assert parsed.phrases == ("保交樓",) and parsed.titles == ("壯鄉",)
    assert parse_query(parsed.written()) == parsed
    assert PhraseIndex.from_texts([SIMPLIFIED_PASSAGE]).rows_containing(parsed.phrases[0]).tolist() == [0]
