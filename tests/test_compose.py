"""Generate-check-revise with the fake backend, output safety and the content rules, and the
CLI's default action end to end.

    python -m pytest -q tests/test_compose.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.form import check_haiku
from reviewer import cli
from reviewer.backends.fake import FakeBackend
from reviewer.compose import compose_hunks, judge, normalize
from reviewer.config import GenerationConfig
from reviewer.diff import parse_hunk
from reviewer.prompt import EXAMPLES, Prompt, build_prompt
from reviewer.quality import content_problem
from reviewer.results import HaikuComment, Rejection
from reviewer.safety import check_text

ROOT = Path(__file__).resolve().parents[1]
HUNK = parse_hunk("app/fetch.py", "@@ -10,2 +10,4 @@ def fetch(url):\n     session = make_session()\n"
                  "+    reply = session.get(url)\n     return reply.json()\n+    # done")
VALID = "session.get can stall\na slow host holds this worker\npass a timeout too"
TOO_LONG = "the session.get can stall\na slow host holds this worker\npass a timeout too"
CONFIG = GenerationConfig(backend="fake", candidates=2, revise_rounds=1)


def test_every_prompt_example_is_itself_a_valid_haiku() -> None:
    for example in EXAMPLES:
        assert check_haiku(example.haiku).strict, example.haiku
        assert content_problem(tuple(example.haiku.split("\n"))) is None


def test_a_valid_first_answer_wins_and_is_anchored() -> None:
    backend = FakeBackend([VALID])
    [comment] = compose_hunks([HUNK], backend, CONFIG)
    assert isinstance(comment, HaikuComment)
    assert comment.haiku == tuple(VALID.split("\n")) and comment.syllables == (5, 7, 5)
    assert (comment.anchor.path, comment.anchor.line, comment.anchor.side) == ("app/fetch.py", 13, "RIGHT")
    assert comment.rounds == 1 and len(backend.calls) == 1


def test_a_failed_round_is_revised_with_the_checkers_explanation() -> None:
    backend = FakeBackend([TOO_LONG, TOO_LONG, "bad", VALID])  # round 1: n=2; round 2: n=2
    [comment] = compose_hunks([HUNK], backend, CONFIG)
    assert isinstance(comment, HaikuComment) and comment.rounds == 2 and comment.candidates == 4
    revised_prompt = backend.calls[1][0][0]
    assert revised_prompt.messages[-2] == ("assistant", TOO_LONG)
    assert "line 1: 6 syllables, expected 5" in revised_prompt.messages[-1][1]


def test_progress_counts_hunks_settled_through_the_revise_round() -> None:
    # two hunks: the first is valid at once, the second only after a revise round
    backend = FakeBackend([VALID, VALID, TOO_LONG, TOO_LONG, VALID, VALID])
    seen: list[tuple[int, int]] = []
    compose_hunks([HUNK, HUNK], backend, CONFIG, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]  # not 2/2 before the revise round has run


def test_a_hunk_without_a_valid_haiku_is_rejected_with_every_candidate() -> None:
    backend = FakeBackend([TOO_LONG])
    [rejection] = compose_hunks([HUNK], backend, CONFIG)
    assert isinstance(rejection, Rejection)
    assert len(rejection.candidates) == 4 and not any(c.valid for c in rejection.candidates)
    assert "expected 5" in rejection.reason


@pytest.mark.parametrize("text, problem", [
    ("ping @octocat now\na slow host can hang this call\ngive it a deadline", "@mention"),
    ("see http evil dot\na slow host can hang this call\ngive it a deadline", None),
    ("[click](x) for more\na slow host can hang this call\ngive it a deadline", "link"),
    ("<img src=x> time\na slow host can hang this call\ngive it a deadline", "HTML"),
    ("visit www.x.com\na slow host can hang this call\ngive it a deadline", "link"),
    ("token ghp_abcdefghijklmnopqrstuvwxyz0123\na slow host can hang this call\nok", "credential"),
])
def test_unsafe_text_is_never_valid(text: str, problem: str | None) -> None:
    candidate = judge(text, Prompt((("user", "x"),)))
    if problem is None:
        assert check_text(text) is None
    else:
        assert not candidate.valid and problem in candidate.problem


@pytest.mark.parametrize("text, problem", [
    ("the cache is the cache\na slow host can hang this call\ngive it a deadline", "repeats the word 'cache'"),
    ("oh timeout on get\na slow host can hang this call\ngive it a deadline", "filler"),
    ("no timeout on get\na slow host can hang this call\nwhy no deadline?Ya", "glues a word to '?'"),
    ("reply can stall here\na slow host holds the worker\nso it waits on the", "ends on 'the', cut to fit"),
    ("reply can stall here\na slow host hangs: why? hands? wait\ngive it a deadline", "a stray word after a question"),
    ("reply can stall here\na slow host holds the worker\nuse a deadline? thumbs", "a stray word after a question"),
    ("reply can stall: why?\nwhy can a slow host hang this\ncall with no deadline", "repeats the word 'why'"),
    ("reply.data stalls\na slow host holds the worker\npass a timeout too", "reply.data is not a name"),
    ("reply can stall here\na slow host holds the worker\nwhy no deadline? a?", "ends on 'a', cut to fit"),
    ("reply can stall here\na slow host holds the worker\nso pass a deadline,", "ends on ',', cut to fit"),
    ("reply can stall here\na slow host holds the worker\nno deadline? add one", "goes on after its question"),
    ("the docstring:font stalls\na slow host holds the worker\ngive it a deadline", "glues a word to ':'"),
    ("it stalls on row.1\na slow host holds the worker\ngive it a deadline", "glues a word to '.'"),
    ("it stalls on docs,now\na slow host holds the worker\ngive it a deadline", "glues a word to ','"),
    ("it stalls on (docs)now\na slow host holds the worker\ngive it a deadline", "glues a word to ')'"),
    ("reply stalls, hang, a\na slow host holds the worker\ngive it a deadline", "repeats the word 'a'"),
    (EXAMPLES[0].haiku, "copies the prompt's example"),
])
def test_filler_repeats_and_copied_examples_are_rejected(text: str, problem: str) -> None:
    assert check_haiku(text).strict or problem.startswith("copies"), text  # the count is not the reason
    prompt = build_prompt(HUNK, few_shot=3)
    candidate = judge(text, prompt)
    assert not candidate.valid and problem in candidate.problem


def test_normalize_drops_labels_quotes_and_blank_lines() -> None:
    assert normalize('Here is a haiku:\n\n"no timeout on get"\n*a slow host*\nok') == [
        "no timeout on get", "a slow host", "ok"]


def test_the_cli_prints_markdown_and_json_from_the_fake_backend(tmp_path: Path, capsys) -> None:
    outputs = tmp_path / "outputs.json"
    haiku = "the cache lookup stalls\na slow host holds this worker\npass a timeout too"
    outputs.write_text(json.dumps([haiku]), encoding="utf-8")
    diff = str(ROOT / "examples" / "sample.diff")
    assert cli.main([diff, "--backend", "fake", "--fake-outputs", str(outputs)]) == 0
    markdown = capsys.readouterr().out
    assert "> the cache lookup stalls" in markdown and "poetry.lock: lock file" in markdown
    assert cli.main([diff, "--backend", "fake", "--fake-outputs", str(outputs), "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["comments"][0]["haiku"] == haiku.split("\n") and payload["comments"][0]["syllables"] == [5, 7, 5]
    assert payload["model"]["backend"] == "fake" and payload["config"]["candidates"] == 4


def test_the_cli_refuses_bad_settings_in_one_line(tmp_path: Path, capsys) -> None:
    diff = str(ROOT / "examples" / "sample.diff")
    assert cli.main([diff, "--backend", "fake", "--fake-outputs", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read outputs file" in err


def test_lines_that_open_alike_are_filler() -> None:
    text = "you are a senior\nyou are a junior coder here\nyou are a student"
    assert "open with the same words" in content_problem(tuple(text.split("\n")))


def test_a_haiku_parroting_the_instructions_is_rejected() -> None:
    text = "you are a senior\nengineer reviewing code\nthe pull request waits"
    candidate = judge(text, build_prompt(HUNK))
    assert not candidate.valid and "copies the prompt's instructions" in candidate.problem


@pytest.mark.parametrize("text, credential", [
    ("test_next_renewal_leap_day_in_common_year pins February", False),  # a long snake_case name
    ("ThisIsAVeryLongCamelCaseClassNameForTests is heavy", False),
    ("MAX_RETRIES_BEFORE_THE_CIRCUIT_BREAKER_OPENS is fine", False),
    ("key sk_live_4eC39HqLyjWDarjtT1zdp7dcXyZ in code", True),  # one piece of mixed case and digits
    ("hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 here", True),
    ("token abcdefghijklmnopQRSTUVWXYZ0123456789abcd", True),
    ("jwt eyJhbGciOiJIUzI1NiJ9.payload", True),
])
def test_credentials_are_refused_by_shape_and_long_names_are_not(text: str, credential: bool) -> None:
    assert (check_text(text) == "contains something shaped like a credential") is credential
