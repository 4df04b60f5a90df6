"""What a review run produces, for every consumer alike: CLI output, the Action, the harness.

Plain frozen data. ``ReviewResult.to_json()`` is the CLI's ``--format json`` and the Action's
``results_json``; nothing in a run is lost between them: a valid haiku that could not be posted
is still a ``HaikuComment`` here, and the Action adds why it was not posted.
"""

from __future__ import annotations

import math
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
    logprob: float | None = None  # mean token log-probability, where the backend reports it

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"text": self.text, "syllables": list(self.syllables), "valid": self.valid,
                                 "logprob": _rounded(self.logprob)}
        if self.problem:
            entry["problem"] = self.problem
        return entry


@dataclass(frozen=True, slots=True)
class Finding:
    """Stage one's answer for a hunk: one plain sentence naming its most important problem.

    ``status`` says what became of it: "ok" (versified next), "nothing" (the model had nothing
    worth saying: the hunk posts nothing), "unsafe" or "unsupported" (dropped: ``problem`` says
    why). ``logprob`` is the mean log-probability of its tokens (None where the backend gives none).
    """

    text: str
    status: str = "ok"
    problem: str = ""
    logprob: float | None = None
    linter: tuple[str, ...] = ()  # what the linter said of the changed lines, as the prompt had it

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"text": self.text, "status": self.status, "logprob": _rounded(self.logprob)}
        if self.problem:
            entry["problem"] = self.problem
        if self.linter:
            entry["linter"] = list(self.linter)
        return entry


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


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
    finding: Finding | None = None  # stage one's sentence, when the run had two stages
    logprob: float | None = None  # the haiku's mean token log-probability (None: not reported)

    @property
    def confidence(self) -> float | None:
        """What min_confidence gates: the geometric-mean token probability (exp of the mean
        log-probability) of the weaker stage, finding or haiku, in (0, 1]; None if unreported."""
        values = [v for v in (self.logprob, self.finding.logprob if self.finding else None) if v is not None]
        return math.exp(min(values)) if values else None

    @property
    def body(self) -> str:
        return "\n".join(self.haiku)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": self.anchor.path, "line": self.anchor.line, "side": self.anchor.side}
        if self.anchor.start_line is not None:
            entry["start_line"] = self.anchor.start_line
        entry.update(header=self.header, haiku=list(self.haiku), syllables=list(self.syllables),
                     valid=True, rounds=self.rounds, candidates=self.candidates,
                     finding=self.finding.text if self.finding else None,
                     logprob=_rounded(self.logprob), confidence=_rounded(self.confidence))
        if self.finding:
            entry["finding_detail"] = self.finding.to_json()
        return entry


@dataclass(frozen=True, slots=True)
class Rejection:
    """A hunk that got no valid haiku: nothing is posted for it; it is reported with its reason."""

    path: str
    header: str
    reason: str
    candidates: tuple[Candidate, ...] = ()
    finding: Finding | None = None

    @property
    def nothing_to_say(self) -> bool:
        """The model found nothing worth saying: an explicit answer, not a failure."""
        return self.finding is not None and self.finding.status == "nothing"

    def to_json(self) -> dict[str, Any]:
        entry = {"path": self.path, "header": self.header, "reason": self.reason,
                 "candidates": [c.to_json() for c in self.candidates],
                 "finding": self.finding.text if self.finding else None,
                 "nothing_to_say": self.nothing_to_say}
        if self.finding:
            entry["finding_detail"] = self.finding.to_json()
        return entry


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
