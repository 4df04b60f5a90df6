"""The Action's typed settings: ``INPUT_*`` variables and ``.github/lgtm-575.yml`` on one config.

    INPUT_MAX_COMMENTS=5 INPUT_DRY_RUN=true python -m reviewer.action   # what the runner does
    python -c "from reviewer.action_config import settings_help; print(settings_help())"

Three frozen configs hold every setting: ``DiffFilterConfig`` (which hunks), ``GenerationConfig``
(which model, how) and ``PostingConfig`` below (how the review is posted). A setting's name is
the same everywhere: the field name, the action.yml input, the key in the YAML file. Precedence,
lowest first: the field's default, the config file, a non-empty input. (Inputs left empty mean
"not given", which is why action.yml gives its inputs empty defaults and documents the real ones.)

The config file is flat YAML; every key is a field name; an unknown key is an error naming it::

    exclude: ["docs/**", "*.md"]
    max_hunks: 15
    max_comments: 5
    model: google/gemma-4-E4B-it
    quantization: 4bit

Secrets never come from the file (a repository file is readable by anyone who can read the
repo): ``github_token`` and ``openai_api_key`` are inputs only. Value errors are ``ConfigError``
with one line naming the setting and where it came from.
"""

from __future__ import annotations

import difflib
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Mapping

import yaml

from reviewer.config import GenerationConfig
from reviewer.filters import ConfigError, DiffFilterConfig, _option

MAX_PER_REQUEST = 30  # comments in one review request: larger reviews time out on GitHub's side


@dataclass(frozen=True)
class PostingConfig:
    """How the review is posted. Every field has a help string and a section."""

    max_comments: int = _option(
        10, "Most new review comments posted per run; the rest are listed in the job summary.",
        "posting", "--max-comments")
    per_request: int = _option(
        MAX_PER_REQUEST, "Most comments in one review request (at most 30); more go in further reviews.",
        "posting")
    dry_run: bool = _option(
        False, "Fetch the PR and write every haiku, the summary and the outputs, but post and delete nothing.",
        "posting", "--dry-run")
    delete_outdated: bool = _option(
        True, "Delete this Action's earlier haiku on hunks that no longer exist, only where nobody replied.",
        "posting", "--delete-outdated")
    show_finding: bool = _option(
        True, "Put the finding (the plain sentence the haiku says) under each posted haiku, in a "
        "collapsed details block.", "posting", "--show-finding")
    fail_on_error: bool = _option(
        False, "Fail the job when the review cannot be posted (read-only token, API errors); otherwise a "
        "::warning:: and exit 0, with every haiku in the job summary.", "posting")
    max_retries: int = _option(
        4, "Retries of one request after a rate limit, a 5xx or a dropped connection.", "posting")
    max_wait: float = _option(
        120.0, "Longest single wait in seconds; a Retry-After above it gives up instead.", "posting")

    def __post_init__(self) -> None:
        _check_int("max_comments", self.max_comments, 1)
        _check_int("per_request", self.per_request, 1)
        _check_int("max_retries", self.max_retries, 0)
        if self.per_request > MAX_PER_REQUEST:
            raise ConfigError(f"per_request must be at most {MAX_PER_REQUEST}, not {self.per_request!r}")
        if isinstance(self.max_wait, bool) or not isinstance(self.max_wait, (int, float)) or self.max_wait < 0:
            raise ConfigError(f"max_wait must be a number of seconds >= 0, not {self.max_wait!r}")


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, not {value!r}")


@dataclass(frozen=True)
class Settings:
    """Everything one run is configured with."""

    filters: DiffFilterConfig
    generation: GenerationConfig
    posting: PostingConfig

    def resolved(self) -> dict[str, Any]:
        """For the results file: secrets removed."""
        return {"filters": asdict(self.filters), "generation": self.generation.resolved(),
                "posting": asdict(self.posting)}


CONFIGS = (DiffFilterConfig, GenerationConfig, PostingConfig)
SECRETS = frozenset({"github_token", "openai_api_key"})
# Inputs that are not settings of a config: where things are, not how to review.
RUN_INPUTS = frozenset({"github_token", "config", "pr_number", "post_from", "results_file"})
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def _specs() -> dict[str, Any]:
    return {spec.name: spec for config in CONFIGS for spec in fields(config)}


def known_settings() -> tuple[str, ...]:
    return tuple(_specs())


def inputs_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """``INPUT_MAX_COMMENTS`` -> ``max_comments``; empty inputs mean "not given" and are left out."""
    found = {}
    for key, value in env.items():
        if key.startswith("INPUT_") and value.strip():
            found[key[len("INPUT_"):].lower().replace("-", "_")] = value
    return found


def load_config_text(text: str, source: str) -> dict[str, Any]:
    """The YAML file's settings, keys checked: an unknown key or a secret is one line naming it."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {source}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {source}: expected a mapping of setting: value, got {type(data).__name__}")
    for key in data:
        _check_key(str(key), source)
    return {str(key): value for key, value in data.items()}


def _check_key(key: str, source: str) -> None:
    if key in SECRETS:
        raise ConfigError(f"config file {source}: {key} must not be in a repository file; pass it as the "
                          f"{key} input from a secret")
    specs = _specs()
    if key not in specs:
        close = difflib.get_close_matches(key, list(specs), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"config file {source}: unknown key {key!r}{hint}")


def build_settings(file_values: Mapping[str, Any], inputs: Mapping[str, str], source: str = "") -> Settings:
    """Defaults < config file < inputs, converted to each field's type and validated."""
    values: dict[str, Any] = {}
    specs = _specs()
    for key, value in file_values.items():
        values[key] = _from_yaml(specs[key], value, f"config file {source}: {key}")
    for key, text in inputs.items():
        if key in specs:
            values[key] = _from_text(specs[key], text, f"input {key}")
    parts = []
    for config in CONFIGS:
        own = {spec.name: values[spec.name] for spec in fields(config) if spec.name in values}
        parts.append(config(**own))  # __post_init__ raises ConfigError naming the field
    return Settings(*parts)


def _kind(spec: Any) -> type:
    default = spec.default
    return type(default) if default is not MISSING else str


def _from_text(spec: Any, text: str, where: str) -> Any:
    """An input string as the field's type."""
    kind = _kind(spec)
    text = text if kind is tuple else text.strip()
    if kind is bool:
        low = text.lower()
        if low not in _TRUE | _FALSE:
            raise ConfigError(f"{where}: expected true or false, got {text!r}")
        return low in _TRUE
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise ConfigError(f"{where}: expected a {'whole ' if kind is int else ''}number, got {text!r}") from None
    if kind is tuple:  # globs: one per line, or separated by commas
        return tuple(part.strip() for line in text.splitlines() for part in line.split(",") if part.strip())
    return text


def _from_yaml(spec: Any, value: Any, where: str) -> Any:
    """A YAML value as the field's type; strings go through the input rules."""
    kind = _kind(spec)
    if isinstance(value, str) and kind is not str:
        return _from_text(spec, value, where)
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if kind is tuple and not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of globs, got {value!r}")
    if kind is str and not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return tuple(value) if kind is tuple else value


def settings_help() -> str:
    """Every setting with its help and default, as the docs list them."""
    lines = []
    for name, spec in _specs().items():
        default = "" if spec.default is MISSING else f" (default: {spec.default!r})"
        lines.append(f"{name}: {spec.metadata['help']}{default}")
    return "\n".join(lines)
