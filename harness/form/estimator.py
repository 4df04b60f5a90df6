"""Syllables of a word no dictionary knows: a known stem plus an ending, else small networks.

1. Stem rules: a word that is a dictionary word plus an ending of one to five letters (rent+ed,
   bak[e]+ing, user+s) takes the stem's count plus what that ending adds after a stem ending
   in those two letters ("ed" after "nt" adds one, "s" after "er" none), when the build saw
   that rule hold at least 90% of the time among CMUdict's training words (547 rules).
2. Otherwise four networks fitted on CMUdict (two residual CNNs and two bidirectional GRUs)
   score each letter in [0, 1]: does a syllable start here? Their scores are averaged and the
   word's count is the rounded sum.

``python -m harness.form.build`` fits both on the training 90% of CMUdict and records the
accuracy on the other 10% (seed 575) in the weights file; ``bench/form.py`` measures it again.
Inference is plain numpy (no torch at runtime); the weights load on the first unknown word,
not at start-up. ``estimate`` is cached; ``estimate_many`` runs a batch per word length.

    from harness.form.estimator import estimate
    estimate("grafana")     # 3
"""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path

from . import dictionary

WEIGHTS = Path(__file__).with_name("data") / "estimator.npz"
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
PAD, BOUNDARY = 0, 1                      # letter ids start at 2


def encode(word: str) -> list[int]:
    """A word of lower-case ASCII letters as ids, with a boundary mark on each side."""
    return [BOUNDARY] + [ALPHABET.index(c) + 2 for c in word] + [BOUNDARY]


@functools.cache
def _models() -> list[dict[str, object]]:
    """Each model's arrays in torch's layouts (emb, conv{i}_w/_b or gru_weight_ih_l0... ,
    head_w, head_b), as float32."""
    import numpy as np
    with np.load(WEIGHTS) as data:
        count = int(data["models"])
        return [{name.partition("_")[2]: data[name].astype(np.float32)
                 for name in data.files if name.startswith(f"m{m}_")} for m in range(count)]


def metadata() -> dict[str, float]:
    """What the build recorded next to the weights (held-out accuracy, split seed, ...)."""
    import numpy as np
    with np.load(WEIGHTS) as data:
        return {name[5:]: float(data[name]) for name in data.files if name.startswith("meta_")}


@contextlib.contextmanager
def weights_from(path: Path) -> Iterator[None]:
    """Run on other weights for a while: the build scores a candidate this way, exactly as the
    runtime would run it, without touching the shipped file."""
    global WEIGHTS
    shipped, WEIGHTS = WEIGHTS, path
    _forget_loaded()
    try:
        yield
    finally:
        WEIGHTS = shipped
        _forget_loaded()


def _forget_loaded() -> None:
    for cached in (_models, _stem_rules, estimate):
        cached.cache_clear()


def _conv(x, weight, bias):
    """Same-padded 1-D convolution: x (words, length, in), weight (out, in, k) as torch stores it."""
    import numpy as np
    k, length = weight.shape[2], x.shape[1]
    padded = np.pad(x, ((0, 0), (k // 2, k // 2), (0, 0)))
    windows = np.concatenate([padded[:, i:i + length] for i in range(k)], axis=2)   # (.., k * in)
    return windows @ weight.transpose(2, 1, 0).reshape(-1, weight.shape[0]) + bias


def _gru(x, model: dict, layer: int, reverse: bool):
    """One direction of one torch.nn.GRU layer over x (words, length, in); gates r, z, n."""
    import numpy as np
    suffix = f"l{layer}" + ("_reverse" if reverse else "")
    w_hh, b_hh = model[f"gru_weight_hh_{suffix}"], model[f"gru_bias_hh_{suffix}"]
    gates_in = x @ model[f"gru_weight_ih_{suffix}"].T + model[f"gru_bias_ih_{suffix}"]
    words, length, width = x.shape[0], x.shape[1], w_hh.shape[1]
    h = np.zeros((words, width), np.float32)
    out = np.empty((words, length, width), np.float32)
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        gates_h = h @ w_hh.T + b_hh
        r = _sigmoid(gates_in[:, t, :width] + gates_h[:, :width])
        z = _sigmoid(gates_in[:, t, width:2 * width] + gates_h[:, width:2 * width])
        n = np.tanh(gates_in[:, t, 2 * width:] + r * gates_h[:, 2 * width:])
        h = out[:, t] = (1 - z) * n + z * h
    return out


def _sigmoid(x):
    import numpy as np
    return 1 / (1 + np.exp(-x))


def _features(model: dict, ids):
    """Per-position features of a batch of equally long words, ids (words, length)."""
    import numpy as np
    h = model["emb"][ids]
    layer = 0
    while f"gru_weight_hh_l{layer}" in model:
        h = np.concatenate([_gru(h, model, layer, False), _gru(h, model, layer, True)], axis=2)
        layer += 1
    while f"conv{layer}_w" in model:
        out = np.maximum(_conv(h, model[f"conv{layer}_w"], model[f"conv{layer}_b"]), 0)
        h = out + h if layer else out        # residual after the first layer (widths match)
        layer += 1
    return h


def _batch_scores(words: list[str]):
    """Scores (words, length + 2) of equally long words, averaged over the models."""
    import numpy as np
    ids = np.array([encode(w) for w in words])
    models = _models()
    with _one_blas_thread():
        scores = sum(_sigmoid(_features(m, ids) @ m["head_w"] + m["head_b"]) for m in models)
    scores = scores / len(models)
    scores[:, [0, -1]] = 0.0                 # boundary marks are not letters
    return scores


@functools.cache
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:                      # optional: without it BLAS keeps its own threads
        return None
    return ThreadpoolController()


def _one_blas_thread():
    """These products are small and many (a GRU step per letter): BLAS threads cost more to
    wake than they save, up to 25 times the work itself on a busy machine (measured)."""
    controller = _blas_controller()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")


def nucleus_scores(word: str):
    """Per-position scores averaged over the models; their sum is the estimated count."""
    return _batch_scores([word])[0]


def estimate_many(words: list[str], lookup: Callable[[str], tuple[int, ...] | None]) -> dict[str, int]:
    """estimate_with for many words at once, the networks run on a batch per word length."""
    counts = {w: from_stem(w, lookup) for w in words}
    by_length: dict[int, list[str]] = {}
    for word in words:
        if counts[word] is None:
            by_length.setdefault(len(word), []).append(word)
    for group in by_length.values():
        for word, total in zip(group, _batch_scores(group).sum(axis=1)):
            counts[word] = _rounded(total)
    return counts


def _rounded(total) -> int:
    return max(1, int(round(float(total))))


@functools.cache
def _stem_rules() -> dict[str, tuple[int, float]]:
    """rule key ("e ing ak": bak[e] + ing) -> (syllables the ending adds, confidence)."""
    import numpy as np
    with np.load(WEIGHTS) as data:
        keys, deltas, confidence = data["stem_keys"], data["stem_deltas"], data["stem_confidence"]
        return {str(k): (int(d), float(c)) for k, d, c in zip(keys, deltas, confidence)}


def stem_candidates(word: str, is_known: Callable[[str], bool]) -> Iterator[tuple[str, str]]:
    """(rule key, known stem) for each way to read the word as a known stem plus an ending of
    one to five letters: as is (walk+ed), without its final e (bak[e]+ing), with its last
    consonant doubled (run+n+ing) or its y turned to i (happ[y]i+ness)."""
    for cut in range(max(3, len(word) - 5), len(word)):
        stem, ending = word[:cut], word[cut:]
        if is_known(stem):
            yield f"plain {ending} {stem[-2:]}", stem
        if ending != "e" and is_known(stem + "e"):        # not the word itself
            yield f"e {ending} {stem[-2:]}", stem + "e"
        if len(stem) > 3 and stem[-1] == stem[-2] and is_known(stem[:-1]):
            yield f"double {ending} {stem[-3:-1]}", stem[:-1]
        if stem[-1] == "i" and is_known(stem[:-1] + "y"):
            yield f"y {ending} {stem[-3:-1]}", stem[:-1] + "y"


def from_stem(word: str, lookup: Callable[[str], tuple[int, ...] | None]) -> int | None:
    """The count by the most reliable stem rule that applies, or None."""
    rules, best = _stem_rules(), None
    for key, stem in stem_candidates(word, lambda w: lookup(w) is not None):
        rule = rules.get(key)
        if rule and (best is None or rule[1] > best[1]):
            best = (lookup(stem)[0] + rule[0], rule[1])
    return None if best is None else max(1, best[0])


def estimate_with(word: str, lookup: Callable[[str], tuple[int, ...] | None]) -> int:
    """Estimated syllables of a lower-case ASCII word, with stems looked up by ``lookup``."""
    counted = from_stem(word, lookup)
    return counted if counted is not None else _rounded(nucleus_scores(word).sum())


@functools.lru_cache(maxsize=50_000)
def estimate(word: str) -> int:
    """Estimated syllables of a lower-case ASCII word (stems from CMUdict); at least 1."""
    return estimate_with(word, dictionary.lookup)
