"""Unified diffs -> small frozen dataclasses carrying the anchors GitHub's review API accepts.

The first stage of the reviewer. ``parse_diff`` reads ``git diff``, GitHub's ``.diff`` and
``diff -u`` output (through unidiff) and returns ``DiffFile`` records; every ``Hunk`` knows the
``Anchor`` (path, line, side, start_line) a review comment on it must carry.

    python -m reviewer PR.diff --list-hunks            # CPU only, no model: hunks + anchors as JSON
    git diff origin/main... | python -m reviewer - --list-hunks
    python bench/diff.py                               # lines/s against raw unidiff

What the line numbers mean to GitHub (``POST /repos/{o}/{r}/pulls/{n}/reviews``, ``comments[]``):

* ``side="RIGHT"``: ``line`` is a 1-based line number in the head (new) version of ``path``.
  Added (``+``) and context (`` ``) lines have one: ``DiffLine.new_line``.
* ``side="LEFT"``: ``line`` is a 1-based line number in the base (old) version of the file.
  Removed (``-``) and context lines have one: ``DiffLine.old_line``.
* ``start_line`` opens a multi-line range ending at ``line`` on the same side. GitHub rejects
  ``start_line == line`` and any range that leaves the hunk, and one bad anchor fails the whole
  review (422), so anchors are derived from the parsed lines only, never from a model.

Real inputs are messier than ``git diff`` and are handled the way a real PR needs:

* Truncated hunks. A review comment's ``diff_hunk`` stops at the commented line, so its ``@@``
  header can count more lines than follow. The lines present are a prefix of the PR's real hunk
  (every one of them is a line GitHub accepts a comment on), so a hunk that ends early (at the
  end of the input, or where the next hunk or file header starts) is kept with
  ``truncated=True``; its counts and ``header`` are those of the lines actually present, trailing
  blank lines are dropped, and its anchor lies inside what is present. A cut mark that ends it
  (a bare ``…`` or ``...`` line, or a body line that is only ``…``) is dropped; ``...`` after a
  prefix is a Python line and stays. A hunk *longer* than its header (on either side) is never a
  truncation: that input is rejected. A ``--- x``/``+++ y`` pair inside a hunk is read as its
  lines when the header's counts say so (as unidiff does), as the next file's header otherwise.
* Doubled headers (``@@ @@ -1,2 +1,2 @@``, ``@@ -1,2 +1,2 @@ @@ def f``, or the same header line
  twice) are read as one header; a header with no lines under it holds nothing to anchor and is
  dropped.
* CRLF line ends, a UTF-8 byte-order mark, UTF-16 files (PowerShell's ``>``) and bytes that are
  not UTF-8 (replaced with U+FFFD) are accepted; git's C-quoted paths (``"a/caf\\303\\251.py"``)
  are unquoted, invalid UTF-8 in them replaced too.
* Anything else that is not a diff raises ``DiffError``: one line naming the offending line.
  Combined (merge) diffs (``@@@``) are refused that way too.

Speed and memory. The input is cut into chunks of about ``CHUNK_CHARS`` characters (runs of
whole files, or runs of hunks of one huge file behind a copy of its header). Fast path: unidiff
reads a chunk in its metadata-only mode (files, headers, hunk counts and line types, all
validated; no per-line objects) and each hunk's body is sliced out of the text with str.find;
the chunk is accepted only if the slices hold exactly the lines unidiff counted and every line
of the chunk is accounted for. Anything else takes the slow path: ``_Repairer``
(reviewer/diff_repair.py) validates and rewrites the chunk, then unidiff reads it in full. A hunk keeps its body as one string and its
line numbers are computed with str.count, so the whole layer runs at about twice the speed of a
plain ``PatchSet`` parse and memory stays about twice the input (bench/diff.py measures both).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, Literal

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

Side = Literal["LEFT", "RIGHT"]
Status = Literal["added", "modified", "deleted", "renamed", "copied", "binary", "mode-only"]

ADDED, REMOVED, CONTEXT, NO_NEWLINE = "+", "-", " ", "\\"
KIND_NAMES = {ADDED: "added", REMOVED: "removed", CONTEXT: "context"}
DEV_NULL = "/dev/null"
CHUNK_CHARS = 1 << 18  # one chunk in unidiff at a time; its StringIO alone takes 4 bytes a character


class DiffError(ValueError):
    """Input that is not a unified diff; ``str()`` is one line naming the offending line."""

    def __init__(self, line_no: int, line: str, reason: str) -> None:
        self.line_no, self.line, self.reason = line_no, line, reason
        super().__init__(f"line {line_no}: {reason}: {_snippet(line)}")


def _snippet(line: str, width: int = 60) -> str:
    text = line.rstrip("\n")
    return repr(text if len(text) <= width else text[:width] + "…")


# ----------------------------------------------------------------------------- the data model


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a review comment goes, in the terms of GitHub's pull-request review comments API."""

    path: str  # ``path``: the file in the PR head (the new name of a renamed file, the old name of a deleted one)
    line: int  # ``line``: last line of the range; a head-file line number for RIGHT, a base-file one for LEFT
    side: Side  # ``side``: RIGHT (added or context lines, the head) or LEFT (removed lines, the base)
    start_line: int | None = None  # ``start_line``: first line of a range on the same side, < line; None for one line

    def to_api(self) -> dict[str, object]:
        """The anchor fields of one entry in a review's ``comments`` array."""
        fields: dict[str, object] = {"path": self.path, "line": self.line, "side": self.side}
        if self.start_line is not None:
            fields.update(start_line=self.start_line, start_side=self.side)
        return fields


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One body line of a hunk, with the numbers GitHub uses to point at it."""

    kind: Literal["added", "removed", "context"]
    text: str  # without the +/-/space prefix and without the line end
    old_line: int | None  # base-file line number: what ``line`` means with side LEFT; None for added lines
    new_line: int | None  # head-file line number: what ``line`` means with side RIGHT; None for removed lines
    missing_newline: bool = False  # followed by "\ No newline at end of file"


@dataclass(frozen=True, slots=True)
class Hunk:
    """One ``@@`` hunk. ``text`` holds its body lines as the diff has them; ``lines`` expands them."""

    path: str  # the file's ``DiffFile.path``, so a hunk alone can be anchored
    old_start: int  # header ``-a``: base-file (LEFT) number of its first line; if old_count is 0, the line before
    old_count: int  # base-file lines held: removed + context lines actually present
    new_start: int  # header ``+c``: head-file (RIGHT) number of its first line; if new_count is 0, the line before
    new_count: int  # head-file lines held: added + context lines actually present
    section: str  # text after the closing ``@@`` (git's enclosing function or class), stripped
    text: str  # body lines with their "+", "-", " " or "\\" prefix, each ended by "\n"; "\\" marks "\\ No newline"
    truncated: bool = False  # the input's header counted more lines than were present (see module doc)
    note: str = ""  # set by the filters when a long hunk is split or trimmed

    @property
    def header(self) -> str:
        """Canonical ``@@ -a,b +c,d @@ section`` for the lines this hunk holds."""
        head = f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@"
        return f"{head} {self.section}" if self.section else head

    @property
    def kinds(self) -> str:
        """One character per body line: "+", "-", " ", or "\\" for "\\ No newline at end of file"."""
        return "".join(map(_kind_of, self.text.split("\n")[:-1]))

    @property
    def added(self) -> int:
        return _lines_starting(self.text, ADDED, 0, len(self.text))

    @property
    def removed(self) -> int:
        return _lines_starting(self.text, REMOVED, 0, len(self.text))

    @property
    def lines(self) -> tuple[DiffLine, ...]:
        return hunk_lines(self)

    @property
    def anchor(self) -> Anchor | None:
        return hunk_anchor(self)


@dataclass(frozen=True, slots=True)
class DiffFile:
    """One file of the diff."""

    path: str  # the path review comments use: the new path, or the old one for a deleted file
    old_path: str | None  # the path in the base; None for an added file
    status: Status
    hunks: tuple[Hunk, ...]
    old_mode: str | None = None  # git file modes ("100644", "100755", "120000" symlink, "160000" submodule)
    new_mode: str | None = None


# ----------------------------------------------------------------------------- lines and anchors


def _kind_of(line: str) -> str:
    # as unidiff reads a body line: anything but "+", "-" and "\\" (a bare line end, a
    # stray "\r") is context
    first = line[:1]
    return first if first in (ADDED, REMOVED, NO_NEWLINE) and first else CONTEXT


def hunk_lines(hunk: Hunk) -> tuple[DiffLine, ...]:
    """Expand a hunk's body into ``DiffLine`` records with their base and head numbers."""
    out: list[DiffLine] = []
    old, new = hunk.old_start, hunk.new_start
    for raw in hunk.text.split("\n")[:-1]:
        kind = _kind_of(raw)
        if kind == NO_NEWLINE:
            if out:
                out[-1] = replace(out[-1], missing_newline=True)
            continue
        text = raw[1:-1] if raw.endswith("\r") else raw[1:]
        out.append(DiffLine(KIND_NAMES[kind], text, None if kind == ADDED else old,
                            None if kind == REMOVED else new))
        old += kind != ADDED
        new += kind != REMOVED
    return tuple(out)


def hunk_anchor(hunk: Hunk) -> Anchor | None:
    """RIGHT over the added lines (first to last) if there are any, else LEFT over the removed
    lines; None for a hunk without changes. Both ends are lines of this hunk on that side."""
    text = hunk.text
    side, mark, other, number = "RIGHT", ADDED, REMOVED, hunk.new_start
    first = _first_line(text, mark)
    if first < 0:
        side, mark, other, number = "LEFT", REMOVED, ADDED, hunk.old_start
        first = _first_line(text, mark)
    if first < 0:
        return None
    last = max(first, text.rfind("\n" + mark) + 1)  # rfind finds no line at offset 0
    first_no = number + _counted(text, 0, first, other)
    last_no = first_no + _counted(text, first, last, other)
    return Anchor(hunk.path, last_no, side, first_no if first_no < last_no else None)  # never start_line == line


# Line arithmetic on ``Hunk.text`` by str.find/count (C speed, no per-line Python): a line that
# starts with "+" at offset p > 0 is the substring "\n+" at p - 1.


def _first_line(text: str, prefix: str) -> int:
    """Offset of the first line starting with ``prefix``, or -1."""
    if text.startswith(prefix):
        return 0
    found = text.find("\n" + prefix)
    return found + 1 if found >= 0 else -1


def _counted(text: str, start: int, end: int, other: str) -> int:
    """Lines beginning in [start, end) that take a number on this side: all but the other
    side's lines (prefix ``other``) and "\\ No newline" markers. Both offsets begin lines."""
    skipped = _lines_starting(text, other, start, end)
    if "\\" in text:
        skipped += _lines_starting(text, NO_NEWLINE, start, end)
    return text.count("\n", start, end) - skipped


def _lines_starting(text: str, prefix: str, start: int, end: int) -> int:
    """How many lines beginning in [start, end) start with ``prefix`` (``start`` begins a line)."""
    return (start < end and text.startswith(prefix, start)) + text.count("\n" + prefix, start, end)


def side_lines(hunk: Hunk, side: Side) -> frozenset[int]:
    """The line numbers a comment may use on ``side`` of this hunk."""
    if side == "RIGHT":
        return frozenset(line.new_line for line in hunk.lines if line.new_line is not None)
    return frozenset(line.old_line for line in hunk.lines if line.old_line is not None)


def anchor_problem(hunk: Hunk, anchor: Anchor) -> str | None:
    """Why GitHub would reject ``anchor`` as a comment on ``hunk``; None if it is acceptable."""
    if anchor.side not in ("LEFT", "RIGHT"):
        return f"side must be LEFT or RIGHT, not {anchor.side!r}"
    if anchor.path != hunk.path:
        return f"path {anchor.path!r} is not the hunk's file {hunk.path!r}"
    visible = side_lines(hunk, anchor.side)
    if anchor.line not in visible:
        return f"line {anchor.line} is not on the {anchor.side} side of {hunk.header}"
    if anchor.start_line is None:
        return None
    if anchor.start_line >= anchor.line:
        return f"start_line {anchor.start_line} is not below line {anchor.line}"
    if anchor.start_line not in visible:
        return f"start_line {anchor.start_line} is not on the {anchor.side} side of {hunk.header}"
    return None


# ----------------------------------------------------------------------------- parsing: entry points


def parse_diff(data: bytes | str) -> tuple[DiffFile, ...]:
    """Parse a whole unified diff. Raises ``DiffError`` for input that is not one."""
    return tuple(iter_files(data))


def parse_hunk(path: str, hunk_text: str) -> Hunk:
    """One hunk as GitHub stores a review comment's ``diff_hunk`` ("@@" header first, often
    truncated), read as the hunk of a modified file ``path``. Raises ``DiffError``."""
    body = hunk_text if hunk_text.endswith("\n") else hunk_text + "\n"
    files = parse_diff(f"--- a/{path}\n+++ b/{path}\n{body}")
    hunks = [hunk for diff_file in files for hunk in diff_file.hunks]
    if len(hunks) != 1:
        raise DiffError(1, hunk_text.split("\n", 1)[0], f"expected one hunk, found {len(hunks)}")
    return hunks[0]


def iter_files(data: bytes | str, chunk_chars: int | None = None) -> Iterator[DiffFile]:
    """Yield the diff's files one at a time (memory: one chunk of unidiff objects at a time)."""
    text = decode_diff(data)
    limit = chunk_chars or CHUNK_CHARS
    found, line_no = False, 1
    for start, end, huge in _groups(text, limit):
        newlines = text.count("\n", start, end)
        parse = _parse_huge_file if huge else _parse_group
        for diff_file in parse(text, start, end, line_no, newlines, limit):
            found = True
            yield diff_file
        line_no += newlines
    if not found and text.strip():
        raise _not_a_diff(text)


def decode_diff(data: bytes | str) -> str:
    """Text of a diff: UTF-8 (invalid bytes replaced, never fatal), or UTF-16 when it has a BOM;
    CRLF line ends become LF (a CRLF-converted diff would otherwise hide its own headers)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        utf16 = raw.startswith((b"\xff\xfe", b"\xfe\xff"))
        text = raw.decode("utf-16" if utf16 else "utf-8", "replace")
    else:
        text = data
    text = text[1:] if text.startswith("\ufeff") else text
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        text = text[:-1] if text.endswith("\r") else text
    return text


def _not_a_diff(text: str) -> DiffError:
    lines = text.split("\n")
    index = next(i for i, line in enumerate(lines) if line.strip())
    return DiffError(index + 1, lines[index], "not a unified diff (no 'diff --git', '--- '/'+++ ' or '@@' lines)")


# ----------------------------------------------------------------------------- chunking


def _groups(text: str, limit: int) -> Iterator[tuple[int, int, bool]]:
    """(start, end, huge): runs of whole files about ``limit`` chars long, cut where a line
    starts with "diff " (git, diff -r: each such line begins exactly one file). ``huge`` marks
    a single "diff " block longer than ``limit``, to be split between its hunks."""
    pos, size = 0, len(text)
    while pos < size:
        cut = text.find("\ndiff ", pos + limit) + 1 or size
        last = max(pos, text.rfind("\ndiff ", pos, cut - 1) + 1)  # where the run's final file starts
        if cut - last > limit and text.startswith("diff ", last):
            if last > pos:
                yield pos, last, False
            yield last, cut, True
        else:
            yield pos, cut, False
        pos = cut


def _parse_group(text: str, start: int, end: int, line_no: int, newlines: int, limit: int) -> list[DiffFile]:
    return _parse_chunk(text[start:end], lambda i: line_no + i, newlines)


def _parse_huge_file(text: str, start: int, end: int, line_no: int, newlines: int, limit: int) -> list[DiffFile]:
    """One file's block too big for one chunk: parse runs of its hunks, each behind a copy of the
    file's header lines, and join the hunks. Anything unexpected: parse the block whole."""
    head_end = text.find("\n@@", start, end) + 1
    if head_end <= 0:
        return _parse_group(text, start, end, line_no, newlines, limit)
    head = text[start:head_end]
    head_lines = head.count("\n")
    parts: list[DiffFile] = []
    for run_start, run_end, run_line, run_newlines in _hunk_runs(text, head_end, end, line_no + head_lines, limit):
        line_of = _behind_head(line_no, head_lines, run_line)
        got = _parse_chunk(head + text[run_start:run_end], line_of, head_lines + run_newlines)
        if len(got) != 1:
            return _parse_group(text, start, end, line_no, newlines, limit)
        parts.append(got[0])
    return [replace(parts[0], hunks=tuple(h for part in parts for h in part.hunks))]


def _hunk_runs(text: str, pos: int, end: int, line_no: int, limit: int) -> Iterator[tuple[int, int, int, int]]:
    """(start, end, first line number, newlines) of runs of whole hunks about ``limit`` chars long."""
    while pos < end:
        cut = text.find("\n@@", min(pos + limit, end), end) + 1 or end
        newlines = text.count("\n", pos, cut)
        yield pos, cut, line_no, newlines
        line_no += newlines
        pos = cut


def _behind_head(head_line: int, head_lines: int, run_line: int) -> Callable[[int], int]:
    """Map a line index of (repeated header + run of hunks) back to the input's line numbers."""
    return lambda i: head_line + i if i < head_lines else run_line + i - head_lines


# ----------------------------------------------------------------------------- one chunk


# unidiff 0.7.5 also raises AttributeError / UnboundLocalError (NameError) on some malformed
# input ("GIT binary patch" first, "+++" without "---"): all of them mean "not read cleanly".
_UNIDIFF_ERRORS = (UnidiffParseError, AttributeError, NameError, IndexError, ValueError, TypeError)


def _parse_chunk(chunk: str, line_of: Callable[[int], int], newlines: int) -> list[DiffFile]:
    """Fast path: unidiff reads the chunk's structure (files, headers, hunk counts, line types)
    in its metadata-only mode and each hunk's body is sliced from the chunk, accepted when the
    slices and headers account for every line. Otherwise the slow path validates and repairs
    the chunk, then unidiff reads it again in full."""
    try:
        patch = PatchSet(io.StringIO(chunk), metadata_only=True)
    except _UNIDIFF_ERRORS:
        return _parse_repaired(chunk, line_of)
    files = _distinct_files(patch)
    texts = _sliced_texts(chunk, files, newlines + (not chunk.endswith("\n")))
    if texts is None:
        return _parse_repaired(chunk, line_of)
    return [_convert_file(pf, texts, frozenset()) for pf in files]


def _distinct_files(patch: PatchSet) -> list:
    """unidiff's files, less the hunkless twin that unidiff 0.7.5 leaves when it splits a quoted
    "diff --git" line differently from the "+++" line (both then share one header block)."""
    files = list(patch)
    return [pf for pf, nxt in zip(files, files[1:] + [None])
            if len(pf) or nxt is None or nxt.patch_info is not pf.patch_info or pf.patch_info is None]


_BODY_STARTS = frozenset("@+- \\")


def _sliced_texts(chunk: str, files: list, lines: int) -> Iterator[str] | None:
    """Every hunk's body as it stands in the chunk, or None unless every line of the chunk is
    accounted for: unidiff drops lines it cannot place (lines past a hunk's counts, an
    unreadable ``@@`` line and the hunk under it) or files them as header lines."""
    slices, texts, seen = _hunk_slices(chunk), [], 0
    for pf in files:
        info = pf.patch_info or ()
        if any(line[:1] in _BODY_STARTS for line in info):
            return None
        seen += len(info) + (2 if len(pf) else 0)  # the header lines and the "---"/"+++" pair
        for hunk in pf:
            text = next(slices, None)
            count = -1 if text is None else text.count("\n")
            # exactly the hunk unidiff counted: nothing more (a blank line, the next file)
            if count - _markers(text or "") != hunk.source_length + hunk.added:
                return None
            texts.append(_context_spaces(text) if text[:1] == "\n" or "\n\n" in text else text)
            seen += 1 + count
    return iter(texts) if seen == lines else None


def _context_spaces(text: str) -> str:
    # a blank body line is a context line whose space an editor stripped: store it as " \n",
    # as the slow path (unidiff's full mode) does, so both paths give equal hunks
    return "".join((line or " ") + "\n" for line in text.split("\n")[:-1])


def _markers(text: str) -> int:
    """How many "\\ No newline at end of file" lines a hunk body holds."""
    return text.count("\n\\") + text.startswith("\\") if "\\" in text else 0


def _hunk_slices(chunk: str) -> Iterator[str]:
    """Successive hunk bodies: from the line after each "@@" header to the next line starting
    with "@@" or "diff " (a body line starts with "+", "-", " " or "\\"), by str.find alone."""
    size = len(chunk)
    header, next_file = chunk.find("\n@@"), chunk.find("\ndiff ")
    while header >= 0:
        header_end = chunk.find("\n", header + 1)
        if header_end < 0:
            yield ""
            return
        header = chunk.find("\n@@", header_end)
        next_file = chunk.find("\ndiff ", header_end) if 0 <= next_file < header_end else next_file
        ends = [end for end in (header, next_file) if end >= 0]
        text = chunk[header_end + 1: min(ends) + 1 if ends else size]
        yield text if text.endswith("\n") or not text else text + "\n"


def _parse_repaired(chunk: str, line_of: Callable[[int], int]) -> list[DiffFile]:
    from reviewer.diff_repair import _Repairer  # the slow path imports this module back

    repaired = _Repairer(io.StringIO(chunk).readlines(), line_of).run()
    reader = _LineReader(repaired.lines)
    try:
        patch = PatchSet(reader)
    except _UNIDIFF_ERRORS as err:
        index = max(0, min(reader.index, len(repaired.lines) - 1))
        reason = str(err).split(":")[0].lower() if isinstance(err, UnidiffParseError) else "unreadable diff line"
        raise DiffError(line_of(repaired.origin[index]), repaired.lines[index], reason) from None
    files = _distinct_files(patch)
    texts = (_joined_text(hunk) for pf in files for hunk in pf)
    return [_convert_file(pf, texts, repaired.truncated) for pf in files]


class _LineReader:
    """An iterable over lines that remembers how far unidiff read, to name the line it failed on."""

    def __init__(self, lines: tuple[str, ...]) -> None:
        self.lines, self.index = lines, -1

    def __iter__(self) -> Iterator[str]:
        for self.index, line in enumerate(self.lines):
            yield line


# ----------------------------------------------------------------------------- unidiff -> dataclasses


def _convert_file(pf, texts: Iterator[str], truncated: frozenset[int]) -> DiffFile:
    """One unidiff PatchedFile as a DiffFile; ``texts`` yields the bodies of its hunks in order."""
    git = _git_header(pf.patch_info)
    old, new = _paths(pf, git)
    status = _status(pf, git, old, new)
    path = (old if status == "deleted" else new or old) or ""
    hunks = tuple(_convert_hunk(h, path, next(texts), bool(truncated) and _is_truncated(h, truncated))
                  for h in pf)
    return DiffFile(path, None if status == "added" else old, status, hunks, *_modes(git))


def _convert_hunk(h, path: str, text: str, truncated: bool) -> Hunk:
    section = h.section_header
    if section[:1] in (" ", "@", "\t") or section[-1:] in (" ", "\t", "\r"):
        section = clean_heading(section)
    return Hunk(path, h.source_start, h.source_length, h.target_start, h.target_length, section, text, truncated)


def _joined_text(hunk) -> str:
    # unidiff hangs blank separator lines (type "") after a hunk: they are not part of it
    text = "".join(line.line_type + line.value for line in hunk if line.line_type)
    return text if text.endswith("\n") or not text else text + "\n"


def _is_truncated(h, truncated: frozenset[int]) -> bool:
    # the repairer records the header's index; unidiff numbers lines from 1, header first
    return len(h) > 0 and h[0].diff_line_no - 2 in truncated


_HEADING_JUNK = re.compile(r"(?:@@(?:[ \t]*-\d+(?:,\d+)?[ \t]+\+\d+(?:,\d+)?[ \t]*@@)?[ \t]*)+")


def clean_heading(section: str) -> str:
    """The section heading without the stray ``@@`` (or a whole repeated header) of a doubled header."""
    section = section.strip()
    if section.startswith("@@"):
        section = section[_HEADING_JUNK.match(section).end():].strip()
    return section


_GIT_LINE = re.compile(r"(old mode|new mode|new file mode|deleted file mode|rename from|rename to"
                       r"|copy from|copy to|index|Binary files|GIT binary patch|diff --git)\b ?(.*)", re.S)
_GIT_KEY = {"Binary files": "binary", "GIT binary patch": "binary", "diff --git": "git"}


def _git_header(info: Iterable[str] | None) -> dict[str, str]:
    """The facts git's extended header lines state: modes, renames, copies, binary."""
    found: dict[str, str] = {}
    for line in info or ():
        match = _GIT_LINE.match(line)
        if match:
            key = _GIT_KEY.get(match.group(1), match.group(1))
            found.setdefault(key, match.group(2).rstrip("\n"))
    return found


def _modes(git: dict[str, str]) -> tuple[str | None, str | None]:
    index = git.get("index", "").split(" ")
    same = index[1] if len(index) == 2 else None  # "index abc..def 100644": mode unchanged
    old = git.get("old mode") or git.get("deleted file mode") or same
    new = git.get("new mode") or git.get("new file mode") or same
    return old, new


def _status(pf, git: dict[str, str], old: str | None, new: str | None) -> Status:
    if pf.is_binary_file or "binary" in git:
        return "binary"
    if old is None or "new file mode" in git or _one_side_empty(pf, git, "old"):
        return "added"
    if new is None or "deleted file mode" in git or _one_side_empty(pf, git, "new"):
        return "deleted"
    if "rename from" in git:
        return "renamed"
    if "copy from" in git:
        return "copied"
    old_mode, new_mode = _modes(git)
    return "mode-only" if not len(pf) and old_mode != new_mode else "modified"


def _one_side_empty(pf, git: dict[str, str], side: str) -> bool:
    # diff -N writes an absent file under its own name with no lines ("@@ -0,0 +1,3 @@");
    # git says "new file mode" instead, and "@@ -0,0" there is an edit of an empty file.
    if "git" in git or len(pf) != 1:
        return False
    hunk = pf[0]
    if side == "old":
        return hunk.source_start == 0 and hunk.source_length == 0
    return hunk.target_start == 0 and hunk.target_length == 0


# ----------------------------------------------------------------------------- paths

_PREFIX_LETTERS = frozenset("abciow12")
_ESCAPES = {b"a": 7, b"b": 8, b"t": 9, b"n": 10, b"v": 11, b"f": 12, b"r": 13}
_ESCAPE = re.compile(rb"\\([0-7]{1,3}|.)", re.S)


def _paths(pf, git: dict[str, str]) -> tuple[str | None, str | None]:
    """(old, new) repository paths, None for /dev/null. For git, the names come from the
    "diff --git" line (read here: unidiff versions split quoted names differently) and the exact
    rename/copy lines; otherwise from unidiff's ---/+++ names."""
    names = _git_names(git["git"]) if "git" in git else None
    old, new = names or (unquote_path(pf.source_file or ""), unquote_path(pf.target_file or ""))
    if "git" in git or _a_b_labels(old, new):
        old, new = _drop_prefix(old), _drop_prefix(new)
    old = unquote_path(git.get("rename from") or git.get("copy from") or "") or old
    new = unquote_path(git.get("rename to") or git.get("copy to") or "") or new
    old = DEV_NULL if "new file mode" in git or pf.source_file == DEV_NULL else old
    new = DEV_NULL if "deleted file mode" in git or pf.target_file == DEV_NULL else new
    return (None if old == DEV_NULL else old), (None if new == DEV_NULL else new)


_QUOTED = r'"(?:[^"\\]|\\.)*"'
_NAME_PAIRS = (re.compile(rf"({_QUOTED}) ({_QUOTED})"), re.compile(rf"({_QUOTED}) (\S.*)"),
               re.compile(rf"(.*?\S) ({_QUOTED})"))


def _git_names(names: str) -> tuple[str, str] | None:
    """The two names of a "diff --git" line, either of them C-quoted. Unquoted names may hold
    spaces; like git itself, take the split where both names are the same path."""
    for pair in _NAME_PAIRS:
        match = pair.fullmatch(names)
        if match:
            return unquote_path(match.group(1)), unquote_path(match.group(2))
    half = (len(names) - 1) // 2
    old, new = names[:half], names[half + 1:]
    return (old, new) if names[half:half + 1] == " " and old[2:] == new[2:] else None


def _a_b_labels(old: str, new: str) -> bool:
    # diff -u output labelled like git's (--- a/x, +++ b/x, either side possibly /dev/null)
    return old.startswith(("a/", DEV_NULL)) and new.startswith(("b/", DEV_NULL)) and old != new


def _drop_prefix(path: str) -> str:
    # a/ b/, the mnemonic c/ i/ o/ w/, and 1/ 2/ of --no-index
    return path[2:] if path[1:2] == "/" and path[:1] in _PREFIX_LETTERS else path


def unquote_path(path: str) -> str:
    """Undo git's C-style quoting: ``"a/caf\\303\\251 \\"x\\".py"`` -> ``a/café "x".py``.
    The octal escapes are UTF-8 bytes; bytes that are not UTF-8 become U+FFFD."""
    if path[:1] != '"' or len(path) < 2 or path[-1] != '"':
        return path
    raw = path[1:-1].encode("utf-8", "surrogateescape")
    return _ESCAPE.sub(_unescape, raw).decode("utf-8", "replace")


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code[:1].isdigit():
        return bytes([int(code, 8) & 0xFF])
    return bytes([_ESCAPES[code]]) if code in _ESCAPES else code
