"""Ground a hunk's finding in static analysis: ruff on the hunk's new side, never executed.

A review hunk is a fragment: it starts and stops anywhere (mid-docstring, right after a
``def ...:``). ``rebuild`` turns its head side (context + added lines) into a snippet that parses:
dedented, wrapped in ``if True:`` headers when it starts deeper than it goes, an open triple quote
closed (or opened, when the hunk starts inside a string), open brackets closed, and an open block
given an indented ``...``; each candidate is checked with ``ast.parse`` (parsing only) and a line
map sends every diagnostic back to its head-side line. Rules whose evidence may lie outside the
hunk are dropped ("unused", "undefined", imports not at top), and rules about a block's body
(missing docstring, unused loop variable, blind except) are kept only when the hunk shows that
block to its end. ``lint_file`` runs on the whole head file instead and keeps what lands on the
hunk's lines; there everything is visible, so only the test-file exemptions apply.

    python -m reviewer.lint --data ../shared/data/review-pairs-dev.jsonl   # parse rate, hits, codes, timing
    python -m pytest -q tests/test_lint.py
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

from reviewer.diff import Hunk

TIMEOUT_S = 5.0
# Why each family is in:
SELECT = ",".join((
    "F",       # pyflakes: format-string errors, repeated dict keys, `is` with literals, redefinitions
    "B",       # bugbear: mutable/called defaults, bare except, loop-variable closures, raise without from
    "S",       # bandit: eval/exec, shell=True, unsafe deserialisation, SQL strings, no timeout, asserts
    "BLE",     # `except Exception:` that neither re-raises nor logs
    "E4,E7",   # pycodestyle's statement errors: `== None`, bare except, lambda assignment, `l` names
    "W605",    # invalid escape sequences: a real bug, unlike the other W (whitespace) rules
    "ANN",     # missing annotations: a signature shows all its evidence on its own lines
    "N",       # pep8 naming
    "A001,A002",  # a variable or argument shadowing a builtin (`id`, `list`, `type`)
    "RUF013",  # `x: int = None`, an implicit Optional
    "D1,D419",  # missing or empty docstrings; not D2-D4 (docstring layout: taste, and truncation noise)
))
IGNORE = ",".join((
    "B905,B911,B912",   # zip()/map() strict=: depends on the project's Python and taste
    "S311,S603,S607",   # random, subprocess without shell: fire on ordinary, correct code
    "ANN401,ANN204",    # `Any` is a choice; `__init__ -> None` is noise
    "N806",             # upper-case locals are constants, or maths (X, N) by convention
    "N807,N999",        # `__x__` outside a class is an artifact of a cut class; file names are not in a hunk
    "D105,D107",        # magic methods and `__init__`: projects document those in the class, or not at all
))
# Never for a hunk: the evidence (a use, a definition, the top of the file, the loop or function
# around the hunk) lies outside it, or the rule fires on the rebuilt snippet itself.
OUTSIDE_HUNK = frozenset({"F401", "F405", "F821", "F822", "F823", "F841", "F842",
                          "F701", "F702", "F704", "F706", "E402"})
# Kept for a hunk only when the hunk shows the block on that line to its end.
BODY_RULES = frozenset({"D100", "D101", "D102", "D103", "D104", "D106", "B007", "B024", "B027", "BLE001"})
# Not in tests: asserts, annotations and docstrings are normal or optional there, and test
# names follow the API they test (test_getPage).
TEST_EXEMPT = ("S101", "ANN", "D1", "N802")

# Plain statements for a prompt; {0} is the first `name` in ruff's message, {fn} the function.
PLAIN = {
    "ANN001": "the argument `{0}` of `{fn}` has no type annotation",
    "ANN002": "`{0}` of `{fn}` has no type annotation", "ANN003": "`{0}` of `{fn}` has no type annotation",
    "ANN201": "`{0}` has no return type annotation", "ANN202": "`{0}` has no return type annotation",
    "ANN205": "`{0}` has no return type annotation", "ANN206": "`{0}` has no return type annotation",
    "F811": "`{0}` is defined again before its first definition is used",
    "D100": "the module has no docstring", "D101": "the class `{fn}` has no docstring",
    "D102": "`{fn}` has no docstring", "D103": "`{fn}` has no docstring", "D104": "the package has no docstring",
    "D106": "the class `{fn}` has no docstring", "D419": "the docstring is empty",
    "B006": "a mutable default argument is shared between calls",
    "B007": "the loop variable `{0}` is not used in the loop body",
    "B008": "a default argument calls a function once, at definition time",
    "B018": "an expression is computed and thrown away",
    "B023": "a function defined in a loop captures the loop variable `{0}` late",
    "B904": "an exception raised inside `except` loses its cause (no `from err`)",
    "BLE001": "`except {0}` catches every exception and hides errors",
    "E711": "a comparison to None uses `==`/`!=` instead of `is`",
    "E712": "a comparison to True or False uses `==` instead of a truth test",
    "E713": "a membership test is written `not x in y` instead of `x not in y`",
    "E721": "types are compared with `==` instead of `isinstance()` or `is`",
    "E722": "a bare `except:` also catches KeyboardInterrupt and SystemExit",
    "E731": "a lambda is assigned to a name instead of a `def`",
    "E741": "the name `{0}` is easily misread (l, O, I)",
    "W605": "a string has an invalid escape sequence (make it a raw string)",
    "F541": "an f-string has no placeholders", "F632": "`is` compares against a literal; use `==`",
    "S101": "`assert` is used for a check that `python -O` removes",
    "S102": "`exec` runs arbitrary code", "S307": "`eval` runs arbitrary code; use `ast.literal_eval`",
    "S110": "an exception is silently swallowed (`except: pass`)",
    "S113": "an HTTP request has no timeout and can hang", "S301": "`pickle` can run code from untrusted data",
    "S506": "`yaml.load` without a safe loader can build arbitrary objects",
    "S602": "a subprocess runs through the shell (`shell=True`)", "S604": "a call passes `shell=True`",
    "S608": "an SQL query is built from strings (injection risk)",
    "S105": "a password appears to be hardcoded", "S106": "a password appears to be hardcoded",
    "S107": "a password appears to be hardcoded as a default",
    "N801": "the class name `{0}` is not CapWords", "N802": "the function name `{0}` is not lowercase",
    "N803": "the argument name `{0}` is not lowercase", "N806": "the variable `{0}` is not lowercase",
    "N815": "the variable `{0}` is mixedCase", "N816": "the variable `{0}` is mixedCase",
    "N818": "the exception `{0}` is not named with an Error suffix",
    "A001": "the variable `{0}` shadows a Python builtin", "A002": "the argument `{0}` shadows a Python builtin",
    "RUF013": "an argument defaults to None but its annotation is not Optional",
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One ruff diagnostic mapped onto a hunk."""

    code: str  # ruff's rule code, e.g. "ANN001"
    message: str  # ruff's own message
    line: int  # head-side (RIGHT) line number in the hunk's file
    on_changed_line: bool  # the line is an added line of the hunk
    plain: str  # a short plain-English statement of the problem, for a prompt


@dataclass(frozen=True)
class Snippet:
    """A hunk's head side rebuilt to parse; ``lines[i]`` is snippet line i+1's head line (None: synthetic)."""

    text: str
    lines: tuple[int | None, ...]
    margin: int  # columns the dedent removed
    signature_from: int | None = None  # snippet line from which brackets were closed synthetically
    tree: ast.Module = field(default=None, compare=False, repr=False)


# ----------------------------------------------------------------------------- rebuilding a hunk


def is_python(path: str) -> bool:
    return PurePosixPath(path).suffix in (".py", ".pyi")


def _is_test(path: str) -> bool:
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    return (any(p in ("test", "tests", "testing") for p in parts[:-1]) or name.startswith("test_")
            or name.endswith("_test.py") or name == "conftest.py")


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def rebuild(hunk: Hunk) -> Snippet | None:
    """The hunk's head side as a snippet that ``ast.parse`` accepts, or None if no repair works."""
    rows = [(line.new_line, line.text) for line in hunk.lines if line.kind != "removed"]
    if not is_python(hunk.path) or not any(text.strip() for _, text in rows):
        return None
    texts = [_expand(text).rstrip() if text.strip() else "" for _, text in rows]
    margin = min(_indent(t) for t in texts if t)
    body = [(t[margin:], number) for t, (number, _) in zip(texts, rows)]
    for lines, signature_from in _candidates(body):
        text = "".join(line + "\n" for line, _ in lines)
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):  # ValueError: a NUL byte
            continue
        return Snippet(text, tuple(n for _, n in lines), margin, signature_from, tree)
    return None


def _expand(text: str) -> str:
    """Tabs in the indentation as Python reads them (to multiples of 8)."""
    stripped = text.lstrip(" \t")
    return text[: len(text) - len(stripped)].expandtabs(8) + stripped


def _candidates(body: list) -> Iterable[tuple[list, int | None]]:
    """Repairs to try, most literal first: the lines as they are or opened by a triple quote (the
    hunk starts inside a string), times what the hunk's first lines continue (brackets closed
    below, an ``else:`` without its ``if``); each then closed at the end as it needs."""
    quotes = [q for q in ('"""', "'''") if any(q in t for t, _ in body)]
    first = next(t for t, _ in body if t)
    for opener in [None, *quotes]:
        lines = ([(" " * _indent(first) + opener, None)] if opener else []) + body
        for start in _starts(lines):
            fixed = _headers(start + lines)
            fixed += [(q, None) for q in ('"""', "'''") if sum(t.count(q) for t, _ in fixed) % 2]
            fixed, signature_from = _close_brackets(fixed)
            yield _close_try(_close_block(fixed)), signature_from


def _starts(lines: list) -> list[list]:
    """Synthetic first lines for a hunk that begins inside something: the openers of brackets it
    closes (a call, ``def _(`` for a signature, a dict), or the ``if``/``try`` of an ``else:``."""
    unmatched, _ = _scan(lines)
    first = next(t for t, _ in lines if t)
    pad = " " * _indent(lines[unmatched[-1][1] - 1][0] if unmatched else first)
    inner = "".join({")": "_(", "]": "[", "}": "{"}[c] for c, _ in reversed(unmatched[:-1]))
    if unmatched and unmatched[-1][0] == ")":
        outer = ["_(", "def _("]
    elif unmatched:
        outer = [{"]": "[", "}": "{"}[unmatched[-1][0]]]
    elif first.endswith(","):  # perhaps a run of arguments, items or dict entries
        return [[]] + [[(pad + o, None)] for o in ("_(", "{", "def _(")]
    else:
        word = first.split(maxsplit=1)[0].rstrip(":")
        opener = {"else": "if True:", "elif": "if True:", "except": "try:", "finally": "try:"}.get(word)
        return [[], [(pad + opener, None), (pad + "    ...", None)]] if opener else [[]]
    return [[(pad + o + inner, None)] for o in outer]


def _scan(lines: list) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(closers without an opener, brackets still open), each with its 1-based line; strings and
    comments skipped (a one-quote string ends with its line)."""
    unmatched: list[tuple[str, int]] = []
    stack: list[tuple[str, int]] = []
    quote = None
    for number, (text, _) in enumerate(lines, 1):
        i = 0
        while i < len(text):
            c = text[i]
            if quote:
                if c == "\\":
                    i += 1
                elif text.startswith(quote, i):
                    i, quote = i + len(quote) - 1, None
            elif c == "#":
                break
            elif c in "\"'":
                quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else c
                i += len(quote) - 1
            elif c in "([{":
                stack.append((")]}"["([{".index(c)], number))
            elif c in ")]}" and stack:
                stack.pop()
            elif c in ")]}":
                unmatched.append((c, number))
            i += 1
        quote = quote if quote and len(quote) == 3 else None
    return unmatched, stack


def _headers(lines: list) -> list:
    """``if True:`` headers at every level the snippet dedents to, when it starts indented."""
    indents = [_indent(t) for t, _ in lines if t]
    levels = sorted({0, *(i for i in indents if i < indents[0])}) if indents[0] else []
    return [(" " * level + "if True:", None) for level in levels] + lines


def _close_brackets(lines: list) -> tuple[list, int | None]:
    """Close the brackets still open at the end (a hunk cut inside a call or a signature); also
    returns the line the outermost of them opened on."""
    _, stack = _scan(lines)
    if not stack:
        return lines, None
    opened = stack[0][1]
    head = lines[opened - 1][0]
    pad = " " * _indent(head)
    closer = pad + "".join(c for c, _ in reversed(stack))
    if re.match(r"\s*(async\s+def|def|class|if|elif|while|for|with)\b", head):
        closer += ":"
    stub = [(pad + "def _(): ...", None)] if head.lstrip().startswith("@") else []
    return lines + [(closer, None)] + stub, opened


def _close_block(lines: list) -> list:
    """An indented ``...`` after a block opener (``def f():``), a stub after a decorator."""
    last = next((t for t, _ in reversed(lines) if t.strip() and not t.lstrip().startswith("#")), "")
    code = re.sub(r"\s+#[^'\"]*$", "", last)
    if code.endswith(":"):
        return lines + [(" " * (_indent(last) + 4) + "...", None)]
    if code.lstrip().startswith("@"):
        return lines + [(" " * _indent(last) + "def _(): ...", None)]
    return lines


def _close_try(lines: list) -> list:
    """A ``finally: ...`` for each ``try:`` still open at the end (the hunk stopped in its body)."""
    open_at: list[int] = []
    for text, _ in lines:
        if text.strip() and not text.lstrip().startswith("#"):
            indent = _indent(text)
            open_at = [i for i in open_at if i < indent]  # at its level: its handler, or past it
            if re.match(r"\s*try\s*:", text):
                open_at.append(indent)
    return lines + [(" " * i + s, None) for i in reversed(open_at) for s in ("finally:", "    ...")]


# ----------------------------------------------------------------------------- running ruff

_warned: set[str] = set()


def _warn(message: str) -> None:
    """One line on stderr, once per process and message."""
    if message not in _warned:
        _warned.add(message)
        print(f"warning: {message}", file=sys.stderr)


def find_ruff() -> str | None:
    """The ruff binary: the ``ruff`` package's, else next to this Python, else on PATH."""
    try:
        from ruff.__main__ import find_ruff_bin
        return str(find_ruff_bin())
    except (ImportError, FileNotFoundError):
        pass
    beside = Path(sys.executable).with_name("ruff")
    return str(beside) if beside.is_file() else shutil.which("ruff")


def _run_ruff(args: list[str], stdin: str | None = None, extra_s: float = 0.0) -> list[dict]:
    """ruff's JSON diagnostics; [] when ruff is missing or fails (a warning on stderr) or times out."""
    binary = find_ruff()
    if binary is None:
        _warn("ruff is not installed (pip install ruff); no linter notes")
        return []
    command = [binary, "check", "--output-format", "json", "--no-cache", "--isolated", "--quiet",
               "--target-version", "py313", "--select", SELECT, "--ignore", IGNORE, *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S + extra_s)
        if done.returncode in (0, 1):
            return json.loads(done.stdout)
        _warn(f"ruff failed ({(done.stderr.strip().splitlines() or ['exit %d' % done.returncode])[0]}); "
              "no linter notes")
    except (subprocess.TimeoutExpired, OSError, json.JSONDecodeError):
        pass
    return []


# ----------------------------------------------------------------------------- linting


def lint_hunk(hunk: Hunk) -> list[Diagnostic]:
    """ruff's diagnostics on the hunk's head side, on head-side line numbers; [] for non-Python."""
    snippet = rebuild(hunk)
    if snippet is None:
        return []
    return _for_hunk(hunk, snippet, _run_ruff(["--stdin-filename", hunk.path, "-"], stdin=snippet.text))


def lint_hunks(hunks: Sequence[Hunk]) -> list[list[Diagnostic]]:
    """``lint_hunk`` for each hunk, with one ruff process over a temporary directory of snippets."""
    snippets = [rebuild(hunk) for hunk in hunks]
    found: dict[int, list[dict]] = {}
    if any(snippets):
        with tempfile.TemporaryDirectory(prefix="lgtm575-lint-") as tmp:
            files: dict[str, int] = {}
            for i, (hunk, snippet) in enumerate(zip(hunks, snippets)):
                if snippet is not None:  # a folder per hunk keeps the file's name (__init__.py, .pyi)
                    path = Path(tmp, str(i), PurePosixPath(hunk.path).name)
                    path.parent.mkdir()
                    path.write_text(snippet.text, encoding="utf-8")
                    files[str(path.resolve())] = i
            folder = str(Path(tmp).resolve())
            for item in _run_ruff(["--no-respect-gitignore", folder], extra_s=0.05 * len(files)):
                if item.get("filename") in files:
                    found.setdefault(files[item["filename"]], []).append(item)
    return [_for_hunk(hunk, snippets[i], found[i]) if i in found else [] for i, hunk in enumerate(hunks)]


def lint_file(path: str, source_text: str, hunk: Hunk) -> list[Diagnostic]:
    """ruff on the whole head file ``source_text`` (never executed), kept on the hunk's head lines."""
    return lint_file_hunks(path, source_text, [hunk])[0]


def lint_file_hunks(path: str, source_text: str, hunks: Sequence[Hunk]) -> list[list[Diagnostic]]:
    """``lint_file`` for several hunks of one file: ruff and the parse run once for the file."""
    if not is_python(path):
        return [[] for _ in hunks]
    found = _run_ruff(["--stdin-filename", path, "-"], stdin=source_text)
    if any(map(_syntax_error, found)):  # the file does not parse: claim nothing
        return [[] for _ in hunks]
    try:
        names = _Names(ast.parse(source_text))
    except (SyntaxError, ValueError):  # newer syntax than this Python reads: names from ruff only
        names = _Names(None)
    results = []
    for hunk in hunks:
        shown = {line.new_line: line.kind == "added" for line in hunk.lines if line.new_line is not None}
        out = []
        for item in found:
            row = item["location"]["row"]
            if row in shown and not _exempt(path, item):
                out.append(_diagnostic(item, row, shown[row], names, row))
        results.append(_unique(out))
    return results


def _syntax_error(item: dict) -> bool:
    return item.get("code") in (None, "invalid-syntax", "E999")  # the spellings across ruff versions


def _for_hunk(hunk: Hunk, snippet: Snippet, found: list[dict]) -> list[Diagnostic]:
    added = {line.new_line for line in hunk.lines if line.kind == "added"}
    blocks, names, out = _Blocks(snippet), _Names(snippet.tree), []
    for item in found:
        code, row = item["code"], item["location"]["row"]
        line = snippet.lines[row - 1] if 0 < row <= len(snippet.lines) else None
        if line is None or _syntax_error(item) or code in OUTSIDE_HUNK or _exempt(hunk.path, item):
            continue  # ast.parse took the snippet: ruff's syntax errors are the cut's (`nonlocal x` alone)
        if code in BODY_RULES and not blocks.shown(row, code):
            continue
        if code.startswith("ANN2") and snippet.signature_from is not None and row >= snippet.signature_from:
            continue  # the hunk cut the signature: `-> T` may follow
        message = re.sub(r"line (\d+)", lambda m: f"line {_head_line(snippet, int(m[1]))}", item["message"])
        out.append(_diagnostic({**item, "message": message}, line, line in added, names, row))
    return _unique(out)


def _head_line(snippet: Snippet, row: int) -> int | str:
    return (snippet.lines[row - 1] if 0 < row <= len(snippet.lines) else None) or "?"


def _exempt(path: str, item: dict) -> bool:
    code = item["code"]
    if code == "ANN001" and re.search(r"`(self|cls)`$", item["message"]):
        return True  # a method whose class statement lies above the hunk
    if path.endswith(".pyi") and code.startswith("D"):
        return True
    return _is_test(path) and code.startswith(TEST_EXEMPT)


BLOCKS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor, ast.While,
          ast.ExceptHandler)


class _Blocks:
    """Which blocks of a snippet the hunk shows to their end, and whose scope it shows."""

    def __init__(self, snippet: Snippet) -> None:
        self.snippet = snippet
        self.parent: dict[ast.AST, ast.AST] = {}
        self.at: dict[int, list[ast.AST]] = {}
        self.starts: list[int] = []  # first lines of real (not synthetic) statements
        for node in ast.walk(snippet.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
            if isinstance(node, (ast.stmt, ast.ExceptHandler)):
                self.at.setdefault(node.lineno, []).append(node)
                if snippet.lines[node.lineno - 1] is not None:
                    self.starts.append(node.lineno)

    def shown(self, row: int, code: str) -> bool:
        if code in ("D100", "D104"):  # the module's docstring: the hunk shows line 1 and a statement
            return self.snippet.lines[0] == 1 and bool(self.starts)
        nodes = [n for n in self.at.get(row, []) if isinstance(n, BLOCKS)]
        if not nodes:
            return False
        node = max(nodes, key=lambda n: n.end_lineno)
        if not any(start > node.end_lineno for start in self.starts):
            return False  # nothing after the block: its body may go on below the cut
        if code.startswith("D"):  # public, method or nested: known for top-level defs and their methods
            parent = self.parent.get(node)
            top = node if isinstance(parent, ast.Module) else parent
            return ((top is node or isinstance(top, ast.ClassDef)) and isinstance(self.parent.get(top), ast.Module)
                    and self.snippet.lines[top.lineno - 1] is not None
                    and self.snippet.margin + top.col_offset == 0)
        return True


class _Names:
    """Which function or class a line defines, and whose argument sits where."""

    def __init__(self, tree: ast.Module | None) -> None:
        self.defs: dict[int, str] = {}
        self.args: dict[tuple[int, str], str] = {}
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs[node.lineno] = node.name
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg):
                    if arg is not None:
                        self.args[arg.lineno, arg.arg] = node.name

    def function(self, row: int, name: str) -> str:
        found = self.args.get((row, name.lstrip("*"))) or self.defs.get(row, "")
        return "" if found == "_" else found  # `def _(` opens a signature the hunk starts inside


def _diagnostic(item: dict, line: int, changed: bool, names: _Names, row: int) -> Diagnostic:
    code, message = item["code"], item["message"]
    template = PLAIN.get(code)
    if template is None:  # no statement of its own: ruff's first sentence, lower-cased
        plain = message.split(". ")[0].rstrip(".")
        plain = plain[:1].lower() + plain[1:]
    else:
        quoted = re.findall(r"`([^`]+)`", message)
        first = quoted[0] if quoted else ""
        function = names.function(row, first)
        if not function:
            template = template.replace(" of `{fn}`", "").replace("`{fn}`", "the function")
        plain = template.format(first, fn=function)
    return Diagnostic(code, message, line, changed, plain)


def _unique(found: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[str, int, str]] = set()
    out = []
    for d in sorted(found, key=lambda d: (d.line, d.code)):
        if (d.code, d.line, d.plain) not in seen:
            seen.add((d.code, d.line, d.plain))
            out.append(d)
    return out


def _rank(code: str) -> int:
    """0: bugs and security (F, B, S, BLE, E7, W605, RUF); 1: annotations, naming, imports; 2: docs."""
    if code.startswith(("ANN", "N", "A0", "E74", "E4")):
        return 1
    return 2 if code.startswith("D") else 0


def linter_notes(hunk: Hunk, diagnostics: Sequence[Diagnostic], limit: int = 4) -> list[str]:
    """Plain statements for the diagnostics on the hunk's changed lines, deduplicated, at most
    ``limit``: bugs and security first, then annotations and naming, then docs."""
    added = {line.new_line for line in hunk.lines if line.kind == "added"}
    chosen = sorted((d for d in diagnostics if d.on_changed_line and d.line in added),
                    key=lambda d: (_rank(d.code), d.line, d.code))
    notes: list[str] = []
    for d in chosen:
        if d.plain not in notes:
            notes.append(d.plain)
    return notes[:limit]


# ----------------------------------------------------------------------------- measurement


def measure(path: str, limit: int = 100) -> dict:
    """Parse rate after repair, hunks with a diagnostic on a changed line, codes, and timing."""
    from reviewer.diff import DiffError, parse_hunk

    hunks = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        try:
            hunks.append(parse_hunk(row["path"], row["diff_hunk"]))
        except DiffError:
            continue
    python = [h for h in hunks if is_python(h.path)]
    parsed = sum(rebuild(h) is not None for h in python)
    as_is = sum(_parses(textwrap.dedent("".join(line.text + "\n" for line in h.lines if line.kind != "removed")))
                for h in python)
    results = lint_hunks(python)
    sample = python[:limit]
    started = time.perf_counter()
    batch = lint_hunks(sample)
    batch_s = time.perf_counter() - started
    started = time.perf_counter()
    singles = [lint_hunk(h) for h in sample]
    single_s = time.perf_counter() - started
    hit = [d for found in results for d in found if d.on_changed_line]
    return {
        "hunks": len(hunks), "python": len(python), "parsed_as_is": as_is, "parsed": parsed,
        "with_note": sum(any(d.on_changed_line for d in found) for found in results),
        "codes": dict(Counter(d.code for d in hit).most_common(15)),
        "timed": len(sample), "one_process_s": round(batch_s, 3), "one_by_one_s": round(single_s, 3),
        "same_one_by_one": singles == batch == results[:limit],
    }


def _parses(text: str) -> bool:
    try:
        return ast.parse(text) is not None
    except (SyntaxError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reviewer.lint", description=measure.__doc__)
    parser.add_argument("--data", required=True, help="JSONL rows with path and diff_hunk")
    parser.add_argument("--limit", type=int, default=100, help="hunks to time one by one")
    args = parser.parse_args(argv)
    try:
        result = measure(args.data, args.limit)
    except (OSError, ValueError, KeyError) as err:
        print(f"python -m reviewer.lint: {args.data}: {err}", file=sys.stderr)
        return 2
    print(f"{result['parsed']}/{result['python']} Python hunks parse after repair "
          f"({result['parsed_as_is']} as they are, dedented); "
          f"{result['with_note']} have a diagnostic on a changed line")
    print("codes on changed lines: " + ", ".join(f"{c} {n}" for c, n in result["codes"].items()))
    print(f"{result['timed']} hunks: {result['one_process_s']} s in one ruff process (lint_hunks), "
          f"{result['one_by_one_s']} s one by one (lint_hunk)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
