"""The transformers backend: a local model (+ LoRA adapter, + bitsandbytes) writes the candidates.

    from reviewer.backends.base import GenerationRequest, make_backend
    backend = make_backend("transformers", model="embedded")            # Gemma 3 270M, CPU
    backend = make_backend("transformers", model="google/gemma-4-E4B-it", quantization="4bit")
    texts = backend.generate(prompts, GenerationRequest(n=4, temperature=0.7))

    lgtm-575 review --backend transformers --model embedded < pr.diff   # through the CLI

The model is loaded when the backend is built (``reviewer.models.load_model``: resolution,
conversion cache, adapter merge, quantization), so a bad model name fails before any work; torch and
transformers are imported then, never when ``reviewer.backends`` is imported.

Every prompt of a call goes through ``generate`` in chunks of ``batch_size``, left-padded so each
row's answer starts at the same column. Temperature 0 decodes greedily, once per prompt; with
``n > 1`` the one greedy answer is returned ``n`` times (as the protocol says: callers who want
variety sample), rather than decoding ``n`` identical rows. Temperature > 0 samples ``n`` rows per
prompt (``num_return_sequences``), seeded from ``request.seed`` per chunk, so a call is repeatable.
A request with form constraints adds ``reviewer.constrain``'s logits processor, one constraint per
row, in the order generate lays rows out (prompt 0 x n, prompt 1 x n, ...).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Sequence

from reviewer.backends.base import BackendError, GenerationRequest, Text, Usage, register_backend
from reviewer.prompt import Prompt


@register_backend("transformers")
class TransformersBackend:
    name = "transformers"

    def __init__(self, model: str = "embedded", adapter: str = "", quantization: str = "none",
                 device: str = "auto", batch_size: int = 16) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise BackendError(f"batch_size must be an integer >= 1, not {batch_size!r}")
        try:
            from reviewer.models import load_model
        except ImportError as err:
            raise BackendError(f'the transformers backend needs torch and transformers ({err}): '
                               'pip install "lgtm-575[model]"') from None
        self.loaded = load_model(model, adapter=adapter, quantization=quantization, device=device)
        self.batch_size = batch_size
        # two_stage=auto: two stages, except on the embedded model with the project's adapter, which
        # was trained on one pass from hunk to haiku and has not learned to write findings.
        from reviewer.models import EMBEDDED_ADAPTER
        self.two_stage_default = self.loaded.description.get("adapter") != str(EMBEDDED_ADAPTER)
        self.usage = Usage()  # prompt/completion tokens and seconds over every call, for benchmarks

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, **self.loaded.description, "batch_size": self.batch_size}

    def generate(self, prompts: Sequence[Prompt], request: GenerationRequest) -> list[list[str]]:
        from reviewer.models import render_prompt

        texts = [render_prompt(self.loaded.tokenizer, prompt) for prompt in prompts]
        # Chunks of similar length: a batch is left-padded to its longest prompt, and prefill time
        # goes with the padded size, so one long hunk among short ones would cost a whole batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        answers: list[list[str]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            rows = range(len(chunk))  # the chunk's own rows: its constraints are laid out to match
            sorted_request = _reordered(request, chunk)
            outputs = self._generate_chunk([texts[i] for i in chunk], rows, sorted_request, seed_offset=start)
            for index, texts_out in zip(chunk, outputs):
                answers[index] = texts_out
        return answers

    def _generate_chunk(self, texts: list[str], rows: range, request: GenerationRequest,
                        seed_offset: int = 0) -> list[list[str]]:
        import torch

        started = time.perf_counter()
        tokenizer, model = self.loaded.tokenizer, self.loaded.model
        batch = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left",
                          add_special_tokens=False).to(model.device)  # the template wrote <bos>
        sample = request.temperature > 0
        copies = request.n if sample else 1
        options = self._options(request, sample, copies)
        processor = self._constraint_processor(request, rows, copies, batch["input_ids"].shape[1])
        recorder = TokenLogprobs(self.loaded.eos_ids)
        # The recorder goes first, so it reads the model's own distribution, before any mask.
        options["logits_processor"] = [recorder] + ([processor] if processor is not None else [])
        torch.manual_seed(request.seed + seed_offset)  # per chunk: repeatable whatever came before
        with torch.inference_mode():
            output = model.generate(**batch, **options)
        if processor is not None:  # the constrained decoder's own time, for bench/generate.py
            self.usage.extra["decoder_seconds"] = self.usage.extra.get("decoder_seconds", 0.0) + processor.stats["seconds"]
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        logprobs = recorder.means(new_tokens)
        decoded = [Text(text.strip(), logprob) for text, logprob in
                   zip(tokenizer.batch_decode(new_tokens, skip_special_tokens=True), logprobs)]
        self._count(batch, new_tokens, started)
        if sample:
            return [decoded[i * copies:(i + 1) * copies] for i in range(len(texts))]
        return [[text] * request.n for text in decoded]

    def _options(self, request: GenerationRequest, sample: bool, copies: int) -> dict[str, Any]:
        tokenizer = self.loaded.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.loaded.eos_ids[0]
        options: dict[str, Any] = {
            "max_new_tokens": request.max_new_tokens, "do_sample": sample, "num_return_sequences": copies,
            "eos_token_id": list(self.loaded.eos_ids), "pad_token_id": pad,
        }
        # Plain sampling at the given temperature: the checkpoint's top_k/top_p defaults would
        # otherwise apply silently (and warn under greedy decoding).
        if sample:
            options.update(temperature=request.temperature, top_k=0, top_p=1.0)
        else:
            options.update(temperature=None, top_k=None, top_p=None)
        return options

    def _constraint_processor(self, request: GenerationRequest, rows: range, copies: int,
                              prompt_length: int) -> Any:
        constraints = [request.constraint_for(i) for i in rows for _ in range(copies)]
        if all(constraint is None for constraint in constraints):
            return None
        from reviewer.constrain import build_processor

        return build_processor(self.loaded.tokenizer, constraints, prompt_length, list(self.loaded.eos_ids))

    def _count(self, batch: Any, new_tokens: Any, started: float) -> None:
        pad = self.loaded.tokenizer.pad_token_id
        self.usage.prompt_tokens += int(batch["attention_mask"].sum())
        counted = (new_tokens != pad).sum() if pad is not None else new_tokens.numel()
        self.usage.completion_tokens += int(counted)
        self.usage.seconds += time.perf_counter() - started


def _reordered(request: GenerationRequest, chunk: list[int]) -> GenerationRequest:
    """The request with its per-prompt constraints laid out for the chunk: constraint ``i`` of the
    new request belongs to prompt ``chunk[i]``."""
    if request.constraints is None:
        return request
    return replace(request, constraints=tuple(request.constraints[i] for i in chunk))


class TokenLogprobs:
    """A logits processor that only watches: the mean log-probability, under the model's own
    (unmasked) distribution, of the tokens each row generated, EOS included, padding after it not.

    At each step it scores the token chosen at the step before (the last column of ``input_ids``)
    against the distribution it kept, so it holds one row of log-probabilities per sequence, never
    the whole run's logits. The last token is scored by ``means`` from the finished output.
    """

    def __init__(self, eos_ids: Sequence[int]) -> None:
        self.eos_ids = list(eos_ids)
        self.kept: Any = None  # log-softmax of the previous step, rows x vocab
        self.sums: Any = None
        self.counts: Any = None
        self.done: Any = None
        self.eos: Any = None  # eos_ids as a tensor on the scores' device, made once

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self.kept is not None:
            self._add(input_ids[:, -1])
        else:
            rows = scores.shape[0]
            self.sums = torch.zeros(rows, dtype=torch.float32, device=scores.device)
            self.counts = torch.zeros(rows, dtype=torch.float32, device=scores.device)
            self.done = torch.zeros(rows, dtype=torch.bool, device=scores.device)
            self.eos = torch.tensor(self.eos_ids, device=scores.device)
        self.kept = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def _add(self, chosen: Any) -> None:
        import torch

        live = ~self.done
        picked = self.kept.gather(1, chosen.unsqueeze(1)).squeeze(1)
        # Not in place: the last call (from ``means``) runs outside generate's inference mode.
        self.sums = self.sums + torch.where(live, picked, torch.zeros_like(picked))
        self.counts = self.counts + live.float()
        self.done = self.done | torch.isin(chosen, self.eos)

    def means(self, new_tokens: Any) -> list[float | None]:
        if self.kept is None or new_tokens.shape[1] == 0:
            return [None] * new_tokens.shape[0]
        self._add(new_tokens[:, -1])
        return [float(s / c) if c > 0 else None for s, c in zip(self.sums.tolist(), self.counts.tolist())]
