"""The issue-match judge: does a review name the concern the human reviewer raised?

For each row the judge sees the hunk, the human reviewer's comment and one system output, and
gives one label:

- SAME:  raises the concern the human raised (the same problem or request, in any words);
- OTHER: a different concern, specific to this hunk and true of it;
- NONE:  restates the code, is vague, generic or false, or is empty.

same-rate = SAME share, useful-rate = SAME + OTHER share, each with a bootstrap 95% interval, and
beside them the same judge on trivial outputs (harness.floors): the hunk's last changed lines
(echo) and another row's human comment (shuffled). A gain counts only over the higher floor.
Precision (useful among rows that posted something) and the posting rate are reported too.

    # judge one predictions file (harness.run's or harness.score's JSONL) on the CPU:
    python -m harness.judge --predictions out/run/dev/predictions-q15.jsonl \\
        --references ../shared/data/review-pairs-dev.jsonl --judge transformers:model=qwen2.5-coder-1.5b
    # a large judge on an OpenAI-compatible server (vLLM, SGLang):
    python -m harness.judge --predictions P.jsonl --references R.jsonl \\
        --judge openai:openai_base_url=http://127.0.0.1:8000/v1,model=Qwen/Qwen2.5-Coder-32B-Instruct
    # the judge against the hand labels (Cohen's kappa, confusion matrix):
    python -m harness.judge --validate harness/data/judge_labels.jsonl --references ../shared/data/review-pairs-dev.jsonl

The judge is greedy and its rubric fixed (``RUBRIC``; its sha256 is recorded with the judge model
in every result): numbers from different judges or prompts are never compared. Its answer is
parsed strictly: exactly one of the three labels, else the row counts as NONE and is reported as
unparsed. An empty output is NONE without asking. Two checks ride along: position (the same rows
asked with the human comment and the output swapped; how many labels flip) and length (the
useful-rate by output length, shortest third against longest third).

Labels are cached by (judge, prompt hash, row id, output hash) in ``--cache`` so floors and
reruns cost nothing twice. Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from harness import stats
from harness.floors import floor_texts

PROG = "python -m harness.judge"
LABELS = ("SAME", "OTHER", "NONE")
DEFAULT_JUDGE = "transformers:model=qwen2.5-coder-1.5b"
MAX_HUNK_CHARS = 1500  # a longer hunk is cut in the prompt (its last lines kept: the comment sits there)

RUBRIC = """You grade an automated code review against the comment a human reviewer left on the same code change.

Code change ({path}):
```diff
{hunk}
```

{first_name}: <<{first}>>

{second_name}: <<{second}>>

Labels:
SAME: the automated review raises the same concern as the human reviewer (the same problem or request, in any words).
OTHER: the automated review raises a different concern that is specific to this code change and true of it.
NONE: the automated review only restates or describes the code, or is vague, generic, or false for this code.

Answer with exactly one word: SAME, OTHER or NONE."""
PROMPT_SHA256 = hashlib.sha256(RUBRIC.encode("utf-8")).hexdigest()
HUMAN, REVIEW = "Human reviewer's comment", "Automated review to grade"


class JudgeError(Exception):
    """Bad input or a failing judge backend: one line on stderr, exit status 2."""


@dataclass(frozen=True)
class Item:
    """One (row, output) pair to label."""

    id: str
    path: str
    hunk: str
    comment: str
    output: str

    @property
    def output_sha256(self) -> str:
        return sha(self.output)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def judge_message(item: Item, swapped: bool = False) -> str:
    """The rubric filled for one item; ``swapped`` puts the output before the human comment."""
    hunk = item.hunk if len(item.hunk) <= MAX_HUNK_CHARS else "...\n" + item.hunk[-MAX_HUNK_CHARS:]
    pairs = [(HUMAN, item.comment.strip()), (REVIEW, item.output.strip())]
    (first_name, first), (second_name, second) = pairs[::-1] if swapped else pairs
    return RUBRIC.format(path=item.path, hunk=hunk.rstrip(), first_name=first_name, first=first,
                         second_name=second_name, second=second)


_ANSWER = re.compile(r"^[\s*_`\"'“”]*(SAME|OTHER|NONE)[\s*_`\"'“”.!]*$", re.IGNORECASE)


def parse_label(answer: str) -> tuple[str, bool]:
    """(label, parsed): exactly one label word (case, quotes, emphasis and a final stop allowed);
    anything else, a refusal or two labels included, is NONE and not parsed."""
    found = _ANSWER.match(answer or "")
    return (found.group(1).upper(), True) if found else ("NONE", False)


# ---------------------------------------------------------------- asking the judge


@dataclass
class Judge:
    """A backend asked the rubric greedily; labels cached by output hash."""

    spec: str
    backend: Any
    cache_path: Path | None = None
    batch_size: int = 16
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "model": dict(self.backend.describe()), "prompt_sha256": PROMPT_SHA256}

    def key(self, item: Item, swapped: bool) -> str:
        model = self.backend.describe()
        name = f"{model.get('backend')}:{model.get('model')}:{model.get('adapter', '')}"
        return sha(f"{name}|{PROMPT_SHA256}|{item.id}|{item.output_sha256}|{sha(item.comment)}|{swapped}")

    def label(self, items: Sequence[Item], swapped: bool = False,
              progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        """One verdict per item: {"label", "parsed", "answer"}; empty outputs are NONE unasked."""
        from reviewer.backends.base import GenerationRequest
        from reviewer.prompt import Prompt

        todo = [i for i, item in enumerate(items) if item.output.strip() and self.key(item, swapped) not in self.cache]
        request = GenerationRequest(n=1, max_new_tokens=6, temperature=0.0)
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            prompts = [Prompt((("user", judge_message(items[i], swapped)),)) for i in chunk]
            for i, texts in zip(chunk, self.backend.generate(prompts, request)):
                label, parsed = parse_label(texts[0])
                self._remember(self.key(items[i], swapped), {"label": label, "parsed": parsed, "answer": texts[0][:80]})
            if progress:
                progress(min(start + self.batch_size, len(todo)), len(todo))
        empty = {"label": "NONE", "parsed": True, "answer": "", "empty": True}
        return [self.cache[self.key(item, swapped)] if item.output.strip() else empty for item in items]

    def _remember(self, key: str, verdict: dict[str, Any]) -> None:
        self.cache[key] = verdict
        if self.cache_path is not None:
            with self.cache_path.open("a", encoding="utf-8") as sink:
                sink.write(json.dumps({"key": key, **verdict}) + "\n")


def make_judge(spec: str, cache: str | Path | None = None, batch_size: int = 16) -> Judge:
    """A Judge on the backend ``spec`` names: ``backend[:key=value,...]`` over GenerationConfig."""
    from reviewer.backends.base import BackendError
    from reviewer.config import GenerationConfig
    from reviewer.filters import ConfigError
    from reviewer.pipeline import backend_from_config

    from harness.run import RunError, _option  # the same typed key=value reading as --system

    backend_name, _, rest = spec.partition(":")
    try:
        options = dict(_option("judge", item, shared=()) for item in rest.split(",") if item.strip())
        config = GenerationConfig(backend=backend_name, **options, batch_size=batch_size)
        backend = backend_from_config(config)
    except RunError as err:
        raise JudgeError(f"--judge {spec!r}: {str(err).split(': ', 1)[-1]}") from None
    except (ConfigError, BackendError, TypeError) as err:
        raise JudgeError(f"--judge {spec!r}: {err}") from None
    judge = Judge(spec, backend, Path(cache) if cache else None, batch_size)
    if judge.cache_path is not None and judge.cache_path.exists():
        for line in judge.cache_path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                judge.cache[entry.pop("key")] = entry
            except (json.JSONDecodeError, AttributeError, KeyError, TypeError):
                continue  # a line cut short by an interrupted run: that label is asked again
    return judge


# ---------------------------------------------------------------- metrics


def rates(labels: Sequence[str], posted: Sequence[bool] | None = None, *, n_boot: int = 2000,
          seed: int = 0) -> dict[str, Any]:
    """same-rate and useful-rate over all rows with 95% intervals; over posted rows, precision."""
    same = [label == "SAME" for label in labels]
    useful = [label != "NONE" for label in labels]
    out = {"n": len(labels), "same_rate": _interval(same, n_boot, seed), "useful_rate": _interval(useful, n_boot, seed),
           "counts": {label: sum(x == label for x in labels) for label in LABELS}}
    if posted is not None:
        kept = [u for u, p in zip(useful, posted) if p]
        out["posted"] = sum(posted)
        out["post_rate"] = sum(posted) / len(posted) if posted else float("nan")
        out["useful_of_posted"] = _interval(kept, n_boot, seed) if kept else None
        out["same_of_posted"] = _interval([s for s, p in zip(same, posted) if p], n_boot, seed) if kept else None
    return out


def _interval(values: Sequence[bool], n_boot: int, seed: int) -> dict[str, float]:
    iv = stats.bootstrap_ci([float(v) for v in values], n_boot=n_boot, seed=seed)
    return {"value": iv.value, "lo": iv.lo, "hi": iv.hi}


def length_effect(items: Sequence[Item], labels: Sequence[str]) -> dict[str, Any]:
    """useful-rate of the shortest and longest third of the non-empty outputs, by characters."""
    pairs = sorted((len(item.output), label != "NONE") for item, label in zip(items, labels) if item.output.strip())
    third = len(pairs) // 3
    if third == 0:
        return {"n": len(pairs)}
    short, long_ = pairs[:third], pairs[-third:]
    return {"n": len(pairs), "shortest_third_useful": sum(u for _, u in short) / third,
            "longest_third_useful": sum(u for _, u in long_) / third,
            "shortest_third_max_chars": short[-1][0], "longest_third_min_chars": long_[0][0]}


def position_effect(first: Sequence[str], swapped: Sequence[str]) -> dict[str, Any]:
    flips = sum(a != b for a, b in zip(first, swapped))
    return {"n": len(first), "flipped": flips, "flip_rate": flips / len(first) if first else float("nan"),
            "kappa_between_orders": stats.cohen_kappa(first, swapped, LABELS) if first else float("nan")}


def confidence_sweep(confidences: Sequence[float | None], labels: Sequence[str],
                     thresholds: Sequence[float] = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)) -> list[dict[str, Any]]:
    """For each min_confidence: how many rows would still post, and how many of those are useful.

    ``confidences`` are the posted haiku's (None where nothing was posted); the useful share among
    the rows a threshold keeps is the precision a maintainer buys with it."""
    rows = []
    for threshold in thresholds:
        kept = [label for c, label in zip(confidences, labels) if c is not None and c >= threshold]
        rows.append({"min_confidence": threshold, "posted": len(kept), "post_rate": len(kept) / len(labels),
                     "useful_of_posted": (sum(label != "NONE" for label in kept) / len(kept)) if kept else None,
                     "same_of_posted": (sum(label == "SAME" for label in kept) / len(kept)) if kept else None})
    return rows


def mcnemar_same(a: Sequence[str], b: Sequence[str]) -> dict[str, Any]:
    result = stats.mcnemar_exact([x == "SAME" for x in a], [y == "SAME" for y in b])
    return {"only_a": result.only_a, "only_b": result.only_b, "p_value": result.p_value}


def labels_of(result: dict[str, Any]) -> list[str]:
    """A judged system's labels, in row order (``judge_system``'s rows)."""
    return [row["label"] for row in result["rows"]]


def compare_systems(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """McNemar on SAME for every pair of judged systems (same rows, same judge)."""
    names = list(results)
    return [{"a": a, "b": b, **mcnemar_same(labels_of(results[a]), labels_of(results[b]))}
            for i, a in enumerate(names) for b in names[i + 1:]]


def agreement(judge_labels: Sequence[str], gold: Sequence[str]) -> dict[str, Any]:
    """Cohen's kappa of the judge against hand labels, overall and per label, and the confusion
    matrix (rows: hand label, columns: judge)."""
    matrix = stats.confusion_matrix(list(gold), list(judge_labels), LABELS)
    return {"n": len(gold), "kappa": stats.cohen_kappa(gold, judge_labels, LABELS),
            "kappa_per_label": {label: stats.one_vs_rest_kappa(gold, judge_labels, label) for label in LABELS},
            "accuracy": sum(a == b for a, b in zip(gold, judge_labels)) / len(gold),
            "confusion": {"labels": list(LABELS), "rows_hand_columns_judge": [list(map(int, r)) for r in matrix]}}


# ---------------------------------------------------------------- judging a system with its floors


def items_for(references: Sequence[dict[str, Any]], outputs: Sequence[str]) -> list[Item]:
    return [Item(r["id"], r.get("path", ""), r.get("diff_hunk") or "", r["comment"], out)
            for r, out in zip(references, outputs)]


def judge_system(judge: Judge, references: Sequence[dict[str, Any]], outputs: Sequence[str],
                 *, floors: Sequence[str] = ("echo", "shuffled"), check_position: bool = False,
                 n_boot: int = 2000, seed: int = 0, log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """The system's labels and rates, and the same judge on each floor over the same rows."""
    items = items_for(references, outputs)
    verdicts = judge.label(items, progress=_logger(log, "system"))
    labels = [v["label"] for v in verdicts]
    posted = [bool(out.strip()) for out in outputs]
    result: dict[str, Any] = {
        **rates(labels, posted, n_boot=n_boot, seed=seed),
        "unparsed": sum(not v["parsed"] for v in verdicts),
        "length_effect": length_effect(items, labels),
        "rows": [{"id": item.id, "label": label, "output_sha256": item.output_sha256}
                 for item, label in zip(items, labels)],
        "floors": {},
    }
    hunks, comments = [r.get("diff_hunk") or "" for r in references], [r["comment"] for r in references]
    for name in floors:
        floor_items = items_for(references, floor_texts(name, hunks, comments, seed))
        floor_labels = [v["label"] for v in judge.label(floor_items, progress=_logger(log, name))]
        result["floors"][name] = rates(floor_labels, n_boot=n_boot, seed=seed)
    if check_position:
        swapped = [v["label"] for v in judge.label(items, swapped=True, progress=_logger(log, "swapped"))]
        result["position_effect"] = position_effect(labels, swapped)
    return result


def _logger(log: Callable[[str], None], what: str) -> Callable[[int, int], None]:
    return lambda done, total: log(f"judged {done}/{total} ({what})")


def over_floors(result: dict[str, Any], metric: str) -> float | None:
    """The system's value minus the higher floor's, for same_rate or useful_rate."""
    floors = [f[metric]["value"] for f in result["floors"].values()]
    return result[metric]["value"] - max(floors) if floors else None


def render(results: dict[str, dict[str, Any]], judge: dict[str, Any], pairs: Sequence[dict[str, Any]] = ()) -> str:
    """Markdown: each system's same-rate and useful-rate with their floors, then what
    min_confidence would buy (where confidences were given) and McNemar on SAME for ``pairs``."""
    floor_names = sorted({name for r in results.values() for name in r["floors"]})
    head = ["system", "n", "same-rate [95% CI]", "useful-rate [95% CI]", "posted", "useful of posted"]
    head += [f"{name} same / useful" for name in floor_names] + ["same over floors", "useful over floors", "unparsed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        cells = [name, str(r["n"]), _ci(r["same_rate"]), _ci(r["useful_rate"]), f"{r.get('posted', r['n'])}",
                 _ci(r["useful_of_posted"]) if r.get("useful_of_posted") else "n/a"]
        cells += [f"{r['floors'][f]['same_rate']['value']:.3f} / {r['floors'][f]['useful_rate']['value']:.3f}"
                  if f in r["floors"] else "" for f in floor_names]
        cells += [_num(over_floors(r, "same_rate")), _num(over_floors(r, "useful_rate")), str(r["unparsed"])]
        lines.append("| " + " | ".join(cells) + " |")
    model = judge["model"]
    lines.append(f"\njudge: {judge['spec']} ({model.get('model')}), rubric sha256 {judge['prompt_sha256'][:12]}; "
                 "floors judged by the same judge on the same rows.")
    for name, r in results.items():
        if r.get("confidence_sweep"):
            lines += [f"\n{name}: posting only at min_confidence (judge's labels of the posted haiku)\n",
                      "| min_confidence | posted | useful of posted | SAME of posted |", "|---:|---:|---:|---:|"]
            lines += [f"| {row['min_confidence']:.1f} | {row['posted']} | {_share(row['useful_of_posted'])} | "
                      f"{_share(row['same_of_posted'])} |" for row in r["confidence_sweep"]]
    if pairs:
        lines += ["\nMcNemar on SAME (exact):\n", "| a | b | only a | only b | p |", "|---|---|---:|---:|---:|"]
        lines += [f"| {p['a']} | {p['b']} | {p['only_a']} | {p['only_b']} | {p['p_value']:.3g} |" for p in pairs]
    return "\n".join(lines)


def _share(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _ci(iv: dict[str, float]) -> str:
    return f"{iv['value']:.3f} [{iv['lo']:.3f}, {iv['hi']:.3f}]"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}"


# ---------------------------------------------------------------- input


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise JudgeError(f"{path}: cannot read ({err.strerror or err})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise JudgeError(f"{path}:{number}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                raise JudgeError(f"{path}:{number}: expected an object with a string id")
            rows.append(row)
    if not rows:
        raise JudgeError(f"{path}: no rows")
    return rows


def paired_outputs(predictions: Sequence[dict[str, Any]], references: Sequence[dict[str, Any]],
                   field: str, source: str) -> list[str]:
    """Each reference row's output from ``field`` of the prediction with its id; a haiku that
    harness.run marked as not posted (``"posted": false``), or a finding that compose dropped
    (``"finding_status"`` other than ok), counts as no output."""
    by_id = {p["id"]: p for p in predictions}
    missing = [r["id"] for r in references if r["id"] not in by_id]
    if missing:
        raise JudgeError(f"{source}: no prediction for {len(missing)} reference id(s) (first: {missing[0]!r})")
    outputs = []
    for r in references:
        row = by_id[r["id"]]
        value = row.get(field)
        if value is not None and not isinstance(value, str):
            raise JudgeError(f"{source}: field {field!r} of {r['id']!r} must be a string")
        unposted = (field == "haiku" and row.get("posted") is False
                    or field == "finding" and row.get("finding_status", "ok") != "ok")
        outputs.append("" if unposted else value or "")
    return outputs


def check_references(references: Sequence[dict[str, Any]], source: str) -> None:
    for r in references:
        for key in ("comment", "diff_hunk"):
            if not isinstance(r.get(key), str) or not r[key].strip():
                raise JudgeError(f"{source}: row {r['id']!r} has no {key!r} (the judge reads both)")


# ---------------------------------------------------------------- the command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--references", required=True, help="JSONL of {id, path, diff_hunk, comment}")
    parser.add_argument("--predictions", action="append", default=[], metavar="[NAME=]PATH",
                        help="JSONL of {id, <field>}; repeat for several systems")
    parser.add_argument("--field", default="haiku", help="the prediction field judged (haiku, finding...)")
    parser.add_argument("--validate", metavar="LABELS", help="judge the hand-labelled pairs instead and "
                        "report kappa (harness/data/judge_labels.jsonl)")
    parser.add_argument("--judge", default=DEFAULT_JUDGE, help=f"judge backend spec (default {DEFAULT_JUDGE})")
    parser.add_argument("--cache", default="out/judge-cache.jsonl", help="label cache file ('' for none)")
    parser.add_argument("--out", help="write results.json (and report.md) into this folder")
    parser.add_argument("--check-position", action="store_true", help="also ask with the two texts swapped")
    parser.add_argument("--position-items", type=int, default=None,
                        help="with --validate: ask only the first N labelled items again swapped (default all)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-boot", type=int, default=2000)
    return parser


def log(message: str) -> None:
    print(f"harness.judge: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    references = read_jsonl(args.references)
    check_references(references, args.references)
    if bool(args.predictions) == bool(args.validate):
        raise JudgeError("give --predictions (one or more) or --validate LABELS, not both")
    if args.cache:
        Path(args.cache).parent.mkdir(parents=True, exist_ok=True)
    judge = make_judge(args.judge, args.cache or None, args.batch_size)
    started = time.perf_counter()
    if args.validate:
        from harness.judge_labels import validate

        result = validate(judge, args.validate, references, log=log, n_boot=args.n_boot,
                          position_items=args.position_items)
        text = result["markdown"]
    else:
        results = {}
        for given in args.predictions:
            name, eq, path = given.partition("=")
            name, path = (name, path) if eq else (Path(given).stem, given)
            outputs = paired_outputs(read_jsonl(path), references, args.field, path)
            log(f"[{name}] judging {len(outputs)} rows")
            results[name] = judge_system(judge, references, outputs, check_position=args.check_position,
                                         n_boot=args.n_boot, log=log)
        comparisons = compare_systems(results)
        result = {"judge": judge.describe(), "systems": results, "mcnemar_same": comparisons}
        text = render(results, result["judge"], comparisons)
    result["judge"] = judge.describe()
    result["seconds"] = round(time.perf_counter() - started, 1)
    return text, result


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        text, result = run(args)
    except JudgeError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "judge.json").write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
        (out / "judge.md").write_text(text + "\n", encoding="utf-8")
        log(f"wrote {out / 'judge.json'} and {out / 'judge.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
