"""Training pairs: (diff hunk, human comment, category) rows, deduplicated and split by id hash.

CPU smoke (local files, no network, no model)::

    python -m training.data --source training/data/embedded --out out/data
    python -m training.data --source training/data/embedded --model embedded --out out/data-sft

Full size (the hub set through ``datasets``: needs network, not a GPU)::

    python -m training.data --source ronantakizawa/codereview-bench --language python \\
        --out out/data                       # then: python -m training.teacher --data out/data/train.jsonl

Input rows (local JSONL/JSON/parquet, a folder of them, or a hub dataset) carry ``path``,
``diff_hunk``, ``comment``, ``category`` and optionally ``id`` and ``haiku``; other spellings of
those fields (``file_path``, ``diff``, ``reviewer_comment``, ``comment_type``...) are mapped, and
category labels outside the harness's four (functional, refactoring, documentation,
discussion) are mapped to them (bug -> functional, style -> refactoring...). Rows are kept when
the hunk parses, has ``--min-hunk-lines`` to ``--max-hunk-lines`` body lines, the comment has
``--min-comment-chars`` to ``--max-comment-chars`` characters and the language matches; the
first row of each normalised comment text wins (lower case, words only), so a template comment
repeated across PRs is trained on once.

The held-out split is a fixed function of the id (sha256 of salt + id), so re-running on a
superset, or on the teacher's output, keeps every row on its side.

Output in ``--out``: ``train.jsonl`` and ``heldout.jsonl`` (one row each: id, path, diff_hunk,
comment, category, haiku if the input had one, and with ``--model`` the SFT fields ``prompt`` and
``completion``), ``stats.json`` (rows read, kept, dropped per reason) and ``data_config.yaml``.
``prompt`` is exactly what the reviewer sends at inference: the model's chat template rendered
around ``build_prompt(hunk, few_shot=0)`` with the generation prompt (``reviewer.models.render_prompt``);
``completion`` is the haiku followed by the template's end-of-turn marker, the token generation
stops on. Bad input prints one line and exits 2.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from training.config import (Progress, StageError, option, parse_config, run_main, save_resolved,
                             write_json, write_jsonl)

PROG = "python -m training.data"
HUB_DEFAULT = "ronantakizawa/codereview-bench"
CATEGORIES = ("functional", "refactoring", "documentation", "discussion")
# Input field spellings, first found wins: our own names first, then common dataset names.
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "id": ("id", "comment_id", "example_id", "uid"),
    "path": ("path", "file_path", "filename", "file"),
    "diff_hunk": ("diff_hunk", "diff", "hunk", "patch"),
    "comment": ("comment", "reviewer_comment", "review_comment", "body", "comment_text"),
    "category": ("category", "comment_type", "label", "type"),
    "language": ("language", "lang"),
    "haiku": ("haiku",),
    "finding": ("finding",),
}
# Labels of other taxonomies -> the harness's four categories.
CATEGORY_MAP = {
    "bug": "functional", "security": "functional", "performance": "functional",
    "logic": "functional", "correctness": "functional", "error": "functional", "test": "functional",
    "refactor": "refactoring", "style": "refactoring", "nitpick": "refactoring",
    "naming": "refactoring", "readability": "refactoring", "suggestion": "refactoring",
    "docs": "documentation", "doc": "documentation", "documentation": "documentation",
    "comment": "documentation", "typo": "documentation",
    "question": "discussion", "discussion": "discussion", "praise": "discussion",
}
EXTENSIONS = {"python": (".py", ".pyi")}


@dataclass(frozen=True)
class DataConfig:
    source: str = option(
        HUB_DEFAULT, "Where the pairs come from: a local .jsonl/.json/.parquet file or a folder of "
        "them, or a hub dataset id read through `datasets` (needs network).", "input")
    hub_config: str = option("", "Hub dataset configuration (subset) name; empty for the default.", "input")
    hub_split: str = option("train", "Hub dataset split to read.", "input")
    language: str = option(
        "python", "Keep rows in this language (the row's language field, else the path's "
        "extension); empty keeps every row.", "filter")
    min_hunk_lines: int = option(2, "Fewest body lines a hunk may have.", "filter")
    max_hunk_lines: int = option(60, "Most body lines a hunk may have (longer prompts cost "
                                     "training time linearly).", "filter")
    min_comment_chars: int = option(12, "Shortest human comment kept.", "filter")
    max_comment_chars: int = option(600, "Longest human comment kept.", "filter")
    limit: int = option(0, "Stop after this many kept rows; 0 for no limit.", "filter")
    heldout_fraction: float = option(0.1, "Share of ids held out (by hash, so fixed per id).", "split")
    split_salt: str = option("lgtm-575", "Salt of the id hash; change it for another split.", "split")
    model: str = option(
        "", "Render the SFT fields (prompt, completion) with this model's tokenizer and chat "
        "template: 'embedded', a hub id or a local path. Empty: pairs only.", "sft")
    out: str = option("out/data", "Output folder.", "output")

    def __post_init__(self) -> None:
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise StageError(f"heldout_fraction must be in [0, 1), not {self.heldout_fraction}")
        for name in ("min_hunk_lines", "max_hunk_lines", "min_comment_chars", "max_comment_chars", "limit"):
            if getattr(self, name) < 0:
                raise StageError(f"{name} must be >= 0, not {getattr(self, name)}")


@dataclass(frozen=True)
class Pair:
    """One training pair: a hunk as GitHub stores it under a review comment, and the comment."""

    id: str
    path: str
    diff_hunk: str
    comment: str
    category: str
    haiku: str = ""  # the distillation target, once a teacher (or a person) has written one
    language: str = ""
    finding: str = ""  # stage one's target: one plain sentence, or NOTHING (reviewer.prompt)


# ----------------------------------------------------------------------------- reading


def read_rows(source: str, hub_config: str = "", hub_split: str = "train") -> Iterator[dict[str, Any]]:
    """Raw rows from a local file or folder, else from the hub."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".jsonl", ".json", ".parquet"))
        if not files:
            raise StageError(f"{source}: no .jsonl, .json or .parquet files in this folder")
        for file in files:
            yield from read_file(file)
    elif path.exists():
        yield from read_file(path)
    elif "/" in source and not source.startswith((".", "/")) and source.count("/") == 1:
        yield from read_hub(source, hub_config, hub_split)
    else:
        raise StageError(f"{source}: no such file or folder")


def read_file(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".parquet":
        yield from _read_parquet(path)
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise StageError(f"{path}: cannot read ({err})") from None
    if path.suffix == ".json" and text.lstrip().startswith("["):
        yield from _objects(path, enumerate(json.loads(text), 1))
        return
    lines = ((no, line) for no, line in enumerate(text.splitlines(), 1) if line.strip())
    yield from _objects(path, ((no, _json(path, no, line)) for no, line in lines))


def _json(path: Path, no: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise StageError(f"{path}:{no}: not valid JSON ({err.msg})") from None


def _objects(path: Path, items: Iterable[tuple[int, Any]]) -> Iterator[dict[str, Any]]:
    for no, obj in items:
        if not isinstance(obj, dict):
            raise StageError(f"{path}:{no}: expected a JSON object, got {type(obj).__name__}")
        yield obj


def _read_parquet(path: Path) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise StageError("reading parquet needs pyarrow (pip install -e '.[train]')") from None
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a bad file
        raise StageError(f"{path}: not a readable parquet file ({err})") from None
    yield from table.to_pylist()


def read_hub(name: str, config: str = "", split: str = "train") -> Iterator[dict[str, Any]]:
    """Rows of a hub dataset, streamed; without network this fails at once, in one clear line."""
    advice = "download it elsewhere and pass the local parquet/JSONL files with --source"
    if not hub_reachable():
        raise StageError(f"cannot read {name!r} from the Hugging Face hub (offline or unreachable); {advice}")
    try:
        import datasets
    except ImportError:
        raise StageError("reading from the hub needs `datasets` (pip install -e '.[train]')") from None
    datasets.logging.set_verbosity_error()
    try:
        yield from datasets.load_dataset(name, config or None, split=split, streaming=True)
    except Exception as err:  # unknown name, bad config, a dropped connection: all end the same way
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise StageError(f"cannot read {name!r} from the Hugging Face hub ({reason}); {advice}") from None


def hub_reachable(timeout: float = 3.0) -> bool:
    """False when offline mode is on or the hub's host does not answer within ``timeout`` (the
    hub client would otherwise retry for half a minute before failing)."""
    import os
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return False
    host = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


# ----------------------------------------------------------------------------- pairs


def field(row: dict[str, Any], name: str) -> Any:
    return next((row[key] for key in FIELD_NAMES[name] if row.get(key) not in (None, "")), None)


def to_pair(row: dict[str, Any]) -> Pair | str:
    """A Pair, or the reason the row is unusable."""
    values = {name: field(row, name) for name in FIELD_NAMES}
    for name in ("path", "diff_hunk", "comment"):
        if not isinstance(values[name], str):
            return f"no {name}"
    category = map_category(values["category"])
    if category is None:
        return "unknown category"
    row_id = str(values["id"]) if values["id"] is not None else content_id(values)
    return Pair(row_id, values["path"], values["diff_hunk"], values["comment"].strip(), category,
                str(values["haiku"] or "").strip(), str(values["language"] or "").lower(),
                str(values["finding"] or "").strip())


def content_id(values: dict[str, Any]) -> str:
    digest = hashlib.sha256(f"{values['path']}\0{values['diff_hunk']}\0{values['comment']}".encode())
    return "pair-" + digest.hexdigest()[:12]


def map_category(label: Any) -> str | None:
    if not isinstance(label, str) or not label.strip():
        return None
    key = label.strip().lower()
    return key if key in CATEGORIES else CATEGORY_MAP.get(key)


def drop_reason(pair: Pair, config: DataConfig) -> str | None:
    """Why a pair is filtered out, or None to keep it."""
    if config.language and not _in_language(pair, config.language):
        return "other language"
    if not config.min_comment_chars <= len(pair.comment) <= config.max_comment_chars:
        return "comment length"
    from reviewer.diff import DiffError, parse_hunk

    try:
        hunk = parse_hunk(pair.path, pair.diff_hunk)
    except DiffError:
        return "hunk does not parse"
    if not config.min_hunk_lines <= len(hunk.lines) <= config.max_hunk_lines:
        return "hunk length"
    return None


def _in_language(pair: Pair, language: str) -> bool:
    if pair.language:
        return pair.language == language.lower()
    return pair.path.endswith(EXTENSIONS.get(language.lower(), ("." + language.lower(),)))


_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalise_comment(text: str) -> str:
    """Comment text for deduplication: lower case, words and digits only, single spaces."""
    return _NOT_WORD.sub(" ", text.lower()).strip()


def is_heldout(row_id: str, fraction: float, salt: str = "lgtm-575") -> bool:
    """A fixed coin per id: sha256(salt:id) read as a number in [0, 1) below ``fraction``."""
    digest = hashlib.sha256(f"{salt}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


@dataclass(frozen=True)
class Selected:
    train: tuple[Pair, ...]
    heldout: tuple[Pair, ...]
    stats: dict[str, int]


def select(rows: Iterable[dict[str, Any]], config: DataConfig) -> Selected:
    """Map, filter, deduplicate and split rows; ``stats`` counts every drop by reason."""
    stats: dict[str, int] = {"read": 0}
    seen: set[str] = set()
    ids: set[str] = set()
    train: list[Pair] = []
    heldout: list[Pair] = []
    for row in rows:
        stats["read"] += 1
        pair = to_pair(row)
        reason = pair if isinstance(pair, str) else drop_reason(pair, config)
        if reason is None:
            key = normalise_comment(pair.comment)
            reason = "duplicate comment" if key in seen else "duplicate id" if pair.id in ids else None
            seen.add(key)
            ids.add(pair.id)
        if reason is not None:
            stats[f"dropped: {reason}"] = stats.get(f"dropped: {reason}", 0) + 1
            continue
        (heldout if is_heldout(pair.id, config.heldout_fraction, config.split_salt) else train).append(pair)
        if config.limit and len(train) + len(heldout) >= config.limit:
            break
    stats.update(train=len(train), heldout=len(heldout))
    return Selected(tuple(train), tuple(heldout), stats)


# ----------------------------------------------------------------------------- SFT fields


def turn_end(tokenizer: Any) -> str:
    """The text the chat template puts after an assistant message (Gemma 4 ``<turn|>``, Gemma 3
    ``<end_of_turn>``): the completion ends with it, so the model learns to stop where the
    reviewer's generation stops. Trailing whitespace after the marker is not trained on."""
    sentinel = "HAIKU_SENTINEL_575"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": sentinel}], tokenize=False)
    if sentinel not in text:
        raise StageError("the chat template drops the assistant message; cannot build completions")
    end = text.split(sentinel, 1)[1].rstrip()
    if not end:
        eos = tokenizer.eos_token
        if not eos:
            raise StageError("the chat template ends no turn and the tokenizer has no eos token")
        return eos
    return end


def generation_prompt(tokenizer: Any) -> str:
    """What the chat template appends to open the model's turn (``<start_of_turn>model\\n``)."""
    messages = [{"role": "user", "content": "x"}]
    bare = tokenizer.apply_chat_template(messages, tokenize=False)
    opened = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return opened[len(bare):] if opened.startswith(bare) else ""


def sft_example(tokenizer: Any, path: str, diff_hunk: str, haiku: str) -> dict[str, str]:
    """``{"prompt", "completion"}`` exactly as the reviewer prompts at inference (one pass, few_shot=0)."""
    from reviewer.models import render_prompt
    from reviewer.prompt import build_prompt

    prompt = render_prompt(tokenizer, build_prompt(_parsed(path, diff_hunk), few_shot=0))
    return {"prompt": prompt, "completion": haiku.strip() + turn_end(tokenizer)}


def _parsed(path: str, diff_hunk: str) -> Any:
    from reviewer.diff import DiffError, parse_hunk

    try:
        return parse_hunk(path, diff_hunk)
    except DiffError as err:
        raise StageError(f"{path}: the hunk does not parse ({err})") from None


# What SFT can teach from one row, each exactly as the reviewer prompts for it at inference:
# one-pass: hunk -> haiku (two_stage off); finding: hunk + the linter's notes -> the finding (or
# NOTHING); haiku: the finding -> the haiku (not for a NOTHING row: nothing is versified then).
TASKS = ("one-pass", "finding", "haiku")


def sft_examples(tokenizer: Any, path: str, diff_hunk: str, haiku: str, finding: str = "",
                 tasks: Sequence[str] = TASKS) -> list[dict[str, str]]:
    """``{"task", "prompt", "completion"}`` for each task in ``tasks`` this row can teach: a row
    without a finding teaches one-pass only."""
    from reviewer.lint import lint_hunks, linter_notes
    from reviewer.models import render_prompt
    from reviewer.prompt import NOTHING, build_finding_prompt, build_haiku_prompt, build_prompt

    hunk, end, nothing = _parsed(path, diff_hunk), turn_end(tokenizer), finding.strip() == NOTHING
    taught = []
    if "one-pass" in tasks and haiku:
        taught.append(("one-pass", build_prompt(hunk, few_shot=0), haiku))
    if "finding" in tasks and finding:
        # the notes the CLI and the harness put in the prompt (linter on the hunk itself)
        [found] = lint_hunks([hunk])
        taught.append(("finding", build_finding_prompt(hunk, linter_notes(hunk, found)), finding))
    if "haiku" in tasks and finding and not nothing and haiku:
        taught.append(("haiku", build_haiku_prompt(hunk, finding, few_shot=0), haiku))
    return [{"task": task, "prompt": render_prompt(tokenizer, prompt), "completion": text.strip() + end}
            for task, prompt, text in taught]


def row_of(pair: Pair, tokenizer: Any = None) -> dict[str, Any]:
    row = {k: v for k, v in asdict(pair).items() if v or k in ("comment", "category")}
    row.pop("language", None)
    if tokenizer is not None and pair.haiku:
        row.update(sft_example(tokenizer, pair.path, pair.diff_hunk, pair.haiku))
    return row


def load_tokenizer(model: str) -> Any:
    """The tokenizer (and chat template) the reviewer uses for ``model``."""
    import reviewer.models as models

    if hasattr(models, "load_tokenizer"):
        return models.load_tokenizer(model)
    return models.load_model(model, adapter="none").tokenizer


# ----------------------------------------------------------------------------- entry point


def run(config: DataConfig) -> Selected:
    out = Path(config.out)
    chosen = select(read_rows(config.source, config.hub_config, config.hub_split), config)
    if not chosen.train and not chosen.heldout:
        raise StageError(f"no rows survived the filters: {json.dumps(chosen.stats)}")
    tokenizer = load_tokenizer(config.model) if config.model else None
    missing = sum(1 for p in chosen.train + chosen.heldout if not p.haiku)
    if tokenizer is not None and missing:
        print(f"{PROG}: {missing} rows have no haiku yet: no prompt/completion for them "
              "(run training.teacher first)", file=sys.stderr)
    progress = Progress("data", len(chosen.train) + len(chosen.heldout), "rows")
    for name, pairs in (("train", chosen.train), ("heldout", chosen.heldout)):
        rows = []
        for pair in pairs:
            rows.append(row_of(pair, tokenizer))
            progress.advance()
        write_jsonl(out / f"{name}.jsonl", rows)
    write_json(out / "stats.json", chosen.stats)
    save_resolved(config, out / "data_config.yaml", stage="data", stats=chosen.stats)
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    def body() -> int:
        config = parse_config(DataConfig, argv, PROG, "Training pairs: filter, dedupe, split.")
        chosen = run(config)
        print(json.dumps({"out": config.out, **chosen.stats}))
        return 0
    return run_main(body, PROG)


if __name__ == "__main__":
    sys.exit(main())
