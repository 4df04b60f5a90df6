"""The embedded adapter's distillation set: every row of training/data/embedded/*.jsonl is checked.

    python -m pytest -q tests/test_embedded_data.py

A row is one JSON object: id, path, diff_hunk, comment, category, haiku. The haiku is the training
target a 270M model learns to imitate, so the checks are strict about form (5-7-5 by harness.form,
the same counter the decoder and the scorer use) and cheap about content (no repeated content word,
no filler, at least one word shared with the hunk or its comment).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from harness.form import check_haiku, split_lines
from reviewer.diff import DiffError, parse_hunk

DATA_DIR = Path(__file__).resolve().parent.parent / "training" / "data" / "embedded"
OWN_FILE = "functional.jsonl"  # the other half lives beside it under another name
FIELDS = {"id", "path", "diff_hunk", "comment", "category", "haiku", "finding"}
CATEGORIES = {"functional", "refactoring", "documentation", "discussion"}
MIN_ROWS = 300
BODY_LINES = (3, 25)
# Words allowed to repeat inside a haiku: articles, prepositions, conjunctions, a few pronouns.
STOPWORDS = frozenset("""
    a an the of in on at to for from by with into onto over under as and or but nor if then than
    is are be it its this that these those no not
""".split())
# Padding words that only exist to reach a syllable count.
FILLER = frozenset("oh ah so indeed truly just very alas quite really".split())
# Markdown, mentions, links and quotes have no place in a posted haiku.
FORBIDDEN_MARKS = re.compile(r"[@`*#\"\[\]<>]|https?:|www\.")
HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
MAX_OPENING_SHARE = 0.15  # no first word may open more than this share of the haiku


@lru_cache(maxsize=1)
def _files() -> tuple[Path, ...]:
    return tuple(sorted(DATA_DIR.glob("*.jsonl")))


@lru_cache(maxsize=1)
def _rows() -> tuple[tuple[str, int, dict], ...]:
    """(file name, line number, parsed object) for every non-blank line; unparsable lines hold
    the raw text under "__raw__" so the JSON test can report them."""
    out = []
    for path in _files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = {"__raw__": line}
            out.append((path.name, number, row if isinstance(row, dict) else {"__raw__": line}))
    return tuple(out)


def _good_rows() -> list[tuple[str, dict]]:
    """Rows that are objects with exactly the expected string fields, labelled for messages."""
    return [(f"{name}:{number} {row['id']}", row) for name, number, row in _rows()
            if set(row) == FIELDS and all(isinstance(row[k], str) for k in FIELDS)]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_']+", text.lower())


def _pieces(text: str) -> set[str]:
    """Words and identifier pieces (snake_case, camelCase, dotted.names split), lowercased."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return {piece for piece in re.split(r"[^a-z0-9]+", spaced.lower()) if len(piece) > 1}


def _fail(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:40])


def test_the_set_exists():
    assert (DATA_DIR / OWN_FILE).is_file(), f"missing {DATA_DIR / OWN_FILE}"
    assert _rows(), "no rows"


def test_rows_are_json_objects_with_exactly_the_fields():
    problems = []
    for name, number, row in _rows():
        if "__raw__" in row:
            problems.append(f"{name}:{number}: not a JSON object")
        elif set(row) != FIELDS:
            problems.append(f"{name}:{number}: fields {sorted(row)}")
        elif not all(isinstance(row[k], str) and row[k].strip() for k in FIELDS):
            problems.append(f"{name}:{number}: every field must be a non-empty string")
    _fail(problems)


def test_ids_are_unique_across_files_and_categories_known():
    rows = _good_rows()
    counts = Counter(row["id"] for _, row in rows)
    problems = [f"duplicate id {key} x{n}" for key, n in counts.items() if n > 1]
    problems += [f"{label}: category {row['category']!r}" for label, row in rows
                 if row["category"] not in CATEGORIES]
    problems += [f"{label}: path {row['path']!r} is not a relative repository path" for label, row in rows
                 if row["path"].startswith("/") or ".." in row["path"].split("/") or " " in row["path"]]
    _fail(problems)


def _hunk_problem(row: dict) -> str | None:
    text = row["diff_hunk"]
    match = HEADER.match(text)
    if not match:
        return "diff_hunk does not start with an @@ -a,b +c,d @@ header"
    try:
        hunk = parse_hunk(row["path"], text)
    except DiffError as error:
        return f"unparsable: {error}"
    declared = tuple(int(g) if g is not None else 1 for g in match.groups())
    held = (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count)
    body = text.rstrip("\n").split("\n")[1:]
    if hunk.truncated or declared != held:
        return f"header says {declared}, body holds {held}"
    if hunk.anchor is None:
        return "no added or removed line, so no anchor"
    if not BODY_LINES[0] <= len(body) <= BODY_LINES[1]:
        return f"{len(body)} body lines, expected {BODY_LINES[0]} to {BODY_LINES[1]}"
    if any(line[:1] not in ("+", "-", " ") for line in body):
        return "a body line does not start with '+', '-' or ' '"
    return None


def test_every_hunk_parses_with_a_valid_anchor_and_exact_counts():
    problems = []
    for label, row in _good_rows():
        problem = _hunk_problem(row)
        if problem:
            problems.append(f"{label}: {problem}")
    _fail(problems)


def test_every_haiku_is_strict_575_by_harness_form():
    problems = []
    for label, row in _good_rows():
        verdict = check_haiku(row["haiku"])
        if not verdict.strict or len(row["haiku"].split("\n")) != 3:
            problems.append(f"{label}: {verdict.counts} {verdict.explain()}")
    _fail(problems)


def test_haiku_are_plain_lowercase_lines_without_filler_or_repeats():
    problems = []
    for label, row in _good_rows():
        haiku = row["haiku"]
        lines = haiku.split("\n")
        words = _words(haiku)
        repeated = sorted(w for w, n in Counter(words).items() if n > 1 and w not in STOPWORDS)
        filler = sorted(set(words) & FILLER)
        if lines != split_lines(haiku):
            problems.append(f"{label}: blank lines or stray spaces")
        if FORBIDDEN_MARKS.search(haiku) or haiku.rstrip().endswith("."):
            problems.append(f"{label}: markdown, mention, link, quote or trailing period")
        if any(line[:1].isupper() for line in lines):
            problems.append(f"{label}: a line starts with a capital")
        if repeated or filler:
            problems.append(f"{label}: repeated {repeated} filler {filler}")
    _fail(problems)


def test_each_haiku_shares_a_word_with_its_hunk_or_comment():
    problems = []
    for label, row in _good_rows():
        haiku = _pieces(row["haiku"]) - STOPWORDS
        context = _pieces(row["diff_hunk"] + "\n" + row["comment"])
        if not haiku & context:
            problems.append(f"{label}: no haiku word appears in the hunk or comment")
    _fail(problems)


def test_no_duplicate_hunks_or_haiku_and_varied_openings():
    rows = [row for _, row in _good_rows()]
    bodies = Counter(row["diff_hunk"].split("\n", 1)[-1].strip() for row in rows)
    poems = Counter(" ".join(_words(row["haiku"])) for row in rows)
    problems = [f"duplicate hunk body x{n}: {body[:60]!r}" for body, n in bodies.items() if n > 1]
    problems += [f"duplicate haiku x{n}: {poem!r}" for poem, n in poems.items() if n > 1]
    openings = Counter(_words(row["haiku"])[0] for row in rows if _words(row["haiku"]))
    if rows and openings:
        word, n = openings.most_common(1)[0]
        if n / len(rows) > MAX_OPENING_SHARE:
            problems.append(f"{n} of {len(rows)} haiku open with {word!r}")
    _fail(problems)


def test_haiku_pass_the_safety_check():
    from reviewer.safety import check_text

    problems = [f"{label}: {check_text(row['haiku'])}" for label, row in _good_rows()
                if check_text(row["haiku"]) is not None]
    _fail(problems)


def test_findings_are_what_stage_one_may_write():
    """One plain, safe sentence of at most 25 words that names code of its hunk, or NOTHING
    (a hunk whose comment only praises it: abstaining is a thing stage one must learn)."""
    from reviewer.grounding import plain_finding
    from reviewer.prompt import NOTHING
    from reviewer.safety import check_text

    problems, nothing = [], 0
    for label, row in _good_rows():
        finding = row["finding"]
        if finding == NOTHING:
            nothing += 1
            continue
        words = {w.lower() for w in re.findall(r"[A-Za-z_]\w+", finding)}
        if len(finding.split()) > 25 or plain_finding(finding) != finding or check_text(finding):
            problems.append(f"{label}: not one plain safe sentence of <= 25 words: {finding!r}")
        elif not words & {w.lower() for w in re.findall(r"[A-Za-z_]\w+", row["diff_hunk"])} - STOPWORDS:
            problems.append(f"{label}: names nothing of its hunk: {finding!r}")
    _fail(problems)
    assert 0 < nothing < 0.1 * len(_good_rows())


def test_the_whole_set_is_large_enough_and_covers_every_category():
    rows = _good_rows()
    assert len(rows) >= MIN_ROWS, f"{len(rows)} valid rows, expected at least {MIN_ROWS}"
    missing = CATEGORIES - {row["category"] for _, row in rows}
    assert not missing, f"no rows of category {sorted(missing)}"
