"""One pull request's review through the API, the steps the Action and the App share.

    client = GitHubClient(token, api_url); pull = client.open_pull("octo/demo", 7)
    text, source = config_at_base(client, pull)              # .github/lgtm-575.yml at the base commit
    settings = build_settings(load_config_text(text, DEFAULT_CONFIG) if text else {}, inputs)
    source, files = fetch_files(client)                      # the diff through the API (406: per file)
    result = write_haiku(source, settings)                   # reviewer.pipeline.run_review
    report = post_haiku(client, result, files, settings, secrets)   # reviewer.github.publish

``reviewer.action`` (the Action) and ``reviewer.app.job`` (the App's unit of work) call these
same functions; what is theirs alone (the Action's inputs, outputs and job summary; the App's
queue, tokens and permission checks) stays in their own modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from reviewer.action_config import Settings
from reviewer.backends.base import Backend
from reviewer.diff import DiffFile, parse_diff
from reviewer.github import DiffSource, GitHubClient, GitHubError, Outcome, PostReport, PullRef, publish
from reviewer.results import ReviewResult

DEFAULT_CONFIG = ".github/lgtm-575.yml"
Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def config_at_base(client: GitHubClient, pull: PullRef, path: str = DEFAULT_CONFIG, *, local: Path | None = None,
                   warn: Log = _quiet) -> tuple[str | None, str]:
    """(text, where it came from) of the config file at the PR's base commit, read through the API
    so a PR cannot change how it is reviewed; ``local`` (a checkout's copy) is the fallback. A
    file the token may not read is a warning, not an error: the defaults apply."""
    try:
        text = client.read_text(path, pull.base_sha)
    except GitHubError as err:  # e.g. a token without contents: read
        warn(f"could not read {path} through the API ({err})")
        text = None
    if text is not None:
        return text, f"{path} at the base commit"
    if local is not None and local.is_file():
        return local.read_text(encoding="utf-8"), f"{path} (local file)"
    return None, "defaults (no config file)"


def fetch_files(client: GitHubClient, log: Log = _quiet) -> tuple[DiffSource, tuple[DiffFile, ...]]:
    """The PR's diff as GitHub serves it, parsed; over GitHub's size limit it is rebuilt from
    the per-file patches (``GitHubClient.fetch_diff``)."""
    source = client.fetch_diff()
    if source.source == "files":
        log("GitHub refused the whole diff (406, too large); rebuilt it from per-file patches")
    files = parse_diff(source.text)
    log(f"{len(files)} files in the diff")
    return source, files


MAX_LINTED_FILE = 1_000_000  # bytes: a larger file is linted by its hunks alone


def head_reader(client: GitHubClient, pull: PullRef, log: Log = _quiet) -> Callable[[str], str | None]:
    """path -> the file's text at the PR head through the contents API (for the linter: read,
    never executed); None for a file that cannot be read or is too large."""
    def read(path: str) -> str | None:
        try:
            text = client.read_text(path, pull.head_sha)
        except GitHubError as err:
            log(f"could not read {path} at the head for the linter ({err}); linting its hunks alone")
            return None
        return text if text is not None and len(text) <= MAX_LINTED_FILE else None
    return read


def write_haiku(source: DiffSource, settings: Settings, backend: Backend | None = None,
                progress: Callable[[int, int], None] | None = None,
                head_file: Callable[[str], str | None] | None = None) -> ReviewResult:
    """The haiku for the diff; files GitHub sent no patch for are listed as skipped. ``head_file``
    (``head_reader``) lets the linter read whole files at the head."""
    from reviewer.pipeline import run_review  # the model stack loads only when a review runs

    result = run_review(source.text, settings.filters, settings.generation, backend=backend, progress=progress,
                        head_file=head_file)
    extra = tuple({"path": path, "reason": reason} for path, reason in source.skipped)
    return ReviewResult(result.comments, result.rejected, result.skipped + extra, result.model, result.timings)


def post_haiku(client: GitHubClient, result: ReviewResult, files: Sequence[DiffFile], settings: Settings,
               secrets: Sequence[str] = ()) -> PostReport:
    """``publish``; when even listing the PR's comments fails, a report that nothing was posted
    (nothing is lost: every haiku is in it with the reason)."""
    try:
        return publish(client, result, files, settings.filters, settings.posting, tuple(secrets))
    except GitHubError as err:
        return PostReport(tuple(Outcome(i, "", "not posted", str(err)) for i in range(len(result.comments))),
                          problem=str(err), read_only=err.kind == "forbidden")
