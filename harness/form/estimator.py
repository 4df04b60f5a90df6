"""Syllables of a word no dictionary knows: a small character CNN fitted on CMUdict.

Each letter position gets a score in [0, 1] (how much of a syllable nucleus starts there) from
the letters around it (a receptive field of 13 letters); the word's count is the rounded sum.
It is trained on the word totals alone (``python -m harness.form.build``), on 90% of CMUdict,
and measured on the other 10% (seed 575) by ``bench/form.py``. Inference is plain numpy, so
the runtime needs no torch; the weights load on the first unknown word, not at start-up.
"""
from __future__ import annotations

import functools
from pathlib import Path

WEIGHTS = Path(__file__).with_name("data") / "estimator.npz"
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
PAD, BOUNDARY = 0, 1                      # letter ids start at 2
KERNEL = 5


def encode(word: str) -> list[int]:
    """A word of lower-case ASCII letters as ids, with a boundary mark on each side."""
    return [BOUNDARY] + [ALPHABET.index(c) + 2 for c in word] + [BOUNDARY]


@functools.cache
def _weights():
    import numpy as np
    with np.load(WEIGHTS) as data:
        return {name: data[name].astype(np.float32) for name in data.files}


def _conv(x, weight, bias):
    """Same-padded 1-D convolution: x (length, in), weight (out, in, k) as torch stores it."""
    import numpy as np
    k = weight.shape[2]
    padded = np.pad(x, ((k // 2, k // 2), (0, 0)))
    windows = np.stack([padded[i:i + len(x)] for i in range(k)], axis=1)   # (length, k, in)
    return windows.reshape(len(x), -1) @ weight.transpose(2, 1, 0).reshape(-1, weight.shape[0]) + bias


def nucleus_scores(word: str):
    """Per-position scores; their sum is the estimated syllable count."""
    import numpy as np
    w = _weights()
    ids = encode(word)
    h = w["emb_w"][ids]
    h = np.maximum(_conv(h, w["c1_w"], w["c1_b"]), 0)
    h = np.maximum(_conv(h, w["c2_w"], w["c2_b"]), 0) + h
    h = np.maximum(_conv(h, w["c3_w"], w["c3_b"]), 0) + h
    logits = h @ w["out_w"][:, :, 0].T + w["out_b"]
    scores = 1 / (1 + np.exp(-logits[:, 0]))
    scores[[0, -1]] = 0.0                  # boundary marks are not letters
    return scores


@functools.lru_cache(maxsize=50_000)
def estimate(word: str) -> int:
    """Estimated syllables of a lower-case ASCII word; at least 1."""
    return max(1, int(round(float(nucleus_scores(word).sum()))))
