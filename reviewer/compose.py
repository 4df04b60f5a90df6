"""Generate, check, revise: the best valid haiku per hunk, or a reasoned rejection.

    from reviewer.compose import compose_hunks
    results = compose_hunks(hunks, backend, GenerationConfig())   # HaikuComment | Rejection each

With ``two_stage`` (the default) a hunk first gets its finding: one plain sentence naming its most
important problem, written freely (greedy, a token cap, no syllable constraint), with what a linter
says of the changed lines in the prompt. "NOTHING" is a valid answer: that hunk posts nothing and
is reported as having nothing to say. A finding that is unsafe to post, or whose claim the hunk
and the linter do not support (reviewer.grounding), is dropped the same way. Only then is the
finding versified, in the rounds below, from its own prompt (reviewer.prompt.build_haiku_prompt).

Round 1 asks each hunk's prompt for one greedy answer when the backend constrains decoding (the
constraint already makes it 5-7-5; greedy keeps runs reproducible), else for ``candidates``
samples, best-of-n. Every candidate goes through ``judge``: exactly three lines, safe to post
(reviewer.safety), strict 5-7-5 by harness.form, and no filler (reviewer.quality). Hunks with no
valid candidate get ``revise_rounds`` more rounds: the conversation continues with the failed
answer and the checker's explanation, and ``candidates`` samples are drawn. The first valid
candidate wins (greedy first); a hunk that never gets one posts nothing and is reported as a
Rejection with every candidate and why each failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from harness.form import check_haiku
from reviewer.backends.base import Backend, FormConstraint, GenerationRequest, logprob_of
from reviewer.config import GenerationConfig
from reviewer.diff import Anchor, Hunk
from reviewer.grounding import linter_problem, read_finding, support_problem
from reviewer.lint import lint_hunks, linter_notes
from reviewer.prompt import (EXAMPLES, FINDING_INSTRUCTION, HAIKU_INSTRUCTION, INSTRUCTION, LINTER_PREAMBLE,
                             Prompt, build_finding_prompt, build_haiku_prompt, build_prompt)
from reviewer.quality import content_problem, copies_instructions
from reviewer.results import Candidate, Finding, HaikuComment, Rejection
from reviewer.safety import check_text

Progress = Callable[[int, int], None]  # (hunks finished, hunks in all)
# What every prompt says besides the hunk: an answer that repeats it is a parrot, not a review.
INSTRUCTIONS = " ".join((INSTRUCTION, HAIKU_INSTRUCTION, FINDING_INSTRUCTION, LINTER_PREAMBLE))
LINES = 3

_LABEL = re.compile(r"^(here('s| is)\b.*|haiku\b.*|.*:)$", re.IGNORECASE)
_DECORATION = "\"'*_`“”‘’ \t"


def normalize(text: str) -> list[str]:
    """The answer's lines, tidied the way a reader would: blank lines, surrounding quotes or
    emphasis, and a leading label line ("Here is a haiku:") dropped."""
    lines = [line.strip().strip(_DECORATION).strip() for line in text.strip().splitlines()]
    lines = [line for line in lines if line]
    while len(lines) > LINES and _LABEL.match(lines[0]):
        lines.pop(0)
    return lines


def judge(text: str, prompt: Prompt, form: tuple[int, ...] = (5, 7, 5)) -> Candidate:
    """A candidate with the checker's verdict and, when it fails, the reason a person can read."""
    lines = normalize(text)
    verdict = check_haiku("\n".join(lines), form) if lines else None
    counts = tuple(verdict.counts) if verdict else ()
    if len(lines) != LINES:
        return Candidate(text, counts, False, f"has {len(lines)} lines, expected {LINES}")
    unsafe = check_text("\n".join(lines))
    if unsafe:
        return Candidate(text, counts, False, f"unsafe to post: {unsafe}")
    if not verdict.strict:
        return Candidate(text, counts, False, verdict.explain())
    filler = content_problem(tuple(lines), prompt.examples, INSTRUCTIONS, prompt.words, prompt.numbers)
    if filler:
        return Candidate(text, counts, False, filler)
    return Candidate("\n".join(lines), counts, True)


def _judged(text: str, prompt: Prompt) -> Candidate:
    """``judge``, keeping the model's mean token log-probability the backend put on the text."""
    return replace(judge(text, prompt), logprob=logprob_of(text))


@dataclass
class _Hunk:
    """One hunk's progress through the rounds."""

    hunk: Hunk
    prompt: Prompt
    tried: list[Candidate]
    winner: Candidate | None = None
    rounds: int = 0
    finding: Finding | None = None


def compose_hunks(hunks: Sequence[Hunk], backend: Backend, config: GenerationConfig,
                  progress: Progress | None = None,
                  notes: Sequence[Sequence[str]] | None = None) -> list[HaikuComment | Rejection]:
    """One HaikuComment (valid) or Rejection per hunk, in the order given. ``notes``: per hunk,
    what a linter says of its changed lines (two-stage runs put it in the finding prompt)."""
    few_shot = resolve_few_shot(config, backend)
    if not uses_two_stages(config, backend):
        work = [_Hunk(h, build_prompt(h, few_shot=few_shot), []) for h in hunks]
        outcomes = _versify(work, backend, config, progress)
        return [outcomes[id(w)] for w in work]
    # Two stages: progress counts 2 steps per hunk, its finding and its haiku.
    steps = 2 * len(hunks)
    findings = find_issues(hunks, backend, config, notes,
                           (lambda done, _total: progress(done, steps)) if progress else None)
    work = [_Hunk(h, build_haiku_prompt(h, f.text, few_shot), [], finding=f) for h, f in zip(hunks, findings)]
    to_versify = [w for w in work if w.finding.status == "ok"]
    offset = len(hunks) + len(work) - len(to_versify)  # findings written, and hunks with nothing to versify
    staged = (lambda done, _total: progress(offset + done, steps)) if progress else None
    if staged:
        staged(0, len(to_versify))
    outcomes = _versify(to_versify, backend, config, staged)
    return [outcomes.get(id(w)) or _outcome(w, config) for w in work]


def uses_two_stages(config: GenerationConfig, backend: Backend) -> bool:
    """on/off as configured; auto: on, unless the backend says otherwise (canned outputs that
    hold only haiku answer one stage)."""
    if config.require_linter:  # the linter check reads a finding, so there must be one
        return True
    if config.two_stage != "auto":
        return config.two_stage == "on"
    return bool(getattr(backend, "two_stage_default", True))


def find_issues(hunks: Sequence[Hunk], backend: Backend, config: GenerationConfig,
                notes: Sequence[Sequence[str]] | None = None, progress: Progress | None = None) -> list[Finding]:
    """Stage one: each hunk's finding, read and checked (reviewer.grounding). Without ``notes``
    the linter runs on the hunks themselves (the Action and the App pass whole-file notes)."""
    if notes is None:
        notes = [linter_notes(h, found) for h, found in zip(hunks, lint_hunks(hunks))]
    findings: dict[int, Finding] = {}
    asked = list(range(len(hunks)))
    if config.require_linter:  # precision first: a hunk no linter flagged is not worth a model call
        asked = [i for i in asked if notes[i]]
        findings = {i: Finding("", "unsupported", f"finding not supported by the hunk: {linter_problem('', ())}")
                    for i in range(len(hunks)) if not notes[i]}
    request = GenerationRequest(n=1, max_new_tokens=config.max_finding_tokens, temperature=0.0, seed=config.seed)
    for start in range(0, len(asked), config.batch_size):
        chunk = asked[start:start + config.batch_size]
        prompts = [build_finding_prompt(hunks[i], notes[i]) for i in chunk]
        for i, texts in zip(chunk, backend.generate(prompts, request)):
            findings[i] = _checked_finding(texts[0], hunks[i], tuple(notes[i]), config.require_linter)
        if progress:
            progress(len(findings), len(hunks))
    return [findings[i] for i in range(len(hunks))]


def _checked_finding(raw: str, hunk: Hunk, notes: tuple[str, ...], require_linter: bool = False) -> Finding:
    text, nothing = read_finding(raw)
    logprob = logprob_of(raw)
    if nothing:
        return Finding(text, "nothing", "the model found nothing worth saying", logprob, notes)
    unsafe = check_text(text)
    if unsafe:
        return Finding(text, "unsafe", f"finding unsafe to post: {unsafe}", logprob, notes)
    if copies_instructions([text], INSTRUCTIONS, run=5) or "linter" in text.lower():
        return Finding(text, "unsupported", "finding repeats the prompt (its instructions or the word "
                       "'linter') instead of saying something about the code", logprob, notes)
    unsupported = support_problem(text, hunk, notes) or (linter_problem(text, notes) if require_linter else None)
    if unsupported:
        return Finding(text, "unsupported", f"finding not supported by the hunk: {unsupported}", logprob, notes)
    return Finding(text, "ok", "", logprob, notes)


def _versify(work: list[_Hunk], backend: Backend, config: GenerationConfig,
             progress: Progress | None) -> dict[int, HaikuComment | Rejection]:
    """The generate-check-revise rounds over the hunks that have something to say."""
    if not work:
        return {}
    constrained = config.constrained and backend.name == "transformers"
    first = config.candidates if not constrained else 1
    report = _settled_reporter(work, config.revise_rounds, progress)
    _round(work, backend, config, first, 0.0 if first == 1 else config.temperature, constrained, report)
    for _ in range(config.revise_rounds):
        open_work = [w for w in work if w.winner is None]
        if not open_work:
            break
        temperature = config.temperature if config.candidates > 1 else 0.0
        _round(open_work, backend, config, config.candidates, temperature, constrained, report, revise=True)
    return {id(w): _outcome(w, config) for w in work}


def _settled_reporter(work: list[_Hunk], revise_rounds: int, progress: Progress | None) -> Callable[[], None]:
    """Progress counts settled hunks (a valid haiku, or no rounds left), so a bar keeps moving
    through the revise rounds instead of sitting at 100% while they run."""
    def report() -> None:
        if progress:
            settled = sum(w.winner is not None or w.rounds > revise_rounds for w in work)
            progress(settled, len(work))
    return report


def resolve_few_shot(config: GenerationConfig, backend: Backend) -> int:
    """-1 (auto): worked examples for a model without an adapter; none for a fine-tuned one,
    which learned the form and would only copy them."""
    return few_shot_for(config, backend.describe().get("adapter"))


def few_shot_for(config: GenerationConfig, adapter: str | None) -> int:
    """``resolve_few_shot`` for a model whose adapter is known ("none", "" or None: no adapter)."""
    if config.few_shot >= 0:
        return min(config.few_shot, len(EXAMPLES))
    return 0 if adapter not in (None, "", "none") else len(EXAMPLES)  # describe() says "none" for none


def _round(work: list[_Hunk], backend: Backend, config: GenerationConfig, n: int, temperature: float,
           constrained: bool, report: Callable[[], None], revise: bool = False) -> None:
    for start in range(0, len(work), config.batch_size):
        batch = work[start:start + config.batch_size]
        prompts = [_revised(w) if revise else w.prompt for w in batch]
        request = GenerationRequest(
            n=n, max_new_tokens=config.max_new_tokens, temperature=temperature, seed=config.seed,
            constraints=tuple(FormConstraint(words=w.prompt.words) for w in batch) if constrained else None)
        for item, texts in zip(batch, backend.generate(prompts, request)):
            item.rounds += 1
            for text in texts:
                candidate = _judged(text, item.prompt)
                item.tried.append(candidate)
                if candidate.valid and item.winner is None:
                    item.winner = candidate
        report()


def _revised(item: _Hunk) -> Prompt:
    last = item.tried[-1]
    return item.prompt.revised("\n".join(normalize(last.text)) or last.text, last.problem)


def _outcome(item: _Hunk, config: GenerationConfig) -> HaikuComment | Rejection:
    hunk, winner, finding = item.hunk, item.winner, item.finding
    anchor = hunk.anchor or context_anchor(hunk)
    if finding is not None and finding.status != "ok":
        return Rejection(hunk.path, hunk.header, finding.problem, (), finding)
    if winner is None or anchor is None:
        reason = "no line to anchor a comment on" if anchor is None else _rejection_reason(item.tried)
        return Rejection(hunk.path, hunk.header, reason, tuple(item.tried), finding)
    lines = tuple(winner.text.split("\n"))
    comment = HaikuComment(anchor, hunk.header, lines, tuple(winner.syllables), hunk.text,
                           rounds=item.rounds, candidates=item.tried.index(winner) + 1,
                           finding=finding, logprob=winner.logprob)
    confidence = comment.confidence
    if confidence is not None and confidence < config.min_confidence:
        return Rejection(hunk.path, hunk.header, f"confidence {confidence:.2f} is below min_confidence "
                         f"{config.min_confidence:.2f}; not posted: {comment.body!r}", tuple(item.tried), finding)
    return comment


def context_anchor(hunk: Hunk) -> Anchor | None:
    """A hunk of context lines only (a review comment's diff_hunk can be one) is still inside the
    diff: GitHub accepts a comment on its last head-side line. PR diffs never reach here with
    such hunks (the filters skip them); review-pair data sets do."""
    lines = [line.new_line for line in hunk.lines if line.new_line is not None]
    return Anchor(hunk.path, lines[-1], "RIGHT") if lines else None


def _rejection_reason(tried: list[Candidate]) -> str:
    if not tried:
        return "the model returned nothing"
    return f"no valid haiku in {len(tried)} candidate(s); last: {tried[-1].problem}"
