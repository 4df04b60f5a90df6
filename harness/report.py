"""Reports people can read at a glance: markdown tables and PNG plots.

Every function takes scored reports (``harness.score.Report``); the plots and the comparison
table take a mapping ``{system name: Report}`` so that one system (``harness.score``) and several
(a later ``harness.run``) render the same way. Plots use matplotlib's Agg backend (no display).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from harness import stats

if TYPE_CHECKING:  # pragma: no cover
    from harness.metrics import MetricResult
    from harness.score import Report

HAIKU_SHAPE = (5, 7, 5)


def fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def fmt_ci(r: MetricResult) -> str:
    if not (math.isfinite(r.lo) and math.isfinite(r.hi)):
        return "-"
    return f"[{fmt(r.lo)}, {fmt(r.hi)}]"


def _direction(hib: bool | None) -> str:
    return {True: "higher", False: "lower", None: "reference"}[hib]


def render_table(report: Report) -> str:
    """Markdown table: metric, better, value, 95% CI, n, the echo and identifiers floors, the gap
    over the higher floor, golden target, verdict."""
    judged = {j.metric: j for j in report.judgments}
    lines = ["| metric | better | value | 95% CI | n | echo floor | identifiers floor | over higher floor "
             "| golden | verdict |", "|---|---|---:|---|---:|---:|---:|---:|---|---|"]
    for name, r in report.metrics.items():
        j = judged.get(name)
        golden = j.target if j else ""
        if j and j.baseline and j.threshold is not None:
            golden += f" ({fmt(j.threshold)})"
        echo, ids, over = floor_cells(report.floors, name, r.value, r.higher_is_better)
        lines.append(f"| {name} | {_direction(r.higher_is_better)} | {fmt(r.value)} | "
                     f"{fmt_ci(r)} | {r.n} | {echo} | {ids} | {over} | {golden} | "
                     f"{j.verdict.upper() if j else ''} |")
    return "\n".join(lines)


def floor_cells(floors: Mapping[str, Mapping[str, MetricResult]], metric: str, value: float,
                higher_is_better: bool | None) -> tuple[str, str, str]:
    """The echo and identifiers floors' values of ``metric`` and the value's gap over the higher
    one; blanks where the metric has no floor (form) or no direction (reference rows)."""
    found = [floors.get(name, {}).get(metric) for name in ("echo", "identifiers")]
    cells = [fmt(f.value) if f is not None else "" for f in found]
    values = [f.value for f in found if f is not None and math.isfinite(f.value)]
    over = fmt(value - max(values)) if values and higher_is_better and math.isfinite(value) else ""
    return cells[0], cells[1], over


def render_notes(report: Report) -> str:
    """The lines under the table: sample, trust in the category metric, golden provenance."""
    c = report.config
    notes = [f"system {report.system}: n = {report.n} rows; 95% CIs from {c['n_boot']} "
             f"bootstrap replicates over rows (seed {c['seed']})."]
    m = report.metrics
    if "form_strict" in m:
        rates = form_line_rates(report)
        notes.append("form: canonical count on target per line: " + ", ".join(
            f"line {i + 1} ({want}) {fmt(rate)}" for i, (want, rate) in
            enumerate(zip(HAIKU_SHAPE, rates))) + ".")
    if "relevance_gap" in m:
        notes.append(f"relevance: shuffle floor averaged over {c['n_shuffles']} fixed-seed "
                     "derangements (each haiku against other rows' comments).")
    if "category_gap_macro_f1" in m:
        notes.append("category: the floor scores each haiku's category against other rows' "
                     "categories (chance agreement); always answering the majority class is a "
                     "weaker bar, since macro-F1 punishes a single-class answer.")
    if "category_human_accuracy" in m:
        notes.append(
            "category trust: the classifier on the human comments scores accuracy "
            f"{fmt(m['category_human_accuracy'].value)}, macro-F1 "
            f"{fmt(m['category_human_macro_f1'].value)} (majority baseline: accuracy "
            f"{fmt(m['category_majority_accuracy'].value)}, macro-F1 "
            f"{fmt(m['category_majority_macro_f1'].value)}).")
    g = report.files["golden"]
    if g.get("commit"):
        state = "; modified since" if g.get("modified_since") else ""
        notes.append(f"golden targets: {g['path']} as committed in {g['commit'][:12]} "
                     f"({g['committed_at']}){state}.")
    else:
        notes.append(f"golden targets: {g['path']} (not committed: the verdicts judge against "
                     "targets with no commit).")
    return "\n".join(notes)


def render_comparison(reports: Mapping[str, Report]) -> str:
    """Markdown table: metric, each system's value [CI], golden target, each system's verdict."""
    names = list(reports)
    first = reports[names[0]]
    floors = next((r.floors for r in reports.values() if r.floors), {})  # the same rows: the same floors
    head = "| metric | " + " | ".join(names) + " | echo floor | identifiers floor | golden | verdict |"
    lines = [head, "|---|" + "---:|" * (len(names) + 2) + "---|---|"]
    for metric in first.metrics:
        cells, verdicts, golden = [], [], ""
        for name in names:
            r = reports[name].metrics.get(metric)
            cells.append("n/a" if r is None else f"{fmt(r.value)} {fmt_ci(r)}".rstrip(" -"))
            j = {j.metric: j for j in reports[name].judgments}.get(metric)
            if j:
                golden = j.target
                verdicts.append(j.verdict.upper())
        echo, ids, _ = floor_cells(floors, metric, float("nan"), None)
        lines.append(f"| {metric} | " + " | ".join(cells) + f" | {echo} | {ids} | {golden} | "
                     + " / ".join(verdicts) + " |")
    return "\n".join(lines)


def form_line_rates(report: Report) -> list[float]:
    """Share of rows whose line i has its target canonical count (5, 7, 5)."""
    oks = [r["form_line_ok"] for r in report.rows if "form_line_ok" in r]
    if not oks:
        return [float("nan")] * len(HAIKU_SHAPE)
    return [sum(ok[i] for ok in oks) / len(oks) for i in range(len(HAIKU_SHAPE))]


# ---------------------------------------------------------------- plots


def write_plots(reports: Mapping[str, Report], out_dir: str | Path) -> list[Path]:
    """PNG plots for the metric groups present: form per line, relevance, confusion matrices."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    first = next(iter(reports.values()))
    try:
        if "form_strict" in first.metrics:
            written.append(_plot_form(plt, reports, out / "form_per_line.png"))
        if "relevance_real" in first.metrics:
            written.append(_plot_relevance(plt, reports, out / "relevance.png"))
        for name, rep in reports.items():
            if rep.confusion.get("haiku"):
                fname = "category_confusion.png" if len(reports) == 1 else \
                    f"category_confusion_{_slug(name)}.png"
                written.append(_plot_confusion(plt, rep, out / fname))
    finally:
        plt.close("all")
    return written


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def _bars(ax, groups: list[str], series: Mapping[str, list[float]],
          errs: Mapping[str, list[tuple[float, float]]] | None = None) -> None:
    width = 0.8 / max(len(series), 1)
    for k, (name, vals) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(groups))]
        yerr = None
        if errs and name in errs:
            yerr = [[max(v - lo, 0) for v, (lo, _) in zip(vals, errs[name])],
                    [max(hi - v, 0) for v, (_, hi) in zip(vals, errs[name])]]
        ax.bar(xs, vals, width, label=name, yerr=yerr, capsize=3)
    ax.set_xticks(range(len(groups)), groups)
    ax.legend(fontsize=8)


def _plot_form(plt, reports, path: Path) -> Path:
    groups = [f"line {i + 1} ({w})" for i, w in enumerate(HAIKU_SHAPE)] + ["strict", "lenient"]
    series, errs = {}, {}
    for name, rep in reports.items():
        s, le = rep.metrics["form_strict"], rep.metrics["form_lenient"]
        oks = [r["form_line_ok"] for r in rep.rows]
        lines = [stats.bootstrap_ci([ok[i] for ok in oks], n_boot=rep.config["n_boot"],
                                    seed=rep.config["seed"]) for i in range(len(HAIKU_SHAPE))]
        series[name] = [iv.value for iv in lines] + [s.value, le.value]
        errs[name] = [(iv.lo, iv.hi) for iv in lines] + [(s.lo, s.hi), (le.lo, le.hi)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    _bars(ax, groups, series, errs)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("pass rate")
    ax.set_title("Form: pass rate per line (canonical count) and overall, 95% CI")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _plot_relevance(plt, reports, path: Path) -> Path:
    names = list(reports)
    series = {"real pair": [], "shuffle floor": []}
    errs = {"real pair": [], "shuffle floor": []}
    for name in names:
        for label, key in (("real pair", "relevance_real"), ("shuffle floor", "relevance_floor")):
            r = reports[name].metrics[key]
            series[label].append(r.value if math.isfinite(r.value) else 0.0)
            errs[label].append((r.lo, r.hi) if math.isfinite(r.lo) else (r.value, r.value))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.8 * len(names) + 3), 3.5))
    _bars(ax, names, series, errs)
    for i, name in enumerate(names):
        gap = reports[name].metrics["relevance_gap"].value
        ax.annotate(f"gap {fmt(gap)}", (i, max(series["real pair"][i], 0)), ha="center",
                    va="bottom", fontsize=8, xytext=(0, 12), textcoords="offset points")
    ax.set_ylabel("mean cosine (all-MiniLM-L6-v2)")
    ax.set_title("Relevance: real pair vs shuffle floor (95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _plot_confusion(plt, rep, path: Path) -> Path:
    labels = rep.labels
    panels = [("haiku", "predicted from the haiku"), ("human", "predicted from the human comment")]
    panels = [(k, t) for k, t in panels if rep.confusion.get(k)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        m = rep.confusion[key]
        ax.imshow(m, cmap="Blues")
        for i, row in enumerate(m):
            top = max(max(r) for r in m) or 1
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center",
                        color="white" if v > top / 2 else "black", fontsize=9)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("reference")
        ax.set_title(f"{rep.system}: {title}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
