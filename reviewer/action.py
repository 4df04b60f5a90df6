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
import re
import sys
import time
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

from reviewer.action_config import (PostingConfig, Settings, build_settings, inputs_from_env,
                                    load_config_text)
from reviewer.backends.base import BackendError
from reviewer.diff import Anchor, DiffError, DiffFile, parse_diff
from reviewer.filters import ConfigError, DiffFilterConfig
from reviewer.github import (DEFAULT_API_URL, DiffSource, GitHubClient, GitHubError, Outcome,
                             PostReport, PullRef, RetryPolicy, publish)
from reviewer.results import HaikuComment, Rejection, ReviewResult

DEFAULT_CONFIG = ".github/lgtm-575.yml"
DEFAULT_RESULTS = "lgtm-575-results.json"
RESULTS_VERSION = 1
MAX_SUMMARY_ROWS = 1000


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
    run.result = _review(run, files, saved, flow)
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
    source = f"{path} at the base commit"
    try:
        text = client.read_text(path, run.pull.base_sha) if run.pull else None
    except GitHubError as err:  # e.g. a token without contents: read
        flow.command("warning", f"lgtm-575: could not read {path} through the API ({err}); using the inputs")
        text = None
    if text is None and _resolve(run.context.workspace, path).is_file():
        text, source = _resolve(run.context.workspace, path).read_text(encoding="utf-8"), f"{path} (local file)"
    values = load_config_text(text, path) if text is not None else {}
    run.config_source = source if text is not None else "defaults (no config file)"
    flow.log(f"lgtm-575: settings from {run.config_source} and the inputs")
    return build_settings(values, inputs, path)


def _resolve(workspace: Path, path: str) -> Path:
    return Path(path) if os.path.isabs(path) else workspace / path


def _fetch(client: GitHubClient, flow: Workflow, run: Run) -> tuple[DiffSource, tuple[DiffFile, ...]]:
    source = client.fetch_diff()
    if source.source == "files":
        flow.log("lgtm-575: GitHub refused the whole diff (406, too large); rebuilt it from per-file patches")
    files = parse_diff(source.text)
    flow.log(f"lgtm-575: {len(files)} files in the diff")
    return source, files


def _review(run: Run, files: Sequence[DiffFile], saved: "Saved | None", flow: Workflow) -> ReviewResult:
    if saved is not None:
        return checked_saved(saved.result, files)
    from reviewer.pipeline import run_review  # the model stack loads only when a review runs

    assert run.settings is not None and run.source is not None
    result = run_review(run.source.text, run.settings.filters, run.settings.generation,
                        progress=lambda done, total: flow.log(f"lgtm-575: {done}/{total} hunks written"))
    extra = tuple({"path": path, "reason": reason} for path, reason in run.source.skipped)
    return ReviewResult(result.comments, result.rejected, result.skipped + extra, result.model, result.timings)


def _post_and_report(client: GitHubClient, run: Run, files: Sequence[DiffFile], flow: Workflow, started: float) -> int:
    assert run.settings is not None and run.result is not None
    posting = run.settings.posting
    begun = time.perf_counter()
    try:
        run.report = publish(client, run.result, files, run.settings.filters, posting, tuple(flow.secrets))
    except GitHubError as err:  # listing the PR's comments failed: nothing posted, nothing lost
        run.report = PostReport(tuple(Outcome(i, "", "not posted", str(err)) for i in range(len(run.result.comments))),
                                problem=str(err), read_only=err.kind == "forbidden")
    run.timings["post"] = round(time.perf_counter() - begun, 3)
    run.timings["total"] = round(time.perf_counter() - started, 3)
    results_path = _write_results(run, flow)
    flow.summary(render_summary(run))
    flow.outputs(_outputs(run, results_path))
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


# ----------------------------------------------------------------------------- results, outputs, summary


def _totals(run: Run) -> dict[str, int]:
    result, report = run.result, run.report
    return {"hunks": len(result.comments) + len(result.rejected), "haiku_valid": len(result.comments),
            "haiku_rejected": len(result.rejected), "skipped": len(result.skipped),
            "posted": report.posted, "would_post": report.count("would post"),
            "already_posted": report.count("already posted"), "dropped": report.count("dropped"),
            "over_cap": report.count("over cap"), "not_posted": report.count("not posted"),
            "outdated_deleted": len(report.deleted), "outdated_kept": len(report.kept)}


def results_payload(run: Run) -> dict[str, Any]:
    """Everything about the run, secrets removed; ``post_from`` reads it back."""
    data = run.result.to_json()
    for entry, comment, outcome in zip(data["comments"], run.result.comments, run.report.outcomes):
        entry.update(hunk_text=comment.hunk_text, fingerprint=outcome.fingerprint, status=outcome.status,
                     reason=outcome.reason, url=outcome.url)
    pull = run.pull
    data.update(
        version=RESULTS_VERSION, repository=pull.repo,
        pull_request={"number": pull.number, "head_sha": pull.head_sha, "base_sha": pull.base_sha,
                      "html_url": pull.html_url, "from_fork": pull.from_fork},
        diff_source=run.source.source, config_source=run.config_source, config=run.settings.resolved(),
        dry_run=run.settings.posting.dry_run, totals=_totals(run),
        posting={"review_urls": list(run.report.review_urls), "deleted": list(run.report.deleted),
                 "kept": [{"id": i, "reason": r} for i, r in run.report.kept],
                 "problem": run.report.problem, "read_only": run.report.read_only},
        timings={**run.result.timings, **run.timings})
    return data


def _write_results(run: Run, flow: Workflow) -> str:
    """Writes the results file; returns the path as the output gives it (relative to the workspace
    when it was given relative, so later steps and upload-artifact find it)."""
    name = run.context.results_file
    path = _resolve(run.context.workspace, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(flow.redact(json.dumps(results_payload(run), indent=2, ensure_ascii=False)) + "\n",
                    encoding="utf-8")
    return name


def _outputs(run: Run, results_path: str) -> dict[str, str]:
    return {"comments_posted": str(run.report.posted), "haiku_valid": str(len(run.result.comments)),
            "haiku_rejected": str(len(run.result.rejected)),
            "review_url": run.report.review_urls[0] if run.report.review_urls else "",
            "results_json": results_path}


_PLAIN = frozenset(" ,.;:'?!-_()/=+%")  # punctuation a haiku may hold and markdown leaves alone


def md(text: str) -> str:
    """Text from the diff or a model, inert in markdown: every character that could start markup,
    a mention, a table cell or HTML becomes a numeric entity, "://" and "www." are broken up so
    nothing autolinks, newlines become <br>. Letters and plain punctuation stay as they are, so
    a haiku reads the same in the summary as in its comment."""
    out = []
    for char in str(text):
        if char.isalnum() or char in _PLAIN:
            out.append(char)
        else:
            out.append("<br>" if char == "\n" else f"&#{ord(char)};")
    return "".join(out).replace("://", ":&#47;&#47;").replace("www.", "www&#46;")


def code(text: str) -> str:
    """A path or hunk header as a code span in a table cell: shown literally, never rendered."""
    text = " ".join(str(text).split())
    if not text:
        return ""
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text.replace('|', chr(92) + '|')}{pad}{ticks}"


_STATUS = {"posted": "posted", "would post": "dry run: would post", "already posted": "already posted",
           "dropped": "dropped", "over cap": "not posted: over max_comments", "not posted": "not posted"}


def summary_rows(run: Run) -> list[tuple[str, str, str, str, str]]:
    """(file, hunk, haiku or reason, status, link) per hunk: valid, rejected, skipped."""
    rows = []
    for comment, outcome in zip(run.result.comments, run.report.outcomes):
        status = _STATUS[outcome.status] + (f": {outcome.reason}" if outcome.status in ("dropped", "not posted") else "")
        rows.append((comment.anchor.path, comment.header, comment.body, status, outcome.url))
    rows += [(r.path, r.header, r.reason, "rejected: no valid haiku", "") for r in run.result.rejected]
    rows += [(s["path"], "", s["reason"], "skipped", "") for s in run.result.skipped]
    return rows


def render_summary(run: Run) -> str:
    pull, report, settings = run.pull, run.report, run.settings
    out = [f"### lgtm-575: 5-7-5 review of {md(pull.repo)}#{pull.number}", "", _headline(run), ""]
    rows = summary_rows(run)
    out += ["| File | Hunk | Haiku, or why not | Status |", "| --- | --- | --- | --- |"]
    out += [f"| {code(f)} | {code(h)} | {md(t)} | {_linked(md(s), url)} |" for f, h, t, s, url in rows[:MAX_SUMMARY_ROWS]]
    if len(rows) > MAX_SUMMARY_ROWS:  # GitHub keeps at most 1 MiB of summary per step
        out += ["", f"{len(rows) - MAX_SUMMARY_ROWS} more rows are in the results file ({md(run.context.results_file)})."]
    totals = " · ".join(md(f"{k.replace('_', ' ')} {v}") for k, v in _totals(run).items())
    model = ", ".join(f"{k} {v}" for k, v in run.result.model.items() if v not in ("", None))
    timings = " · ".join(md(f"{k} {v:.2f} s") for k, v in {**run.result.timings, **run.timings}.items())
    out += ["", f"**Totals:** {totals}", "", f"**Model:** {md(model or settings.generation.model)}",
            "", f"**Timings:** {timings}", ""]
    out += [f"- outdated comment {i}: {md(why)}" for i, why in report.kept]
    return "\n".join(out) + "\n"


def _linked(text: str, url: str) -> str:
    # URLs come from GitHub's answers; one that could break out of the link is left out
    return f"[{text}]({url})" if re.fullmatch(r"https?://[^\s()<>\[\]]+", url or "") else text


def _headline(run: Run) -> str:
    report = run.report
    if run.settings.posting.dry_run:
        return f"Dry run: nothing was posted; {report.count('would post')} haiku would be."
    links = " ".join(_linked(f"review {n}", url) for n, url in enumerate(report.review_urls, 1))
    line = f"Posted {report.posted} new haiku. {links}".strip()
    if report.problem:
        line += f" **Posting stopped:** {md(report.problem)}"
    return line


# ----------------------------------------------------------------------------- the CLI's --post


def add_post_flags(parser: Any) -> None:
    """``--post --repo OWNER/NAME --pr N`` and the posting settings, for ``python -m reviewer``."""
    group = parser.add_argument_group("posting to GitHub (the token comes from $GITHUB_TOKEN)")
    group.add_argument("--post", action="store_true", help="post the haiku as one review on --repo's PR --pr")
    group.add_argument("--repo", metavar="OWNER/NAME", help="the repository of the pull request")
    group.add_argument("--pr", type=int, metavar="N", help="the pull request number")
    for spec in fields(PostingConfig):
        flag = spec.metadata.get("flag")
        if not flag:
            continue
        if isinstance(spec.default, bool):
            import argparse

            group.add_argument(flag, dest=spec.name, default=None, action=argparse.BooleanOptionalAction,
                               help=f"{spec.metadata['help']} (default: {str(spec.default).lower()})")
        else:
            group.add_argument(flag, dest=spec.name, default=None, type=int, metavar="N",
                               help=f"{spec.metadata['help']} (default: {spec.default})")


def post_from_cli(args: Any, result: ReviewResult, *, env: Mapping[str, str] | None = None,
                  sleep: Callable[[float], None] = time.sleep, throttle: bool = True,
                  stream: TextIO | None = None) -> int:
    """Post a CLI run's result on the same path as the Action; 0 done, 2 usage, 1 not posted."""
    env = os.environ if env is None else env
    err = stream or sys.stderr
    token = env.get("GITHUB_TOKEN", "").strip()
    problem = ("--post needs --repo OWNER/NAME" if not args.repo or args.repo.count("/") != 1 else
               "--post needs --pr N" if not args.pr else
               "--post needs a token in $GITHUB_TOKEN" if not token else "")
    if problem:
        err.write(f"lgtm-575: {problem}\n")
        return 2
    given = {spec.name: getattr(args, spec.name) for spec in fields(PostingConfig) if getattr(args, spec.name, None) is not None}
    try:
        posting = PostingConfig(**given)
        filters = DiffFilterConfig(**{s.name: tuple(v) if isinstance(v, list) else v for s in fields(DiffFilterConfig)
                                      if (v := getattr(args, s.name, None)) is not None})
        client = GitHubClient(token, env.get("GITHUB_API_URL") or DEFAULT_API_URL, sleep=sleep, throttle=throttle,
                              policy=RetryPolicy(retries=posting.max_retries, max_wait=posting.max_wait))
        client.open_pull(args.repo, args.pr)
        files = parse_diff(client.fetch_diff().text)
        report = publish(client, result, files, filters, posting, (token,))
    except (GitHubError, ConfigError, DiffError) as error:
        err.write(" ".join(f"lgtm-575: {error}".replace(token, "***").split()) + "\n")
        return 2 if isinstance(error, ConfigError) or getattr(error, "kind", "") in ("auth", "not_found") else 1
    return _cli_report(report, err, token)


def _cli_report(report: PostReport, err: TextIO, token: str) -> int:
    for outcome in report.outcomes:
        if outcome.status not in ("posted", "already posted"):
            err.write(f"lgtm-575: haiku {outcome.index + 1}: {outcome.status}"
                      f"{': ' + outcome.reason if outcome.reason else ''}\n".replace(token, "***"))
    err.write(f"lgtm-575: {report.posted} posted, {report.count('already posted')} already there, "
              f"{len(report.deleted)} outdated deleted {' '.join(report.review_urls)}\n")
    if report.problem:
        err.write(f"lgtm-575: posting stopped: {report.problem}\n".replace(token, "***"))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
