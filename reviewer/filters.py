"""Which hunks of a PR get a review comment: file filters, a size cap per hunk, a cap per PR.

    python -m reviewer PR.diff --list-hunks --exclude 'docs/**' --max-hunks 10 --max-hunk-lines 60

``select_hunks(files, DiffFilterConfig(...))`` returns the hunks to review, in diff order, and
every file or hunk left out with its reason: nothing is dropped silently.

Files are skipped, first reason wins: binary; symbolic link or submodule; not matched by an
``include`` glob; matched by an ``exclude`` glob; lock file; generated or minified file; vendored
dependency; deleted (``skip_deleted``); nothing to review (a rename without edits, a mode change,
an empty file). Hunks are skipped when they change no line. A hunk longer than
``max_hunk_lines`` is split into pieces (cut before a context line where one is near, so runs of
changes stay whole) or trimmed to its first piece (``oversize``); the trimmed rest is reported.

The cap on hunks per PR (``max_hunks``) keeps the highest-priority hunks, deterministically:

1. hunks that add lines (anchored on the head, side RIGHT) before pure deletions (side LEFT),
   because a comment on new code is one the author can act on;
2. breadth first across files: every file's best hunk before any file's second, so one large
   file cannot take the whole budget;
3. more changed lines (added + removed) first;
4. then position in the diff (file order, then hunk order), which makes the order total.

Globs are gitignore-style: ``*`` and ``?`` stay inside one folder, ``**`` spans folders, a glob
without ``/`` matches the file name in any folder, a trailing ``/`` means everything under that
folder (at any depth when it is the glob's only ``/``), a leading ``/`` anchors at the repo root.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields, replace
from functools import lru_cache
from typing import Any, Callable, Iterable

from reviewer.diff import DiffFile, Hunk

LOCK_FILES = (
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lock",
    "bun.lockb", "poetry.lock", "uv.lock", "Pipfile.lock", "pdm.lock", "pixi.lock", "conda-lock.yml",
    "Cargo.lock", "Gemfile.lock", "composer.lock", "go.sum", "mix.lock", "pubspec.lock",
    "Podfile.lock", "packages.lock.json", "flake.lock", "gradle.lockfile", "Package.resolved",
)
GENERATED_FILES = (
    "*.min.js", "*.min.mjs", "*.min.css", "*.bundle.js", "*.js.map", "*.css.map",
    "*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py", "*.pb.go", "*.pb.cc", "*.pb.h",
    "*.g.dart", "*.freezed.dart", "*.generated.*", "*_generated.*",
)
VENDORED_PATHS = (
    "vendor/", "vendors/", "node_modules/", "third_party/", "bower_components/",
    "site-packages/", ".venv/",
)
OVERSIZE_CHOICES = ("split", "trim")


class ConfigError(ValueError):
    """A filter setting that cannot work; the message names the setting."""


def _option(default: Any, help: str, section: str, flag: str | None = None, **extra: Any) -> Any:
    # The help text lives here once: CLI flags and (later) the YAML config both read it.
    return field(default=default, metadata={"help": help, "section": section, "flag": flag, **extra})


@dataclass(frozen=True)
class DiffFilterConfig:
    """What to review in a PR diff. Every field has a help string and a section."""

    include: tuple[str, ...] = _option(
        (), "Review only files matching one of these globs; empty reviews every file.", "files", "--include")
    exclude: tuple[str, ...] = _option(
        (), "Skip files matching any of these globs.", "files", "--exclude")
    skip_deleted: bool = _option(
        True, "Skip deleted files; if false, their lines are reviewed on the base side (LEFT).",
        "files", "--skip-deleted")
    lock_files: tuple[str, ...] = _option(
        LOCK_FILES, "Globs of dependency lock files, skipped as 'lock file'.", "files")
    generated_files: tuple[str, ...] = _option(
        GENERATED_FILES, "Globs of generated or minified files, skipped as such.", "files")
    vendored_paths: tuple[str, ...] = _option(
        VENDORED_PATHS, "Globs of vendored code (a trailing '/' means the folder at any depth).", "files")
    max_hunk_lines: int = _option(
        80, "Longest hunk (body lines) given to the model whole; 0 for no limit.", "hunks", "--max-hunk-lines")
    oversize: str = _option(
        "split", "What to do with a longer hunk: 'split' into pieces, or 'trim' to the first piece.",
        "hunks", "--oversize", choices=OVERSIZE_CHOICES)
    max_hunks: int = _option(
        20, "Most hunks reviewed per PR, chosen by the documented priority; 0 for no limit.",
        "hunks", "--max-hunks")

    def __post_init__(self) -> None:
        for name in ("include", "exclude", "lock_files", "generated_files", "vendored_paths"):
            object.__setattr__(self, name, _glob_tuple(name, getattr(self, name)))
        _check_count("max_hunks", self.max_hunks, 0)
        _check_count("max_hunk_lines", self.max_hunk_lines, 4)
        if self.oversize not in OVERSIZE_CHOICES:
            raise ConfigError(f"oversize must be one of {', '.join(OVERSIZE_CHOICES)}, not {self.oversize!r}")


def _glob_tuple(name: str, value: Any) -> tuple[str, ...]:
    # A YAML file may give one string or a list; the frozen config always holds a tuple.
    value = (value,) if isinstance(value, str) else value
    if not isinstance(value, (list, tuple)) or not all(isinstance(glob, str) and glob for glob in value):
        raise ConfigError(f"{name} must be a list of non-empty glob strings, not {value!r}")
    return tuple(value)


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or 0 < value < minimum:
        raise ConfigError(f"{name} must be 0 (no limit) or an integer >= {max(minimum, 1)}, not {value!r}")


def config_help() -> dict[str, dict[str, str]]:
    """{section: {field: help}}, for docs and for a config file's comments."""
    sections: dict[str, dict[str, str]] = {}
    for spec in fields(DiffFilterConfig):
        default = "" if spec.default is MISSING else f" (default: {spec.default!r})"
        sections.setdefault(spec.metadata["section"], {})[spec.name] = spec.metadata["help"] + default
    return sections


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Skipped:
    """A file or hunk that gets no comment, and why (one line; a hunk's reason ends with
    "in hunk @@ ... @@" to say which)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Selection:
    hunks: tuple[Hunk, ...]  # to review, in diff order
    skipped: tuple[Skipped, ...]  # files and hunk-level skips in diff order, then the hunks over the cap


def select_hunks(files: Iterable[DiffFile], config: DiffFilterConfig = DiffFilterConfig()) -> Selection:
    """Apply the file filters, the per-hunk size cap and the per-PR cap, in that order."""
    kept: list[Hunk] = []
    skipped: list[Skipped] = []
    for diff_file in files:
        reason = file_skip_reason(diff_file, config)
        if reason:
            skipped.append(Skipped(diff_file.path, reason))
            continue
        for hunk in diff_file.hunks:
            pieces, dropped = fit_hunk(hunk, config)
            kept.extend(pieces)
            skipped.extend(dropped)
    chosen, over = cap_hunks(kept, config.max_hunks)
    return Selection(chosen, tuple(skipped) + over)


# ----------------------------------------------------------------------------- files


def file_skip_reason(diff_file: DiffFile, config: DiffFilterConfig) -> str | None:
    """The first reason to skip this file, or None to review it."""
    for check in _FILE_CHECKS:
        reason = check(diff_file, config)
        if reason:
            return reason
    return None


def _binary(f: DiffFile, c: DiffFilterConfig) -> str | None:
    return "binary file" if f.status == "binary" else None


def _special_mode(f: DiffFile, c: DiffFilterConfig) -> str | None:
    modes = {f.old_mode, f.new_mode} if f.status != "added" else {f.new_mode}
    if "160000" in modes:
        return "submodule (only its commit pointer changed)"
    return "symbolic link" if "120000" in modes else None


def _included(f: DiffFile, c: DiffFilterConfig) -> str | None:
    if not c.include or matching_glob(f.path, c.include):
        return None
    return "not matched by any include glob"


def _excluded(f: DiffFile, c: DiffFilterConfig) -> str | None:
    glob = matching_glob(f.path, c.exclude)
    return f"excluded by glob {glob!r}" if glob else None


def _glob_check(field: str, what: str) -> Callable[[DiffFile, DiffFilterConfig], str | None]:
    """A check that skips files matching the globs in one config field, naming the glob."""
    def check(f: DiffFile, c: DiffFilterConfig) -> str | None:
        glob = matching_glob(f.path, getattr(c, field))
        return f"{what} ({glob!r})" if glob else None
    return check


_lock = _glob_check("lock_files", "lock file")
_generated = _glob_check("generated_files", "generated or minified file")
_vendored = _glob_check("vendored_paths", "vendored code")


def _deleted(f: DiffFile, c: DiffFilterConfig) -> str | None:
    return "deleted file (skip_deleted)" if c.skip_deleted and f.status == "deleted" else None


def _nothing_to_review(f: DiffFile, c: DiffFilterConfig) -> str | None:
    if f.hunks:
        return None
    if f.status == "renamed":
        return f"renamed from {f.old_path} without changes"
    if f.status == "mode-only":
        return f"mode change only ({f.old_mode} -> {f.new_mode})"
    return "empty file" if f.status == "added" else "no changed lines"


_FILE_CHECKS = (_binary, _special_mode, _included, _excluded, _lock, _generated, _vendored,
                _deleted, _nothing_to_review)


# ----------------------------------------------------------------------------- globs

_GLOB_TOKENS = re.compile(r"\*\*/|/\*\*$|\*\*|\*|\?|\[!?[^\]/]+\]|[^*?\[]+|\[")
_GLOB_REGEX = {"**/": "(?:.*/)?", "/**": "/.*", "**": ".*", "*": "[^/]*", "?": "[^/]"}


def matching_glob(path: str, globs: Iterable[str]) -> str | None:
    """The first glob that matches ``path``, or None."""
    return next((glob for glob in globs if glob_regex(glob).fullmatch(path)), None)


@lru_cache(maxsize=512)
def glob_regex(glob: str) -> re.Pattern[str]:
    """A gitignore-style glob as a regular expression (see the module doc for the rules)."""
    pattern = glob.strip("/") + ("/**" if glob.endswith("/") else "")
    if not glob.startswith("/") and "/" not in pattern.removesuffix("/**"):
        pattern = "**/" + pattern
    return re.compile("".join(_glob_token(token) for token in _GLOB_TOKENS.findall(pattern)))


def _glob_token(token: str) -> str:
    if token in _GLOB_REGEX:
        return _GLOB_REGEX[token]
    if token.startswith("[") and len(token) > 2:
        negate = token.startswith("[!")
        inner = token[2 if negate else 1:-1].replace("\\", "\\\\")
        return f"[{'^' if negate else ''}{inner}]"
    return re.escape(token)


# ----------------------------------------------------------------------------- hunk size


def fit_hunk(hunk: Hunk, config: DiffFilterConfig) -> tuple[list[Hunk], list[Skipped]]:
    """The pieces of ``hunk`` to review and what was left out of it."""
    if hunk.anchor is None:
        return [], [Skipped(hunk.path, f"no changed lines in hunk {hunk.header}")]
    limit, size = config.max_hunk_lines, hunk.text.count("\n")
    if not limit or size <= limit:
        return [hunk], []
    pieces = split_hunk(hunk, limit)
    if config.oversize == "split":
        return list(pieces), []
    first = replace(pieces[0], note=f"trimmed: the first piece of a {size}-line hunk ({hunk.header})")
    left_out = sum(piece.added + piece.removed for piece in pieces[1:])
    reason = (f"trimmed to {first.text.count(chr(10))} of {size} lines ({left_out} changed lines "
              f"not reviewed) in hunk {hunk.header}")
    return [first], [Skipped(hunk.path, reason)]


def split_hunk(hunk: Hunk, limit: int) -> tuple[Hunk, ...]:
    """Pieces of at most ``limit`` lines, each with changes (pure context is left out: it has
    nothing to review), each a hunk of its own whose anchor lies inside it."""
    kinds, lines = hunk.kinds, hunk.text.split("\n")
    cuts = _cut_points(kinds, limit) + [len(kinds)]
    pieces = [slice_hunk(hunk, kinds, lines, a, b) for a, b in zip(cuts, cuts[1:])]
    pieces = [piece for piece in pieces if piece.added or piece.removed]
    return tuple(replace(piece, note=f"part {n} of {len(pieces)} of a {len(kinds)}-line hunk ({hunk.header})")
                 for n, piece in enumerate(pieces, 1))


def _cut_points(kinds: str, limit: int) -> list[int]:
    """Start indices of pieces of at most ``limit`` lines. A piece ends before a context line in
    its second half when there is one, so a run of changes is cut only when it alone is too long;
    a "\\ No newline" marker stays with the line it follows."""
    cuts, start = [0], 0
    while len(kinds) - start > limit:
        end = start + limit
        cut = kinds.rfind(" ", start + limit // 2, end)
        cut = cut if cut > start else end
        if kinds[cut] == "\\":
            cut -= 1
        cuts.append(cut)
        start = cut
    return cuts


def slice_hunk(hunk: Hunk, kinds: str, lines: list[str], a: int, b: int) -> Hunk:
    """The hunk made of body lines ``a:b`` (``kinds`` and ``lines`` are the hunk's, precomputed)."""
    part = kinds[a:b]
    # the first base/head line number at or after line a (a count of 0 puts start one before it)
    old_next = hunk.old_start + (hunk.old_count == 0) + kinds.count("-", 0, a) + kinds.count(" ", 0, a)
    new_next = hunk.new_start + (hunk.new_count == 0) + kinds.count("+", 0, a) + kinds.count(" ", 0, a)
    old_count = part.count("-") + part.count(" ")
    new_count = part.count("+") + part.count(" ")
    return replace(hunk, old_start=old_next - (old_count == 0), old_count=old_count,
                   new_start=new_next - (new_count == 0), new_count=new_count,
                   text="".join(line + "\n" for line in lines[a:b]))


# ----------------------------------------------------------------------------- hunks per PR


def cap_hunks(hunks: list[Hunk], limit: int) -> tuple[tuple[Hunk, ...], tuple[Skipped, ...]]:
    """Keep the ``limit`` highest-priority hunks (module doc), in diff order; report the rest."""
    if not limit or len(hunks) <= limit:
        return tuple(hunks), ()
    keys = priority_keys(hunks)
    order = sorted(range(len(hunks)), key=keys.__getitem__)
    rank = {index: position for position, index in enumerate(order, 1)}
    chosen = tuple(h for i, h in enumerate(hunks) if rank[i] <= limit)
    over = tuple(Skipped(h.path, f"over the cap of {limit} hunks per PR (priority {rank[i]} of "
                                 f"{len(hunks)}) in hunk {h.header}")
                 for i, h in enumerate(hunks) if rank[i] > limit)
    return chosen, over


def priority_keys(hunks: list[Hunk]) -> list[tuple[int, int, int, int]]:
    """Sort key per hunk, smallest first: (pure deletion, rank in its file, -changed, position)."""
    by_file: dict[str, list[int]] = {}
    for index, hunk in enumerate(hunks):
        by_file.setdefault(hunk.path, []).append(index)
    keys: list[tuple[int, int, int, int]] = [(0, 0, 0, 0)] * len(hunks)
    for indices in by_file.values():
        ranked = sorted(indices, key=lambda i: (_is_deletion(hunks[i]), -_changed(hunks[i]), i))
        for rank, index in enumerate(ranked):
            keys[index] = (_is_deletion(hunks[index]), rank, -_changed(hunks[index]), index)
    return keys


def _is_deletion(hunk: Hunk) -> int:
    return int(hunk.added == 0)


def _changed(hunk: Hunk) -> int:
    return hunk.added + hunk.removed
