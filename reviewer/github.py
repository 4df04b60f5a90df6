"""GitHub through PyGithub: read a PR's diff, post ONE review of checked haiku, idempotently.

    python -m reviewer.action                                       # the Action (docs/action.md)
    GITHUB_TOKEN=... python -m reviewer PR.diff --post --repo OWNER/NAME --pr N   # same code path

Reading. The diff comes from the API (``Accept: application/vnd.github.v3.diff``); no PR code is
checked out or run. GitHub refuses diffs over 300 files or 20k lines (406): then the per-file
patches of the files endpoint are rebuilt into one diff, and files GitHub sends no patch for
(binary, too large) are reported as skipped.

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
import re
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Sequence, TypeVar

from reviewer.action_config import PostingConfig
from reviewer.diff import Anchor, DiffFile, Hunk, anchor_problem
from reviewer.filters import DiffFilterConfig, select_hunks
from reviewer.results import HaikuComment, ReviewResult

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
                 policy: RetryPolicy = RetryPolicy(), throttle: bool = True, timeout: int = 30) -> None:
        from github import Auth, Github

        self.caller = Caller(policy, sleep)
        self._gh = Github(auth=Auth.Token(token), base_url=(api_url or DEFAULT_API_URL).rstrip("/"),
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
                           bool(head_repo and head_repo != (base.get("repo") or {}).get("full_name", repo)))
        return self.ref

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


# ----------------------------------------------------------------------------- bodies and fingerprints


def model_key(model: dict[str, Any]) -> str:
    """What part of a fingerprint names the model: backend, model, adapter."""
    return "/".join(str(model[k]) for k in ("backend", "model", "adapter") if model.get(k))


def fingerprint(path: str, hunk_text: str, model: str) -> str:
    return hashlib.sha256("\0".join((path, hunk_text, model)).encode("utf-8", "surrogatepass")).hexdigest()


def comment_body(comment: HaikuComment, fp: str) -> str:
    return comment.body + "\n\n" + MARKER.format(fp)


_FORBIDDEN = ("@", "http", "](", "<")


def body_problem(text: str, secrets: Sequence[str] = ()) -> str | None:
    """Why a body (ours: haiku + marker) must not be posted; None when it may. Deliberately
    independent of the generator's own checks: the last gate before a request."""
    plain = MARKER_RE.sub("", text)
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
        body = comment_body(comment, fp)
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
