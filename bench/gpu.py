"""GPU speed of Gemma 4 E4B for the reviewer: bf16, NF4 and 8-bit, plain and syllable-constrained.

    python bench/gpu.py                        # full on a CUDA GPU, the CPU smoke test elsewhere
    python bench/gpu.py --mode smoke           # toy model, small batches, few tokens, on a CPU
    python bench/gpu.py --bandwidth-gbs 3350 --modes bf16,4bit --variants static
    python bench/gpu.py --summarize bench/results/gpu-nvidia-h200-....json   # the table of a saved run
    bash bench/gpu_run.sh .whl                 # what a session with a GPU runs (docs/gpu.md)

The model is E4B's architecture with random weights (bench/gpu_model.py says why and where each
configuration value comes from), saved once and loaded through reviewer.models.load_model with
each quantization. For every quantization and batch size (full: 1, 8, 32; smoke: 1, 2):

* prefill: one forward pass over the batch's prompts (real hunk prompts, rendered as the
  reviewer renders them), tokens per second;
* decode, plain: N greedy tokens with EOS ignored, tokens per second and ms per step;
* decode, constrained: the same with reviewer.constrain's processor on, rows ending at their
  EOS as in the product; the processor's own time (and, apart, its wait for the GPU), its share
  of the run, and the extra ms per step over the plain run;
* bytes of weights one decode step reads (measured: the modules that ran), and decode speed as
  a fraction of the bandwidth bound, device bandwidth / bytes per step (weights only: KV-cache
  reads are left out, so the true fraction is a little higher);
* peak GPU memory (the quantization's load and every run).

Speed options (``--variants``), measured on bf16 at the plan's option batch size (full: 8) beside
the default cache's run at that size: ``static`` (``cache_implementation="static"``, uncompiled)
and ``static+compile`` (transformers then compiles the decode step with torch.compile, CUDA
graphs included; CUDA only; ``first_call_s`` holds the compile). ``host_syncs`` names the places where
the constrained decoder reads tensors back on the host each step, with counts per step measured
in a short run (on a GPU, each such read waits for the step's kernels). ``e2e`` times one whole
PR: 16 hunks through reviewer.compose (greedy round, then the revise round), batched as one
generate call per round, with a random LoRA attached to the NF4 model (the documented GPU runner).
bench/gpu_train.py adds the training chain's part (``training``), on a GPU only.

A time budget (``--budget-s``) skips, and records as skipped, what would not fit, so one call
always ends with its JSON. Results go to bench/results/gpu-<device>-<date>.json (smoke runs end
in -smoke, which git ignores); the last line printed is the same JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import gpu_measure as measure  # noqa: E402
from bench.gpu_model import build_checkpoint  # noqa: E402
from bench.gpu_sections import QUANTIZATIONS, Context, attempt, run_e2e, run_quantization, run_speed_options  # noqa: E402

# Memory bandwidth by device name (lower case, first match wins), GB/s, from the vendors' datasheets.
BANDWIDTH_GBS = (
    ("h200", 4800), ("h100 nvl", 3900), ("h100 pcie", 2000), ("h100", 3350), ("a100-sxm4-80gb", 2039),
    ("a100 80gb pcie", 1935), ("a100", 1555), ("l40s", 864), ("l4", 300), ("a10g", 600), ("t4", 320),
    ("v100", 900), ("rtx 4090", 1008),
)


@dataclass(frozen=True)
class Plan:
    size: str  # bench/gpu_model.SIZES
    batches: tuple[int, ...]
    quantized_batches: tuple[int, ...]  # bitsandbytes' CPU kernels are slow: the smoke test runs fewer
    new_tokens: int  # plain runs write this many; constrained runs stop at EOS or here
    option_batches: tuple[int, ...]  # within batches: the default cache's run there is the baseline
    e2e_hunks: int
    e2e_max_new_tokens: int
    e2e_candidates: int  # samples per hunk in the revise round
    budget_s: float  # bench/gpu_run.sh's timeout leaves room for the section running at the deadline


PLANS = {  # full: the product's settings (GenerationConfig: 40 new tokens, 4 candidates), a 16-hunk PR
    "full": Plan("e4b", (1, 8, 32), (1, 8, 32), 40, (8,), 16, 40, 4, 230.0),
    "smoke": Plan("smoke", (1, 2), (1,), 6, (2,), 2, 12, 2, 900.0),  # a behaviour test: nothing skipped
}


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    if args.summarize:
        print(summarize(json.loads(Path(args.summarize).read_text(encoding="utf-8"))))
        return 0
    quiet()
    device = args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
    mode = args.mode if args.mode != "auto" else "full" if device.startswith("cuda") else "smoke"
    plan = PLANS[mode]
    started, now = time.perf_counter(), datetime.now(timezone.utc)
    facts, gbs = device_facts(device, args.bandwidth_gbs)
    path = results_path(Path(args.results_dir), facts["name"] if device.startswith("cuda") else "cpu", mode, now)
    result: dict[str, Any] = {
        "bench": "gpu", "mode": mode, "date": now.isoformat(timespec="seconds"), "git_commit": git_commit(),
        "device": facts, "plan": asdict(plan), "results_file": str(path), "model": {}, "host_syncs": {},
        "runs": {}, "e2e": {}, "training": {"status": "skipped", "reason": "bench/gpu_train.py adds it"}}
    budget = args.budget_s if args.budget_s is not None else plan.budget_s
    ctx = Context(args, plan, device, gbs, time.monotonic() + budget, result, path)
    attempt(ctx, f"build the {plan.size} checkpoint", result["model"], 0, lambda out: build(ctx, out))
    if result["model"]["status"] == "ok":  # in order of importance, since the budget may run out
        for name in filter(None, args.modes.split(",")):
            attempt(ctx, name, result["runs"].setdefault(name, {}), 30 if plan.size == "e4b" else 0,
                    lambda out, name=name: run_quantization(ctx, name, out))
            if not result["e2e"] and QUANTIZATIONS[name] == args.e2e_quantization:
                e2e(ctx)  # right after its quantization, before slower ones
        if not result["e2e"]:
            e2e(ctx)
        for name in filter(None, args.option_modes.split(",")):
            if name in result["runs"]:
                speed_options(ctx, name)
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    ctx.save()
    print(summarize(result), file=sys.stderr)
    print(json.dumps(result))
    return 0 if result["model"]["status"] == "ok" else 1


def build(ctx: Context, out: dict[str, Any]) -> None:
    started = time.perf_counter()
    ctx.built = build_checkpoint(Path(ctx.args.work_dir), ctx.plan.size, ctx.device)
    ctx.prompts = hunk_prompts(max(ctx.plan.batches))
    out.update(ctx.built.facts, build_s=round(time.perf_counter() - started, 2), model_dir=str(ctx.built.model_dir),
               adapter_dir=str(ctx.built.adapter_dir))
    gc.collect()  # the built model's last references (peft's wrapper) before the loads
    measure.reset_peak(ctx.device)


def e2e(ctx: Context) -> None:
    if ctx.args.no_e2e:
        ctx.result["e2e"].update(status="skipped", reason="--no-e2e")
        return
    attempt(ctx, f"one PR of {ctx.plan.e2e_hunks} hunks", ctx.result["e2e"], 45 if ctx.plan.size == "e4b" else 0,
            lambda out: out.update(run_e2e(ctx)))
    measure.reset_peak(ctx.device)


def speed_options(ctx: Context, name: str) -> None:
    try:
        run_speed_options(ctx, name)
    except Exception as err:  # noqa: BLE001 - the model did not load again; each option says so
        for variant in filter(None, ctx.args.variants.split(",")):
            for size in ctx.plan.option_batches:
                ctx.result["runs"][name]["options"].setdefault(f"{variant}@{size}", {}).update(
                    status="error", error=f"{type(err).__name__}: {str(err).strip()[:300]}")
    ctx.save()


def hunk_prompts(count: int) -> list:
    """The reviewer's prompts for ``count`` of the project's own hunks, as with an adapter (no examples)."""
    from bench.generate import own_hunks
    from reviewer.prompt import build_prompt

    return [build_prompt(hunk, few_shot=0) for hunk in own_hunks(count)]


def quiet() -> None:
    """Progress bars and per-layer warnings would bury the output (the device tool returns its tail)."""
    import logging

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # "MatMul8bitLt: inputs will be cast...", per layer


# ----------------------------------------------------------------------------- device and results


def bandwidth_for(name: str) -> tuple[float, str] | None:
    """(GB/s, the table's key) for a device name as torch reports it, or None."""
    return next(((float(gbs), key) for key, gbs in BANDWIDTH_GBS if key in name.lower()), None)


def device_facts(device: str, flag_gbs: float | None) -> tuple[dict[str, Any], float | None]:
    import torch

    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else (platform.processor() or "cpu")
    gbs, source = flag_gbs, "--bandwidth-gbs" if flag_gbs else None
    found = bandwidth_for(name) if device.startswith("cuda") else None
    if gbs is None and found:
        gbs, source = found[0], f"table: {found[1]} (vendor datasheet)"
    facts = {"device": device, "name": name, "bandwidth_gbs": gbs, "bandwidth_source": source,
             "cuda": torch.version.cuda, "python": platform.python_version(), **versions()}
    if gbs is None:
        facts["bandwidth_note"] = "unknown device: pass --bandwidth-gbs for the bandwidth fractions"
    return facts, gbs


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for package in ("torch", "transformers", "peft", "accelerate", "bitsandbytes"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None  # the device machine gets the working tree without its .git


def results_path(directory: Path, device_name: str, mode: str, now: datetime) -> Path:
    slug = "-".join("".join(c if c.isalnum() else " " for c in device_name.lower()).split()) or "device"
    return directory / f"gpu-{slug}-{now:%Y-%m-%d-%H%M%S}{'-smoke' if mode == 'smoke' else ''}.json"


def summarize(result: dict[str, Any]) -> str:
    """A few lines a person reads first; the JSON holds everything."""
    device, model = result["device"], result["model"]
    lines = [f"{result['mode']} bench, {model.get('size')} model ({model.get('parameters', 0) / 1e6:,.1f}M "
             f"parameters, random weights) on {device['name']}, bandwidth {device['bandwidth_gbs']} GB/s"]
    lines.append("run    batch              prefill tok/s  decode tok/s  step ms  bw frac | constrained tok/s  "
                 "step ms  processor share  +ms/step")
    for name, run in result["runs"].items():
        if run.get("status") != "ok":
            lines.append(f"{name:6} {run.get('status')}: {run.get('reason') or run.get('error')}")
            continue
        figures = {**run.get("batches", {}), **run.get("options", {})}
        for key, batch in figures.items():
            if batch.get("status") != "ok":
                lines.append(f"{name:6} {key:18} {batch.get('status')}: {batch.get('reason') or batch.get('error')}")
                continue
            plain, con = batch["plain"], batch["constrained"]
            lines.append(f"{name:6} {key:18} {batch['prefill_tokens_per_s']:>13} {plain['decode_tokens_per_s']!s:>13} "
                         f"{plain['step_ms']!s:>8} {plain.get('bandwidth_fraction', '-')!s:>8} | "
                         f"{con['decode_tokens_per_s']!s:>17} {con['step_ms']!s:>8} {con['processor_share']:>16} "
                         f"{con['overhead_per_step_ms']!s:>9}")
        lines.append(f"{name:6} weights read per step {run['weight_bytes_per_step'] / 1e9:.3f} GB, "
                     f"peak GPU memory {run.get('peak_gpu_gib')} GiB, load {run['load_s']} s")
    syncs = result["host_syncs"]
    if syncs.get("status") == "ok":
        lines.append(f"constrained decoder: {syncs['host_reads_per_step']} host reads per step "
                     f"{syncs['host_reads_by_method']}, CUDA syncs per step {syncs['cuda_syncs_per_step']}")
    e2e = result["e2e"]
    if e2e.get("status") == "ok":
        lines.append(f"one PR: {e2e['hunks']} hunks, {e2e['quantization']} + {e2e['adapter']}: {e2e['seconds']} s, "
                     f"{e2e['generate_calls']} generate calls, peak {e2e['peak_gib']} GiB")
    else:
        lines.append(f"one PR: {e2e.get('status')}: {e2e.get('reason') or e2e.get('error')}")
    training = result.get("training", {})
    for stage in ("sft", "dpo"):
        if stage in training:
            part = training[stage]
            lines.append(f"training.{stage} on {training.get('model')}: {part.get('status')}, {part.get('seconds')} s, "
                         f"peak {part.get('peak_gpu_gib')} GiB")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("auto", "full", "smoke"), default="auto",
                        help="auto: full on a CUDA GPU, smoke elsewhere")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1...")
    parser.add_argument("--bandwidth-gbs", type=float, default=None,
                        help="device memory bandwidth, GB/s (default: looked up by GPU name; H200 4800)")
    parser.add_argument("--modes", default="bf16,4bit,8bit", help="quantizations to run, in this order")
    parser.add_argument("--option-modes", default="bf16", help="quantizations on which the speed options run")
    parser.add_argument("--variants", default="static,static+compile",
                        help="speed options at the plan's option batch sizes (the default cache's run is "
                             "batches[size]); empty for none")
    parser.add_argument("--e2e-quantization", default="4bit", choices=("none", "4bit", "8bit"))
    parser.add_argument("--no-e2e", action="store_true")
    parser.add_argument("--budget-s", type=float, default=None, help="seconds after which sections are skipped")
    parser.add_argument("--work-dir", default="/tmp/lgtm575-gpu-bench", help="where the random checkpoint goes")
    parser.add_argument("--results-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--summarize", default="", help="print the summary of a saved results file and stop")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
