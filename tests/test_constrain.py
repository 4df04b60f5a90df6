"""The syllable-constrained decoder: which tokens it masks, which it forces, and that whatever it
lets through is valid by harness.form.

    python -m pytest -q tests/test_constrain.py
"""

from __future__ import annotations

import random

import pytest

from harness.form import check_haiku
from reviewer.backends.base import FormConstraint
from reviewer.constrain import RowState, WordRules, build_processor

torch = pytest.importorskip("torch")
RULES = WordRules.for_constraint(FormConstraint(words=frozenset({"get_user_by_id", "tqdm"})))
LONG = WordRules.for_constraint(FormConstraint((9, 9, 9), frozenset({"get_user_by_id", "tqdm"})))


def write(*tokens: str, state: RowState = RowState(), rules: WordRules = RULES) -> RowState | None:
    for token in tokens:
        state = state.advance(token, False, rules) if token != "<eos>" else state.advance(None, True, rules)
        if state is None:
            return None
    return state


def test_a_line_break_waits_for_the_budget_and_then_is_the_only_way_on() -> None:
    four = write("the", " cache", " leaks", " fast")          # 4 of 5
    assert four is not None and write("\n", state=four) is None
    five = write(" now", state=four)
    assert five is not None
    assert write("\n", state=five).line == 1                    # exactly 5: the break is allowed
    assert write(" too", state=five) is None                    # a sixth syllable is masked
    assert write(",", state=five) is not None                   # silent punctuation may still come


def test_words_split_over_tokens_are_counted_by_their_cheapest_completion() -> None:
    state = write("the", " cach")                               # "cach" can only become cache(s)...
    assert state is not None and state.text == "the cach"
    assert write("e", state=state).text == "the cache"
    assert write(" memory", " leak", state=write("the", " cache")) is None   # 1+1+3+1 = 6 > 5
    assert write("the", " xqzv") is None                        # no known word starts with xqzv


def test_only_known_words_and_the_hunks_identifiers_may_be_finished() -> None:
    assert write("the", " frobnicator", " ", rules=LONG) is None        # not in CMUdict or the lexicon
    assert write("the", " get_user_by_id", " ", rules=LONG) is not None  # from the hunk
    assert write("the", " get_user_by_name", " ", rules=LONG) is None    # an identifier the hunk lacks
    assert write(" tq", state=write("the", " cache")) is None   # tqdm is spelled: 4 syllables > 5
    assert write("hmm", " ") is None and write("mm", " ") is None    # CMUdict noise is not a word


def test_repeats_stutters_operators_and_unsafe_characters_are_masked() -> None:
    assert write("the", " cache", " cache", " ") is None
    assert write("pull", " pull-", "ths") is None
    assert write("a", ",,") is None and write("a", "  ") is None
    assert write("x", " ==") is None and write("a", " @") is None and write("see", " http") is not None
    assert write("see", " http", "://") is None
    assert write("use", " a", " copy?", "Ya") is None and write("use", " a", " copy?") is not None
    assert write("use", " a", " copy?", "_") is None


def test_eos_only_after_the_last_line_is_complete() -> None:
    lines = ["the cache leaks fast now\n", "nothing ever clears it out\n", "bound it with a cap"]
    state = RowState()
    for line in lines[:2]:
        assert write("<eos>", state=state) is None
        state = write(*line.replace(" ", "\0 ").split("\0"), state=state)
        assert state is not None, line
    state = write(*lines[2].replace(" ", "\0 ").split("\0"), state=state)
    assert state.line == 2 and not state.done
    assert write("\n", state=state) is None                     # no fourth line
    assert write("<eos>", state=state).done
    assert check_haiku("".join(lines)).strict


@pytest.fixture(scope="module")
def tokenizer(tiny_gemma4_dir):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(tiny_gemma4_dir))


def test_the_processor_masks_the_best_token_when_it_overflows(tokenizer) -> None:
    eos = [tokenizer.convert_tokens_to_ids("<turn|>")]
    prompt = torch.tensor([[2, 3]])
    processor = build_processor(tokenizer, [FormConstraint()], prompt.shape[1], eos)
    vocab = len(tokenizer)
    scores = torch.zeros(1, vocab)
    newline = tokenizer.encode("\n", add_special_tokens=False)[0]
    word = tokenizer.encode("the", add_special_tokens=False)[0]
    scores[0, newline], scores[0, eos[0]], scores[0, word] = 9.0, 8.0, 7.0
    masked = processor(prompt, scores.clone())
    assert masked[0, newline] == float("-inf") and masked[0, eos[0]] == float("-inf")  # empty line
    assert masked[0, word] == 7.0 and int(masked.argmax()) == word


def decode_with_random_scores(tokenizer, seed: int, steps: int = 60) -> tuple[str, dict]:
    """Greedy decoding where the 'model' is random logits that favour whole-word tokens and the
    line break: the processor alone must make whatever finishes a valid haiku."""
    from reviewer.constrain import Vocabulary, known_words
    rng = random.Random(seed)
    eos = tokenizer.convert_tokens_to_ids("<turn|>")
    vocabulary = Vocabulary(tokenizer)
    texts = [vocabulary.text(i) or "" for i in range(len(tokenizer))]
    favoured = [i for i, t in enumerate(texts) if t == "\n" or t[:1] == " " and t[1:].lower() in known_words()]
    ids = torch.tensor([[2, 3]])
    processor = build_processor(tokenizer, [FormConstraint()], ids.shape[1], [eos])
    for _ in range(steps):
        scores = torch.tensor([[rng.random() for _ in range(len(tokenizer))]])
        scores[0, favoured] += 2.0
        chosen = int(processor(ids, scores).argmax())
        ids = torch.cat([ids, torch.tensor([[chosen]])], dim=1)
        if chosen == eos:
            break
    return tokenizer.decode(ids[0, 2:], skip_special_tokens=True), processor.stats


def test_whatever_the_processor_lets_finish_is_valid_by_harness_form(tokenizer) -> None:
    finished = 0
    for seed in range(6):
        text, stats = decode_with_random_scores(tokenizer, seed)
        if stats["escaped"] == 0 and text.count("\n") == 2:
            finished += 1
            assert check_haiku(text).strict, (seed, text)
    assert finished >= 3


def test_a_dotted_name_must_be_the_hunks() -> None:
    rules = WordRules.for_constraint(FormConstraint((9, 9, 9), frozenset({"session", "get", "tqdm"})))
    assert write("call", " session.get", " ", rules=rules) is not None
    assert write("call", " session.", "put", rules=rules) is None          # no hunk name starts with put
    assert write("keep", " the", " string.", "why", rules=rules) is None   # glued words, not code
    assert write("keep", " the", " string.", " now", rules=rules) is not None  # a full stop


def test_the_last_line_may_not_end_cut_short_or_on_a_stray_word() -> None:
    two_lines = write("the", " cache", " leaks", " fast", " now", "\n", "nothing", " ever", " clears", " it", " out", "\n")
    assert two_lines is not None and two_lines.line == 2
    cut = write("it", " goes", " through", " to", state=two_lines)
    assert cut is not None and write(" the", state=cut) is None   # 5 syllables ending on "the": masked at once
    assert write(" them", state=cut) is not None
    assert write("use", " a", " lock?", state=two_lines) is None      # a question before the count is met
    assert write("why", " not", " lock", " it", " a", state=two_lines) is None  # "a" ends nothing, asked or not
    assert write("why", " not", " use", " a", " lock?", "<eos>", state=two_lines).done
    fine = write("bound", " it", " with", " a", " cap", state=two_lines)
    assert write("<eos>", state=fine).done
    assert write(",", state=fine) is None and write(":", state=fine) is None  # a haiku that stops mid-sentence
    assert write("bound", ",", " then", state=two_lines) is not None  # a comma inside the line is fine
    assert write("each", " prompt", " matter", ":", " why", "?", "<eos>", state=two_lines).done  # and a colon
    assert write("and", " it", " is", " true", " when", state=two_lines) is None  # a statement ends on "when"
    assert write("why", " not", " one?", " ask", " it", "\n") is not None   # a question mid-haiku may go on
    assert write("why", " ask", " why", " now", " please") is None             # "why" asked twice


def test_dead_ends_are_masked_at_the_word_that_leads_there() -> None:
    """Decoding never backtracks: a line that could only end by breaking a quality rule is cut
    off where it starts, so the model picks another word instead of escaping half-written."""
    two_lines = write("the", " cache", " leaks", " fast", " now", "\n", "nothing", " ever", " clears", " it", " out", "\n")
    four = write("keep", " the", " old", " flag", state=two_lines)
    assert four is not None and write("?", state=four) is None      # a word would have to follow it
    one_line = write("the", " cache", " leaks", " fast", " now", "\n")
    assert write("nothing", " ever", " clears", " it", "?", state=one_line) is not None  # mid-haiku it goes on
    assert write("why", " not", " now?", " hands", "?") is None       # a lone word between two questions
    assert write("the", " cache", " is", " the", "\n", "the") is None  # "the / the": a doubled word
    assert write(" full", state=write("keep", " it", " small", " and", state=two_lines)) is not None


def test_a_line_may_not_end_on_a_joiner() -> None:
    # at the budget a joiner is a dead end (a part must follow it), so it is masked at once
    assert write("you", " are", " a", " senior", "-", rules=RULES) is None
    state = write("you", " are", " a", " senior", rules=LONG)
    assert write("-", "\n", state=state, rules=LONG) is None and write("-", state=state, rules=LONG) is not None
