"""The model bench/gpu.py measures: Gemma 4 E4B built from its configuration with random weights.

No checkpoint can be downloaded on the GPU machine (nothing outside it can be reached), and the
speed and memory of a decoder depend on its shapes, not on its weights' values. So the bench builds
the E4B architecture from its configuration, initializes it randomly, saves it once and loads it
back through the product's own loader (reviewer.models.load_model) in bf16, NF4 and 8-bit.

What random weights change, and how the bench keeps the measurement honest:

* a tokenizer: Gemma 4's is not on the machine either, so a byte-level BPE is trained here on the
  project's own text (the embedded training hunks and haiku, and CMUdict's words, so English
  words are whole tokens the constrained decoder can count). It is smaller than the model's
  262,144-row vocabulary; the rows above it are never offered (the prior below masks them);
* a language prior: a random model's best tokens are noise, and the constrained decoder would
  spend every step widening its search and escaping. ``PriorProcessor`` standardizes the model's
  logits per row and adds the log-frequency of each token in the project's haiku, so the
  candidates look like a trained reviewer's (common words, line breaks, an end of turn) while the
  model still decides between them. It runs in the plain and the constrained runs alike, so their
  difference is the constraint alone.

    from bench.gpu_model import build_checkpoint
    built = build_checkpoint(Path("/tmp/bench"), "smoke", device="cpu")   # model dir, LoRA dir, facts
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "training" / "data" / "embedded"

# Gemma 4 E4B's language model. Source of every value below: transformers' own Gemma 4 conversion
# script, src/transformers/models/gemma4/convert_gemma4_weights.py, _VARIANTS["gemma-4-e4b"]
# (huggingface/transformers; the script is not shipped in the wheel, and the installed package's
# Gemma4TextConfig documents only google/gemma-4-e2b-it). Everything the script leaves out is
# Gemma4TextConfig's default in the installed transformers (vocab_size and
# vocab_size_per_layer_input 262,144, head_dim 256, sliding_window 512, tied embeddings,
# gelu_pytorch_tanh, and rope parameters equal to the script's _ROPE_PARAMS); the bench reads the
# effective values back from the built config into its JSON (see ``describe_config``).
E4B_TEXT: dict[str, Any] = {
    "hidden_size": 2560,
    "hidden_size_per_layer_input": 256,  # per-layer embeddings (PLE): the "E" (effective) in E4B
    "intermediate_size": 4 * 2560,
    "num_hidden_layers": 42,
    "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 7,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "global_head_dim": 512,  # full-attention layers use 512-wide heads
    "num_kv_shared_layers": 18,  # the last 18 layers reuse the KV of earlier ones
    "final_logit_softcapping": 30.0,
}

# The CPU smoke test's model: the same kinds of layer (sliding and full attention, PLE, KV sharing,
# soft-capped logits) at toy sizes, and a model vocabulary larger than the tokenizer's, like E4B's.
SMOKE_TEXT: dict[str, Any] = {
    "hidden_size": 64,
    "hidden_size_per_layer_input": 64,  # bnb 4-bit on a CPU: widths in multiples of 32, inputs of 64
    "intermediate_size": 128,
    "num_hidden_layers": 6,
    "layer_types": (["sliding_attention"] * 2 + ["full_attention"]) * 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "global_head_dim": 64,
    "num_kv_shared_layers": 2,
    "final_logit_softcapping": 30.0,
    "vocab_size": 2048,
    "vocab_size_per_layer_input": 2048,
    "sliding_window": 64,
}

SIZES = {"e4b": E4B_TEXT, "smoke": SMOKE_TEXT}
CONFIG_SOURCE = {
    "e4b": "transformers src/transformers/models/gemma4/convert_gemma4_weights.py _VARIANTS['gemma-4-e4b'] "
           "+ the installed Gemma4TextConfig's defaults",
    "smoke": "bench/gpu_model.SMOKE_TEXT: toy sizes of E4B's kinds of layer",
}
TOKENIZER_VOCAB = {"e4b": 65_536, "smoke": 1024}  # BPE merges the project's text supports
LORA_RANK = {"e4b": 16, "smoke": 4}
# What the results record of the built config: the values above plus the defaults they rely on.
RECORDED = ("vocab_size", "vocab_size_per_layer_input", "head_dim", "sliding_window", "tie_word_embeddings",
            "hidden_activation", "max_position_embeddings", "rope_parameters")
LANGUAGE_MODEL_LINEARS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


@dataclass(frozen=True)
class Built:
    """A saved random checkpoint (model dir with tokenizer and chat template), a LoRA for it, and
    the language prior over the model's vocabulary (``prior_bias``)."""

    model_dir: Path
    adapter_dir: Path
    facts: dict[str, Any]
    bias: Any


def text_config(size: str) -> Any:
    from transformers import Gemma4TextConfig

    # pad 0, eos 1, bos 2: Gemma's numbering, which tests/tiny_gemma.SPECIAL_TOKENS follows
    return Gemma4TextConfig(pad_token_id=0, eos_token_id=1, bos_token_id=2, **SIZES[size])


def model_config(size: str) -> Any:
    """The multimodal wrapper a real google/gemma-4-* checkpoint has, with the text tower only:
    the vision and audio towers never run while decoding text (their weights are left out of the
    memory figures)."""
    from transformers import Gemma4Config

    return Gemma4Config(text_config=text_config(size), vision_config=None, audio_config=None)


def describe_config(config: Any) -> dict[str, Any]:
    # to_dict, not attributes: newer transformers keep head_dim per layer and refuse a global read
    text = getattr(config, "text_config", config).to_dict()
    values = {key: text.get(key) for key in (*E4B_TEXT, *RECORDED)}
    per_layer = [layer.get("head_dim") for layer in (text.get("per_layer_config") or {}).values()]
    values["global_head_dim"] = values["global_head_dim"] or max(filter(None, per_layer), default=None)
    values["layer_types"] = {kind: values["layer_types"].count(kind) for kind in set(values["layer_types"])}
    return json.loads(json.dumps(values, default=str))


# ----------------------------------------------------------------------------- tokenizer


def own_texts() -> tuple[list[str], list[str]]:
    """(every text of the embedded training rows, their haiku): the tokenizer's and prior's data."""
    rows = [json.loads(line) for path in sorted(DATA.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    haiku = [row["haiku"] for row in rows]
    return [row["diff_hunk"] for row in rows] + [row.get("comment", "") for row in rows] + haiku, haiku


def build_tokenizer(out_dir: Path, vocab_size: int) -> Any:
    """A byte-level BPE over the project's text with Gemma 4's special tokens and chat template
    (tests/tiny_gemma.py's, so prompts render exactly as for the test model)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from harness.form import dictionary
    from tests.tiny_gemma import CHAT_TEMPLATE, END_OF_TURN, SPECIAL_TOKENS

    words = sorted(dictionary.words())
    corpus = own_texts()[0] + [" ".join(words[i:i + 64]) for i in range(0, len(words), 64)]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Sequence([  # "\n" always a token of its own: line breaks
        pre_tokenizers.Split("\n", behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainer=trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
        additional_special_tokens=["<|turn>", END_OF_TURN], padding_side="left")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out_dir)
    return tokenizer


# ----------------------------------------------------------------------------- the language prior


def prior_bias(tokenizer: Any, model_vocab: int) -> Any:
    """Per token id: log of its smoothed frequency in the project's haiku (each ending in the end
    of turn); -1e4 for ids the tokenizer does not have and for the other special tokens."""
    import torch

    from tests.tiny_gemma import END_OF_TURN

    counts = torch.zeros(model_vocab)
    end = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    for haiku in own_texts()[1]:
        ids = tokenizer.encode(haiku, add_special_tokens=False) + [end]
        counts += torch.bincount(torch.tensor(ids), minlength=model_vocab)[:model_vocab].float()
    bias = torch.log((counts + 0.01) / (counts.sum() + 0.01 * model_vocab))
    bias[len(tokenizer):] = -1e4
    bias[[i for i in tokenizer.all_special_ids if i != end]] = -1e4
    return bias


class PriorProcessor:
    """A LogitsProcessor: the model's logits standardized per row, plus ``prior_bias``. The model
    still orders the plausible tokens; the prior makes the plausible tokens words (module doc)."""

    def __init__(self, bias: Any) -> None:
        self.bias = bias
        self._placed: dict[Any, Any] = {}

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        key = (scores.device, scores.dtype)
        if key not in self._placed:
            self._placed[key] = self.bias.to(device=scores.device, dtype=scores.dtype)
        bias = self._placed[key][: scores.shape[-1]]
        mean, std = scores.mean(-1, keepdim=True), scores.std(-1, keepdim=True).clamp_min(1e-6)
        return (scores - mean) / std + bias


# ----------------------------------------------------------------------------- build and save


def build_checkpoint(work_dir: Path, size: str, device: str, seed: int = 575) -> Built:
    """Train the tokenizer, build the model on ``device`` with random weights, save it
    with its tokenizer and generation config, then a random LoRA (r 16, 4 in the smoke test, on
    the language model's linear layers, B non-zero so it changes outputs) for the end-to-end run."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    from tests.tiny_gemma import END_OF_TURN

    model_dir, adapter_dir = work_dir / "model", work_dir / "lora"
    tokenizer = build_tokenizer(model_dir, TOKENIZER_VOCAB[size])
    config = model_config(size)
    torch.manual_seed(seed)
    # bf16 as Gemma ships, on a GPU. On a CPU (the smoke test) float32: toy-sized bf16 matmuls run
    # several times slower there, and the smoke test checks behaviour, not speed.
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    with torch.device(device):  # straight onto the GPU: an 8B-parameter init on the host takes minutes
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(END_OF_TURN)])
    model.save_pretrained(model_dir)
    facts = {"size": size, "class": type(model).__name__, "config": describe_config(config),
             "parameters": sum(p.numel() for p in model.parameters()), "tokenizer_vocab": len(tokenizer),
             "model_vocab": config.text_config.vocab_size, "config_source": CONFIG_SOURCE[size]}
    _save_random_lora(model, adapter_dir, LORA_RANK[size], seed)
    del model
    return Built(model_dir, adapter_dir, facts, prior_bias(tokenizer, config.text_config.vocab_size))


def _save_random_lora(model: Any, out: Path, rank: int, seed: int) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=0.0, task_type="CAUSAL_LM", target_modules=LANGUAGE_MODEL_LINEARS))
    torch.manual_seed(seed + 1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:  # peft starts B at zero, a no-op; an attached adapter must compute
                param.normal_(0.0, 1.0 / math.sqrt(rank))
    peft_model.save_pretrained(out)
    peft_model.unload()  # the base model without LoRA layers, for the caller to free
