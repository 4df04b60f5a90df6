"""The CLI's ``--post``: a ``python -m reviewer`` run's haiku posted on the Action's path.

    GITHUB_TOKEN=... python -m reviewer PR.diff --post --repo OWNER/NAME --pr 7 [--max-comments 5] [--dry-run]

The PR's diff is read from the API, anchors and fingerprints are checked against it, and the
review goes through ``reviewer.github.publish`` as in the Action and the App; GitHub Enterprise
works through ``GITHUB_API_URL``. Exit status: 0 done, 2 usage or a token GitHub refuses, 1 not
posted (one line each on stderr; the token never appears).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import fields
from typing import Any, Callable, Mapping, TextIO

from reviewer.action_config import PostingConfig
from reviewer.diff import DiffError, parse_diff
from reviewer.filters import ConfigError, DiffFilterConfig
from reviewer.github import DEFAULT_API_URL, GitHubClient, GitHubError, PostReport, RetryPolicy, publish
from reviewer.results import ReviewResult


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
