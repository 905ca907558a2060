"""The Milvus-backed store (Milvus Lite, a local file) answers the searcher's two searches like the FAISS one.

The hand-checked questions of tests/test_search.py run on both stores."""
from __future__ import annotations

import pytest

QUESTIONS = ["如何保障粮食安全？", "基层怎样提高保密意识？", "边境安全防控怎么做",
             "How should grassroots officials guarantee food security?"]


@pytest.mark.parametrize("question", QUESTIONS)
def test_dense_ranking_is_the_faiss_ranking(milvus_searcher, searcher, question):
    ours = milvus_searcher.search(question, k=10, mode="dense")
    faiss = searcher.search(question, k=10, mode="dense")
    assert [h.passage.id for h in ours] == [h.passage.id for h in faiss]
    assert [h.best_span for h in ours] == [h.best_span for h in faiss]
    assert [h.scores["dense"].score for h in ours] == pytest.approx([h.scores["dense"].score for h in faiss], abs=1e-5)


def test_bm25_scores_are_positive_and_misses_are_not_hits(milvus_searcher):
    hits = milvus_searcher.search("粮食安全", k=5, mode="bm25")
    assert hits and all(h.scores["bm25"].score > 0 for h in hits)
    assert milvus_searcher.search("fraud telecom", k=10, mode="bm25") == []


def test_speech_filter_applies_to_both_searches(milvus_searcher):
    speech = milvus_searcher.speeches[3]
    for mode in ("dense", "bm25"):
        hits = milvus_searcher.search("国家安全", k=50, mode=mode, speech=speech.id)
        assert hits and {h.passage.speech_id for h in hits} == {speech.id}
