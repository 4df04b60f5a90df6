"""How haiku are generated: one typed config that CLI flags, the YAML file and Action inputs fill.

Every field declares its help, section and flag (the same ``_option`` as the diff filters), so
``--help``, the docs and the config file never disagree. The resolved config is saved with every
output (results JSON, harness reports).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from reviewer.filters import ConfigError, _option

BACKENDS = ("transformers", "openai", "fake")
QUANTIZATIONS = ("none", "8bit", "4bit")
TWO_STAGE = ("auto", "on", "off")
EMBEDDED = "embedded"  # the model id meaning: Gemma 3 270M from PyPI, with the project's adapter


@dataclass(frozen=True)
class GenerationConfig:
    backend: str = _option(
        "transformers", "Which backend writes the haiku: transformers (a local model), openai (any "
        "OpenAI-compatible server: vLLM, SGLang, Ollama...), or fake (canned outputs, for tests).",
        "model", "--backend", choices=BACKENDS)
    model: str = _option(
        EMBEDDED, "Model: a hub id (google/gemma-4-E4B-it), a local path, or 'embedded' for Gemma 3 "
        "270M shipped on PyPI (CPU, no download); for openai, the server's model name.", "model", "--model")
    adapter: str = _option(
        "", "LoRA adapter (hub id or local path) for the transformers backend; empty: the "
        "project's own adapter for the embedded model, none otherwise; 'none' to switch it off.",
        "model", "--adapter")
    haiku_model: str = _option(
        "", "A second model for stage two (finding -> haiku), e.g. 'embedded' (with its adapter) "
        "behind a code model that finds the issue; empty: one model writes both. Transformers "
        "backend only.", "model", "--haiku-model")
    quantization: str = _option(
        "none", "Load the weights in 4bit (bitsandbytes NF4) or 8bit, or none.", "model",
        "--quantization", choices=QUANTIZATIONS)
    device: str = _option("auto", "Torch device: auto (GPU when there is one), cpu, cuda, cuda:1...",
                          "model", "--device")
    openai_base_url: str = _option(
        "", "Base URL of the OpenAI-compatible server, e.g. http://localhost:8000/v1 "
        "(default: $OPENAI_BASE_URL).", "model", "--openai-base-url")
    openai_api_key: str = _option(
        "", "API key for the server (default: $OPENAI_API_KEY; many local servers need none).", "model")
    fake_outputs: str = _option(
        "", "For the fake backend: a JSON list (or JSONL) file of canned outputs.", "model", "--fake-outputs")
    two_stage: str = _option(
        "auto", "on: first write the finding (one plain sentence naming the hunk's most important "
        "problem, or NOTHING), then the haiku that says it; off: one pass from hunk to haiku; auto: "
        "on, except for the embedded model with its one-pass adapter, and for the fake backend only "
        "when its canned outputs carry findings.",
        "generation", "--two-stage", choices=TWO_STAGE)
    max_finding_tokens: int = _option(48, "Token budget for one finding (stage one; it asks for at most 25 words).", "generation",
                                      "--max-finding-tokens")
    min_confidence: float = _option(
        0.0, "Post only haiku whose confidence (the geometric-mean token probability of the weaker "
        "stage, finding or haiku, 0-1) is at least this; 0 posts all. Backends without token "
        "probabilities are not gated.", "generation", "--min-confidence")
    require_linter: bool = _option(
        False, "Precision first: versify only findings that say what a linter diagnostic on the "
        "hunk's changed lines says (two stages). Hunks without one skip the model and post nothing.",
        "generation", "--require-linter")
    constrained: bool = _option(
        True, "Constrain decoding to 5-7-5 with the form checker (transformers backend).",
        "generation", "--constrained")
    candidates: int = _option(
        4, "Candidates sampled per hunk in each revise round (the first round is one greedy answer).",
        "generation", "--candidates")
    revise_rounds: int = _option(
        1, "Rounds of revising after a greedy answer fails the checker; 0 for none.",
        "generation", "--revise-rounds")
    temperature: float = _option(0.7, "Sampling temperature for revise rounds.", "generation", "--temperature")
    few_shot: int = _option(
        -1, "Worked examples in each prompt; -1: 3 for a model with no adapter, 0 with one.",
        "generation", "--few-shot")
    max_new_tokens: int = _option(40, "Token budget for one haiku.", "generation", "--max-new-tokens")
    batch_size: int = _option(16, "Hunks per generate call (transformers backend).", "generation", "--batch-size")
    timeout: float = _option(120.0, "Seconds to wait for one server request (openai backend).", "generation")
    seed: int = _option(575, "Seed for sampling.", "generation", "--seed")

    def __post_init__(self) -> None:
        for name, choices in (("backend", BACKENDS), ("quantization", QUANTIZATIONS), ("two_stage", TWO_STAGE)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {getattr(self, name)!r}")
        for name, low in (("candidates", 1), ("revise_rounds", 0), ("max_new_tokens", 8), ("batch_size", 1),
                          ("max_finding_tokens", 8)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, not {value!r}")
        if not -1 <= self.few_shot <= 3:
            raise ConfigError(f"few_shot must be -1 (auto) or 0 to 3, not {self.few_shot!r}")
        if self.haiku_model and self.backend != "transformers":
            raise ConfigError("haiku_model is a second local model: it needs the transformers backend")
        if self.haiku_model and self.two_stage == "off":
            raise ConfigError("haiku_model writes stage two; it cannot run with two_stage off")
        if self.require_linter and self.two_stage == "off":
            raise ConfigError("require_linter checks the finding of two stages; it cannot run with two_stage off")
        if isinstance(self.min_confidence, bool) or not 0.0 <= float(self.min_confidence) <= 1.0:
            raise ConfigError(f"min_confidence must be between 0 and 1, not {self.min_confidence!r}")
        if not 0.0 <= float(self.temperature) <= 2.0:
            raise ConfigError(f"temperature must be between 0 and 2, not {self.temperature!r}")

    def resolved(self) -> dict[str, object]:
        """The settings as used, secrets removed: saved with every output."""
        settings = asdict(self)
        settings["openai_api_key"] = "***" if self.api_key() else ""
        return settings

    def base_url(self) -> str:
        return self.openai_base_url or os.environ.get("OPENAI_BASE_URL", "")

    def api_key(self) -> str:
        return self.openai_api_key or os.environ.get("OPENAI_API_KEY", "")
