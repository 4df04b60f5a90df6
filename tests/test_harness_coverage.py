"""python -m harness.coverage: the product's own settings on every row, each posted haiku re-checked.

    .venv/bin/python -m pytest -q tests/test_harness_coverage.py
"""

from __future__ import annotations

import json

import pytest

from harness import coverage as C
from tests.test_harness_run import INVALID, VALID, write_data


def canned(tmp_path, outputs):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs), encoding="utf-8")
    return path


def test_counts_hunks_with_a_postable_haiku_and_writes_one_record_each(tmp_path, capsys):
    outputs = canned(tmp_path, VALID[:4] + INVALID[:2])  # one candidate per hunk, in row order
    out = tmp_path / "out"
    code = C.main(["--data", str(write_data(tmp_path)), "--out", str(out),
                   "--system", f"fake:fake_outputs={outputs},candidates=1,revise_rounds=0"])
    printed = capsys.readouterr().out.splitlines()
    assert code == 0
    summary = json.loads(printed[-1])
    assert (summary["n"], summary["with_haiku"], summary["coverage"]) == (6, 4, round(4 / 6, 4))
    assert summary["printed_valid_but_invalid"] == 0 and summary["goal"] == 0.98
    assert sum(summary["rejection_reasons"].values()) == 2
    records = [json.loads(line) for line in (out / "coverage.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [f"t{i}" for i in range(6)]
    assert records[0]["haiku"] == VALID[0].split("\n") and records[0]["syllables"] == [5, 7, 5]
    assert records[4]["candidates"] == [INVALID[0]] and records[4]["rejected"]
    assert "t0: the loop ends too soon / range minus one drops the last / an item is lost" in printed


def test_a_revise_round_rescues_a_hunk(tmp_path, capsys):
    # Two hunks, one candidate each: the second fails, the revise round answers it validly.
    data = write_data(tmp_path)
    outputs = canned(tmp_path, [VALID[0], INVALID[0], VALID[1]])
    code = C.main(["--data", str(data), "--limit", "2", "--out", str(tmp_path / "o"),
                   "--system", f"fake:fake_outputs={outputs},candidates=1,revise_rounds=1"])
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 0 and summary["coverage"] == 1.0 and summary["after_revise"] == 1


def test_recheck_is_independent_of_compose():
    assert C.recheck(VALID[0].split("\n")) is None
    assert "not strict 5-7-5" in C.recheck(["looks good to me", "this is fine", "ship it"])
    assert C.recheck(["ping @octocat now", "range minus one drops the last", "an item is lost"])


@pytest.mark.parametrize("spec, message", [
    ("nope", "unknown backend 'nope'"),
    ("fake:colour=red", "'colour=red' is not key=value"),
    ("fake:candidates=many", "candidates='many' is not a int"),
])
def test_bad_system_exits_2_with_one_line(tmp_path, capsys, spec, message):
    code = C.main(["--data", str(write_data(tmp_path)), "--out", str(tmp_path / "o"), "--system", spec])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
