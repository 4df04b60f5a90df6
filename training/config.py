"""One typed config per training stage: CLI flags and a YAML file both fill the same dataclass.

Every field is declared with :func:`option` (a default, a help string and a section), so
``--help``, the YAML keys and the saved resolved config never disagree::

    @dataclass(frozen=True)
    class SFTRunConfig:
        lr: float = option(2e-4, "Peak learning rate.", "optimisation")

    config = parse_config(SFTRunConfig, argv, PROG, "LoRA SFT")  # --config FILE.yaml, then --lr 1e-4 wins
    save_resolved(config, out_dir / "sft_config.yaml", stage="sft")

Precedence: dataclass defaults < the YAML file (``--config``) < flags given on the command line.
Unknown YAML keys, values of the wrong type and bad flags are a :class:`StageError`: one line on
stderr and exit status 2 through :func:`run_main`, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import typing
from dataclasses import asdict, fields
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

from reviewer.filters import ConfigError, _option

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes")


class StageError(Exception):
    """Bad input or an unusable setup for a stage: reported as one line, exit status 2."""


def option(default: Any, help: str, section: str, **extra: Any) -> Any:
    """A config field: its help text and section live here once (flags and YAML read them)."""
    return _option(default, help, section, **extra)


# ----------------------------------------------------------------------------- parsing


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:  # one line, not usage + message
        self.exit(2, f"{self.prog}: error: {message}\n")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def field_types(cls: type) -> dict[str, type]:
    """The fields' runtime types (annotations are strings under ``from __future__``)."""
    return typing.get_type_hints(cls)


def build_parser(cls: type, prog: str, description: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=description)
    parser.add_argument("--config", metavar="YAML", help="YAML file of settings (flags override it)")
    types = field_types(cls)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for spec in fields(cls):
        section = spec.metadata.get("section", "options")
        group = groups.setdefault(section, parser.add_argument_group(section))
        kind = types[spec.name]
        extra: dict[str, Any] = {"choices": spec.metadata["choices"]} if "choices" in spec.metadata else {}
        if kind is bool:
            extra["action"] = argparse.BooleanOptionalAction
        else:
            extra["type"] = kind
        help_text = f"{spec.metadata['help']} (default: {spec.default!r})".replace("%", "%%")
        group.add_argument(_flag(spec.name), dest=spec.name, default=argparse.SUPPRESS,
                           help=help_text, **extra)
    return parser


def read_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise StageError(f"cannot read config {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise StageError(f"config {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StageError(f"config {path} must be a mapping of setting: value")
    # A saved resolved config nests the settings under "config"; accept it as input too.
    return dict(data["config"]) if set(data) >= {"stage", "config"} else data


def make_config(cls: type, values: dict[str, Any]) -> Any:
    """``cls(**values)`` with names and types checked; ConfigError becomes StageError."""
    types = field_types(cls)
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise StageError(f"unknown setting {unknown[0]!r}; known: {', '.join(sorted(types))}")
    checked = {name: _coerce(name, value, types[name]) for name, value in values.items()}
    try:
        return cls(**checked)
    except ConfigError as err:
        raise StageError(str(err)) from None


def _coerce(name: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StageError(f"setting {name!r} must be {kind.__name__}, not {value!r}")
    return value


def parse_config(cls: type, argv: Sequence[str] | None, prog: str, description: str) -> Any:
    """The stage's config from ``argv``: defaults, then ``--config`` YAML, then flags."""
    args = vars(build_parser(cls, prog, description).parse_args(argv))
    path = args.pop("config", None)
    values = read_yaml(path) if path else {}
    values.update(args)
    return make_config(cls, values)


# ----------------------------------------------------------------------------- provenance


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def versions(packages: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def save_resolved(config: Any, path: str | Path, stage: str, **extra: Any) -> Path:
    """Write the config as used, with versions and the git commit, as YAML at ``path``."""
    import yaml

    payload = {"stage": stage, "config": asdict(config), "git_commit": _git("rev-parse", "HEAD"),
               "versions": versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               **extra}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(payload, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def write_json(path: str | Path, payload: Any) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def write_jsonl(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return target


# ----------------------------------------------------------------------------- progress and exit


class Progress:
    """Progress on stderr for long work: at most one line every ``every`` seconds, and the last."""

    def __init__(self, label: str, total: int, unit: str = "items", every: float = 5.0) -> None:
        self.label, self.total, self.unit, self.every = label, total, unit, every
        self.start = self._last = time.perf_counter()
        self.done = 0

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            print(self.line(now, note), file=sys.stderr, flush=True)

    def line(self, now: float, note: str = "") -> str:
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        text = (f"{self.label}: {self.done}/{self.total} {self.unit} "
                f"({elapsed:.0f}s elapsed, eta {eta:.0f}s)")
        return f"{text} {note}".rstrip()


def run_main(body: Callable[[], int], prog: str) -> int:
    """Run a stage; known failures print one line on stderr and return 2.

    ``LGTM575_DEBUG=1`` re-raises, for a traceback.
    """
    from reviewer.backends.base import BackendError

    try:
        return body()
    except (StageError, ConfigError, BackendError, OSError) as err:  # OSError: unwritable --out...
        if os.environ.get("LGTM575_DEBUG"):
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
