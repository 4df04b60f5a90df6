"""The slow path of ``reviewer.diff``: a chunk unidiff could not read cleanly, checked and rewritten.

    from reviewer.diff import parse_diff      # calls this only when the fast path refuses a chunk

``_Repairer`` makes one pass over the chunk's lines: it raises ``DiffError`` (one line naming the
offending input line) for what is not a diff, and rewrites what real PR data still needs into
what unidiff reads: truncated hunks (their headers recounted, ``truncated`` recorded), doubled
headers, cut marks, "\\ No newline" markers in other languages. ``reviewer/diff.py``'s module
docstring describes each case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from reviewer.diff import ADDED, CONTEXT, NO_NEWLINE, REMOVED, DiffError, clean_heading

_LOOSE_HEADER = re.compile(r"@@(?:[ \t]*@@)*[ \t]*-(\d+)(?:,(\d+))?[ \t]+\+(\d+)(?:,(\d+))?[ \t]*@@(.*)", re.S)
_NO_NEWLINE_LINE = "\\ No newline at end of file\n"
_FILE_LINES = ("diff ", "Index: ", "Binary files ", "GIT binary patch", "Only in ", "====")
# "..." is also a Python line (a stub body), so it counts as a cut mark only without a prefix.
_CUT_MARKS = frozenset({"…", "[…]", "[...]"})


@dataclass(frozen=True)
class _Repaired:
    lines: tuple[str, ...]  # what unidiff reads instead of the chunk
    origin: tuple[int, ...]  # for each of them, the index of the chunk line it came from
    truncated: frozenset[int]  # indices (in ``lines``) of headers of hunks that ended early


def _body_kind(line: str) -> str | None:
    """The kind of a hunk body line, None for a line that cannot be one. As in unidiff, a line
    starting with a line end (a context line whose space was lost, a stray "\r") is context."""
    first = line[:1]
    if first in (ADDED, REMOVED, CONTEXT, NO_NEWLINE) and first:
        return first
    return CONTEXT if first in ("\n", "\r") else None


def _is_cut_mark(text: str, bare: bool = False) -> bool:
    text = text.strip()
    return text in _CUT_MARKS or (bare and text == "...")


def _canonical_header(match: re.Match[str], old_count: int, new_count: int) -> str:
    heading = clean_heading(match.group(5))
    tail = f" {heading}" if heading else ""
    return f"@@ -{match.group(1)},{old_count} +{match.group(3)},{new_count} @@{tail}\n"


def _count(group: str | None) -> int:
    return 1 if group is None else int(group)


class _Repairer:
    """One pass over a chunk that unidiff could not read cleanly: raises ``DiffError`` for
    malformed input and rewrites what real PR data still needs (truncated hunks, doubled
    headers, cut marks, non-English "\\ No newline" markers) into what unidiff reads.
    Mutable state stays inside this object, which lives for one call of ``run``."""

    def __init__(self, lines: list[str], line_of: Callable[[int], int]) -> None:
        self.lines, self.line_of = lines, line_of
        self.out: list[str] = []
        self.origin: list[int] = []
        self.truncated: set[int] = set()
        self.hunk: list[int] | None = None  # [header index in out, old lines left, new lines left, input index]
        self.after_hunk = False  # the previous line completed a hunk
        self.in_file = False  # a file header has been seen

    def run(self) -> _Repaired:
        i = 0
        while i < len(self.lines):
            i = self._hunk_line(i) if self.hunk else self._outer_line(i)
        if self.hunk:
            self._close()
        return _Repaired(tuple(self.out), tuple(self.origin), frozenset(self.truncated))

    def _emit(self, i: int, line: str) -> None:
        self.out.append(line)
        self.origin.append(i)

    def _error(self, i: int, reason: str) -> DiffError:
        return DiffError(self.line_of(i), self.lines[i], reason)

    def _file_header_at(self, i: int, in_hunk: bool) -> bool:
        """"--- x" + "+++ y" starts a file. Inside a hunk it can also be a removed line "-- x" and
        an added "++ y": as in unidiff, the header's counts win when those two lines complete
        the hunk; otherwise it is a file header only if a hunk header follows."""
        nxt = self.lines[i + 1: i + 3]
        if not (self.lines[i].startswith("--- ") and nxt and nxt[0].startswith("+++ ")):
            return False
        if not in_hunk:
            return True
        completes = self.hunk is not None and self.hunk[1] == 1 and self.hunk[2] == 1
        return not completes and len(nxt) == 2 and _LOOSE_HEADER.match(nxt[1]) is not None

    def _hunk_line(self, i: int) -> int:
        line = self.lines[i]
        kind = _body_kind(line)
        if kind is None or self._file_header_at(i, in_hunk=True):
            return self._end_early(i, line)
        if kind == NO_NEWLINE:
            self._emit(i, _NO_NEWLINE_LINE)
            return i + 1
        self._consume(i, kind)
        return i + 1

    def _end_early(self, i: int, line: str) -> int:
        """A line that cannot belong to the open hunk: the hunk was cut short (keep it, and
        re-read this line as a header), unless the line is neither a header nor a cut mark."""
        if _LOOSE_HEADER.match(line) or line.startswith(_FILE_LINES) or self._file_header_at(i, True):
            self._close()
            return i
        if _is_cut_mark(line, bare=True):
            self._close()
            return i + 1
        start = self.hunk[3] if self.hunk else i
        raise self._error(i, f"expected a hunk line ('+', '-', ' ' or '\\') in the hunk from line {self.line_of(start)}")

    def _consume(self, i: int, kind: str) -> None:
        assert self.hunk is not None
        uses_old, uses_new = kind != ADDED, kind != REMOVED
        if (uses_old and self.hunk[1] == 0) or (uses_new and self.hunk[2] == 0):
            raise self._error(i, f"hunk is longer than its header at line {self.line_of(self.hunk[3])} says")
        self.hunk[1] -= uses_old
        self.hunk[2] -= uses_new
        self._emit(i, self.lines[i])
        if self.hunk[1] == 0 and self.hunk[2] == 0:
            self.hunk, self.after_hunk = None, True

    def _close(self) -> None:
        """End a hunk that got fewer lines than its header counts: keep the lines present (minus
        a trailing cut mark or blank lines) and rewrite the header to their counts."""
        assert self.hunk is not None
        head = self.hunk[0]
        self.hunk, self.after_hunk = None, False
        body = self.out[head + 1:]
        while body and (body[-1] == "\n" or _is_cut_mark(body[-1][1:]) and body[-1][:1] != NO_NEWLINE):
            body.pop()
        kinds = "".join(_body_kind(line) or "" for line in body)
        old_count, new_count = kinds.count(REMOVED) + kinds.count(CONTEXT), kinds.count(ADDED) + kinds.count(CONTEXT)
        keep = head + 1 + len(body) if old_count or new_count else head  # nothing left: drop the header
        del self.out[keep:], self.origin[keep:]
        if keep > head:
            self.out[head] = _canonical_header(_LOOSE_HEADER.match(self.out[head]), old_count, new_count)
            self.truncated.add(head)

    def _outer_line(self, i: int) -> int:
        line = self.lines[i]
        header = _LOOSE_HEADER.match(line)
        if header:
            return self._open(i, header)
        if line.startswith("@@"):
            combined = line.startswith("@@@")
            raise self._error(i, "combined (merge) diffs are not supported" if combined else "unreadable hunk header")
        if self.after_hunk and line[:1] == NO_NEWLINE:
            self._emit(i, _NO_NEWLINE_LINE)
            return i + 1
        if self.after_hunk and line[:1] in (ADDED, REMOVED, CONTEXT) and line[:1]:
            self._check_after_hunk(i, line)
        self.after_hunk = False
        self.in_file = self.in_file or line.startswith("diff --git ") or self._file_header_at(i, False)
        self._emit(i, line)
        return i + 1

    def _check_after_hunk(self, i: int, line: str) -> None:
        # Right after a complete hunk, only a file header or git format-patch's "-- " signature
        # may start with +, - or space; anything else is a hunk longer than its header.
        if line.rstrip("\n") == "--" or line == "-- \n" or self._file_header_at(i, False):
            return
        raise self._error(i, "line after the end of a hunk (its header counts fewer lines)")

    def _open(self, i: int, header: re.Match[str]) -> int:
        if not self.in_file:
            raise self._error(i, "hunk header before any file header ('diff --git' or '--- '/'+++ ' lines)")
        old_count, new_count = _count(header.group(2)), _count(header.group(4))
        self.after_hunk = False
        if old_count or new_count:  # "@@ -0,0 +0,0 @@" holds nothing: dropped
            self.hunk = [len(self.out), old_count, new_count, i]
            self._emit(i, _canonical_header(header, old_count, new_count))
        return i + 1
