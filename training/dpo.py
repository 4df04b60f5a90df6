"""Form-preference DPO on top of the SFT adapter: prefer answers that scan as 5-7-5.

For each training prompt the SFT model samples ``--samples`` answers (unconstrained, as the
model writes on its own); harness.form judges them. Chosen: a strictly valid sample (the row's
own target haiku when no sample scans); rejected: samples that do not scan, for the same
prompt. Pairs go through trl's DPOTrainer with the SFT adapter both as the starting point and,
frozen, as the reference (trl copies it into a "ref" adapter), so DPO moves the model away from
its own broken forms and no further than ``--beta`` allows from what SFT taught.

CPU smoke (the embedded model and an SFT adapter, 4 prompts, 2 steps; DPO runs every position
through the LM head twice per pair, so full-size DPO belongs on a GPU)::

    python -m training.dpo --adapter out/sft-smoke --data training/data/embedded --limit 4 \\
        --samples 4 --max-steps 2 --out out/dpo-smoke

GPU::

    python -m training.dpo --model google/gemma-4-E4B-it --adapter out/sft \\
        --data out/teacher/targets.jsonl --samples 8 --out out/dpo

Given ``--pairs FILE`` (rows {id, prompt, chosen, rejected}, e.g. a previous run's pairs.jsonl)
sampling is skipped. Prompts are tokenized exactly as in SFT and at inference (the rendered chat
template, ``add_special_tokens=False``); chosen and rejected end with the template's end of turn.

Output in ``--out``: the adapter, ``pairs.jsonl`` (with provenance: which sample, the form
verdict of the rejected one), ``dpo_config.yaml``, ``loss.json``/``loss.png`` and
``train_stats.json``. Bad input prints one line and exits 2.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from training.config import (Progress, StageError, option, parse_config, run_main, save_resolved,
                             write_json, write_jsonl)

PROG = "python -m training.dpo"


@dataclass(frozen=True)
class DPORunConfig:
    # data
    data: str = option("training/data/embedded", "Prompts: rows with prompt(+completion) or "
                       "path+diff_hunk(+haiku); the haiku is the fallback chosen answer.", "data")
    pairs: str = option("", "Ready preference pairs (JSONL of id, prompt, chosen, rejected); "
                        "skips sampling.", "data")
    limit: int = option(0, "Use only the first N prompts; 0 for all.", "data")
    max_length: int = option(1024, "Drop pairs longer than this many tokens (prompt + answer).", "data")
    # model
    model: str = option("embedded", "Base model: 'embedded', a hub id or a local path.", "model")
    adapter: str = option("", "The SFT adapter to start from (required).", "model")
    quantization: str = option("none", "4bit: QLoRA base weights; none: plain.", "model",
                               choices=("none", "4bit"))
    device: str = option("auto", "auto, cpu, cuda, cuda:1...", "model")
    precision: str = option("auto", "Base weights in bf16 or fp32; auto: bf16 where supported.",
                            "model", choices=("auto", "bf16", "fp32"))
    # sampling
    samples: int = option(6, "Answers sampled per prompt to find valid and invalid forms.", "sampling")
    temperature: float = option(1.0, "Sampling temperature.", "sampling")
    top_p: float = option(0.95, "Nucleus sampling mass.", "sampling")
    max_new_tokens: int = option(40, "Token budget of one answer.", "sampling")
    sample_batch: int = option(8, "Prompts per generate call.", "sampling")
    pairs_per_prompt: int = option(2, "Most preference pairs kept per prompt.", "sampling")
    # optimisation
    beta: float = option(0.1, "DPO beta: how far the policy may move from the SFT reference.", "optimisation")
    epochs: float = option(1.0, "Passes over the pairs.", "optimisation")
    max_steps: int = option(0, "Stop after this many optimizer steps; 0: run the epochs.", "optimisation")
    lr: float = option(2e-5, "Peak learning rate.", "optimisation")
    warmup: float = option(0.1, "Warmup: a fraction of the steps (< 1) or a number of steps.", "optimisation")
    effective_batch: int = option(8, "Pairs per optimizer step, over devices and accumulation.", "optimisation")
    per_device_batch: int = option(4, "Pairs per forward pass on one device (each pair is two rows).",
                                   "optimisation")
    seed: int = option(575, "Seed for sampling and training.", "optimisation")
    # output
    out: str = option("out/dpo", "Output folder.", "output")

    def __post_init__(self) -> None:
        if not self.adapter:
            raise StageError("--adapter is required: DPO starts from an SFT adapter (training.sft's --out)")
        for name in ("samples", "max_new_tokens", "sample_batch", "pairs_per_prompt",
                     "effective_batch", "per_device_batch", "max_length"):
            if getattr(self, name) < 1:
                raise StageError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.effective_batch % self.per_device_batch:
            raise StageError("effective_batch must be a multiple of per_device_batch")
        if self.beta <= 0 or self.lr <= 0 or not 0 < self.top_p <= 1:
            raise StageError("beta and lr must be > 0 and top_p in (0, 1]")


# ----------------------------------------------------------------------------- pairs


def preference_pairs(row_id: str, prompt: str, samples: Sequence[str], reference: str, end: str,
                     per_prompt: int) -> list[dict[str, Any]]:
    """Pairs for one prompt: valid samples (else the valid reference) over invalid samples."""
    from harness.form import check_haiku

    valid, invalid = [], []
    for text in dict.fromkeys(s.strip() for s in samples if s.strip()):
        verdict = check_haiku(text)
        (valid if verdict.strict else invalid).append((text, verdict.explain()))
    chosen = [(text, "sample") for text, _ in valid]
    if not chosen and reference and check_haiku(reference).strict:
        chosen = [(reference.strip(), "reference")]
    pairs = []
    for index, (bad, why) in enumerate(invalid[:per_prompt] if chosen else []):
        good, source = chosen[index % len(chosen)]
        pairs.append({"id": f"{row_id}#{index}", "prompt": prompt, "chosen": good + end,
                      "rejected": bad + end, "chosen_source": source, "rejected_form": why})
    return pairs


def sample_answers(model: Any, tokenizer: Any, prompts: Sequence[str], eos: Sequence[int],
                   config: DPORunConfig) -> list[list[str]]:
    """``config.samples`` unconstrained answers per rendered prompt (left-padded batches)."""
    import torch

    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    answers: list[list[str]] = []
    progress = Progress("dpo: sampling", len(prompts), "prompts")
    try:
        model.eval()
        for start in range(0, len(prompts), config.sample_batch):
            batch = list(prompts[start:start + config.sample_batch])
            encoded = tokenizer(batch, add_special_tokens=False, padding=True, return_tensors="pt").to(model.device)
            with torch.no_grad():
                out = model.generate(**encoded, do_sample=True, temperature=config.temperature,
                                     top_p=config.top_p, max_new_tokens=config.max_new_tokens,
                                     num_return_sequences=config.samples, eos_token_id=list(eos),
                                     pad_token_id=tokenizer.pad_token_id)
            texts = tokenizer.batch_decode(out[:, encoded["input_ids"].shape[1]:], skip_special_tokens=True)
            answers += [texts[i:i + config.samples] for i in range(0, len(texts), config.samples)]
            progress.advance(len(batch))
    finally:
        tokenizer.padding_side = side
    return answers


def row_prompt(row: dict[str, Any], tokenizer: Any, opening: str) -> str:
    """The row's inference prompt: its own (checked against this chat template) or rendered."""
    from training.data import sft_example
    from training.sft import prompt_completions

    if isinstance(row.get("prompt"), str):
        return prompt_completions({**row, "completion": row.get("completion", "")}, tokenizer, opening)[0]["prompt"]
    if not all(isinstance(row.get(k), str) for k in ("path", "diff_hunk")):
        raise StageError(f"row {row.get('id', '?')}: needs prompt, or path and diff_hunk")
    return sft_example(tokenizer, row["path"], row["diff_hunk"], "")["prompt"]


def build_pairs(model: Any, loaded: Any, config: DPORunConfig) -> list[dict[str, Any]]:
    from training.data import generation_prompt, read_rows, turn_end

    tokenizer, end, opening = loaded.tokenizer, turn_end(loaded.tokenizer), generation_prompt(loaded.tokenizer)
    rows = []
    for index, row in enumerate(read_rows(config.data)):
        if config.limit and len(rows) >= config.limit:
            break
        reference = row.get("haiku") or str(row.get("completion", "")).removesuffix(end)
        rows.append((str(row.get("id", index)), row_prompt(row, tokenizer, opening), reference))
    samples = sample_answers(model, tokenizer, [p for _, p, _ in rows], loaded.eos_ids, config)
    pairs = [pair for (row_id, prompt, reference), texts in zip(rows, samples)
             for pair in preference_pairs(row_id, prompt, texts, reference, end, config.pairs_per_prompt)]
    if not pairs:
        raise StageError("no preference pairs: every prompt's samples were all valid (nothing to "
                         "reject) or all invalid with no valid reference haiku")
    return pairs


def read_pairs(path: str) -> list[dict[str, Any]]:
    from training.data import read_rows

    pairs = list(read_rows(path))
    for number, pair in enumerate(pairs, 1):
        if not all(isinstance(pair.get(k), str) and pair[k] for k in ("prompt", "chosen", "rejected")):
            raise StageError(f"{path}: pair {number} needs non-empty prompt, chosen and rejected")
    if not pairs:
        raise StageError(f"{path}: no pairs")
    return pairs


def tokenized(pairs: Sequence[dict[str, Any]], tokenizer: Any, max_length: int) -> Any:
    """trl's DPO columns, tokenized as in SFT (no special tokens added, no merge across the boundary)."""
    from datasets import Dataset

    from training.sft import tokenize

    rows = []
    for pair in pairs:
        ids = {"prompt_ids": tokenize(tokenizer, pair["prompt"]),
               "chosen_ids": tokenize(tokenizer, pair["chosen"]),
               "rejected_ids": tokenize(tokenizer, pair["rejected"])}
        longest = len(ids["prompt_ids"]) + max(len(ids["chosen_ids"]), len(ids["rejected_ids"]))
        if longest <= max_length:
            rows.append({k: list(v) for k, v in ids.items()})
    if not rows:
        raise StageError(f"every pair is longer than max_length {max_length}")
    return Dataset.from_list(rows)


# ----------------------------------------------------------------------------- training


def make_trainer_class() -> type:
    from trl import DPOTrainer

    class HaikuDPOTrainer(DPOTrainer):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            # Already tokenized by training.dpo.tokenized: trl's own pass would add a second BOS
            # to the rendered prompt and an <eos> after the end-of-turn marker.
            return dataset

    return HaikuDPOTrainer


def load_policy(config: DPORunConfig, device: str) -> tuple[Any, Any]:
    """The base model with the SFT adapter attached, trainable."""
    from peft import PeftModel

    from training.sft import SFTRunConfig, load_base

    base_config = SFTRunConfig(model=config.model, quantization=config.quantization,
                               precision=config.precision)
    loaded, base = load_base(base_config, device)
    if not (Path(config.adapter) / "adapter_config.json").exists():
        raise StageError(f"{config.adapter}: not an adapter folder (no adapter_config.json)")
    return loaded, PeftModel.from_pretrained(base, config.adapter, is_trainable=True)


def dpo_args(config: DPORunConfig, out: Path, device: str, bf16: bool) -> Any:
    from trl import DPOConfig

    from training.sft import checkpointing

    world = int(os.environ.get("WORLD_SIZE", 1))
    return DPOConfig(
        output_dir=str(out / "checkpoints"), num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1, per_device_train_batch_size=config.per_device_batch,
        gradient_accumulation_steps=max(1, config.effective_batch // (config.per_device_batch * world)),
        learning_rate=config.lr, warmup_steps=config.warmup, beta=config.beta, loss_type=["sigmoid"],
        logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True, seed=config.seed,
        **checkpointing(DPOConfig, False), max_length=None, use_cpu=device == "cpu",
        bf16=bf16 and device.startswith("cuda"), dataloader_num_workers=0)


def train(config: DPORunConfig) -> dict[str, Any]:
    import torch

    from training.sft import (last_loss, progress_callback, quiet, save_adapter, training_device,
                              use_bf16, write_loss_curve)

    torch.manual_seed(config.seed)
    out, device = Path(config.out), training_device(config.device)
    loaded, policy = load_policy(config, device)
    pairs = read_pairs(config.pairs) if config.pairs else build_pairs(policy, loaded, config)
    write_jsonl(out / "pairs.jsonl", pairs)
    curve = progress_callback("dpo")
    bf16 = use_bf16(config.precision, device)
    trainer = quiet(make_trainer_class()(
        model=policy, args=dpo_args(config, out, device, bf16),
        train_dataset=tokenized(pairs, loaded.tokenizer, config.max_length),
        processing_class=loaded.tokenizer, callbacks=[curve]))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    stats = {"pairs": len(pairs), "steps": trainer.state.global_step, "seconds": round(seconds, 1),
             "seconds_per_step": round(seconds / max(trainer.state.global_step, 1), 2),
             "chosen_from_samples": sum(p.get("chosen_source") == "sample" for p in pairs),
             "final_loss": last_loss(curve.rows), "device": device}
    if trainer.is_world_process_zero():
        save_adapter(trainer.model, out, base_model=config.model, selected_adapters=["default"])
        write_json(out / "train_stats.json", stats)
        write_loss_curve(curve.rows, out, f"DPO (beta {config.beta:g}) on {config.adapter}", "DPO loss")
        save_resolved(config, out / "dpo_config.yaml", stage="dpo", stats=stats)
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    def body() -> int:
        config = parse_config(DPORunConfig, argv, PROG, "Form-preference DPO on the SFT adapter.")
        print(json.dumps({"out": config.out, **train(config)}))
        return 0
    return run_main(body, PROG)


if __name__ == "__main__":
    sys.exit(main())
