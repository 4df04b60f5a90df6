"""Models assembled from PyPI chunk packages: the hash is the trust anchor.

Chunk packages of our own, built here like the real ones (``<prefix>N/data/partNN.bin``), stand in
for the 1.1 GB Qwen chunks; the assembly code is the one the real models go through.
"""

from __future__ import annotations

import hashlib
import sys

import pytest

from reviewer.backends.base import BackendError
from reviewer.packaged import PACKAGED, PackagedGGUF, assemble_gguf


@pytest.fixture
def chunks(tmp_path, monkeypatch):
    """Three chunk packages lgtmtestchunk_part1..3 on sys.path, and the spec their bytes make."""
    blobs = [bytes([i]) * (1000 + i) for i in range(3)]
    for number, blob in enumerate(blobs, 1):
        package = tmp_path / "site" / f"lgtmtestchunk_part{number}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{number:02d}.bin").write_bytes(blob)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(blobs)
    spec = PackagedGGUF("test-model", "a test model", "lgtmtestchunk_part", 3, len(whole),
                        hashlib.sha256(whole).hexdigest(), "qwen")
    yield spec, tmp_path / "site"
    for number in range(1, 4):
        sys.modules.pop(f"lgtmtestchunk_part{number}", None)


def test_chunks_are_concatenated_in_order_and_verified(chunks, tmp_path):
    spec, _ = chunks
    path = assemble_gguf(spec, tmp_path / "cache")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    assert assemble_gguf(spec, tmp_path / "cache") == path  # cached: not written again


def test_a_corrupted_chunk_is_refused_and_nothing_is_cached(chunks, tmp_path):
    spec, site = chunks
    part = site / "lgtmtestchunk_part2" / "data" / "part02.bin"
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(BackendError, match="does not match the recorded one"):
        assemble_gguf(spec, tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())  # no half-written or unverified file left


def test_a_missing_chunk_package_names_the_extra(chunks, tmp_path):
    spec, _ = chunks
    missing = PackagedGGUF(spec.name, spec.title, "lgtmtestchunk_part", 4, spec.size, spec.sha256, "qwen")
    with pytest.raises(BackendError, match=r'lgtm-575\[qwen\]'):
        assemble_gguf(missing, tmp_path / "cache")


def test_the_named_models_record_size_and_hash():
    assert PACKAGED["qwen2.5-coder-1.5b"].sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert PACKAGED["qwen2.5-coder-1.5b"].size == 1_117_320_768 and PACKAGED["qwen2.5-coder-1.5b"].parts == 22
    assert PACKAGED["qwen2.5-coder-0.5b"].parts == 6
