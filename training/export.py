"""Ship an adapter: keep it (or merge it into the base), write its model card, push it if asked.

CPU (the embedded adapter and its harness run; no network)::

    python -m training.export --adapter reviewer/adapters/gemma3-270m-lgtm575 \\
        --report out/run/review-pairs-dev/results.json --out out/export/embedded

GPU box / publishing (HF_TOKEN must be set; a merged checkpoint needs the base weights)::

    python -m training.export --adapter out/dpo --model google/gemma-4-E4B-it --merge \\
        --report out/run/e4b/results.json --push --repo-id you/lgtm-575-gemma4-e4b --out out/export/e4b

``--report`` takes a ``harness.score`` report.json (one system) or a ``harness.run``
results.json (several systems and their McNemar comparisons); the card shows every metric with
its 95% interval, n, and McNemar's p on strict form. The card's training section comes from the
``sft_config.yaml`` / ``dpo_config.yaml`` and ``train_stats.json`` saved beside the adapter, and
the loss curve is copied next to it. Output in ``--out``: the adapter files (or the merged model
and its tokenizer), ``README.md`` (the card, with hub metadata), ``loss.png`` and
``export_config.yaml``. ``--push`` uploads the folder; without network or a token it fails with
one line (exit 2) after the local export is written.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from training.config import StageError, option, parse_config, read_yaml, run_main, save_resolved

PROG = "python -m training.export"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
SIDE_FILES = ("sft_config.yaml", "dpo_config.yaml", "train_stats.json", "loss.json", "loss.png")
EMBEDDED_BASE = "google/gemma-3-270m"  # what the embedded GGUF was quantized from
HEADLINE = ("form_strict", "form_lenient", "rel_real", "rel_floor", "rel_gap",
            "category_macro_f1", "category_gap_macro_f1")


@dataclass(frozen=True)
class ExportConfig:
    adapter: str = option("", "The adapter folder to export (training.sft or training.dpo --out).", "input")
    model: str = option("", "Its base model: 'embedded', a hub id or a local path; empty: the model "
                        "its training config names (else embedded).", "input")
    base_model_id: str = option("", "The base model's hub id for the card's metadata; empty: "
                                "google/gemma-3-270m for 'embedded', the model itself for a hub "
                                "id, none for a local path.", "card")
    report: str = option("", "Harness numbers: harness.score report.json or harness.run "
                         "results.json.", "card")
    title: str = option("lgtm-575 haiku reviewer adapter", "The card's title.", "card")
    license: str = option("gemma", "License id in the card's metadata (Gemma weights: gemma).", "card")
    merge: bool = option(False, "Merge the adapter into the base weights and save the full model.", "output")
    out: str = option("out/export", "Output folder.", "output")
    push: bool = option(False, "Upload the folder to the Hugging Face hub (needs HF_TOKEN).", "hub")
    repo_id: str = option("", "Hub repository to push to, e.g. you/lgtm-575-adapter.", "hub")
    private: bool = option(False, "Create the hub repository private.", "hub")

    def __post_init__(self) -> None:
        if not self.adapter:
            raise StageError("--adapter is required: the adapter folder to export")
        if self.push and not self.repo_id:
            raise StageError("--push needs --repo-id (owner/name)")


# ----------------------------------------------------------------------------- harness numbers


@dataclass(frozen=True)
class SystemScores:
    name: str
    n: int
    metrics: dict[str, dict[str, Any]]


def read_report(path: str) -> tuple[list[SystemScores], list[dict[str, Any]]]:
    """Systems and comparisons from a harness.score report or a harness.run results file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise StageError(f"cannot read harness report {path}: {err}") from None
    if isinstance(data, dict) and isinstance(data.get("systems"), dict):
        systems = [SystemScores(name, int(s["score"]["n"]), s["score"]["metrics"])
                   for name, s in data["systems"].items()]
        return systems, list(data.get("comparisons") or [])
    if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
        return [SystemScores(str(data.get("system", "adapter")), int(data["n"]), data["metrics"])], []
    raise StageError(f"{path}: neither a harness.score report nor a harness.run results file")


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def metrics_table(systems: Sequence[SystemScores]) -> str:
    names = [m for m in HEADLINE if any(m in s.metrics for s in systems)]
    names += sorted({m for s in systems for m in s.metrics} - set(names))
    lines = ["| metric | " + " | ".join(f"{s.name} (n={s.n})" for s in systems) + " |",
             "| --- |" + " --- |" * len(systems)]
    for name in names:
        cells = []
        for system in systems:
            m = system.metrics.get(name)
            cells.append("–" if m is None else f"{fmt(m.get('value'))} [{fmt(m.get('lo'))}, {fmt(m.get('hi'))}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparisons_table(comparisons: Sequence[dict[str, Any]]) -> str:
    lines = ["| pair | strict form: only A / only B | McNemar p |", "| --- | --- | --- |"]
    for c in comparisons:
        test = c.get("mcnemar_form_strict")
        if test:
            lines.append(f"| {c['a']} vs {c['b']} | {test['only_a']} / {test['only_b']} | "
                         f"{fmt(float(test['p_value']))} |")
    return "\n".join(lines) if len(lines) > 2 else ""


# ----------------------------------------------------------------------------- the card


def training_section(adapter: Path) -> str:
    parts = []
    for name in ("sft_config.yaml", "dpo_config.yaml"):
        if (adapter / name).exists():
            config = read_yaml(adapter / name)
            keys = ("data", "model", "lora_r", "lora_alpha", "lora_dropout", "lr", "epochs",
                    "effective_batch", "beta", "samples", "adapter", "precision", "quantization")
            shown = ", ".join(f"{k} {config[k]}" for k in keys if k in config)
            parts.append(f"- {name.split('_')[0].upper()}: {shown}")
    stats_file = adapter / "train_stats.json"
    if stats_file.exists():
        stats = json.loads(stats_file.read_text(encoding="utf-8"))
        keys = ("rows", "pairs", "steps", "seconds", "seconds_per_step", "final_loss", "device")
        parts.append("- run: " + ", ".join(f"{k} {_short(stats[k])}" for k in keys if k in stats))
    if (adapter / "loss.png").exists():
        parts.append("\n![loss curve](loss.png)")
    return "\n".join(parts) or "No training record was found beside the adapter."


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trained_model(config: ExportConfig, adapter: Path) -> str:
    """The base model the adapter was trained on, as its training config recorded it."""
    for name in ("sft_config.yaml", "dpo_config.yaml"):
        if (adapter / name).exists():
            return config.model or str(read_yaml(adapter / name).get("model", "embedded"))
    return config.model or "embedded"


def base_model_id(config: ExportConfig, model: str) -> str:
    if config.base_model_id or model == "embedded":
        return config.base_model_id or EMBEDDED_BASE
    return "" if Path(model).expanduser().exists() or model.startswith((".", "/", "~")) else model


def model_card(config: ExportConfig, adapter: Path) -> str:
    import yaml

    model = trained_model(config, adapter)
    base = base_model_id(config, model)
    front = {"base_model": base, "library_name": "transformers" if config.merge else "peft",
             "license": config.license, "pipeline_tag": "text-generation",
             "tags": ["lgtm-575", "code-review", "haiku", "lora"]}
    if not base:
        del front["base_model"]
    shown = f"{base} (the reviewer's embedded model)" if model == "embedded" else model
    usage = f"python -m reviewer PR.diff --model {model} --adapter PATH"
    sections = [f"---\n{yaml.safe_dump(front, sort_keys=False).strip()}\n---\n", f"# {config.title}\n",
                f"A LoRA adapter{' (merged into the weights)' if config.merge else ''} for "
                f"`{shown}` that writes one 5-7-5 haiku review comment per diff hunk "
                "(lgtm-575).\n", f"```\n{usage}\n```\n", "## Training\n", training_section(adapter) + "\n"]
    if config.report:
        systems, comparisons = read_report(config.report)
        sections += ["## Harness numbers\n", f"From `{Path(config.report).name}` (95% intervals in "
                     "brackets; greedy decoding, the same prompt for every system).\n",
                     metrics_table(systems) + "\n"]
        table = comparisons_table(comparisons)
        if table:
            sections += ["McNemar's exact test on strict form (rows where only one system scans):\n",
                         table + "\n"]
    return "\n".join(sections)


# ----------------------------------------------------------------------------- export and push


def export(config: ExportConfig) -> Path:
    adapter, out = Path(config.adapter), Path(config.out)
    if not (adapter / "adapter_config.json").exists():
        raise StageError(f"{adapter}: not an adapter folder (no adapter_config.json)")
    card = model_card(config, adapter)  # before any copying: a bad report fails early
    out.mkdir(parents=True, exist_ok=True)
    if config.merge:
        save_merged(config, out)
    else:
        for name in ADAPTER_FILES:
            if (adapter / name).exists():
                shutil.copy2(adapter / name, out / name)
    for name in SIDE_FILES:
        if (adapter / name).exists() and (adapter / name).resolve() != (out / name).resolve():
            shutil.copy2(adapter / name, out / name)
    (out / "README.md").write_text(card, encoding="utf-8")
    save_resolved(config, out / "export_config.yaml", stage="export")
    return out


def save_merged(config: ExportConfig, out: Path) -> None:
    from reviewer.models import load_model

    adapter = Path(config.adapter).resolve()
    loaded = load_model(trained_model(config, adapter), adapter=str(adapter), device="cpu")
    if not loaded.description.get("merged"):
        raise StageError("the adapter could not be merged (a quantized base cannot be merged)")
    loaded.model.save_pretrained(out)
    loaded.tokenizer.save_pretrained(out)


def push(folder: Path, repo_id: str, private: bool) -> str:
    token = os.environ.get("HF_TOKEN", "")
    if not token:
        raise StageError("--push needs a Hugging Face token in HF_TOKEN (the local export is in "
                         f"{folder})")
    try:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id,
                                   commit_message="lgtm-575 adapter export")
    except Exception as err:  # offline, 401, 403...: one line, the local export stays
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise StageError(f"could not push to {repo_id} ({reason}); the local export is in {folder}") from None
    return str(getattr(commit, "commit_url", commit))


def main(argv: Sequence[str] | None = None) -> int:
    def body() -> int:
        config = parse_config(ExportConfig, argv, PROG, "Export an adapter with its model card.")
        folder = export(config)
        result = {"out": str(folder), "files": sorted(p.name for p in folder.iterdir())}
        if config.push:
            result["pushed"] = push(folder, config.repo_id, config.private)
        print(json.dumps(result))
        return 0
    return run_main(body, PROG)


if __name__ == "__main__":
    sys.exit(main())
