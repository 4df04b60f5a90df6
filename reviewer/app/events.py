"""Which deliveries become jobs: a pure function of the event name and its payload.

    outcome, spec = route("pull_request", payload, review_drafts=False)   # ("queued", JobSpec(...))

* ``pull_request`` opened, synchronize, reopened, ready_for_review: a review of the PR (drafts
  are skipped unless ``review_drafts``; ready_for_review brings them in);
* ``issue_comment`` created on a PR whose first word is ``/haiku``: a re-review, as a command
  job that runs only if the commenter has write access (the worker asks GitHub; the web process
  makes no GitHub request at all). Comments from bots are ignored, so no loop is possible;
* ``ping`` and ``installation*``: logged; anything else: ignored. Every one is answered 202.
"""

from __future__ import annotations

from typing import Any

from reviewer.app.queue import JobSpec

REVIEW_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
COMMAND = "/haiku"


class BadPayload(ValueError):
    """A delivery we act on that lacks what we need (a repository, a PR number)."""


def route(event: str, payload: Any, review_drafts: bool = False) -> tuple[str, JobSpec | None]:
    """(outcome, job to queue or None). Outcomes: queued, skipped_draft, pong, logged, ignored."""
    if not isinstance(payload, dict):
        raise BadPayload("the payload is not a JSON object")
    action = str(payload.get("action") or "")
    if event == "ping":
        return "pong", None
    if event.startswith("installation"):
        return "logged", None
    if event == "pull_request" and action in REVIEW_ACTIONS:
        pull = _object(payload, "pull_request")
        if pull.get("draft") and not review_drafts:
            return "skipped_draft", None
        head = pull.get("head") if isinstance(pull.get("head"), dict) else {}
        return "queued", JobSpec("review", _installation(payload), _repo(payload), _number(pull),
                                 str(head.get("sha") or ""))
    if event == "issue_comment" and action == "created":
        issue, comment = _object(payload, "issue"), _object(payload, "comment")
        words = str(comment.get("body") or "").split()
        user = comment.get("user") if isinstance(comment.get("user"), dict) else {}
        if not issue.get("pull_request") or not words or words[0] != COMMAND or user.get("type") == "Bot":
            return "ignored", None
        login = str(user.get("login") or "")
        if not login:
            raise BadPayload("comment.user.login is missing")
        return "queued", JobSpec("command", _installation(payload), _repo(payload), _number(issue), "", login)
    return "ignored", None


def action_of(payload: Any) -> str:
    return str(payload.get("action") or "")[:40] if isinstance(payload, dict) else ""


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise BadPayload(f"{key} is missing")
    return value


def _repo(payload: dict[str, Any]) -> str:
    name = str(_object(payload, "repository").get("full_name") or "")
    if name.count("/") != 1 or any(c.isspace() for c in name):
        raise BadPayload("repository.full_name is missing or not OWNER/NAME")
    return name


def _number(item: dict[str, Any]) -> int:
    number = item.get("number")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise BadPayload("the pull request number is missing")
    return number


def _installation(payload: dict[str, Any]) -> int:
    found = payload.get("installation")
    number = found.get("id") if isinstance(found, dict) else None
    return number if isinstance(number, int) and not isinstance(number, bool) and number > 0 else 0
