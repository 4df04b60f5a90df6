"""Metrics that declare themselves, and the golden targets they are judged against.

Modelled on lm-evaluation-harness (``api/metrics.py`` + ``api/registry.py``): a scorer turns each
row into per-row fields (``form_strict``, ``rel_real``, ``category_pred``...); a registered
:class:`MetricSpec` names the fields it reads, its direction, its aggregation (a registered
:class:`Aggregation`) and how its error bar is computed. :func:`compute` turns a spec and the
per-row fields into a :class:`MetricResult`; :func:`judge` compares results with the targets of
``harness/golden.yaml``.

To add a metric: make a scorer emit its per-row field, then ``register_metric(MetricSpec(...))``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml

from harness import stats

CATEGORIES = ("functional", "refactoring", "documentation", "discussion")
"""The four review-comment classes (Turzo & Bosu, ESEM 2023, without "false positive")."""

HAIKU_SHAPE = (5, 7, 5)
GOLDEN_PATH = Path(__file__).with_name("golden.yaml")
ERROR_BARS = ("bootstrap95", "none")


# ---------------------------------------------------------------- aggregations


@dataclass(frozen=True)
class Aggregation:
    """How per-row items become one number, and how that number is bootstrapped.

    ``point(items)`` gives the value; ``interval(items, n_boot, seed)`` the value with its
    percentile bootstrap 95% interval over rows.
    """

    name: str
    point: Callable[[list], float]
    interval: Callable[[list, int, int], stats.Interval]


AGGREGATIONS: dict[str, Aggregation] = {}


def _register(registry: dict, kind: str, item):
    if item.name in registry:
        raise ValueError(f"{kind} {item.name!r} is already registered")
    registry[item.name] = item
    return item


def register_aggregation(agg: Aggregation) -> Aggregation:
    return _register(AGGREGATIONS, "aggregation", agg)


def _pairs(items: list) -> tuple[list, list]:
    return [t for t, _ in items], [p for _, p in items]


def _macro_f1_point(items: list) -> float:
    return stats.macro_f1(*_pairs(items), labels=CATEGORIES)


def _majority(labels: Sequence[str]) -> str:
    """The most frequent label; ties go to the first in CATEGORIES order."""
    counts = Counter(labels)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return min(counts, key=lambda c: (-counts[c], order.get(c, len(order)), str(c)))


def _majority_pairs(labels: list) -> list:
    maj = _majority(labels)
    return [(t, maj) for t in labels]


register_aggregation(Aggregation(
    "mean",
    point=lambda items: float(sum(float(x) for x in items) / len(items)),
    interval=lambda items, n_boot, seed: stats.bootstrap_ci(
        [float(x) for x in items], n_boot=n_boot, seed=seed),
))
register_aggregation(Aggregation(
    "accuracy",
    point=lambda items: sum(t == p for t, p in items) / len(items),
    interval=lambda items, n_boot, seed: stats.bootstrap_ci(
        [float(t == p) for t, p in items], n_boot=n_boot, seed=seed),
))
register_aggregation(Aggregation(
    "macro_f1",
    point=_macro_f1_point,
    interval=lambda items, n_boot, seed: stats.bootstrap_macro_f1_ci(
        *_pairs(items), labels=CATEGORIES, n_boot=n_boot, seed=seed),
))
def _shuffle_items(items: list) -> tuple[list, list, list]:
    refs, preds, shuffled = ([it[0] for it in items], [it[1] for it in items],
                             [it[2] for it in items])
    return refs, preds, [list(col) for col in zip(*shuffled)]


def _vs_shuffle(key: str) -> Aggregation:
    def interval(items: list, n_boot: int, seed: int) -> stats.Interval:
        return stats.macro_f1_vs_shuffle(*_shuffle_items(items), labels=CATEGORIES,
                                         n_boot=n_boot, seed=seed)[key]
    def point(items: list) -> float:
        return interval(items, 1, 0).value  # the point estimate does not depend on the draw

    return Aggregation(f"{key}_macro_f1_vs_shuffle", point=point, interval=interval)


register_aggregation(_vs_shuffle("floor"))
register_aggregation(_vs_shuffle("gap"))
register_aggregation(Aggregation(
    "majority_accuracy",
    point=lambda items: AGGREGATIONS["accuracy"].point(_majority_pairs(items)),
    interval=lambda items, n_boot, seed: AGGREGATIONS["accuracy"].interval(
        _majority_pairs(items), n_boot, seed),
))
register_aggregation(Aggregation(
    "majority_macro_f1",
    point=lambda items: _macro_f1_point(_majority_pairs(items)),
    interval=lambda items, n_boot, seed: AGGREGATIONS["macro_f1"].interval(
        _majority_pairs(items), n_boot, seed),
))


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class MetricSpec:
    """A metric's declaration.

    name: key in reports and in golden.yaml.
    group: the scorer that produces its per-row fields ("form", "relevance", "category").
    fields: per-row fields it reads; one field gives items ``row[f]``, more give tuples
        ``(row[f1], row[f2], ...)``.
    aggregation: name of a registered :class:`Aggregation`.
    higher_is_better: True/False, or None for a reference level (a floor, a baseline).
    error_bar: "bootstrap95" (percentile bootstrap over rows) or "none".
    description: one line for the table and the report.
    """

    name: str
    group: str
    fields: tuple[str, ...]
    aggregation: str
    higher_is_better: bool | None
    error_bar: str
    description: str

    def __post_init__(self) -> None:
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"{self.name}: unknown aggregation {self.aggregation!r}")
        if self.error_bar not in ERROR_BARS:
            raise ValueError(f"{self.name}: error_bar must be one of {ERROR_BARS}")
        if not self.fields:
            raise ValueError(f"{self.name}: a metric reads at least one per-row field")


METRICS: dict[str, MetricSpec] = {}


def register_metric(spec: MetricSpec) -> MetricSpec:
    return _register(METRICS, "metric", spec)


def get_metric(name: str) -> MetricSpec:
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; registered: {', '.join(METRICS)}") from None


def metrics_for(groups: Iterable[str]) -> list[MetricSpec]:
    """Registered metrics of the given groups, in registration order."""
    wanted = set(groups)
    return [m for m in METRICS.values() if m.group in wanted]


_B, _N = "bootstrap95", "none"
for _spec in [
    MetricSpec("form_strict", "form", ("form_strict",), "mean", True, _B,
               "share of haiku whose canonical syllable counts are exactly 5-7-5"),
    MetricSpec("form_lenient", "form", ("form_lenient",), "mean", True, _B,
               "share of haiku with some accepted reading that reaches 5-7-5"),
    MetricSpec("relevance_real", "relevance", ("rel_real",), "mean", True, _B,
               "mean cosine of each haiku to its own human comment"),
    MetricSpec("relevance_floor", "relevance", ("rel_floor",), "mean", None, _B,
               "shuffle floor: mean cosine of each haiku to other rows' comments"),
    MetricSpec("relevance_gap", "relevance", ("rel_gap",), "mean", True, _B,
               "real-pair mean minus shuffle floor"),
    MetricSpec("category_macro_f1", "category", ("category_ref", "category_pred"),
               "macro_f1", True, _B, "macro-F1 of the haiku's predicted category"),
    MetricSpec("category_floor_macro_f1", "category",
               ("category_ref", "category_pred", "category_ref_shuffled"),
               "floor_macro_f1_vs_shuffle", None, _B,
               "shuffle floor: macro-F1 of the haiku's category against other rows' categories"),
    MetricSpec("category_gap_macro_f1", "category",
               ("category_ref", "category_pred", "category_ref_shuffled"),
               "gap_macro_f1_vs_shuffle", True, _B, "macro-F1 minus its shuffle floor"),
    MetricSpec("category_accuracy", "category", ("category_ref", "category_pred"),
               "accuracy", True, _B, "accuracy of the haiku's predicted category"),
    MetricSpec("category_majority_macro_f1", "category", ("category_ref",),
               "majority_macro_f1", None, _N, "baseline: always the most frequent category"),
    MetricSpec("category_majority_accuracy", "category", ("category_ref",),
               "majority_accuracy", None, _N, "baseline: always the most frequent category"),
    MetricSpec("category_human_accuracy", "category", ("category_ref", "category_human"),
               "accuracy", None, _B, "trust check: the classifier on the human comments"),
    MetricSpec("category_human_macro_f1", "category", ("category_ref", "category_human"),
               "macro_f1", None, _B, "trust check: the classifier on the human comments"),
]:
    register_metric(_spec)


@dataclass(frozen=True)
class MetricResult:
    """One metric's value on n rows, with its interval (NaN where there is none)."""

    name: str
    value: float
    lo: float
    hi: float
    n: int
    higher_is_better: bool | None
    aggregation: str
    error_bar: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {k: _json_float(v) for k, v in asdict(self).items()}


def compute(spec: MetricSpec, rows: Sequence[Mapping[str, Any]], *, n_boot: int, seed: int
            ) -> MetricResult:
    """Aggregate ``spec`` over the rows that carry its fields (a None field skips the row)."""
    items = [_item(row, spec.fields) for row in rows]
    items = [it for it in items if it is not None]
    nan = float("nan")
    agg = AGGREGATIONS[spec.aggregation]
    if not items:
        value, lo, hi = nan, nan, nan
    elif spec.error_bar == "none":
        value, lo, hi = agg.point(items), nan, nan
    else:
        iv = agg.interval(items, n_boot, seed)
        value, lo, hi = iv.value, iv.lo, iv.hi
    return MetricResult(spec.name, float(value), float(lo), float(hi), len(items),
                        spec.higher_is_better, spec.aggregation, spec.error_bar, spec.description)


def _item(row: Mapping[str, Any], fields: tuple[str, ...]):
    vals = tuple(tuple(v) if isinstance(v, list) else v for v in (row.get(f) for f in fields))
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in vals):
        return None
    return vals[0] if len(vals) == 1 else vals


def _json_float(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# ---------------------------------------------------------------- form (per-row fields)


def form_rows(haikus: Sequence[str]) -> list[dict[str, Any]]:
    """Per-row form fields from THE form checker (``harness.form.check_haiku``).

    ``form_line_ok`` holds, per expected line, whether its canonical count hits 5, 7, 5 (a
    missing line counts as a miss); it feeds the per-line pass-rate plot.
    """
    from harness.form import check_haiku  # the project's one syllable counter

    rows = []
    for text in haikus:
        v = check_haiku(text)
        counts = [int(c) for c in v.counts]
        line_ok = [i < len(counts) and counts[i] == want for i, want in enumerate(HAIKU_SHAPE)]
        rows.append({
            "form_strict": bool(v.strict),
            "form_lenient": bool(v.lenient),
            "form_counts": counts,
            "form_line_ok": line_ok,
            "form_explain": str(v.explain()),
        })
    return rows


# ---------------------------------------------------------------- golden targets


@dataclass(frozen=True)
class Target:
    """A golden target: ``<using> <op> <value or the baseline metric's value>``.

    using: "value" (the point estimate) or "ci_lo" (the interval's lower end must clear it).
    (Not ``on``: YAML 1.1 reads a bare ``on`` key as the boolean True.)
    """

    metric: str
    op: str
    value: float | None = None
    baseline: str | None = None
    using: str = "value"
    note: str = ""

    def describe(self) -> str:
        rhs = self.baseline if self.baseline else f"{self.value:g}"
        lhs = "CI low " if self.using == "ci_lo" else ""
        return f"{lhs}{self.op} {rhs}"


@dataclass(frozen=True)
class Judgment:
    metric: str
    target: str
    threshold: float | None  # the number compared against (a baseline's value when judged so)
    verdict: str  # "pass" | "fail" | "n/a"
    baseline: str | None = None


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
}


_TARGET_KEYS = {"op", "value", "baseline", "using", "note"}


def load_golden(path: str | Path = GOLDEN_PATH) -> dict[str, Target]:
    """Targets from golden.yaml, checked: known metric, known op, one of value / baseline."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    targets = {}
    for name, spec in (raw.get("targets") or {}).items():
        get_metric(name)
        unknown = set(spec) - _TARGET_KEYS
        if unknown:
            raise ValueError(f"golden target {name}: unknown keys {sorted(map(str, unknown))}")
        t = Target(metric=name, op=spec.get("op"), value=spec.get("value"),
                   baseline=spec.get("baseline"), using=spec.get("using", "value"),
                   note=spec.get("note", ""))
        if t.op not in _OPS or t.using not in ("value", "ci_lo"):
            raise ValueError(f"golden target {name}: bad op {t.op!r} or using {t.using!r}")
        if (t.value is None) == (t.baseline is None):
            raise ValueError(f"golden target {name}: give exactly one of value / baseline")
        if t.baseline is not None:
            get_metric(t.baseline)
        targets[name] = t
    return targets


def judge(results: Mapping[str, MetricResult], targets: Mapping[str, Target]) -> list[Judgment]:
    """One judgment per target whose metric was computed; n/a where a number is missing."""
    out = []
    for name, t in targets.items():
        if name not in results:
            continue
        r = results[name]
        lhs = r.lo if t.using == "ci_lo" else r.value
        rhs = t.value
        if t.baseline is not None:
            rhs = results[t.baseline].value if t.baseline in results else None
        ok = (rhs is not None and math.isfinite(lhs) and math.isfinite(rhs))
        verdict = ("pass" if _OPS[t.op](lhs, rhs) else "fail") if ok else "n/a"
        out.append(Judgment(name, t.describe(), None if rhs is None else float(rhs), verdict,
                            t.baseline))
    return out
