"""reviewer.diff: golden fixtures, anchors checked against the real files, robustness.

    python -m pytest -q tests/test_diff.py
    python tests/data/make_diff_fixtures.py      # regenerate the fixtures (then review the .json)
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import random
import shutil
import subprocess
import time
import tracemalloc
from pathlib import Path

import pytest

from reviewer.diff import (Anchor, DiffError, DiffFile, Hunk, anchor_problem, decode_diff, iter_files,
                           parse_diff, unquote_path)

DATA = Path(__file__).parent / "data"
FIXTURES = DATA / "diffs"


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_diff_fixtures", DATA / "make_diff_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _load_generator()


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.diff").read_bytes()


# ----------------------------------------------------------------------------- golden fixtures


@pytest.mark.parametrize("diff_path", sorted(FIXTURES.glob("*.diff")), ids=lambda p: p.stem)
def test_golden_fixture(diff_path: Path) -> None:
    expected = json.loads(diff_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert GENERATOR.expected_record(diff_path.read_bytes()) == expected


REQUIRED_FIXTURES = {
    "modified_python", "no_newline_at_eof", "crlf_content", "crlf_whole_diff", "header_without_counts",
    "quoted_unicode_paths", "quoted_special_paths", "utf16_bom", "mode_only", "renames", "added_and_deleted",
    "binary", "binary_patch", "symlink", "submodule", "empty", "non_utf8_bytes", "diff_u_single", "diff_ruN",
    "format_patch", "filtered_files", "large_added_file", "github_fragment_truncated", "truncated_final_hunk",
    "truncated_cut_mark", "truncated_mid_diff", "doubled_header_inline", "doubled_header_prefix",
    "doubled_header_lines", "malformed_garbage_in_hunk", "malformed_hunk_too_long",
    "malformed_hunk_before_file", "malformed_bad_header", "malformed_hunk_side_overflow",
    "malformed_extra_line_between_files", "malformed_combined_diff", "malformed_not_a_diff",
}


def test_every_case_has_a_fixture_pair() -> None:
    diffs = {p.stem for p in FIXTURES.glob("*.diff")}
    expected = {p.stem for p in FIXTURES.glob("*.json")}
    assert REQUIRED_FIXTURES <= diffs
    assert diffs == expected


# ----------------------------------------------------------------------------- anchors, by hand


def _hunks(name: str) -> list[Hunk]:
    return [hunk for diff_file in parse_diff(fixture(name)) for hunk in diff_file.hunks]


def test_modified_file_anchors() -> None:
    edit, deletion, addition = _hunks("modified_python")
    # lines 13-14 of the new cart.py are the rewritten check; GitHub wants RIGHT 13..14
    assert edit.anchor == Anchor("src/shop/cart.py", 14, "RIGHT", 13)
    # legacy_total() (old lines 24-31) is only deleted: LEFT over the removed lines
    assert deletion.anchor == Anchor("src/shop/cart.py", 31, "LEFT", 24)
    assert addition.anchor == Anchor("src/shop/cart.py", 45, "RIGHT", 42)
    assert edit.section == "class Cart:" and edit.added == 2 and edit.removed == 2


def test_anchor_lines_are_the_changed_lines_of_the_real_files() -> None:
    old = (DATA / "diff_sources/modified_python/old/src/shop/cart.py").read_text().splitlines()
    new = (DATA / "diff_sources/modified_python/new/src/shop/cart.py").read_text().splitlines()
    edit, deletion, _ = _hunks("modified_python")
    assert new[edit.anchor.start_line - 1].strip() == "if quantity < 1:"
    assert old[deletion.anchor.start_line - 1] == "def legacy_total(cart, prices):"
    assert old[deletion.anchor.line - 1] == ""  # the blank lines after it went too


def test_single_line_change_has_no_start_line() -> None:
    (hunk,) = _hunks("header_without_counts")[1:]
    assert (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count) == (1, 1, 1, 1)
    assert hunk.anchor.start_line is None
    assert "start_line" not in hunk.anchor.to_api()


def test_multi_line_anchor_payload_carries_start_side() -> None:
    assert Anchor("a.py", 5, "LEFT", 2).to_api() == {
        "path": "a.py", "line": 5, "side": "LEFT", "start_line": 2, "start_side": "LEFT"}


@pytest.mark.parametrize("anchor, problem", [
    (Anchor("x.py", 3, "RIGHT", 3), "not below"),
    (Anchor("x.py", 9, "RIGHT"), "not on the RIGHT side"),
    (Anchor("x.py", 3, "LEFT", 1), "not on the LEFT side"),
    (Anchor("y.py", 3, "RIGHT"), "not the hunk's file"),
])
def test_anchor_problem_rejects_what_github_rejects(anchor: Anchor, problem: str) -> None:
    hunk = Hunk("x.py", 1, 2, 1, 3, "", " a\n+b\n+c\n-d\n")
    assert anchor_problem(hunk, hunk.anchor) is None
    assert problem in anchor_problem(hunk, anchor)


def test_context_only_hunk_has_no_anchor() -> None:
    assert Hunk("x.py", 4, 2, 4, 2, "", " a\n b\n").anchor is None


def test_no_newline_marker_flags_the_line_and_takes_no_number() -> None:
    motd = parse_diff(fixture("no_newline_at_eof"))[0].hunks[0]
    assert [(l.kind, l.old_line, l.new_line, l.missing_newline) for l in motd.lines] == [
        ("context", 1, 1, False), ("removed", 2, None, True), ("added", None, 2, True)]
    assert motd.anchor == Anchor("motd.txt", 2, "RIGHT")


# ----------------------------------------------------------------------------- robustness


def test_crlf_utf16_and_format_patch_parse_like_the_plain_diff() -> None:
    plain = parse_diff(fixture("modified_python"))
    assert parse_diff(fixture("crlf_whole_diff")) == plain
    assert parse_diff(fixture("format_patch")) == plain
    assert parse_diff(fixture("utf16_bom")) == parse_diff(fixture("quoted_unicode_paths"))


def test_crlf_file_content_loses_only_its_carriage_returns() -> None:
    hunk = parse_diff(fixture("crlf_content"))[0].hunks[0]
    assert [line.text for line in hunk.lines if line.kind != "context"] == ["    print('bye')", "    print('goodbye')"]
    (doubled,) = parse_diff(b"--- a/w\r\n+++ b/w\r\n@@ -1 +1 @@\r\n-a\r\r\n+b\r\r\n")[0].hunks
    assert [line.text for line in doubled.lines] == ["a", "b"]


def test_quoted_and_non_ascii_paths() -> None:
    assert [f.path for f in parse_diff(fixture("quoted_unicode_paths"))] == ["café.py", "docs/日本語.md", "my file.txt"]
    special = {f.path for f in parse_diff(fixture("quoted_special_paths"))}
    assert special == {'say "hi".txt', "back\\slash.txt", "tab\there.txt", "caf\ufffd-latin1.txt"}


@pytest.mark.parametrize("quoted, plain", [
    ('"a/caf\\303\\251.py"', "a/café.py"),
    ('"say \\"hi\\".txt"', 'say "hi".txt'),
    ('"tab\\there\\\\x"', "tab\there\\x"),
    ('"caf\\351"', "caf\ufffd"),
    ("plain/path.py", "plain/path.py"),
    ('"', '"'),
])
def test_unquote_path(quoted: str, plain: str) -> None:
    assert unquote_path(quoted) == plain


def test_bytes_that_are_not_utf8_are_replaced() -> None:
    hunk = parse_diff(fixture("non_utf8_bytes"))[0].hunks[0]
    assert hunk.lines[0].text == "caf\ufffd au lait"
    assert decode_diff(b"\xff\xfe") == "" and decode_diff(b"ok\r\n\xe9\r") == "ok\n\ufffd"


def test_statuses() -> None:
    statuses = {f.path: (f.status, f.old_path) for name in ("renames", "mode_only", "added_and_deleted", "binary")
                for f in parse_diff(fixture(name))}
    assert statuses["src/helpers.py"] == ("renamed", "src/utils.py")
    assert statuses["src/settings.py"] == ("renamed", "src/config.py")
    assert statuses["run.sh"] == ("mode-only", "run.sh")
    assert statuses["src/legacy.py"] == ("deleted", "src/legacy.py")
    assert statuses["src/new_module.py"] == ("added", None)
    assert statuses["assets/icon.ico"] == ("binary", None)


def test_renamed_file_hunks_use_the_new_path() -> None:
    renamed = {f.path: f for f in parse_diff(fixture("renames"))}["src/settings.py"]
    assert {hunk.anchor.path for hunk in renamed.hunks} == {"src/settings.py"}


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \n"])
def test_empty_input_has_no_files(data: bytes) -> None:
    assert parse_diff(data) == ()


# ----------------------------------------------------------------------------- truncated hunks


def test_truncated_hunk_keeps_the_lines_present() -> None:
    (hunk,) = _hunks("truncated_final_hunk")
    assert hunk.truncated
    assert hunk.header == "@@ -40,3 +40,4 @@ def index(request):"  # counts of the 5 lines present, not 12/13
    assert hunk.anchor == Anchor("app/views.py", 42, "RIGHT", 41)
    assert hunk.lines[-1].text.endswith('{"items": items})')


def test_github_fragment_anchor_lies_inside_the_declared_range() -> None:
    (hunk,) = _hunks("github_fragment_truncated")
    declared = range(10, 10 + 8)  # the fragment's own header: @@ -10,8 +10,8 @@
    assert hunk.truncated and hunk.anchor.side == "RIGHT" and hunk.anchor.line in declared
    assert hunk.lines[-1].new_line == hunk.anchor.line  # the reviewer's line: the fragment's last


def test_cut_mark_is_dropped_and_mid_diff_truncation_recovers() -> None:
    (cut,) = _hunks("truncated_cut_mark")
    assert [line.text for line in cut.lines][-1] == "    created = models.DateTimeField(auto_now_add=True)"
    first, second = _hunks("truncated_mid_diff")
    assert (first.path, first.truncated, second.path, second.truncated) == ("a.py", True, "b.py", True)


def test_ellipsis_is_a_python_line_not_a_cut_mark() -> None:
    data = b"--- a/s.py\n+++ b/s.py\n@@ -1,5 +1,6 @@\n def f():\n+    ...\n"
    (hunk,) = parse_diff(data)[0].hunks
    assert hunk.truncated and hunk.anchor == Anchor("s.py", 2, "RIGHT")


def test_prefixed_cut_mark_and_trailing_blank_lines_end_a_truncated_hunk() -> None:
    data = b"--- a/v.py\n+++ b/v.py\n@@ -1,9 +1,9 @@\n x = 1\n+y = 2\n+\xe2\x80\xa6\n"
    (hunk,) = parse_diff(data)[0].hunks
    assert [line.text for line in hunk.lines] == ["x = 1", "y = 2"] and hunk.anchor == Anchor("v.py", 2, "RIGHT")
    (blank,) = parse_diff(b"--- a/v.py\n+++ b/v.py\n@@ -1,9 +1,9 @@\n-x = 1\n+x = 2\n\n\n")[0].hunks
    assert blank.header == "@@ -1,1 +1,1 @@"


def test_doubled_header_in_a_git_file_without_minus_plus_lines() -> None:
    # every line lands in unidiff's header block; the hunk must still be found
    (diff_file,) = parse_diff("diff --git a/x.py b/x.py\n@@ @@ -3 +3 @@\n-a\n+b\n")
    assert [hunk.anchor for hunk in diff_file.hunks] == [Anchor("x.py", 3, "RIGHT")]


@pytest.mark.parametrize("name", ["doubled_header_inline", "doubled_header_prefix", "doubled_header_lines"])
def test_doubled_headers_read_as_one(name: str) -> None:
    (hunk,) = _hunks(name)
    assert hunk.header == "@@ -7,3 +7,4 @@ def helper():" and not hunk.truncated
    assert hunk.anchor == Anchor("lib.py", 8, "RIGHT")


# ----------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize("name, line_no, words", [
    ("malformed_garbage_in_hunk", 8, "expected a hunk line"),
    ("malformed_hunk_too_long", 9, "after the end of a hunk"),
    ("malformed_hunk_side_overflow", 7, "longer than its header at line 5"),
    ("malformed_extra_line_between_files", 6, "after the end of a hunk"),
    ("malformed_hunk_before_file", 1, "before any file header"),
    ("malformed_bad_header", 5, "unreadable hunk header"),
    ("malformed_combined_diff", 5, "combined (merge) diffs"),
    ("malformed_not_a_diff", 1, "not a unified diff"),
])
def test_malformed_input_names_its_line(name: str, line_no: int, words: str) -> None:
    with pytest.raises(DiffError) as caught:
        parse_diff(fixture(name))
    message = str(caught.value)
    assert message.startswith(f"line {line_no}: ") and words in message and "\n" not in message
    assert caught.value.line_no == line_no


def test_error_line_number_survives_chunking() -> None:
    files = "".join(_git_file(f"f{i}.py", 30, seed=i) for i in range(40))
    bad = files + _git_file("last.py", 5, seed=99).replace("\n+added", "\n?added", 1)
    expected_line = bad.split("\n").index(next(l for l in bad.split("\n") if l.startswith("?"))) + 1
    for chunk_chars in (None, 300):
        with pytest.raises(DiffError, match=f"^line {expected_line}: "):
            list(iter_files(bad, chunk_chars=chunk_chars))


# ----------------------------------------------------------------------------- random diffs, checked against their files

VOCABULARY = ["x = 1", "", "    return y", "-- sql comment", "++counter;", "@@ not a header", "\\ backslash",
              "diff --git fake", "…", "...", "café = 'é'", "\tindented", "--- a/looks/like/a/header", "+++ b/too"]


def _random_pair(rng: random.Random) -> tuple[list[str], list[str]]:
    old = [rng.choice(VOCABULARY) + f" {rng.randint(0, 9)}" * rng.randint(0, 1) for _ in range(rng.randint(0, 40))]
    new = list(old)
    for _ in range(rng.randint(1, 8)):
        at = rng.randint(0, len(new))
        roll = rng.random()
        if roll < 0.4:
            new[at:at] = [rng.choice(VOCABULARY) for _ in range(rng.randint(1, 4))]
        elif roll < 0.8 and new:
            del new[at:at + rng.randint(1, 4)]
        elif new:
            new[min(at, len(new) - 1)] = rng.choice(VOCABULARY) + " changed"
    return old, new


def _check_against_files(diff_file: DiffFile, old: list[str], new: list[str]) -> None:
    for hunk in diff_file.hunks:
        for line in hunk.lines:
            assert line.old_line is None or old[line.old_line - 1] == line.text
            assert line.new_line is None or new[line.new_line - 1] == line.text
        anchor = hunk.anchor
        kind = "added" if anchor.side == "RIGHT" else "removed"
        changed = [line for line in hunk.lines if line.kind == kind]
        numbers = [line.new_line if kind == "added" else line.old_line for line in changed]
        side_file = new if anchor.side == "RIGHT" else old
        assert (anchor.start_line or anchor.line, anchor.line) == (numbers[0], numbers[-1])
        assert side_file[anchor.line - 1] == changed[-1].text
        visible = {line.new_line if anchor.side == "RIGHT" else line.old_line for line in hunk.lines} - {None}
        assert anchor.line in visible
        assert anchor.start_line is None or (anchor.start_line < anchor.line and anchor.start_line in visible)


def _unified(old: list[str], new: list[str], path: str, context: int) -> str:
    return "".join(difflib.unified_diff([l + "\n" for l in old], [l + "\n" for l in new],
                                        f"a/{path}", f"b/{path}", n=context))


def test_random_difflib_diffs_anchor_inside_their_hunks() -> None:
    rng = random.Random(575)
    for case in range(300):
        old, new = _random_pair(rng)
        text = _unified(old, new, f"pkg/m{case}.py", rng.randint(0, 4))
        files = parse_diff(text)
        assert len(files) == (1 if text else 0)
        for diff_file in files:
            assert diff_file.path == f"pkg/m{case}.py"
            _check_against_files(diff_file, old, new)


def test_random_github_style_truncations_stay_inside_the_real_files() -> None:
    rng = random.Random(7)
    checked = 0
    for case in range(300):
        old, new = _random_pair(rng)
        text = _unified(old, new, "t.py", 3)
        if not text:
            continue
        lines = text.split("\n")
        cut = rng.randint(4, max(4, len(lines) - 1))  # keep the header, cut after any body line
        files = parse_diff("\n".join(lines[:cut]))
        for diff_file in files:
            diff_file = DiffFile(diff_file.path, diff_file.old_path, diff_file.status,
                                 tuple(h for h in diff_file.hunks if h.anchor))
            _check_against_files(diff_file, old, new)
            checked += len(diff_file.hunks)
    assert checked > 200


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_random_git_diffs_anchor_inside_their_hunks(tmp_path: Path) -> None:
    rng = random.Random(11)
    for case in range(8):
        old, new = _random_pair(rng)
        endings = [rng.random() < 0.5 for _ in range(2)]  # with or without a final newline
        for side, lines, newline in (("old", old, endings[0]), ("new", new, endings[1])):
            (tmp_path / side).mkdir(exist_ok=True)
            (tmp_path / side / "f.py").write_text("\n".join(lines) + ("\n" if newline and lines else ""))
        done = subprocess.run(["git", "diff", "--no-index", "--no-color", "-U1", "old/f.py", "new/f.py"],
                              cwd=tmp_path, capture_output=True)
        for diff_file in parse_diff(done.stdout):
            _check_against_files(diff_file, old, new)


MUTATIONS = ["@@ @@ -1,2 +1,2 @@\n", "@@ -1 +1 @@\n", "garbage\n", "\n", "+x\n", "-y\n", " z\n", "…\n",
             "\\ No newline at end of file\n", "diff --git a/q b/q\n", "--- a/q\n", "+++ b/q\n", "\x00\n",
             "@@@ -1 -1 +1 @@@\n", "Binary files a/x and b/x differ\n", "GIT binary patch\n", "new file mode 100644\n"]


def test_mutated_diffs_parse_or_raise_diff_error_only() -> None:
    rng = random.Random(3)
    outcomes = {"parsed": 0, "rejected": 0}
    for _ in range(400):
        old, new = _random_pair(rng)
        lines = (f"diff --git a/m.py b/m.py\n" + _unified(old, new, "m.py", 2)).splitlines(keepends=True)
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(lines))
            lines[at:at + rng.randint(0, 1)] = [rng.choice(MUTATIONS)]
        try:
            files = parse_diff("".join(lines).encode("utf-8"))
        except DiffError as err:
            assert "\n" not in str(err) and str(err).startswith("line ")
            outcomes["rejected"] += 1
            continue
        outcomes["parsed"] += 1
        for hunk in (h for f in files for h in f.hunks if h.anchor):
            assert anchor_problem(hunk, hunk.anchor) is None
    assert min(outcomes.values()) > 50  # both branches really ran


def test_slow_path_reads_a_diff_like_the_fast_path() -> None:
    rng = random.Random(5)
    for _ in range(60):
        text = "".join(_git_file(f"m{i}.py", rng.randint(1, 25), seed=rng.randint(0, 10 ** 6)) for i in range(3))
        # git format-patch's signature after the last hunk sends the chunk down the slow path
        assert parse_diff(text + "-- \n2.39.5\n") == parse_diff(text)


# ----------------------------------------------------------------------------- size


def _git_file(path: str, changes: int, seed: int) -> str:
    rng = random.Random(seed)
    old = [f"line {i} of {path}" for i in range(changes * 6 + 10)]
    new = list(old)
    for _ in range(changes):
        at = rng.randint(0, len(new) - 1)
        new[at] = new[at] + " # edited" if rng.random() < 0.5 else new[at]
        new.insert(rng.randint(0, len(new)), f"added {rng.random():.6f}")
    return f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n" + _unified(old, new, path, 3)


def _big_diff(files: int) -> str:
    return "".join(_git_file(f"src/f{i}.py", 40, seed=i) for i in range(files))


def test_chunked_parsing_matches_whole_parsing() -> None:
    text = _big_diff(12) + _git_file("huge.py", 400, seed=1)  # huge.py alone exceeds the small chunks
    assert tuple(iter_files(text, chunk_chars=2000)) == parse_diff(text)


def test_large_diff_parses_in_linear_time_and_bounded_memory() -> None:
    small, large = _big_diff(20), _big_diff(160)  # ~0.12 MB and ~1 MB

    def cpu_seconds(text: str) -> float:
        best = float("inf")
        for _ in range(2):
            start = time.process_time()
            parse_diff(text)
            best = min(best, time.process_time() - start)
        return best

    ratio = cpu_seconds(large) / max(cpu_seconds(small), 1e-4)
    assert ratio < 8 * 2.5, f"8x the input took {ratio:.1f}x the time (quadratic would be ~64x)"
    tracemalloc.start()
    files = parse_diff(large)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sum(len(f.hunks) for f in files) > 1000
    # the text, the result (about its size again) and one chunk in flight; not unidiff's
    # ~200 bytes per line for a whole diff
    assert peak < 3.5 * len(large), f"peak {peak / 1e6:.1f} MB for a {len(large) / 1e6:.1f} MB diff"
