"""``python -m reviewer PR.diff --list-hunks``: JSON out, one-line errors, no model imports.

    python -m pytest -q tests/test_cli_list_hunks.py
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import reviewer.__main__
from reviewer import cli
from reviewer.filters import DiffFilterConfig

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "diffs"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def expected_listing(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))["list_hunks"]


def test_list_hunks_prints_the_anchors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([str(FIXTURES / "modified_python.diff"), "--list-hunks"], capsys)
    assert (code, err) == (0, "")
    payload = json.loads(out)
    assert payload == expected_listing("modified_python")
    assert payload["hunks"][1] == {"path": "src/shop/cart.py", "line": 31, "side": "LEFT", "start_line": 24,
                                   "header": "@@ -21,14 +21,6 @@ class Cart:", "added": 0, "removed": 8}


def test_entries_have_exactly_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run([str(FIXTURES / "filtered_files.diff"), "--list-hunks"], capsys)
    payload = json.loads(out)
    assert set(payload) == {"hunks", "skipped"}
    for entry in payload["hunks"]:
        assert set(entry) - {"start_line"} == {"path", "line", "side", "header", "added", "removed"}
        assert entry.get("start_line", 0) < entry["line"]
    assert all(set(entry) == {"path", "reason"} for entry in payload["skipped"])
    assert {"path": "poetry.lock", "reason": "lock file ('poetry.lock')"} in payload["skipped"]


def test_stdin_dash_reads_bytes(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = (FIXTURES / "crlf_whole_diff.diff").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run(["-", "--list-hunks"], capsys)
    assert code == 0 and json.loads(out) == expected_listing("modified_python")


def test_flags_map_onto_the_filter_config() -> None:
    args = cli.build_parser().parse_args([
        "x.diff", "--include", "src/**", "--include", "lib/**", "--exclude", "*.md", "--max-hunks", "5",
        "--max-hunk-lines", "40", "--oversize", "trim", "--no-skip-deleted"])
    assert cli.filter_config_from_args(args) == DiffFilterConfig(
        include=("src/**", "lib/**"), exclude=("*.md",), max_hunks=5, max_hunk_lines=40, oversize="trim",
        skip_deleted=False)
    assert cli.filter_config_from_args(cli.build_parser().parse_args(["x.diff"])) == DiffFilterConfig()


def test_flags_change_the_listing(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(FIXTURES / "modified_python.diff")
    _, out, _ = run([path, "--list-hunks", "--max-hunks", "1"], capsys)
    payload = json.loads(out)
    # additions before the pure deletion; the edit (2+2) and the addition (4) tie on 4 changed
    # lines, and then the earlier hunk wins
    assert [h["line"] for h in payload["hunks"]] == [14]
    assert sum("over the cap of 1 hunks" in s["reason"] for s in payload["skipped"]) == 2
    _, out, _ = run([path, "--list-hunks", "--exclude", "src/**"], capsys)
    assert json.loads(out) == {"hunks": [], "skipped": [{"path": "src/shop/cart.py", "reason": "excluded by glob 'src/**'"}]}


@pytest.mark.parametrize("argv, message", [
    (["malformed_garbage_in_hunk.diff", "--list-hunks"], "malformed_garbage_in_hunk.diff: line 8: expected a hunk line"),
    (["missing.diff", "--list-hunks"], "missing.diff: cannot read the diff: No such file or directory"),
    (["modified_python.diff", "--candidates", "0"], "candidates must be an integer >= 1"),
    (["modified_python.diff", "--list-hunks", "--max-hunk-lines", "2"], "max_hunk_lines must be 0"),
])
def test_failures_are_one_line_with_status_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert err.startswith("lgtm-575: ") and message in err and err.count("\n") == 1


def test_bad_flag_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["x.diff", "--list-hunks", "--max-hunks", "-1"])
    assert stopped.value.code == 2 and "--max-hunks" in capsys.readouterr().err


def test_console_script_entry_point_is_cli_main() -> None:
    assert reviewer.__main__.main is cli.main


def test_python_dash_m_reviewer_without_a_traceback_or_a_model() -> None:
    bad = subprocess.run([sys.executable, "-m", "reviewer", str(FIXTURES / "malformed_hunk_too_long.diff"),
                          "--list-hunks"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr and "line 9:" in bad.stderr
    probe = ("import sys; from reviewer.cli import main; code = main(sys.argv[1:]); "
             "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'peft', 'numpy'}); "
             "print(heavy, file=sys.stderr); sys.exit(code)")
    good = subprocess.run([sys.executable, "-c", probe, str(FIXTURES / "renames.diff"), "--list-hunks"],
                          cwd=ROOT, capture_output=True, text=True)
    assert good.returncode == 0 and good.stderr.strip() == "[]"
    assert json.loads(good.stdout) == expected_listing("renames")
