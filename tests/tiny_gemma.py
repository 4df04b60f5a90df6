"""A tiny random-weight Gemma 4 and a LoRA adapter for it, built offline in about a second.

They exercise the real transformers / peft / bitsandbytes code paths on a CPU without any download:
the saved model has Gemma 4's multimodal wrapper config (``model_type: gemma4``, which
``AutoModelForCausalLM`` loads as ``Gemma4ForConditionalGeneration``, as it does a real
``google/gemma-4-*`` checkpoint), text tower only, hidden size 64, two layers; the tokenizer is a
byte-level BPE trained here on a built-in text, with Gemma 4's special tokens and chat template.

    from tests.tiny_gemma import build_tiny_gemma4, build_tiny_lora
    model_dir = build_tiny_gemma4(tmp / "gemma")
    adapter_dir = build_tiny_lora(model_dir, tmp / "lora")

    .venv/bin/python -m tests.tiny_gemma /tmp/tiny   # builds both under /tmp/tiny and prints the dirs

In pytest use the session fixtures ``tiny_gemma4_dir`` and ``tiny_lora_dir`` (tests/conftest.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Ids fixed the way real Gemma checkpoints number them (pad 0, eos 1, bos 2), then the turn markers.
SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<|turn>", "<turn|>", "<unk>")
VOCAB_SIZE = 640
END_OF_TURN = "<turn|>"

# Gemma 4's turns; the assistant speaks as "model". No system-turn <|think|>: thinking stays off.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<|turn>' + role + '\n' + (message['content'] | trim) + '<turn|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|turn>model\n' }}{% endif %}"
)

# Training text for the BPE: review English, code, diff lines and digits, so prompts tokenize into
# real merges rather than single bytes.
_CORPUS = """\
You are a senior engineer reviewing a pull request. Write ONE haiku (three lines: 5, 7 and 5
syllables) that names the most important issue in this hunk: a bug, a risk, a missing test,
unclear naming or docs. Name the code involved. Plain words only; no title, no quotes, no markdown.
File: app/users.py
```diff
  41   def load_user(user_id):
  42 + row = db.execute(f"SELECT * FROM users WHERE id = {user_id}")
  43   return row
```
the f-string query
splices user_id in
use a bound param
no timeout on get
a slow host can hang this call
give it a deadline
the default tags list
is shared by every call
use None, then build one
def fetch(url):
    return requests.get(url, timeout=10).json()
for i in range(100): total += values[i] * 2
if x is None: raise ValueError("missing value")
except Exception: pass
class Config: name: str = "main"; count: int = 0
import os, sys, json, re, time, pathlib
0 1 2 3 4 5 6 7 8 9 10 12 20 42 100 404 575 1024 2024
Things worth a look: a bare or broad except; a print left in; a TODO left in.
This change looks good to me. Please add a test for the error path and fix the typo.
The variable name is unclear, the function is too long, and the loop never ends.
"""


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    # Newlines are split off first so "\n" is always a token of its own (turn and line boundaries).
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\n", behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    return tok


def build_tokenizer(out_dir: str | Path):
    """The fast tokenizer with Gemma 4's special tokens and chat template, saved to ``out_dir``."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(), bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        unk_token="<unk>", additional_special_tokens=["<|turn>", END_OF_TURN], padding_side="left")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out_dir)
    return tokenizer


def tiny_config(vocab_size: int):
    """Gemma 4's multimodal config with a two-layer, 64-wide text tower and no vision/audio towers."""
    from transformers import Gemma4Config, Gemma4TextConfig

    text = Gemma4TextConfig(
        vocab_size=vocab_size, vocab_size_per_layer_input=vocab_size, hidden_size=64,
        intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        head_dim=32, global_head_dim=32, hidden_size_per_layer_input=0,  # else ~134M parameters
        layer_types=["sliding_attention", "full_attention"], sliding_window=64,
        max_position_embeddings=1024, pad_token_id=0, eos_token_id=1, bos_token_id=2,
        # Wide weights give decisive logits (greedy decoding without near-ties). An untied head:
        # tied to the embeddings, a random model just repeats the prompt's last token ("\n").
        initializer_range=0.2, tie_word_embeddings=False)
    return Gemma4Config(text_config=text, vision_config=None, audio_config=None,
                        initializer_range=0.2, tie_word_embeddings=False)


def build_tiny_gemma4(out_dir: str | Path, seed: int = 0) -> Path:
    """Save a tiny random Gemma 4 (weights, tokenizer, generation config) to ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    out = Path(out_dir)
    tokenizer = build_tokenizer(out)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(len(tokenizer)), dtype=torch.float32)
    turn_end = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=[tokenizer.eos_token_id, turn_end])
    model.save_pretrained(out)
    return out


def build_tiny_lora(model_dir: str | Path, out_dir: str | Path, seed: int = 1) -> Path:
    """Save a LoRA adapter for the tiny model with non-zero B weights, so it changes the outputs.

    It targets the language model's linear layers only (the regex keeps LoRA off any vision or
    audio tower, as training must on the real multimodal Gemma 4).
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM",
        target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")
    peft_model = get_peft_model(model, config)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:  # peft starts B at zero (a no-op adapter); make it bite
                param.normal_(0.0, 0.5)
    out = Path(out_dir)
    peft_model.save_pretrained(out)
    return out


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-gemma4")
    model_path = build_tiny_gemma4(root / "model")
    print(model_path)
    print(build_tiny_lora(model_path, root / "lora"))
