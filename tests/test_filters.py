"""reviewer.filters: which hunks get reviewed, and a reason for everything that does not.

    python -m pytest -q tests/test_filters.py
"""

from __future__ import annotations

import random
from dataclasses import fields
from pathlib import Path

import pytest

from reviewer.diff import DiffFile, Hunk, anchor_problem, parse_diff
from reviewer.filters import (ConfigError, DiffFilterConfig, cap_hunks, config_help, file_skip_reason,
                              glob_regex, select_hunks, split_hunk)

FIXTURES = Path(__file__).parent / "data" / "diffs"


def fixture_files(name: str) -> tuple[DiffFile, ...]:
    return parse_diff((FIXTURES / f"{name}.diff").read_bytes())


def added_file(path: str, lines: int = 3) -> DiffFile:
    text = "".join(f"+line {i}\n" for i in range(lines))
    return DiffFile(path, None, "added", (Hunk(path, 0, 0, 1, lines, "", text),), None, "100644")


def edit(path: str, start: int, added: int, removed: int, context: int = 2) -> Hunk:
    text = " c\n" * context + "-r\n" * removed + "+a\n" * added + " c\n" * context
    return Hunk(path, start, 2 * context + removed, start, 2 * context + added, "", text)


# ----------------------------------------------------------------------------- the config


def test_every_field_has_help_and_a_section() -> None:
    for spec in fields(DiffFilterConfig):
        assert len(spec.metadata["help"]) > 20 and spec.metadata["section"] in ("files", "hunks")
    sections = config_help()
    assert set(sections["files"]) >= {"include", "exclude", "skip_deleted"} and "max_hunks" in sections["hunks"]
    assert "(default: 20)" in sections["hunks"]["max_hunks"]


@pytest.mark.parametrize("overrides", [
    {"max_hunks": -1}, {"max_hunk_lines": 2}, {"max_hunks": True}, {"max_hunks": "5"},
    {"oversize": "drop"}, {"include": [""]}, {"exclude": [3]}, {"exclude": 3},
])
def test_bad_settings_are_refused_with_their_name(overrides: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(overrides))):
        DiffFilterConfig(**overrides)


def test_globs_from_a_config_file_become_tuples() -> None:
    config = DiffFilterConfig(include=["src/**"], exclude="docs/**")
    assert config.include == ("src/**",) and config.exclude == ("docs/**",)
    hash(config)  # frozen and hashable: safe to share and to save next to outputs


# ----------------------------------------------------------------------------- globs


@pytest.mark.parametrize("glob, path, matches", [
    ("*.min.js", "static/js/app.min.js", True),
    ("*.min.js", "app.min.json", False),
    ("poetry.lock", "sub/dir/poetry.lock", True),
    ("src/*.py", "src/a.py", True),
    ("src/*.py", "src/pkg/a.py", False),
    ("src/**/*.py", "src/pkg/deep/a.py", True),
    ("src/**/*.py", "src/a.py", True),
    ("src/**", "src/x/y.txt", True),
    ("vendor/", "a/b/vendor/lib.py", True),
    ("vendor/", "vendored/lib.py", False),
    ("/docs/", "docs/index.md", True),
    ("/docs/", "pkg/docs/index.md", False),
    ("test_?.py", "tests/test_a.py", True),
    ("[!a]*.py", "b.py", True),
    ("[!a]*.py", "a.py", False),
    ("*_pb2.py", "proto/user_pb2.py", True),
])
def test_glob_rules(glob: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(glob).fullmatch(path)) is matches


# ----------------------------------------------------------------------------- files


@pytest.mark.parametrize("path, reason", [
    ("package-lock.json", "lock file"), ("poetry.lock", "lock file"), ("uv.lock", "lock file"),
    ("rust/Cargo.lock", "lock file"), ("web/yarn.lock", "lock file"),
    ("static/app.min.js", "generated or minified"), ("api/user_pb2.py", "generated or minified"),
    ("vendor/github.com/x/y.go", "vendored"), ("web/node_modules/left-pad/index.js", "vendored"),
    ("src/app.py", None),
])
def test_default_file_filters(path: str, reason: str | None) -> None:
    got = file_skip_reason(added_file(path), DiffFilterConfig())
    assert (got is None) if reason is None else (reason in got)


def test_fixture_files_are_each_skipped_with_their_reason() -> None:
    reasons = {s.path: s.reason for name in ("binary", "symlink", "submodule", "mode_only", "renames",
                                             "added_and_deleted", "filtered_files")
               for s in select_hunks(fixture_files(name)).skipped}
    assert reasons["assets/logo.png"] == "binary file"
    assert reasons["current.yml"] == "symbolic link"
    assert reasons["third_party/lib"].startswith("submodule")
    assert reasons["run.sh"] == "mode change only (100644 -> 100755)"
    assert reasons["src/helpers.py"] == "renamed from src/utils.py without changes"
    assert reasons["src/__init__.py"] == "empty file"
    assert reasons["src/legacy.py"].startswith("deleted file")
    assert reasons["proto/user_pb2.py"] == "generated or minified file ('*_pb2.py')"


def test_include_and_exclude() -> None:
    files = [added_file("src/a.py"), added_file("src/b.py"), added_file("docs/c.md")]
    only_src = select_hunks(files, DiffFilterConfig(include=("src/**",), exclude=("*/b.py",)))
    assert [h.path for h in only_src.hunks] == ["src/a.py"]
    assert {(s.path, s.reason.split(" ")[0]) for s in only_src.skipped} == {("src/b.py", "excluded"), ("docs/c.md", "not")}


def test_deleted_files_can_be_reviewed_on_the_left() -> None:
    files = fixture_files("added_and_deleted")
    assert "src/legacy.py" not in {h.path for h in select_hunks(files).hunks}
    reviewed = select_hunks(files, DiffFilterConfig(skip_deleted=False))
    (legacy,) = [h for h in reviewed.hunks if h.path == "src/legacy.py"]
    assert (legacy.anchor.side, legacy.anchor.start_line, legacy.anchor.line) == ("LEFT", 1, 6)


def test_hunk_without_changes_is_reported() -> None:
    quiet = Hunk("a.py", 3, 2, 3, 2, "def f():", " x\n y\n")
    selection = select_hunks([DiffFile("a.py", "a.py", "modified", (quiet,))])
    assert selection.hunks == () and selection.skipped[0].reason == "no changed lines in hunk @@ -3,2 +3,2 @@ def f():"


# ----------------------------------------------------------------------------- hunk size


def _long_hunk() -> Hunk:
    kinds = ("+" * 30 + " " * 5 + "-" * 10 + " " * 5) * 4 + "+" * 100  # 300 lines, runs < 80 but one of 100
    text = "".join(f"{k}line {i}\n" for i, k in enumerate(kinds))
    old = sum(k != "+" for k in kinds)
    return Hunk("big.py", 10, old, 10, len(kinds) - kinds.count("-"), "class Big:", text)


def test_split_pieces_are_small_and_anchor_inside_the_real_hunk() -> None:
    hunk = _long_hunk()
    pieces = split_hunk(hunk, 80)
    assert all(piece.text.count("\n") <= 80 for piece in pieces)
    assert sum(p.added for p in pieces) == hunk.added and sum(p.removed for p in pieces) == hunk.removed
    for piece in pieces:
        assert anchor_problem(piece, piece.anchor) is None
        assert anchor_problem(hunk, piece.anchor) is None  # valid in the hunk GitHub knows
        assert piece.note.startswith("part ") and hunk.header in piece.note
    first_lines = [piece.lines[0] for piece in pieces]
    original = {(l.kind, l.old_line, l.new_line, l.text) for l in hunk.lines}
    assert all((l.kind, l.old_line, l.new_line, l.text) in original for l in first_lines)


def test_split_cuts_between_runs_of_changes_when_it_can() -> None:
    kinds = ("+" * 20 + " " * 4) * 6  # 144 lines, runs of 20 changes
    hunk = Hunk("r.py", 1, 24, 1, 144, "", "".join(f"{k}l\n" for k in kinds))
    for piece in split_hunk(hunk, 50):
        assert piece.kinds.count("+") % 20 == 0, piece.kinds  # no run was cut


def test_split_keeps_a_no_newline_marker_with_its_line() -> None:
    marker = "\\ No newline at end of file\n"
    hunk = Hunk("m.txt", 1, 4, 1, 4, "", "-a\n-b\n-c\n-d\n" + marker + "+a\n+b\n+c\n+d\n" + marker)
    pieces = split_hunk(hunk, 4)
    assert all(not piece.kinds.startswith("\\") for piece in pieces)
    flagged = [(l.kind, l.text) for piece in pieces for l in piece.lines if l.missing_newline]
    assert flagged == [("removed", "d"), ("added", "d")]


def test_trim_keeps_the_first_piece_and_reports_the_rest() -> None:
    hunk = _long_hunk()
    file = DiffFile("big.py", "big.py", "modified", (hunk,))
    selection = select_hunks([file], DiffFilterConfig(max_hunk_lines=80, oversize="trim"))
    (kept,) = selection.hunks
    (skipped,) = selection.skipped
    assert kept.text.count("\n") <= 80 and kept.note.startswith("trimmed")
    left_out = hunk.added + hunk.removed - kept.added - kept.removed
    assert skipped.reason.endswith(f"in hunk {hunk.header}") and f"({left_out} changed lines not reviewed)" in skipped.reason


def test_no_limit_keeps_long_hunks_whole() -> None:
    file = DiffFile("big.py", "big.py", "modified", (_long_hunk(),))
    assert select_hunks([file], DiffFilterConfig(max_hunk_lines=0)).hunks == (_long_hunk(),)


# ----------------------------------------------------------------------------- hunks per PR


def test_cap_priority_is_documented_order() -> None:
    hunks = [
        edit("a.py", 1, added=1, removed=0),    # 0: a's second-best addition
        edit("a.py", 50, added=9, removed=0),   # 1: a's best
        edit("a.py", 90, added=0, removed=30),  # 2: pure deletion, big: still after every addition
        edit("b.py", 1, added=2, removed=0),    # 3: b's best
        edit("c.py", 1, added=0, removed=4),    # 4: c's only hunk, a deletion
    ]
    # priority: 1 (a's best), 3 (b's best), 0 (a's second), 4 (deletion, c's best), 2
    chosen, over = cap_hunks(hunks, 2)
    assert chosen == (hunks[1], hunks[3])
    ranks = [s.reason.split("(")[1].split(")")[0] for s in over]
    assert ranks == ["priority 3 of 5", "priority 5 of 5", "priority 4 of 5"]  # diff order: 0, 2, 4
    assert all("over the cap of 2 hunks per PR" in s.reason for s in over)
    assert cap_hunks(hunks, 3)[0] == (hunks[0], hunks[1], hunks[3])  # kept ones stay in diff order


def test_cap_is_breadth_first_across_files() -> None:
    hunks = [edit("big.py", 10 * i, added=50, removed=0) for i in range(10)] + [edit("small.py", 1, 1, 0)]
    chosen, _ = cap_hunks(hunks, 2)
    assert {h.path for h in chosen} == {"big.py", "small.py"}


def test_cap_is_deterministic_and_zero_means_no_cap() -> None:
    rng = random.Random(1)
    hunks = [edit(f"f{rng.randint(0, 5)}.py", i, rng.randint(0, 5), rng.randint(1, 5)) for i in range(40)]
    assert cap_hunks(hunks, 7) == cap_hunks(list(hunks), 7)
    assert cap_hunks(hunks, 0) == (tuple(hunks), ())


def test_every_file_and_hunk_is_kept_or_reported() -> None:
    files = [f for name in ("filtered_files", "added_and_deleted", "binary", "renames", "mode_only",
                            "modified_python", "large_added_file") for f in fixture_files(name)]
    selection = select_hunks(files, DiffFilterConfig(max_hunks=4))
    reported = {s.path for s in selection.skipped} | {h.path for h in selection.hunks}
    assert reported == {f.path for f in files}
    assert len(selection.hunks) == 4
    pieces = sum(len(split_hunk(h, 80)) if h.text.count("\n") > 80 else 1 for f in files
                 if file_skip_reason(f, DiffFilterConfig()) is None for h in f.hunks)
    capped = [s for s in selection.skipped if "over the cap" in s.reason]
    assert len(selection.hunks) + len(capped) == pieces
