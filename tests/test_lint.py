"""reviewer.lint: ruff on rebuilt review hunks, mapped back to head-side lines.

    python -m pytest -q tests/test_lint.py

Every hunk here is written for this file (none is copied from a data set) and read through
reviewer.diff.parse_diff, as the reviewer reads a PR.
"""

from __future__ import annotations

import ast

import pytest

from reviewer import lint
from reviewer.diff import Hunk, parse_diff

pytestmark = pytest.mark.skipif(lint.find_ruff() is None, reason="ruff is not installed")


def hunk(header: str, *body: str, path: str = "app/util.py") -> Hunk:
    """One hunk of ``path`` from its ``@@`` header and body lines (with their +/-/space marks)."""
    files = parse_diff(f"--- a/{path}\n+++ b/{path}\n{header}\n" + "".join(line + "\n" for line in body))
    (only,) = files[0].hunks
    return only


def codes(found: list[lint.Diagnostic]) -> set[tuple[str, int]]:
    return {(d.code, d.line) for d in found}


# A hunk that stops at the commented `def` line, as a review comment's diff_hunk does.
STOPS_AT_DEF = hunk("@@ -10,2 +10,4 @@", " import json", " ", "+", "+def load(x):")
# A function shown whole, followed by more code: its missing docstring is a fact.
WHOLE_BODY = hunk("@@ -1,2 +1,7 @@", " import json", " ",
                  "+def load(path: str) -> dict:", "+    with open(path) as f:", "+        return json.load(f)",
                  "+", "+VERSION = 2")
BARE_EXCEPT = hunk("@@ -3,1 +3,5 @@", " run_setup()", "+try:", "+    run()", "+except:", "+    log_failure()")
ASSERTS = hunk("@@ -7,2 +7,3 @@ def area(r):", "     value = r * r", "+    assert value >= 0", "     return value")
OPEN_DOCSTRING = hunk("@@ -1,1 +1,4 @@", " def area(r):", '+    """Area of a circle.', "+", "+    Uses pi.")
MUTABLE_DEFAULT = hunk("@@ -20,0 +21,3 @@", "+def add(item: str, bucket: list = []) -> list:",
                       "+    bucket.append(item)", "+    return bucket")
# Removed lines interleaved: head-side numbers skip them.
RENUMBERED = hunk("@@ -40,6 +50,5 @@", " def check(value):", "-    if value is None:", "-        return 0",
                  "+    if value == None:", "+        return 0", "     total = 1", "-    total += 1")
GOLDEN = [STOPS_AT_DEF, WHOLE_BODY, BARE_EXCEPT, ASSERTS, OPEN_DOCSTRING, MUTABLE_DEFAULT, RENUMBERED]


def test_hunk_stopping_at_def_gets_annotations_not_missing_docstring():
    found = lint.lint_hunk(STOPS_AT_DEF)
    assert ("ANN001", 13) in codes(found) and ("ANN201", 13) in codes(found)
    assert not any(d.code.startswith("D1") for d in found)  # the body is below the cut
    note = next(d for d in found if d.code == "ANN001")
    assert note.plain == "the argument `x` of `load` has no type annotation" and note.on_changed_line


def test_visible_body_without_docstring_gets_d103():
    found = lint.lint_hunk(WHOLE_BODY)
    assert ("D103", 3) in codes(found)
    assert next(d for d in found if d.code == "D103").plain == "`load` has no docstring"


def test_methods_of_a_class_above_the_hunk_get_no_docstring_or_self_claims():
    cut_class = hunk("@@ -20,2 +20,6 @@ class Store:", "     def a(self) -> int:", "         return 1",
                     "+    def b(self):", "+        return 2", "+", "+    x = 3")
    found = lint.lint_hunk(cut_class)
    assert {d.code for d in found} == {"ANN201"}  # not D102/D103 (scope unknown), not ANN001 on self


def test_bare_except():
    found = lint.lint_hunk(BARE_EXCEPT)
    assert ("E722", 6) in codes(found)
    assert "KeyboardInterrupt" in next(d for d in found if d.code == "E722").plain


def test_assert_in_code_but_not_in_tests():
    assert ("S101", 8) in codes(lint.lint_hunk(ASSERTS))
    in_tests = hunk("@@ -7,2 +7,3 @@", " value = area(2)", "+assert value == 4", " print(value)",
                    path="tests/test_area.py")
    assert not lint.lint_hunk(in_tests)


def test_unterminated_docstring_still_parses():
    snippet = lint.rebuild(OPEN_DOCSTRING)
    assert snippet is not None and ast.parse(snippet.text)
    assert snippet.lines[:4] == (1, 2, 3, 4) and all(n is None for n in snippet.lines[4:])
    found = lint.lint_hunk(OPEN_DOCSTRING)
    assert ("ANN001", 1) in codes(found)
    assert not any(d.on_changed_line for d in found)  # the def line is context; no D419/D2xx from the cut


def test_hunk_starting_inside_a_docstring_or_a_call():
    in_docstring = hunk("@@ -5,3 +5,4 @@ def area(r):", "     Uses pi.", '     """',
                        "-    return 3.14 * r * r", "+    assert r >= 0", "+    return math.pi * r * r")
    assert codes(lint.lint_hunk(in_docstring)) == {("S101", 7)}
    in_call = hunk("@@ -3,3 +3,4 @@ def parse(text):", '         "a",', '         "b",', "     )",
                   "+    return eval(text)")
    assert codes(lint.lint_hunk(in_call)) == {("S307", 6)}


def test_hunk_stopping_inside_try_or_signature_parses():
    in_try = hunk("@@ -1,0 +1,3 @@", "+while True:", "+    try:", "+        step()")
    assert lint.rebuild(in_try) is not None
    in_signature = hunk("@@ -1,0 +1,3 @@", "+def fetch(", "+    url,", "+    retries: int = 3,")
    found = lint.lint_hunk(in_signature)
    assert ("ANN001", 2) in codes(found)
    assert not any(d.code.startswith("ANN2") for d in found)  # `-> T` may follow the cut


def test_mutable_default_argument():
    found = lint.lint_hunk(MUTABLE_DEFAULT)
    assert ("B006", 21) in codes(found)
    assert next(d for d in found if d.code == "B006").plain == "a mutable default argument is shared between calls"


def test_line_numbers_are_head_side():
    found = lint.lint_hunk(RENUMBERED)
    e711 = next(d for d in found if d.code == "E711")
    line = next(x for x in RENUMBERED.lines if "== None" in x.text)
    assert e711.line == line.new_line == 51 and e711.on_changed_line
    assert ("ANN001", 50) in codes(found) and not next(d for d in found if d.code == "ANN001").on_changed_line


def test_non_python_paths_give_nothing():
    text = hunk("@@ -1,0 +1,2 @@", "+def load(x, bucket=[]):", "+    assert x", path="docs/notes.md")
    assert lint.rebuild(text) is None and lint.lint_hunk(text) == [] and lint.lint_hunks([text]) == [[]]
    assert lint.lint_file("docs/notes.md", "def f(x=[]): assert x\n", text) == []


def test_lint_hunks_matches_lint_hunk():
    mixed = GOLDEN + [hunk("@@ -1,0 +1,1 @@", "+x = 1", path="README.md")]
    assert lint.lint_hunks(mixed) == [lint.lint_hunk(h) for h in mixed]


def test_lint_file_keeps_the_hunk_lines_and_sees_the_whole_file():
    source = "import os\nimport json\n\n\ndef load(x):\n    return json.loads(x)\n\n\ndef other(y):\n    return y\n"
    shown = hunk("@@ -4,2 +4,2 @@", " ", "-def load(x, y):", "+def load(x):")
    found = lint.lint_file("app/util.py", source, shown)
    assert codes(found) == {("ANN001", 5), ("ANN201", 5), ("D103", 5)}  # the body is in the file
    with_import = hunk("@@ -1,1 +1,2 @@", "+import os", " import json")
    assert ("F401", 1) in codes(lint.lint_file("app/util.py", source, with_import))  # its use would be in the file
    assert not any(d.code == "F401" for d in lint.lint_hunk(with_import))  # not knowable from the hunk
    assert lint.lint_file("app/util.py", "def broken(x=[]:\n", with_import) == []  # does not parse: no claims


def test_semantic_errors_of_the_cut_are_not_fatal():
    inner = hunk("@@ -9,1 +9,3 @@ def inner(expr):", "         nonlocal count", "+        count += 1",
                 "+        return eval(expr)")
    snippet = lint.rebuild(inner)
    assert any(map(lint._syntax_error, lint._run_ruff(["-"], stdin=snippet.text)))  # `nonlocal` at top level
    assert codes(lint.lint_hunk(inner)) == {("S307", 11)}


def test_linter_notes_order_dedupe_and_cap():
    many = hunk("@@ -1,0 +1,7 @@", "+def run(a, b, c=[]):", '+    """Run."""', "+    return eval(a)", "+",
                "+class thing:", "+    pass", "+X = 1")
    notes = lint.linter_notes(many, lint.lint_hunk(many))
    assert notes[:2] == ["a mutable default argument is shared between calls",
                         "`eval` runs arbitrary code; use `ast.literal_eval`"]
    assert "the argument `a` of `run` has no type annotation" in notes and len(notes) == 4
    everything = lint.linter_notes(many, lint.lint_hunk(many), limit=20)
    assert everything[-2:] == ["the module has no docstring", "the class `thing` has no docstring"]  # docs last
    twice = hunk("@@ -4,0 +5,2 @@", "+a = x == None", "+b = y == None")
    assert len(lint.lint_hunk(twice)) == 2
    assert lint.linter_notes(twice, lint.lint_hunk(twice)) == ["a comparison to None uses `==`/`!=` instead of `is`"]
    assert lint.linter_notes(OPEN_DOCSTRING, lint.lint_hunk(OPEN_DOCSTRING)) == []  # context lines only
    assert not any("http" in d.plain for h in GOLDEN for d in lint.lint_hunk(h))


def test_missing_ruff_warns_once(monkeypatch, capsys):
    monkeypatch.setattr(lint, "find_ruff", lambda: None)
    monkeypatch.setattr(lint, "_warned", set())
    assert lint.lint_hunk(MUTABLE_DEFAULT) == [] and lint.lint_hunks(GOLDEN) == [[] for _ in GOLDEN]
    assert capsys.readouterr().err.count("ruff is not installed") == 1


def test_ruff_timeout_gives_nothing(monkeypatch):
    monkeypatch.setattr(lint, "TIMEOUT_S", 1e-4)
    assert lint.lint_hunk(MUTABLE_DEFAULT) == []


def test_one_file_with_several_hunks_is_linted_once(monkeypatch):
    source = "import os\nimport json\n\n\ndef load(x):\n    return json.loads(x)\n\n\ndef other(y):\n    return y\n"
    first = hunk("@@ -1,1 +1,2 @@", "+import os", " import json")
    second = hunk("@@ -4,2 +4,2 @@", " ", "-def load(x, y):", "+def load(x):")
    one_by_one = [lint.lint_file("app/util.py", source, h) for h in (first, second)]
    runs = []
    real = lint._run_ruff
    monkeypatch.setattr(lint, "_run_ruff", lambda *a, **k: runs.append(a) or real(*a, **k))
    assert lint.lint_file_hunks("app/util.py", source, [first, second]) == one_by_one
    assert len(runs) == 1
