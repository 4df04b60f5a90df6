"""What a review run produces, for every consumer alike: CLI output, the Action, the harness.

Plain frozen data. ``ReviewResult.to_json()`` is the CLI's ``--format json`` and the Action's
``results_json``; nothing in a run is lost between them: a valid haiku that could not be posted
is still a ``HaikuComment`` here, and the Action adds why it was not posted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reviewer.diff import Anchor


@dataclass(frozen=True, slots=True)
class Candidate:
    """One generated text and the checker's word on it."""

    text: str
    syllables: tuple[int, ...]  # canonical count per line (harness.form)
    valid: bool  # strict 5-7-5 and safe to post
    problem: str = ""  # why not valid: the checker's explanation, or a content/safety reason

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"text": self.text, "syllables": list(self.syllables), "valid": self.valid}
        if self.problem:
            entry["problem"] = self.problem
        return entry


@dataclass(frozen=True, slots=True)
class HaikuComment:
    """A valid haiku for one hunk, anchored where GitHub accepts it."""

    anchor: Anchor
    header: str  # the hunk's ``@@`` header: tells a person which hunk
    haiku: tuple[str, str, str]
    syllables: tuple[int, int, int]
    hunk_text: str  # the hunk body: part of the idempotency fingerprint
    rounds: int = 1  # 1 = first generation; 2+ = after revise rounds
    candidates: int = 1  # how many candidates were checked to find it

    @property
    def body(self) -> str:
        return "\n".join(self.haiku)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": self.anchor.path, "line": self.anchor.line, "side": self.anchor.side}
        if self.anchor.start_line is not None:
            entry["start_line"] = self.anchor.start_line
        entry.update(header=self.header, haiku=list(self.haiku), syllables=list(self.syllables),
                     valid=True, rounds=self.rounds, candidates=self.candidates)
        return entry


@dataclass(frozen=True, slots=True)
class Rejection:
    """A hunk that got no valid haiku: nothing is posted for it; it is reported with its reason."""

    path: str
    header: str
    reason: str
    candidates: tuple[Candidate, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "header": self.header, "reason": self.reason,
                "candidates": [c.to_json() for c in self.candidates]}


@dataclass(frozen=True, slots=True)
class ReviewResult:
    comments: tuple[HaikuComment, ...]
    rejected: tuple[Rejection, ...]
    skipped: tuple[dict[str, str], ...]  # {"path", "reason"} from the diff filters
    model: dict[str, Any] = field(default_factory=dict)  # the backend's describe()
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    def to_json(self) -> dict[str, Any]:
        return {"comments": [c.to_json() for c in self.comments],
                "rejected": [r.to_json() for r in self.rejected],
                "skipped": [dict(s) for s in self.skipped],
                "model": dict(self.model), "timings": dict(self.timings)}
