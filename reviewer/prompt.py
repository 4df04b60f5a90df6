"""One chat prompt per hunk: the path, the hunk with line numbers, a few cheap static hints.

Prompts are plain data (role, content) so every backend renders them its own way: the
transformers backend with the model's chat template (Gemma 4 thinking stays off: no ``<|think|>``),
the openai backend as a messages list. Few-shot examples, for base models, are earlier turns;
their haiku are kept on the prompt so compose can refuse a candidate that copies one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Sequence

from reviewer.diff import Hunk
from reviewer.quality import numbers_in

Message = tuple[str, str]  # (role: "user" | "assistant", content)

INSTRUCTION = (
    "You are a senior engineer reviewing a pull request. Write ONE haiku (three lines: 5, 7 and 5 "
    "syllables) that names the most important issue in this hunk: a bug, a risk, a missing test, "
    "unclear naming or docs. Name the code involved. Plain words only; no title, no quotes, no "
    "markdown."
)

MAX_HUNK_LINES = 80  # longer hunks are cut in the prompt (the filters split long hunks anyway)


@dataclass(frozen=True, slots=True)
class Example:
    """A worked example for few-shot prompts. Every haiku here must pass harness.form strictly."""

    path: str
    hunk: str  # body lines with +/-/space prefixes, numbered as in a real prompt
    haiku: str
    finding: str  # the one plain sentence the haiku says (two-stage prompts show this)


# Three hunks of our own, one issue each; tests/test_prompt.py holds them to strict 5-7-5.
EXAMPLES: tuple[Example, ...] = (
    Example(
        path="app/users.py",
        hunk="  41   def load_user(user_id):\n  42 + row = db.execute(f\"SELECT * FROM users WHERE id = {user_id}\")\n  43   return row",
        haiku="the f-string query\nsplices user_id in\nuse a bound param",
        finding="The query splices user_id into the SQL with an f-string; pass it as a bound parameter.",
    ),
    Example(
        path="app/fetch.py",
        hunk="  12   def fetch(url):\n  13 + return requests.get(url).json()",
        haiku="no timeout on get\na slow host can hang this call\ngive it a deadline",
        finding="requests.get has no timeout, so a slow host hangs fetch forever; pass timeout=.",
    ),
    Example(
        path="app/config.py",
        hunk="   7 + def add_tag(tag, tags=[]):\n   8 +     tags.append(tag)\n   9 +     return tags",
        haiku="the default tags list\nis shared by every call\nuse None, then build one",
        finding="The default tags=[] is one list shared by every call; default to None and build it inside.",
    ),
)


@dataclass(frozen=True, slots=True)
class Prompt:
    """A chat prompt for one hunk, and what compose needs to judge its answers."""

    messages: tuple[Message, ...]
    examples: tuple[str, ...] = ()  # haiku shown in the prompt: a candidate equal to one is a copy
    words: frozenset[str] = frozenset()  # identifiers in the hunk, words a constrained decoder may use
    stage: str = "haiku"  # "finding" for stage one's prompt (reviewer.compose), "haiku" otherwise
    numbers: frozenset[str] | None = None  # numbers the hunk (and the finding) hold; None: unknown

    def as_openai(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]

    def revised(self, answer: str, feedback: str) -> "Prompt":
        """The same conversation, with a rejected answer and the checker's explanation appended."""
        note = f"That haiku does not scan: {feedback}. Write the haiku again, 5-7-5, about the same issue."
        return replace(self, messages=self.messages + (("assistant", answer), ("user", note)))


def numbered_hunk(hunk: Hunk, limit: int = MAX_HUNK_LINES) -> str:
    """The hunk's body with head-file line numbers (base numbers for removed lines)."""
    rows = []
    for line in hunk.lines[:limit]:
        number = line.new_line if line.new_line is not None else line.old_line
        mark = {"added": "+", "removed": "-", "context": " "}[line.kind]
        rows.append(f"{number:>4} {mark} {line.text.rstrip()}")
    if len(hunk.lines) > limit:
        rows.append(f"     ... {len(hunk.lines) - limit} more lines")
    return "\n".join(rows)


# Cheap, regex-only hints about added lines. They point the model at a likely issue; they are
# never posted and never decide anything.
_HINTS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), h) for p, h in (
    (r"def \w+\(.*=\s*(\[\]|\{\}|set\(\))", "a mutable default argument"),
    (r"except\s*:|except Exception\s*:\s*(pass)?$", "a bare or broad except"),
    (r"\b(eval|exec)\(", "eval/exec on data"),
    (r"requests\.(get|post|put|delete|patch)\((?!.*timeout)", "an HTTP call without a timeout"),
    (r"(execute|raw)\(\s*f?[\"'].*(\{|%s|\+)", "SQL built from strings"),
    (r"==\s*None|!=\s*None", "comparison to None with == instead of is"),
    (r"\bopen\((?!.*\bwith\b)", "a file opened without a with block"),
    (r"shell\s*=\s*True", "a subprocess with shell=True"),
    (r"\bprint\(", "a print left in"),
    (r"TODO|FIXME|XXX", "a TODO left in"),
    (r"pickle\.loads?\(|yaml\.load\((?!.*Loader)", "unsafe deserialisation"),
    (r"\bassert\b", "an assert used for validation"),
    (r"time\.sleep\(", "a sleep in the code path"),
))


def static_hints(hunk: Hunk, limit: int = 3) -> list[str]:
    added = [line.text for line in hunk.lines if line.kind == "added"]
    found: list[str] = []
    for pattern, hint in _HINTS:
        if hint not in found and any(pattern.search(text) for text in added):
            found.append(hint)
    return found[:limit]


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{1,40}")


def hunk_words(hunk: Hunk) -> frozenset[str]:
    """Identifiers in the hunk's changed and context lines, lower-cased."""
    return frozenset(word.lower() for line in hunk.lines for word in _IDENTIFIER.findall(line.text))


def _hunk_numbers(hunk: Hunk) -> frozenset[str]:
    # the code's own numbers, not the line numbers numbered_hunk adds to the prompt
    return numbers_in(*(line.text for line in hunk.lines))


def hunk_message(path: str, body: str, hints: list[str] = ()) -> str:
    text = f"{INSTRUCTION}\n\nFile: {path}\n```diff\n{body}\n```"
    if hints:
        text += "\nThings worth a look: " + "; ".join(hints) + "."
    return text


# --- two stages: first the finding in plain words, then the haiku that says it -------------------

NOTHING = "NOTHING"  # the finding prompt's answer for a hunk with nothing worth saying

FINDING_INSTRUCTION = (
    "You review one hunk of a pull request. Name the single most important concrete problem in "
    "the changed lines (marked +) and its fix, in ONE plain sentence of at most 25 words. Say only "
    "what the lines shown prove; code you cannot see may exist. If there is no clear problem, "
    f"answer exactly {NOTHING}."
)

HAIKU_INSTRUCTION = (
    "Say this code review finding as ONE haiku: three lines of 5, 7 and 5 syllables. Keep its "
    "point and name the code it names. Plain words only; no title, no quotes, no markdown."
)


LINTER_PREAMBLE = "A linter flags on the changed lines (use it only if it matters; do not quote it)"


def finding_message(path: str, body: str, notes: Sequence[str] = ()) -> str:
    text = f"{FINDING_INSTRUCTION}\n\nFile: {path}\n```diff\n{body}\n```"
    if notes:  # the linter's words are evidence for the model, never text to repeat
        text += f"\n{LINTER_PREAMBLE}: " + "; ".join(notes) + "."
    return text


def build_finding_prompt(hunk: Hunk, notes: Sequence[str] = ()) -> Prompt:
    """Stage one: the hunk (and what a linter says of its changed lines) -> one plain sentence."""
    return Prompt((("user", finding_message(hunk.path, numbered_hunk(hunk), notes)),), (), hunk_words(hunk),
                  "finding")


def haiku_message(finding: str) -> str:
    return f"{HAIKU_INSTRUCTION}\n\nFinding: {finding}"


def build_haiku_prompt(hunk: Hunk, finding: str, few_shot: int = 0) -> Prompt:
    """Stage two: the finding -> a haiku. The decoder may finish a word on the hunk's identifiers
    (the ones the finding took from the hunk among them), not on names the finding made up."""
    messages: list[Message] = []
    shown = EXAMPLES[:few_shot]
    for example in shown:
        messages += [("user", haiku_message(example.finding)), ("assistant", example.haiku)]
    messages.append(("user", haiku_message(finding)))
    return Prompt(tuple(messages), tuple(e.haiku for e in shown), hunk_words(hunk),
                  numbers=_hunk_numbers(hunk) | numbers_in(finding))


def build_prompt(hunk: Hunk, few_shot: int = 0, hints: bool = True) -> Prompt:
    """The chat prompt for one hunk, with ``few_shot`` worked examples as earlier turns."""
    messages: list[Message] = []
    shown = EXAMPLES[:few_shot]
    for example in shown:
        messages += [("user", hunk_message(example.path, example.hunk)), ("assistant", example.haiku)]
    messages.append(("user", hunk_message(hunk.path, numbered_hunk(hunk), static_hints(hunk) if hints else [])))
    return Prompt(tuple(messages), tuple(e.haiku for e in shown), hunk_words(hunk), numbers=_hunk_numbers(hunk))
