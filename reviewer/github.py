"""Posting ONE review of checked haiku on a PR, idempotently: the Action, the CLI and the App alike.

    python -m reviewer.action                                       # the Action (docs/action.md)
    GITHUB_TOKEN=... python -m reviewer PR.diff --post --repo OWNER/NAME --pr N   # same code path
    python -m reviewer.app --host 127.0.0.1 --port 8575                            # the App (docs/app.md)

The client (reading the PR and its diff, retries, errors) is ``reviewer.github_api``; this module
re-exports it, so ``reviewer.github`` is the whole posting API.

Posting (``publish``), one review per run, event COMMENT, commit_id = the PR head:

* every anchor is checked against the parsed diff (``reviewer.diff.anchor_problem``) and every
  body against blunt rules (no "@", "http", "](", "<" outside our marker, no secret value, and
  ``reviewer.safety.check_text``) before any request; what fails is dropped with its reason;
* each body ends with a hidden marker ``<!-- lgtm-575 fp=<sha256(path, hunk text, model)> -->``:
  a haiku whose fingerprint is already on the PR is not posted again, and this Action's earlier
  comments whose fingerprint matches no hunk of the current diff are deleted when nobody replied;
* at most ``max_comments`` new comments, at most 30 per request (more: further reviews);
* a 422 (GitHub refuses a whole review for one bad anchor) is bisected, file groups first: the
  good comments are posted, the offending ones dropped with GitHub's reason. Reviews stay one per
  run unless GitHub refuses something;
* rate limits (403/429 with Retry-After, primary limit resets) and 5xx are retried with bounded
  backoff through an injected ``sleep``. A review is never re-POSTed blindly: after a 5xx or a
  lost connection on create, the PR's comments are listed again and only the comments whose
  fingerprints are missing are posted, so each comment lands exactly once;
* a 403 on a write (a fork PR's read-only token: "Resource not accessible by integration") stops
  posting without raising: the report says so and the caller warns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any, Sequence

from reviewer.action_config import PostingConfig
from reviewer.diff import Anchor, DiffFile, Hunk, anchor_problem
from reviewer.filters import DiffFilterConfig, select_hunks
from reviewer.github_api import (DEFAULT_API_URL, DIFF_MEDIA, MARKER, MARKER_RE, Caller, DiffSource,  # noqa: F401
                                 ExistingComment, GitHubClient, GitHubError, PullRef, RetryPolicy,
                                 diff_from_files, error_from)
from reviewer.results import HaikuComment, ReviewResult

# ----------------------------------------------------------------------------- bodies and fingerprints


def model_key(model: dict[str, Any]) -> str:
    """What part of a fingerprint names the model: backend, model, adapter."""
    return "/".join(str(model[k]) for k in ("backend", "model", "adapter") if model.get(k))


def fingerprint(path: str, hunk_text: str, model: str) -> str:
    return hashlib.sha256("\0".join((path, hunk_text, model)).encode("utf-8", "surrogatepass")).hexdigest()


# The one piece of HTML we write ourselves: the finding, collapsed under its haiku.
FINDING_OPEN, FINDING_CLOSE = "<details><summary>the finding</summary>", "</details>"


def comment_body(comment: HaikuComment, fp: str, show_finding: bool = True) -> str:
    """The haiku, the finding in a collapsed details block (when there is one and it is shown),
    and the hidden fingerprint marker."""
    body = comment.body
    if show_finding and comment.finding is not None and comment.finding.text:
        body += f"\n\n{FINDING_OPEN}\n\n{comment.finding.text}\n\n{FINDING_CLOSE}"
    return body + "\n\n" + MARKER.format(fp)


_FORBIDDEN = ("@", "http", "](", "<")


def body_problem(text: str, secrets: Sequence[str] = ()) -> str | None:
    """Why a body (ours: haiku + finding block + marker) must not be posted; None when it may.
    Deliberately independent of the generator's own checks: the last gate before a request.
    Only our own marker and details tags are taken out before the checks; whatever the haiku or
    the finding carries is checked."""
    plain = MARKER_RE.sub("", text).replace(FINDING_OPEN, "", 1).replace(FINDING_CLOSE, "", 1)
    for bad in _FORBIDDEN:
        if bad in plain.lower():
            return f"unsafe body: contains {bad!r}"
    if any(secret and secret in text for secret in secrets):
        return "unsafe body: contains a secret"
    from reviewer.safety import check_text

    found = check_text(plain.strip(), tuple(s for s in secrets if s))
    return f"unsafe body: {found}" if found else None


def review_body(count: int) -> str:
    return f"lgtm-575 reviewed this push in {count} haiku, one per hunk, each 5-7-5."


# ----------------------------------------------------------------------------- planning (pure)


@dataclass(frozen=True)
class Planned:
    index: int  # position in ``ReviewResult.comments``
    fingerprint: str
    body: str
    api: dict[str, Any]  # one entry of the review's ``comments`` array


@dataclass(frozen=True)
class Outcome:
    """What happened to one valid haiku. status: posted, would post (dry run), already posted,
    dropped, over cap, not posted."""

    index: int
    fingerprint: str
    status: str
    reason: str = ""
    url: str = ""


def plan_comments(comments: Sequence[HaikuComment], files: Sequence[DiffFile], existing: Sequence[ExistingComment],
                  posting: PostingConfig, model: str, secrets: Sequence[str] = ()) -> tuple[list[Planned], list[Outcome]]:
    """Which haiku to post, in order, and the outcome of those that will not be."""
    hunks = _hunks_by_path(files)
    on_pr = {c.fingerprint: c.html_url for c in existing if c.fingerprint}
    planned: list[Planned] = []
    outcomes: list[Outcome] = []
    for index, comment in enumerate(comments):
        fp = fingerprint(comment.anchor.path, comment.hunk_text, model)
        body = comment_body(comment, fp, posting.show_finding)
        problem = anchor_check(comment.anchor, hunks) or body_problem(body, secrets)
        if problem:
            outcomes.append(Outcome(index, fp, "dropped", problem))
        elif fp in on_pr:
            outcomes.append(Outcome(index, fp, "already posted", "the same hunk already has this Action's haiku",
                                    on_pr[fp]))
        elif len(planned) >= posting.max_comments:
            outcomes.append(Outcome(index, fp, "over cap", f"over max_comments ({posting.max_comments})"))
        else:
            planned.append(Planned(index, fp, body, {**comment.anchor.to_api(), "body": body}))
    return planned, outcomes


def _hunks_by_path(files: Sequence[DiffFile]) -> dict[str, list[Hunk]]:
    by_path: dict[str, list[Hunk]] = {}
    for diff_file in files:
        by_path.setdefault(diff_file.path, []).extend(diff_file.hunks)
    return by_path


def anchor_check(anchor: Anchor, hunks: dict[str, list[Hunk]]) -> str | None:
    """None when some hunk of the PR's diff accepts the anchor, else why not."""
    candidates = hunks.get(anchor.path)
    if not candidates:
        return f"anchor outside the diff: {anchor.path} has no hunk in the PR's diff"
    problems = [anchor_problem(hunk, anchor) for hunk in candidates]
    if None in problems:
        return None
    # a problem other than "line N is not on the side" means the line is in that hunk
    specific = next((p for p in problems if p and not p.startswith("line ")), None)
    return "anchor outside the diff: " + (specific or f"{anchor.side} line {anchor.line} of {anchor.path} is in no hunk")


def live_fingerprints(files: Sequence[DiffFile], filters: DiffFilterConfig, model: str) -> frozenset[str]:
    """Fingerprints of every hunk of the current diff, whole and as the filters split it: an
    earlier haiku with none of these is on a hunk that no longer exists."""
    hunks = [h for f in files for h in f.hunks] + list(select_hunks(files, replace(filters, max_hunks=0)).hunks)
    return frozenset(fingerprint(h.path, h.text, model) for h in hunks)


def stale_comments(existing: Sequence[ExistingComment], live: frozenset[str],
                   posting: PostingConfig) -> tuple[list[int], list[tuple[int, str]]]:
    """(ids to delete, [(id, why kept)]) among this Action's comments on vanished hunks."""
    replied = {c.in_reply_to for c in existing if c.in_reply_to is not None}
    delete, keep = [], []
    for comment in existing:
        if comment.fingerprint is None or comment.fingerprint in live or comment.in_reply_to is not None:
            continue
        if comment.id in replied:
            keep.append((comment.id, "outdated, kept: someone replied"))
        elif not posting.delete_outdated:
            keep.append((comment.id, "outdated, kept: delete_outdated is off"))
        else:
            delete.append(comment.id)
    return delete, keep


# ----------------------------------------------------------------------------- posting


@dataclass(frozen=True)
class PostReport:
    outcomes: tuple[Outcome, ...]  # one per haiku of the result, in its order
    review_urls: tuple[str, ...] = ()
    deleted: tuple[int, ...] = ()
    kept: tuple[tuple[int, str], ...] = ()
    problem: str = ""  # why posting stopped early; empty when it did not
    read_only: bool = False  # the token may not write (fork PR, permissions)
    existing: int = 0  # comments on the PR before this run

    @property
    def posted(self) -> int:
        return sum(o.status == "posted" for o in self.outcomes)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)


def publish(client: GitHubClient, result: ReviewResult, files: Sequence[DiffFile], filters: DiffFilterConfig,
            posting: PostingConfig, secrets: Sequence[str] = ()) -> PostReport:
    """Post ``result``'s haiku as one review (see the module doc) and tidy outdated ones."""
    model = model_key(result.model)
    existing = client.review_comments()
    planned, outcomes = plan_comments(result.comments, files, existing, posting, model, secrets)
    delete, keep = stale_comments(existing, live_fingerprints(files, filters, model), posting)
    if not (result.comments or result.rejected):
        # no model ran (nothing to review), so the model part of the fingerprints is unknown:
        # deleting on that basis could remove haiku whose hunks still exist
        delete = []
    if posting.dry_run:
        outcomes += [Outcome(p.index, p.fingerprint, "would post", "dry run") for p in planned]
        return _report(outcomes, kept=keep + [(i, "outdated, kept: dry run") for i in delete], existing=len(existing))
    poster = _Poster(client, posting)
    problem, read_only = poster.run(planned)
    outcomes += poster.outcomes
    deleted: list[int] = []
    if not problem:
        problem, read_only = _delete(client, delete, deleted)
    keep += [(i, "outdated, not deleted: " + problem) for i in delete if i not in deleted]
    outcomes = _with_urls(client, outcomes) if poster.reviews else outcomes
    return _report(outcomes, tuple(poster.reviews), tuple(deleted), keep, problem, read_only, len(existing))


def _report(outcomes: list[Outcome], reviews: tuple[str, ...] = (), deleted: tuple[int, ...] = (),
            kept: list[tuple[int, str]] = (), problem: str = "", read_only: bool = False, existing: int = 0) -> PostReport:
    return PostReport(tuple(sorted(outcomes, key=lambda o: o.index)), reviews, deleted, tuple(kept),
                      problem, read_only, existing)


def _delete(client: GitHubClient, ids: list[int], deleted: list[int]) -> tuple[str, bool]:
    for comment_id in ids:
        try:
            client.delete_comment(comment_id)
        except GitHubError as err:
            return str(err), err.kind == "forbidden"
        deleted.append(comment_id)
    return "", False


def _with_urls(client: GitHubClient, outcomes: list[Outcome]) -> list[Outcome]:
    """Links to the new comments (the create-review answer does not list them)."""
    try:
        urls = {c.fingerprint: c.html_url for c in client.review_comments() if c.fingerprint}
    except GitHubError:
        return outcomes  # the links are a courtesy; the review is posted
    return [replace(o, url=urls.get(o.fingerprint, o.url)) if o.status == "posted" else o for o in outcomes]


class _Poster:
    """Posts planned comments in batches, bisecting 422s and checking before re-posting."""

    def __init__(self, client: GitHubClient, posting: PostingConfig) -> None:
        self.client, self.posting = client, posting
        self.outcomes: list[Outcome] = []
        self.reviews: list[str] = []

    def run(self, planned: list[Planned]) -> tuple[str, bool]:
        """(problem, read_only): posts everything it can; stops at the first lasting failure."""
        batches = [planned[i:i + self.posting.per_request] for i in range(0, len(planned), self.posting.per_request)]
        for number, batch in enumerate(batches):
            try:
                self._post(batch)
            except GitHubError as err:
                rest = [p for b in batches[number:] for p in b if not self._decided(p)]
                self.outcomes += [Outcome(p.index, p.fingerprint, "not posted", str(err)) for p in rest]
                return str(err), err.kind == "forbidden"
        return "", False

    def _decided(self, planned: Planned) -> bool:
        return any(o.index == planned.index for o in self.outcomes)

    def _post(self, batch: list[Planned], attempt: int = 0) -> None:
        if not batch:
            return
        try:
            url = self.client.create_review(review_body(len(batch)), [p.api for p in batch])
        except GitHubError as err:
            if err.kind == "invalid":
                return self._bisect(batch, err)
            if err.kind not in ("server", "network"):
                raise
            return self._recover(batch, err, attempt)
        self.reviews.append(url)
        self.outcomes += [Outcome(p.index, p.fingerprint, "posted", url=url) for p in batch]

    def _bisect(self, batch: list[Planned], err: GitHubError) -> None:
        if len(batch) == 1:
            self.outcomes.append(Outcome(batch[0].index, batch[0].fingerprint, "dropped", f"GitHub refused it: {err}"))
            return
        for part in _halves(batch):
            self._post(part)

    def _recover(self, batch: list[Planned], err: GitHubError, attempt: int) -> None:
        """The review may exist although the answer was an error: look before posting again."""
        on_pr = {c.fingerprint: c.html_url for c in self.client.review_comments() if c.fingerprint}
        landed = [p for p in batch if p.fingerprint in on_pr]
        self.outcomes += [Outcome(p.index, p.fingerprint, "posted", url=on_pr[p.fingerprint]) for p in landed]
        if landed:
            self.reviews.append(on_pr[landed[0].fingerprint])
        rest = [p for p in batch if p.fingerprint not in on_pr]
        if not rest:
            return
        if attempt >= self.posting.max_retries:
            raise err
        self.client.caller.pause(err, attempt)
        self._post(rest, attempt + 1)


def _halves(batch: list[Planned]) -> list[list[Planned]]:
    """Split on file boundaries when the batch spans files (GitHub often refuses a whole file),
    else in the middle."""
    paths = list(dict.fromkeys(p.api["path"] for p in batch))
    if len(paths) > 1:
        left = set(paths[: len(paths) // 2])
        return [[p for p in batch if p.api["path"] in left], [p for p in batch if p.api["path"] not in left]]
    middle = len(batch) // 2
    return [batch[:middle], batch[middle:]]
