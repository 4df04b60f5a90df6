"""bench/gpu.py in its CPU smoke mode, end to end, and the pieces its figures rest on.

    .venv/bin/python -m pytest -q tests/test_bench_gpu.py

Behaviour, not speed: the smoke run's JSON must hold every section with values that agree with
each other (NF4 reads fewer bytes per step than full precision, the bandwidth fraction is the
measured step rate over the bound, the host-sync count matches the source scan), never a timing
compared with a number.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("bitsandbytes")

BANDWIDTH = 50.0  # GB/s, given as a flag: the CPU has no table entry


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[Path]]:
    """(the JSON printed last, the results files written): one smoke run for the whole module."""
    from bench import gpu

    root = tmp_path_factory.mktemp("bench-gpu")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = gpu.main(["--mode", "smoke", "--device", "cpu", "--bandwidth-gbs", str(BANDWIDTH),
                           "--work-dir", str(root / "work"), "--results-dir", str(root / "results")])
    assert status == 0
    return json.loads(printed.getvalue().strip().splitlines()[-1]), sorted((root / "results").glob("*.json"))


@pytest.fixture()
def smoke(smoke_run: tuple[dict, list[Path]]) -> dict:
    return smoke_run[0]


def test_last_line_is_the_saved_results_file(smoke_run: tuple[dict, list[Path]]):
    smoke, saved = smoke_run
    assert [p.name for p in saved] == [Path(smoke["results_file"]).name]
    assert saved[0].name.startswith("gpu-cpu-") and saved[0].name.endswith("-smoke.json")
    assert json.loads(saved[0].read_text()) == smoke
    assert smoke["mode"] == "smoke" and smoke["device"]["bandwidth_gbs"] == BANDWIDTH
    assert smoke["device"]["bandwidth_source"] == "--bandwidth-gbs"
    assert smoke["model"]["status"] == "ok" and smoke["model"]["tokenizer_vocab"] < smoke["model"]["model_vocab"]
    assert smoke["training"]["status"] == "skipped"


def test_every_quantization_ran_or_says_why_not(smoke: dict):
    runs = smoke["runs"]
    assert set(runs) == {"bf16", "4bit", "8bit"}
    assert runs["bf16"]["status"] == "ok" and runs["4bit"]["status"] == "ok"  # NF4 runs on a CPU
    assert runs["8bit"]["status"] == "ok" or (runs["8bit"]["status"] == "skipped" and runs["8bit"]["reason"])
    full, nf4 = runs["bf16"]["weight_bytes_per_step"], runs["4bit"]["weight_bytes_per_step"]
    assert 0 < nf4 < full / 2  # 4-bit weights plus their scales: under half of 16 or 32 bits
    if runs["8bit"]["status"] == "ok":
        assert nf4 < runs["8bit"]["weight_bytes_per_step"] < full


def test_batch_figures_agree_with_each_other(smoke: dict):
    plan = smoke["plan"]
    for name, run in smoke["runs"].items():
        if run["status"] != "ok":
            continue
        assert set(run["batches"]) == {str(b) for b in plan["batches" if name == "bf16" else "quantized_batches"]}
        for size, figures in run["batches"].items():
            batch, steps = int(size), plan["new_tokens"] - 1
            assert figures["status"] == "ok", (name, size, figures)
            assert figures["prompt_tokens"] > 0 and figures["prefill_tokens_per_s"] > 0
            plain, constrained = figures["plain"], figures["constrained"]
            assert plain["tokens"] == batch * steps and plain["steps"] == steps
            assert 0 <= constrained["tokens"] <= batch * steps and 0 <= constrained["rows_ended_on_eos"] <= batch
            assert 0 <= constrained["processor_share"] <= 1 and constrained["processor_s"] > 0
            assert constrained["decoder_stats"]["steps"] >= 1
            _check_bandwidth(plain, batch, run["weight_bytes_per_step"])


def _check_bandwidth(figures: dict, batch: int, bytes_per_step: int):
    if figures["decode_tokens_per_s"] is None:  # below timing noise on a busy host: said, not invented
        assert figures["note"]
        return
    bound_steps = BANDWIDTH * 1e9 / bytes_per_step
    assert figures["bandwidth_bound_tokens_per_s"] == pytest.approx(bound_steps * batch, rel=1e-3)
    steps_per_s = figures["decode_tokens_per_s"] / batch
    assert figures["bandwidth_fraction"] == pytest.approx(steps_per_s / bound_steps, rel=0.05, abs=1e-4)


def test_speed_options_and_host_syncs(smoke: dict):
    options = smoke["runs"]["bf16"]["options"]
    assert options["static@2"]["status"] == "ok" and options["static@2"]["variant"] == "static"
    assert options["static+compile@2"]["status"] == "skipped"  # no compile on a CPU: said so
    syncs = smoke["host_syncs"]
    assert syncs["status"] == "ok" and syncs["steps"] >= 1 and syncs["cuda_syncs_per_step"] is None
    assert all(site.startswith("reviewer/constrain.py:") for site in syncs["sites"])
    # the source scan and the measured count agree: reads in the source are reads at run time
    assert (syncs["host_reads_per_step"] > 0) == any(".tolist()" in s or "bool(" in s for s in syncs["sites"])
    reads = sum(syncs["host_reads_by_method"].values())
    assert reads == pytest.approx(syncs["host_reads_per_step"] * syncs["steps"], abs=0.5)


def test_end_to_end_pr(smoke: dict):
    e2e = smoke["e2e"]
    assert e2e["status"] == "ok", e2e
    assert e2e["hunks"] == smoke["plan"]["e2e_hunks"] and e2e["quantization"] == "4bit"
    assert e2e["generate_calls"] >= 1 and e2e["completion_tokens"] > 0 and e2e["seconds"] > 0
    assert 0 <= e2e["haiku_posted"] <= e2e["hunks"]


def test_counting_host_reads_restores_tensor_methods():
    from bench.gpu_measure import HOST_READS, counting_host_reads

    before = {name: torch.Tensor.__dict__.get(name) for name in HOST_READS}
    counts: dict = __import__("collections").Counter()
    with counting_host_reads(counts):
        torch.tensor([1, 2]).tolist()
        bool(torch.tensor(True))
    assert counts["tolist"] == 1 and counts["__bool__"] == 1
    assert {name: torch.Tensor.__dict__.get(name) for name in HOST_READS} == before
    torch.tensor([3]).tolist()
    assert counts["tolist"] == 1


def test_e4b_configuration_builds_what_the_conversion_script_says():
    from transformers import AutoModelForCausalLM

    from bench.gpu_model import E4B_TEXT, describe_config, model_config

    config = model_config("e4b")
    described = describe_config(config)
    for key in ("hidden_size", "hidden_size_per_layer_input", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "global_head_dim", "num_kv_shared_layers"):
        assert described[key] == E4B_TEXT[key], key
    assert described["layer_types"] == {"sliding_attention": 35, "full_attention": 7}
    assert described["vocab_size"] == 262_144 and described["head_dim"] == 256
    with torch.device("meta"):  # shapes only: no memory
        model = AutoModelForCausalLM.from_config(config)
    layers = model.model.language_model.layers
    assert len(layers) == 42
    shared = [i for i, layer in enumerate(layers) if getattr(layer.self_attn, "k_proj", None) is None]
    assert shared in ([], list(range(24, 42)))  # transformers versions differ on dropping their k_proj


def test_bandwidth_table_and_result_names():
    from datetime import datetime

    from bench.gpu import bandwidth_for, results_path

    assert bandwidth_for("NVIDIA H200") == (4800.0, "h200")
    assert bandwidth_for("NVIDIA H100 80GB HBM3") == (3350.0, "h100")
    assert bandwidth_for("NVIDIA L40S")[0] == 864.0  # not the L4's 300
    assert bandwidth_for("Some New GPU") is None
    when = datetime(2026, 12, 3, 17, 54, 0)
    assert results_path(Path("r"), "NVIDIA H200", "full", when).name == "gpu-nvidia-h200-2026-12-03-175400.json"
    assert results_path(Path("r"), "cpu", "smoke", when).name.endswith("-smoke.json")
