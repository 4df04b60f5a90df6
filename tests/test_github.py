"""The posting layer (reviewer.github) against a loopback fake GitHub, through the real PyGithub.

    .venv/bin/python -m pytest -q tests/test_github.py

Results are built directly here (a valid haiku per hunk of the served diff), so these tests
pin the posting rules alone; tests/test_action.py runs the whole Action with the fake backend.
"""

from __future__ import annotations

import pytest

from reviewer.action_config import PostingConfig
from reviewer.diff import Anchor, parse_diff
from reviewer.filters import DiffFilterConfig
from reviewer.github import (MARKER_RE, GitHubClient, GitHubError, RetryPolicy, body_problem,
                             diff_from_files, publish)
from reviewer.results import HaikuComment, ReviewResult
from tests.fake_github import READ_ONLY, FakeFile, FakeGitHub

HAIKU = ("the loop never ends", "when the list is left empty", "guard the index first")
MODEL = {"backend": "fake", "model": "fake"}
OLD = [f"value_{i} = {i}" for i in range(60)]


def edited(path: str, *changes: int, extra: str = "") -> FakeFile:
    """A file with one hunk per changed line number (far apart lines give separate hunks)."""
    new = list(OLD)
    for line in changes:
        new[line] = f"value_{line} = {line} + 1{extra}"
    return FakeFile.edit(path, OLD, new)


@pytest.fixture
def gh():
    with FakeGitHub() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client_for(gh: FakeGitHub, sleeps: list[float], number: int = 7, **policy) -> GitHubClient:
    client = GitHubClient(gh.token, gh.base_url, sleep=sleeps.append, throttle=False, policy=RetryPolicy(**policy))
    client.open_pull(gh.repo, number)
    return client


def review_of(gh: FakeGitHub, number: int = 7, haiku: tuple[str, str, str] = HAIKU) -> tuple[ReviewResult, tuple]:
    """A valid haiku for every hunk of the PR's diff, as run_review would return it."""
    files = parse_diff(gh.diff_of(number))
    comments = tuple(HaikuComment(h.anchor, h.header, haiku, (5, 7, 5), h.text) for f in files for h in f.hunks)
    return ReviewResult(comments, (), (), MODEL), files


def post(gh, sleeps, posting=PostingConfig(), number=7, result=None, **policy):
    client = client_for(gh, sleeps, number, **policy)
    own_result, files = review_of(gh, number)
    return publish(client, result or own_result, files, DiffFilterConfig(), posting, (gh.token,))


def writes(gh: FakeGitHub) -> list[dict]:
    return [r for r in gh.requests if r["method"] != "GET"]


# ----------------------------------------------------------------------------- one review, checked


def test_one_review_event_comment_on_the_head_with_hidden_fingerprints(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5, 40), edited("lib/util.py", 10)], head_sha="f" * 40)
    report = post(gh, sleeps)
    assert report.posted == 3 and len(report.review_urls) == 1 and not report.problem
    (review_post,) = [r for r in writes(gh)]
    body = review_post["body"]
    assert body["event"] == "COMMENT" and body["commit_id"] == "f" * 40 and len(body["comments"]) == 3
    for comment in gh.posted():
        assert comment["body"].startswith("\n".join(HAIKU))
        assert MARKER_RE.search(comment["body"])
        assert body_problem(comment["body"]) is None
    assert all("authorization" not in {k.lower() for k in r["headers"]} for r in gh.requests)
    assert all(o.url.startswith("https://github.example/") for o in report.outcomes)
    assert sleeps == []


def test_anchors_outside_the_diff_are_dropped_before_any_request(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5)])
    result, files = review_of(gh)
    good = result.comments[0]
    outside = HaikuComment(Anchor("app.py", 50, "RIGHT"), "@@ x @@", HAIKU, (5, 7, 5), "other text\n")
    same_line = HaikuComment(Anchor("app.py", good.anchor.line, "RIGHT", good.anchor.line), "@@ y @@", HAIKU,
                             (5, 7, 5), "more text\n")
    no_file = HaikuComment(Anchor("ghost.py", 1, "RIGHT"), "@@ z @@", HAIKU, (5, 7, 5), "ghost\n")
    mixed = ReviewResult((good, outside, same_line, no_file), (), (), MODEL)
    report = post(gh, sleeps, result=mixed)
    assert [o.status for o in report.outcomes] == ["posted", "dropped", "dropped", "dropped"]
    assert "line 50" in report.outcomes[1].reason
    assert "start_line" in report.outcomes[2].reason
    assert "ghost.py" in report.outcomes[3].reason
    (only,) = writes(gh)
    assert len(only["body"]["comments"]) == 1  # GitHub never saw a bad anchor: no 422


def test_unsafe_bodies_never_leave_even_if_the_generator_let_them_through(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5, 40)])
    result, _ = review_of(gh)
    first, second = result.comments
    mention = HaikuComment(first.anchor, first.header, ("ask @admin for help", "see http://evil.example", "now"),
                           (5, 7, 5), first.hunk_text)
    leaked = HaikuComment(second.anchor, second.header, (f"token {gh.token}", "is here", "oops"),
                          (5, 7, 5), second.hunk_text)
    report = post(gh, sleeps, result=ReviewResult((mention, leaked), (), (), MODEL))
    assert [o.status for o in report.outcomes] == ["dropped", "dropped"]
    assert all(o.reason.startswith("unsafe body") for o in report.outcomes)
    assert writes(gh) == [] and gh.comments == []


@pytest.mark.parametrize("text", ["@someone", "see http://x", "[a](b)", "<img src=x>", "![i](x)"])
def test_body_problem_refuses_markup_outside_the_marker(text):
    assert body_problem(text + "\n\n<!-- lgtm-575 fp=" + "0" * 64 + " -->") is not None


def test_more_than_30_comments_go_in_further_reviews_and_the_cap_holds(gh, sleeps):
    gh.add_pull(7, [edited(f"src/f{i:02}.py", 5, 40) for i in range(18)])  # 36 hunks
    report = post(gh, sleeps, PostingConfig(max_comments=33))
    assert report.posted == 33 and report.count("over cap") == 3
    sizes = [len(r["body"]["comments"]) for r in writes(gh)]
    assert sizes == [30, 3] and len(gh.reviews) == 2


def test_max_comments_caps_a_run_and_the_rest_is_reported(gh, sleeps):
    gh.add_pull(7, [edited(f"f{i}.py", 5) for i in range(12)])
    report = post(gh, sleeps)
    assert report.posted == 10 and report.count("over cap") == 2 and len(gh.reviews) == 1
    # the next run posts the two that did not fit, nothing twice
    again = post(gh, sleeps)
    assert again.posted == 2 and again.count("already posted") == 10 and len(gh.posted()) == 12


# ----------------------------------------------------------------------------- idempotency


def test_a_rerun_on_the_same_head_posts_nothing(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5, 40)])
    post(gh, sleeps)
    before = len(gh.requests)
    report = post(gh, sleeps)
    assert report.posted == 0 and report.count("already posted") == 2
    assert [r["method"] for r in gh.requests[before:]].count("POST") == 0
    assert len(gh.posted()) == 2 and len(gh.reviews) == 1


def test_a_new_push_posts_changed_hunks_only_and_deletes_outdated_haiku_without_replies(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5, 40), edited("old.py", 20)])
    post(gh, sleeps)
    first = gh.posted()
    gh.push(7, [edited("app.py", 5, 40, extra=" # v2"), edited("old.py", 20)], head_sha="e" * 40)
    report = post(gh, sleeps)
    assert report.posted == 2 and report.count("already posted") == 1
    assert set(report.deleted) == {c["id"] for c in first if c["path"] == "app.py"}
    assert sorted(c["path"] for c in gh.posted()) == ["app.py", "app.py", "old.py"]
    kept = [c for c in first if c["path"] == "old.py"]
    assert kept[0] in gh.posted()  # the unchanged hunk keeps its haiku, untouched
    assert [r["method"] for r in writes(gh)] == ["POST", "POST", "DELETE", "DELETE"]
    assert writes(gh)[1]["body"]["commit_id"] == "e" * 40


def test_outdated_haiku_with_a_reply_or_with_deletion_off_are_kept(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5, 40)])
    post(gh, sleeps)
    replied, quiet = gh.posted()
    gh.add_reply(replied["id"], "good point")
    gh.push(7, [edited("app.py", 6, 41)], head_sha="e" * 40)
    report = post(gh, sleeps, PostingConfig(delete_outdated=False))
    assert report.deleted == () and len(report.kept) == 2
    assert {reason for _, reason in report.kept} == {"outdated, kept: someone replied",
                                                     "outdated, kept: delete_outdated is off"}
    report = post(gh, sleeps)
    assert report.deleted == (quiet["id"],)
    assert replied["id"] in {c["id"] for c in gh.comments}


def test_existing_comments_are_read_across_pages(gh, sleeps):
    gh.add_pull(7, [edited(f"f{i:03}.py", 5) for i in range(120)])
    report = post(gh, sleeps, PostingConfig(max_comments=120))
    assert report.posted == 120 and len(gh.reviews) == 4
    again = post(gh, sleeps, PostingConfig(max_comments=120))
    assert again.count("already posted") == 120
    pages = [r["query"].get("page") for r in gh.requests if r["path"].endswith("/comments")]
    assert "2" in pages


# ----------------------------------------------------------------------------- GitHub refusing things


def test_a_422_for_one_file_drops_its_comments_and_posts_the_rest(gh, sleeps):
    gh.add_pull(7, [edited("a.py", 5, 40), edited("b.py", 5), edited("c.py", 5, 40), edited("d.py", 5)])
    gh.reject_paths.add("c.py")
    report = post(gh, sleeps)
    statuses = {o.status for o in report.outcomes}
    assert statuses == {"posted", "dropped"}
    dropped = [o for o in report.outcomes if o.status == "dropped"]
    assert len(dropped) == 2 and all("422" in o.reason for o in dropped)
    assert sorted(c["path"] for c in gh.posted()) == ["a.py", "a.py", "b.py", "d.py"]
    fps = [MARKER_RE.search(c["body"]).group(1) for c in gh.posted()]
    assert len(fps) == len(set(fps))  # each comment exactly once


def test_a_read_only_token_reports_instead_of_raising(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5, 40)])
    gh.read_only = True
    report = post(gh, sleeps)
    assert report.read_only and READ_ONLY in report.problem
    assert [o.status for o in report.outcomes] == ["not posted", "not posted"]
    assert gh.comments == [] and sleeps == []


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limits_wait_retry_after_then_post_once(gh, sleeps, status):
    gh.add_pull(7, [edited("app.py", 5)])
    gh.rate_limit("POST", r"/reviews$", status=status, retry_after=7, times=2)
    report = post(gh, sleeps)
    assert report.posted == 1 and sleeps == [7.0, 7.0]
    assert len(gh.reviews) == 1 and len(gh.posted()) == 1


def test_a_retry_after_longer_than_max_wait_gives_up_cleanly(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5)])
    gh.rate_limit("POST", r"/reviews$", retry_after=3600)
    report = post(gh, sleeps, max_wait=60)
    assert "gave up" in report.problem and report.outcomes[0].status == "not posted" and sleeps == []


def test_5xx_on_reads_backs_off_and_recovers(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5)])
    gh.fail("GET", r"/pulls/7/comments$", 502, times=2)
    report = post(gh, sleeps)
    assert report.posted == 1 and sleeps == [1.0, 2.0]


def test_5xx_that_outlasts_the_retries_is_an_error_not_a_hang(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5)])
    client = client_for(gh, sleeps, retries=2)
    gh.fail("GET", r"/pulls/7/comments$", 503, times=5)
    with pytest.raises(GitHubError) as caught:
        client.review_comments()
    assert caught.value.kind == "server" and sleeps == [1.0, 2.0]


def test_a_5xx_before_the_review_was_created_posts_it_once_after_checking(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5, 40)])
    gh.fail("POST", r"/reviews$", 502)
    report = post(gh, sleeps)
    assert report.posted == 2 and len(gh.reviews) == 1 and len(gh.posted()) == 2
    methods = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in gh.requests]
    post_at = [i for i, m in enumerate(methods) if m[0] == "POST"]
    assert len(post_at) == 2 and ("GET", "comments") in methods[post_at[0]:post_at[1]]


def test_a_5xx_after_the_review_was_created_never_posts_it_twice(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5, 40)])
    gh.fail("POST", r"/reviews$", 502, after_write=True)
    report = post(gh, sleeps)
    assert report.posted == 2 and not report.problem
    assert len(gh.reviews) == 1 and len(gh.posted()) == 2
    assert sum(r["method"] == "POST" for r in gh.requests) == 1


def test_a_bad_token_is_an_auth_error(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5)])
    with pytest.raises(GitHubError) as caught:
        GitHubClient("ghs_wrong", gh.base_url, sleep=sleeps.append, throttle=False).open_pull(gh.repo, 7)
    assert caught.value.kind == "auth" and "401" in str(caught.value) and "ghs_wrong" not in str(caught.value)


# ----------------------------------------------------------------------------- reading the diff


def test_the_diff_comes_whole_when_github_serves_it(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5), FakeFile.added("new.py", ["a = 1"])])
    source = client_for(gh, sleeps).fetch_diff()
    assert source.source == "diff" and source.text == gh.diff_of(7)
    (diff_get,) = [r for r in gh.requests if r["headers"].get("Accept") == "application/vnd.github.v3.diff"]
    assert diff_get["path"].endswith("/pulls/7")


def test_a_406_diff_is_rebuilt_from_per_file_patches_losing_nothing(sleeps):
    with FakeGitHub(max_diff_files=100) as gh:
        files = [edited(f"pkg/m{i:03}.py", 5, 40) for i in range(110)]
        files += [FakeFile("logo.png", "added", None), FakeFile("moved.py", "renamed", edited("x", 7).patch, "was.py")]
        gh.add_pull(7, files)
        source = client_for(gh, sleeps).fetch_diff()
        assert source.source == "files" and source.skipped == (("logo.png", source.skipped[0][1]),)
        rebuilt = parse_diff(source.text)
        whole = [f for f in parse_diff(gh.diff_of(7)) if f.status != "binary"]
        assert [(f.path, f.status, f.hunks) for f in rebuilt] == [(f.path, f.status, f.hunks) for f in whole]
        assert any(r["query"].get("page") == "2" for r in gh.requests if r["path"].endswith("/files"))


def test_diff_from_files_marks_added_removed_and_renamed_files():
    class F:
        def __init__(self, filename, status, patch, previous_filename=None):
            self.filename, self.status, self.patch, self.previous_filename = filename, status, patch, previous_filename

    text, skipped = diff_from_files([F("n.py", "added", "@@ -0,0 +1 @@\n+x"), F("g.py", "removed", "@@ -1 +0,0 @@\n-y"),
                                     F("r.py", "renamed", "@@ -1 +1 @@\n-a\n+b", "o.py"), F("big.bin", "modified", None)])
    files = parse_diff(text)
    assert [(f.path, f.status) for f in files] == [("n.py", "added"), ("g.py", "deleted"), ("r.py", "renamed")]
    assert files[2].old_path == "o.py" and skipped[0][0] == "big.bin"


def test_dry_run_writes_nothing(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5, 40)])
    report = post(gh, sleeps, PostingConfig(dry_run=True))
    assert [o.status for o in report.outcomes] == ["would post", "would post"]
    assert writes(gh) == []


# ----------------------------------------------------------------------------- the fake holds GitHub's rules


def test_the_fake_refuses_a_whole_review_for_one_bad_anchor_or_a_start_line_not_below_line(gh, sleeps):
    gh.add_pull(7, [edited("app.py", 5, 40)])
    client = client_for(gh, sleeps)
    good = {"path": "app.py", "line": 6, "side": "RIGHT", "body": "fine"}
    for bad in ({"path": "app.py", "line": 20, "side": "RIGHT", "body": "outside"},
                {"path": "app.py", "line": 6, "start_line": 6, "start_side": "RIGHT", "side": "RIGHT", "body": "range"},
                {"path": "app.py", "line": 41, "start_line": 6, "start_side": "RIGHT", "side": "RIGHT", "body": "2 hunks"}):
        with pytest.raises(GitHubError) as caught:
            client.create_review("body", [good, bad])
        assert caught.value.kind == "invalid" and caught.value.status == 422
    assert gh.reviews == [] and gh.comments == []
    assert client.create_review("body", [good]).endswith("#pullrequestreview-" + str(gh.reviews[0]["id"]))


def test_a_primary_rate_limit_waits_for_the_reset(gh, sleeps):
    import time

    gh.add_pull(7, [edited("app.py", 5)])
    reset = str(int(time.time()) + 30)
    gh.fail("GET", r"/pulls/7$", 403, message="API rate limit exceeded for installation ID 1.",
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    client_for(gh, sleeps)
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 31
