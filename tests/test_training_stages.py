"""The training stages one by one: data selection, the teacher loop, export, the shared config.

    .venv/bin/python -m pytest -q tests/test_training_stages.py

The teacher is tested against a loopback server that speaks the OpenAI chat API
(tests/fake_openai.py) with the real MiniLM relevance gate; nothing here needs a GPU or network.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training import data as D
from training import export as E
from training import teacher as T
from training.config import StageError

HUNK = "@@ -3,2 +3,3 @@ import requests\n def fetch(url):\n+    return requests.get(url).json()\n"
GOOD = "no timeout on get\nthe slow host can hang the job\nset a timeout now"
OFF_TOPIC = "the autumn moon glows\nover quiet mountain lakes\nnight birds call softly"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def pair(i: int, **fields) -> dict:
    row = {"id": f"r{i}", "path": "app/fetch.py", "diff_hunk": HUNK, "category": "functional",
           "comment": f"requests.get has no timeout here, case {i}; a slow host hangs the worker."}
    return {**row, **fields}


# ----------------------------------------------------------------------------- data


def test_select_filters_maps_and_dedupes():
    rows = [
        pair(1),
        pair(2, comment=pair(1)["comment"].upper().replace(";", " --")),  # same words: a duplicate
        pair(3, path="web/app.js"),                                          # not Python
        pair(4, comment="nit"),                                              # too short
        pair(5, category="bug"),                                             # mapped to functional
        pair(6, category="weird"),                                           # no such category
        {"comment_id": 7, "file_path": "app/x.py", "diff": HUNK, "reviewer_comment": "Use a timeout "
         "so a stuck host cannot hold this worker.", "comment_type": "style"},  # other spellings
        pair(8, diff_hunk="not a hunk at all"),
    ]
    chosen = D.select(rows, D.DataConfig(source="-", heldout_fraction=0.0))
    assert [p.id for p in chosen.train] == ["r1", "r5", "7"]
    assert [p.category for p in chosen.train] == ["functional", "functional", "refactoring"]
    assert chosen.stats == {"read": 8, "dropped: duplicate comment": 1, "dropped: other language": 1,
                            "dropped: comment length": 1, "dropped: unknown category": 1,
                            "dropped: hunk does not parse": 1, "train": 3, "heldout": 0}


def test_heldout_split_is_a_fixed_function_of_the_id():
    ids = [f"id-{i}" for i in range(4000)]
    held = [i for i in ids if D.is_heldout(i, 0.1)]
    assert 0.08 < len(held) / len(ids) < 0.12
    assert held == [i for i in ids if D.is_heldout(i, 0.1)]        # same ids every time
    assert set(held) <= {i for i in ids if D.is_heldout(i, 0.2)}   # a larger share only adds ids
    assert held != [i for i in ids if D.is_heldout(i, 0.1, salt="other")]


def test_data_cli_writes_splits_stats_and_config(tmp_path: Path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", [pair(i) for i in range(40)])
    assert D.main(["--source", str(source), "--heldout-fraction", "0.25", "--out", str(tmp_path / "o")]) == 0
    train = (tmp_path / "o" / "train.jsonl").read_text().splitlines()
    held = (tmp_path / "o" / "heldout.jsonl").read_text().splitlines()
    assert len(train) + len(held) == 40 and 0 < len(held) < 20
    assert {json.loads(line)["id"] for line in held} == {f"r{i}" for i in range(40) if D.is_heldout(f"r{i}", 0.25)}
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["train"] == len(train)
    assert "heldout_fraction: 0.25" in (tmp_path / "o" / "data_config.yaml").read_text()


def test_data_reads_parquet(tmp_path: Path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([pair(1), pair(2, comment="Add a timeout to requests.get.")]),
                   tmp_path / "rows.parquet")
    assert [p.id for p in D.select(D.read_rows(str(tmp_path / "rows.parquet")),
                                   D.DataConfig(heldout_fraction=0.0)).train] == ["r1", "r2"]


@pytest.mark.parametrize("argv, message", [
    (["--source", "/no/such/file.jsonl"], "no such file or folder"),
    (["--heldout-fraction", "1.5"], "heldout_fraction must be in [0, 1)"),
    (["--heldout-fraction", "lots"], "invalid float value"),  # argparse's own error, one line too
])
def test_data_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert exit_code(D.main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def exit_code(main, argv) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse exits by itself
        return stop.code


def test_bad_json_line_names_file_and_line(tmp_path: Path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(pair(1)) + "\n{oops\n", encoding="utf-8")
    assert D.main(["--source", str(source), "--out", str(tmp_path / "o")]) == 2
    assert f"{source}:2: not valid JSON" in capsys.readouterr().err


def test_hub_source_fails_clearly_offline(monkeypatch, tmp_path: Path, capsys):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: nothing to fall back on
    assert D.main(["--source", "ronantakizawa/codereview-bench", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot read 'ronantakizawa/codereview-bench' from the Hugging Face hub" in err
    assert "--source" in err and len(err.splitlines()) == 1


# ----------------------------------------------------------------------------- config


def test_yaml_then_flags_and_unknown_keys(tmp_path: Path):
    from training.config import parse_config

    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("heldout_fraction: 0.3\nlanguage: ''\nlimit: 5\n")
    config = parse_config(D.DataConfig, ["--config", str(yaml_file), "--limit", "9"], "p", "d")
    assert (config.heldout_fraction, config.language, config.limit) == (0.3, "", 9)
    yaml_file.write_text("heldout_fraktion: 0.3\n")
    with pytest.raises(StageError, match="unknown setting 'heldout_fraktion'"):
        parse_config(D.DataConfig, ["--config", str(yaml_file)], "p", "d")
    yaml_file.write_text("limit: many\n")
    with pytest.raises(StageError, match="setting 'limit' must be int"):
        parse_config(D.DataConfig, ["--config", str(yaml_file)], "p", "d")


def test_saved_resolved_config_reads_back_as_input(tmp_path: Path):
    from training.config import parse_config, save_resolved

    config = D.DataConfig(limit=3, language="")
    saved = save_resolved(config, tmp_path / "x.yaml", stage="data")
    assert parse_config(D.DataConfig, ["--config", str(saved)], "p", "d") == config


@pytest.mark.parametrize("module", ["data", "teacher", "sft", "dpo", "export"])
def test_help_lists_every_setting(module, capsys):
    import importlib
    from dataclasses import fields

    stage = importlib.import_module(f"training.{module}")
    assert exit_code(stage.main, ["--help"]) == 0
    out = capsys.readouterr().out
    config = next(c for c in vars(stage).values() if isinstance(c, type) and c.__module__ == stage.__name__
                  and c.__name__.endswith("Config"))
    assert all("--" + f.name.replace("_", "-") in out for f in fields(config))


def test_every_field_of_every_stage_has_help():
    from dataclasses import fields

    from training.dpo import DPORunConfig
    from training.sft import SFTRunConfig

    for cls in (D.DataConfig, T.TeacherConfig, SFTRunConfig, DPORunConfig, E.ExportConfig):
        assert all(f.metadata.get("help") and f.metadata.get("section") for f in fields(cls)), cls


# ----------------------------------------------------------------------------- teacher


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("sentence_transformers")
    from harness.relevance import load_embedder

    return load_embedder()


FINDING = "requests.get has no timeout, so a slow host hangs the worker; pass timeout=."


def teacher_answer(messages: list[dict[str, str]], k: int) -> str:
    """A scripted teacher: off-form first, then on point when told it does not scan; the pair
    about a print gets a pretty haiku about nothing, every time."""
    first = messages[0]["content"]
    if "print" in first:
        return f"FINDING: Leftover debug print.\nHAIKU:\n{OFF_TOPIC}"
    if "does not scan" in messages[-1]["content"]:
        return f"Finding: {FINDING}\nHaiku:\n```\n{GOOD}\n```"
    return f"FINDING: {FINDING}\nHAIKU:\ntimeouts matter\nwhen requests hang forever and ever\nplease add one"


def test_teacher_revises_gates_and_records_provenance(tmp_path: Path, minilm, capsys):
    from tests.fake_openai import FakeOpenAI

    rows = [pair(1), {**pair(2), "diff_hunk": "@@ -10,3 +10,4 @@ def get(key):\n     value = CACHE.get(key)\n"
                      "+    print(value)\n     return value", "path": "app/cache.py",
                      "comment": "Leftover debug print; use the logger or drop it.", "category": "refactoring"}]
    source = write_jsonl(tmp_path / "pairs.jsonl", rows)
    with FakeOpenAI(teacher_answer, models=("teacher-30b",)) as server:
        config = T.TeacherConfig(data=str(source), base_url=server.base_url, model="teacher-30b",
                                 candidates=2, rounds=2, out=str(tmp_path / "t"))
        stats = T.run(config, embedder=minilm)
        requests = [r["body"] for r in server.requests if r["path"].endswith("/chat/completions")]
    assert stats["accepted"] == 1 and stats["rejected"] == 1 and stats["accepted_by_round"] == {1: 0, 2: 1}
    [target] = [json.loads(line) for line in (tmp_path / "t" / "targets.jsonl").read_text().splitlines()]
    assert target["id"] == "r1" and target["haiku"] == GOOD and target["finding"] == FINDING
    provenance = target["provenance"]
    assert provenance["teacher"]["model"] == "teacher-30b" and provenance["rounds"] == 2
    assert provenance["candidates"] == 4 and provenance["scores"]["syllables"] == [5, 7, 5]
    assert provenance["scores"]["relevance"] >= config.relevance_threshold
    [rejected] = [json.loads(line) for line in (tmp_path / "t" / "rejected.jsonl").read_text().splitlines()]
    assert rejected["id"] == "r2" and rejected["attempt"] == OFF_TOPIC
    assert rejected["provenance"]["scores"]["relevance"] < config.relevance_threshold
    revised = [body["messages"] for body in requests if len(body["messages"]) == 3]
    assert any(m[1]["role"] == "assistant" and m[1]["content"].startswith("FINDING: ")
               and "does not scan" in m[2]["content"] for m in revised)
    assert any("drifts from the reviewer's point" in m[2]["content"] for m in revised)
    assert all(body["n"] == 2 and "Reviewer's comment:" in body["messages"][0]["content"] for body in requests)


@pytest.mark.parametrize("answer, problem", [
    (GOOD, "there is no FINDING line"),
    ("FINDING: " + " ".join(["word"] * 31) + f"\nHAIKU:\n{GOOD}", "31 words"),
    (f"FINDING: Ping @admin about requests.get.\nHAIKU:\n{GOOD}", "unsafe to post"),
])
def test_a_teacher_answer_without_a_usable_finding_is_no_target(answer, problem):
    finding, haiku = T.split_answer(answer)
    assert haiku == GOOD and problem in T.finding_problem(finding)
    [candidate] = T.judge([(finding, haiku)], np.ones(2) / 2 ** 0.5, np.ones((1, 2)) / 2 ** 0.5)
    assert candidate.strict and not candidate.passes(0.35) and "finding is not usable" in T.revision_note(candidate, 0.35)


def test_clean_answer_strips_think_fences_and_titles():
    raw = "<think>count the syllables</think>\nHaiku:\n```\n**no timeout on get**\nthe slow host can hang the job\n\"set a timeout now\"\n```"
    assert T.clean_answer(raw) == GOOD


def test_teacher_without_server_is_one_line_exit_2(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    source = write_jsonl(tmp_path / "pairs.jsonl", [pair(1)])
    assert T.main(["--data", str(source), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs a server" in err and len(err.splitlines()) == 1


# ----------------------------------------------------------------------------- export


def fake_adapter(folder: Path) -> Path:
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"r": 16, "modules_to_save": None}))
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    (folder / "sft_config.yaml").write_text("stage: sft\nconfig:\n  model: embedded\n  lora_r: 16\n  lr: 0.0002\n")
    (folder / "train_stats.json").write_text(json.dumps({"rows": 320, "steps": 120, "final_loss": 1.23456}))
    return folder


def test_export_card_from_a_harness_run_results_file(tmp_path: Path):
    results = {"n": 40, "systems": {
        "base": {"score": {"n": 40, "metrics": {"form_strict": {"value": 0.05, "lo": 0.0, "hi": 0.125}}}},
        "lora": {"score": {"n": 40, "metrics": {"form_strict": {"value": 0.6, "lo": 0.45, "hi": 0.75},
                                                 "rel_gap": {"value": 0.07, "lo": 0.03, "hi": 0.11}}}}},
        "comparisons": [{"a": "base", "b": "lora", "mcnemar_form_strict": {"only_a": 1, "only_b": 23, "p_value": 2.9e-06}}]}
    report = tmp_path / "results.json"
    report.write_text(json.dumps(results))
    adapter = fake_adapter(tmp_path / "adapter")
    assert E.main(["--adapter", str(adapter), "--report", str(report), "--out", str(tmp_path / "x")]) == 0
    card = (tmp_path / "x" / "README.md").read_text()
    assert "base_model: google/gemma-3-270m" in card and "library_name: peft" in card
    assert "| form_strict | 0.050 [0.000, 0.125] | 0.600 [0.450, 0.750] |" in card
    assert "| rel_gap | – | 0.070 [0.030, 0.110] |" in card
    assert "| base vs lora | 1 / 23 | 0.000 |" in card
    assert "rows 320, steps 120, final_loss 1.235" in card
    assert (tmp_path / "x" / "adapter_model.safetensors").read_bytes() == b"weights"


def test_export_card_from_a_harness_score_report(tmp_path: Path):
    from harness.score import Prediction, Reference, ScoreConfig, score

    refs = [Reference("a", "Add a timeout.", "functional"), Reference("b", "Drop the print.", "refactoring")]
    report = score([Prediction("a", GOOD), Prediction("b", "print")], refs,
                   ScoreConfig(predictions="p.jsonl", references="r.jsonl", metrics="form", n_boot=50))
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report.to_dict()))
    assert E.main(["--adapter", str(fake_adapter(tmp_path / "a")), "--report", str(path),
                   "--out", str(tmp_path / "x")]) == 0
    assert "| form_strict | 0.500 [" in (tmp_path / "x" / "README.md").read_text()


def test_export_push_offline_or_without_token_fails_in_one_line(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    adapter = fake_adapter(tmp_path / "a")
    assert E.main(["--adapter", str(adapter), "--push", "--repo-id", "me/x", "--out", str(tmp_path / "x")]) == 2
    assert "HF_TOKEN" in capsys.readouterr().err and (tmp_path / "x" / "README.md").exists()
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert E.main(["--adapter", str(adapter), "--push", "--repo-id", "me/x", "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip()
    assert "could not push to me/x" in err and len(err.splitlines()) == 1 and "hf_not_a_real_token" not in err
