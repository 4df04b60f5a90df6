"""Two models, one per stage: a code model finds the issue, a small tuned model versifies it.

    backend = StagedBackend(finding=make_backend("transformers", model="qwen2.5-coder-1.5b"),
                            haiku=make_backend("transformers", model="embedded"))

Why: on the dev pairs Qwen2.5-Coder-1.5B's findings, held to what ruff says (require_linter),
were mostly true, but its haiku under the syllable constraint were word lists ("Docstring needed,
clear, / Module lacks clarity, no / Explanation. It!"); the embedded Gemma 3 270M, trained on
finding -> haiku, writes the verse but cannot find an issue (README, "Content"). Compose needs no
change: every prompt says its stage (``Prompt.stage``), and this backend routes each call to the
model for it. One-pass prompts (stage "haiku" with no finding) go to the haiku model too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from reviewer.backends.base import Backend, GenerationRequest
from reviewer.prompt import Prompt


class StagedBackend:
    def __init__(self, finding: Backend, haiku: Backend) -> None:
        self.finding, self.haiku = finding, haiku
        # compose constrains decoding only on the transformers backend: the haiku model decides
        self.name = haiku.name
        self.two_stage_default = True

    def generate(self, prompts: Sequence[Prompt], request: GenerationRequest) -> list[list[str]]:
        stages = {prompt.stage for prompt in prompts}
        if len(stages) > 1:  # compose never mixes them; split rather than guess
            out: list[list[str]] = [[] for _ in prompts]
            for stage in stages:
                picked = [i for i, p in enumerate(prompts) if p.stage == stage]
                sub = replace(request, constraints=tuple(request.constraints[i] for i in picked)
                              if request.constraints is not None else None)
                for i, texts in zip(picked, self.generate([prompts[i] for i in picked], sub)):
                    out[i] = texts
            return out
        backend = self.finding if stages == {"finding"} else self.haiku
        return backend.generate(prompts, request)

    def describe(self) -> dict[str, Any]:
        # "adapter" decides few-shot turns for the haiku prompts, so it is the haiku model's
        haiku = self.haiku.describe()
        return {**haiku, "finding_model": self.finding.describe()}
