"""Session fixtures shared by the test suite.

``tiny_gemma4_dir`` and ``tiny_lora_dir`` build a tiny random Gemma 4 and a LoRA adapter for it
once per session (see tests/tiny_gemma.py); tests that need torch skip when it is not installed.

    .venv/bin/python -m pytest -q tests/test_transformers_backend.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `tests.tiny_gemma` must import under plain `pytest` too, not only `python -m pytest` (which puts
# the working directory on sys.path).
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


@pytest.fixture(scope="session")
def tiny_gemma4_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tests.tiny_gemma import build_tiny_gemma4

    return build_tiny_gemma4(tmp_path_factory.mktemp("tiny-gemma4"))


@pytest.fixture(scope="session")
def tiny_lora_dir(tiny_gemma4_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("peft")
    from tests.tiny_gemma import build_tiny_lora

    return build_tiny_lora(tiny_gemma4_dir, tmp_path_factory.mktemp("tiny-lora"))
