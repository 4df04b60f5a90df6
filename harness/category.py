"""Category: which of the four review classes does a text belong to?

A nearest-prototype classifier in the relevance embedding space (all-MiniLM-L6-v2), needing no
download and no training data: each class's prototype is the normalised mean embedding of the
project-owned example remarks in ``harness/data/category_prototypes.yaml``; a text goes to the
class whose prototype has the highest cosine. Classes: functional, refactoring, documentation,
discussion (definitions in the YAML and in the data README).

The same classifier is run on the human comments, so the report can say how far it is trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import yaml

from harness.metrics import CATEGORIES

PROTOTYPES_PATH = Path(__file__).parent / "data" / "category_prototypes.yaml"


@dataclass(frozen=True)
class Prototypes:
    """Example texts per category, in CATEGORIES order."""

    texts: dict[str, tuple[str, ...]]
    source: str

    def all_texts(self) -> list[str]:
        return [t for c in CATEGORIES for t in self.texts[c]]


def load_prototypes(path: str | Path = PROTOTYPES_PATH) -> Prototypes:
    """Read and check the prototype YAML: exactly the four categories, each with texts."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if set(raw) != set(CATEGORIES):
        raise ValueError(f"{path}: categories must be exactly {', '.join(CATEGORIES)}, "
                         f"got {', '.join(map(str, raw)) or 'none'}")
    texts = {}
    for c in CATEGORIES:
        items = raw[c] or []
        if not items or not all(isinstance(t, str) and t.strip() for t in items):
            raise ValueError(f"{path}: category {c} needs a list of non-empty texts")
        texts[c] = tuple(items)
    return Prototypes(texts, str(path))


def centroids(prototypes: Prototypes, embed: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
    """(4, d) normalised mean embedding per category, in CATEGORIES order."""
    rows = []
    for c in CATEGORIES:
        m = embed(list(prototypes.texts[c])).mean(axis=0)
        rows.append(m / np.linalg.norm(m))
    return np.stack(rows)


@dataclass(frozen=True)
class Classified:
    """Predicted labels and each text's cosine to every prototype (n, 4)."""

    labels: list[str]
    sims: np.ndarray


def classify(vecs: np.ndarray, protos: np.ndarray) -> Classified:
    """Nearest prototype for each normalised row vector; ties go to the first category."""
    sims = vecs @ protos.T
    return Classified([CATEGORIES[i] for i in np.argmax(sims, axis=1)], sims)
