"""Statistics for the harness: paired tests and bootstrap error bars.

Pure functions over plain sequences (numpy only, no I/O, no global random state): every
random function takes a ``seed`` and gives the same answer for the same seed.

- :func:`mcnemar_exact`: McNemar's exact test for paired binary verdicts of two systems on the
  same rows (two-sided binomial test on the discordant pairs).
- :func:`bootstrap_ci`: percentile bootstrap 95% CI for a mean or a rate.
- :func:`macro_f1` and :func:`bootstrap_macro_f1_ci`: macro-F1 and its bootstrap CI;
  :func:`macro_f1_vs_shuffle`: macro-F1 against its chance level under shuffled labels.
- :func:`derangements`: fixed-seed permutations that move every row (shuffle floors).
- :func:`paired_bootstrap_mean_diff`, :func:`paired_bootstrap_macro_f1_diff`: the difference
  between two systems scored on the same rows, resampling rows (not systems) so that the pairing
  is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Hashable, Sequence

import numpy as np

DEFAULT_N_BOOT = 2000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test on paired binary verdicts.

    ``only_a`` counts rows where system A passed and B failed, ``only_b`` the reverse;
    ``n_discordant = only_a + only_b``. ``p_value`` is the two-sided exact binomial p-value of
    ``only_a`` out of ``n_discordant`` under p = 1/2 (1.0 when there are no discordant pairs).
    """

    n: int
    both: int
    neither: int
    only_a: int
    only_b: int
    n_discordant: int
    p_value: float


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval (``lo`` and ``hi`` at ``level``)."""

    value: float
    lo: float
    hi: float
    level: float = DEFAULT_LEVEL
    n_boot: int = DEFAULT_N_BOOT
    seed: int = 0


@dataclass(frozen=True)
class PairedDiff(Interval):
    """A paired difference ``value = stat(A) - stat(B)`` with its bootstrap interval.

    ``p_value`` is the two-sided bootstrap p-value: twice the smaller share of replicates on either
    side of zero, capped at 1. It is coarse (resolution 1/n_boot); read the interval first.
    """

    p_value: float = 1.0


def binom_two_sided_half(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n trials with p = 1/2 (exact integer sums)."""
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1))
    return min(1.0, 2 * tail / 2**n)


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> McNemarResult:
    """McNemar's exact test: do systems A and B pass on the same rows at different rates?

    ``a[i]`` and ``b[i]`` are the two systems' verdicts on row i. Only discordant rows carry
    information; under the null each is equally likely to favour A or B.
    """
    va, vb = _as_bool(a, "a"), _as_bool(b, "b")
    if va.shape != vb.shape:
        raise ValueError(f"paired verdicts differ in length: {va.size} vs {vb.size}")
    only_a = int(np.sum(va & ~vb))
    only_b = int(np.sum(~va & vb))
    return McNemarResult(
        n=int(va.size),
        both=int(np.sum(va & vb)),
        neither=int(np.sum(~va & ~vb)),
        only_a=only_a,
        only_b=only_b,
        n_discordant=only_a + only_b,
        p_value=binom_two_sided_half(only_a, only_a + only_b),
    )


def bootstrap_ci(
    values: Sequence[float],
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """Mean of ``values`` (a rate when they are 0/1) with a percentile bootstrap interval."""
    x = _as_float(values, "values")
    lo, hi = _percentiles(_boot(x.size, n_boot, seed, lambda idx: x[idx].mean(axis=1)), level)
    return Interval(float(x.mean()), lo, hi, level, n_boot, seed)


def macro_f1(
    y_true: Sequence[Hashable],
    y_pred: Sequence[Hashable],
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Unweighted mean of per-class F1 over the classes that occur.

    The classes averaged are those of ``labels`` (default: every label seen) that occur in
    ``y_true`` or ``y_pred``. With ``labels=None`` this equals
    ``sklearn.metrics.f1_score(y_true, y_pred, average="macro")``; it differs from sklearn only
    for a listed label that occurs nowhere (sklearn scores it 0, here it is skipped). Predictions
    outside ``labels`` (e.g. an abstention) count as misses for the true class.
    """
    t, p, k = _encode_labels(y_true, y_pred, labels)
    return float(_macro_f1_from_confusion(_confusion(t, p, k)[None])[0])


def confusion_matrix(
    y_true: Sequence[Hashable], y_pred: Sequence[Hashable], labels: Sequence[Hashable]
) -> list[list[int]]:
    """Counts ``m[i][j]`` of rows whose true label is ``labels[i]`` and prediction ``labels[j]``.

    Rows whose true label or prediction is outside ``labels`` are left out.
    """
    t, p, k = _encode_labels(y_true, y_pred, labels)
    return _confusion(t, p, k)[:k, :k].tolist()


def bootstrap_macro_f1_ci(
    y_true: Sequence[Hashable],
    y_pred: Sequence[Hashable],
    labels: Sequence[Hashable] | None = None,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """:func:`macro_f1` with a percentile bootstrap interval (rows resampled with replacement)."""
    t, p, k = _encode_labels(y_true, y_pred, labels)
    boot = _boot(t.size, n_boot, seed,
                 lambda idx: _macro_f1_from_confusion(_batched_confusion(t[idx], p[idx], k)))
    lo, hi = _percentiles(boot, level)
    value = float(_macro_f1_from_confusion(_confusion(t, p, k)[None])[0])
    return Interval(value, lo, hi, level, n_boot, seed)


def macro_f1_vs_shuffle(
    y_true: Sequence[Hashable],
    y_pred: Sequence[Hashable],
    shuffled_true: Sequence[Sequence[Hashable]],
    labels: Sequence[Hashable] | None = None,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Interval]:
    """Macro-F1 against the row's own label, against shuffled labels, and the gap between them.

    ``shuffled_true[j]`` is the true labels in the order of shuffle j (e.g. ``y_true[perm_j]``).
    The floor is the mean macro-F1 over the shuffles: what the prediction's label distribution
    scores with no row-level agreement (chance agreement, as in Cohen's kappa). Each bootstrap
    replicate resamples rows once for the real pairs and every shuffle. Keys: real, floor, gap.
    """
    if labels is None:
        labels = sorted(set(y_true) | set(y_pred), key=str)
    if not len(shuffled_true):
        raise ValueError("need at least one shuffle")
    t, p, k = _encode_labels(y_true, y_pred, labels)
    shuf = [_encode_labels(s, y_pred, labels)[0] for s in shuffled_true]
    def real_floor(rows: np.ndarray) -> np.ndarray:
        """(2, B): macro-F1 on the real pairs and the mean over the shuffles."""
        real = _macro_f1_from_confusion(_batched_confusion(t[rows], p[rows], k))
        floor = np.mean([_macro_f1_from_confusion(_batched_confusion(s[rows], p[rows], k))
                         for s in shuf], axis=0)
        return np.stack([real, floor])

    (real0,), (floor0,) = real_floor(np.arange(t.size)[None, :])
    real_b, floor_b = _boot(t.size, n_boot, seed, real_floor)
    out = {}
    for name, value, boot in (("real", real0, real_b), ("floor", floor0, floor_b),
                              ("gap", real0 - floor0, real_b - floor_b)):
        lo, hi = _percentiles(boot, level)
        out[name] = Interval(float(value), lo, hi, level, n_boot, seed)
    return out


def derangements(n: int, k: int, seed: int) -> np.ndarray:
    """(k, n) permutations of range(n) with no fixed point, from fixed seeds.

    Rejection sampling of uniform permutations, so each is a uniform derangement. Needs n >= 2.
    Permutation j is drawn from ``default_rng([seed, j])``: asking for more keeps the first ones.
    """
    if n < 2:
        raise ValueError("a derangement needs at least 2 rows")
    out = np.empty((k, n), dtype=np.int64)
    for j in range(k):
        rng = np.random.default_rng([seed, j])
        while True:
            perm = rng.permutation(n)
            if not np.any(perm == np.arange(n)):
                break
        out[j] = perm
    return out


def paired_bootstrap_mean_diff(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> PairedDiff:
    """mean(a) - mean(b) for two systems' per-row scores on the same rows, paired bootstrap."""
    xa, xb = _as_float(a, "a"), _as_float(b, "b")
    if xa.shape != xb.shape:
        raise ValueError(f"paired scores differ in length: {xa.size} vs {xb.size}")
    d = xa - xb
    boot = _boot(d.size, n_boot, seed, lambda idx: d[idx].mean(axis=1))
    return _paired(float(d.mean()), boot, level, n_boot, seed)


def paired_bootstrap_macro_f1_diff(
    y_true: Sequence[Hashable],
    pred_a: Sequence[Hashable],
    pred_b: Sequence[Hashable],
    labels: Sequence[Hashable] | None = None,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> PairedDiff:
    """macro_f1(A) - macro_f1(B) on the same rows; each replicate resamples rows for both."""
    if len(pred_a) != len(pred_b):
        raise ValueError(f"paired predictions differ in length: {len(pred_a)} vs {len(pred_b)}")
    if labels is None:
        labels = sorted(set(y_true) | set(pred_a) | set(pred_b), key=str)
    t, pa, k = _encode_labels(y_true, pred_a, labels)
    _, pb, _ = _encode_labels(y_true, pred_b, labels)
    boot = _boot(t.size, n_boot, seed, lambda idx: (
        _macro_f1_from_confusion(_batched_confusion(t[idx], pa[idx], k))
        - _macro_f1_from_confusion(_batched_confusion(t[idx], pb[idx], k))))
    value = macro_f1(y_true, pred_a, labels) - macro_f1(y_true, pred_b, labels)
    return _paired(value, boot, level, n_boot, seed)


# ---------------------------------------------------------------- helpers


def _as_bool(x: Sequence[bool], name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold booleans (or 0/1)")
    return arr.astype(bool)


def _as_float(x: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty one-dimensional sequence")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


_CHUNK_CELLS = 4_000_000  # resampled indices held at once (32 MB of int64)


def _boot(n: int, n_boot: int, seed: int, stat: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``stat`` over n_boot resamples of n rows; its last axis indexes the replicates.

    The draw is ``default_rng(seed).integers(0, n, size=(n_boot, n))``, taken in chunks of rows
    so that memory stays bounded on large sets (sequential chunks give the same indices).
    """
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    if n < 1:
        raise ValueError("cannot bootstrap an empty sample")
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK_CELLS // n)
    parts = [stat(rng.integers(0, n, size=(min(step, n_boot - i), n)))
             for i in range(0, n_boot, step)]
    return np.concatenate(parts, axis=-1)


def _percentiles(boot: np.ndarray, level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return float(lo), float(hi)


def _paired(value: float, boot: np.ndarray, level: float, n_boot: int, seed: int) -> PairedDiff:
    lo, hi = _percentiles(boot, level)
    p = min(1.0, 2 * min(float(np.mean(boot <= 0)), float(np.mean(boot >= 0))))
    return PairedDiff(value, lo, hi, level, n_boot, seed, p)


def _encode_labels(y_true, y_pred, labels) -> tuple[np.ndarray, np.ndarray, int]:
    """Codes 0..k-1 for the classes; anything outside ``labels`` gets code k (never a class)."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} vs {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("cannot score an empty sample")
    if labels is None:
        labels = sorted(set(y_true) | set(y_pred), key=str)
    index = {lab: i for i, lab in enumerate(labels)}
    k = len(index)
    t = np.array([index.get(y, k) for y in y_true], dtype=np.int64)
    p = np.array([index.get(y, k) for y in y_pred], dtype=np.int64)
    return t, p, k


def _confusion(t: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """(k+1, k+1) counts; the last row/column collects labels outside the class list."""
    return np.bincount(t * (k + 1) + p, minlength=(k + 1) ** 2).reshape(k + 1, k + 1)


def _batched_confusion(t: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """(B, k+1, k+1) confusion counts for B resampled rows of codes at once."""
    b, m = (k + 1) ** 2, t.shape[0]
    codes = t * (k + 1) + p + b * np.arange(m)[:, None]
    return np.bincount(codes.ravel(), minlength=b * m).reshape(m, k + 1, k + 1)


def _macro_f1_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Macro-F1 for each (k+1, k+1) matrix in a batch, over classes present (the extra excluded)."""
    c = cm[:, :-1, :-1]
    tp = np.diagonal(c, axis1=1, axis2=2).astype(float)
    true_n = cm[:, :-1, :].sum(axis=2)
    pred_n = cm[:, :, :-1].sum(axis=1)
    denom = true_n + pred_n
    present = denom > 0
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=present)
    n_present = present.sum(axis=1)
    return np.divide(f1.sum(axis=1), n_present, out=np.zeros(len(cm)), where=n_present > 0)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable], labels: Sequence[Hashable] | None = None) -> float:
    """Cohen's kappa of two raters over the same items: (observed - chance) / (1 - chance).

    Chance agreement comes from each rater's own label shares. NaN when chance agreement is 1
    (both raters gave one and the same label throughout: agreement is not measurable).
    """
    if len(a) != len(b) or not len(a):
        raise ValueError("kappa needs two equally long, non-empty label lists")
    labels = list(labels) if labels is not None else sorted(set(a) | set(b))
    index = {label: i for i, label in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for x, y in zip(a, b):
        table[index[x], index[y]] += 1
    table /= table.sum()
    observed = np.trace(table)
    chance = float(table.sum(axis=1) @ table.sum(axis=0))
    return float("nan") if chance >= 1.0 else float((observed - chance) / (1.0 - chance))


def one_vs_rest_kappa(a: Sequence[str], b: Sequence[str], label: str) -> float:
    """Kappa of the two raters on "is it ``label``?" alone: agreement on one label."""
    return cohen_kappa([x == label for x in a], [y == label for y in b], [False, True])
