"""An evaluation result as tables: plain text for the terminal, and a self-contained HTML page with
a PNG plot (`speechqa eval --report DIR`). Both read one table, built by :func:`table_rows`. Several
sets' pages sit in folders of their own under an overview page that links them.
"""
from __future__ import annotations

import base64
import html
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from eval.scoring import DEPTH, EvalError, metric_names
from index.engines import Cpu

PLOT = "recall.png"
RELIABILITY_PLOT = "reliability.png"
PAGE = "index.html"


def require_matplotlib() -> None:
    """Raise EvalError saying how to install matplotlib when it is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        raise EvalError("--report needs matplotlib — run `pip install -e '.[report]'` or leave out --report")


def measured_on_text(result: dict) -> str:
    """", passages through onnx-int8-blocks, queries through onnx-int8-fused on AMD EPYC, family 25 model
    17 (avx2, …), term tables packaged + gl.tsv (1519 glossary and 412 wording entries)": what the figures
    were measured with, as far as the backend said (empty if not at all)."""
    parts = []
    if result.get("index_engine"):
        parts.append(f", passages through {result['index_engine']}")
    if result.get("query_engine"):
        parts.append(f", queries through {result['query_engine']}")
    cpu = result.get("cpu")
    if isinstance(cpu, dict):
        parts.append(" on " + Cpu.from_json(cpu).describe())
    tables = result.get("term_tables")
    if isinstance(tables, dict):
        read = " + ".join(["packaged", *tables.get("files", ())])
        parts.append(f", term tables {read} ({tables.get('glossary')} glossary and {tables.get('wording')} "
                     "wording entries)")
    return "".join(parts)


def _runs(result: dict) -> dict[str, dict]:
    return result.get("modes") or {result["mode"]: result}


def plot(result: dict, path: Path) -> Path:
    """Recall@k curves per arm (left) and recall per question type and arm (right), as a PNG."""
    require_matplotlib()
    # Figure + the Agg canvas directly: no pyplot, so no global state and no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = _runs(result)
    ks = result["ks"]
    bar_k = ks[len(ks) // 2]
    fig = Figure(figsize=(11, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    curves, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    for mode, run in runs.items():
        curves.plot(ks, [run["metrics"][f"recall@{k}"] for k in ks], marker="o", label=mode)
    curves.set_xticks(ks)
    curves.set_xlabel("k")
    curves.set_ylabel("recall@k (success@k)")
    curves.set_ylim(0, 1.02)
    curves.set_title(f"Recall@k, {result['n']} questions")
    curves.grid(alpha=0.3)
    curves.legend(loc="lower right")
    types = sorted({t for run in runs.values() for t in run["by_type"]})
    width = 0.8 / len(runs)
    for i, (mode, run) in enumerate(runs.items()):
        xs = [j + (i - (len(runs) - 1) / 2) * width for j in range(len(types))]
        heights = [run["by_type"].get(t, {}).get(f"recall@{bar_k}") or 0.0 for t in types]
        bars.bar(xs, heights, width=width, label=mode)
    bars.set_xticks(range(len(types)))
    bars.set_xticklabels([f"{t}\n(n={result['by_type'][t]['n']})" for t in types])
    bars.set_ylim(0, 1.18)  # headroom for the legend above the bars
    bars.set_ylabel(f"recall@{bar_k}")
    bars.set_title(f"Recall@{bar_k} by question type")
    bars.grid(axis="y", alpha=0.3)
    bars.legend(loc="upper center", ncol=len(runs))
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def plot_reliability(result: dict, path: Path) -> Path | None:
    """Observed share of relevant hits against mean confidence per bin, one curve per arm; None
    when no arm reported a confidence."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = {mode: run["calibration"] for mode, run in _runs(result).items() if run.get("calibration")}
    if not runs:
        return None
    fig = Figure(figsize=(5.2, 4.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for mode, calibration in runs.items():
        filled = [b for b in calibration["bins"] if b["n"]]
        axes.plot([b["mean_confidence"] for b in filled], [b["observed"] for b in filled], marker="o",
                  label=f"{mode} (ECE {calibration['ece']:.3f})")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("confidence (bin mean)")
    axes.set_ylabel("share of hits that contain a gold span")
    axes.set_title(f"Reliability, top-{DEPTH} hits of {result['n']} questions")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def reliability_lines(result: dict) -> list[str]:
    """The calibration as text: per arm, each confidence bin's hits, mean confidence and observed share."""
    lines = []
    for mode, run in _runs(result).items():
        calibration = run.get("calibration")
        if not calibration:
            continue
        lines.append(f"{mode}: confidence of {calibration['hits']} top-{DEPTH} hits, ECE {calibration['ece']:.3f}; "
                     f"{calibration['flagged']} of {run['n']} questions flagged not answered "
                     f"(top confidence < {calibration['threshold']:.3f})")
        lines.append(f"  {'bin':<11}  {'hits':>5}  {'mean conf':>9}  {'observed':>8}")
        for b in calibration["bins"]:
            lines.append(f"  [{b['low']:.1f}, {b['high']:.1f}{']' if b['high'] == 1 else ')'}  {b['n']:>5}  "
                         f"{_cell(b['mean_confidence']):>9}  {_cell(b['observed']):>8}")
    return lines


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def uncertainty_lines(result: dict) -> list[str]:
    """Each arm's 95% Wilson interval of recall@k (all questions, each language) and, when arms were
    compared, how many questions each other arm gains and loses against the first, with the sign test."""
    runs = _runs(result)
    # the buckets are all and each language, "unknown" included where a set leaves lang out
    mode_w = max(len(mode) for mode in runs)
    bucket_w = max(len(bucket) for run in runs.values() for bucket in run["intervals"])
    lines = ["95% Wilson intervals of recall@k:"]
    for mode, run in runs.items():
        means = {"all": run["metrics"], **run["by_lang"]}
        for bucket, intervals in run["intervals"].items():
            cells = "  ".join(f"{name} {means[bucket][name]:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"
                              for name, interval in intervals.items() if interval is not None)
            lines.append(f"  {mode:<{mode_w}} {bucket:<{bucket_w}} {means[bucket]['n']:>4}  {cells}")
    paired = result.get("paired") or {}
    if paired:
        first = next(iter(runs))
        lines.append(f"{first} against each arm: questions only {first} finds / only the arm finds, sign test:")
        for mode, buckets in paired.items():
            for bucket, metrics in buckets.items():
                cells = "  ".join(f"{name} +{c['wins']}/-{c['losses']} {_p(c['p'])}" for name, c in metrics.items())
                lines.append(f"  {mode:<{mode_w}} {bucket:<{bucket_w}}  {cells}")
    return lines


def format_unanswerable(no_answer: dict) -> str:
    """How many out-of-corpus questions each arm flags as not answered."""
    lines = [f"out-of-corpus questions from {no_answer['questions']}:"]
    for mode, run in no_answer["modes"].items():
        lines.append(f"  {mode}: {run['flagged']} of {run['n']} flagged not answered "
                     f"(top confidence < {run['threshold']:.3f})")
    return "\n".join(lines)


def _cell(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def table_rows(result: dict) -> list[tuple[str, str, dict]]:
    """(bucket, arm, metric cells) rows: all questions, then each type and language, every arm per bucket."""
    runs = _runs(result)
    buckets = [("all", lambda run: run["metrics"])]
    for kind, key in (("type", "by_type"), ("lang", "by_lang")):
        for name in result[key]:
            buckets.append((f"{kind}:{name}", lambda run, key=key, name=name: run[key].get(name)))
    return [(label, mode, pick(run) or {}) for label, pick in buckets for mode, run in runs.items()]


def format_table(result: dict) -> str:
    """The result as a plain-text table (arms side by side when ``modes`` is present) and failures."""
    names = metric_names(result["ks"])
    rows = table_rows(result)
    label_w = max(len(label) for label, _, _ in rows)
    arm_w = max(len(mode) for _, mode, _ in rows)
    widths = [max(len(name), 6) for name in names]
    header = f"{'bucket':<{label_w}}  {'arm':<{arm_w}}  {'n':>4}  " + "  ".join(
        f"{name:>{w}}" for name, w in zip(names, widths))
    lines = [header, "-" * len(header)]
    previous = None
    for label, mode, cells in rows:
        first = label if label != previous else ""
        previous = label
        lines.append(f"{first:<{label_w}}  {mode:<{arm_w}}  {cells.get('n', 0):>4}  " + "  ".join(
            f"{_cell(cells.get(name)):>{w}}" for name, w in zip(names, widths)))
    lines += ["", *uncertainty_lines(result)]
    for mode, run in _runs(result).items():
        lines.append("")
        lines.append(f"{mode}: {len(run['failures'])} of {run['n']} questions with no relevant passage in the top {DEPTH}")
        for failure in run["failures"]:
            lines.append(f"  {failure['id']} [{failure['type']}/{failure['lang']}] {failure['question']}")
            if failure["expected_speech"]:
                lines.append(f"      expected: {failure['expected_speech']}")
            got = failure["got"]
            lines.append("      got:      " + ("(no results)" if got is None else f"{got['speech']} — {got['text']}"))
    calibration = reliability_lines(result)
    if calibration:
        lines += ["", *calibration]
    return "\n".join(lines)


def _table(result: dict) -> str:
    names = metric_names(result["ks"])
    arms = len(_runs(result))
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    previous = None
    for label, mode, cells in table_rows(result):
        first = f'<th rowspan="{arms}">{html.escape(label)}</th>' if label != previous else ""
        previous = label
        values = "".join(f"<td>{_cell(cells.get(n))}</td>" for n in names)
        rows.append(f"<tr>{first}<td>{html.escape(mode)}</td><td>{cells.get('n', 0)}</td>{values}</tr>")
    return (f"<table><thead><tr><th>bucket</th><th>arm</th><th>n</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _failures(run: dict) -> str:
    if not run["failures"]:
        return "<p>None.</p>"
    items = []
    for f in run["failures"]:
        got = f["got"]
        got_html = ("<em>no results</em>" if got is None else
                    f"{html.escape(got['speech'])} — {html.escape(got['text'])}")
        expected = f"<br>expected: {html.escape(f['expected_speech'])}" if f["expected_speech"] else ""
        spans = " | ".join(html.escape(s) for s in f["gold_spans"])
        items.append(f"<li><b>{html.escape(f['id'])}</b> [{html.escape(f['type'])}/{html.escape(f['lang'])}] "
                     f"{html.escape(f['question'])}{expected}<br>gold: {spans}<br>got: {got_html}</li>")
    return f"<ol>{''.join(items)}</ol>"


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, "Noto Sans CJK SC", sans-serif; margin: 2em; max-width: 72em; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: .25em .6em; }}
td {{ text-align: right; font-variant-numeric: tabular-nums; }} li {{ margin-bottom: .6em; }}
</style></head><body>
{body}
</body></html>
"""


def _unanswerable_section(no_answer: dict | None) -> str:
    if no_answer is None:
        return ""
    return f"<h2>Out-of-corpus questions</h2>\n<pre>{html.escape(format_unanswerable(no_answer))}</pre>"


def _measured_with(result: dict) -> str:
    return (f"backend <code>{html.escape(str(result.get('backend', '')))}</code>"
            f"{html.escape(measured_on_text(result))}")


def write_report(result: dict, directory: Path | str, *, no_answer: dict | None = None) -> Path:
    """Write ``index.html`` (plots embedded, every text escaped), ``recall.png`` and, when the hits
    carry a confidence, ``reliability.png`` to ``directory``; ``no_answer``, the out-of-corpus counts
    of the run, adds a section."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    png = plot(result, directory / PLOT)
    image = base64.b64encode(png.read_bytes()).decode("ascii")
    curve = plot_reliability(result, directory / RELIABILITY_PLOT)
    calibration = "" if curve is None else (
        '<h2>Confidence calibration</h2><img alt="reliability curve per arm" src="data:image/png;base64,'
        + base64.b64encode(curve.read_bytes()).decode("ascii") + '"><pre>'
        + html.escape("\n".join(reliability_lines(result))) + "</pre>")
    runs = _runs(result)
    failures = "".join(
        f"<h3>{html.escape(mode)}: {len(run['failures'])} of {run['n']} with no relevant passage in the top {DEPTH}</h3>"
        f"{_failures(run)}" for mode, run in runs.items())
    source = html.escape(str(result.get("questions", "")))
    body = f"""<h1>Retrieval evaluation</h1>
<p>{result['n']} question{'' if result['n'] == 1 else 's'} from <code>{source}</code>, {_measured_with(result)}.
recall@k is success@k: a question counts when any of its top k passages contains a gold span.
nDCG assumes one relevant passage per question.</p>
<img alt="recall@k per arm and recall by question type" src="data:image/png;base64,{image}">
<h2>Metrics</h2>
{_table(result)}
<pre>{html.escape(chr(10).join(uncertainty_lines(result)))}</pre>
{calibration}
{_unanswerable_section(no_answer)}
<h2>Failures</h2>
{failures}"""
    out = directory / PAGE
    out.write_text(_page("speechqa retrieval evaluation", body), encoding="utf-8")
    return out


def report_folders(sets: Sequence[Path]) -> list[str]:
    """A folder name for each set's report beside the overview page: the set's file name without its
    extension, made unique with -2, -3, … where two sets share one (qs/setA.jsonl, qs/other/setA.jsonl),
    ignoring case, which some file systems do."""
    taken = {PAGE.casefold(), ".", ".."}  # the overview page, and names that are no folder of their own
    folders = []
    for path in sets:
        name, count = path.stem, 1
        while name.casefold() in taken:
            count += 1
            name = f"{path.stem}-{count}"
        taken.add(name.casefold())
        folders.append(name)
    return folders


def write_overview(results: Sequence[dict], folders: Sequence[str], no_answer: dict | None,
                   directory: Path | str) -> Path:
    """Write ``index.html`` in ``directory``: each set's figures for its first arm, linked to its report in
    its folder (``report_folders``), and the out-of-corpus counts."""
    directory = Path(directory)
    names = metric_names(results[0]["ks"])
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    rows = "".join(
        f'<tr><th><a href="{html.escape(quote(folder))}/{PAGE}">{html.escape(str(result["questions"]))}</a></th>'
        f"<td>{html.escape(result['mode'])}</td><td>{result['n']}</td>"
        + "".join(f"<td>{_cell(result['metrics'].get(name))}</td>" for name in names) + "</tr>"
        for result, folder in zip(results, folders))
    body = f"""<h1>Retrieval evaluation: {len(results)} question sets</h1>
<p>Every set through {_measured_with(results[0])}. Each set's report, with every arm, the intervals and
the failures, is linked from its name.</p>
<table><thead><tr><th>set</th><th>arm</th><th>n</th>{head}</tr></thead><tbody>{rows}</tbody></table>
{_unanswerable_section(no_answer)}"""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / PAGE
    out.write_text(_page("speechqa retrieval evaluation", body), encoding="utf-8")
    return out
