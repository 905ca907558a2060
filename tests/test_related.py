"""Span-vector evidence over the real seed index: per-sentence cosines and "same point, other wording"."""
from __future__ import annotations

import numpy as np
import pytest

from index.errors import UnknownId
from index.records import Passage
from index.related import reprint_rows, sentence_scores, sentence_units, span_vectors
from service.highlight import split_sentences

GRAIN_SPEECH = "保障粮食安全提高粮食产能"
GRAIN_SECTION = ("一、保障粮食安全提高粮食产能",)


def _passage(row: int, speech_id: str) -> Passage:
    return Passage(id=f"p{row}", speech_id=speech_id, speech_title=speech_id, source="x.txt", section=(),
                   first_block=row, last_block=row, start=row, end=row + 1, text="字")


def test_each_hit_carries_a_cosine_per_sentence_whose_best_is_the_dense_best_span(searcher):
    hits = searcher.search("如何保障粮食安全？", k=5, mode="dense")
    for hit in hits:
        assert len(hit.sentence_scores) == len(split_sentences(hit.passage.text))
        best = int(np.argmax(hit.sentence_scores))
        assert split_sentences(hit.passage.text)[best] == hit.best_span
        assert hit.scores["dense"].score == pytest.approx(max(hit.sentence_scores), abs=1e-5)
    assert all(hit.sentence_scores is None for hit in searcher.search("粮食安全", k=3, mode="bm25"))


def test_sentence_scores_are_cosines_of_the_stored_vectors_of_each_sentence(searcher, encoder):
    vector = encoder.encode_queries(["粮食安全"])[0]
    row = next(i for i, p in enumerate(searcher.passages) if len(split_sentences(p.text)) >= 3)
    passage = searcher.passages[row]
    sentences = [passage.text[a:b] for a, b in split_sentences(passage.text)]
    stored_vectors = span_vectors(searcher.store, sentence_units(searcher.store, row))
    assert np.allclose(sentence_scores(searcher.store, [row], vector)[0], stored_vectors @ vector, atol=1e-6)
    # several rows at once: each row's own tuple, in the order asked, an empty list for no rows
    others = [r for r in range(len(searcher.passages)) if r != row][:3]
    asked = [others[0], row, *others[1:]]
    together = sentence_scores(searcher.store, asked, vector)
    assert [len(scores) for scores in together] == [len(sentence_units(searcher.store, r)) for r in asked]
    assert np.allclose(together[1], stored_vectors @ vector, atol=1e-6)
    assert sentence_scores(searcher.store, [], vector) == []
    # Row i holds sentence i: int8 engines scale activations per batch, so a sentence encoded
    # again beside other sentences moves a little (cosine ≥ 0.999 through onnx-int8-blocks, 0.9976
    # through onnx-int7, which quantises whole batches), but never towards a neighbour.
    agreement = stored_vectors @ encoder.encode_passages(sentences).T
    assert len(agreement) == len(sentences) >= 3
    assert agreement.diagonal().min() >= 0.995
    assert (agreement.argmax(axis=1) == np.arange(len(sentences))).all()


def _grain_passage(searcher) -> Passage:
    speech_id = next(s.id for s in searcher.speeches if s.title == GRAIN_SPEECH)
    return next(p for p in searcher.speech_passages(speech_id) if p.section == GRAIN_SECTION)


def test_similar_passages_come_from_other_speeches_one_each_best_first(searcher):
    source = _grain_passage(searcher)
    hits = searcher.similar(source.id, 5)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    speeches = [h.passage.speech_id for h in hits]
    assert source.speech_id not in speeches and len(set(speeches)) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(set(h.scores) == {"dense"} and h.scores["dense"].rank == h.rank for h in hits)
    # the same point in other words: each of the top three's closest sentence is about grain
    closest = [h.passage.text[h.best_span[0]:h.best_span[1]] for h in hits[:3]]
    assert all("粮" in sentence for sentence in closest), closest


def test_similar_keeps_out_the_speeches_that_reprint_the_source(searcher):
    source = _grain_passage(searcher)
    source_speech = source.speech_id
    first = searcher.similar(source.id, 5)
    reprinter = first[0].passage.speech_id
    groups = list(range(len(searcher.passages)))
    # pretend one passage of the top speech is a near-duplicate of one of the source speech's
    reprinted_row = next(r for r, p in enumerate(searcher.passages) if p.speech_id == reprinter)
    groups[reprinted_row] = groups[next(r for r, p in enumerate(searcher.passages) if p.speech_id == source_speech)]
    again = searcher.similar(source.id, 5, reprint_groups=groups)
    assert reprinter not in [h.passage.speech_id for h in again]
    assert [h.passage.id for h in again[:4]] == [h.passage.id for h in first[1:5]]


def test_similar_of_an_unknown_passage_is_unknown_id(searcher):
    with pytest.raises(UnknownId, match="no passage with id \"nope\""):
        searcher.similar("nope", 5)


def test_reprint_rows_are_every_row_of_a_speech_sharing_a_group():
    passages = [_passage(0, "a"), _passage(1, "a"), _passage(2, "b"), _passage(3, "b"), _passage(4, "c")]
    assert reprint_rows(passages, [0, 1, 2, 1, 4], 0) == [2, 3]
    assert reprint_rows(passages, [0, 1, 2, 3, 4], 0) == []
    assert reprint_rows(passages, [0, 1, 2, 3, 0], 1) == [4]
