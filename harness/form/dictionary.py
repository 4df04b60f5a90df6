"""CMUdict syllable counts, loaded from the table that ``python -m harness.form.build`` writes.

The table groups words by their readings ("3,2<TAB>every different ..."), so loading is a few
hundred ``dict.fromkeys`` calls rather than 126k parses: start-up stays far under 0.3 s.
Every pronunciation is kept, in CMUdict's order: the first is the canonical reading.
"""
from __future__ import annotations

import functools
import gzip
from pathlib import Path

TABLE = Path(__file__).with_name("data") / "cmudict_syllables.tsv.gz"


@functools.cache
def _table() -> dict[str, tuple[int, ...]]:
    words: dict[str, tuple[int, ...]] = {}
    with gzip.open(TABLE, "rt", encoding="utf-8") as lines:
        for line in lines:
            readings, _, members = line.rstrip("\n").partition("\t")
            words.update(dict.fromkeys(members.split(" "), tuple(map(int, readings.split(",")))))
    return words


def lookup(word: str) -> tuple[int, ...] | None:
    """Ranked syllable counts of a dictionary word, case-insensitive; None when unknown."""
    return _table().get(word.lower())


def words() -> dict[str, tuple[int, ...]]:
    return _table()
