"""Timing pieces for bench/gpu.py: prefill and decode speed, the constrained decoder's cost and its
host syncs, bytes of weights read per decode step, peak GPU memory.

Every generate call of one batch size uses the same ``max_new_tokens``, so a static KV cache keeps
one shape (a compiled decode step is not recompiled between the runs); shorter runs stop through a
stopping criterion instead. Prefill is timed as a run stopped after its first token (one forward
pass over the prompt); decode speed is the rest of a run of N tokens: (N - 1) steps.
"""

from __future__ import annotations

import inspect
import re
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

# Tensor methods that hand a value to Python: on a GPU each waits for every queued kernel.
HOST_READS = ("tolist", "item", "cpu", "numpy", "__bool__", "__int__", "__float__")
_SYNC_SITE = re.compile(r"\.(tolist|item|cpu|numpy)\(\)|\bbool\(")
_LIST_INDEX_SITE = re.compile(r"\w+\[\w+, \w+\] = ")  # a device tensor indexed by a Python list


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


class StopAfter:
    """A stopping criterion: every row stops once ``new`` tokens follow the prompt."""

    def __init__(self, prompt_length: int, new: int) -> None:
        self.end = prompt_length + new

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), input_ids.shape[1] >= self.end, dtype=torch.bool,
                          device=input_ids.device)


class TimedProcessor:
    """Wraps the constrained decoder: time spent waiting for the GPU to finish the step's forward
    pass (its first host read would wait the same) apart from the processor's own work."""

    def __init__(self, inner: Any, device: str, count_reads: bool = False) -> None:
        self.inner, self.device, self.count_reads = inner, device, count_reads
        self.wait_s = self.work_s = 0.0
        self.calls = 0
        self.reads: Counter = Counter()
        self.cuda_syncs = 0

    @property
    def stats(self) -> dict[str, Any]:
        return self.inner.stats

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        started = time.perf_counter()
        sync(self.device)
        waited = time.perf_counter()
        if self.count_reads:
            with counting_host_reads(self.reads), cuda_sync_warnings(self.device) as caught:
                out = self.inner(input_ids, scores)
            self.cuda_syncs += len(caught)
        else:
            out = self.inner(input_ids, scores)
        self.wait_s += waited - started
        self.work_s += time.perf_counter() - waited
        self.calls += 1
        return out


@contextmanager
def counting_host_reads(counts: Counter) -> Iterator[Counter]:
    """Count calls of HOST_READS on tensors while the block runs (the methods are patched back)."""
    import torch

    saved = {name: (getattr(torch.Tensor, name), name in torch.Tensor.__dict__) for name in HOST_READS}

    def counted(name: str, method: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return method(self, *args, **kwargs)
        return wrapper

    for name, (method, _) in saved.items():
        setattr(torch.Tensor, name, counted(name, method))
    try:
        yield counts
    finally:
        for name, (method, own) in saved.items():
            if own:
                setattr(torch.Tensor, name, method)
            else:
                delattr(torch.Tensor, name)


@contextmanager
def cuda_sync_warnings(device: str) -> Iterator[list]:
    """On CUDA, PyTorch's own sync debug mode: one warning per synchronizing call in the block."""
    if not device.startswith("cuda"):
        yield []
        return
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield caught
        finally:
            torch.cuda.set_sync_debug_mode("default")
    caught[:] = [w for w in caught if "synchroniz" in str(w.message).lower()]


def sync_sites() -> list[str]:
    """Lines of reviewer.constrain's processor that read tensors on the host or index a tensor
    with a Python list (a host-to-device copy): a source scan beside the measured counts."""
    from reviewer.constrain import SyllableBudgetProcessor

    lines, first = inspect.getsourcelines(SyllableBudgetProcessor)
    return [f"reviewer/constrain.py:{first + i}: {line.strip()}" for i, line in enumerate(lines)
            if _SYNC_SITE.search(line) or _LIST_INDEX_SITE.search(line)]


# ----------------------------------------------------------------------------- generate, timed


def run_generate(model: Any, batch: Any, device: str, *, new_tokens: int, stop_after: int | None = None,
                 processors: Sequence[Any] = (), fixed: bool = False, variant: str = "default",
                 eos_ids: Sequence[int] = (), pad_id: int = 0) -> tuple[float, Any]:
    """One greedy generate call: (seconds, output ids). ``fixed`` ignores EOS for exactly
    ``new_tokens`` tokens (plain speed runs); ``variant`` is dynamic, static or static+compile."""
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList

    prompt_length = batch["input_ids"].shape[1]
    options: dict[str, Any] = {
        "max_new_tokens": new_tokens, "do_sample": False, "temperature": None, "top_p": None, "top_k": None,
        "eos_token_id": list(eos_ids), "pad_token_id": pad_id, "logits_processor": LogitsProcessorList(processors)}
    if fixed:
        options["min_new_tokens"] = new_tokens
    if stop_after is not None:
        options["stopping_criteria"] = StoppingCriteriaList([StopAfter(prompt_length, stop_after)])
    if variant != "default":
        # transformers compiles the decode step itself when the cache is static, unless told not to
        options.update(cache_implementation="static", disable_compile=variant != "static+compile")
    sync(device)
    started = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(**batch, **options)
    sync(device)
    return time.perf_counter() - started, output


def generated_tokens(output: Any, prompt_length: int, eos_ids: Sequence[int], pad_id: int) -> tuple[int, int]:
    """(tokens written, rows that ended on an EOS): each row up to and including its first EOS."""
    total = ended = 0
    for row in output[:, prompt_length:].tolist():
        stop = next((i for i, t in enumerate(row) if t in eos_ids), None)
        ended += stop is not None
        total += stop + 1 if stop is not None else sum(t != pad_id for t in row)
    return total, ended


# ----------------------------------------------------------------------------- bytes and memory


def weight_bytes_per_step(model: Any, batch: Any, device: str, eos_ids: Sequence[int], pad_id: int) -> dict[str, Any]:
    """Bytes of weights one decode step reads, from the modules that actually ran in it: every
    module with weights of its own, counted whole (quantization state included), except
    embedding tables, of which only the looked-up rows are read. Measured with forward hooks on a
    three-token run (forward 1 is the prefill, forward 2 a decode step)."""
    import torch

    forward = [0]
    ran: dict[int, set] = {}
    handles = [model.register_forward_pre_hook(lambda module, args: forward.__setitem__(0, forward[0] + 1))]
    for module in model.modules():
        if any(True for _ in module.parameters(recurse=False)):
            handles.append(module.register_forward_hook(
                lambda module, args, out: ran.setdefault(forward[0], set()).add(module)))
    try:
        run_generate(model, batch, device, new_tokens=3, fixed=True, eos_ids=eos_ids, pad_id=pad_id)
    finally:
        for handle in handles:
            handle.remove()
    rows = batch["input_ids"].shape[0]
    total = embedding = 0
    for module in ran.get(2, ()):
        if isinstance(module, torch.nn.Embedding):
            row = module.weight[0]
            embedding += rows * row.numel() * row.element_size()
        else:
            total += _module_bytes(module)
    return {"weight_bytes_per_step": total + embedding, "embedding_row_bytes": embedding,
            "modules_read": len(ran.get(2, ())), "batch_used": rows}


def _module_bytes(module: Any) -> int:
    tensors = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
    size = sum(t.numel() * t.element_size() for t in tensors)
    weight = getattr(module, "weight", None)
    state = getattr(weight, "quant_state", None)  # bitsandbytes NF4: block scales beside the packed weight
    for extra in (getattr(state, "absmax", None), getattr(getattr(state, "state2", None), "absmax", None),
                  getattr(weight, "SCB", None)):  # SCB: 8-bit row scales
        if extra is not None and hasattr(extra, "numel"):
            size += extra.numel() * extra.element_size()
    return size


def gib(value: float | None) -> float | None:
    return None if value is None else round(value / 2**30, 3)


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def memory(device: str) -> dict[str, float | None]:
    if not device.startswith("cuda"):
        return {"allocated_gib": None, "peak_gib": None}
    import torch

    return {"allocated_gib": gib(torch.cuda.memory_allocated()), "peak_gib": gib(torch.cuda.max_memory_allocated())}
