"""The fake backend: canned outputs from a queue, registered like the real ones.

It drives compose, the CLI and the Action end to end in tests without a model. Outputs come
from a list or from a file (``outputs=PATH``: a JSON list of strings, or JSONL with one string
per line), handed out in order, ``n`` per prompt; when the queue runs dry it repeats its last
entry (``cycle=False`` raises instead), so a test states exactly what the "model" says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from reviewer.backends.base import BackendError, GenerationRequest, register_backend
from reviewer.prompt import Prompt


@register_backend("fake")
class FakeBackend:
    name = "fake"

    def __init__(self, outputs: Sequence[str] | str | Path = (), cycle: bool = True, model: str = "fake") -> None:
        self.queue = list(_load(outputs) if isinstance(outputs, (str, Path)) else outputs)
        self.cycle = cycle
        self.model = model
        self.calls: list[tuple[list[Prompt], GenerationRequest]] = []  # what was asked, for tests
        self._next = 0

    def generate(self, prompts: Sequence[Prompt], request: GenerationRequest) -> list[list[str]]:
        self.calls.append((list(prompts), request))
        return [[self._pop() for _ in range(request.n)] for _ in prompts]

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}

    def _pop(self) -> str:
        if self._next < len(self.queue):
            self._next += 1
            return self.queue[self._next - 1]
        if self.cycle and self.queue:
            return self.queue[-1]
        raise BackendError("the fake backend's queue of outputs is empty")


def _load(path: str | Path) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise BackendError(f"fake backend: cannot read outputs file {path}: {err.strerror or err}") from None
    try:
        data = json.loads(text) if text.lstrip().startswith("[") else [json.loads(l) for l in text.splitlines() if l.strip()]
    except json.JSONDecodeError as err:
        raise BackendError(f"fake backend: {path} is not a JSON list or JSONL of strings ({err})") from None
    if not all(isinstance(item, str) for item in data):
        raise BackendError(f"fake backend: {path} must hold strings only")
    return data
