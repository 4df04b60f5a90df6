"""The GitHub API client: one PR through PyGithub, every call behind bounded retries.

    client = GitHubClient(token, os.environ.get("GITHUB_API_URL", DEFAULT_API_URL))
    pull = client.open_pull("octo/demo", 7); source = client.fetch_diff()

Used by the Action, the CLI's ``--post`` and the App alike (``reviewer.github.publish`` posts
through it). Reading: the diff comes from the API (``Accept: application/vnd.github.v3.diff``);
no PR code is checked out or run. GitHub refuses diffs over 300 files or 20k lines (406): then
the per-file patches of the files endpoint are rebuilt into one diff, and files GitHub sends no
patch for (binary, too large) are reported as skipped. Rate limits (403/429 with Retry-After,
primary limit resets), 5xx and lost connections are retried with bounded backoff through an
injected ``sleep``; a write that may have taken effect is never retried blindly (``unsafe``).
Errors are ``GitHubError`` with one line that never holds the token.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, TypeVar

DEFAULT_API_URL = "https://api.github.com"
DIFF_MEDIA = "application/vnd.github.v3.diff"
MARKER = "<!-- lgtm-575 fp={} -->"
MARKER_RE = re.compile(r"<!-- lgtm-575 fp=([0-9a-f]{64}) -->")
RETRY_STATUSES = frozenset({500, 502, 503, 504})  # 501 "not implemented" will not change
T = TypeVar("T")

# ----------------------------------------------------------------------------- errors and retries


class GitHubError(Exception):
    """An API call that failed for good. ``kind``: auth, forbidden, not_found, too_large, invalid,
    rate_limited, server, network, other. ``str()`` is one line and never holds the token."""

    def __init__(self, kind: str, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind, self.status, self.retry_after = kind, status, retry_after


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4  # further attempts after the first
    base_delay: float = 1.0  # backoff 1, 2, 4, 8 s when GitHub names no wait
    max_wait: float = 120.0  # longest single wait; a longer Retry-After gives up
    budget: float = 600.0  # all waits of one client together


def error_from(exc: BaseException, what: str) -> GitHubError:
    """A PyGithub or requests exception as a ``GitHubError`` with a one-line message."""
    status = getattr(exc, "status", None)
    if not isinstance(status, int):
        return GitHubError("network", f"{what}: no answer from GitHub ({type(exc).__name__})")
    data = getattr(exc, "data", None)
    message = str(data.get("message") or "") if isinstance(data, dict) else ""
    headers = {str(k).lower(): str(v) for k, v in (getattr(exc, "headers", None) or {}).items()}
    text = f"{what}: HTTP {status}" + (f" ({' '.join(message.split())[:200]})" if message else "")
    return GitHubError(_kind(status, message, headers), text, status, _wait_for(headers))


def _kind(status: int, message: str, headers: dict[str, str]) -> str:
    low = message.lower()
    if status == 429 or (status == 403 and ("rate limit" in low or "retry-after" in headers
                                            or headers.get("x-ratelimit-remaining") == "0")):
        return "rate_limited"
    kinds = {401: "auth", 403: "forbidden", 404: "not_found", 406: "too_large", 422: "invalid"}
    return kinds.get(status, "server" if status in RETRY_STATUSES else "other")


def _wait_for(headers: dict[str, str]) -> float | None:
    """Seconds GitHub asks us to wait: Retry-After, or the primary limit's reset time."""
    if headers.get("retry-after", "").strip().isdigit():
        return float(headers["retry-after"])
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
        return max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
    return None


class Caller:
    """Runs one API call with bounded retries; ``sleep`` is injected so tests never wait."""

    def __init__(self, policy: RetryPolicy, sleep: Callable[[float], None]) -> None:
        self.policy, self.sleep, self.waited = policy, sleep, 0.0

    def call(self, what: str, fn: Callable[[], T], *, unsafe: bool = False, retries: int | None = None) -> T:
        """``unsafe``: a write that may have taken effect when the answer is a 5xx or is lost;
        those errors are raised at once for the caller to check, rate limits are still retried.
        ``retries`` overrides the policy's count for this call."""
        from github import GithubException
        from requests import RequestException

        last = self.policy.retries if retries is None else retries
        for attempt in range(last + 1):
            try:
                return fn()
            except (GithubException, RequestException) as exc:
                err = error_from(exc, what)
                if err.kind not in ("rate_limited", "server", "network") or attempt == last:
                    raise err from None
                if unsafe and err.kind != "rate_limited":
                    raise err from None
                self.pause(err, attempt)
        raise AssertionError("unreachable")

    def pause(self, err: GitHubError, attempt: int) -> None:
        wait = err.retry_after if err.retry_after is not None else self.policy.base_delay * 2 ** attempt
        if wait > self.policy.max_wait or self.waited + wait > self.policy.budget:
            raise GitHubError(err.kind, f"{err} - gave up: GitHub asks to wait {wait:.0f} s", err.status)
        self.waited += wait
        self.sleep(wait)


# ----------------------------------------------------------------------------- the client


@dataclass(frozen=True)
class PullRef:
    repo: str
    number: int
    head_sha: str
    base_sha: str
    html_url: str
    from_fork: bool
    draft: bool = False
    state: str = "open"


@dataclass(frozen=True)
class DiffSource:
    text: str
    source: str  # "diff" (the .diff media type) or "files" (per-file patches, after a 406)
    skipped: tuple[tuple[str, str], ...] = ()  # (path, reason): files GitHub sent no patch for


@dataclass(frozen=True)
class ExistingComment:
    id: int
    fingerprint: str | None  # None: not ours (no marker)
    path: str
    line: int | None  # None: GitHub marks the comment outdated
    in_reply_to: int | None
    html_url: str


class GitHubClient:
    """One PR through PyGithub, every call behind ``Caller``. ``throttle`` keeps PyGithub's
    spacing of requests (0.25 s) and writes (1 s), GitHub's advice against secondary limits."""

    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, *, sleep: Callable[[float], None] = time.sleep,
                 policy: RetryPolicy = RetryPolicy(), throttle: bool = True, timeout: int = 30,
                 auth: Any = None) -> None:
        """``token``: a plain token; ``auth``: any PyGithub ``Auth`` instead (the App passes one
        that asks its token cache on every request, so a long review outlives a token)."""
        from github import Auth, Github

        self.caller = Caller(policy, sleep)
        self._gh = Github(auth=auth or Auth.Token(token), base_url=(api_url or DEFAULT_API_URL).rstrip("/"),
                          timeout=timeout, per_page=100, retry=None, user_agent="lgtm-575",
                          seconds_between_requests=0.25 if throttle else None,
                          seconds_between_writes=1.0 if throttle else None)
        self._repo: Any = None
        self._pull: Any = None
        self._comments: dict[int, Any] = {}
        self.ref: PullRef | None = None

    def open_pull(self, repo: str, number: int) -> PullRef:
        self._repo = self.caller.call(f"read repository {repo}", lambda: self._gh.get_repo(repo))
        self._pull = self.caller.call(f"read pull request #{number}", lambda: self._repo.get_pull(number))
        raw = self._pull.raw_data
        head, base = raw.get("head") or {}, raw.get("base") or {}
        head_repo = (head.get("repo") or {}).get("full_name")
        self.ref = PullRef(repo, number, head.get("sha", ""), base.get("sha", ""), raw.get("html_url", ""),
                           bool(head_repo and head_repo != (base.get("repo") or {}).get("full_name", repo)),
                           bool(raw.get("draft")), str(raw.get("state") or "open"))
        return self.ref

    def can_write(self, login: str) -> bool:
        """Whether ``login`` may push to the repository (admin, maintain or write), as GitHub
        answers ``GET /repos/{o}/{r}/collaborators/{login}/permission``; unknown users may not."""
        try:
            found = self.caller.call(f"read the permission of {login}",
                                     lambda: self._repo.get_collaborator_permission(login))
        except GitHubError as err:
            if err.kind in ("not_found", "forbidden", "invalid"):
                return False
            raise
        return found in ("admin", "maintain", "write")

    def read_text(self, path: str, ref: str) -> str | None:
        """A file of the repository at ``ref`` (the config at the PR's base), None if absent."""
        try:
            # one attempt: a config file that cannot be read is a warning, not worth a minute of backoff
            found = self.caller.call(f"read {path}", lambda: self._repo.get_contents(path, ref=ref), retries=0)
        except GitHubError as err:
            if err.kind == "not_found":
                return None
            raise
        if isinstance(found, list):
            return None
        try:
            return found.decoded_content.decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001 - an answer without base64 content
            raise GitHubError("other", f"read {path}: unreadable contents answer ({type(exc).__name__})") from None

    def fetch_diff(self) -> DiffSource:
        pull = self._pull
        try:
            # PyGithub has no public call for a media type; its requester is the one it uses itself.
            _, data = self.caller.call("read the PR diff", lambda: pull._requester.requestJsonAndCheck(
                "GET", pull.url, headers={"Accept": DIFF_MEDIA}))
        except GitHubError as err:
            if err.kind != "too_large":
                raise
            files = self.caller.call("list the PR's files", lambda: list(pull.get_files()))
            text, skipped = diff_from_files(files)
            return DiffSource(text, "files", skipped)
        return DiffSource(data.get("data", "") if isinstance(data, dict) else "", "diff")

    def review_comments(self) -> tuple[ExistingComment, ...]:
        found = self.caller.call("list review comments", lambda: list(self._pull.get_review_comments()))
        self._comments = {c.id: c for c in found}
        return tuple(_existing(c) for c in found)

    def create_review(self, body: str, comments: list[dict[str, Any]]) -> str:
        """Posts one review; returns its URL. 5xx and lost answers raise at once (``unsafe``)."""
        from github.Commit import Commit

        assert self.ref is not None
        # A Commit built from the sha we already have: PyGithub wants the object, not another GET.
        commit = Commit(self._pull._requester, {}, {"sha": self.ref.head_sha}, completed=True)
        review = self.caller.call("post the review", lambda: self._pull.create_review(
            commit=commit, body=body, event="COMMENT", comments=comments), unsafe=True)
        return review.html_url or f"{self.ref.html_url}#pullrequestreview-{review.id}"

    def delete_comment(self, comment_id: int) -> None:
        comment = self._comments[comment_id]
        try:
            self.caller.call("delete an outdated comment", comment.delete)
        except GitHubError as err:
            if err.kind != "not_found":  # a retry after a lost answer finds it gone: done
                raise


def _existing(comment: Any) -> ExistingComment:
    # The raw JSON, not PyGithub's properties: a key GitHub leaves out (in_reply_to_id on a
    # top-level comment) would make PyGithub fetch the comment again, one GET per comment.
    raw = comment._rawData
    found = MARKER_RE.search(raw.get("body") or "")
    return ExistingComment(int(raw["id"]), found.group(1) if found else None, raw.get("path") or "",
                           raw.get("line"), raw.get("in_reply_to_id"), raw.get("html_url") or "")


def diff_from_files(files: Iterable[Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The files endpoint's patches as one git diff; files without a patch are skipped."""
    parts, skipped = [], []
    for f in files:
        if f.patch is None:
            skipped.append((f.filename, "GitHub sent no patch (a binary or very large file)"))
            continue
        parts.append(_file_header(f.filename, f.previous_filename, f.status) + f.patch.rstrip("\n") + "\n")
    return "".join(parts), tuple(skipped)


def _file_header(path: str, previous: str | None, status: str) -> str:
    old = previous or path
    lines = [f"diff --git a/{old} b/{path}"]
    if status == "added":
        lines += ["new file mode 100644", "--- /dev/null", f"+++ b/{path}"]
    elif status == "removed":
        lines += ["deleted file mode 100644", f"--- a/{old}", "+++ /dev/null"]
    else:
        if status == "renamed" and previous:
            lines += [f"rename from {old}", f"rename to {path}"]
        lines += [f"--- a/{old}", f"+++ b/{path}"]
    return "\n".join(lines) + "\n"
