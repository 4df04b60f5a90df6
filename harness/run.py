"""Generate with several systems on the same rows, score each, compare them, write one report.

CPU smoke run (the embedded Gemma 3 270M with and without the project's adapter, 20 rows)::

    python -m harness.run --data ../shared/data/review-pairs-dev.jsonl --limit 20 \\
        --system base=transformers:model=embedded,adapter=none \\
        --system lora=transformers:model=embedded

A server, canned outputs, or the published adapter on a GPU::

    python -m harness.run --data D.jsonl --system srv=openai:openai_base_url=http://127.0.0.1:8000/v1,model=qwen
    python -m harness.run --data D.jsonl --system canned=fake:fake_outputs=out.json
    python -m harness.run --data D.jsonl --out out/run/e4b \\
        --system e4b=transformers:model=google/gemma-4-E4B-it,adapter=none,quantization=4bit \\
        --system lgtm=transformers:model=google/gemma-4-E4B-it,adapter=shahfazal/lgtm-575-gemma4-e4b-v0.1,quantization=4bit

Data rows: {"id", "path", "diff_hunk", "comment", "category"}. ``--system NAME=SPEC``, where SPEC
is ``backend[:key=value,key=value...]`` over ``reviewer.config.GenerationConfig``'s fields.

Fairness: every system gets the same prompt (``--few-shot`` examples, default 0, for all) and
greedy decoding: one candidate per hunk and no revise rounds, through ``reviewer.compose``, so a
spec may not set few_shot, max_new_tokens, seed, revise_rounds, candidates or temperature. The
scored text is the model's answer whether compose accepted it or not (form metrics must see the
invalid answers too); an answer that repeats a haiku shown in the prompt is scored as empty.

Writes to ``--out`` (default out/run/<data name>): ``predictions-<system>.jsonl`` (rescorable
with ``python -m harness.score``), ``report.md`` (metric, each system, golden target, verdict;
McNemar on strict form for every pair; the commit that last changed harness/golden.yaml),
PNG plots, and ``results.json`` (n, package versions, git commit, configs, per-row scores).
Progress goes to stderr. Bad input (spec, file, row) prints one line and exits 2; a backend
that fails also exits 2, with its message; anything else exits 1 (LGTM575_DEBUG=1: traceback).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Sequence

from harness import report as R
from harness import score as S
from harness.metrics import GOLDEN_PATH
from reviewer.prompt import EXAMPLES
from reviewer.quality import copies_example

PROG = "python -m harness.run"
# Decoding and prompt settings every system shares; the run sets them, a spec may not.
SHARED = ("few_shot", "max_new_tokens", "seed", "revise_rounds", "candidates", "temperature")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


class RunError(Exception):
    """Bad input or a failing backend: one line on stderr, exit status 2."""


def log(message: str) -> None:
    print(f"harness.run: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- system specs


@dataclass(frozen=True)
class System:
    """One system under test: its name, the options its spec gave, and the resolved config."""

    name: str
    options: tuple[tuple[str, Any], ...]
    config: Any  # reviewer.config.GenerationConfig

    def spec(self) -> str:
        """The spec as given, with an API key masked (it is saved in the report)."""
        shown = [f"{k}={'***' if k == 'openai_api_key' else v}" for k, v in self.options]
        return self.config.backend + (":" + ",".join(shown) if shown else "")


def parse_system(text: str, shared: dict[str, Any]) -> System:
    """``NAME=backend[:key=value,...]`` -> System with ``shared`` settings applied."""
    from reviewer.config import BACKENDS, GenerationConfig
    from reviewer.filters import ConfigError

    name, eq, spec = text.partition("=")
    if not eq or not _NAME.match(name):
        raise RunError(f"--system {text!r}: expected NAME=BACKEND[:key=value,...] with a NAME of "
                       "letters, digits, '_', '.', '-'")
    backend, _, rest = spec.partition(":")
    if backend not in BACKENDS:
        raise RunError(f"--system {name}: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    options = tuple(_option(name, item) for item in rest.split(",") if item.strip())
    try:
        config = GenerationConfig(backend=backend, **dict(options), **shared)
    except ConfigError as err:
        raise RunError(f"--system {name}: {err}") from None
    return System(name, options, config)


def _option(name: str, item: str, shared: tuple[str, ...] = SHARED) -> tuple[str, Any]:
    """``key=value`` over GenerationConfig's fields, typed; keys in ``shared`` are the run's."""
    from reviewer.config import GenerationConfig

    key, eq, raw = (part.strip() for part in item.partition("="))
    known = {f.name: f for f in fields(GenerationConfig)}
    if not eq or key not in known or key == "backend":
        choices = ", ".join(k for k in known if k != "backend" and k not in shared)
        raise RunError(f"--system {name}: {item.strip()!r} is not key=value with a key among {choices}")
    if key in shared:
        raise RunError(f"--system {name}: {key} is the same for every system (greedy decoding, one "
                       "prompt); set --few-shot / --max-new-tokens / --seed for all")
    return key, _typed(name, key, raw, known[key].default)


def _typed(name: str, key: str, raw: str, default: Any) -> Any:
    """The value in the type of the field's default (bool, int, float or str)."""
    try:
        if isinstance(default, bool):
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[raw.lower()]
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except (KeyError, ValueError):
        kind = "true/false" if isinstance(default, bool) else type(default).__name__
        raise RunError(f"--system {name}: {key}={raw!r} is not a {kind}") from None
    return raw


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Row:
    id: str
    path: str
    diff_hunk: str
    line: int  # line number in the data file, for error messages


def load_rows(path: str, limit: int | None) -> tuple[list[Row], list[S.Reference]]:
    """The first ``limit`` rows (all when None): their hunks' fields and their references."""
    try:
        references = S.load_references(path)  # checks ids, comments, categories, with line numbers
        raw = S.read_jsonl(path)
    except S.ScoreError as err:
        raise RunError(str(err)) from None
    rows = []
    for no, obj in raw[:limit]:
        for key in ("path", "diff_hunk"):
            if not isinstance(obj.get(key), str) or not obj[key].strip():
                raise RunError(f"{path}:{no}: missing or empty field {key!r}")
        rows.append(Row(obj["id"], obj["path"], obj["diff_hunk"], no))
    return rows, references[:limit]


def parse_hunks(rows: Sequence[Row], data: str) -> list[Any]:
    from reviewer.diff import DiffError, parse_hunk

    hunks = []
    for row in rows:
        try:
            hunks.append(parse_hunk(row.path, row.diff_hunk))
        except DiffError as err:
            raise RunError(f"{data}:{row.line}: diff_hunk of {row.id!r} is not a hunk ({err})") from None
    return hunks


# ---------------------------------------------------------------- generation


@dataclass(frozen=True)
class Answer:
    """One system's answer to one row, as scored, and what compose made of it."""

    id: str
    haiku: str  # the text scored: compose's reading of the answer ("" for a copied example)
    raw: str  # the model's answer as it came
    posted: bool  # compose accepted it (a HaikuComment)
    reason: str = ""  # why compose rejected it
    copied: bool = False  # it repeats a haiku shown in the prompt
    finding: str | None = None  # stage one's sentence (two-stage systems); "" = nothing to say
    finding_status: str = ""  # ok | nothing | unsafe | unsupported (reviewer.results.Finding)
    confidence: float | None = None  # the posted haiku's confidence (reviewer.results.HaikuComment)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def generate(system: System, rows: Sequence[Row], hunks: Sequence[Any]) -> tuple[list[Answer], dict[str, Any]]:
    """Each row's answer from one system, and the backend's description with timings."""
    from reviewer.backends.base import BackendError
    from reviewer.compose import compose_hunks
    from reviewer.pipeline import backend_from_config

    try:
        started = time.perf_counter()
        backend = backend_from_config(system.config)
        loaded = time.perf_counter()
        outcomes = compose_hunks(hunks, backend, system.config, _progress(system.name))
    except BackendError as err:
        raise RunError(f"system {system.name}: {err}") from None
    model = dict(backend.describe(), load_seconds=round(loaded - started, 3),
                 generate_seconds=round(time.perf_counter() - loaded, 3))
    shown = tuple(e.haiku for e in EXAMPLES[:system.config.few_shot])
    return [answer(row.id, outcome, shown) for row, outcome in zip(rows, outcomes, strict=True)], model


def answer(row_id: str, outcome: Any, shown: tuple[str, ...]) -> Answer:
    """What is scored for one hunk: the posted haiku, or the first candidate read the way compose
    reads every answer, so accepted and rejected answers are scored alike."""
    from reviewer.compose import normalize
    from reviewer.results import HaikuComment

    if isinstance(outcome, HaikuComment):
        text = raw = outcome.body
        posted, reason, confidence = True, "", outcome.confidence
    else:
        raw = outcome.candidates[0].text if outcome.candidates else ""
        text, posted, reason, confidence = "\n".join(normalize(raw)), False, outcome.reason, None
    copied = copies_example(text.split("\n"), shown)  # compose's own rule
    finding = outcome.finding
    return Answer(row_id, "" if copied else text, raw, posted, reason, copied,
                  finding.text if finding else None, finding.status if finding else "",
                  None if confidence is None else round(confidence, 4))


def _progress(name: str):
    state = {"last": 0.0}

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - state["last"] > 2.0:  # at most every two seconds
            state["last"] = now
            log(f"[{name}] generated {done}/{total} hunks")
    return report


# ---------------------------------------------------------------- scoring and comparison


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's numbers (saved resolved in results.json)."""

    data: str
    systems: tuple[str, ...]
    out: str
    limit: int | None = None
    few_shot: int = 0
    max_new_tokens: int = 40
    seed: int = 575
    n_boot: int = 2000
    score_seed: int = 0
    judge: str = ""  # a harness.judge backend spec; "" = no judge (measured ~10-20 s a row on our 2 cores)

    def shared(self) -> dict[str, Any]:
        """The settings every system gets: one prompt, one greedy candidate, no revising."""
        return {"few_shot": self.few_shot, "max_new_tokens": self.max_new_tokens, "seed": self.seed,
                "revise_rounds": 0, "candidates": 1, "temperature": 0.0}


def score_system(name: str, answers: Sequence[Answer], references: Sequence[S.Reference],
                 run: RunConfig, predictions_path: Path) -> S.Report:
    predictions = [S.Prediction(a.id, a.haiku) for a in answers]
    config = S.ScoreConfig(predictions=str(predictions_path), references=run.data, out=run.out,
                           system=name, n_boot=run.n_boot, seed=run.score_seed)
    try:
        return S.score(predictions, references, config)
    except S.ScoreError as err:
        raise RunError(f"scoring {name}: {err}") from None


def compare_all(reports: dict[str, S.Report], run: RunConfig) -> list[dict[str, Any]]:
    """Every pair of systems: McNemar on form, paired bootstrap on relevance and F1."""
    return [S.compare(reports[a], reports[b], n_boot=run.n_boot, seed=run.score_seed)
            for a, b in itertools.combinations(reports, 2)]


def golden_commit(path: Path = GOLDEN_PATH) -> tuple[str | None, bool | None]:
    """The short hash of the commit that last changed golden.yaml, and whether it changed since."""
    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", "-C", str(path.parent), *args], capture_output=True, text=True,
                                 timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("log", "-1", "--format=%h", "--", path.name)
    status = git("status", "--porcelain", "--", path.name)
    return commit or None, None if status is None else bool(status)


# ---------------------------------------------------------------- the report


def render_markdown(run: RunConfig, systems: Sequence[System], reports: dict[str, S.Report],
                    models: dict[str, dict[str, Any]], answers: dict[str, list[Answer]],
                    comparisons: Sequence[dict[str, Any]], plots: Sequence[Path]) -> str:
    n = next(iter(reports.values())).n
    parts = [f"# harness.run: {Path(run.data).name}, n = {n}", "", _golden_line(), "",
             f"Every system: the same prompt ({run.few_shot} worked examples), one greedy answer per "
             "hunk, no revise rounds. Scored: the answer as compose reads it, posted or not.", "",
             "## Systems", "", _systems_table(systems, models, answers), "",
             "## Metrics (value [95% CI])", "", R.render_comparison(reports), ""]
    if comparisons:
        parts += ["## Paired comparisons", "", _mcnemar_table(comparisons), "", _diff_table(comparisons), ""]
    parts += ["## Notes", "", _notes(reports), ""]
    if plots:
        parts += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(parts).rstrip() + "\n"


def _notes(reports: dict[str, S.Report]) -> str:
    """Each system's notes, with the lines they share (method, trust, golden) said once."""
    seen: set[str] = set()
    lines = []
    for report in reports.values():
        for line in R.render_notes(report).splitlines():
            if line not in seen:
                seen.add(line)
                lines.append(line)
    return "\n".join(lines)


def _golden_line() -> str:
    commit, modified = golden_commit()
    if commit is None:
        return ("Golden targets: harness/golden.yaml is not committed; the verdicts judge against "
                "uncommitted targets.")
    since = " and modified since (the verdicts use the working copy)" if modified else ""
    return f"Golden targets: harness/golden.yaml, last changed in commit {commit}{since}."


def _systems_table(systems, models, answers) -> str:
    lines = ["| system | spec | model | posted by compose | copied examples | seconds |",
             "|---|---|---|---:|---:|---:|"]
    for system in systems:
        m, rows = models[system.name], answers[system.name]
        described = ", ".join(f"{k}={v}" for k, v in m.items() if k not in ("load_seconds", "generate_seconds"))
        posted = sum(a.posted for a in rows)
        lines.append(f"| {system.name} | `{system.spec()}` | {described} | {posted}/{len(rows)} | "
                     f"{sum(a.copied for a in rows)} | {m['load_seconds'] + m['generate_seconds']:.1f} |")
    return "\n".join(lines)


def _mcnemar_table(comparisons) -> str:
    lines = ["| A | B | form | n | both pass | A only | B only | discordant | McNemar exact p |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for c in comparisons:
        for key in ("form_strict", "form_lenient"):
            m = c.get(f"mcnemar_{key}")
            if m:
                lines.append(f"| {c['a']} | {c['b']} | {key.removeprefix('form_')} | {m['n']} | {m['both']} | "
                             f"{m['only_a']} | {m['only_b']} | {m['n_discordant']} | {m['p_value']:.4g} |")
    return "\n".join(lines)


def _diff_table(comparisons) -> str:
    lines = ["| A - B | difference | 95% CI (paired bootstrap) |", "|---|---:|---|"]
    for c in comparisons:
        for key in ("diff_rel_real", "diff_rel_gap", "diff_category_macro_f1"):
            d = c.get(key)
            if d:
                lines.append(f"| {c['a']} - {c['b']}: {key.removeprefix('diff_')} | {R.fmt(d['value'])} | "
                             f"[{R.fmt(d['lo'])}, {R.fmt(d['hi'])}] |")
    return "\n".join(lines)


def results_json(run: RunConfig, systems: Sequence[System], reports: dict[str, S.Report],
                 models: dict[str, dict[str, Any]], answers: dict[str, list[Answer]],
                 comparisons: Sequence[dict[str, Any]]) -> dict[str, Any]:
    commit, modified = golden_commit()
    data = Path(run.data)
    return {
        "n": next(iter(reports.values())).n,
        "data": {"path": str(data.resolve()), "sha256": hashlib.sha256(data.read_bytes()).hexdigest()},
        "env": S.environment(),
        "config": dict(asdict(run), systems=[f"{s.name}={s.spec()}" for s in systems]),  # keys masked
        "golden": {**S.file_provenance(GOLDEN_PATH), "commit_short": commit, "modified_since": modified},
        "systems": {s.name: {"spec": s.spec(), "config": s.config.resolved(), "model": models[s.name],
                             "answers": [a.to_json() for a in answers[s.name]],
                             "score": reports[s.name].to_dict()} for s in systems},
        "comparisons": list(comparisons),
    }


# ---------------------------------------------------------------- the command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="JSONL of {id, path, diff_hunk, comment, category}")
    parser.add_argument("--system", action="append", required=True, metavar="NAME=SPEC",
                        help="a system: NAME=BACKEND[:key=value,...] over GenerationConfig's fields; repeat it")
    parser.add_argument("--out", help="output folder (default: out/run/<data file name>)")
    parser.add_argument("--limit", type=_positive, help="only the first N rows")
    parser.add_argument("--few-shot", type=int, default=0, choices=range(4),
                        help="worked examples in every system's prompt (default 0)")
    parser.add_argument("--max-new-tokens", type=_positive, default=40, help="token budget per haiku (default 40)")
    parser.add_argument("--seed", type=int, default=575, help="generation seed (default 575)")
    parser.add_argument("--n-boot", type=_positive, default=2000, help="bootstrap replicates (default 2000)")
    parser.add_argument("--score-seed", type=int, default=0,
                        help="seed of the bootstrap and the shuffles (default 0)")
    parser.add_argument("--judge", default="", metavar="SPEC",
                        help="also judge every system with harness.judge on this backend spec, e.g. "
                        "openai:openai_base_url=URL,model=NAME (off by default: the CPU Qwen 1.5B judge costs ~10-20 s a "
                        "row on 2 cores and fails its check against the hand labels, kappa 0.054)")
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def run_config(args: argparse.Namespace) -> RunConfig:
    out = args.out or str(Path("out/run") / Path(args.data).stem)
    return RunConfig(data=args.data, systems=tuple(args.system), out=out, limit=args.limit,
                     few_shot=args.few_shot, max_new_tokens=args.max_new_tokens, seed=args.seed,
                     n_boot=args.n_boot, score_seed=args.score_seed, judge=args.judge)


def parse_systems(run: RunConfig) -> list[System]:
    systems = [parse_system(text, run.shared()) for text in run.systems]
    names = [s.name for s in systems]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RunError(f"--system names must differ; {', '.join(twice)} is given twice")
    return systems


def execute(run: RunConfig) -> tuple[str, Path]:
    """The whole run: generate, score, compare, write. Returns the markdown and the output folder."""
    systems = parse_systems(run)  # every spec checked before any model loads
    rows, references = load_rows(run.data, run.limit)
    hunks = parse_hunks(rows, run.data)
    out = Path(run.out)
    _make_dir(out)
    answers, models, reports = {}, {}, {}
    for system in systems:
        log(f"[{system.name}] {system.spec()}: {len(hunks)} hunks")
        answers[system.name], models[system.name] = generate(system, rows, hunks)
        path = _write(out / f"predictions-{system.name}.jsonl",
                      "".join(json.dumps(a.to_json(), ensure_ascii=False) + "\n" for a in answers[system.name]))
        log(f"[{system.name}] scoring")
        reports[system.name] = score_system(system.name, answers[system.name], references, run, path)
    comparisons = compare_all(reports, run)
    plots = _plots(reports, out)
    judged = judge_all(run, rows, answers, out) if run.judge else None
    markdown = render_markdown(run, systems, reports, models, answers, comparisons, plots)
    if judged:
        markdown += "\n## Issue-match judge (harness.judge)\n\n" + judged["markdown"] + "\n"
    _write(out / "report.md", markdown)
    results = results_json(run, systems, reports, models, answers, comparisons)
    if judged:
        results["judge"] = {k: v for k, v in judged.items() if k != "markdown"}
    results = S.jsonable(results)  # NaN -> null
    _write(out / "results.json", json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    return markdown, out


def judge_all(run: RunConfig, rows: Sequence[Row], answers: dict[str, list[Answer]], out: Path) -> dict[str, Any]:
    """Each system's posted haiku (and, for two-stage systems, its findings) judged against the
    human comment, with the echo and shuffled floors; McNemar on SAME for every pair."""
    from harness import judge as J

    references = {r["id"]: r for r in J.read_jsonl(run.data)}
    refs = [references[row.id] for row in rows]
    try:
        judge = J.make_judge(run.judge, out / "judge-cache.jsonl")
    except J.JudgeError as err:
        raise RunError(str(err)) from None
    results: dict[str, Any] = {}
    for name, rows_answers in answers.items():
        outputs = {name: [a.haiku if a.posted else "" for a in rows_answers]}
        if any(a.finding is not None for a in rows_answers):
            outputs[f"{name}.finding"] = [a.finding or "" for a in rows_answers]
        for label, texts in outputs.items():
            log(f"[{label}] judging {len(texts)} rows with {run.judge}")
            results[label] = J.judge_system(judge, refs, texts, n_boot=run.n_boot, seed=run.score_seed,
                                            log=lambda m, label=label: log(f"[{label}] {m}"))
        confidences = [a.confidence if a.posted else None for a in rows_answers]
        if any(c is not None for c in confidences):  # what min_confidence would buy
            results[name]["confidence_sweep"] = J.confidence_sweep(confidences, J.labels_of(results[name]))
    pairs = J.compare_systems(results)
    return {"judge": judge.describe(), "systems": results, "mcnemar_same": pairs,
            "markdown": J.render(results, judge.describe(), pairs)}


def _plots(reports: dict[str, S.Report], out: Path) -> list[Path]:
    try:
        return R.write_plots(reports, out)
    except ImportError as err:
        log(f"warning: no plots ({err}); install matplotlib")
        return []


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(f"cannot create {path} ({err.strerror or err})") from None


def _write(path: Path, text: str) -> Path:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise RunError(f"cannot write {path} ({err.strerror or err})") from None
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        markdown, out = execute(run_config(args))
    except RunError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # one line at the program's edge; the traceback on request
        if os.environ.get("LGTM575_DEBUG"):
            raise
        print(f"{PROG}: internal error: {type(err).__name__}: {err} (set LGTM575_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
    print(markdown.split("## Notes")[0].rstrip())
    print(f"\nwrote {out}/report.md, {out}/results.json and the predictions and plots beside them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
