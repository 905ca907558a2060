"""Index round trip, manifest checks, versioned builds and rollback."""
import json
import shutil

import faiss
import numpy as np
import pytest

from index import lifecycle, store
from index.build import build
from index.chunk import sentence_spans
from index.errors import IndexCorrupt, IndexNotBuilt
from index.filters import Library
from index.lexical import TermStats, document_terms
from index.phrase import PhraseIndex
from index.search import load_searcher

from .conftest import SEEDS


@pytest.fixture
def small_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(
        "守好粮仓的几点体会\n一、保障粮食安全\n一是稳定粮食播种面积。坚决遏制耕地非农化。\n"
        "二是提高单产。推广良种良法。\n二、维护社会稳定\n加强民族团结，化解矛盾纠纷。\n", encoding="utf-8")
    return corpus


def test_round_trip_keeps_passages_vectors_and_manifest(index_root, searcher):
    directory = lifecycle.current_build(index_root)
    manifest = store.read_manifest(directory)
    loaded = store.FaissBm25Store.load(directory)
    assert loaded.passages == searcher.passages
    assert len(loaded.passages) == manifest["counts"]["passages"]
    assert len(loaded.units) == manifest["counts"]["spans"] > len(loaded.passages)
    # the speeches share stock sentences ("国家安全是民族复兴的根基"): each distinct vector is stored once
    assert len(loaded.passages) < loaded.dense.ntotal == manifest["counts"]["vectors"] < len(loaded.units)
    assert set(loaded.units[:, 3]) == {0, 1}
    row, start, end, _ = loaded.units[5]
    assert loaded.passages[row].text[start:end].strip()
    assert manifest["counts"]["speeches"] == 11
    assert manifest["model_id"] == searcher.encoder.model_id
    assert manifest["dim"] == 384
    assert set(manifest["files"]) >= {store.PASSAGES, store.SPEECHES, store.DENSE}
    vectors = loaded.span_vectors([0, 1, 2])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_the_build_saves_the_phrase_matcher_and_serving_uses_it(tmp_path, index_root, searcher):
    directory = lifecycle.current_build(index_root)
    assert store.PHRASES in store.read_manifest(directory)["files"]
    loaded = store.FaissBm25Store.load(directory)
    made = PhraseIndex.from_texts([p.text for p in loaded.passages])
    for phrase in ("粮食安全", "总体国家安全观", "护城河", "没有这句话"):
        assert loaded.phrases.rows_containing(phrase).tolist() == made.rows_containing(phrase).tolist()
    assert searcher.library.phrases is searcher.store.phrases  # no second copy made on the first phrase query


def test_a_build_without_a_saved_phrase_matcher_makes_one_on_first_use(tmp_path, index_root):
    old = tmp_path / "old"
    shutil.copytree(lifecycle.current_build(index_root), old)
    (old / store.PHRASES).unlink()
    manifest = json.loads((old / store.MANIFEST).read_text())
    del manifest["files"][store.PHRASES]
    (old / store.MANIFEST).write_text(json.dumps(manifest))
    loaded = store.FaissBm25Store.load(old)
    assert loaded.phrases is None
    library = Library(loaded.passages, loaded.speeches, loaded.phrases)
    assert len(library.phrases.rows_containing("粮食安全")) > 0


def test_a_sentence_two_speeches_share_is_one_vector_found_in_both(tmp_path, small_corpus, encoder):
    (small_corpus / "b.txt").write_text(
        "边疆治理的几点做法\n一、守牢边境\n坚决遏制耕地非农化。加强口岸管理，严查走私。\n", encoding="utf-8")
    report = build([small_corpus], tmp_path / "index", encoder=encoder)
    loaded = store.FaissBm25Store.load(report.directory)
    assert loaded.dense.ntotal < len(loaded.units)
    shared = [j for j, (row, a, b, view) in enumerate(loaded.units.tolist())
              if view == 0 and loaded.passages[row].text[a:b].strip() == "坚决遏制耕地非农化。"]
    assert len(shared) == 2 and len(set(loaded.unit_vectors[shared].tolist())) == 1
    rows = {int(loaded.units[j, 0]) for j in shared}
    assert len({loaded.passages[r].speech_id for r in rows}) == 2
    query = encoder.encode_queries(["耕地非农化"])[0]
    found = {m.row: m.score for m in loaded.dense_search(query, 5)["sentence"]}
    assert rows <= set(found) and len({round(found[r], 6) for r in rows}) == 1
    only = loaded.dense_search(query, 5, rows=[max(rows)])["sentence"]
    assert [m.row for m in only] == [max(rows)]


def test_a_build_without_unit_vectors_reads_one_vector_per_unit(tmp_path, index_root):
    loaded = store.FaissBm25Store.load(lifecycle.current_build(index_root))
    per_unit = store.make_dense_index(loaded.span_vectors(np.arange(len(loaded.units))))
    old = tmp_path / "old"
    store.FaissBm25Store(loaded.manifest, loaded.passages, loaded.speeches, per_unit, loaded.lexical,
                         loaded.units, loaded.phrases).save(old)
    (old / store.UNIT_VECTORS).unlink()
    manifest = json.loads((old / store.MANIFEST).read_text())
    del manifest["files"][store.UNIT_VECTORS]
    (old / store.MANIFEST).write_text(json.dumps(manifest))
    again = store.FaissBm25Store.load(old)
    assert again.unit_vectors.tolist() == list(range(len(loaded.units)))
    query = loaded.span_vectors([7])[0]
    assert again.dense_search(query, 5) == loaded.dense_search(query, 5)


def test_passage_terms_from_the_bm25_index_equal_tokenising_again(searcher):
    stats = searcher.store.passage_terms()
    again = TermStats.of(document_terms(p.speech_title, p.text) for p in searcher.passages)
    assert stats.passages == again.passages == len(searcher.passages)
    assert stats.document_frequency == again.document_frequency
    assert len(again.document_frequency) > 20
    for term in again.document_frequency:
        assert stats.rows_holding(term).tolist() == again.rows_holding(term).tolist()  # ascending too
    assert searcher.term_stats.document_frequency == again.document_frequency


def test_the_lexical_index_of_joined_documents_scores_as_bm25s_does_over_their_terms(searcher):
    import bm25s

    terms = [document_terms(p.speech_title, p.text) for p in searcher.passages] + [[]]  # and an empty passage
    reference = bm25s.BM25(method="lucene")
    reference.index(terms, show_progress=False)
    built = store.make_lexical_index([" ".join(t) for t in terms])
    assert sorted(built.vocab_dict) == sorted(reference.vocab_dict)
    # numbered in order of first use, so two runs save the same index whatever the hash seed
    first_terms = list(dict.fromkeys(t for passage in terms for t in passage))
    assert list(built.vocab_dict)[:len(first_terms)] == first_terms
    for passage in searcher.passages[:40]:
        question = document_terms("", passage.text[:30])
        assert built.get_scores(question).tolist() == reference.get_scores(question).tolist()


def test_missing_index_says_what_to_run(tmp_path):
    with pytest.raises(IndexNotBuilt, match="run `speechqa build`"):
        load_searcher(tmp_path / "nothing")


def test_truncated_file_is_refused(tmp_path, index_root):
    copy = tmp_path / "copy"
    shutil.copytree(lifecycle.current_build(index_root), copy)
    data = (copy / store.DENSE).read_bytes()
    (copy / store.DENSE).write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorrupt, match="does not match its checksum"):
        store.FaissBm25Store.load(copy)


def test_unreadable_manifest_is_refused(tmp_path, index_root):
    copy = tmp_path / "copy"
    shutil.copytree(lifecycle.current_build(index_root), copy)
    (copy / store.MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorrupt, match="unreadable"):
        store.FaissBm25Store.load(copy)


def test_rebuild_reuses_embeddings_and_keeps_ids(tmp_path, small_corpus, encoder):
    root = tmp_path / "index"
    first = build([small_corpus], root, encoder=encoder)
    second = build([small_corpus], root, encoder=encoder)
    sentences = {p.text[a:b] for p in store.read_passages(first.directory) for a, b in sentence_spans(p.text)}
    spans = first.manifest["counts"]["spans"]
    # Only distinct sentences are embedded; pair vectors are composed from them.
    assert first.embedded == len(sentences) and first.reused == spans - len(sentences)
    assert second.embedded == 0 and second.reused == spans
    assert store.read_passages(first.directory) == store.read_passages(second.directory)
    assert (second.passages_added, second.passages_removed, second.speeches_changed) == (0, 0, [])


def test_changed_file_reembeds_only_what_changed(tmp_path, small_corpus, encoder):
    root = tmp_path / "index"
    first = build([small_corpus], root, encoder=encoder)
    (small_corpus / "b.txt").write_text("边境安全的思考\n一、打好边境安全防控战\n坚持五级书记抓边防。\n",
                                        encoding="utf-8")
    report = build([small_corpus], root, encoder=encoder)
    assert report.speeches_added == ["边境安全的思考"]
    assert report.passages_added >= 1 and report.passages_removed == 0
    def sentences(passages):
        return {p.text[a:b] for p in passages for a, b in sentence_spans(p.text)}

    old = store.read_passages(first.directory)
    new_passages = [p for p in store.read_passages(report.directory) if p.id not in {q.id for q in old}]
    assert report.embedded == len(sentences(new_passages) - sentences(old)) > 0


def test_rollback_returns_to_the_previous_build(tmp_path, small_corpus, encoder):
    root = tmp_path / "index"
    first = build([small_corpus], root, encoder=encoder)
    (small_corpus / "a.txt").unlink()
    (small_corpus / "c.txt").write_text("新的讲话\n一、新的部分\n新的内容。\n", encoding="utf-8")
    second = build([small_corpus], root, encoder=encoder)
    assert lifecycle.current_id(root) == second.build_id
    assert second.speeches_removed == ["守好粮仓的几点体会"]
    assert lifecycle.rollback(root) == first.build_id
    assert lifecycle.current_build(root) == first.directory
    titles = {s.title for s in load_searcher(root, encoder=encoder).speeches}
    assert titles == {"守好粮仓的几点体会"}
    with pytest.raises(IndexNotBuilt, match=f"no earlier build to roll back to under {root}: {first.build_id} is "
                                            "the oldest kept"):
        lifecycle.rollback(root)
    with pytest.raises(IndexNotBuilt, match="no index at .*missing — run `speechqa build`"):
        lifecycle.rollback(tmp_path / "missing")


def test_interrupted_build_leaves_served_index_alone(tmp_path, small_corpus, encoder):
    root = tmp_path / "index"
    first = build([small_corpus], root, encoder=encoder)
    half_built = lifecycle.staging_dir(root)
    half_built.mkdir()
    (half_built / store.PASSAGES).write_text("partial", encoding="utf-8")
    assert lifecycle.current_build(root) == first.directory
    second = build([small_corpus], root, encoder=encoder)
    assert not list((root / lifecycle.BUILDS).glob(".tmp-*"))
    assert lifecycle.current_build(root) == second.directory


def test_manifest_records_how_the_index_was_built(index_root):
    manifest = json.loads((lifecycle.current_build(index_root) / store.MANIFEST).read_text(encoding="utf-8"))
    assert {"model_id", "dim", "chunker", "lexical", "corpus_hash", "counts", "built_at", "build_id",
            "dense_index", "files", "format"} <= set(manifest)


def test_an_inverted_file_above_the_exact_limit_finds_what_the_exact_index_does(tmp_path, index_root):
    loaded = store.FaissBm25Store.load(lifecycle.current_build(index_root))
    vectors = loaded.span_vectors(np.arange(len(loaded.units)))
    distinct = loaded.dense.reconstruct_n(0, loaded.dense.ntotal)
    inverted = store.make_dense_index(distinct, exact_limit=100)
    # 4·√n lists, at most one per 39 vectors: the 10M library's 121,065 get 1,392, 2,000 get 51
    assert store.ivf_lists(121_065) == 1392 and store.ivf_lists(2_000) == 51 and store.ivf_lists(20) == 1
    lists = store.ivf_lists(len(distinct))
    assert isinstance(inverted, faiss.IndexIVFScalarQuantizer) and inverted.nlist == lists
    assert inverted.sq.qtype == faiss.ScalarQuantizer.QT_8bit and inverted.code_size == distinct.shape[1]
    assert inverted.nprobe == max(1, lists // store.IVF_PROBED_SHARE)
    saved = tmp_path / "ivf"
    store.FaissBm25Store(loaded.manifest, loaded.passages, loaded.speeches, inverted, loaded.lexical,
                         loaded.units, loaded.phrases, loaded.unit_vectors).save(saved)
    again = store.FaissBm25Store.load(saved)
    assert isinstance(again.dense, faiss.IndexIVFScalarQuantizer) and again.dense.nprobe == inverted.nprobe
    # the direct map survives saving: every span's vector reads back, as its 8-bit code decodes it
    decoded = again.span_vectors(np.arange(len(loaded.units)))
    assert decoded.shape == vectors.shape
    assert (decoded * vectors).sum(axis=1).min() >= 0.998
    query = vectors[7]
    best = again.dense_search(query, 1)["sentence"][0]
    assert best.row == int(loaded.units[7, 0]) and best.score == pytest.approx(1.0, abs=2e-3)
    # a filter probes every list, so its passages come back as from the exact index, however few
    speech = loaded.passages[-1].speech_id
    rows = [r for r, p in enumerate(loaded.passages) if p.speech_id == speech]
    for view, exact in loaded.dense_search(query, 3, rows=rows).items():
        found = again.dense_search(query, 3, rows=rows)[view]
        assert [(m.row, m.span) for m in found] == [(m.row, m.span) for m in exact] and len(exact) == 3
        # scored against the 8-bit codes: within 1e-3 of the exact cosines (the largest gap here 1.6e-4)
        assert [m.score for m in found] == pytest.approx([m.score for m in exact], abs=1e-3)


def test_an_ivf_keeps_its_training_within_the_growth_factor_and_trains_again_beyond_it():
    assert store.IVF_RETRAIN_GROWTH == 1.25
    assert store.keeps_training(1000, 1000) and store.keeps_training(1000, 1250) and store.keeps_training(1000, 800)
    assert not store.keeps_training(1000, 1251) and not store.keeps_training(1000, 799)


DAY_SPEECH = """统筹发展和安全专题会议上的讲话
一、守住粮食安全底线
粮食安全是国家安全的重要基础。要稳定粮食播种面积，加强高标准农田建设，确保谷物基本自给、口粮绝对安全。
"""


def test_a_build_that_adds_to_a_library_fills_the_trained_ivf_and_trains_again_when_it_outgrows_it(
        tmp_path, index_root, encoder, monkeypatch):
    monkeypatch.setattr(store, "EXACT_SEARCH_LIMIT", 100)  # the seeds' ~1,200 vectors make an IVF
    corpus, root = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    shutil.copytree(index_root / "cache", root / "cache")
    first = build([corpus], root, encoder=encoder)
    count = first.manifest["counts"]["vectors"]
    lists = store.ivf_lists(count)
    assert first.manifest["ivf"] == {"lists": lists, "trained_on": count}
    trained = faiss.read_index(str(first.directory / store.DENSE))  # held: its quantizer is a view into it
    centroids = trained.quantizer.reconstruct_n(0, lists)

    (corpus / "day.txt").write_text(DAY_SPEECH, encoding="utf-8")
    second = build([corpus], root, encoder=encoder)
    grown = second.manifest["counts"]["vectors"]
    assert count < grown <= count * store.IVF_RETRAIN_GROWTH and second.embedded > 0
    assert second.manifest["ivf"] == {"lists": lists, "trained_on": count}
    kept = store.FaissBm25Store.load(second.directory).dense
    assert isinstance(kept, faiss.IndexIVFScalarQuantizer) and kept.ntotal == grown
    assert np.array_equal(kept.quantizer.reconstruct_n(0, lists), centroids)
    assert kept.nprobe == max(1, lists // store.IVF_PROBED_SHARE)
    searcher = load_searcher(root, encoder=encoder)
    found = searcher.search("要稳定粮食播种面积，加强高标准农田建设", k=1, mode="dense")[0]
    assert found.passage.speech_title == "统筹发展和安全专题会议上的讲话"

    # a quarter more vectors than the training saw: the lists are trained again, on all of them
    sentences = "".join(f"第{i}项任务要把第{i}条安全责任落实到第{i}个岗位。" for i in range(1, count // 4 + 1))
    (corpus / "more.txt").write_text(f"安全责任落实工作会议上的讲话\n{sentences}\n", encoding="utf-8")
    third = build([corpus], root, encoder=encoder)
    total = third.manifest["counts"]["vectors"]
    assert total > count * store.IVF_RETRAIN_GROWTH
    assert third.manifest["ivf"] == {"lists": store.ivf_lists(total), "trained_on": total}


def test_a_dense_search_fetches_deeper_until_each_view_holds_k_passages():
    # 30 passages of 20 windows close to the query and one sentence further away: the first 30
    # spans fetched (10 per passage wanted) are all windows, so the sentence view needs deeper tries.
    # (distinct, well-spread angles: no near-ties for float rounding to reorder)
    window_angles, sentence_angles = iter(np.random.default_rng(0).permutation(600) / 600), iter(np.arange(30) / 60)
    units, vectors = [], []
    for row in range(30):
        for start in range(20):
            units.append((row, start, start + 2, 1))
            vectors.append((1.0, 0.05 + next(window_angles), 0.0, 0.0))
        units.append((row, 0, 1, 0))
        vectors.append((0.2 + next(sentence_angles), 1.0, 0.0, 0.0))
    units, vectors = np.array(units), np.array(vectors, dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    dense = faiss.IndexFlatIP(4)
    dense.add(vectors)
    made = store.FaissBm25Store({}, [], [], dense, None, units)
    assert list(store.span_search_depths(3, len(units))) == [30, 120, 630]  # 480 is over half: all
    assert list(store.span_search_depths(100, 1177)) == [1177] and list(store.span_search_depths(5, 40)) == [40]
    query = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    cosine = vectors @ query
    for view_number, view in enumerate(store.VIEWS):
        best_of_row = {}
        for (row, start, end, in_view), score in zip(units.tolist(), cosine.tolist()):
            if in_view == view_number and score > best_of_row.get(row, (-2.0,))[0]:
                best_of_row[row] = (score, (start, end))
        expected = sorted(best_of_row.items(), key=lambda item: -item[1][0])[:3]
        found = made.dense_search(query, 3)[view]
        assert [(m.row, m.span) for m in found] == [(row, span) for row, (_, span) in expected]
        assert [m.score for m in found] == pytest.approx([score for _, (score, _) in expected], abs=1e-6)
