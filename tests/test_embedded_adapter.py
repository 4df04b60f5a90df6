"""The adapter the embedded default ships with: what it is, where it came from, that it is found.

Loading it onto Gemma 3 270M is exercised by `python -m harness.coverage` and `harness.run`
(minutes on a CPU); these checks read its files only.

    python -m pytest -q tests/test_embedded_adapter.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from reviewer import models

ADAPTER = models.EMBEDDED_ADAPTER


def test_the_embedded_default_uses_the_shipped_adapter() -> None:
    assert (ADAPTER / "adapter_config.json").exists() and (ADAPTER / "adapter_model.safetensors").exists()
    assert models.resolve_adapter("embedded", "") == str(ADAPTER)
    assert models.resolve_adapter("embedded", "none") == ""


def test_it_is_a_small_lora_on_the_language_model_only() -> None:
    from safetensors import safe_open

    config = json.loads((ADAPTER / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["peft_type"] == "LORA" and config["base_model_name_or_path"] == "embedded"
    assert config["modules_to_save"] is None
    with safe_open(str(ADAPTER / "adapter_model.safetensors"), "pt") as tensors:
        names = list(tensors.keys())
        ranks = {tensors.get_slice(n).get_shape()[0] for n in names if "lora_A" in n}
    assert names and all(re.search(r"\.lora_[AB]\.weight$", n) for n in names)
    assert not any(re.search("vision|audio|lm_head|embed_tokens", n) for n in names)
    assert ranks == {config["r"]}
    assert (ADAPTER / "adapter_model.safetensors").stat().st_size < 20 * 2**20


def test_its_training_run_is_recorded_and_reproducible_from_the_repo() -> None:
    record = yaml.safe_load((ADAPTER / "sft_config.yaml").read_text(encoding="utf-8"))
    config, stats = record["config"], record["stats"]
    assert record["stage"] == "sft" and config["model"] == "embedded"
    assert config["data"] == "training/data/embedded"  # the project's own rows, in this repo
    rows = sum(1 for f in (Path(models.__file__).parents[1] / config["data"]).glob("*.jsonl")
               for line in f.read_text(encoding="utf-8").splitlines() if line.strip())
    assert stats["rows"] == rows and stats["dropped_too_long"] == 0
    losses = json.loads((ADAPTER / "loss.json").read_text(encoding="utf-8"))
    assert len(losses) == stats["steps"] and losses[-1]["loss"] < losses[0]["loss"]
