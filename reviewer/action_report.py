"""The Action's report of a run: the results file's payload, the step outputs, the job summary.

    from reviewer.action_report import render_summary, results_payload   # reviewer.action calls them

Everything here is a pure function of ``reviewer.action.Run``. Text from the diff or a model is
made inert before it reaches markdown (``md``, ``code``); secrets are removed by the caller's
redactor when the text is written.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reviewer.action import Run  # noqa: F401

RESULTS_VERSION = 1
MAX_SUMMARY_ROWS = 1000


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


def outputs(run: Run, results_path: str) -> dict[str, str]:
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


def summary_rows(run: Run) -> list[tuple[str, str, str, str, str, str, str]]:
    """(file, hunk, haiku or reason, finding, confidence, status, link) per hunk: valid, rejected,
    skipped. The finding and the confidence are shown whether the haiku was posted or not."""
    rows = []
    for comment, outcome in zip(run.result.comments, run.report.outcomes):
        status = _STATUS[outcome.status] + (f": {outcome.reason}" if outcome.status in ("dropped", "not posted") else "")
        rows.append((comment.anchor.path, comment.header, comment.body, _finding(comment.finding),
                     _confidence(comment.confidence), status, outcome.url))
    for r in run.result.rejected:
        status = "nothing to say" if r.nothing_to_say else "rejected: no valid haiku"
        rows.append((r.path, r.header, r.reason, _finding(r.finding), "", status, ""))
    rows += [(s["path"], "", s["reason"], "", "", "skipped", "") for s in run.result.skipped]
    return rows


def _finding(finding: Any) -> str:
    return finding.text if finding is not None else ""


def _confidence(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def render_summary(run: Run) -> str:
    pull, report, settings = run.pull, run.report, run.settings
    out = [f"### lgtm-575: 5-7-5 review of {md(pull.repo)}#{pull.number}", "", _headline(run), ""]
    rows = summary_rows(run)
    out += ["| File | Hunk | Haiku, or why not | Finding | Confidence | Status |", "| --- | --- | --- | --- | --- | --- |"]
    out += [f"| {code(f)} | {code(h)} | {md(t)} | {md(fi)} | {c} | {_linked(md(s), url)} |"
            for f, h, t, fi, c, s, url in rows[:MAX_SUMMARY_ROWS]]
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
