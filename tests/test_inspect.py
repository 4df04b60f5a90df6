"""reviewer.inspect on the tiny random Gemma 4: per-token top candidates and the constraint's masks."""
from __future__ import annotations

from pathlib import Path

import pytest

from reviewer import inspect as I
from reviewer.config import GenerationConfig

ROOT = Path(__file__).resolve().parents[1]


def test_inspect_traces_both_stages_and_marks_masked_candidates(tiny_gemma4_dir):
    pytest.importorskip("torch")
    diff = (ROOT / "examples" / "sample.diff").read_bytes()
    config = GenerationConfig(model=str(tiny_gemma4_dir), adapter="none", max_finding_tokens=8, max_new_tokens=12)
    result = I.inspect_hunk(diff, 1, config, top=5, finding="fetch_user has no timeout")
    steps = result["haiku"]["steps"]
    assert steps and all(len(step["candidates"]) == 5 for step in steps)
    probabilities = [p for step in steps for _, p, _ in step["candidates"]]
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    # a random model's favourite tokens are mostly not plain words: the constraint masks some
    assert any(masked for step in steps for _, _, masked in step["candidates"])
    # what was chosen was never a masked candidate
    assert not any(token == step["chosen"] and masked for step in steps for token, _, masked in step["candidates"])
    free = I.inspect_hunk(diff, 1, config, top=3)
    assert free["finding"]["steps"] and not any(m for s in free["finding"]["steps"] for _, _, m in s["candidates"])


def test_inspect_command_refuses_a_hunk_out_of_range(tmp_path, capsys):
    code = I.main([str(ROOT / "examples" / "sample.diff"), "--hunk", "9", "--model", "fake-not-loaded"])
    err = capsys.readouterr().err
    assert code == 2 and "--hunk must be between 1 and" in err and len(err.strip().splitlines()) == 1
