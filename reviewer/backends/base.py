"""What every backend is: prompts in, candidate texts out.

A backend turns chat prompts into raw candidate texts. It knows nothing of hunks, haiku or
GitHub; ``reviewer.compose`` checks and chooses. Backends register themselves by name so the
CLI, the Action and ``harness.run`` build any of them from the same spec
(``transformers``, ``openai``, ``fake``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from reviewer.prompt import Prompt


class Text(str):
    """A generated text that also carries its mean token log-probability (None: not reported).

    A str, so every caller that reads texts keeps working; compose and the reports read
    ``logprob`` where they want the model's confidence.
    """

    logprob: float | None

    def __new__(cls, value: str, logprob: float | None = None) -> "Text":
        text = super().__new__(cls, value)
        text.logprob = logprob
        return text


def logprob_of(text: str) -> float | None:
    return getattr(text, "logprob", None)


class BackendError(RuntimeError):
    """A backend could not be built or could not answer; the message says what to do."""


@dataclass(frozen=True, slots=True)
class FormConstraint:
    """The form the decoder must keep: syllables per line, counted by harness.form.

    ``words`` are the extra words (identifiers from the hunk) a constrained decoder may finish a
    word on besides the ones the form checker knows; backends that cannot constrain decoding
    ignore the constraint and rely on best-of-n with the checker choosing.
    """

    syllables: tuple[int, ...] = (5, 7, 5)
    words: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One call's settings, the same for every backend."""

    n: int = 1  # candidates per prompt
    max_new_tokens: int = 48
    temperature: float = 0.0  # 0 = greedy; n > 1 with temperature 0 gives n copies, so callers sample
    constraint: FormConstraint | None = None  # per-prompt words go in ``constraints`` below
    constraints: tuple[FormConstraint, ...] | None = None  # one per prompt; overrides ``constraint``
    seed: int = 575

    def constraint_for(self, index: int) -> FormConstraint | None:
        return self.constraints[index] if self.constraints is not None else self.constraint


class Backend(Protocol):
    name: str

    def generate(self, prompts: Sequence[Prompt], request: GenerationRequest) -> list[list[str]]:
        """``request.n`` candidate texts for each prompt, in prompt order."""
        ...

    def describe(self) -> dict[str, Any]:
        """What produced the text (backend, model, adapter, quantization...), for reports."""
        ...


BackendFactory = Callable[..., Backend]
_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    def add(factory: BackendFactory) -> BackendFactory:
        _REGISTRY[name] = factory
        return factory
    return add


def backend_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def make_backend(name: str, **options: Any) -> Backend:
    """Build a registered backend; unknown names and bad options raise ``BackendError``."""
    _load_builtin()
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(sorted(_REGISTRY))}")
    try:
        return _REGISTRY[name](**options)
    except TypeError as err:  # a misspelt option: say which backend refused it
        raise BackendError(f"backend {name!r}: {err}") from None


def _load_builtin() -> None:
    # Importing a module registers its backend. The heavy ones import torch/transformers or
    # urllib inside their constructors, so this stays cheap.
    from reviewer.backends import fake, openai_backend, transformers_backend  # noqa: F401


@dataclass
class Usage:
    """Token and time counts a backend may report for benchmarks."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
