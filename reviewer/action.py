"""The GitHub Action: ``python -m reviewer.action``, the Docker image's entry point.

    # what the runner does for `uses: lgtm-575/lgtm-575@v1` (docs/action.md has the workflows)
    INPUT_GITHUB_TOKEN=$TOKEN GITHUB_REPOSITORY=o/r GITHUB_EVENT_PATH=event.json \\
        INPUT_BACKEND=fake INPUT_FAKE_OUTPUTS=haiku.json INPUT_DRY_RUN=true python -m reviewer.action
    # the CLI posts on the same code path:
    GITHUB_TOKEN=$TOKEN python -m reviewer PR.diff --post --repo o/r --pr 7

One run: mask the token (``::add-mask::``), find the PR (event payload or ``pr_number``), read the
config file at the PR's base commit through the API (a PR cannot change how it is reviewed; a
local file is the fallback), read the diff through the API (never a checkout: no PR code runs),
write the haiku (``reviewer.pipeline.run_review``), post them (``reviewer.github.publish``), then
write the job summary (a row per hunk), the outputs (comments_posted, haiku_valid,
haiku_rejected, review_url, results_json) and the results file. ``post_from`` posts a results
file written earlier instead of generating: the second half of the fork-safe pattern, where the
file is untrusted and is checked again (head sha, anchors, form, safety).

Exit status: 0 done, also when the token may not write (a fork PR: ``::warning::`` and every
haiku in the job summary) unless ``fail_on_error``; 2 something the user can fix (bad config or
input, no token, a token GitHub refuses, no PR): ``::error::`` and one line; 1 an API failure
that outlasted the retries with ``fail_on_error``, a model that failed, or an internal error
(one line; LGTM575_DEBUG=1 for the traceback). The token never reaches any output: every write
goes through ``Workflow.redact``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

from reviewer.action_config import Settings, build_settings, inputs_from_env, load_config_text
from reviewer.action_report import RESULTS_VERSION, md, outputs, render_summary, results_payload
from reviewer.backends.base import BackendError
from reviewer.cli_post import add_post_flags, post_from_cli  # noqa: F401 - the CLI's --post, for callers of old
from reviewer.diff import Anchor, DiffError, DiffFile
from reviewer.filters import ConfigError
from reviewer.github import DEFAULT_API_URL, DiffSource, GitHubClient, GitHubError, PostReport, PullRef, RetryPolicy
from reviewer.pull_review import (DEFAULT_CONFIG, config_at_base, fetch_files, head_reader, post_haiku,
                                  write_haiku)
from reviewer.results import HaikuComment, Rejection, ReviewResult

DEFAULT_RESULTS = "lgtm-575-results.json"


class UserError(Exception):
    """Something the user can fix; the message says how, in one line."""


class NothingToPost(Exception):
    """A benign reason to stop early (the PR moved on since the results were computed)."""


# ----------------------------------------------------------------------------- the runner's side


class Workflow:
    """Workflow commands on stdout, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY. Every text written
    anywhere passes through ``redact``, so a secret can only appear in its own add-mask line."""

    def __init__(self, env: Mapping[str, str], stream: TextIO) -> None:
        self.stream = stream
        self.output_path = env.get("GITHUB_OUTPUT", "")
        self.summary_path = env.get("GITHUB_STEP_SUMMARY", "")
        self.secrets: list[str] = []

    def mask(self, secret: str) -> None:
        if secret and secret not in self.secrets:
            self.stream.write(f"::add-mask::{secret}\n")  # the runner hides it in every later log line
            self.secrets.append(secret)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if len(secret) >= 6:  # a real token; a one-letter test value would shred every line
                text = text.replace(secret, "***")
        return text

    def log(self, line: str) -> None:
        self.stream.write(self.redact(line) + "\n")
        self.stream.flush()

    def command(self, name: str, message: str) -> None:
        one_line = " ".join(self.redact(message).split())
        self.log(f"::{name}::" + one_line.replace("%", "%25"))

    def outputs(self, values: Mapping[str, str]) -> None:
        """Multiline-safe: each value in a heredoc whose delimiter it cannot contain."""
        if not self.output_path:
            return
        with open(self.output_path, "a", encoding="utf-8") as handle:
            for name, value in values.items():
                value = self.redact(str(value))
                delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
                handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    def summary(self, markdown: str) -> None:
        if self.summary_path:
            with open(self.summary_path, "a", encoding="utf-8") as handle:
                handle.write(self.redact(markdown))


# ----------------------------------------------------------------------------- where the run is


@dataclass(frozen=True)
class Context:
    repo: str
    number: int | None  # None in post_from mode until the results file names it
    api_url: str
    token: str
    event_name: str
    expected_head: str  # workflow_run: the commit that workflow ran on; the PR must still be there
    config_path: str
    post_from: str
    results_file: str
    workspace: Path


def context_from_env(env: Mapping[str, str], inputs: Mapping[str, str]) -> Context:
    token = (inputs.get("github_token") or env.get("GITHUB_TOKEN", "")).strip()
    if not token:
        raise UserError("no GitHub token: set the github_token input (its default, the job's "
                        "GITHUB_TOKEN, needs `permissions: pull-requests: write` to post)")
    repo = env.get("GITHUB_REPOSITORY", "").strip()
    if repo.count("/") != 1:
        raise UserError(f"GITHUB_REPOSITORY must be OWNER/NAME, got {repo!r}")
    event = _event(env.get("GITHUB_EVENT_PATH", ""))
    return Context(repo, _pull_number(inputs, event), env.get("GITHUB_API_URL") or DEFAULT_API_URL, token,
                   env.get("GITHUB_EVENT_NAME", ""), str((event.get("workflow_run") or {}).get("head_sha") or ""),
                   inputs.get("config", "").strip() or DEFAULT_CONFIG, inputs.get("post_from", "").strip(),
                   inputs.get("results_file", "").strip() or DEFAULT_RESULTS,
                   Path(env.get("GITHUB_WORKSPACE") or os.getcwd()))


def _event(path: str) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the event payload GITHUB_EVENT_PATH={path}: {err}") from None
    return data if isinstance(data, dict) else {}


def _pull_number(inputs: Mapping[str, str], event: dict[str, Any]) -> int | None:
    given = inputs.get("pr_number", "").strip()
    if given:
        if not given.isdigit():
            raise UserError(f"input pr_number: expected a pull request number, got {given!r}")
        return int(given)
    if isinstance(event.get("pull_request"), dict):
        return int(event["pull_request"].get("number") or event["number"])
    issue = event.get("issue")
    if isinstance(issue, dict) and issue.get("pull_request"):
        return int(issue["number"])
    runs = (event.get("workflow_run") or {}).get("pull_requests") or []
    return int(runs[0]["number"]) if runs else None


# ----------------------------------------------------------------------------- one run


@dataclass
class Run:
    """What one run found and did, gathered for the summary, outputs and results file."""

    context: Context
    pull: PullRef | None = None
    settings: Settings | None = None
    source: DiffSource | None = None
    result: ReviewResult | None = None
    report: PostReport | None = None
    timings: dict[str, float] = field(default_factory=dict)
    config_source: str = "defaults"


def main(env: Mapping[str, str] | None = None, *, stream: TextIO | None = None,
         sleep: Callable[[float], None] = time.sleep, throttle: bool = True) -> int:
    """The Action. ``sleep`` and ``throttle`` exist for tests (no real waits, no spacing)."""
    env = dict(os.environ if env is None else env)
    flow = Workflow(env, stream or sys.stdout)
    try:
        return _run(env, flow, sleep, throttle)
    except (UserError, ConfigError, DiffError) as err:
        return _fail(flow, str(err), 2)
    except BackendError as err:  # a model or server that cannot be used: the message says which
        return _fail(flow, str(err), 2)
    except NothingToPost as err:
        flow.command("warning", f"lgtm-575: {err}")
        flow.summary(f"### lgtm-575\n\n{md(str(err))}\n")
        return 0
    except GitHubError as err:
        hint = " (check the github_token input)" if err.kind == "auth" else ""
        return _fail(flow, f"{err}{hint}", 2 if err.kind in ("auth", "not_found") else 1)
    except Exception as err:  # noqa: BLE001 - the program's edge: one line, not a traceback
        if env.get("LGTM575_DEBUG"):
            raise
        return _fail(flow, f"internal error: {type(err).__name__}: {err} (set LGTM575_DEBUG=1 for the traceback)", 1)


def _fail(flow: Workflow, message: str, status: int) -> int:
    flow.command("error", f"lgtm-575: {message}")
    flow.summary(f"### lgtm-575\n\n**Error:** {md(message)}\n")
    return status


def _run(env: dict[str, str], flow: Workflow, sleep: Callable[[float], None], throttle: bool) -> int:
    started = time.perf_counter()
    inputs = inputs_from_env(env)
    token = (inputs.get("github_token") or env.get("GITHUB_TOKEN", "")).strip()
    flow.mask(token)  # first, before anything else is printed
    flow.mask(inputs.get("openai_api_key", "").strip())
    run = Run(context_from_env(env, inputs))
    client = GitHubClient(run.context.token, run.context.api_url, sleep=sleep, throttle=throttle)
    saved = load_saved(_resolve(run.context.workspace, run.context.post_from), run.context.repo) \
        if run.context.post_from else None
    run.pull = _open_pull(client, run.context, saved)
    flow.log(f"lgtm-575: {run.pull.repo}#{run.pull.number} at {run.pull.head_sha[:12]}")
    run.settings = _settings(client, run, inputs, flow)
    client.caller.policy = RetryPolicy(retries=run.settings.posting.max_retries, max_wait=run.settings.posting.max_wait)
    run.source, files = _fetch(client, flow, run)
    run.timings["fetch"] = round(time.perf_counter() - started, 3)
    run.result = _review(run, files, saved, flow, head_reader(client, run.pull, flow.log))
    return _post_and_report(client, run, files, flow, started)


def _open_pull(client: GitHubClient, context: Context, saved: "Saved | None") -> PullRef:
    number = context.number if saved is None else saved.number
    if number is None:
        raise UserError(f"no pull request in this {context.event_name or 'run'} event: run on pull_request, "
                        "or set the pr_number input")
    pull = client.open_pull(context.repo, number)
    if saved is not None:
        heads = {saved.head_sha} | ({context.expected_head} if context.expected_head else set())
        if heads != {pull.head_sha}:
            raise NothingToPost(f"the results in {context.post_from} are for commit {saved.head_sha[:12]}, but "
                            f"#{number} is now at {pull.head_sha[:12]}: nothing posted (a newer run will post)")
    return pull


def _settings(client: GitHubClient, run: Run, inputs: Mapping[str, str], flow: Workflow) -> Settings:
    path = run.context.config_path
    text, run.config_source = config_at_base(
        client, run.pull, path, local=_resolve(run.context.workspace, path),
        warn=lambda problem: flow.command("warning", f"lgtm-575: {problem}; using the inputs"))
    values = load_config_text(text, path) if text is not None else {}
    flow.log(f"lgtm-575: settings from {run.config_source} and the inputs")
    return build_settings(values, inputs, path)


def _resolve(workspace: Path, path: str) -> Path:
    return Path(path) if os.path.isabs(path) else workspace / path


def _fetch(client: GitHubClient, flow: Workflow, run: Run) -> tuple[DiffSource, tuple[DiffFile, ...]]:
    return fetch_files(client, lambda message: flow.log(f"lgtm-575: {message}"))


def _review(run: Run, files: Sequence[DiffFile], saved: "Saved | None", flow: Workflow,
            head_file: Callable[[str], str | None]) -> ReviewResult:
    if saved is not None:
        return checked_saved(saved.result, files)
    assert run.settings is not None and run.source is not None
    return write_haiku(run.source, run.settings, head_file=head_file,
                       progress=lambda done, total: flow.log(f"lgtm-575: {done}/{total} hunks written"))


def _post_and_report(client: GitHubClient, run: Run, files: Sequence[DiffFile], flow: Workflow, started: float) -> int:
    assert run.settings is not None and run.result is not None
    begun = time.perf_counter()
    run.report = post_haiku(client, run.result, files, run.settings, flow.secrets)
    run.timings["post"] = round(time.perf_counter() - begun, 3)
    run.timings["total"] = round(time.perf_counter() - started, 3)
    results_path = _write_results(run, flow)
    flow.summary(render_summary(run))
    flow.outputs(outputs(run, results_path))
    return _verdict(run, flow)


def _verdict(run: Run, flow: Workflow) -> int:
    report, posting = run.report, run.settings.posting
    for url in report.review_urls:
        flow.log(f"lgtm-575: posted review {url}")
    flow.log(f"lgtm-575: {report.posted} posted, {report.count('already posted')} already there, "
             f"{report.count('dropped')} dropped, {len(report.deleted)} outdated deleted")
    if not report.problem:
        return 0
    if report.read_only:
        message = ("the token may not post on this PR (a fork PR, or the workflow lacks `permissions: "
                   "pull-requests: write`); every haiku is in the job summary. See docs/action.md for the "
                   "fork-safe two-workflow pattern")
    else:
        message = f"posting stopped: {report.problem}; the rest is in the job summary"
    flow.command("error" if posting.fail_on_error else "warning", f"lgtm-575: {message}")
    return 1 if posting.fail_on_error else 0


# ----------------------------------------------------------------------------- saved results (post_from)


@dataclass(frozen=True)
class Saved:
    result: ReviewResult
    number: int
    head_sha: str


def load_saved(path: Path, repo: str) -> Saved:
    """A results file from an earlier run, checked for shape (it may come from an untrusted run)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pr = data["pull_request"]
        if data.get("version") != RESULTS_VERSION or data.get("repository") != repo:
            raise ValueError(f"version {RESULTS_VERSION} results for {repo} expected")
        comments = tuple(_saved_comment(entry) for entry in data.get("comments", []))
        rejected = tuple(Rejection(str(r["path"]), str(r["header"]), str(r["reason"])) for r in data.get("rejected", []))
        skipped = tuple({"path": str(s["path"]), "reason": str(s["reason"])} for s in data.get("skipped", []))
        model = {str(k): v for k, v in dict(data.get("model", {})).items() if isinstance(v, (str, int, float, bool))}
        result = ReviewResult(comments, rejected, skipped, model, {})
        return Saved(result, int(pr["number"]), str(pr["head_sha"]))
    except OSError as err:
        raise UserError(f"post_from: cannot read {path}: {err.strerror or err}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise UserError(f"post_from: {path} is not a lgtm-575 results file ({type(err).__name__}: {err})") from None


def _saved_comment(entry: dict[str, Any]) -> HaikuComment:
    start = entry.get("start_line")
    anchor = Anchor(str(entry["path"]), int(entry["line"]), str(entry["side"]), None if start is None else int(start))
    haiku = tuple(str(line) for line in entry["haiku"])
    syllables = tuple(int(n) for n in entry["syllables"])
    if len(haiku) != 3 or len(syllables) != 3 or anchor.side not in ("LEFT", "RIGHT"):
        raise ValueError("a comment needs three lines, three counts and a side")
    return HaikuComment(anchor, str(entry["header"]), haiku, syllables, str(entry["hunk_text"]))


def checked_saved(result: ReviewResult, files: Sequence[DiffFile]) -> ReviewResult:
    """Saved haiku as the posting gate must see them: each must still be strict 5-7-5, safe, and
    written for a hunk of the current diff; the others become rejections with the reason."""
    from harness.form import check_haiku
    from reviewer.safety import check_text

    texts = {}
    for diff_file in files:
        texts.setdefault(diff_file.path, []).extend(h.text for h in diff_file.hunks)
    kept, refused = [], list(result.rejected)
    for comment in result.comments:
        verdict = check_haiku(comment.body)
        problem = (check_text(comment.body) or (None if verdict.strict else "not strict 5-7-5")
                   or (None if any(comment.hunk_text and comment.hunk_text in t for t in texts.get(comment.anchor.path, []))
                       else "its hunk is not in the current diff"))
        if problem:
            refused.append(Rejection(comment.anchor.path, comment.header, f"saved haiku refused: {problem}"))
        else:
            kept.append(comment)
    return ReviewResult(tuple(kept), tuple(refused), result.skipped, result.model, result.timings)


def _write_results(run: Run, flow: Workflow) -> str:
    """Writes the results file; returns the path as the output gives it (relative to the workspace
    when it was given relative, so later steps and upload-artifact find it)."""
    name = run.context.results_file
    path = _resolve(run.context.workspace, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(flow.redact(json.dumps(results_payload(run), indent=2, ensure_ascii=False)) + "\n",
                    encoding="utf-8")
    return name


if __name__ == "__main__":
    raise SystemExit(main())
