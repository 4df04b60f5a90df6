"""diff -> hunks -> prompts -> backend -> checked haiku: one run, for the CLI and the Action alike.

    from reviewer.pipeline import run_review
    result = run_review(open("pr.diff", "rb").read(), DiffFilterConfig(), GenerationConfig())
"""

from __future__ import annotations

import time
from typing import Any

from reviewer.backends.base import Backend, make_backend
from reviewer.compose import Progress, compose_hunks
from reviewer.config import EMBEDDED, GenerationConfig
from reviewer.diff import parse_diff
from reviewer.filters import DiffFilterConfig, select_hunks
from reviewer.results import HaikuComment, Rejection, ReviewResult


def backend_from_config(config: GenerationConfig) -> Backend:
    """The backend the config names, built through the registry."""
    if config.backend == "transformers":
        return make_backend("transformers", model=config.model, adapter=config.adapter,
                            quantization=config.quantization, device=config.device,
                            batch_size=config.batch_size)
    if config.backend == "openai":
        return make_backend("openai", base_url=config.base_url(), api_key=config.api_key(),
                            model="" if config.model == EMBEDDED else config.model, timeout=config.timeout)
    return make_backend("fake", outputs=config.fake_outputs)


def run_review(diff: bytes | str, filters: DiffFilterConfig, generation: GenerationConfig,
               backend: Backend | None = None, progress: Progress | None = None) -> ReviewResult:
    """Review one diff. Raises DiffError/ConfigError/BackendError with one-line messages."""
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
    outcomes = compose_hunks(selection.hunks, backend, generation, progress)
    timings["generate"] = _since(started)
    return ReviewResult(
        comments=tuple(o for o in outcomes if isinstance(o, HaikuComment)),
        rejected=tuple(o for o in outcomes if isinstance(o, Rejection)),
        skipped=skipped, model=_model_info(backend, generation), timings=timings)


def _model_info(backend: Backend, generation: GenerationConfig) -> dict[str, Any]:
    info = dict(backend.describe())
    info["constrained"] = generation.constrained and backend.name == "transformers"
    return info


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)
