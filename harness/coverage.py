"""How many hunks get a postable haiku from the product as shipped, re-checked independently.

harness.run compares systems fairly (one greedy candidate each). This measures the product itself:
the reviewer's own settings (constrained decoding, several candidates, a revise round) on every
row's hunk, then every haiku the reviewer would post is checked again, outside compose, by
harness.form (strict 5-7-5), reviewer.safety and reviewer.quality. A haiku printed as valid that
fails any of them is a violation; the goal is none, and a valid haiku for >= 98% of the hunks::

    python -m harness.coverage --data ../shared/data/review-pairs-dev.jsonl
    python -m harness.coverage --data D.jsonl --system transformers:model=embedded,adapter=none --limit 20

Writes ``coverage.jsonl`` (one row per hunk: the haiku or the rejection reason, to read) into
``--out`` (default out/coverage/<data name>); the last stdout line is JSON with the counts.
Bad input prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from harness.run import RunError, _make_dir, _option, _progress, _write, load_rows, parse_hunks

PROG = "python -m harness.coverage"
GOAL = 0.98


def product_config(spec: str, seed: int) -> Any:
    """``backend[:key=value,...]`` over the reviewer's defaults (every field may be set here)."""
    from reviewer.config import BACKENDS, GenerationConfig
    from reviewer.filters import ConfigError

    backend, _, rest = spec.partition(":")
    if backend not in BACKENDS:
        raise RunError(f"--system: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    options = dict(_option(spec, item, shared=()) for item in rest.split(",") if item.strip())
    try:
        return GenerationConfig(backend=backend, **{"seed": seed, **options})
    except ConfigError as err:
        raise RunError(f"--system: {err}") from None


def recheck(lines: Sequence[str], hunk_words: frozenset[str] = frozenset()) -> str | None:
    """Why a haiku the reviewer accepted should not have been posted; None when it is fine."""
    from harness.form import check_haiku
    from reviewer.quality import content_problem
    from reviewer.safety import check_text

    verdict = check_haiku("\n".join(lines))
    if not verdict.strict:
        return f"not strict 5-7-5 by harness.form: {verdict.explain()}"
    return check_text("\n".join(lines)) or content_problem(tuple(lines), hunk_words=hunk_words)


def measure(data: str, config: Any, limit: int | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Generate for every row; return the summary and one record per row."""
    from reviewer.backends.base import BackendError
    from reviewer.compose import compose_hunks
    from reviewer.pipeline import backend_from_config
    from reviewer.prompt import hunk_words
    from reviewer.results import HaikuComment

    rows, _ = load_rows(data, limit)
    hunks = parse_hunks(rows, data)
    try:
        started = time.perf_counter()
        backend = backend_from_config(config)
        loaded = time.perf_counter()
        outcomes = compose_hunks(hunks, backend, config, _progress("coverage"))
    except BackendError as err:
        raise RunError(str(err)) from None
    seconds = time.perf_counter() - loaded
    records, reasons, violations = [], Counter(), 0
    for row, hunk, outcome in zip(rows, hunks, outcomes, strict=True):
        if isinstance(outcome, HaikuComment):
            problem = recheck(outcome.haiku, hunk_words(hunk))
            violations += problem is not None
            records.append({"id": row.id, "path": row.path, "haiku": list(outcome.haiku),
                            "syllables": list(outcome.syllables), "rounds": outcome.rounds,
                            "recheck": problem})
        else:
            reasons[outcome.reason.split(":")[0]] += 1
            records.append({"id": row.id, "path": row.path, "rejected": outcome.reason,
                            "candidates": [c.text for c in outcome.candidates]})
    posted = sum("haiku" in r for r in records)
    summary = {
        "metric": "coverage", "data": data, "n": len(records), "with_haiku": posted,
        "coverage": round(posted / len(records), 4) if records else 0.0, "goal": GOAL,
        "printed_valid_but_invalid": violations, "rejection_reasons": dict(reasons.most_common()),
        "after_revise": sum(r.get("rounds", 1) > 1 for r in records),
        "load_seconds": round(loaded - started, 1), "generate_seconds": round(seconds, 1),
        "seconds_per_hunk": round(seconds / max(len(records), 1), 2), "model": backend.describe(),
        "config": {k: v for k, v in vars(config).items() if k != "openai_api_key"},
    }
    return summary, records


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="JSONL of {id, path, diff_hunk, comment, category}")
    parser.add_argument("--system", default="transformers",
                        help="backend[:key=value,...] over the reviewer's defaults (default: the embedded default)")
    parser.add_argument("--limit", type=int, help="only the first N rows")
    parser.add_argument("--seed", type=int, default=575, help="generation seed (default 575)")
    parser.add_argument("--out", help="output folder (default: out/coverage/<data file name>)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out or Path("out/coverage") / Path(args.data).stem)
    try:
        summary, records = measure(args.data, product_config(args.system, args.seed), args.limit)
        _make_dir(out)
        _write(out / "coverage.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    except RunError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    for record in records:
        print(f"{record['id']}: " + (" / ".join(record["haiku"]) if "haiku" in record
                                     else f"(rejected) {record['rejected']}"))
    print(f"wrote {out}/coverage.jsonl")
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
