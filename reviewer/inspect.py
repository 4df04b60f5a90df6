"""Look inside one hunk's decoding: each generated token, the model's top candidates, what was masked.

    python -m reviewer.inspect PR.diff --hunk 1                       # the default model
    python -m reviewer.inspect PR.diff --hunk 2 --model qwen2.5-coder-0.5b --top 5 --format json

Hunks are numbered from 1 in the order ``python -m reviewer PR.diff --list-hunks`` lists them. For
the finding (stage one, free decoding) and then the haiku (stage two, under the syllable
constraint, greedy) it prints, per generated token, the token chosen and the model's own top
``--top`` candidates with their probabilities (before any mask), marking those the constraint
masked (``x``). A haiku that reads badly shows here whether the model wanted it, or the constraint
forced it past better words. The predecessor's lessons ask for exactly this instrument.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any, Sequence

from reviewer.backends.base import BackendError, FormConstraint
from reviewer.compose import few_shot_for
from reviewer.config import GenerationConfig
from reviewer.diff import DiffError, parse_diff
from reviewer.filters import ConfigError, DiffFilterConfig, select_hunks
from reviewer.grounding import read_finding
from reviewer.lint import lint_hunks, linter_notes
from reviewer.prompt import Prompt, build_finding_prompt, build_haiku_prompt

PROG = "python -m reviewer.inspect"


@dataclass(frozen=True)
class Step:
    """One generated token: what was chosen, and the model's top candidates before any mask."""

    chosen: str
    chosen_probability: float
    candidates: tuple[tuple[str, float, bool], ...]  # (token, probability, masked by the constraint)


def trace(loaded: Any, prompt: Prompt, max_new_tokens: int, constraint: FormConstraint | None,
          top: int = 5) -> tuple[str, list[Step]]:
    """Greedy decoding of one prompt, with every step's top candidates and the masked ones."""
    import torch

    from reviewer.constrain import build_processor
    from reviewer.models import render_prompt

    tokenizer, model = loaded.tokenizer, loaded.model
    batch = tokenizer([render_prompt(tokenizer, prompt)], return_tensors="pt",
                      add_special_tokens=False).to(model.device)
    length = batch["input_ids"].shape[1]
    processor = build_processor(tokenizer, [constraint], length, list(loaded.eos_ids)) if constraint else None
    with torch.inference_mode():
        output = model.generate(
            **batch, max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_k=None, top_p=None,
            eos_token_id=list(loaded.eos_ids), pad_token_id=tokenizer.pad_token_id or loaded.eos_ids[0],
            logits_processor=[processor] if processor else None,
            return_dict_in_generate=True, output_logits=True, output_scores=True)
    steps = []
    for position, (raw, processed) in enumerate(zip(output.logits, output.scores)):
        chosen = int(output.sequences[0, length + position])
        probabilities = torch.softmax(raw[0].float(), dim=-1)
        values, ids = probabilities.topk(top)
        masked = torch.isinf(processed[0]) & (processed[0] < 0)
        steps.append(Step(tokenizer.decode([chosen]), float(probabilities[chosen]), tuple(
            (tokenizer.decode([int(i)]), float(v), bool(masked[int(i)])) for v, i in zip(values, ids))))
    text = tokenizer.decode(output.sequences[0, length:], skip_special_tokens=True).strip()
    return text, steps


def render(stage: str, text: str, steps: Sequence[Step]) -> str:
    lines = [f"== {stage}: {text!r}", "  #  chosen (p)            top candidates (x = masked by the constraint)"]
    for number, step in enumerate(steps, 1):
        tops = "  ".join(f"{'x' if masked else ' '}{token!r} {p:.2f}" for token, p, masked in step.candidates)
        lines.append(f"{number:>3}  {step.chosen!r:<12} {step.chosen_probability:.2f}   {tops}")
    return "\n".join(lines)


def inspect_hunk(diff: bytes, number: int, config: GenerationConfig, top: int = 5,
                 finding: str | None = None) -> dict[str, Any]:
    """Both stages of one hunk traced; ``finding`` skips stage one and versifies that sentence."""
    from reviewer.models import load_model

    hunks = select_hunks(parse_diff(diff), DiffFilterConfig()).hunks
    if not 1 <= number <= len(hunks):
        raise ConfigError(f"--hunk must be between 1 and {len(hunks)} (this diff has {len(hunks)} hunks to review)")
    hunk = hunks[number - 1]
    if config.backend != "transformers":
        raise ConfigError("inspect needs the transformers backend: it reads the model's own probabilities")
    loaded = load_model(config.model, adapter=config.adapter, quantization=config.quantization, device=config.device)
    notes = linter_notes(hunk, lint_hunks([hunk])[0])
    result: dict[str, Any] = {"hunk": number, "path": hunk.path, "header": hunk.header, "linter": notes}
    if finding is None:
        raw, finding_steps = trace(loaded, build_finding_prompt(hunk, notes), config.max_finding_tokens, None, top)
        finding, nothing = read_finding(raw)
        result["finding"] = {"text": raw, "steps": [s.__dict__ for s in finding_steps]}
    else:
        nothing = False
        result["finding"] = {"text": finding, "steps": []}
    if not nothing:
        prompt = build_haiku_prompt(hunk, finding, few_shot_for(config, loaded.description.get("adapter")))
        haiku, haiku_steps = trace(loaded, prompt, config.max_new_tokens,
                                   FormConstraint(words=prompt.words) if config.constrained else None, top)
        result["haiku"] = {"text": haiku, "steps": [s.__dict__ for s in haiku_steps]}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("diff", help="a unified diff file")
    parser.add_argument("--hunk", type=int, required=True, help="which hunk, from 1 (as --list-hunks orders them)")
    parser.add_argument("--model", default=GenerationConfig.model)
    parser.add_argument("--adapter", default="")
    parser.add_argument("--quantization", default="none", choices=("none", "8bit", "4bit"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--finding", help="versify this sentence instead of writing the finding (stage two only)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    try:
        with open(args.diff, "rb") as handle:
            diff = handle.read()
        config = GenerationConfig(model=args.model, adapter=args.adapter, quantization=args.quantization,
                                  device=args.device)
        result = inspect_hunk(diff, args.hunk, config, args.top, args.finding)
    except OSError as err:
        print(f"{PROG}: {args.diff}: {err.strerror or err}", file=sys.stderr)
        return 2
    except (DiffError, ConfigError, BackendError) as err:
        print(f"{PROG}: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(result, indent=1))
    else:
        print(f"hunk {result['hunk']}: {result['path']} {result['header']}; linter: {result['linter'] or 'nothing'}")
        for stage in ("finding", "haiku"):
            if stage in result and (stage == "haiku" or result[stage]["steps"]):
                print(render(stage, result[stage]["text"], [Step(**s) for s in result[stage]["steps"]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
