"""The build's embedding stage: checkpointed vectors a killed build resumes from, one build per root, composed pairs."""
from __future__ import annotations

import hashlib
import os
import re
import threading

import numpy as np
import pytest

from index import build as build_mod
from index import dedup, lifecycle
from index.bilingual import translation_digest
from index.build import EmbeddingCache, TextMemo, build, build_lock
from index.engines import vector_id
from index.errors import BuildInProgress
from index.lifecycle import current_build
from index.store import FaissBm25Store

from .conftest import SEEDS


class StopsAfter:
    """The real encoder, interrupted after ``calls`` passage batches as a kill would interrupt it."""

    def __init__(self, encoder, calls: int):
        self.encoder, self.calls = encoder, calls
        self.model_id, self.dim, self.engine = encoder.model_id, encoder.dim, encoder.engine

    def encode_queries(self, texts):
        return self.encoder.encode_queries(texts)

    def count_tokens(self, text):
        return self.encoder.count_tokens(text)

    def encode_passages(self, texts, *, progress=False):
        if self.calls == 0:
            raise KeyboardInterrupt
        self.calls -= 1
        return self.encoder.encode_passages(texts)


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    small_seed = min(SEEDS.glob("*.txt"), key=lambda p: p.stat().st_size)
    (folder / small_seed.name).write_bytes(small_seed.read_bytes())
    return folder


def test_a_killed_build_resumes_from_its_checkpointed_vectors(tmp_path, corpus, encoder, monkeypatch):
    monkeypatch.setattr(build_mod, "EMBED_TEXTS", 40)
    monkeypatch.setattr(build_mod, "CHECKPOINT_CHARS", 1)  # a checkpoint after every call
    root = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):
        build([corpus], root, encoder=StopsAfter(encoder, calls=1))
    cache = EmbeddingCache(root, vector_id(encoder))
    assert len(cache.vectors) == 40 and len(cache._parts()) == 1
    # the chunker's token counts and the reprint signatures were kept before the embedding began
    assert sorted(p.name.split("-")[0] for p in (root / "cache").glob("*.marshal")) == ["minhash", "tokens"]

    resumed = build([corpus], root, encoder=encoder)
    cache = EmbeddingCache(root, vector_id(encoder))
    assert len(cache.vectors) == resumed.embedded + 40  # only what the killed build had not embedded
    assert cache._parts() == []  # folded into the one cache file
    assert build([corpus], root, encoder=encoder).embedded == 0


def test_an_interrupted_build_promises_a_resume_only_from_vectors_it_checkpointed(tmp_path, corpus, encoder,
                                                                                  monkeypatch):
    from service.cli import interrupted_note

    monkeypatch.setattr(build_mod, "EMBED_TEXTS", 20)
    root = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):  # before its first checkpoint: a small add's lot
        build([corpus], root, encoder=StopsAfter(encoder, calls=1))
    assert EmbeddingCache.checkpointed(root) == 0
    assert interrupted_note("add", EmbeddingCache.checkpointed(root)) == "add interrupted"
    monkeypatch.setattr(build_mod, "CHECKPOINT_CHARS", 1)  # a checkpoint after every call
    with pytest.raises(KeyboardInterrupt):
        build([corpus], root, encoder=StopsAfter(encoder, calls=2))
    assert EmbeddingCache.checkpointed(root) == 40
    assert interrupted_note("build", EmbeddingCache.checkpointed(root)) == (
        "build interrupted — run it again to resume: the 40 vectors embedded so far are kept")
    build([corpus], root, encoder=encoder)
    assert EmbeddingCache.checkpointed(root) == 0  # folded into the cache: nothing left to resume
    assert interrupted_note("ask", 80) == "ask interrupted"  # a search embeds nothing to keep


def test_vectors_last_while_a_kept_build_uses_them(tmp_path, corpus, encoder):
    root, later = tmp_path / "index", tmp_path / "later.txt"
    later.write_text("守好城市防汛底线\n一、加强预警\n完善暴雨预警发布机制，提前转移危险区域群众。\n", encoding="utf-8")
    build([corpus], root, encoder=encoder)
    assert build([corpus, later], root, encoder=encoder).embedded > 0
    build([corpus], root, encoder=encoder)  # the file removed: the build before can still be rolled back to
    for _ in range(3):  # unchanged rebuilds take the current build's place, and no rollback slot
        assert build([corpus], root, encoder=encoder).replaced is not None
    assert build([corpus, later], root, encoder=encoder).embedded == 0
    for day in range(lifecycle.KEEP_BUILDS):  # new builds, until no kept build holds the file's sentences
        (corpus / "day.txt").write_text(f"第{day + 1}天的讲话\n一、做好保密工作\n全体干部要严守保密纪律。\n",
                                        encoding="utf-8")
        build([corpus], root, encoder=encoder)
    assert build([corpus, later], root, encoder=encoder).embedded > 0


class Renamed:
    """The real encoder under another engine's name: its vectors are kept in a cache file of their own."""

    def __init__(self, encoder, engine: str):
        self.encoder, self.engine = encoder, engine
        self.model_id, self.dim = encoder.model_id, encoder.dim

    def encode_queries(self, texts):
        return self.encoder.encode_queries(texts)

    def count_tokens(self, text):
        return self.encoder.count_tokens(text)

    def encode_passages(self, texts, *, progress=False):
        return self.encoder.encode_passages(texts)


def test_a_build_prunes_the_cache_files_no_kept_build_can_use_and_keeps_checkpoints(tmp_path, corpus, encoder):
    root = tmp_path / "index"
    other = Renamed(encoder, "onnx-int7" if encoder.engine != "onnx-int7" else "onnx-fp32")
    build([corpus], root, encoder=other)
    cache_dir = root / build_mod.CACHE
    stale = {"documents-a-tokeniser-before.marshal": b"x" * 10, "minhash-0-before.marshal": b"y" * 20}
    for name, data in stale.items():
        (cache_dir / name).write_bytes(data)
    checkpoint = cache_dir / f"{EmbeddingCache.file(root, 'an interrupted model').stem}.part-000000.npz"
    checkpoint.write_bytes(b"z")
    # the other engine's vectors stay while its build is kept: a rollback and a rebuild reuse them
    first = build([corpus], root, encoder=encoder)
    assert first.cache_pruned == {name: len(data) for name, data in stale.items()}
    other_vectors = EmbeddingCache.file(root, vector_id(other))
    assert other_vectors.exists() and checkpoint.exists()
    text = next(corpus.glob("*.txt"))
    for edit in range(lifecycle.KEEP_BUILDS - 1):
        text.write_text(text.read_text(encoding="utf-8") + f"第{edit}次补充的一句话。\n", encoding="utf-8")
        report = build([corpus], root, encoder=encoder)
    assert list(report.cache_pruned) == [other_vectors.name] and not other_vectors.exists()
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted(
        [checkpoint.name, EmbeddingCache.file(root, vector_id(encoder)).name, build_mod.bm25_documents(root).path.name,
         f"minhash-{dedup.SIGNATURE_VERSION}.marshal", f"{build_mod.token_memo_name(encoder.model_id)}.marshal"])


def test_a_second_build_on_one_root_is_refused_with_a_clear_message(tmp_path, corpus, encoder):
    root = tmp_path / "index"
    with build_lock(root):
        message = (rf"another build is running on {re.escape(str(root))} \(pid {os.getpid()} since "
                   r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\) — let it finish, then build again")
        with pytest.raises(BuildInProgress, match=message):
            build([corpus], root, encoder=encoder)
        # one that waited says so, and how long
        with pytest.raises(BuildInProgress, match=r"\+00:00; waited 0.3 s for it\) — let it finish, then build again"):
            build([corpus], root, encoder=encoder, wait=0.3)
    assert not (root / "CURRENT").exists() and not (root / "builds").exists()


def test_a_second_build_that_may_wait_runs_once_the_first_is_done(tmp_path, corpus, encoder):
    root = tmp_path / "index"
    holding, release = threading.Event(), threading.Event()

    def first():
        with build_lock(root):
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=first)
    holder.start()
    holding.wait(30)
    threading.Timer(0.5, release.set).start()
    report = build([corpus], root, encoder=encoder, wait=60)
    holder.join()
    assert current_build(root) == report.directory
    assert (root / "build.lock").read_text() == ""  # released, holder cleared


def test_pair_vectors_are_their_sentences_weighted_by_tokens(tmp_path, corpus, encoder):
    report = build([corpus], tmp_path / "index", encoder=encoder)
    store = FaissBm25Store.load(report.directory)
    vectors = store.span_vectors(np.arange(len(store.units)))
    units = [tuple(u) for u in store.units.tolist()]
    row_of = {u: i for i, u in enumerate(units)}
    overhead = encoder.count_tokens("")
    pairs = [u for u in units if u[3] == 1]
    assert len(pairs) > 50
    for passage_row, start, end, _ in pairs:
        text = store.passages[passage_row].text
        first = next(u for u in units if u[:2] == (passage_row, start) and u[3] == 0)
        second = next(u for u in units if u[0] == passage_row and u[2] == end and u[3] == 0)
        weights = [encoder.count_tokens(text[u[1]:u[2]]) - overhead for u in (first, second)]
        expected = weights[0] * vectors[row_of[first]] + weights[1] * vectors[row_of[second]]
        np.testing.assert_allclose(vectors[row_of[passage_row, start, end, 1]], expected / np.linalg.norm(expected),
                                   atol=1e-6)


def test_a_text_memo_derives_each_text_once_across_builds_and_keeps_only_what_was_asked(tmp_path):
    made = []

    def count(text):
        made.append(text)
        return len(text) % 3  # 0 for "", "abc": falsy values are remembered too

    memo = TextMemo(tmp_path, "lengths", lambda texts: [count(text) for text in texts])
    assert [memo(t) for t in ("abc", "", "ab", "abc")] == [0, 0, 2, 0]
    memo.save()
    again = TextMemo(tmp_path, "lengths", lambda texts: [count(text) for text in texts])
    assert [again(t) for t in ("ab", "abc", "abcd")] == [2, 0, 1]
    assert made == ["abc", "", "ab", "abcd"]
    again.save()
    third = TextMemo(tmp_path, "lengths", lambda texts: [count(text) for text in texts])
    assert third("") == 0 and made[-1] == ""  # "" was not asked by the second build, so it was dropped


def test_a_damaged_memo_is_derived_again(tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "lengths.marshal").write_bytes(b"\x7fdamaged")
    assert TextMemo(tmp_path, "lengths", lambda texts: [len(text) for text in texts])("abcd") == 4


def test_a_text_memo_makes_what_it_lacks_in_one_call_each_text_once(tmp_path):
    calls = []
    make = lambda texts: calls.append(list(texts)) or [text.upper() for text in texts]  # noqa: E731
    memo = TextMemo(tmp_path, "upper", make)
    assert memo("b") == "B"
    assert memo.many(["a", "b", "a", "c"]) == ["A", "B", "A", "C"]
    assert calls == [["b"], ["a", "c"]]
    assert memo.many([]) == [] and len(calls) == 2


def test_a_rebuild_from_its_memos_indexes_what_a_fresh_build_does(tmp_path, corpus, encoder):
    seed = next(corpus.glob("*.txt")).read_text(encoding="utf-8")
    (corpus / "reprint.txt").write_text("转载的发言\n一、转载\n" + "\n".join(seed.splitlines()[2:8]) + "\n", encoding="utf-8")
    root = tmp_path / "index"
    build([corpus], root, encoder=encoder)
    assert sorted(p.name for p in (root / "cache").glob("*.marshal")) == sorted(
        [f"documents-{build_mod.LEXICAL_VERSION}-jieba-0.42.1-{translation_digest()}.marshal", f"minhash-{dedup.SIGNATURE_VERSION}.marshal",
         f"tokens-{hashlib.sha1(encoder.model_id.encode()).hexdigest()[:12]}.marshal"])
    stale = root / "cache" / "terms-jieba-search-title-english-3-jieba-0.42.1-0123456789abcdef.marshal"
    stale.write_bytes(b"")  # the memo of term lists an earlier release kept, which nothing reads now
    calls = []
    counting = StopsAfter(encoder, calls=0)  # no passage may be embedded again
    counting.count_tokens = lambda text: calls.append(text) or encoder.count_tokens(text)
    rebuilt = FaissBm25Store.load(build([corpus], root, encoder=counting).directory)
    fresh = FaissBm25Store.load(build([corpus], tmp_path / "fresh", encoder=encoder).directory)
    assert calls == []  # every span's count (and the empty text's overhead) came from the memo
    assert not stale.exists()
    assert rebuilt.passages == fresh.passages and np.array_equal(rebuilt.units, fresh.units)
    assert any(p.duplicate_of for p in rebuilt.passages)  # reprints grouped from remembered signatures
    assert rebuilt.lexical.vocab_dict == fresh.lexical.vocab_dict
    assert (rebuilt.passage_terms().rows == fresh.passage_terms().rows).all()


def test_distinct_vectors_are_the_units_vectors_bit_for_bit_distinct_in_first_appearance_order(tmp_path, corpus,
                                                                                                 encoder):
    seed = next(corpus.glob("*.txt")).read_text(encoding="utf-8")
    reprinted = max(seed.splitlines(), key=len)  # a paragraph another speech reprints verbatim
    (corpus / "reprint.txt").write_text(f"转载的发言\n一、转载\n{reprinted}\n", encoding="utf-8")
    report = build([corpus], tmp_path / "index", encoder=encoder)
    store = FaissBm25Store.load(report.directory)
    per_unit = store.span_vectors(np.arange(len(store.units)))
    order, seen = [], {}
    for vector in per_unit:
        seen.setdefault(vector.tobytes(), len(seen))
        order.append(seen[vector.tobytes()])
    assert store.unit_vectors.tolist() == order
    assert store.dense.ntotal == len(seen) < len(store.units)


def test_every_stage_of_seconds_shows_a_bar_or_a_line_and_a_quiet_build_none(tmp_path, corpus, encoder, capsys):
    def stages() -> list[str]:  # each bar or line's name, once, in the order they began
        lines = re.split(r"[\r\n]+", capsys.readouterr().err)
        return list(dict.fromkeys(re.split(r":|\s…", line)[0] for line in lines if line))

    root = tmp_path / "index"
    build([corpus], root, encoder=encoder, progress=True)
    assert stages() == ["parse", "chunk", "finding reprints", "sentence spans", "embedding", "BM25 terms",
                        "dense and BM25 indexes", "writing the build"]
    # what the memos and the cache hold is not derived again, so those bars stay away
    build([corpus], root, encoder=encoder, progress=True)
    assert stages() == ["parse", "chunk", "finding reprints", "sentence spans", "dense and BM25 indexes",
                        "writing the build"]
    build([corpus], root, encoder=encoder)
    assert capsys.readouterr().err == ""
