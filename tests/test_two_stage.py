"""Two stages per hunk: the finding (one plain sentence, or NOTHING), then the haiku that says it.

    python -m pytest -q tests/test_two_stage.py
"""

from __future__ import annotations

import json
import math

import pytest

from reviewer import cli
from reviewer.backends.base import Text
from reviewer.backends.fake import FakeBackend
from reviewer.compose import compose_hunks
from reviewer.config import GenerationConfig
from reviewer.diff import parse_hunk
from reviewer.grounding import read_finding, support_problem
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
