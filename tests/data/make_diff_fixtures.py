"""Regenerate the golden diff fixtures in tests/data/diffs/ (a .diff and its expected .json each).

    python tests/data/make_diff_fixtures.py            # rewrite every .diff and .json
    python tests/data/make_diff_fixtures.py --check    # regenerate in memory, report differences

Sources, in the order the script uses them:

* ``GIT_CASES`` / ``DIFF_CASES``: file pairs checked in under tests/data/diff_sources/<case>/old
  and .../new, diffed with ``git diff --no-index`` (paths rewritten from a/old/x to a/x, as in a
  repository) or GNU ``diff -u`` / ``diff -ruN`` (timestamps pinned to one value);
* ``TEMP_CASES``: pairs this script writes to a temporary folder because they do not belong in a
  checkout (binary files, a symlink, file names with quotes, tabs or bytes that are not UTF-8);
* ``DERIVED``: transformations of a generated diff (the whole diff in CRLF, in UTF-16, wrapped
  as git format-patch output, cut like a GitHub review comment's hunk);
* ``HANDMADE``: inputs no tool writes: truncated and doubled hunk headers from GitHub review
  data, a submodule, and malformed diffs (their .json holds the one-line error).

The .json is what the parser and the default filters make of the .diff: review its ``git diff``
by eye before committing, since the golden test (tests/test_diff.py) trusts it from then on.
git and diff output can differ between versions: --check tells whether this machine's tools
still reproduce the checked-in fixtures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from reviewer.cli import list_hunks_payload  # noqa: E402
from reviewer.diff import DiffError, DiffFile, Hunk, parse_diff  # noqa: E402
from reviewer.filters import select_hunks  # noqa: E402

DATA = Path(__file__).resolve().parent
SOURCES = DATA / "diff_sources"
FIXTURES = DATA / "diffs"

GIT_CASES = ("modified_python", "no_newline_at_eof", "crlf_content", "header_without_counts",
             "quoted_unicode_paths", "mode_only", "renames", "added_and_deleted", "non_utf8_bytes",
             "filtered_files", "large_added_file")
DIFF_CASES = {"diff_u_single": ["-u", "old/greet.py", "new/greet.py"], "diff_ruN": ["-ruN", "old", "new"]}
MODES = {("mode_only", "old/run.sh"): 0o644, ("mode_only", "new/run.sh"): 0o755}
PINNED_TIME = "2024-05-01 12:00:00.000000000 +0000"


# ----------------------------------------------------------------------------- running the tools


def _clean_env(home: str) -> dict[str, str]:
    # no user or system git config: the output must not depend on who runs the script
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "TZ": "UTC"}


def run_tool(args: list[str], cwd: Path) -> bytes:
    """stdout of git diff / diff, which exit 1 when the inputs differ."""
    with tempfile.TemporaryDirectory() as home:
        done = subprocess.run(args, cwd=cwd, env=_clean_env(home), capture_output=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def git_diff(case_dir: Path, *extra: str) -> bytes:
    args = ["git", "-c", "core.quotePath=true", "-c", "color.ui=never", "diff", "--no-index",
            "-M", "--no-ext-diff", "--no-textconv", *extra, "old", "new"]
    return repo_paths(run_tool(args, case_dir))


def repo_paths(diff: bytes) -> bytes:
    """git diff --no-index old new names files a/old/x and b/new/x; a repository says a/x, b/x.
    Only header lines are rewritten, never hunk bodies."""
    out, in_body = [], False
    for line in diff.splitlines(keepends=True):
        in_body = (in_body or line.startswith(b"@@")) and not line.startswith(b"diff --git ")
        if not in_body:
            for old, new in ((b"a/old/", b"a/"), (b"b/new/", b"b/"), (b"from old/", b"from "),
                             (b'from "old/', b'from "'), (b"to new/", b"to "), (b'to "new/', b'to "')):
                line = line.replace(old, new)
        out.append(line)
    return b"".join(out)


def diff_u(case_dir: Path, args: list[str]) -> bytes:
    raw = run_tool(["diff", *args], case_dir)
    stamp = re.compile(rb"^((?:---|\+\+\+) .*\t)(\d{4}-\d\d-\d\d [\d:.]+ [+-]\d{4})$", re.M)
    return stamp.sub(lambda m: m.group(1) + (m.group(2) if m.group(2).startswith(b"1970") else PINNED_TIME.encode()), raw)


def staged_copy(case: str, tmp: Path) -> Path:
    """A copy of a case's sources with the file modes the case needs (a checkout may lose them)."""
    target = tmp / case
    shutil.copytree(SOURCES / case, target, symlinks=True)
    for side in ("old", "new"):
        (target / side).mkdir(exist_ok=True)  # git does not keep empty folders
    for (name, rel), mode in MODES.items():
        if name == case:
            os.chmod(target / rel, mode)
    return target


# ----------------------------------------------------------------------------- temporary pairs


def _write(base: Path, rel: bytes, data: bytes) -> None:
    path = os.path.join(os.fsencode(base), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def temp_binary(tmp: Path) -> bytes:
    _write(tmp, b"old/assets/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01")
    _write(tmp, b"new/assets/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x02")
    _write(tmp, b"new/assets/icon.ico", b"\x00\x00\x01\x00\x01\x00\x10\x10")
    return git_diff(tmp)


def temp_binary_patch(tmp: Path) -> bytes:
    temp_binary(tmp)
    _write(tmp, b"old/README.md", b"# Logo\n")
    _write(tmp, b"new/README.md", b"# Logo\n\nNow in colour.\n")
    return git_diff(tmp, "--binary")


def temp_symlink(tmp: Path) -> bytes:
    for side, target in (("old", "config/dev.yml"), ("new", "config/prod.yml")):
        (tmp / side).mkdir()
        os.symlink(target, tmp / side / "current.yml")
    return git_diff(tmp)


def temp_special_names(tmp: Path) -> bytes:
    # git C-quotes these: \" for a quote, \\ for a backslash, \t for a tab, \351 for byte 0xE9
    for name in (b'say "hi".txt', b"back\\slash.txt", b"tab\there.txt", b"caf\xe9-latin1.txt"):
        _write(tmp, b"old/" + name, b"before\n")
        _write(tmp, b"new/" + name, b"after\n")
    return git_diff(tmp)


TEMP_CASES: dict[str, Callable[[Path], bytes]] = {
    "binary": temp_binary, "binary_patch": temp_binary_patch, "symlink": temp_symlink,
    "quoted_special_paths": temp_special_names,
}


# ----------------------------------------------------------------------------- derived and handmade


def github_fragment(diff: bytes) -> bytes:
    """The first hunk of a diff cut the way GitHub stores a review comment's diff_hunk (it stops
    at the commented line, the header keeps its counts), wrapped in ---/+++ lines."""
    text = diff.decode()
    path = re.search(r"^\+\+\+ b/(.*)$", text, re.M).group(1)
    hunk = text[text.index("\n@@") + 1:].split("\n")
    cut = next(i for i, line in enumerate(hunk) if i > 0 and line.startswith("-")) + 3
    return f"--- a/{path}\n+++ b/{path}\n".encode() + "\n".join(hunk[:cut]).encode()


def format_patch(diff: bytes) -> bytes:
    head = (b"From 3f2a1c0 Mon Sep 17 00:00:00 2001\nFrom: Ada <ada@example.com>\n"
            b"Subject: [PATCH] cart: validate quantities\n\n- reject zero\n- drop legacy_total\n---\n"
            b" src/shop/cart.py | 15 +++++++--------\n 1 file changed\n\n")
    return head + diff + b"-- \n2.39.5\n\n"


DERIVED: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "crlf_whole_diff": ("modified_python", lambda d: d.replace(b"\n", b"\r\n")),
    "utf16_bom": ("quoted_unicode_paths", lambda d: d.decode("utf-8").encode("utf-16")),
    "format_patch": ("modified_python", format_patch),
    "github_fragment_truncated": ("modified_python", github_fragment),
}

_GIT_HEAD = "diff --git a/{0} b/{0}\nindex 1111111..2222222 100644\n--- a/{0}\n+++ b/{0}\n"
HANDMADE: dict[str, str] = {
    "empty": "",
    "truncated_final_hunk": (  # header counts 12 and 13 lines, 5 are present
        "--- a/app/views.py\n+++ b/app/views.py\n@@ -40,12 +40,13 @@ def index(request):\n"
        "     user = request.user\n-    items = Item.objects.all()\n+    items = Item.objects.filter(owner=user)\n"
        "+    items = items.order_by(\"-created\")\n     return render(request, \"index.html\", {\"items\": items})"),
    "truncated_cut_mark": (
        "--- a/app/models.py\n+++ b/app/models.py\n@@ -10,9 +10,10 @@ class Item(models.Model):\n"
        "     name = models.CharField(max_length=100)\n+    owner = models.ForeignKey(User, on_delete=models.CASCADE)\n"
        "     created = models.DateTimeField(auto_now_add=True)\n…\n"),
    "truncated_mid_diff": (
        _GIT_HEAD.format("a.py") + "@@ -1,6 +1,6 @@\n x = 1\n-y = 2\n+y = 3\n"
        + _GIT_HEAD.format("b.py") + "@@ -3,2 +3,2 @@ def g():\n-    return 1\n+    return 2\n"),
    "doubled_header_inline": (
        _GIT_HEAD.format("lib.py") + "@@ -7,3 +7,4 @@ @@ def helper():\n     a = 1\n+    b = 2\n     c = 3\n     d = 4\n"),
    "doubled_header_prefix": (
        _GIT_HEAD.format("lib.py") + "@@ @@ -7,3 +7,4 @@ def helper():\n     a = 1\n+    b = 2\n     c = 3\n     d = 4\n"),
    "doubled_header_lines": (
        _GIT_HEAD.format("lib.py") + "@@ -7,3 +7,4 @@ def helper():\n@@ -7,3 +7,4 @@ def helper():\n"
        "     a = 1\n+    b = 2\n     c = 3\n     d = 4\n"),
    "submodule": (
        "diff --git a/third_party/lib b/third_party/lib\nindex 1234567..89abcde 160000\n--- a/third_party/lib\n"
        "+++ b/third_party/lib\n@@ -1 +1 @@\n-Subproject commit 1234567890abcdef1234567890abcdef12345678\n"
        "+Subproject commit 89abcdef0123456789abcdef0123456789abcdef\n"),
    "malformed_garbage_in_hunk": _GIT_HEAD.format("x.py") + "@@ -1,3 +1,3 @@\n a\n-b\nthis line is not a diff line\n+c\n",
    "malformed_hunk_too_long": _GIT_HEAD.format("x.py") + "@@ -1,2 +1,2 @@\n a\n-b\n+c\n+d\n e\n",
    "malformed_hunk_side_overflow": _GIT_HEAD.format("x.py") + "@@ -1,1 +1,3 @@\n a\n-b\n+c\n+d\n",
    "malformed_extra_line_between_files": (  # diff -u style: the stray line would attach to the next file
        "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-x\n+y\n+stray\n--- a/z.py\n+++ b/z.py\n@@ -1 +1 @@\n-p\n+q\n"),
    "malformed_hunk_before_file": "@@ -1,2 +1,2 @@\n a\n-b\n+c\n",
    "malformed_bad_header": _GIT_HEAD.format("x.py") + "@@ -one +two @@\n a\n",
    "malformed_combined_diff": (
        "diff --cc x.py\nindex 1111111,2222222..3333333\n--- a/x.py\n+++ b/x.py\n@@@ -1,2 -1,2 +1,2 @@@\n- a\n +b\n++c\n"),
    "malformed_not_a_diff": "Hello reviewer,\nplease look at my change.\n",
}


# ----------------------------------------------------------------------------- expected output


def _line_record(line: Any) -> list[Any]:
    kind = {"added": "+", "removed": "-", "context": " "}[line.kind]
    return [kind, line.old_line, line.new_line, line.text, line.missing_newline]


def _hunk_record(hunk: Hunk) -> dict[str, Any]:
    anchor = hunk.anchor
    return {"header": hunk.header, "old_start": hunk.old_start, "old_count": hunk.old_count,
            "new_start": hunk.new_start, "new_count": hunk.new_count, "section": hunk.section,
            "truncated": hunk.truncated, "anchor": anchor.to_api() if anchor else None,
            "lines": [_line_record(line) for line in hunk.lines]}


def _file_record(diff_file: DiffFile) -> dict[str, Any]:
    return {"path": diff_file.path, "old_path": diff_file.old_path, "status": diff_file.status,
            "old_mode": diff_file.old_mode, "new_mode": diff_file.new_mode,
            "hunks": [_hunk_record(hunk) for hunk in diff_file.hunks]}


def expected_record(data: bytes) -> dict[str, Any]:
    """What a fixture's .json holds: the parse, and --list-hunks with the default filters."""
    try:
        files = parse_diff(data)
    except DiffError as err:
        return {"error": str(err)}
    return {"files": [_file_record(f) for f in files], "list_hunks": list_hunks_payload(select_hunks(files))}


def render_record(record: dict[str, Any]) -> str:
    """Indented JSON with each body line's record on one row, for readable reviews."""
    rows: list[str] = []

    def compact(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: compact(item) for key, item in value.items()}
        if isinstance(value, list) and value and isinstance(value[0], list):  # a hunk's "lines"
            rows.extend(json.dumps(row, ensure_ascii=False) for row in value)
            return [f"@row{i}@" for i in range(len(rows) - len(value), len(rows))]
        return [compact(item) for item in value] if isinstance(value, list) else value

    text = json.dumps(compact(record), ensure_ascii=False, indent=1)
    # a function's result is inserted as is (no backslash processing)
    return re.sub(r'"@row(\d+)@"', lambda m: rows[int(m.group(1))], text) + "\n"


# ----------------------------------------------------------------------------- main


def generate_all() -> dict[str, bytes]:
    """Every fixture's .diff bytes, by name."""
    diffs: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for case in GIT_CASES:
            diffs[case] = git_diff(staged_copy(case, tmp))
        for case, args in DIFF_CASES.items():
            diffs[case] = diff_u(staged_copy(case, tmp), args)
        for case, make in TEMP_CASES.items():
            (tmp / "t" / case).mkdir(parents=True)
            diffs[case] = make(tmp / "t" / case)
    for name, (source, transform) in DERIVED.items():
        diffs[name] = transform(diffs[source])
    diffs.update({name: text.encode("utf-8") for name, text in HANDMADE.items()})
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the checked-in fixtures, write nothing")
    args = parser.parse_args()
    stale = []
    for name, data in sorted(generate_all().items()):
        expected = render_record(expected_record(data)).encode("utf-8")
        for path, content in ((FIXTURES / f"{name}.diff", data), (FIXTURES / f"{name}.json", expected)):
            if args.check:
                stale += [path.name] if not path.exists() or path.read_bytes() != content else []
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
    print("\n".join(f"differs: {name}" for name in stale) or "fixtures up to date")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
