"""Generation speed on the embedded default: batched vs one hunk at a time, and what the
syllable-constrained decoder costs over plain greedy decoding. The last line printed is JSON.

    python bench/generate.py                 # 16 hunks from training/data/embedded, CPU
    python bench/generate.py --hunks 8 --adapter none
    python bench/generate.py --two-stage --hunks 10 --model qwen2.5-coder-1.5b   # a 10-hunk PR, both stages
    python bench/generate.py --two-stage --require-linter --hunks 10 --model qwen2.5-coder-1.5b

Goals (issue 4): batching 16 hunks at least 3x faster than one at a time; the constrained
decoder's own time at most 15% of the decode time. Three timed runs of the same 16 prompts,
greedy, after one warm-up call:
  batched      - one generate call over all hunks, constrained (what the CLI does);
  one_by_one   - one generate call per hunk, constrained;
  unconstrained - one batched call without the processor.
"decoder_share" is the processor's measured time (its stats) over the constrained batched run's
time: the direct cost. "per_token" figures compare constrained and unconstrained runs per
generated token, since the two write different numbers of tokens.

``--two-stage`` instead times the product's own path on one PR of ``--hunks`` hunks, after load:
stage one (the findings, one batched greedy call with the linter's notes) and stage two (the haiku
of each kept finding, constrained), as reviewer.compose runs them with the default settings
(goal, issue 16: a 10-hunk PR in at most 60 s after load on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.form import check_haiku  # noqa: E402
from reviewer.backends.base import FormConstraint, GenerationRequest, make_backend  # noqa: E402
from reviewer.compose import judge, resolve_few_shot  # noqa: E402
from reviewer.config import GenerationConfig  # noqa: E402
from reviewer.diff import parse_hunk  # noqa: E402
from reviewer.prompt import build_prompt  # noqa: E402


def own_hunks(limit: int) -> list:
    rows = []
    for path in sorted((ROOT / "training" / "data" / "embedded").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[:: max(1, len(rows) // limit)][:limit]  # spread over the categories
    return [parse_hunk(r["path"], r["diff_hunk"]) for r in rows]


def timed(backend, prompts, request, batch: int) -> tuple[float, list[str]]:
    started = time.perf_counter()
    texts: list[str] = []
    for start in range(0, len(prompts), batch):
        part = prompts[start:start + batch]
        sub = GenerationRequest(n=1, max_new_tokens=request.max_new_tokens, temperature=0.0,
                                constraints=request.constraints[start:start + batch] if request.constraints else None)
        texts += [c[0] for c in backend.generate(part, sub)]
    return time.perf_counter() - started, texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hunks", type=int, default=16)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--adapter", default="")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--two-stage", action="store_true", help="time one PR through both stages")
    parser.add_argument("--require-linter", action="store_true",
                        help="with --two-stage: only findings a linter note backs (hunks without one skip the model)")
    args = parser.parse_args(argv)
    if args.two_stage:
        return two_stage(args)

    started = time.perf_counter()
    backend = make_backend("transformers", model=args.model, adapter=args.adapter, batch_size=args.hunks)
    load_s = time.perf_counter() - started
    hunks = own_hunks(args.hunks)
    few_shot = resolve_few_shot(GenerationConfig(), backend)
    prompts = [build_prompt(h, few_shot=few_shot) for h in hunks]
    constraints = tuple(FormConstraint(words=p.words) for p in prompts)
    constrained = GenerationRequest(max_new_tokens=args.max_new_tokens, constraints=constraints)
    plain = GenerationRequest(max_new_tokens=args.max_new_tokens)

    timed(backend, prompts[:2], GenerationRequest(max_new_tokens=8, constraints=constraints[:2]), 2)  # warm-up
    before = backend.usage.extra.get("decoder_seconds", 0.0)
    batched_s, batched = timed(backend, prompts, constrained, len(prompts))
    decoder_s = backend.usage.extra.get("decoder_seconds", 0.0) - before
    single_s, _ = timed(backend, prompts, constrained, 1)
    plain_s, unconstrained = timed(backend, prompts, plain, len(prompts))

    tokens = lambda texts: sum(len(backend.loaded.tokenizer.encode(t, add_special_tokens=False)) + 1 for t in texts)  # noqa: E731
    verdicts = [judge(t, p) for t, p in zip(batched, prompts)]
    for text in batched[:4]:
        print(text.replace("\n", " / "), file=sys.stderr)
    result = {
        "bench": "generate", "model": backend.describe(), "hunks": len(prompts), "load_s": round(load_s, 2),
        "batched_s": round(batched_s, 2), "one_by_one_s": round(single_s, 2),
        "batched_hunks_per_s": round(len(prompts) / batched_s, 3),
        "one_by_one_hunks_per_s": round(len(prompts) / single_s, 3),
        "latency_per_hunk_batched_s": round(batched_s / len(prompts), 3),
        "latency_per_hunk_one_by_one_s": round(single_s / len(prompts), 3),
        "batching_speedup": round(single_s / batched_s, 2), "batching_goal": 3.0,
        "unconstrained_s": round(plain_s, 2),
        "decoder_s": round(decoder_s, 3), "decoder_share": round(decoder_s / batched_s, 4),
        "per_token_constrained_ms": round(1000 * batched_s / tokens(batched), 2),
        "per_token_unconstrained_ms": round(1000 * plain_s / tokens(unconstrained), 2),
        "decoder_goal_share": 0.15,
        "strict_valid_constrained": sum(check_haiku(t).strict for t in batched),
        "valid_after_content_rules": sum(v.valid for v in verdicts),
        "strict_valid_unconstrained": sum(check_haiku(t).strict for t in unconstrained),
    }
    print(json.dumps(result))
    return 0


def two_stage(args: argparse.Namespace) -> int:
    """One PR of ``--hunks`` hunks through compose's two stages, each stage timed."""
    from reviewer.compose import compose_hunks

    started = time.perf_counter()
    config = GenerationConfig(model=args.model, adapter=args.adapter, batch_size=args.hunks, two_stage="on",
                              require_linter=args.require_linter)
    backend = make_backend("transformers", model=args.model, adapter=args.adapter, batch_size=args.hunks)
    load_s = time.perf_counter() - started
    hunks = own_hunks(args.hunks)
    stages: list[tuple[float, int]] = []

    def progress(done: int, total: int) -> None:  # step counts: findings first, then haiku
        stages.append((time.perf_counter(), done))

    started = time.perf_counter()
    outcomes = compose_hunks(hunks, backend, config, progress)
    total_s = time.perf_counter() - started
    findings_done = next((t for t, done in stages if done >= len(hunks)), started + total_s)
    for outcome in outcomes:
        text = getattr(outcome, "body", None) or getattr(outcome, "reason", "")
        print(f"{(outcome.finding.text if outcome.finding else '')[:90]!r} -> {text[:90]!r}", file=sys.stderr)
    posted = [o for o in outcomes if hasattr(o, "body")]
    result = {
        "bench": "generate-two-stage", "model": backend.describe(), "require_linter": args.require_linter,
        "hunks": len(hunks), "load_s": round(load_s, 2),
        "pr_s": round(total_s, 2), "finding_stage_s": round(findings_done - started, 2),
        "haiku_stage_s": round(started + total_s - findings_done, 2), "pr_goal_s": 60.0,
        "posted": len(posted), "nothing_to_say": sum(getattr(o, "nothing_to_say", False) for o in outcomes),
        "dropped_findings": sum(1 for o in outcomes if o.finding and o.finding.status in ("unsafe", "unsupported")),
        "strict_valid_posted": sum(check_haiku(o.body).strict for o in posted),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
