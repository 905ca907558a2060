"""The Milvus store (on Milvus Lite, a local file) answers the searcher's two searches like the FAISS one.

The hand-checked questions of tests/test_search.py run on both stores."""
from __future__ import annotations

import pytest

from index.source import milvus_uri

QUESTIONS = ["如何保障粮食安全？", "基层怎样提高保密意识？", "边境安全防控怎么做",
             "How should grassroots officials guarantee food security?"]


@pytest.mark.parametrize("question", QUESTIONS)
def test_dense_ranking_is_the_faiss_ranking(milvus_searcher, searcher, question):
    ours = milvus_searcher.search(question, k=10, mode="dense")
    faiss = searcher.search(question, k=10, mode="dense")
    assert [h.passage.id for h in ours] == [h.passage.id for h in faiss]
    assert [h.best_span for h in ours] == [h.best_span for h in faiss]
    assert [h.scores["dense"].score for h in ours] == pytest.approx([h.scores["dense"].score for h in faiss], abs=1e-5)


def test_a_version_reads_back_the_build_it_was_published_from(milvus_searcher, searcher):
    assert milvus_searcher.passages == searcher.passages
    assert milvus_searcher.speeches == searcher.speeches
    assert milvus_searcher.store.units.tolist() == searcher.store.units.tolist()
    assert milvus_searcher.manifest["build_id"] == searcher.manifest["build_id"]
    assert milvus_searcher.store.version == milvus_searcher.manifest["version"] == 1


def test_bm25_scores_are_positive_and_misses_are_not_hits(milvus_searcher):
    hits = milvus_searcher.search("粮食安全", k=5, mode="bm25")
    assert hits and all(h.scores["bm25"].score > 0 for h in hits)
    assert milvus_searcher.search("sourdough baguette", k=10, mode="bm25") == []


def test_speech_filter_applies_to_both_searches(milvus_searcher):
    speech = milvus_searcher.speeches[3]
    for mode in ("dense", "bm25"):
        hits = milvus_searcher.search("国家安全", k=50, mode=mode, speech=speech.id)
        assert hits and {h.passage.speech_id for h in hits} == {speech.id}


def test_a_row_restriction_is_a_milvus_filter_not_a_cut_of_the_top_spans(milvus_searcher, searcher, encoder):
    """Restricted to one passage, a k=1 search fetches only that passage's spans: found only if Milvus filters."""
    vector = encoder.encode_queries(["如何保障粮食安全？"])[0]
    unrestricted = milvus_searcher.store.dense_search(vector, 100)["sentence"]
    row = unrestricted[-1].row  # the passage ranked last, far below the spans a k=1 search fetches
    spans = int((milvus_searcher.store.units[:, 0] == row).sum())
    assert spans < 40
    views = milvus_searcher.store.dense_search(vector, 1, rows=[row])
    assert [m.row for m in views["sentence"]] == [row] == [m.row for m in views["window"]]
    faiss = searcher.store.dense_search(vector, 1, rows=[row])
    for view in ("sentence", "window"):
        assert [(m.row, m.span) for m in views[view]] == [(m.row, m.span) for m in faiss[view]]
    terms = ["粮食", "安全"]
    lexical = milvus_searcher.store.lexical_search(terms, 50)
    last = lexical[-1].row
    assert [m.row for m in milvus_searcher.store.lexical_search(terms, 1, rows=[last])] == [last]
    assert milvus_searcher.store.lexical_search(terms, 5, rows=[]) == []


@pytest.mark.parametrize("spec, uri", [
    ("faiss", None),
    ("var/milvus.db", "var/milvus.db"),
    ("http://milvus:19530", "http://milvus:19530"),
    ("https://in01.example.com:443", "https://in01.example.com:443"),
])
def test_store_values(spec, uri):
    assert milvus_uri(spec) == uri


@pytest.mark.parametrize("spec", ["milvus", "var/milvus", "tcp://milvus:19530", "http://"])
def test_bad_store_values_say_what_is_allowed(spec):
    with pytest.raises(ValueError, match=r'store must be "faiss", a Milvus Lite file ending in \.db, or '
                                         r"http\(s\)://host:port of a Milvus server \(got "):
        milvus_uri(spec)


def test_a_question_that_names_its_speech_is_answered_alike_on_milvus(milvus_searcher, searcher):
    question = "讲壮乡首府安全屏障的那篇，维护政治安全这块说了什么"
    ours = milvus_searcher.answer(question, k=5, mode="dense")
    faiss = searcher.answer(question, k=5, mode="dense")
    assert ours.named_speech is not None
    assert (ours.named_speech, ours.asked) == (faiss.named_speech, faiss.asked)
    assert [h.passage.id for h in ours.hits] == [h.passage.id for h in faiss.hits]


def test_quotes_spread_over_one_speech_lead_alike_on_milvus(milvus_searcher, searcher):
    question = "用“前提在于”“关键在于”“重点在于”串起来的是哪篇？"  # each opens one part of a county's speech
    ours = milvus_searcher.answer(question, k=5, mode="dense")
    faiss = searcher.answer(question, k=5, mode="dense")
    assert (ours.phrases_relaxed, ours.phrases_spread) == (True, True)
    assert [h.passage.id for h in ours.hits] == [h.passage.id for h in faiss.hits]
    assert all(any(words in hit.passage.text for words in ("前提在于", "关键在于", "重点在于"))
               for hit in ours.hits[:3])
