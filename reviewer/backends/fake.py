"""The fake backend: canned outputs from a queue, registered like the real ones.

It drives compose, the CLI and the Action end to end in tests without a model. Outputs come
from a list or from a file (``outputs=PATH``: a JSON list, or JSONL with one entry per line),
handed out in order, ``n`` per prompt; when the queue runs dry it repeats its last entry
(``cycle=False`` raises instead), so a test states exactly what the "model" says.

An entry is the answer to a haiku prompt (a string), or both stages' answers for one hunk:
``{"finding": "one sentence, or NOTHING", "haiku": "three lines"}``. Finding prompts draw from the
findings, haiku prompts from the haiku (an entry without "haiku" adds none). Only outputs that
carry findings make the run two-staged when ``two_stage`` is auto (``two_stage_default``).
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

    def __init__(self, outputs: Sequence[str | dict] | str | Path = (), cycle: bool = True,
                 model: str = "fake") -> None:
        entries = list(_load(outputs) if isinstance(outputs, (str, Path)) else outputs)
        _check(entries, "outputs")
        self.two_stage_default = any(isinstance(e, dict) for e in entries)
        self.queues = {
            "finding": _Queue([e["finding"] for e in entries if isinstance(e, dict) and "finding" in e], cycle),
            "haiku": _Queue([e if isinstance(e, str) else e["haiku"] for e in entries
                             if isinstance(e, str) or "haiku" in e], cycle),
        }
        self.model = model
        self.calls: list[tuple[list[Prompt], GenerationRequest]] = []  # what was asked, for tests

    def generate(self, prompts: Sequence[Prompt], request: GenerationRequest) -> list[list[str]]:
        self.calls.append((list(prompts), request))
        return [[self.queues[p.stage].pop() for _ in range(request.n)] for p in prompts]

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model}


class _Queue:
    def __init__(self, items: list[str], cycle: bool) -> None:
        self.items, self.cycle, self.next = items, cycle, 0

    def pop(self) -> str:
        if self.next < len(self.items):
            self.next += 1
            return self.items[self.next - 1]
        if self.cycle and self.items:
            return self.items[-1]
        raise BackendError("the fake backend's queue of outputs is empty")


def _check(entries: list, source: str) -> None:
    for entry in entries:
        if isinstance(entry, str):
            continue
        if not isinstance(entry, dict) or not entry.keys() <= {"finding", "haiku"} or not all(
                isinstance(v, str) for v in entry.values()):
            raise BackendError(f"fake backend: {source} must hold strings, or objects with string "
                               f"fields finding and haiku; got {entry!r:.60}")


def _load(path: str | Path) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise BackendError(f"fake backend: cannot read outputs file {path}: {err.strerror or err}") from None
    try:
        data = json.loads(text) if text.lstrip().startswith("[") else [json.loads(l) for l in text.splitlines() if l.strip()]
    except json.JSONDecodeError as err:
        raise BackendError(f"fake backend: {path} is not a JSON list or JSONL of strings ({err})") from None
    if not isinstance(data, list):
        raise BackendError(f"fake backend: {path} is not a JSON list or JSONL")
    _check(data, str(path))
    return data
