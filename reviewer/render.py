"""How a review looks to a person: markdown for the terminal and job summaries, a progress bar.

The markdown puts each haiku under its anchor, then what was rejected (with the checker's
reason) and skipped, then the model and timings: nothing in a result is left out.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from reviewer.results import ReviewResult


def render_markdown(result: ReviewResult) -> str:
    out = [f"# lgtm-575 review: {len(result.comments)} haiku, {len(result.rejected)} rejected, "
           f"{len(result.skipped)} skipped", ""]
    for comment in result.comments:
        anchor = comment.anchor
        where = f"{anchor.path}:{anchor.start_line}-{anchor.line}" if anchor.start_line else f"{anchor.path}:{anchor.line}"
        out += [f"## {where} ({anchor.side})", f"`{comment.header}`", ""]
        out += [f"> {line}  " for line in comment.haiku] + [""]
        if comment.finding is not None:
            confidence = f" (confidence {comment.confidence:.2f})" if comment.confidence is not None else ""
            out += [f"Finding: {comment.finding.text}{confidence}", ""]
    if result.rejected:
        out += ["## Rejected or nothing to say (nothing posted)", ""]
        out += [f"- {r.path} `{r.header}`: {r.reason}" + (f" (finding: {r.finding.text})" if r.finding and r.finding.text else "")
                for r in result.rejected] + [""]
    if result.skipped:
        out += ["## Skipped", ""]
        out += [f"- {s['path']}: {s['reason']}" for s in result.skipped] + [""]
    model = ", ".join(f"{k}={v}" for k, v in result.model.items() if v not in ("", None))
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    out += [f"_model: {model or 'none'}; {timings}_", ""]
    return "\n".join(out)


class ProgressBar:
    """``done/total`` with a bar and a rate on one rewritten stderr line; silent when the
    stream is not a terminal (CI logs, pipes), so logs never fill with carriage returns."""

    def __init__(self, stream: TextIO = sys.stderr, unit: str = "items", width: int = 24) -> None:
        self.stream, self.unit, self.width = stream, unit, width
        self.enabled = hasattr(stream, "isatty") and stream.isatty()
        self.started = time.perf_counter()
        self.drawn = False

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = round(self.width * done / total)
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {self.unit} "
                          f"({rate:.2f}/s)")
        self.stream.flush()
        self.drawn = True
