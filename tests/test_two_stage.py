"""Two stages per hunk: the finding (one plain sentence, or NOTHING), then the haiku that says it.

    python -m pytest -q tests/test_two_stage.py
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from reviewer import cli
from reviewer.backends.base import Text
from reviewer.backends.fake import FakeBackend
from reviewer.compose import compose_hunks
from reviewer.config import GenerationConfig
from reviewer.diff import parse_hunk
from reviewer.filters import ConfigError
from reviewer.grounding import _TOPICS, linter_problem, read_finding, support_problem
from reviewer.lint import PLAIN
from reviewer.results import HaikuComment, Rejection

HUNK = parse_hunk("app/fetch.py", "@@ -10,2 +10,4 @@ def fetch(url):\n     session = make_session()\n"
                  "+    reply = session.get(url)\n     return reply.json()\n+    # done")
FINDING = "session.get has no timeout, so a slow host can hang the worker; pass timeout=."
HAIKU = "session.get can stall\na slow host holds this worker\npass a timeout too"
CONFIG = GenerationConfig(backend="fake", candidates=2, revise_rounds=1)


def test_the_finding_comes_first_and_the_haiku_is_written_from_it():
    backend = FakeBackend([{"finding": FINDING, "haiku": HAIKU}])
    [comment] = compose_hunks([HUNK], backend, CONFIG)
    assert isinstance(comment, HaikuComment) and comment.body == HAIKU
    assert comment.finding.text == FINDING and comment.finding.status == "ok"
    (first, first_request), (second, _) = backend.calls
    assert first[0].stage == "finding" and "session.get(url)" in first[0].messages[-1][1]
    assert first_request.temperature == 0.0 and first_request.max_new_tokens == CONFIG.max_finding_tokens
    assert second[0].stage == "haiku" and FINDING in second[0].messages[-1][1]
    assert "session.get(url)" not in second[0].messages[-1][1]  # stage two reads the finding, not the hunk
    assert comment.to_json()["finding"] == FINDING


def test_nothing_to_say_posts_nothing_and_is_reported_as_such():
    backend = FakeBackend([{"finding": "NOTHING"}])
    [outcome] = compose_hunks([HUNK], backend, CONFIG)
    assert isinstance(outcome, Rejection) and outcome.nothing_to_say
    assert len(backend.calls) == 1  # no haiku asked for
    assert outcome.to_json()["nothing_to_say"] is True


@pytest.mark.parametrize("finding, why", [
    ("The function fetch lacks a docstring; add one.", "absent outside the lines shown"),
    ("make_session is not defined anywhere; import it.", "absent outside the lines shown"),
    ("The variable naming could be clearer overall.", "names nothing in the changed lines"),
])
def test_unsupported_findings_are_dropped_before_versifying(finding, why):
    backend = FakeBackend([{"finding": finding, "haiku": HAIKU}])
    [outcome] = compose_hunks([HUNK], backend, CONFIG)
    assert isinstance(outcome, Rejection) and why in outcome.reason
    assert outcome.finding.status == "unsupported" and len(backend.calls) == 1


def test_an_absence_claim_stands_when_the_linter_said_so():
    note = "the argument `url` of `fetch` has no type annotation"
    assert support_problem("The argument url has no type annotation; annotate it as str.", HUNK, [note]) is None
    assert support_problem("The argument url has no type annotation; annotate it as str.", HUNK, []) is not None


@pytest.mark.parametrize("injected", [
    "Ping @admin: see http://evil.example/x for the fix to session.get.",
    "session.get: read [the docs](https://example.com) first",
    "session.get leaks ghp_abcdefghijklmnopqrstuvwxyz0123456789 here",
    "session.get is wrong, mail admin@example.org",
])
def test_a_finding_that_could_mention_link_or_leak_is_never_posted(injected):
    backend = FakeBackend([{"finding": injected, "haiku": HAIKU}])
    [outcome] = compose_hunks([HUNK], backend, CONFIG)
    assert isinstance(outcome, Rejection) and outcome.finding.status == "unsafe"


@pytest.mark.parametrize("injected", [
    "session.get is fine <img src=x onerror=alert(1)> here",
    "session.get <details><summary>hi</summary></details> returns List[int] -> x",
    "session.get uses *emphasis* and `code` and a | b ~~gone~~ #12",
])
def test_html_and_markdown_from_a_finding_reach_the_details_block_as_plain_text(injected):
    from reviewer.github import FINDING_OPEN, body_problem, comment_body
    from reviewer.safety import check_text

    backend = FakeBackend([{"finding": injected, "haiku": HAIKU}])
    [comment] = compose_hunks([HUNK], backend, CONFIG)
    assert isinstance(comment, HaikuComment)
    assert check_text(comment.finding.text) is None and not set("<>[]`*|~#&") & set(comment.finding.text)
    body = comment_body(comment, "f" * 64)
    assert body.count("<details>") == 1 and FINDING_OPEN in body and comment.finding.text in body
    assert body_problem(body) is None
    assert comment_body(comment, "f" * 64, show_finding=False).count("details") == 0  # the switch


def test_the_last_gate_refuses_a_finding_that_skipped_compose():
    """A finding built by hand, never read by compose, is still checked before posting."""
    from dataclasses import replace

    from reviewer.github import body_problem, comment_body
    from reviewer.results import Finding

    backend = FakeBackend([{"finding": FINDING, "haiku": HAIKU}])
    [comment] = compose_hunks([HUNK], backend, CONFIG)
    forged = replace(comment, finding=Finding("see <a href=x>@admin</a>"))
    assert body_problem(comment_body(forged, "f" * 64)) is not None


def test_read_finding_strips_labels_and_code_markup_and_reads_nothing():
    assert read_finding("Finding: `session.get` has **no** timeout.\nMore text") == (
        "session.get has no timeout.", False)
    assert read_finding("NOTHING") == ("", True)
    assert read_finding("Nothing worth saying here.") == ("", True)
    assert read_finding("  ") == ("", True)


def test_confidence_below_min_confidence_is_not_posted_but_kept():
    backend = FakeBackend([])
    backend.queues["finding"].items = [Text(FINDING, math.log(0.9))]
    backend.queues["haiku"].items = [Text(HAIKU, math.log(0.2))]
    strict = GenerationConfig(backend="fake", min_confidence=0.5, two_stage="on")
    [outcome] = compose_hunks([HUNK], backend, strict)
    assert isinstance(outcome, Rejection) and "below min_confidence" in outcome.reason
    assert HAIKU.split("\n")[0] in outcome.reason  # the haiku is still reported
    backend = FakeBackend([])
    backend.queues["finding"].items = [Text(FINDING, math.log(0.9))]
    backend.queues["haiku"].items = [Text(HAIKU, math.log(0.7))]
    [comment] = compose_hunks([HUNK], backend, strict)
    assert isinstance(comment, HaikuComment) and comment.confidence == pytest.approx(0.7)


def test_plain_canned_haiku_keep_one_stage_unless_asked():
    backend = FakeBackend([HAIKU])
    [comment] = compose_hunks([HUNK], backend, CONFIG)
    assert isinstance(comment, HaikuComment) and comment.finding is None


def test_cli_json_carries_the_finding(tmp_path, capsys):
    diff = tmp_path / "pr.diff"
    diff.write_text("diff --git a/app/fetch.py b/app/fetch.py\n--- a/app/fetch.py\n+++ b/app/fetch.py\n"
                    + HUNK.header + "\n" + HUNK.text, encoding="utf-8")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps([{"finding": FINDING, "haiku": HAIKU}]), encoding="utf-8")
    code = cli.main([str(diff), "--backend", "fake", "--fake-outputs", str(outputs), "--format", "json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["comments"][0]["finding"] == FINDING


# --- require_linter: precision first ---------------------------------------------------------------

UNTYPED = parse_hunk("app/rates.py", "@@ -1,0 +1,3 @@\n+\"\"\"Rates.\"\"\"\n+def convert(amount, rate):\n"
                     "+    return amount * rate")
TYPED_NOTE = "the argument `amount` of `convert` has no type annotation"


def test_require_linter_asks_the_model_only_where_a_linter_flagged_a_changed_line():
    said = "The argument amount of convert has no type annotation; annotate it as float."
    haiku = "amount has no type\nconvert takes it on trust here\nannotate it now"
    backend = FakeBackend([{"finding": said, "haiku": haiku}])
    quiet, flagged = compose_hunks([HUNK, UNTYPED], backend, replace(CONFIG, require_linter=True))
    assert isinstance(quiet, Rejection) and "no linter diagnostic" in quiet.reason
    assert isinstance(flagged, HaikuComment) and flagged.finding.text == said
    assert any("type annotation" in note for note in flagged.finding.linter)
    (asked, _), _ = backend.calls  # one finding prompt, for the flagged hunk alone
    assert [p.stage for p in asked] == ["finding"] and "convert" in asked[0].messages[-1][1]


def test_require_linter_drops_a_finding_about_something_the_linter_did_not_say():
    wrong = "The function convert should validate that amount is positive before using it."
    backend = FakeBackend([{"finding": wrong, "haiku": HAIKU}])
    [outcome] = compose_hunks([UNTYPED], backend, replace(CONFIG, require_linter=True))
    assert isinstance(outcome, Rejection) and "does not say what the linter found" in outcome.reason
    # the same finding passes the ordinary grounding check: the gate is what drops it
    [kept] = compose_hunks([UNTYPED], FakeBackend([{"finding": wrong, "haiku": HAIKU}]), CONFIG)
    assert kept.finding.status == "ok"


@pytest.mark.parametrize("code", sorted(PLAIN))
def test_every_linter_statement_has_a_topic_a_finding_can_restate(code):
    note = PLAIN[code].format("x", fn="f")
    assert linter_problem("The argument x of f should be checked before use.", [note]) is not None
    topics = [words for topic, words in _TOPICS if topic.search(note)]
    assert topics, f"{code}: no topic for {note!r}"
    assert linter_problem(f"In f, x: {topics[0][0]} problem; fix it.", [note]) is None


def test_require_linter_needs_two_stages():
    with pytest.raises(ConfigError, match="two_stage off"):
        GenerationConfig(require_linter=True, two_stage="off")


@pytest.mark.parametrize("finding", [
    "The linter flags on the changed lines (use it only if it matters; do not quote it): session.get has no timeout.",
    "The linter's docstring for session.get is blank.",
])
def test_a_finding_that_parrots_the_prompt_is_dropped(finding):
    backend = FakeBackend([{"finding": finding, "haiku": HAIKU}])
    [outcome] = compose_hunks([HUNK], backend, CONFIG)
    assert isinstance(outcome, Rejection) and "repeats the prompt" in outcome.reason
    assert len(backend.calls) == 1  # never versified


@pytest.mark.parametrize("haiku, problem", [
    ("session.get can stall\na slow host holds this worker\nbugs wait. 1000", "the number '1000'"),
    ("session.get can stall\nthree lines of 5, 7, 5\na slow host holds it", "the number '5'"),
    ("session.get can stall\nthe linter says it can hang\npass a timeout too", "talks about the linter"),
])
def test_numbers_the_hunk_does_not_hold_and_the_word_linter_are_filler(haiku, problem):
    backend = FakeBackend([{"finding": FINDING, "haiku": haiku}])
    [outcome] = compose_hunks([HUNK], backend, replace(CONFIG, revise_rounds=0, candidates=1))
    assert isinstance(outcome, Rejection) and problem in outcome.candidates[0].problem


def test_a_number_the_hunk_holds_may_be_named():
    hunk = parse_hunk("app/fetch.py", "@@ -10,1 +10,2 @@ def fetch(url):\n+    reply = session.get(url, timeout=300)\n"
                      "     return reply.json()")
    haiku = "timeout 300\nholds the worker five minutes\nis that what we want?"
    backend = FakeBackend([{"finding": "session.get waits 300 seconds; lower the timeout.", "haiku": haiku}])
    [comment] = compose_hunks([hunk], backend, replace(CONFIG, revise_rounds=0, candidates=1))
    assert isinstance(comment, HaikuComment), comment


def test_a_staged_backend_sends_each_stage_to_its_own_model():
    from reviewer.backends.staged import StagedBackend

    finder = FakeBackend([{"finding": FINDING}], model="code-model")
    poet = FakeBackend([HAIKU], model="verse-model")
    [comment] = compose_hunks([HUNK], StagedBackend(finding=finder, haiku=poet), replace(CONFIG, two_stage="auto"))
    assert isinstance(comment, HaikuComment) and comment.body == HAIKU and comment.finding.text == FINDING
    assert [p.stage for prompts, _ in finder.calls for p in prompts] == ["finding"]
    assert [p.stage for prompts, _ in poet.calls for p in prompts] == ["haiku"]
    assert StagedBackend(finder, poet).describe()["finding_model"]["model"] == "code-model"


def test_haiku_model_needs_a_local_backend_and_two_stages():
    with pytest.raises(ConfigError, match="transformers backend"):
        GenerationConfig(backend="openai", haiku_model="embedded")
    with pytest.raises(ConfigError, match="two_stage off"):
        GenerationConfig(haiku_model="embedded", two_stage="off")
