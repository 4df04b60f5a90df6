"""The sections of bench/gpu.py: one quantization at each batch size, the speed options, the
constrained decoder's host syncs, and one end-to-end PR. Each fills its part of the results as it
goes (``attempt``), so a run stopped from outside still leaves every finished figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench import gpu_measure as measure
from bench.gpu_model import PriorProcessor

QUANTIZATIONS = {"bf16": "none", "4bit": "4bit", "8bit": "8bit"}  # result name -> load_model's


class Skipped(Exception):
    """A section that cannot run on this device: recorded with its reason, not as a failure."""


@dataclass
class Context:
    args: argparse.Namespace
    plan: Any  # bench/gpu.py's Plan
    device: str
    bandwidth_gbs: float | None
    deadline: float  # time.monotonic() after which sections are skipped
    result: dict[str, Any]
    path: Path
    built: Any = None  # bench/gpu_model.Built
    prompts: list | None = None  # reviewer.prompt.Prompt, one per hunk

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.result, indent=1) + "\n", encoding="utf-8")


def attempt(ctx: Context, label: str, out: dict[str, Any], need_s: float, run: Callable[[dict], Any]) -> None:
    """Run one section, which fills ``out``; the results file is rewritten before and after, so an
    outer timeout leaves what was measured and names the section it cut ("status": "running").
    Too little time left is a skip, a failure is recorded: neither ends the bench."""
    if ctx.left() < need_s:
        out.update(status="skipped", reason=f"time budget: {ctx.left():.0f} s left, about {need_s:.0f} s needed")
        return
    print(f"bench: {label} ({ctx.left():.0f} s of budget left)", file=sys.stderr, flush=True)
    out["status"] = "running"
    ctx.save()
    started = time.perf_counter()
    try:
        run(out)
        out["status"] = "ok"
    except Skipped as why:
        out.update(status="skipped", reason=str(why))
    except Exception as err:  # noqa: BLE001 - recorded in the JSON, the next section still runs
        print(traceback.format_exc(), file=sys.stderr)
        out.update(status="error", error=f"{type(err).__name__}: {str(err).strip()[:400]}")
    out["section_s"] = round(time.perf_counter() - started, 2)
    ctx.save()


def encode(loaded: Any, prompts: list, device: str) -> Any:
    """Prompts as the transformers backend sends them: chat template, left padding, no extra BOS."""
    from reviewer.models import render_prompt

    texts = [render_prompt(loaded.tokenizer, prompt) for prompt in prompts]
    return loaded.tokenizer(texts, return_tensors="pt", padding=True, padding_side="left",
                            add_special_tokens=False).to(device)


def pad_id(loaded: Any) -> int:
    pad = loaded.tokenizer.pad_token_id
    return pad if pad is not None else loaded.eos_ids[0]


def constraint_processor(loaded: Any, prompts: list, length: int, device: str, **options: Any) -> Any:
    """reviewer.constrain's processor for these prompts (their hunks' words), timed."""
    from reviewer.backends.base import FormConstraint
    from reviewer.constrain import build_processor

    inner = build_processor(loaded.tokenizer, [FormConstraint(words=p.words) for p in prompts], length,
                            list(loaded.eos_ids))
    return measure.TimedProcessor(inner, device, **options)


# ----------------------------------------------------------------------------- one batch size


def measure_batch(ctx: Context, loaded: Any, size: int, variant: str, bytes_per_step: int) -> dict[str, Any]:
    """Prefill, plain decode and constrained decode of the first ``size`` prompts (module doc of
    bench/gpu_measure: one cache shape for all of them)."""
    prompts = ctx.prompts[:size]
    batch = encode(loaded, prompts, ctx.device)
    length = batch["input_ids"].shape[1]
    prior = PriorProcessor(ctx.built.bias)
    common = {"new_tokens": ctx.plan.new_tokens, "variant": variant, "eos_ids": loaded.eos_ids,
              "pad_id": pad_id(loaded)}

    def generate(**options: Any) -> tuple[float, Any]:
        return measure.run_generate(loaded.model, batch, ctx.device, **common, **options)

    first_s, _ = generate(stop_after=3, processors=[prior])  # kernels, and the compile if any
    prefill_s = min(generate(stop_after=1, processors=[prior])[0] for _ in range(2))
    plain_s, _ = generate(processors=[prior], fixed=True)
    steps = ctx.plan.new_tokens - 1
    plain = decode_figures(size, steps * size, steps, plain_s - prefill_s, bytes_per_step, ctx.bandwidth_gbs)

    processor = constraint_processor(loaded, prompts, length, ctx.device)
    constrained_s, output = generate(processors=[prior, processor])
    tokens, ended = measure.generated_tokens(output, length, loaded.eos_ids, pad_id(loaded))
    c_steps = max(output.shape[1] - length - 1, 1)  # each row's first token came from the prefill
    constrained = decode_figures(size, tokens - size, c_steps, constrained_s - prefill_s, bytes_per_step,
                                 ctx.bandwidth_gbs)
    both = None not in (constrained["step_ms"], plain["step_ms"])
    constrained.update(
        seconds=round(constrained_s, 4), rows_ended_on_eos=ended, processor_s=round(processor.work_s, 4),
        processor_wait_for_gpu_s=round(processor.wait_s, 4),
        processor_share=round(processor.work_s / constrained_s, 4),
        overhead_per_step_ms=round(constrained["step_ms"] - plain["step_ms"], 3) if both else None,
        decoder_stats={k: v for k, v in processor.stats.items() if k != "seconds"})
    prompt_tokens = int(batch["attention_mask"].sum())
    return {"variant": variant, "batch": size, "prompt_tokens": prompt_tokens, "padded_prompt_length": length,
            "first_call_s": round(first_s, 3), "prefill_s": round(prefill_s, 4),
            "prefill_tokens_per_s": round(prompt_tokens / prefill_s, 1),
            "plain": {"seconds": round(plain_s, 4), **plain}, "constrained": constrained,
            "peak_gpu_gib": measure.memory(ctx.device)["peak_gib"]}  # since this quantization's load


def decode_figures(batch: int, tokens: int, steps: int, seconds: float, bytes_per_step: int,
                   bandwidth_gbs: float | None) -> dict[str, Any]:
    """Speed of ``steps`` decode steps writing ``tokens`` in ``seconds``, and the fraction of the
    bandwidth bound (bandwidth / weight bytes per step, in steps per second) it reaches."""
    figures: dict[str, Any] = {"tokens": tokens, "steps": steps}
    if seconds <= 0:  # the run minus its prefill: happens only on a noisy host; no speed to report
        return {**figures, "decode_tokens_per_s": None, "step_ms": None, "note": "decode time below timing noise"}
    figures.update(decode_tokens_per_s=round(tokens / seconds, 2), step_ms=round(1000 * seconds / steps, 3))
    if bandwidth_gbs:
        bound_steps_per_s = bandwidth_gbs * 1e9 / bytes_per_step
        figures["bandwidth_bound_tokens_per_s"] = round(bound_steps_per_s * batch, 1)
        figures["bandwidth_fraction"] = round((steps / seconds) / bound_steps_per_s, 4)
    return figures


# ----------------------------------------------------------------------------- one quantization


def run_quantization(ctx: Context, name: str, out: dict[str, Any]) -> None:
    """Load with one quantization through reviewer.models.load_model and measure each batch size
    into ``out``. bitsandbytes failing off a GPU is a skip with its reason."""
    try:
        _measure_quantization(ctx, name, out)
    except Exception as err:
        if QUANTIZATIONS[name] == "none" or ctx.device.startswith("cuda"):
            raise
        raise Skipped(f"bitsandbytes {name} on {ctx.device}: {type(err).__name__}: {str(err).strip()[:300]}") from err
    finally:
        out["peak_gpu_gib"] = measure.memory(ctx.device)["peak_gib"]
        gc.collect()
        measure.reset_peak(ctx.device)


def _measure_quantization(ctx: Context, name: str, out: dict[str, Any]) -> None:
    from reviewer.models import load_model

    measure.reset_peak(ctx.device)
    started = time.perf_counter()
    loaded = load_model(str(ctx.built.model_dir), adapter="none", quantization=QUANTIZATIONS[name], device=ctx.device)
    out.update(load_s=round(time.perf_counter() - started, 2), dtype=loaded.description["dtype"],
               weights_gib=measure.memory(ctx.device)["allocated_gib"])
    one = encode(loaded, ctx.prompts[:1], ctx.device)
    out.update(measure.weight_bytes_per_step(loaded.model, one, ctx.device, loaded.eos_ids, pad_id(loaded)))
    per_step = out["weight_bytes_per_step"]
    if ctx.bandwidth_gbs:
        out["bandwidth_bound_steps_per_s"] = round(ctx.bandwidth_gbs * 1e9 / per_step, 1)
    if ctx.result["host_syncs"].get("status") != "ok":
        attempt(ctx, f"{name}: host syncs", ctx.result["host_syncs"], 0,
                lambda into: into.update(measure_host_syncs(ctx, loaded)))
    need = 15 if ctx.plan.size == "e4b" else 0
    out["batches"] = {}
    for size in ctx.plan.batches if QUANTIZATIONS[name] == "none" else ctx.plan.quantized_batches:
        attempt(ctx, f"{name}: batch {size}", out["batches"].setdefault(str(size), {}), need,
                lambda into, size=size: into.update(measure_batch(ctx, loaded, size, "default", per_step)))


def run_speed_options(ctx: Context, name: str) -> None:
    """Each speed option (--variants) at each option batch size, into runs[name]["options"];
    runs[name]["batches"][size] is the default cache's run to compare with. A pass of its own,
    after every quantization's default runs, since compiling may take minutes of the budget."""
    from reviewer.models import load_model

    run = ctx.result["runs"][name]
    options = run.setdefault("options", {})
    keys = [(variant, size) for variant in filter(None, ctx.args.variants.split(","))
            for size in ctx.plan.option_batches]
    if run.get("status") != "ok" or not keys:
        return
    loaded = load_model(str(ctx.built.model_dir), adapter="none", quantization=QUANTIZATIONS[name], device=ctx.device)
    try:
        for variant, size in keys:
            into = options.setdefault(f"{variant}@{size}", {})
            if variant == "static+compile" and not ctx.device.startswith("cuda"):
                into.update(status="skipped", reason="transformers compiles the decode step on accelerators "
                            "only; on a CPU a static cache runs uncompiled")
                continue
            need = 120 if variant == "static+compile" and ctx.plan.size == "e4b" else 0  # compiling takes minutes
            attempt(ctx, f"{name}: {variant} at batch {size}", into, need, lambda into, v=variant, s=size: into.update(
                measure_batch(ctx, loaded, s, v, run["weight_bytes_per_step"])))
    finally:
        loaded = None  # free the weights before the next load
        gc.collect()
        measure.reset_peak(ctx.device)


def measure_host_syncs(ctx: Context, loaded: Any) -> dict[str, Any]:
    """A short constrained run with tensor reads counted inside the processor (gpu_measure)."""
    prompts = ctx.prompts[:2]
    batch = encode(loaded, prompts, ctx.device)
    processor = constraint_processor(loaded, prompts, batch["input_ids"].shape[1], ctx.device, count_reads=True)
    measure.run_generate(loaded.model, batch, ctx.device, new_tokens=8, eos_ids=loaded.eos_ids,
                         pad_id=pad_id(loaded), processors=[PriorProcessor(ctx.built.bias), processor])
    calls = max(processor.calls, 1)
    return {
        "steps": processor.calls, "rows": len(prompts),
        "host_reads_per_step": round(sum(processor.reads.values()) / calls, 2),
        "host_reads_by_method": dict(processor.reads),
        "cuda_syncs_per_step": round(processor.cuda_syncs / calls, 2) if ctx.device.startswith("cuda") else None,
        "sites": measure.sync_sites(),
        "note": "tensor reads to Python inside reviewer.constrain's processor, per generate step; on a GPU each "
                "one waits for the step's kernels (a host sync), so the processor's host work cannot overlap "
                "the next forward pass. Indexing a GPU tensor with a Python list (a site above) also copies "
                "that list to the device, once per constrained row and step.",
    }


# ----------------------------------------------------------------------------- one pull request


def run_e2e(ctx: Context) -> dict[str, Any]:
    """One PR of ``e2e_hunks`` hunks through reviewer.compose: a greedy constrained round, then a
    revise round of sampled candidates for hunks without a valid haiku, every round one batched
    generate call (batch size = the PR's hunks), the random LoRA on the model (attached when
    quantized, merged at load otherwise: what reviewer.models does)."""
    from bench.generate import own_hunks
    from reviewer.backends.base import GenerationRequest
    from reviewer.compose import compose_hunks
    from reviewer.config import GenerationConfig
    from reviewer.results import HaikuComment

    quantization, adapter, hunks = ctx.args.e2e_quantization, str(ctx.built.adapter_dir), own_hunks(ctx.plan.e2e_hunks)
    started = time.perf_counter()
    backend = prior_backend(PriorProcessor(ctx.built.bias), model=str(ctx.built.model_dir), adapter=adapter,
                            quantization=quantization, device=ctx.device, batch_size=len(hunks))
    load_s = time.perf_counter() - started
    config = GenerationConfig(adapter=adapter, quantization=quantization, batch_size=len(hunks),
                              max_new_tokens=ctx.plan.e2e_max_new_tokens, candidates=ctx.plan.e2e_candidates)
    backend.generate(ctx.prompts[:1], GenerationRequest(max_new_tokens=2))  # warm-up: the LoRA path's first call
    backend.usage = type(backend.usage)()
    started = time.perf_counter()
    outcomes = compose_hunks(hunks, backend, config)
    measure.sync(ctx.device)
    seconds = time.perf_counter() - started
    usage = backend.usage
    return {"hunks": len(hunks), "quantization": quantization, "load_s": round(load_s, 2),
            "adapter": "random LoRA, " + ("attached" if quantization != "none" else "merged at load"),
            "seconds": round(seconds, 3), "seconds_per_hunk": round(seconds / len(hunks), 4),
            "generate_calls": usage.extra.get("calls", 0), "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "decoder_s": round(usage.extra.get("decoder_seconds", 0.0), 4),
            "haiku_posted": sum(isinstance(o, HaikuComment) for o in outcomes),
            "note": "random weights with the bench's language prior: the haiku count says nothing of quality",
            **measure.memory(ctx.device)}


def prior_backend(prior: PriorProcessor, **options: Any) -> Any:
    """The transformers backend (its own loading and generate), with the bench's prior placed
    before the constrained decoder in every constrained call."""
    from reviewer.backends.transformers_backend import TransformersBackend

    device = options["device"]

    class PriorBackend(TransformersBackend):
        def _constraint_processor(self, request, rows, copies, prompt_length):  # noqa: ANN001, ANN202
            inner = super()._constraint_processor(request, rows, copies, prompt_length)
            self.usage.extra["calls"] = self.usage.extra.get("calls", 0) + 1
            return None if inner is None else _Chain(prior, measure.TimedProcessor(inner, device))

    return PriorBackend(**options)


class _Chain:
    """Two logits processors as one (the backend takes one); ``stats`` are the second's."""

    def __init__(self, first: Any, second: Any) -> None:
        self.first, self.second = first, second

    @property
    def stats(self) -> dict[str, Any]:
        return self.second.stats

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        return self.second(input_ids, self.first(input_ids, scores))
