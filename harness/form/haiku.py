"""5-7-5 verdicts with explanations a person can act on."""
from __future__ import annotations

from dataclasses import dataclass

from .count import LineCount, count_line

FORM = (5, 7, 5)
# Lenient allows a line to reach its target when at most this many pieces take another known
# reading (every as "ev-ry", SQL as "sequel"); more than that is no longer the same poem read aloud.
MAX_ALTERNATIVE_PIECES = 2


@dataclass(frozen=True, slots=True)
class LineVerdict:
    count: LineCount
    expected: int
    strict: bool
    lenient: bool

    def explain(self, number: int) -> str:
        if self.strict:
            return f"line {number}: {self.expected} syllables, as expected"
        head = f"line {number}: {self.count.syllables} syllables, expected {self.expected}"
        if self.lenient:
            head += " (reachable with another reading)"
        return f"{head}: {self.count.breakdown()}"


@dataclass(frozen=True, slots=True)
class HaikuVerdict:
    lines: tuple[LineVerdict, ...]
    problem: str | None                 # a shape problem (line count), else None

    @property
    def strict(self) -> bool:
        return self.problem is None and all(v.strict for v in self.lines)

    @property
    def lenient(self) -> bool:
        return self.problem is None and all(v.lenient for v in self.lines)

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(v.count.syllables for v in self.lines)

    def explain(self) -> str:
        if self.problem:
            return self.problem
        if self.strict:
            return "valid 5-7-5"
        return "; ".join(v.explain(i + 1) for i, v in enumerate(self.lines) if not v.strict)


def split_lines(text: str) -> list[str]:
    """The poem's lines: blank lines and surrounding spaces do not count."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def check_haiku(text: str, form: tuple[int, ...] = FORM) -> HaikuVerdict:
    lines = split_lines(text)
    counts = [count_line(line) for line in lines]
    if len(lines) != len(form):
        verdicts = tuple(LineVerdict(c, 0, False, False) for c in counts)
        return HaikuVerdict(verdicts, f"{len(lines)} lines, expected {len(form)}")
    verdicts = tuple(
        LineVerdict(c, want, c.syllables == want, c.reachable(want, MAX_ALTERNATIVE_PIECES))
        for c, want in zip(counts, form))
    return HaikuVerdict(verdicts, None)
