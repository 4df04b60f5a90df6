"""harness.stats: hand-computed cases, scipy's binomtest, sklearn's f1_score, seeded bootstraps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import stats

binomtest = pytest.importorskip("scipy.stats").binomtest
skm = pytest.importorskip("sklearn.metrics")


def verdicts(both: int, only_a: int, only_b: int, neither: int) -> tuple[list[bool], list[bool]]:
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return a, b


# ---------------------------------------------------------------- McNemar


@pytest.mark.parametrize("only_a, only_b, p", [
    (3, 1, 0.625),            # 2 * (C(4,0) + C(4,1)) / 2^4 = 2 * 5/16
    (0, 5, 0.0625),           # 2 * 1/32
    (5, 0, 0.0625),
    (10, 0, 2 / 1024),
    (2, 2, 1.0),              # balanced: capped at 1
    (1, 0, 1.0),              # 2 * 1/2
    (6, 2, 0.2890625),        # 2 * (1 + 8 + 28) / 256 = 74/256
    (0, 0, 1.0),              # no discordant pairs
])
def test_mcnemar_hand_computed(only_a, only_b, p):
    a, b = verdicts(both=4, only_a=only_a, only_b=only_b, neither=3)
    r = stats.mcnemar_exact(a, b)
    assert r.p_value == pytest.approx(p, abs=1e-15)
    assert (r.only_a, r.only_b, r.n_discordant) == (only_a, only_b, only_a + only_b)
    assert (r.both, r.neither, r.n) == (4, 3, 7 + only_a + only_b)


def test_mcnemar_concordant_rows_do_not_matter():
    a1, b1 = verdicts(0, 7, 2, 0)
    a2, b2 = verdicts(50, 7, 2, 80)
    assert stats.mcnemar_exact(a1, b1).p_value == stats.mcnemar_exact(a2, b2).p_value


def test_mcnemar_is_symmetric_and_order_free():
    a, b = verdicts(3, 9, 4, 2)
    assert stats.mcnemar_exact(a, b).p_value == stats.mcnemar_exact(b, a).p_value
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(a))
    r = stats.mcnemar_exact(np.array(a)[perm], np.array(b)[perm])
    assert r.p_value == stats.mcnemar_exact(a, b).p_value


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 25, 60, 151, 400])
def test_mcnemar_matches_scipy_binomtest(n):
    for k in range(n + 1):
        a, b = verdicts(2, k, n - k, 1)
        ours = stats.mcnemar_exact(a, b).p_value
        theirs = binomtest(k, n, 0.5, alternative="two-sided").pvalue
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-300), (k, n)


def test_mcnemar_accepts_0_1_and_rejects_bad_input():
    assert stats.mcnemar_exact([1, 0, 1], [0, 0, 1]).only_a == 1
    with pytest.raises(ValueError, match="length"):
        stats.mcnemar_exact([True, False], [True])
    with pytest.raises(ValueError, match="booleans"):
        stats.mcnemar_exact([0.5, 1], [1, 1])


def test_mcnemar_empty_is_p_one():
    r = stats.mcnemar_exact([], [])
    assert (r.n, r.n_discordant, r.p_value) == (0, 0, 1.0)


# ---------------------------------------------------------------- bootstrap CI


def test_bootstrap_ci_is_deterministic_per_seed():
    x = np.random.default_rng(3).normal(size=50)
    a = stats.bootstrap_ci(x, seed=7)
    b = stats.bootstrap_ci(list(x), seed=7)
    c = stats.bootstrap_ci(x, seed=8)
    assert a == b
    assert (a.lo, a.hi) != (c.lo, c.hi)
    assert a.value == pytest.approx(float(np.mean(x)))
    assert a.lo < a.value < a.hi


def test_bootstrap_ci_constant_sample_collapses():
    r = stats.bootstrap_ci([0.25] * 9, n_boot=200)
    assert (r.value, r.lo, r.hi) == pytest.approx((0.25, 0.25, 0.25))


def test_bootstrap_ci_of_a_rate_matches_the_normal_approximation():
    x = [1] * 200 + [0] * 200  # p = 0.5, n = 400: half-width 1.96 * sqrt(.25 / 400) = 0.049
    r = stats.bootstrap_ci(x, n_boot=4000, seed=1)
    assert r.value == 0.5
    assert r.lo == pytest.approx(0.451, abs=0.01)
    assert r.hi == pytest.approx(0.549, abs=0.01)


def test_bootstrap_ci_rejects_empty_and_nan():
    with pytest.raises(ValueError):
        stats.bootstrap_ci([])
    with pytest.raises(ValueError):
        stats.bootstrap_ci([1.0, float("nan")])


# ---------------------------------------------------------------- macro-F1


def random_labels(rng, n, k, offset=0):
    return [f"c{v}" for v in rng.integers(offset, offset + k, n)]


def test_macro_f1_hand_computed():
    # a: tp 1, fp 0, fn 1 -> 2/3; b: tp 1 -> 1; c: fp 1 -> 0; mean over 3 classes = 5/9
    assert stats.macro_f1(["a", "a", "b"], ["a", "c", "b"]) == pytest.approx(5 / 9)
    assert stats.macro_f1(["x", "y"], ["x", "y"]) == 1.0
    assert stats.macro_f1(["x", "x"], ["y", "y"]) == 0.0


@pytest.mark.parametrize("seed", range(30))
def test_macro_f1_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    y_true, y_pred = random_labels(rng, n, 4), random_labels(rng, n, 5)
    ours = stats.macro_f1(y_true, y_pred)
    theirs = skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
    assert ours == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_macro_f1_with_labels_and_abstentions_matches_sklearn(seed):
    """Predictions outside the label list (abstentions) are misses, as in sklearn's labels=."""
    rng = np.random.default_rng(100 + seed)
    labels = ["c0", "c1", "c2", "c3"]
    y_true = random_labels(rng, 40, 4)
    y_pred = [p if rng.random() > 0.2 else "none" for p in random_labels(rng, 40, 4)]
    present = [c for c in labels if c in y_true or c in y_pred]
    theirs = skm.f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
    assert stats.macro_f1(y_true, y_pred, labels) == pytest.approx(theirs, abs=1e-12)


def test_macro_f1_skips_listed_labels_that_occur_nowhere():
    assert stats.macro_f1(["a", "b"], ["a", "b"], labels=["a", "b", "zzz"]) == 1.0


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(5)
    labels = ["c0", "c1", "c2", "c3"]
    y_true, y_pred = random_labels(rng, 80, 4), random_labels(rng, 80, 4)
    expected = skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert stats.confusion_matrix(y_true, y_pred, labels) == expected


def test_bootstrap_macro_f1_ci_equals_a_plain_loop():
    rng = np.random.default_rng(11)
    y_true, y_pred = random_labels(rng, 35, 4), random_labels(rng, 35, 4)
    r = stats.bootstrap_macro_f1_ci(y_true, y_pred, n_boot=300, seed=4)
    idx = np.random.default_rng(4).integers(0, 35, size=(300, 35))  # the documented draw
    t, p = np.array(y_true), np.array(y_pred)
    loop = [skm.f1_score(t[i], p[i], average="macro", zero_division=0) for i in idx]
    assert r.value == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    assert r.lo == pytest.approx(np.quantile(loop, 0.025))
    assert r.hi == pytest.approx(np.quantile(loop, 0.975))
    assert r == stats.bootstrap_macro_f1_ci(y_true, y_pred, n_boot=300, seed=4)


# ---------------------------------------------------------------- paired bootstrap


def test_paired_mean_diff_identical_systems():
    x = np.random.default_rng(0).random(30)
    d = stats.paired_bootstrap_mean_diff(x, x)
    assert (d.value, d.lo, d.hi, d.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_paired_mean_diff_constant_shift_is_exact():
    """Pairing removes the between-row spread: a constant shift has a zero-width interval."""
    x = np.random.default_rng(1).normal(size=40) * 10
    d = stats.paired_bootstrap_mean_diff(x + 0.3, x, seed=2)
    assert (d.value, d.lo, d.hi) == pytest.approx((0.3, 0.3, 0.3))
    assert d.p_value == 0.0


def test_paired_mean_diff_is_deterministic_and_sided():
    rng = np.random.default_rng(9)
    a, b = rng.normal(0.5, 1, 60), rng.normal(0.0, 1, 60)
    d1 = stats.paired_bootstrap_mean_diff(a, b, seed=3)
    assert d1 == stats.paired_bootstrap_mean_diff(a, b, seed=3)
    d2 = stats.paired_bootstrap_mean_diff(b, a, seed=3)
    assert d1.value == pytest.approx(-d2.value)
    assert d1.lo == pytest.approx(-d2.hi) and d1.hi == pytest.approx(-d2.lo)
    with pytest.raises(ValueError, match="length"):
        stats.paired_bootstrap_mean_diff([1.0, 2.0], [1.0])


def test_paired_macro_f1_diff_matches_sklearn_point():
    rng = np.random.default_rng(21)
    y = random_labels(rng, 50, 4)
    pa = [t if rng.random() < 0.7 else "c0" for t in y]
    pb = random_labels(rng, 50, 4)
    d = stats.paired_bootstrap_macro_f1_diff(y, pa, pb, n_boot=500, seed=1)
    f = lambda p: skm.f1_score(y, p, average="macro", zero_division=0)  # noqa: E731
    assert d.value == pytest.approx(f(pa) - f(pb))
    assert d.lo <= d.value <= d.hi and d.lo > 0  # A is clearly better
    assert d.p_value < 0.01
    same = stats.paired_bootstrap_macro_f1_diff(y, pa, pa, n_boot=100)
    assert (same.value, same.lo, same.hi, same.p_value) == (0.0, 0.0, 0.0, 1.0)


# ---------------------------------------------------------------- shuffles


def test_derangements_move_every_row_and_are_seeded():
    p = stats.derangements(7, 5, seed=3)
    assert p.shape == (5, 7)
    for perm in p:
        assert sorted(perm) == list(range(7))
        assert not np.any(perm == np.arange(7))
    assert np.array_equal(p, stats.derangements(7, 5, seed=3))
    assert np.array_equal(p[:2], stats.derangements(7, 2, seed=3))
    assert np.array_equal(stats.derangements(2, 1, 0), [[1, 0]])
    with pytest.raises(ValueError):
        stats.derangements(1, 1, 0)


def test_macro_f1_vs_shuffle_points():
    rng = np.random.default_rng(8)
    y = random_labels(rng, 40, 4)
    pred = [t if rng.random() < 0.6 else "c1" for t in y]
    perms = stats.derangements(40, 3, seed=0)
    shuffled = [[y[j] for j in perm] for perm in perms]
    r = stats.macro_f1_vs_shuffle(y, pred, shuffled, n_boot=200)
    floor = np.mean([stats.macro_f1(s, pred) for s in shuffled])
    assert r["real"].value == pytest.approx(stats.macro_f1(y, pred))
    assert r["floor"].value == pytest.approx(floor)
    assert r["gap"].value == pytest.approx(r["real"].value - floor)
    assert r["gap"].lo > 0
    assert not math.isnan(r["floor"].lo)
