"""Stage one's sentence, read and checked against what the hunk and the linter can show.

    text, nothing = read_finding(model_answer)            # "NOTHING" -> ("", True)
    problem = support_problem(text, hunk, linter_notes)   # None when the claim is supported

Why a mechanical check and not the model's own: a prototype asked Qwen2.5-Coder-1.5B "is this claim
true from the lines shown?" and it said NO to true linter-backed claims and YES to invented ones,
no better than chance (../shared/DESIGN.md, "Facts"). Its invented findings were mostly claims
about code the hunk does not show ("a docstring is missing" where one was being added, "X is not
defined" where it was). So two rules, both from that failure, neither tuned on dev outputs:

1. A finding must name something in the changed lines: one of their identifiers or a word of
   a linter note about them. A sentence about nothing shown is not a review of this hunk.
2. A claim that something exists nowhere (is not defined, imported, used, documented, typed or
   tested) is about code outside the hunk, so it stands only when a linter said so: a review hunk
   stops at the commented line, and what it does not show may well exist.

With ``require_linter`` (precision first) a third rule: the finding must say what one of the
linter's notes says (``linter_problem``). This one came from reading dev outputs: among the
hand-labelled outputs of the first three batches, the few useful ones were nearly all a linter's
point said in words, the models' own ideas mostly false (README, "Hand labels").
"""

from __future__ import annotations

import re
from typing import Sequence

from reviewer.diff import Hunk
from reviewer.prompt import NOTHING

_LABEL = re.compile(r"^\s*(finding|issue|problem|review|answer|bug|risk)\s*:\s*", re.IGNORECASE)
_NOTHING = re.compile(rf"^\W*({NOTHING}|nothing( worth saying)?|no (clear |concrete )?(problem|issue)s?)\b",
                      re.IGNORECASE)
# Markdown a model wraps code in, harmless once removed; anything else unsafe stays for the
# safety check to refuse.
_MARKUP = re.compile(r"`+|\*\*|__(?=\w)|(?<=\w)__")

# Claims about what exists outside the lines shown (rule 2), and the linter codes that back each.
_ABSENCE_CLAIMS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), backing) for pattern, backing in (
        (r"\b(not|never|isn't|is not|undefined|un-defined)\s*(be\s+)?(defined|declared)\b|\bundefined\b", ("undefined",)),
        (r"\b(not|never)\s+(imported)\b|\bmissing import\b|\bimport is missing\b", ("undefined", "import")),
        (r"\b(unused|never used|not used)\b", ("unused",)),
        (r"\bdocstrings?\b.*\b(missing|lacks?|no|without|add)\b|\b(missing|lacks?|no|without|add)\b.*\bdocstrings?\b",
         ("docstring",)),
        (r"\b(type hints?|type annotations?|annotations?|typed)\b", ("annotation", "type")),
        (r"\b(no|missing|without|lacks?|add)\b.*\btests?\b|\buntested\b", ("test",)),
    ))

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMON = frozenset("""a an and are as at be by for from if in is it not of on or self the this to
    with none true false return def class import none len str int list dict print value values""".split())


# Code a finding quotes, made plain: these characters could open markdown or HTML in a posted
# comment, so they become words or harmless look-alikes before the safety check (which still
# refuses mentions, links, entities and secrets).
_PLAIN = (("->", " returns "), ("&&", " and "), ("||", " or "), ("&", " and "), ("|", " or "),
          ("[", "("), ("]", ")"), ("<", "‹"), (">", "›"), ("\\", "/"), ("*", "×"), ("~", ""))
# A small model often restates the instruction before its answer (seen in the dev outputs).
_PREAMBLE = re.compile(r"^(the )?(single )?most important (concrete )?problem( in the changed lines)?"
                       r"( of this hunk)? is( that)?\s*", re.IGNORECASE)
MAX_FINDING_WORDS = 45


def read_finding(raw: str) -> tuple[str, bool]:
    """The model's answer as one plain sentence, and whether it said there is nothing to say."""
    lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
    text = _LABEL.sub("", lines[0]) if lines else ""
    text = _MARKUP.sub("", text).strip().strip("\"'").strip()
    if not text or _NOTHING.match(text):
        return "", True
    return plain_finding(text), False


def plain_finding(text: str) -> str:
    """Markup-free, at most two sentences and MAX_FINDING_WORDS words, instruction echo removed."""
    stripped = _PREAMBLE.sub("", text)
    if stripped != text:  # the sentence now starts where the answer did
        text = stripped[:1].upper() + stripped[1:]
    for code, plain in _PLAIN:
        text = text.replace(code, plain)
    text = re.sub(r"#(?=\d)", "number ", text)  # "#12" would link an issue
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", " ".join(text.split()))
    words = " ".join(sentences[:2]).split()
    return " ".join(words[:MAX_FINDING_WORDS]) + ("..." if len(words) > MAX_FINDING_WORDS else "")


# What a linter note is about (matched on the note's plain statement, reviewer.lint.PLAIN) and the
# words a finding about the same problem uses. Generic words ("argument", "default") and names do
# not count: "the argument x should be validated" is not "the argument x has no type annotation".
_TOPICS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(note, re.IGNORECASE), said) for note, said in (
        (r"type annotation|annotation is not optional",
         ("annotat", "type hint", "typed", "typing", "return type", "optional")),
        (r"docstring", ("docstring", "document", "docs ", "description")),
        (r"`assert`", ("assert",)),
        (r"comparison to none", ("is none", "is not none", "== none", "!= none", "compar")),
        (r"true or false", ("true", "false", "truth")),
        (r"`eval`|`exec`", ("eval", "exec")),
        (r"mutable default", ("mutable", "shared")),
        (r"at definition time", ("definition time", "evaluated once", "called once", "default")),
        (r"no timeout", ("timeout", "hang")),
        (r"shell", ("shell",)),
        (r"`except|swallowed", ("except", "catch", "swallow")),
        (r"exception raised inside", ("from err", "cause", "chain", "raise")),
        (r"sql", ("sql", "injection", "parameter")),
        (r"pickle", ("pickle",)),
        (r"yaml", ("yaml", "safe_load", "loader")),
        (r"password", ("password", "secret", "hardcoded", "hard-coded", "credential")),
        (r"builtin", ("builtin", "built-in", "shadow")),
        (r"capwords|lowercase|mixedcase|error suffix|misread",
         ("naming", "rename", "camel", "snake", "case", "capwords", "pep 8", "pep8", "misread", "ambiguous")),
        (r"lambda", ("lambda",)),
        (r"escape sequence", ("escape", "raw string", "backslash")),
        (r"no placeholders", ("placeholder", "f-string", "f prefix")),
        (r"loop variable", ("loop",)),
        (r"defined again", ("redefin", "defined again", "twice", "duplicate")),
        (r"thrown away", ("thrown away", "discard", "no effect", "unused result")),
        (r"`isinstance", ("isinstance",)),
        (r"against a literal", ("literal", "==")),
        (r"not x in y", ("not in",)),
    ))


def linter_problem(finding: str, notes: Sequence[str]) -> str | None:
    """Why ``finding`` does not say what any linter note says, or None when it restates one."""
    if not notes:
        return "no linter diagnostic on the changed lines, and require_linter is on"
    said = f" {finding.lower()} "
    for note in notes:
        if any(topic.search(note) and any(word in said for word in words) for topic, words in _TOPICS):
            return None
    return "it does not say what the linter found, and require_linter is on"


def support_problem(finding: str, hunk: Hunk, notes: Sequence[str] = ()) -> str | None:
    """Why ``finding`` is not supported by ``hunk`` and the linter's ``notes``, or None."""
    noted = " ".join(notes).lower()
    for pattern, backing in _ABSENCE_CLAIMS:
        if pattern.search(finding) and not any(word in noted for word in backing):
            return "it claims something is absent outside the lines shown, and no linter said so"
    changed = {w.lower() for line in hunk.lines if line.kind != "context" for w in _WORD.findall(line.text)}
    named = {w.lower() for w in _WORD.findall(finding)} - _COMMON
    if named & (changed - _COMMON) or (notes and named & {w.lower() for w in _WORD.findall(noted)} - _COMMON):
        return None
    return "it names nothing in the changed lines"
