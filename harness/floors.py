"""Trivial systems every content metric is read beside: a number counts only over the higher floor.

    from harness.floors import FLOORS, floor_texts
    echoes = floor_texts("echo", diff_hunks, comments)   # one "review" per row

- ``echo``: the hunk's last three changed lines, as they stand (added lines; removed ones where a
  hunk only removes). No review at all, yet MiniLM relevance scores it above every model we ran.
- ``identifiers``: only the identifiers of the added lines, in order, each once.
- ``shuffled``: another row's human comment (a fixed-seed derangement): fluent, specific, and
  about the wrong code. The relevance metric's own shuffle floor is this idea applied per row.

The judge (harness.judge) labels the floors the same way it labels a system; an echo or a
shuffled comment that it calls useful is a judge to distrust.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

FLOORS = ("echo", "identifiers", "shuffled")
ECHO_LINES = 3
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def changed_lines(diff_hunk: str) -> tuple[list[str], list[str]]:
    """(added, removed) line texts of a GitHub ``diff_hunk`` ("@@" header first), prefixes cut."""
    added, removed = [], []
    for line in diff_hunk.splitlines():
        if line.startswith("@@") or line.startswith(("+++", "---")):
            continue
        if line.startswith("+"):
            added.append(line[1:])
        elif line.startswith("-"):
            removed.append(line[1:])
    return added, removed


def echo(diff_hunk: str, lines: int = ECHO_LINES) -> str:
    added, removed = changed_lines(diff_hunk)
    chosen = [text.strip() for text in (added or removed) if text.strip()]
    return "\n".join(chosen[-lines:])


def identifiers(diff_hunk: str) -> str:
    added, _ = changed_lines(diff_hunk)
    seen = dict.fromkeys(word for text in added for word in _IDENTIFIER.findall(text))
    return " ".join(seen)


def shuffled(comments: Sequence[str], seed: int = 0) -> list[str]:
    """Each row gets another row's comment (no row keeps its own)."""
    from harness.stats import derangements

    if len(comments) < 2:
        return [""] * len(comments)
    order = derangements(len(comments), 1, seed)[0]
    return [comments[int(j)] for j in np.asarray(order)]


def floor_texts(name: str, diff_hunks: Sequence[str], comments: Sequence[str], seed: int = 0) -> list[str]:
    if name == "echo":
        return [echo(hunk) for hunk in diff_hunks]
    if name == "identifiers":
        return [identifiers(hunk) for hunk in diff_hunks]
    if name == "shuffled":
        return shuffled(comments, seed)
    raise ValueError(f"unknown floor {name!r}; choose one of {', '.join(FLOORS)}")
