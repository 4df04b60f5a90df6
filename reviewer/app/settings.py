"""The App's typed settings: environment variables, or a YAML file with the same names in lower case.

    LGTM575_APP_ID=12345 LGTM575_APP_PRIVATE_KEY=app.pem LGTM575_WEBHOOK_SECRET=... \\
        LGTM575_BACKEND=fake LGTM575_FAKE_OUTPUTS=haiku.json python -m reviewer.app --port 8575
    python -m reviewer.app --config app.yaml        # app_id: 12345, webhook_secret: ..., db: ...
    python -c "from reviewer.app.settings import settings_help; print(settings_help())"

Every App setting is one ``Spec`` below; the model settings are ``GenerationConfig``'s fields
under the CLI's names (``LGTM575_BACKEND``, ``LGTM575_MODEL``, ``LGTM575_OPENAI_BASE_URL``...), and
the review settings (``LGTM575_MAX_COMMENTS``, ``LGTM575_EXCLUDE``...) are the App's defaults for
every repository, which a repository's ``.github/lgtm-575.yml`` at the PR's base commit overrides.
The model is the App's alone: one model serves every installation, so a repository file cannot
change it. An environment variable beats the YAML file. A missing or bad setting raises
``SettingsError`` with one line naming it (an empty secret counts as missing); values of secrets
are never echoed.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from reviewer.action_config import PostingConfig, _from_text, _from_yaml
from reviewer.config import GenerationConfig
from reviewer.filters import ConfigError, DiffFilterConfig

PREFIX = "LGTM575_"
DEFAULT_DB = "./lgtm-575-app.sqlite3"
DEFAULT_API_URL = "https://api.github.com"


class SettingsError(Exception):
    """A missing or bad setting; the message is one line naming it."""


@dataclass(frozen=True)
class Spec:
    key: str  # the YAML key; the variable is LGTM575_<KEY> unless ``env`` says otherwise
    help: str
    default: Any = None  # None: required
    kind: type = str
    secret: bool = False
    env: str = ""

    @property
    def variable(self) -> str:
        return self.env or PREFIX + self.key.upper()


SPECS = (
    Spec("app_id", "The GitHub App's ID (a number, on the App's settings page).", kind=int),
    Spec("app_private_key", "The App's private key: a path to the PEM file, or the PEM text itself.", secret=True),
    Spec("webhook_secret", "The webhook secret set on the App's settings page.", secret=True),
    Spec("github_api_url", "GitHub's REST API (GitHub Enterprise: https://HOST/api/v3).", DEFAULT_API_URL,
         env="GITHUB_API_URL"),
    Spec("db", "The queue: a SQLite file path, or postgresql://USER:PASSWORD@HOST/DB for several machines.",
         DEFAULT_DB),
    Spec("workers", "Reviews run at once by this process; 0: this process only answers webhooks.", 2, int),
    Spec("review_drafts", "Review draft PRs too (by default they wait for ready_for_review).", False, bool),
    Spec("lease_seconds", "A running job's lease; a worker that stops renewing it (killed) loses the job "
         "to another after this long.", 60.0, float),
    Spec("max_attempts", "Attempts of one job before it is recorded as failed.", 5, int),
    Spec("retry_seconds", "First wait before retrying a failed job; doubled each attempt (at most 15 min).",
         30.0, float),
    Spec("github_throttle", "Space GitHub requests 0.25 s (writes 1 s), GitHub's advice against secondary "
         "rate limits.", True, bool),
    Spec("log_level", "debug, info, warning or error.", "info"),
)
REVIEW_CONFIGS = (DiffFilterConfig, PostingConfig)


@dataclass(frozen=True)
class AppSettings:
    app_id: int
    app_private_key: str = field(repr=False)  # the PEM text
    webhook_secret: str = field(repr=False)
    github_api_url: str
    db: str
    workers: int
    review_drafts: bool
    lease_seconds: float
    max_attempts: int
    retry_seconds: float
    github_throttle: bool
    log_level: str
    generation: GenerationConfig = GenerationConfig()
    review_defaults: Mapping[str, Any] = field(default_factory=dict)  # filter/posting settings, typed

    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log, a response or a posted body."""
        return tuple(s for s in (self.webhook_secret, self.app_private_key, self.generation.api_key()) if s)


def load_settings(env: Mapping[str, str] | None = None, config_file: str = "") -> AppSettings:
    """Environment over the YAML file over the defaults; raises ``SettingsError``."""
    env = os.environ if env is None else env
    path = config_file or env.get(PREFIX + "CONFIG", "")
    given = _yaml_values(path) if path else {}
    for name in _known_keys():
        variable = _variable(name)
        if env.get(variable, "").strip():
            given[name] = (variable, env[variable])
    values = {spec.key: _value(spec, given.get(spec.key)) for spec in SPECS}
    values["app_private_key"] = _private_key(values["app_private_key"])
    _check(values)
    return AppSettings(**values, generation=_generation(given), review_defaults=_review_defaults(given))


def _known_keys() -> list[str]:
    return [s.key for s in SPECS] + [f.name for f in fields(GenerationConfig)] + sorted(_review_keys())


def _review_keys() -> set[str]:
    return {f.name for config in REVIEW_CONFIGS for f in fields(config)}


def _variable(name: str) -> str:
    spec = next((s for s in SPECS if s.key == name), None)
    return spec.variable if spec else PREFIX + name.upper()


def _yaml_values(path: str) -> dict[str, tuple[str, Any]]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise SettingsError(f"--config {path}: cannot read it ({err.strerror or err})") from None
    except yaml.YAMLError:
        raise SettingsError(f"--config {path}: not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"--config {path}: expected a mapping of setting: value")
    known = _known_keys()
    for key in data:
        if str(key) not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            raise SettingsError(f"--config {path}: unknown key {str(key)!r}"
                                + (f" (did you mean {close[0]!r}?)" if close else ""))
    return {str(k): (f"{k} in {path}", v) for k, v in data.items() if v is not None and v != ""}


def _value(spec: Spec, given: tuple[str, Any] | None) -> Any:
    if given is None:
        if spec.default is None:
            raise SettingsError(f"{spec.variable} is missing: {spec.help}")
        return spec.default
    where, raw = given
    text = str(raw).strip() if not isinstance(raw, bool) else str(raw).lower()
    if not text:
        raise SettingsError(f"{spec.variable} is missing (empty): {spec.help}")
    shown = "the value given" if spec.secret else repr(text)
    converters: dict[type, Callable[[str], Any]] = {int: int, float: float, bool: _bool, str: str}
    try:
        return converters[spec.kind](text)
    except ValueError:
        kind = {int: "a whole number", float: "a number", bool: "true or false"}.get(spec.kind, "text")
        raise SettingsError(f"{where if where.startswith(spec.key) else spec.variable}: expected {kind}, "
                            f"got {shown}") from None


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("true", "yes", "on", "1"):
        return True
    if low in ("false", "no", "off", "0"):
        return False
    raise ValueError(text)


def _private_key(value: str) -> str:
    """The PEM text, from the value itself or from the file it names; checked to be a private key."""
    name = "LGTM575_APP_PRIVATE_KEY"
    if "-----BEGIN" in value:
        text = value.replace("\\n", "\n")  # a PEM pasted into one line of an .env file
    else:
        shown = value if len(value) < 200 and "\n" not in value else "the path given"
        try:
            text = Path(value).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise SettingsError(f"{name}: neither PEM text nor a readable PEM file ({shown}: "
                                f"{getattr(err, 'strerror', None) or type(err).__name__})") from None
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(text.strip().encode("ascii", "replace"), password=None)
    except (ValueError, TypeError):
        raise SettingsError(f"{name}: not an unencrypted PEM private key (download one from the App's "
                            "settings page)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SettingsError(f"{name}: GitHub App keys are RSA; this PEM holds another kind of key")
    return text.strip() + "\n"


def _check(values: dict[str, Any]) -> None:
    checks = (("app_id", values["app_id"] >= 1, "a positive whole number"),
              ("workers", 0 <= values["workers"] <= 256, "a whole number from 0 to 256"),
              ("lease_seconds", values["lease_seconds"] >= 1, "at least 1 second"),
              ("max_attempts", values["max_attempts"] >= 1, "at least 1"),
              ("retry_seconds", values["retry_seconds"] >= 0, "0 or more seconds"),
              ("log_level", values["log_level"].lower() in ("debug", "info", "warning", "error"),
               "debug, info, warning or error"),
              ("github_api_url", values["github_api_url"].startswith(("http://", "https://")), "an http(s) URL"))
    for key, ok, what in checks:
        if not ok:
            raise SettingsError(f"{_variable(key)}: expected {what}")
    db = values["db"]
    if not db.startswith(("postgresql://", "postgres://")):
        parent = Path(db).expanduser().resolve().parent
        if not parent.is_dir():
            raise SettingsError(f"LGTM575_DB: the folder of the SQLite file does not exist ({parent})")


def _generation(given: Mapping[str, tuple[str, Any]]) -> GenerationConfig:
    specs = {f.name: f for f in fields(GenerationConfig)}
    values = {}
    for name, (where, raw) in given.items():
        if name in specs:
            label = _variable(name) if not where.startswith(name) else where
            values[name] = _convert(specs[name], raw, label)
            _one(GenerationConfig, name, values[name], label)
    generation = GenerationConfig(**values)
    _backend_check(generation)
    return generation


def _convert(spec: Any, raw: Any, label: str) -> Any:
    try:
        return _from_text(spec, raw, label) if isinstance(raw, str) else _from_yaml(spec, raw, label)
    except ConfigError as err:
        raise SettingsError(str(err)) from None


def _one(config: type, name: str, value: Any, label: str) -> None:
    """Build the config with this one value so its own checks name the right setting."""
    try:
        config(**{name: value})
    except ConfigError as err:
        raise SettingsError(f"{label}: {err}") from None


def _backend_check(generation: GenerationConfig) -> None:
    if generation.backend == "fake":
        if not generation.fake_outputs:
            raise SettingsError("LGTM575_FAKE_OUTPUTS is missing: the fake backend needs a JSON list of canned outputs")
        from reviewer.backends.base import BackendError
        from reviewer.backends.fake import _load

        try:
            if not _load(generation.fake_outputs):
                raise SettingsError("LGTM575_FAKE_OUTPUTS: the list of canned outputs is empty")
        except BackendError as err:
            raise SettingsError(f"LGTM575_FAKE_OUTPUTS: {str(err).removeprefix('fake backend: ')}") from None
    if generation.backend == "openai" and not generation.base_url():
        raise SettingsError("LGTM575_OPENAI_BASE_URL is missing: the openai backend needs the server's URL "
                            "(e.g. http://vllm:8000/v1)")


def _review_defaults(given: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
    """The App's defaults for the filter and posting settings, typed and checked."""
    found = {}
    for config in REVIEW_CONFIGS:
        specs = {f.name: f for f in fields(config)}
        for name, (where, raw) in given.items():
            if name in specs:
                label = _variable(name) if not where.startswith(name) else where
                found[name] = _convert(specs[name], raw, label)
                _one(config, name, found[name], label)
    return found


def settings_help() -> str:
    lines = [f"{s.variable}: {s.help}" + ("" if s.default is None else f" (default: {s.default!r})") for s in SPECS]
    lines += [f"{PREFIX}{f.name.upper()}: {f.metadata['help']}" for f in fields(GenerationConfig)]
    lines.append(f"{PREFIX}<SETTING>: the App's default for any review setting of .github/lgtm-575.yml "
                 "(max_comments, exclude, ...); a repository's own file wins")
    return "\n".join(lines)
