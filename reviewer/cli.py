"""The command line: ``python -m reviewer PR.diff [--format markdown|json] [flags]``.

    python -m reviewer PR.diff                               # the embedded default: Gemma 3 270M on the CPU
    python -m reviewer PR.diff --format json > review.json   # everything, machine-readable
    python -m reviewer PR.diff --model google/gemma-4-E4B-it \
        --adapter shahfazal/lgtm-575-gemma4-e4b-v0.1 --quantization 4bit      # a GPU runner
    python -m reviewer PR.diff --backend openai --openai-base-url http://localhost:8000/v1 --model qwen3
    GITHUB_TOKEN=... python -m reviewer PR.diff --post --repo OWNER/NAME --pr N [--max-comments 5] [--dry-run]
    python -m reviewer PR.diff --list-hunks                  # no model: hunks + anchors as JSON
    git diff origin/main... | python -m reviewer - --list-hunks --exclude 'docs/**'

The default action writes one haiku per hunk and prints them as markdown (``--format json``:
{"comments": [{"path", "line", "side", "start_line" (ranges only), "header", "haiku": [3 lines],
"syllables": [5, 7, 5], "valid": true, ...}], "rejected": [{"path", "header", "reason",
"candidates"}], "skipped": [{"path", "reason"}], "model": {...}, "timings": {...}}). A progress
bar goes to stderr when stderr is a terminal. ``--list-hunks`` prints {"hunks": [{"path", "line",
"side", "start_line", "header", "added", "removed"}], "skipped": [...]}.

Exit status: 0 success (rejected hunks are results, not errors); 2 unreadable or malformed
input, bad flags or config, a model or server that cannot be used (one line on stderr, never a
traceback); 1 an internal error (one line; set LGTM575_DEBUG=1 for the traceback). This module
imports no model code: the backends import torch inside their constructors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from typing import Any, Callable, Sequence

from reviewer.backends.base import BackendError
from reviewer.config import GenerationConfig
from reviewer.diff import DiffError, Hunk, parse_diff
from reviewer.filters import ConfigError, DiffFilterConfig, Selection, select_hunks
from reviewer.render import ProgressBar, render_markdown

PROG = "lgtm-575"


class InputError(Exception):
    """The diff could not be read (missing file, permissions)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="An automated code reviewer that writes 5-7-5 haiku review comments.")
    parser.add_argument("diff", help="the PR's unified diff (git diff, GitHub .diff, diff -u); '-' reads stdin")
    parser.add_argument("--list-hunks", action="store_true",
                        help="print the hunks to review with their GitHub anchors, and what was skipped, as JSON")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown",
                        help="how to print the review (default: markdown)")
    _add_config_flags(parser.add_argument_group("which hunks to review"), DiffFilterConfig)
    _add_config_flags(parser.add_argument_group("the model and its decoding"), GenerationConfig)
    from reviewer.cli_post import add_post_flags  # PyGithub itself loads only when --post runs
    add_post_flags(parser)
    return parser


def _add_config_flags(group: argparse._ArgumentGroup, config: type) -> None:
    """One flag per config field that declares one; help comes from the field."""
    for spec in fields(config):
        flag = spec.metadata.get("flag")
        if flag:
            help_text = f"{spec.metadata['help']} (default: {_shown(spec.default)})"
            group.add_argument(flag, dest=spec.name, default=None, help=help_text, **_flag_kind(spec))


def _flag_kind(spec: Any) -> dict[str, Any]:
    if isinstance(spec.default, bool):
        return {"action": argparse.BooleanOptionalAction}
    if isinstance(spec.default, int):
        return {"type": int if spec.default < 0 else _count, "metavar": "N"}
    if isinstance(spec.default, float):
        return {"type": float, "metavar": "X"}
    if "choices" in spec.metadata:
        return {"choices": spec.metadata["choices"]}
    if isinstance(spec.default, str):
        return {"metavar": spec.name.split("_")[-1].upper()}
    return {"action": "append", "metavar": "GLOB"}


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _shown(default: Any) -> str:
    if isinstance(default, tuple):
        return ", ".join(default) or "none"
    return str(default).lower() if isinstance(default, bool) else str(default)


def config_from_args(args: argparse.Namespace, config: type) -> Any:
    """The flags given on the command line over the config's defaults."""
    given = {spec.name: getattr(args, spec.name, None) for spec in fields(config)}
    return config(**{name: tuple(value) if isinstance(value, list) else value
                     for name, value in given.items() if value is not None})


def filter_config_from_args(args: argparse.Namespace) -> DiffFilterConfig:
    return config_from_args(args, DiffFilterConfig)


def read_diff(name: str) -> bytes:
    """The diff's bytes, from a file or ('-') stdin; decoding is the parser's job."""
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        with open(name, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise InputError(f"cannot read the diff: {err.strerror or err}") from None


def load_selection(args: argparse.Namespace) -> Selection:
    """diff -> files -> the hunks to review; shared by every action."""
    config = filter_config_from_args(args)
    return select_hunks(parse_diff(read_diff(args.diff)), config)


def hunk_entry(hunk: Hunk) -> dict[str, Any]:
    anchor = hunk.anchor
    assert anchor is not None, "select_hunks keeps only hunks with changes"
    entry: dict[str, Any] = {"path": anchor.path, "line": anchor.line, "side": anchor.side}
    if anchor.start_line is not None:
        entry["start_line"] = anchor.start_line
    entry.update(header=hunk.header, added=hunk.added, removed=hunk.removed)
    return entry


def list_hunks_payload(selection: Selection) -> dict[str, Any]:
    return {"hunks": [hunk_entry(hunk) for hunk in selection.hunks],
            "skipped": [{"path": s.path, "reason": s.reason} for s in selection.skipped]}


def _list_hunks(args: argparse.Namespace) -> int:
    _write_json(list_hunks_payload(load_selection(args)))
    return 0


def _write_json(payload: dict[str, Any]) -> None:
    # non-ASCII paths as they are on a UTF-8 stdout, as \u escapes (the same JSON) on any other
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    sys.stdout.write(json.dumps(payload, ensure_ascii=not encoding.startswith("utf"), indent=2) + "\n")


def _generate(args: argparse.Namespace) -> int:
    """The default action: write, check and print a haiku per hunk."""
    from reviewer.pipeline import run_review  # compose and the backends stay out of --list-hunks

    generation = config_from_args(args, GenerationConfig)
    diff = read_diff(args.diff)
    with ProgressBar(sys.stderr, "hunks") as bar:
        result = run_review(diff, filter_config_from_args(args), generation, progress=bar.update)
    payload = result.to_json()
    payload["config"] = generation.resolved()
    if args.format == "json":
        _write_json(payload)
    else:
        sys.stdout.write(render_markdown(result))
    if args.post:
        from reviewer.cli_post import post_from_cli
        return post_from_cli(args, result)
    return 0


def _action(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    return _list_hunks if args.list_hunks else _generate


def _fail(message: str) -> None:
    sys.stderr.write(f"{PROG}: {' '.join(message.split())}\n")  # always exactly one line


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _action(args)(args)
    except (DiffError, InputError) as err:
        _fail(f"{args.diff}: {err}")
        return 2
    except (ConfigError, BackendError) as err:
        _fail(str(err))
        return 2
    except BrokenPipeError:  # `... --list-hunks | head`
        return 0
    except Exception as err:  # noqa: BLE001 - the edge of the program: one line, not a traceback
        if os.environ.get("LGTM575_DEBUG"):
            raise
        _fail(f"internal error: {type(err).__name__}: {err} (set LGTM575_DEBUG=1 for the traceback)")
        return 1
