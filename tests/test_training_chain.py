"""The whole training chain on a tiny random Gemma 4, in seconds on a CPU.

    .venv/bin/python -m pytest -q tests/test_training_chain.py

data (rows this test writes) -> SFT (a few steps) -> DPO (a few steps) -> the adapter loaded by
the reviewer (reviewer.models + the transformers backend) -> its haiku scored by the harness.
Beside it, the pieces the chain's correctness rests on: the CPU loss equals the model's own loss,
training prompts are byte for byte the inference prompts, LoRA stays off vision/audio towers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

# Four hunks of our own, one issue each, with 5-7-5 targets (held to strict form below).
ROWS = [
    {"id": "t-print", "path": "app/cache.py", "category": "refactoring",
     "diff_hunk": "@@ -10,3 +10,4 @@ def get(key):\n     value = CACHE.get(key)\n+    print(value)\n     return value",
     "comment": "Leftover debug print; use the logger or drop it.",
     "haiku": "a print left in get\nwill spam the logs on each call\nuse the logger here"},
    {"id": "t-timeout", "path": "app/fetch.py", "category": "functional",
     "diff_hunk": "@@ -3,2 +3,3 @@ import requests\n def fetch(url):\n+    return requests.get(url).json()\n",
     "comment": "requests.get without a timeout can hang the worker forever.",
     "haiku": "no timeout on get\nthe slow host can hang the job\nset a timeout now"},
    {"id": "t-except", "path": "app/users.py", "category": "functional",
     "diff_hunk": "@@ -20,4 +20,6 @@ def load(user_id):\n     try:\n         return db.load(user_id)\n+    except:\n+        pass\n",
     "comment": "A bare except hides every error, even KeyboardInterrupt; catch the specific one.",
     "haiku": "the bare except here\nhides each error that was raised\ncatch the one you mean"},
    {"id": "t-docs", "path": "app/parse.py", "category": "documentation",
     "diff_hunk": "@@ -1,2 +1,4 @@\n import re\n+def parse(s):\n+    return re.split(r\"\\s+\", s.strip())\n",
     "comment": "parse needs a docstring saying what s looks like and what comes back.",
     "haiku": "parse takes a string s\nbut no docstring says its form\nadd one line of docs"},
]


@pytest.fixture()
def rows_file(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    return path


def test_the_targets_scan():
    from harness.form import check_haiku

    for row in ROWS:
        assert check_haiku(row["haiku"]).strict, (row["id"], check_haiku(row["haiku"]).explain())


def test_chain_data_sft_dpo_reviewer_harness(tiny_gemma4_dir: Path, rows_file: Path, tmp_path: Path):
    from safetensors.torch import load_file

    from harness.score import Prediction, Reference, ScoreConfig, score
    from reviewer.backends.base import GenerationRequest, make_backend
    from reviewer.prompt import build_prompt
    from reviewer.diff import parse_hunk
    from training import data, dpo, sft

    model = str(tiny_gemma4_dir)
    data_out, sft_out, dpo_out = tmp_path / "data", tmp_path / "sft", tmp_path / "dpo"
    assert data.main(["--source", str(rows_file), "--model", model, "--heldout-fraction", "0",
                      "--out", str(data_out)]) == 0
    train_rows = [json.loads(line) for line in (data_out / "train.jsonl").read_text().splitlines()]
    assert [r["id"] for r in train_rows] == [r["id"] for r in ROWS]
    assert all(r["prompt"].startswith("<bos><|turn>user\n") and r["prompt"].endswith("<|turn>model\n")
               and r["completion"].endswith("<turn|>") for r in train_rows)

    assert sft.main(["--data", str(data_out / "train.jsonl"), "--model", model, "--max-steps", "3",
                     "--per-device-batch", "2", "--effective-batch", "2", "--lr", "1e-3",
                     "--out", str(sft_out)]) == 0
    adapter_config = json.loads((sft_out / "adapter_config.json").read_text())
    assert adapter_config["modules_to_save"] is None
    assert adapter_config["base_model_name_or_path"] == model  # the name given, not a cache folder
    after_sft = load_file(sft_out / "adapter_model.safetensors")
    assert any(t.abs().sum() > 0 for k, t in after_sft.items() if "lora_B" in k)  # peft starts B at 0
    assert len(json.loads((sft_out / "loss.json").read_text())) == 3
    assert (sft_out / "loss.png").stat().st_size > 0 and (sft_out / "sft_config.yaml").exists()
    assert not (sft_out / "README.md").exists() and not (sft_out / "checkpoints").exists()

    assert dpo.main(["--data", str(data_out / "train.jsonl"), "--model", model, "--adapter", str(sft_out),
                     "--samples", "2", "--max-new-tokens", "8", "--pairs-per-prompt", "1",
                     "--max-steps", "2", "--per-device-batch", "2", "--effective-batch", "2",
                     "--out", str(dpo_out)]) == 0
    pairs = [json.loads(line) for line in (dpo_out / "pairs.jsonl").read_text().splitlines()]
    assert pairs and all(p["chosen"].endswith("<turn|>") for p in pairs)
    assert not (dpo_out / "ref").exists()  # trl's frozen reference copy is not shipped
    after_dpo = load_file(dpo_out / "adapter_model.safetensors")
    assert after_dpo.keys() == after_sft.keys()  # DPO trained the SFT adapter itself...
    assert any(not torch.equal(after_dpo[k], after_sft[k]) for k in after_sft)  # ...and moved it

    backend = make_backend("transformers", model=model, adapter=str(dpo_out), device="cpu")
    assert backend.describe()["adapter"] == str(dpo_out) and backend.describe()["merged"]
    prompts = [build_prompt(parse_hunk(r["path"], r["diff_hunk"]), few_shot=0) for r in ROWS]
    texts = [group[0] for group in backend.generate(prompts, GenerationRequest(max_new_tokens=12))]
    assert len(texts) == len(ROWS) and all(isinstance(t, str) for t in texts)

    report = score([Prediction(r["id"], t) for r, t in zip(ROWS, texts)],
                   [Reference(r["id"], r["comment"], r["category"]) for r in ROWS],
                   ScoreConfig(predictions="p.jsonl", references="r.jsonl", metrics="form", n_boot=50))
    assert report.n == len(ROWS) and 0.0 <= report.metrics["form_strict"].value <= 1.0


def test_supervised_cpu_loss_equals_the_models_own_loss(tiny_gemma4_dir: Path):
    from transformers import AutoModelForCausalLM

    from training.sft import supervised_loss

    model = AutoModelForCausalLM.from_pretrained(tiny_gemma4_dir, dtype=torch.float32)
    torch.manual_seed(0)
    ids = torch.randint(10, 600, (3, 24))
    labels = ids.clone()
    labels[:, :15] = -100
    labels[1, 20:] = -100
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    nll, count, _ = supervised_loss(model, inputs)
    expected = model(**inputs).loss
    assert count.item() == int((labels[:, 1:] != -100).sum())
    assert torch.allclose(nll / count, expected, atol=1e-5)


def test_sft_lowers_the_loss_on_rows_it_sees(tiny_gemma4_dir: Path, rows_file: Path, tmp_path: Path):
    from training import sft

    assert sft.main(["--data", str(rows_file), "--model", str(tiny_gemma4_dir), "--limit", "2",
                     "--max-steps", "12", "--per-device-batch", "2", "--effective-batch", "2",
                     "--lr", "5e-3", "--warmup", "0", "--precision", "fp32", "--out", str(tmp_path)]) == 0
    losses = [row["loss"] for row in json.loads((tmp_path / "loss.json").read_text())]
    assert len(losses) == 12 and losses[-1] < 0.8 * losses[0]


def test_training_prompt_is_the_inference_prompt(tiny_gemma4_dir: Path):
    """Token for token what the transformers backend feeds the model, then the haiku and <turn|>."""
    from reviewer.diff import parse_hunk
    from reviewer.models import load_model, render_prompt
    from reviewer.prompt import build_prompt

    loaded = load_model(str(tiny_gemma4_dir), adapter="none", device="cpu")
    tok = loaded.tokenizer
    row = ROWS[0]
    [example], _ = load_examples_from_rows([row], tok)
    inference = render_prompt(tok, build_prompt(parse_hunk(row["path"], row["diff_hunk"]), few_shot=0))
    assert list(example.prompt_ids) == tok(inference, add_special_tokens=False)["input_ids"]
    assert tok.decode(example.completion_ids) == row["haiku"] + "<turn|>"
    assert example.completion_ids[-1] in loaded.eos_ids
    assert example.features()["completion_mask"] == [0] * len(example.prompt_ids) + [1] * len(example.completion_ids)


def test_two_stage_rows_train_each_stage_on_its_inference_prompt(tiny_gemma4_dir: Path):
    """A row with a finding teaches three prompts, each token for token what compose sends: the
    one-pass prompt, the finding prompt with the linter's notes, the haiku prompt of the finding.
    A NOTHING row teaches the finding (abstaining) and no haiku of it."""
    from reviewer.backends.fake import FakeBackend
    from reviewer.compose import compose_hunks
    from reviewer.config import GenerationConfig
    from reviewer.diff import parse_hunk
    from reviewer.models import load_model, render_prompt

    tok = load_model(str(tiny_gemma4_dir), adapter="none", device="cpu").tokenizer
    finding = "fetch has no type annotations on url; annotate it as str."
    row = {**ROWS[1], "finding": finding,
           "diff_hunk": "@@ -3,1 +3,3 @@ import requests\n+def fetch(url):\n+    return requests.get(url, timeout=5).json()\n"}
    examples, stats = load_examples_from_rows([row, {**ROWS[0], "finding": "NOTHING"}], tok,
                                              tasks=("one-pass", "finding", "haiku"))
    assert stats["examples_by_task"] == {"one-pass": 2, "finding": 2, "haiku": 1} and stats["rows"] == 2
    # what compose asks a model, recorded by the fake backend, rendered by the same template
    backend = FakeBackend([{"finding": finding, "haiku": row["haiku"]}])
    compose_hunks([parse_hunk(row["path"], row["diff_hunk"])], backend, GenerationConfig(backend="fake", few_shot=0))
    (finding_prompts, _), (haiku_prompts, _) = backend.calls[:2]  # then revise rounds, if any
    assert "no type annotation" in finding_prompts[0].messages[-1][1]  # the linter's note is in it
    one_pass, stage_one, stage_two = examples[:3]
    for example, prompt in ((stage_one, finding_prompts[0]), (stage_two, haiku_prompts[0])):
        assert list(example.prompt_ids) == tok(render_prompt(tok, prompt), add_special_tokens=False)["input_ids"]
    assert tok.decode(stage_one.completion_ids) == finding + "<turn|>"
    assert tok.decode(stage_two.completion_ids) == tok.decode(one_pass.completion_ids) == row["haiku"] + "<turn|>"
    assert tok.decode(examples[4].completion_ids) == "NOTHING<turn|>"


def load_examples_from_rows(rows, tokenizer, tasks=("one-pass",)):
    import tempfile

    from training.sft import load_examples

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return load_examples(str(path), tokenizer, 0, 4096, tasks)


def test_lora_targets_skip_towers_and_the_head():
    from training.sft import language_model_targets

    names = ["model.language_model.layers.0.self_attn.q_proj", "model.language_model.layers.0.mlp.down_proj",
             "model.vision_tower.encoder.layers.0.self_attn.q_proj", "model.audio_tower.layers.0.ffw.up_proj",
             "model.embed_vision.embedding_projection", "lm_head"]
    pattern = re.compile(language_model_targets(names))
    assert [n for n in names if pattern.fullmatch(n)] == names[:2]


def test_a_prompt_rendered_for_another_template_is_refused(tiny_gemma4_dir: Path, tmp_path: Path, capsys):
    from training import sft

    gemma3 = {"id": "g3", "prompt": "<bos><start_of_turn>user\nreview this<end_of_turn>\n<start_of_turn>model\n",
              "completion": "one\ntwo\nthree<end_of_turn>"}
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(gemma3) + "\n", encoding="utf-8")
    assert sft.main(["--data", str(rows), "--model", str(tiny_gemma4_dir), "--max-steps", "1",
                     "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # transformers' loading bars may come first
    assert err[-1].startswith("python -m training.sft: error: row g3: its prompt was rendered with another chat template")


def test_qlora_on_a_4bit_base(tiny_gemma4_dir: Path, rows_file: Path, tmp_path: Path):
    pytest.importorskip("bitsandbytes")
    from training import sft

    assert sft.main(["--data", str(rows_file), "--model", str(tiny_gemma4_dir), "--quantization", "4bit",
                     "--max-steps", "1", "--per-device-batch", "2", "--effective-batch", "2",
                     "--out", str(tmp_path)]) == 0
    assert (tmp_path / "adapter_model.safetensors").exists()
    assert "quantization: 4bit" in (tmp_path / "sft_config.yaml").read_text()


def test_export_merge_gives_the_same_model_as_the_adapter(tiny_gemma4_dir: Path, tiny_lora_dir: Path, tmp_path: Path):
    from reviewer.models import load_model
    from training import export

    assert export.main(["--adapter", str(tiny_lora_dir), "--model", str(tiny_gemma4_dir), "--merge",
                        "--out", str(tmp_path)]) == 0
    assert "library_name: transformers" in (tmp_path / "README.md").read_text()
    merged = load_model(str(tmp_path), adapter="none", device="cpu").model
    attached = load_model(str(tiny_gemma4_dir), adapter=str(tiny_lora_dir), device="cpu").model
    plain = load_model(str(tiny_gemma4_dir), adapter="none", device="cpu").model
    ids = torch.tensor([[2, 40, 41, 42, 43, 44]])
    with torch.no_grad():
        a, b, c = (m(input_ids=ids).logits.float() for m in (merged, attached, plain))
    assert torch.allclose(a, b, atol=1e-2) and not torch.allclose(a, c, atol=1e-2)
