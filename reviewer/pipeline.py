"""diff -> hunks -> prompts -> backend -> checked haiku: one run, for the CLI and the Action alike.

    from reviewer.pipeline import run_review
    result = run_review(open("pr.diff", "rb").read(), DiffFilterConfig(), GenerationConfig())
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from reviewer.backends.base import Backend, make_backend
from reviewer.compose import Progress, compose_hunks, uses_two_stages
from reviewer.config import EMBEDDED, GenerationConfig
from reviewer.diff import Hunk, parse_diff
from reviewer.filters import DiffFilterConfig, select_hunks
from reviewer.results import HaikuComment, Rejection, ReviewResult

FileReader = Callable[[str], "str | None"]  # path -> the file's text at the PR head, None if unreadable


def backend_from_config(config: GenerationConfig) -> Backend:
    """The backend the config names, built through the registry."""
    if config.backend == "transformers":
        options = dict(quantization=config.quantization, device=config.device, batch_size=config.batch_size)
        backend = make_backend("transformers", model=config.model, adapter=config.adapter, **options)
        if not config.haiku_model:
            return backend
        from reviewer.backends.staged import StagedBackend

        # the haiku model takes its own default adapter (the project's, for embedded)
        return StagedBackend(finding=backend, haiku=make_backend("transformers", model=config.haiku_model, **options))
    if config.backend == "openai":
        return make_backend("openai", base_url=config.base_url(), api_key=config.api_key(),
                            model="" if config.model == EMBEDDED else config.model, timeout=config.timeout)
    return make_backend("fake", outputs=config.fake_outputs)


def run_review(diff: bytes | str, filters: DiffFilterConfig, generation: GenerationConfig,
               backend: Backend | None = None, progress: Progress | None = None,
               head_file: FileReader | None = None) -> ReviewResult:
    """Review one diff. Raises DiffError/ConfigError/BackendError with one-line messages.

    ``head_file(path)`` gives a file's text at the PR head (the Action and the App read it through
    the contents API; it is never executed), so the linter sees the whole file; without it, or for
    a file it cannot give, the linter runs on the hunk alone."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    selection = select_hunks(parse_diff(diff), filters)
    timings["parse"] = _since(started)
    skipped = tuple({"path": s.path, "reason": s.reason} for s in selection.skipped)
    if not selection.hunks:  # nothing to review: no model is loaded at all
        return ReviewResult((), (), skipped, {"backend": generation.backend, "model": generation.model}, timings)
    started = time.perf_counter()
    backend = backend or backend_from_config(generation)
    timings["load"] = _since(started)
    started = time.perf_counter()
    # Only stage one reads the linter: a one-pass run asks for no file.
    wanted = head_file is not None and uses_two_stages(generation, backend)
    notes = linter_notes_for(selection.hunks, head_file) if wanted else None
    outcomes = compose_hunks(selection.hunks, backend, generation, progress, notes)
    timings["generate"] = _since(started)
    return ReviewResult(
        comments=tuple(o for o in outcomes if isinstance(o, HaikuComment)),
        rejected=tuple(o for o in outcomes if isinstance(o, Rejection)),
        skipped=skipped, model=_model_info(backend, generation), timings=timings)


def linter_notes_for(hunks: Sequence[Hunk], head_file: FileReader) -> list[list[str]]:
    """What ruff says of each hunk's changed lines: on the whole head file where it can be read
    (each file read and linted once, whatever its number of hunks), else on the hunk rebuilt alone."""
    from reviewer.lint import is_python, lint_file_hunks, lint_hunks, linter_notes

    by_path: dict[str, list[Hunk]] = {}
    for hunk in hunks:
        by_path.setdefault(hunk.path, []).append(hunk)
    found: dict[int, list] = {}
    alone: list[Hunk] = []
    for path, group in by_path.items():
        text = head_file(path) if is_python(path) else None
        if text is None:
            alone += group
        else:
            found.update(zip(map(id, group), lint_file_hunks(path, text, group)))
    found.update(zip(map(id, alone), lint_hunks(alone)))
    return [linter_notes(h, found[id(h)]) for h in hunks]


def _model_info(backend: Backend, generation: GenerationConfig) -> dict[str, Any]:
    info = dict(backend.describe())
    info["constrained"] = generation.constrained and backend.name == "transformers"
    return info


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)
