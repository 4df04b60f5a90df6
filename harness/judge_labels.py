"""Hand labels for the issue-match judge: the blind labelling pool, and the judge checked against it.

    # 1. draw the pool (outputs of several systems on the dev pairs) and write the blind sheets:
    python -m harness.judge_labels pool --references ../shared/data/review-pairs-dev.jsonl \\
        --system embedded=training/reports/embedded-dev/predictions-lora.jsonl:haiku \\
        --system q15-finding=out/run/q15/predictions-q15.jsonl:finding --out /tmp/labelling
    # 2. two people label sheet.md blind (item, SAME/OTHER/NONE), into labels-a.tsv and labels-b.tsv
    # 3. merge into the repo's label file (row ids and output hashes only, never the dev text):
    python -m harness.judge_labels merge --pool /tmp/labelling/pool.jsonl --a labels-a.tsv \\
        --b labels-b.tsv --gold gold.tsv --out harness/data/judge_labels.jsonl
    # 4. the judge against them:
    python -m harness.judge --validate harness/data/judge_labels.jsonl --references ../shared/data/review-pairs-dev.jsonl

The dev pairs may not be copied into the repository, so the label file holds, per item, the row
id, the system, the sha256 of the output and the labels. Outputs the dev rows themselves give
(the human comment, a shuffled comment, the echo) are rebuilt from the references when validating,
and their hash must match; outputs of our own models are stored as text (they are ours).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from harness import judge as J
from harness.floors import floor_texts

# Systems whose outputs come from the references themselves (rebuilt, never stored).
DERIVED = ("human", "shuffled", "echo", "identifiers")
SEED = 575


def derived_outputs(name: str, references: Sequence[dict[str, Any]]) -> list[str]:
    comments = [r["comment"] for r in references]
    if name == "human":
        return comments
    return floor_texts(name, [r["diff_hunk"] for r in references], comments, seed=0)


def draw_pool(references: Sequence[dict[str, Any]], systems: dict[str, list[str]], sizes: dict[str, int],
              seed: int = SEED) -> list[dict[str, Any]]:
    """``sizes[system]`` rows per system, drawn without replacement (seeded), empty outputs
    skipped, then the items shuffled together and numbered, so labellers cannot tell systems apart."""
    rng = random.Random(seed)
    items = []
    for name, outputs in systems.items():
        rows = [i for i, out in enumerate(outputs) if out.strip()]
        for i in rng.sample(rows, min(sizes.get(name, 0), len(rows))):
            items.append({"id": references[i]["id"], "system": name, "output": outputs[i]})
    rng.shuffle(items)
    for number, item in enumerate(items, 1):
        item["item"] = f"L{number:03d}"
    return items


def sheet(items: Sequence[dict[str, Any]], references: Sequence[dict[str, Any]]) -> str:
    """The blind labelling sheet: per item the hunk, the human comment and the output, no system."""
    by_id = {r["id"]: r for r in references}
    parts = ["# Label each item SAME, OTHER or NONE\n", J.RUBRIC.split("Labels:")[1].split("Answer")[0].strip(), ""]
    for item in items:
        row = by_id[item["id"]]
        parts += [f"## {item['item']}", f"File: {row['path']}", "```diff", row["diff_hunk"].rstrip(), "```",
                  f"Human reviewer's comment: <<{row['comment'].strip()}>>", "",
                  f"Automated review to grade: <<{item['output'].strip()}>>", ""]
    return "\n".join(parts)


def read_labels(path: str | Path) -> dict[str, str]:
    """item -> label from a TSV of ``item<TAB>label`` (other columns ignored)."""
    labels = {}
    with open(path, encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if row and re.match(r"^[A-Z][0-9]{3}$", row[0].strip()) and len(row) > 1:
                label = row[1].strip().upper()
                if label not in J.LABELS:
                    raise J.JudgeError(f"{path}: item {row[0]} has label {row[1]!r}, not one of {', '.join(J.LABELS)}")
                labels[row[0].strip()] = label
    return labels


def merge(pool: Sequence[dict[str, Any]], a: dict[str, str], b: dict[str, str], gold: dict[str, str]) -> list[dict[str, Any]]:
    """The repo's label rows: where A and B agree that is the gold label; where they differ the
    adjudicated one from ``gold`` (every disagreement must be adjudicated)."""
    rows = []
    for item in pool:
        key = item["item"]
        if key not in a or key not in b:
            raise J.JudgeError(f"item {key} is not labelled by both labellers")
        final = a[key] if a[key] == b[key] else gold.get(key)
        if final is None:
            raise J.JudgeError(f"item {key}: labellers disagree ({a[key]} / {b[key]}) and no adjudicated label")
        row = {"item": key, "id": item["id"], "system": item["system"], "output_sha256": J.sha(item["output"]),
               "labeller_a": a[key], "labeller_b": b[key], "gold": final}
        if item["system"] not in DERIVED:
            row["text"] = item["output"]
        rows.append(row)
    return rows


def load_items(path: str | Path, references: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[J.Item]]:
    """The label rows and the (row, output) items they label, outputs rebuilt and hash-checked."""
    rows = J.read_jsonl(path)
    by_id = {r["id"]: i for i, r in enumerate(references)}
    derived = {name: derived_outputs(name, references) for name in DERIVED}
    items = []
    for row in rows:
        if row["id"] not in by_id:
            raise J.JudgeError(f"{path}: row id {row['id']!r} is not in the references")
        index = by_id[row["id"]]
        output = derived[row["system"]][index] if row["system"] in DERIVED else row.get("text", "")
        if J.sha(output) != row["output_sha256"]:
            raise J.JudgeError(f"{path}: item {row['item']}: the rebuilt output does not match its hash "
                               "(other references than the ones labelled?)")
        ref = references[index]
        items.append(J.Item(ref["id"], ref.get("path", ""), ref["diff_hunk"], ref["comment"], output))
    return rows, items


def validate(judge: J.Judge, path: str | Path, references: Sequence[dict[str, Any]], *,
             log: Callable[[str], None] = lambda _m: None, n_boot: int = 2000,
             position_items: int | None = None) -> dict[str, Any]:
    """The judge against the hand labels: kappa overall and per label, the confusion matrix, the
    labellers' own agreement, and the position and length checks. The position check asks the
    first ``position_items`` items (all when None; the pool is shuffled) again with the texts swapped."""
    rows, items = load_items(path, references)
    gold = [row["gold"] for row in rows]
    verdicts = judge.label(items, progress=lambda d, t: log(f"judged {d}/{t}"))
    labels = [v["label"] for v in verdicts]
    checked = items[:position_items] if position_items else items
    swapped = [v["label"] for v in judge.label(checked, swapped=True, progress=lambda d, t: log(f"judged {d}/{t} (swapped)"))]
    by_system: dict[str, dict[str, Any]] = {}
    for row, label in zip(rows, labels):
        entry = by_system.setdefault(row["system"], {"n": 0, "gold_same": 0, "gold_useful": 0, "judge_same": 0, "judge_useful": 0})
        entry["n"] += 1
        entry["gold_same"] += row["gold"] == "SAME"
        entry["gold_useful"] += row["gold"] != "NONE"
        entry["judge_same"] += label == "SAME"
        entry["judge_useful"] += label != "NONE"
    result = {
        "labels_file": str(path), "n": len(rows),
        "judge_vs_gold": J.agreement(labels, gold),
        "labellers": J.agreement([r["labeller_b"] for r in rows], [r["labeller_a"] for r in rows]),
        "unparsed": sum(not v["parsed"] for v in verdicts),
        "position_effect": J.position_effect(labels[:len(checked)], swapped),
        "length_effect": {"judge": J.length_effect(items, labels), "gold": J.length_effect(items, gold)},
        "by_system": by_system,
    }
    result["markdown"] = render_validation(result, judge.describe())
    return result


def render_validation(result: dict[str, Any], judge: dict[str, Any]) -> str:
    agreement, labellers = result["judge_vs_gold"], result["labellers"]
    lines = [f"judge {judge['spec']} (rubric {judge['prompt_sha256'][:12]}) against {result['n']} hand-labelled pairs:",
             f"- Cohen's kappa {agreement['kappa']:.3f} (accuracy {agreement['accuracy']:.3f}); per label: "
             + ", ".join(f"{k} {v:.3f}" for k, v in agreement["kappa_per_label"].items()),
             f"- the two labellers' own kappa: {labellers['kappa']:.3f} (accuracy {labellers['accuracy']:.3f})",
             f"- unparsed answers: {result['unparsed']}; position: {result['position_effect']['flipped']} of "
             f"{result['position_effect']['n']} labels flip when the two texts swap (kappa between orders "
             f"{result['position_effect']['kappa_between_orders']:.3f})",
             "", "confusion (rows: hand label, columns: judge)", "", "| hand \\ judge | " + " | ".join(J.LABELS) + " |",
             "|---|" + "---:|" * len(J.LABELS)]
    for label, counts in zip(J.LABELS, agreement["confusion"]["rows_hand_columns_judge"]):
        lines.append(f"| {label} | " + " | ".join(map(str, counts)) + " |")
    lines += ["", "| system | n | hand SAME | judge SAME | hand useful | judge useful |", "|---|---:|---:|---:|---:|---:|"]
    for name, e in sorted(result["by_system"].items()):
        lines.append(f"| {name} | {e['n']} | {e['gold_same']} | {e['judge_same']} | {e['gold_useful']} | {e['judge_useful']} |")
    short = result["length_effect"]
    if "shortest_third_useful" in short["judge"]:
        lines.append(f"\nlength: useful-rate shortest/longest third of outputs: judge "
                     f"{short['judge']['shortest_third_useful']:.2f}/{short['judge']['longest_third_useful']:.2f}, "
                     f"hand {short['gold']['shortest_third_useful']:.2f}/{short['gold']['longest_third_useful']:.2f}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.judge_labels", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pool = sub.add_parser("pool", help="draw the blind labelling pool and its sheet")
    pool.add_argument("--references", required=True)
    pool.add_argument("--system", action="append", default=[], metavar="NAME=PATH:FIELD",
                      help="a model's predictions JSONL and the field to label; repeat")
    pool.add_argument("--sizes", default="human=20,shuffled=25,echo=20",
                      help="items per system, NAME=N,... (model systems default to 30)")
    pool.add_argument("--out", required=True, help="a folder OUTSIDE the repo (the sheet holds dev text)")
    joined = sub.add_parser("merge", help="merge two labellers' TSVs into the repo's label file")
    for flag in ("--pool", "--a", "--b", "--gold", "--out"):
        joined.add_argument(flag, required=flag != "--gold")
    args = parser.parse_args(argv)
    try:
        if args.command == "pool":
            _pool(args)
        else:
            pool_items = J.read_jsonl(args.pool)
            rows = merge(pool_items, read_labels(args.a), read_labels(args.b), read_labels(args.gold) if args.gold else {})
            Path(args.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            print(f"wrote {len(rows)} labels to {args.out}")
    except J.JudgeError as err:
        print(f"harness.judge_labels: error: {err}", file=sys.stderr)
        return 2
    return 0


def _pool(args: argparse.Namespace) -> None:
    references = J.read_jsonl(args.references)
    J.check_references(references, args.references)
    sizes = {k: int(v) for k, _, v in (item.partition("=") for item in args.sizes.split(",") if item)}
    systems = {name: derived_outputs(name, references) for name in DERIVED if sizes.get(name)}
    for given in args.system:
        name, _, rest = given.partition("=")
        path, _, field = rest.rpartition(":")
        systems[name] = J.paired_outputs(J.read_jsonl(path), references, field or "haiku", path)
        sizes.setdefault(name, 30)
    items = draw_pool(references, systems, sizes)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pool.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    (out / "sheet.md").write_text(sheet(items, references), encoding="utf-8")
    counts = ", ".join(f"{name} {sum(item['system'] == name for item in items)}" for name in systems)
    print(f"{len(items)} items from {counts}; wrote {out / 'pool.jsonl'} and {out / 'sheet.md'}")


if __name__ == "__main__":
    raise SystemExit(main())
