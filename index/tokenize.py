"""Token ids for the bundled model, from a tokenizer that loads in a quarter of the time.

The full tokenizer's 250k Unigram pieces take ~1.4 s to load (tokenizers builds its trie for each
piece, holding the GIL), most of a server's start. Chinese and English speeches only ever meet a
fraction of them: the *common* tokenizer keeps the ~120k pieces written wholly in the scripts of
:data:`COMMON_SCRIPTS` (0.38 s to load). On a text whose normalised characters all lie in those
scripts it yields exactly the full tokenizer's ids: every piece that could match a substring of
such a text was kept, with its score, and so was the lowest-scoring piece (the unknown-token
penalty is derived from it), so Viterbi sees the same lattice. A text outside them can only come
out with an unknown token where the dropped pieces were; those texts go to the full tokenizer,
loaded the first time one arrives.
"""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

FULL_TOKENIZER = "tokenizer.json"
COMMON_TOKENIZER = "tokenizer-common.json"
COMMON_IDS = "tokenizer-common-ids.npz"  # common token id → the full tokenizer's id, and the unknown token's
# ASCII and Latin-1, general punctuation to dingbats (①, ■, ★, ▁ the metaspace among them), CJK
# punctuation and kana, enclosed and compatibility CJK, the unified ideographs with extension A,
# CJK compatibility ideographs and forms, half- and full-width forms.
COMMON_SCRIPTS = ("\x00-\xff\u2000-\u27ff\u3000-\u30ff\u3200-\u33ff\u3400-\u4dbf\u4e00-\u9fff"
                  "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef")
OUTSIDE_COMMON = re.compile(f"[^{COMMON_SCRIPTS}]")


def common_vocabulary(tokenizer: dict) -> tuple[dict, np.ndarray]:
    """The common tokenizer (as tokenizer.json content) cut from the full one, and its id map."""
    model = tokenizer["model"]
    pieces = model["vocab"]
    lowest = min(range(len(pieces)), key=lambda i: pieces[i][1])
    kept = [i for i, (piece, _) in enumerate(pieces) if i == lowest or not OUTSIDE_COMMON.search(piece)]
    position = {full: common for common, full in enumerate(kept)}
    processor = json.loads(json.dumps(tokenizer["post_processor"]))
    for special in processor["special_tokens"].values():  # <s> and </s>, inserted by id
        special["ids"] = [position[i] for i in special["ids"]]
    common = dict(tokenizer, post_processor=processor,
                  model=dict(model, vocab=[pieces[i] for i in kept], unk_id=position[model["unk_id"]]))
    return common, np.asarray(kept, dtype=np.int64)


def write_common_tokenizer(folder: Path) -> None:
    """Write the common tokenizer and its id map beside ``folder``'s full tokenizer.json."""
    common, ids = common_vocabulary(json.loads((folder / FULL_TOKENIZER).read_text(encoding="utf-8")))
    (folder / COMMON_TOKENIZER).write_text(json.dumps(common, ensure_ascii=False), encoding="utf-8")
    np.savez(folder / COMMON_IDS, to_full=ids, unknown=common["model"]["unk_id"])


class TieredTokenizer:
    """The common tokenizer, and the full one for the texts it cannot answer for."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        self._folder = Path(folder)
        self._common = Tokenizer.from_file(str(self._folder / COMMON_TOKENIZER))
        with np.load(self._folder / COMMON_IDS) as ids:
            self._to_full, self._unknown = ids["to_full"], int(ids["unknown"])
        self._full = None
        self._full_lock = threading.Lock()

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The full tokenizer's ids of each text, special tokens included."""
        rows = [encoding.ids for encoding in self._common.encode_batch(list(texts))]
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        flat = self._to_full[np.fromiter((i for row in rows for i in row), dtype=np.int64, count=int(lengths.sum()))]
        out = [part.tolist() for part in np.split(flat, np.cumsum(lengths)[:-1])] if rows else []
        outside = [i for i, row in enumerate(rows) if self._unknown in row and self._leaves_common(texts[i])]
        if outside:
            for i, encoding in zip(outside, self.full().encode_batch([texts[i] for i in outside])):
                out[i] = encoding.ids
        return out

    def _leaves_common(self, text: str) -> bool:
        normalizer = self._common.normalizer
        return OUTSIDE_COMMON.search(normalizer.normalize_str(text) if normalizer else text) is not None

    def full(self):
        """The full tokenizer, loaded on first use."""
        with self._full_lock:
            if self._full is None:
                from tokenizers import Tokenizer

                self._full = Tokenizer.from_file(str(self._folder / FULL_TOKENIZER))
            return self._full
