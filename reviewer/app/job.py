"""The App's unit of work: one queued job -> one PR reviewed and posted, on the Action's path.

    model = SharedModel(settings.generation); model.load()          # once per process
    outcome = run_job(job, JobContext(settings, tokens, model, redactor.add), still_mine)

A job gets a token for its installation, opens the PR, reads the config at the base commit,
reads the diff through the API, writes the haiku with the shared model and posts them through
``reviewer.github.publish`` (``reviewer.pull_review``: the same functions the Action calls), so
anchors, fingerprints and the 422/403/rate-limit fallbacks are the Action's. A re-run of a job,
after a crash or a retry, posts only what is not on the PR yet.

``/haiku`` commands run only for users with write access; for anyone else the job ends
``skipped`` and nothing is posted. Errors: ``Final`` (retrying cannot help: a repository file
with a bad config, a PR that is gone, the App not allowed to post) or anything else (retried
with backoff by the worker).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from reviewer.action_config import Settings, build_settings, load_config_text
from reviewer.app.auth import InstallationTokens
from reviewer.app.queue import Job
from reviewer.app.settings import AppSettings
from reviewer.backends.base import Backend, GenerationRequest
from reviewer.config import GenerationConfig
from reviewer.diff import DiffError
from reviewer.filters import ConfigError
from reviewer.github import GitHubClient, GitHubError, RetryPolicy
from reviewer.prompt import Prompt
from reviewer.pull_review import (DEFAULT_CONFIG, config_at_base, fetch_files, head_reader, post_haiku,
                                  write_haiku)

LOG = logging.getLogger("lgtm575.app.job")
FINAL_KINDS = frozenset({"not_found", "forbidden", "invalid", "too_large", "other"})


class Final(Exception):
    """A job that cannot succeed by retrying; the message is its recorded reason."""


class LeaseLost(Exception):
    """Another worker owns the job now (this one stalled past its lease): stop, post nothing."""


@dataclass(frozen=True)
class Outcome:
    state: str  # done or skipped
    result: dict[str, Any]


class SharedModel:
    """The one model of the process, loaded once and used by every installation's jobs. The
    transformers backend runs one generate call at a time (one model in memory); an OpenAI-
    compatible server takes concurrent requests. The fake backend's canned outputs are read once
    and each job starts at the first of them, as each Action run does."""

    def __init__(self, generation: GenerationConfig) -> None:
        self.generation = generation
        self._backend: Backend | None = None
        self._outputs: list[str] | None = None
        self.loaded = threading.Event()

    def load(self) -> None:
        if self.generation.backend == "fake":
            from reviewer.backends.fake import _load

            self._outputs = _load(self.generation.fake_outputs)
        else:
            from reviewer.pipeline import backend_from_config

            backend = backend_from_config(self.generation)
            self._backend = _Serialized(backend) if backend.name == "transformers" else backend
        self.loaded.set()

    def backend(self) -> Backend:
        if self._outputs is not None:
            from reviewer.backends.fake import FakeBackend

            return FakeBackend(list(self._outputs))
        assert self._backend is not None, "load() first"
        return self._backend


class _Serialized:
    """A backend behind a lock: one generate call at a time on the one loaded model."""

    def __init__(self, inner: Backend) -> None:
        self.inner, self.name, self._lock = inner, inner.name, threading.Lock()

    def generate(self, prompts: Sequence[Prompt], request: GenerationRequest) -> list[list[str]]:
        with self._lock:
            return self.inner.generate(prompts, request)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


@dataclass(frozen=True)
class JobContext:
    settings: AppSettings
    tokens: InstallationTokens
    model: SharedModel
    sleep: Callable[[float], None] = time.sleep
    redact: Callable[[str], str] = str  # the log redactor's: reasons are stored and logged


def run_job(job: Job, ctx: JobContext, still_mine: Callable[[], bool]) -> Outcome:
    """Review and post one job's PR. Raises ``Final``, ``LeaseLost`` or a retryable error."""
    try:
        return _run(job, ctx, still_mine)
    except (ConfigError, DiffError) as err:
        raise Final(f"{job.spec.repo}#{job.spec.number}: {err}") from None
    except GitHubError as err:
        if err.kind in FINAL_KINDS:
            raise Final(str(err)) from None
        raise


def _run(job: Job, ctx: JobContext, still_mine: Callable[[], bool]) -> Outcome:
    spec, settings = job.spec, ctx.settings
    installation = spec.installation_id or ctx.tokens.installation_of(spec.repo)
    token = ctx.tokens.token(installation)  # asked first: a refusal is reported as what it is
    client = GitHubClient("", settings.github_api_url, auth=ctx.tokens.auth_for(installation), sleep=ctx.sleep,
                          throttle=settings.github_throttle)
    pull = client.open_pull(spec.repo, spec.number)
    where = f"{spec.repo}#{spec.number}"
    if pull.state != "open":
        return Outcome("skipped", {"reason": f"{where} is {pull.state}"})
    if spec.kind == "command" and not client.can_write(spec.sender):
        LOG.info("%s: /haiku from %s, who has no write access: nothing posted", where, spec.sender)
        return Outcome("skipped", {"reason": f"/haiku from {spec.sender}, who may not write to {spec.repo}"})
    if spec.kind == "review" and pull.draft and not settings.review_drafts:
        return Outcome("skipped", {"reason": f"{where} is a draft"})
    review = _settings(client, pull, settings, where)
    client.caller.policy = RetryPolicy(retries=review.posting.max_retries, max_wait=review.posting.max_wait)
    source, files = fetch_files(client, lambda message: LOG.info("%s: %s", where, message))
    result = write_haiku(source, review, backend=ctx.model.backend(),
                         head_file=head_reader(client, pull, lambda message: LOG.info("%s: %s", where, message)))
    if not still_mine():
        raise LeaseLost(f"{where}: the job's lease passed to another worker; nothing posted")
    report = post_haiku(client, result, files, review, (token,) + settings.secrets())
    summary = {"head_sha": pull.head_sha, "haiku_valid": len(result.comments), "haiku_rejected": len(result.rejected),
               "skipped": len(result.skipped), "posted": report.posted,
               "already_posted": report.count("already posted"), "dropped": report.count("dropped"),
               "deleted": len(report.deleted), "review_urls": list(report.review_urls), "problem": report.problem}
    LOG.info("%s at %s: %d posted, %d already there, %d dropped", where, pull.head_sha[:12], report.posted,
             summary["already_posted"], summary["dropped"])
    if report.read_only:
        raise Final(f"{where}: the App may not post here (needs pull requests: write): {report.problem}")
    if report.problem:
        raise RuntimeError(f"{where}: posting stopped: {report.problem}")  # retried; fingerprints keep it once
    return Outcome("done", summary)


def _settings(client: GitHubClient, pull: Any, app: AppSettings, where: str) -> Settings:
    """The App's defaults, then the repository's file at the base commit; the model is the App's."""
    text, source = config_at_base(client, pull, DEFAULT_CONFIG,
                                  warn=lambda problem: LOG.warning("%s: %s; using the defaults", where, problem))
    values = dict(app.review_defaults)
    if text is not None:
        own = load_config_text(text, DEFAULT_CONFIG)
        model_keys = {f for f in own if f in GenerationConfig.__dataclass_fields__}
        if model_keys:
            LOG.info("%s: %s sets %s; the App's model settings apply", where, source, ", ".join(sorted(model_keys)))
        values.update({k: v for k, v in own.items() if k not in model_keys})
    return replace(build_settings(values, {}, source), generation=app.generation)
