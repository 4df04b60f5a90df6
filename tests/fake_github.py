"""A loopback server that speaks GitHub's REST API, for tests of the Action and the posting layer.

It fakes the world at its real boundary: PyGithub's own HTTP code talks to it over a socket.
``http.server`` in a thread on 127.0.0.1, mounted under ``/api/v3`` like GitHub Enterprise, so
the code under test must honour ``GITHUB_API_URL``::

    with FakeGitHub(token="ghs_x") as gh:
        pr = gh.add_pull(7, [FakeFile.edit("app.py", old_lines, new_lines)])
        gh.fail("POST", r"/reviews$", 502, after_write=True)     # the next matching request only
        ...                                                        # point the code at gh.base_url
        gh.reviews, gh.comments, gh.requests                       # what happened; no Authorization

Endpoints, exactly those the posting layer calls through PyGithub:

* ``GET /repos/{o}/{r}``; ``GET /repos/{o}/{r}/contents/{path}?ref=`` (a config file, base64);
* ``GET /repos/{o}/{r}/pulls/{n}`` (JSON, or the whole diff with ``Accept:
  application/vnd.github.v3.diff``: 406 over ``max_diff_files`` files or ``max_diff_lines`` lines);
* ``GET .../pulls/{n}/files`` and ``GET .../pulls/{n}/comments``: paginated (``per_page`` up to
  100, ``Link`` headers); a file GitHub has no patch for (binary, too large) comes without one;
* ``POST .../pulls/{n}/reviews``: 422 for the whole review when one comment's anchor is outside
  the diff, when ``start_line >= line``, when a range leaves its hunk, when ``commit_id`` is not
  the head, for a path in ``reject_paths`` (GitHub's reasons we cannot see coming) and for more
  than ``max_review_comments`` comments;
* ``DELETE /repos/{o}/{r}/pulls/comments/{id}``;
* ``GET /repos/{o}/{r}/collaborators/{login}/permission`` (``permissions``, default read).

tests/fake_github_app.py serves several such repositories behind one App (installations, JWTs,
installation tokens); a repository object then does not listen itself (``listen=False``).

Rules on every request: a wrong or missing token gets 401 "Bad credentials"; with
``read_only=True`` every write gets 403 "Resource not accessible by integration" (a fork PR's
token). Scripted faults (``fail``) answer the next matching requests with any status and headers:
secondary rate limits (403/429 with Retry-After), 5xx before or after the write took effect;
``stall`` answers late instead (a review created whose answer the client may never see).
The anchor rules are computed here from the patches, independently of ``reviewer.diff``.
"""

from __future__ import annotations

import base64
import difflib
import itertools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

PREFIX = "/api/v3"
DIFF_MEDIA = "application/vnd.github.v3.diff"
SECONDARY_LIMIT = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try "
                   "again. If you reach out to GitHub Support for help, please include the request ID.")
READ_ONLY = "Resource not accessible by integration"
_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_TIME = "2024-05-01T12:00:00Z"


# ----------------------------------------------------------------------------- data


@dataclass
class FakeFile:
    """One file of a PR as the files endpoint lists it; ``patch`` None: GitHub sends none."""

    filename: str
    status: str = "modified"  # added, removed, modified, renamed
    patch: str | None = None
    previous_filename: str | None = None

    @classmethod
    def edit(cls, path: str, old: list[str], new: list[str], status: str = "modified",
             previous: str | None = None, context: int = 3) -> "FakeFile":
        """A file whose patch is difflib's unified diff of ``old`` -> ``new`` (lines without ends)."""
        lines = list(difflib.unified_diff(old, new, lineterm="", n=context))[2:]  # drop ---/+++
        return cls(path, status, "\n".join(lines), previous)

    @classmethod
    def added(cls, path: str, lines: list[str]) -> "FakeFile":
        return cls.edit(path, [], lines, status="added")

    def hunks(self) -> list[dict[str, Any]]:
        """Per hunk: the line numbers a comment may use on each side (GitHub's rule)."""
        out: list[dict[str, Any]] = []
        old = new = 0
        for line in (self.patch or "").split("\n"):
            match = _HEADER.match(line)
            if match:
                old, new = int(match.group(1)), int(match.group(3))
                out.append({"LEFT": set(), "RIGHT": set()})
            elif out and line[:1] in ("+", "-", " "):
                if line[:1] != "+":
                    out[-1]["LEFT"].add(old)
                    old += 1
                if line[:1] != "-":
                    out[-1]["RIGHT"].add(new)
                    new += 1
        return out

    def diff_text(self) -> str:
        """This file in a ``git diff``, as the .diff media type sends it."""
        old, new = self.previous_filename or self.filename, self.filename
        head = [f"diff --git a/{old} b/{new}"]
        if self.status == "added":
            head.append("new file mode 100644")
        elif self.status == "removed":
            head.append("deleted file mode 100644")
        elif self.status == "renamed":
            head += ["similarity index 90%", f"rename from {old}", f"rename to {new}"]
        if self.patch is None:
            return "\n".join(head + [f"Binary files a/{old} and b/{new} differ"]) + "\n"
        head.append("index 1111111..2222222" + ("" if self.status in ("added", "removed") else " 100644"))
        head.append("--- /dev/null" if self.status == "added" else f"--- a/{old}")
        head.append("+++ /dev/null" if self.status == "removed" else f"+++ b/{new}")
        return "\n".join(head) + "\n" + self.patch + "\n"


@dataclass
class FakePull:
    number: int
    files: list[FakeFile]
    head_sha: str
    base_sha: str = "b" * 40
    head_repo: str = ""  # "someone/fork" for a PR from a fork; empty: the same repository
    draft: bool = False
    state: str = "open"


@dataclass(frozen=True)
class Fault:
    """Answer the next ``times`` requests matching ``method`` and the ``path`` regex with
    ``status``; ``after_write``: do the work first (the review is created), then fail."""

    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Server Error"
    after_write: bool = False
    delay: float = 0.0  # wait this long before answering; with status 0 the answer is the normal one


class Reply(Exception):
    """Raised by a handler to answer with a status and a JSON payload."""

    def __init__(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.payload, self.headers = status, payload, headers or {}


def _error(status: int, message: str, **extra: Any) -> Reply:
    return Reply(status, {"message": message, "documentation_url": "https://docs.github.com/rest",
                          "status": str(status), **extra})


# ----------------------------------------------------------------------------- the server


class FakeGitHub:
    def __init__(self, token: str = "ghs_faketoken0123456789abcdef", *, repo: str = "octo/demo",
                 read_only: bool = False, bot_login: str = "github-actions[bot]",
                 max_diff_files: int = 300, max_diff_lines: int = 20000,
                 max_review_comments: int = 30, listen: bool = True) -> None:
        self.token, self.repo, self.read_only, self.bot_login = token, repo, read_only, bot_login
        self.max_diff_files, self.max_diff_lines = max_diff_files, max_diff_lines
        self.max_review_comments = max_review_comments
        self.pulls: dict[int, FakePull] = {}
        self.files_in_repo: dict[str, str] = {}  # path -> text, served by the contents endpoint
        self.reject_paths: set[str] = set()  # comments on these paths make a review fail (422)
        self.permissions: dict[str, str] = {}  # login -> admin, write, read, none (default: read)
        self.comments: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []  # Authorization stripped
        self._faults: list[Fault] = []
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self.front: Any = None  # the server that serves this repository (tests/fake_github_app.py)
        if listen:
            self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
            self._httpd.daemon_threads = True
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    # ------------------------------------------------------------------ set-up

    @property
    def base_url(self) -> str:
        if self.front is not None:
            return self.front.base_url
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{PREFIX}"

    def add_pull(self, number: int, files: list[FakeFile], head_sha: str = "a" * 40, **extra: Any) -> FakePull:
        self.pulls[number] = FakePull(number, list(files), head_sha, **extra)
        return self.pulls[number]

    def push(self, number: int, files: list[FakeFile], head_sha: str) -> None:
        """A new push: new files and head; comments whose line left the diff become outdated
        (GitHub then reports ``line: null``)."""
        pull = self.pulls[number]
        pull.files, pull.head_sha = list(files), head_sha
        for comment in self.comments:
            if comment["line"] is not None and self._anchor_problem(pull, comment):
                comment["line"] = None

    def add_reply(self, comment_id: int, body: str = "nice one", login: str = "octocat") -> dict[str, Any]:
        parent = next(c for c in self.comments if c["id"] == comment_id)
        reply = self._comment(parent["pull"], {"path": parent["path"], "line": parent["line"],
                                               "side": parent["side"], "body": body}, None, login)
        reply["in_reply_to_id"] = comment_id
        self.comments.append(reply)
        return reply

    def fail(self, method: str, path: str, status: int, *, times: int = 1, headers: dict[str, str] | None = None,
             message: str = "Server Error", after_write: bool = False) -> None:
        fault = Fault(method, path, status, dict(headers or {}), message, after_write)
        with self._lock:
            self._faults.extend([fault] * times)

    def stall(self, method: str, path: str, seconds: float, *, times: int = 1, after_write: bool = True) -> None:
        """The next matching requests are answered normally, but only after ``seconds`` (with
        ``after_write`` the work is done first: a review is created, its answer is late)."""
        fault = Fault(method, path, 0, {}, "", after_write, seconds)
        with self._lock:
            self._faults.extend([fault] * times)

    def rate_limit(self, method: str, path: str, status: int = 403, retry_after: int = 1, times: int = 1) -> None:
        self.fail(method, path, status, times=times, headers={"Retry-After": str(retry_after)},
                  message=SECONDARY_LIMIT)

    def start(self) -> "FakeGitHub":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FakeGitHub":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ queries for tests

    def posted(self, number: int | None = None) -> list[dict[str, Any]]:
        """Top-level review comments (not replies), in order."""
        return [c for c in self.comments if c["in_reply_to_id"] is None
                and (number is None or c["pull"] == number)]

    def diff_of(self, number: int) -> str:
        return "".join(f.diff_text() for f in self.pulls[number].files)

    # ------------------------------------------------------------------ dispatch

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: Any) -> Reply:
        parts = urlsplit(raw_path)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body,
                                  "headers": {k: v for k, v in headers.items() if k.lower() != "authorization"}})
        if not path.startswith(PREFIX):
            return _error(404, "Not Found")
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        if auth not in (f"token {self.token}", f"Bearer {self.token}"):
            return _error(401, "Bad credentials")
        route = path[len(PREFIX):]
        return self.answer(method, route, query, headers, body, self._take_fault(method, route))

    def answer(self, method: str, route: str, query: dict[str, str], headers: dict[str, str], body: Any,
               fault: Fault | None) -> Reply:
        """One authorised request on this repository, with its scripted fault if any."""
        if fault is not None and not fault.after_write:
            time.sleep(fault.delay)
            if fault.status:
                return Reply(fault.status, {"message": fault.message}, fault.headers)
        if method != "GET" and self.read_only:
            return _error(403, READ_ONLY)
        try:
            reply = self._route(method, route, query, headers, body)
        except Reply as answer:
            reply = answer
        if fault is not None and fault.after_write:  # the work is done; the answer is late or lost
            time.sleep(fault.delay)
            if fault.status:
                return Reply(fault.status, {"message": fault.message}, fault.headers)
        return reply

    def _take_fault(self, method: str, route: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.method == method and re.search(fault.path, route):
                    return self._faults.pop(index)
        return None

    def _route(self, method: str, route: str, query: dict[str, str], headers: dict[str, str], body: Any) -> Reply:
        owner_repo = "/repos/" + self.repo
        if not route.startswith(owner_repo):
            raise _error(404, "Not Found")
        rest = route[len(owner_repo):]
        table = (
            ("GET", r"", lambda m: Reply(200, self._repo_json())),
            ("GET", r"/contents/(.+)", lambda m: self._contents(unquote(m.group(1)))),
            ("GET", r"/pulls/(\d+)", lambda m: self._pull(int(m.group(1)), headers)),
            ("GET", r"/pulls/(\d+)/files", lambda m: self._page(self._files_json(int(m.group(1))), route, query)),
            ("GET", r"/pulls/(\d+)/comments", lambda m: self._page(self._comments_of(int(m.group(1))), route, query)),
            ("POST", r"/pulls/(\d+)/reviews", lambda m: self._create_review(int(m.group(1)), body)),
            ("DELETE", r"/pulls/comments/(\d+)", lambda m: self._delete(int(m.group(1)))),
            ("GET", r"/collaborators/([^/]+)/permission", lambda m: self._permission(unquote(m.group(1)))),
        )
        for verb, pattern, answer in table:
            match = re.fullmatch(pattern, rest)
            if verb == method and match:
                return answer(match)
        raise _error(404, "Not Found")

    # ------------------------------------------------------------------ endpoints

    def _repo_json(self) -> dict[str, Any]:
        owner, name = self.repo.split("/")
        return {"id": 1, "name": name, "full_name": self.repo, "owner": {"login": owner, "id": 2},
                "private": False, "default_branch": "main", "url": f"{self.base_url}/repos/{self.repo}",
                "html_url": f"https://github.example/{self.repo}",
                "permissions": {"pull": True, "push": not self.read_only}}

    def _permission(self, login: str) -> Reply:
        level = self.permissions.get(login, "read")
        return Reply(200, {"permission": level, "role_name": level,
                           "user": {"login": login, "id": 9, "type": "User"}})

    def _contents(self, path: str) -> Reply:
        if path not in self.files_in_repo:
            raise _error(404, "Not Found")
        data = self.files_in_repo[path].encode("utf-8")
        return Reply(200, {"type": "file", "encoding": "base64", "size": len(data), "name": path.rsplit("/", 1)[-1],
                           "path": path, "sha": "c" * 40, "content": base64.b64encode(data).decode("ascii"),
                           "url": f"{self.base_url}/repos/{self.repo}/contents/{quote(path)}"})

    def _pull_or_404(self, number: int) -> FakePull:
        if number not in self.pulls:
            raise _error(404, "Not Found")
        return self.pulls[number]

    def _pull(self, number: int, headers: dict[str, str]) -> Reply:
        pull = self._pull_or_404(number)
        if DIFF_MEDIA in (headers.get("Accept") or headers.get("accept") or ""):
            return self._diff(pull)
        url = f"{self.base_url}/repos/{self.repo}/pulls/{number}"
        repo = self._repo_json()
        head_repo = dict(repo, full_name=pull.head_repo, fork=True) if pull.head_repo else repo
        return Reply(200, {
            "id": 500 + number, "number": number, "title": f"PR {number}", "url": url,
            "html_url": f"https://github.example/{self.repo}/pull/{number}", "diff_url": url + ".diff",
            "head": {"sha": pull.head_sha, "ref": "feature", "label": "someone:feature", "repo": head_repo},
            "base": {"sha": pull.base_sha, "ref": "main", "label": "octo:main", "repo": repo},
            "user": {"login": "someone", "id": 3}, "changed_files": len(pull.files), "draft": pull.draft,
            "state": pull.state})

    def _diff(self, pull: FakePull) -> Reply:
        text = "".join(f.diff_text() for f in pull.files)
        if len(pull.files) > self.max_diff_files:
            raise _too_large(f"Sorry, the diff exceeded the maximum number of files ({self.max_diff_files}).")
        if text.count("\n") > self.max_diff_lines:
            raise _too_large(f"Sorry, the diff exceeded the maximum number of lines ({self.max_diff_lines}).")
        return Reply(200, text.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"})

    def _files_json(self, number: int) -> list[dict[str, Any]]:
        out = []
        for f in self._pull_or_404(number).files:
            entry: dict[str, Any] = {"sha": "d" * 40, "filename": f.filename, "status": f.status,
                                     "additions": 0, "deletions": 0, "changes": 0}
            if f.patch is not None:
                entry["patch"] = f.patch
            if f.previous_filename:
                entry["previous_filename"] = f.previous_filename
            out.append(entry)
        return out

    def _comments_of(self, number: int) -> list[dict[str, Any]]:
        self._pull_or_404(number)
        return [self._public(c) for c in self.comments if c["pull"] == number]

    def _page(self, items: list[dict[str, Any]], route: str, query: dict[str, str]) -> Reply:
        per_page = max(1, min(100, int(query.get("per_page", 30))))
        page = max(1, int(query.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            links.append(f'<{self.base_url}{route}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{self.base_url}{route}?per_page={per_page}&page={last}>; rel="last"')
        chunk = items[(page - 1) * per_page: page * per_page]
        return Reply(200, chunk, {"Link": ", ".join(links)} if links else {})

    def _create_review(self, number: int, body: Any) -> Reply:
        pull = self._pull_or_404(number)
        if not isinstance(body, dict):
            raise _error(400, "Problems parsing JSON")
        comments = body.get("comments") or []
        problem = self._review_problem(pull, body, comments)
        if problem:
            raise _error(422, "Unprocessable Entity", errors=[problem])
        review_id = next(self._ids)
        review = {"id": review_id, "user": {"login": self.bot_login, "id": 41898282, "type": "Bot"},
                  "body": body.get("body") or "", "state": "COMMENTED", "commit_id": body.get("commit_id"),
                  "html_url": f"https://github.example/{self.repo}/pull/{number}#pullrequestreview-{review_id}",
                  "pull_request_url": f"{self.base_url}/repos/{self.repo}/pulls/{number}",
                  "submitted_at": _TIME, "event": body.get("event"), "comments": len(comments)}
        self.reviews.append(review)
        for spec in comments:
            self.comments.append(self._comment(number, spec, review_id, self.bot_login))
        return Reply(200, {k: v for k, v in review.items() if k not in ("event", "comments")})

    def _review_problem(self, pull: FakePull, body: dict[str, Any], comments: list[Any]) -> str | None:
        if body.get("commit_id") not in (None, pull.head_sha):
            return "commit_id is not the head of the pull request"
        if body.get("event") not in (None, "COMMENT", "APPROVE", "REQUEST_CHANGES"):
            return f"Unknown event {body.get('event')!r}"
        if len(comments) > self.max_review_comments:
            return f"Too many comments in one review ({len(comments)} > {self.max_review_comments})"
        if not comments and not body.get("body"):
            return "Body is required for a review without comments"
        for spec in comments:
            problem = self._anchor_problem(pull, spec) if isinstance(spec, dict) else "comment is not an object"
            if problem:
                return problem
        return None

    def _anchor_problem(self, pull: FakePull, spec: dict[str, Any]) -> str | None:
        if not spec.get("body"):
            return "Body can't be blank"
        target = next((f for f in pull.files if f.filename == spec.get("path") and f.patch is not None), None)
        if target is None:
            return "Path could not be resolved"
        if spec.get("path") in self.reject_paths:
            return "Pull request review thread diff hunk can't be blank"
        side, line, start = spec.get("side", "RIGHT"), spec.get("line"), spec.get("start_line")
        hunk = next((h for h in target.hunks() if side in h and line in h[side]), None)
        if hunk is None:
            return "Pull request review thread line must be part of the diff"
        if start is None:
            return None
        if spec.get("start_side", side) != side or not isinstance(start, int) or start >= line:
            return "start_line must precede line on the same side"
        if start not in hunk[side]:
            return "Pull request review thread start line must be part of the same hunk as the line"
        return None

    def _comment(self, number: int, spec: dict[str, Any], review_id: int | None, login: str) -> dict[str, Any]:
        comment_id = next(self._ids)
        return {"id": comment_id, "pull": number, "pull_request_review_id": review_id,
                "body": spec.get("body", ""), "path": spec.get("path"), "line": spec.get("line"),
                "original_line": spec.get("line"), "side": spec.get("side", "RIGHT"),
                "start_line": spec.get("start_line"), "start_side": spec.get("start_side"),
                "in_reply_to_id": None, "commit_id": self.pulls[number].head_sha,
                "user": {"login": login, "id": 7, "type": "Bot" if login.endswith("[bot]") else "User"}}

    def _public(self, comment: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in comment.items() if k != "pull"}
        out.update(url=f"{self.base_url}/repos/{self.repo}/pulls/comments/{comment['id']}",
                   html_url=f"https://github.example/{self.repo}/pull/{comment['pull']}#discussion_r{comment['id']}",
                   pull_request_url=f"{self.base_url}/repos/{self.repo}/pulls/{comment['pull']}",
                   created_at=_TIME, updated_at=_TIME, original_commit_id=comment["commit_id"],
                   diff_hunk="@@ -1 +1 @@")
        if out["in_reply_to_id"] is None:
            del out["in_reply_to_id"]  # GitHub leaves the key out on top-level comments
        return out

    def _delete(self, comment_id: int) -> Reply:
        found = [c for c in self.comments if c["id"] == comment_id]
        if not found:
            raise _error(404, "Not Found")
        self.comments.remove(found[0])
        return Reply(204, None)


def _too_large(message: str) -> Reply:
    return _error(406, message + " Consider using 'List pull requests files' API or locally cloning the repository instead.",
                  errors=[{"resource": "PullRequest", "field": "diff", "code": "too_large"}])


def _handler_for(server: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body leave in two writes: without this, Nagle + delayed ACK add 40 ms each
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._answer(None)

        def do_DELETE(self) -> None:
            self._answer(self._body())

        def do_POST(self) -> None:
            self._answer(self._body())

        def _body(self) -> Any:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                return json.loads(raw) if raw else None
            except json.JSONDecodeError:
                return raw.decode("utf-8", "replace")

        def _answer(self, body: Any) -> None:
            reply = server.handle(self.command, self.path, dict(self.headers), body)
            if isinstance(reply.payload, bytes):
                data = reply.payload
            else:
                data = b"" if reply.payload is None else json.dumps(reply.payload).encode("utf-8")
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json; charset=utf-8", **reply.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
