"""Syllable-constrained decoding: the model may only emit tokens that keep a 5-7-5 writable.

A ``transformers`` LogitsProcessor. For every row of a batch it keeps the haiku written so far
and, at each step, looks at the best-scoring tokens in order and keeps the ones after which the
haiku can still be finished in form; every other token gets -inf. Counting is harness.form's, so
"valid while decoding" is "valid when checked":

* the current line's finished words are counted with ``count_line``; the word still being
  written (a token may be half a word) adds the fewest syllables of any known word it can still
  become (a prefix -> minimum-syllables table over CMUdict and the tech lexicon, plus the
  identifiers of the hunk). A token whose floor overflows the line's budget is masked;
* a word may only be finished if the form checker knows it (dictionary, lexicon, numbers,
  short acronyms) or it is in the hunk: unknown words are where counts go wrong and where small
  models run away ("factor10000000..."); a finished content word may not repeat an earlier one;
* a line break is masked until the line counts exactly its target, and once it does, every
  token that would add a syllable is masked, which leaves the break (or punctuation): forced;
* EOS is masked until the last line is complete, and after it nothing else is offered;
* a word after which the line could only end against reviewer.quality's rules (it fills the
  count on "the", or a last-line question comes before the count) is masked at that word:
  decoding never backtracks, so later the row could only escape;
* only plain characters (reviewer.safety.SAFE_CHARACTERS) are offered: no @, links, markdown;
  and no operators (= + %), whose spoken count depends on what follows them.

If no token among the best ``search`` ones keeps the haiku writable, a wider search runs; if
that fails too, EOS is offered so the row ends: compose then rejects the incomplete haiku
instead of the decoder inventing text. bf16 logits often tie, so ties on the best score are kept.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from harness.form import count_line, dictionary
from harness.form.count import CAMEL_PIECES, WORD_PATTERN, read_word
from harness.form.lexicon import CAPS_WORDS, LEXICON
from reviewer.backends.base import FormConstraint
from reviewer.quality import (GLUED_WORD, dangling_end, goes_on_after_question, is_content_word, stray_word,
                              words_of)
from reviewer.safety import is_plain

_JOINERS = "'.-/:_"
_OPEN_WORD = re.compile(r"[\w'.\-/:]*$")  # what may still grow: the form tokenizer's word characters
_WORDS = re.compile(WORD_PATTERN)  # the checker's own words (abbreviations aside): one definition
_CAMEL = CAMEL_PIECES
# ",,", "===" and runs of spaces: the loops a small model falls into, never words
# and punctuation standing alone (" ; ", " /"): it belongs at the end of a word
_STUTTER = re.compile(r"(?!\(\))[^\w\s]{2}|[.\-/:_]{2}|\s{2}|(?:^|\s)[^\w\s]|(?:^|\s)_")
_KNOWN_SOURCES = frozenset({"dictionary", "lexicon", "number", "compound"})
SHORT_WORDS = CAPS_WORDS | frozenset("i ok id os ui io db pr ci".split())
MAX_DIGITS = 4
_VOWEL = re.compile("[aeiouy]")


@functools.cache
def lexicon_words() -> frozenset[str]:
    return frozenset(key.lower() for key in LEXICON)


@functools.cache
def known_words() -> frozenset[str]:
    return frozenset(dictionary.words()) | lexicon_words()


# ----------------------------------------------------------------------------- word knowledge


@functools.cache
def prefix_floor() -> dict[str, int]:
    """prefix -> fewest (canonical) syllables of a known word that starts with it. ~300k
    prefixes of CMUdict and the lexicon, built once per process in about a second."""
    table: dict[str, int] = {}
    words = dict(dictionary.words())
    words.update((key.lower(), readings) for key, readings in LEXICON.items())
    for word, readings in words.items():
        if not readings or not readings[0] or not _VOWEL.search(word) and word not in lexicon_words():
            continue  # only words a finished word may be (see WordRules._knows_part); none silent
        count = readings[0]
        for end in range(1, len(word) + 1):
            prefix = word[:end]
            if table.get(prefix, 99) > count:
                table[prefix] = count
    return table


_PART_SPLIT = re.compile(r"[.\-/:]+")  # dotted names, f-string, src/app: each part read alone
_PLAIN = re.compile(r"\d+|[a-z']+|[A-Z']+|[A-Z][a-z']+")  # one word: not snake_case or camelCase


@dataclass(frozen=True)
class WordRules:
    """What one row may write: its line budgets and the words its hunk adds to the known ones.

    A part of a word (split at . - / :) may be a plain known word (CMUdict, the lexicon, a
    number) or anything the hunk itself contains; a snake_case or camelCase identifier must come
    from the hunk whole, so the model can name get_user_by_id but not invent erveELEL3."""

    targets: tuple[int, ...]
    hunk_words: frozenset[str]  # lower-cased identifiers of the hunk and their pieces
    hunk_prefixes: dict[str, int] = field(default_factory=dict)  # prefix -> fewest syllables
    identifiers: frozenset[str] = frozenset()  # the hunk's whole identifiers: a dotted name's parts

    @classmethod
    def for_constraint(cls, constraint: FormConstraint) -> "WordRules":
        words: set[str] = set()
        for identifier in constraint.words:
            words.add(identifier.lower())
            words.update(p.lower() for p in _CAMEL.findall(identifier) + re.split(r"[_\W\d]+", identifier) if p)
        prefixes: dict[str, int] = {}
        for word in words:
            count = read_word(word).syllables
            for end in range(1, len(word) + 1):
                prefixes[word[:end]] = min(prefixes.get(word[:end], 99), count)
        return cls(tuple(constraint.syllables), frozenset(words), prefixes,
                   frozenset(w.lower() for w in constraint.words))

    def floor(self, open_word: str) -> int | None:
        """Fewest syllables the word being written can still come to: its finished parts
        counted, its last part by the prefix tables; None if it cannot become a word we allow."""
        if not open_word:
            return 0
        if not self._dotted_from_hunk(open_word):
            return None
        *done, partial = _PART_SPLIT.split(open_word)
        total = 0
        for part in done:
            if part and not self._knows_part(part):
                return None
            total += read_word(part).syllables if part else 0
        if partial.strip("'_"):
            floor = self._partial_floor(partial)
        else:  # "senior-": a part must still follow a joiner, and it has a syllable at least
            floor = 1 if open_word[-1:] in ".-/:" else 0
        return None if floor is None else total + floor

    def _partial_floor(self, partial: str) -> int | None:
        lower = partial.lower()
        from_hunk = self.hunk_prefixes.get(lower)
        if not _PLAIN.fullmatch(partial):
            return from_hunk
        if partial.isdigit():
            return 1 if len(partial) <= MAX_DIGITS else None  # 404, 2024: not 99999999
        known = prefix_floor().get(lower)
        return min((x for x in (known, from_hunk) if x is not None), default=None)

    def knows(self, word: str) -> bool:
        """May this finished word stand in a haiku?"""
        word = word.strip(_JOINERS)
        if not self._dotted_from_hunk(word):
            return False
        return not word or word.lower() in self.hunk_words or all(
            self._knows_part(part) for part in _PART_SPLIT.split(word) if part)

    def _dotted_from_hunk(self, word: str) -> bool:
        """A dotted name (self.cache) must be the hunk's: every part one of its identifiers, the
        part being written a prefix of one (quality.dotted_outside_hunk, while decoding)."""
        *done, partial = word.split(".")
        if not done or not any(p[:1].isalpha() or p[:1] == "_" for p in (*done[1:], partial)):
            return True  # no dot, a sentence's full stop still open, or a number (3.14)
        return (all(p.lower() in self.identifiers for p in done)
                and (not partial or partial.lower() in self.hunk_prefixes))

    def _knows_part(self, part: str) -> bool:
        """Cheap on purpose: dictionary lookups only, never the estimator (this runs for every
        candidate token of every row at every step)."""
        lower = part.lower()
        if lower in self.hunk_words:
            return True
        if part.isdigit():
            return len(part) <= MAX_DIGITS
        if not _PLAIN.fullmatch(part):
            return False
        if len(lower) <= 2:  # CMUdict lists "mm", "er" and every letter: short words must be real
            return lower in SHORT_WORDS or bool(LEXICON.get(part)) and LEXICON[part][0] > 0
        # a word with no vowel letter is an acronym the lexicon knows (SQL, src) or CMUdict noise (hmm, ths)
        return lower in known_words() if _VOWEL.search(lower) else lower in lexicon_words()


# ----------------------------------------------------------------------------- one row's state


@dataclass(frozen=True)
class RowState:
    """The haiku one row has written so far."""

    line: int = 0  # index of the line being written
    text: str = ""  # that line so far
    used: frozenset[str] = frozenset()  # content words finished in earlier lines and this one
    done: bool = False  # EOS emitted, or the row left the constraint (see module doc)
    before: str = ""  # the last word of the line before: "a / a comma" doubles a word too

    def advance(self, token_text: str | None, is_eos: bool, rules: WordRules) -> "RowState | None":
        """The state after one more token, or None when the token makes the haiku unwritable."""
        if is_eos:
            last = self.line == len(rules.targets) - 1
            return replace(self, done=True) if last and self._complete(rules) else None
        if token_text is None or not token_text:
            return None
        if "\n" in token_text:
            return self._break(token_text, rules)
        return self._extend(self.text + token_text, rules)

    def _break(self, token_text: str, rules: WordRules) -> "RowState | None":
        before, _, after = token_text.partition("\n")
        if after.strip() or "\n" in after or self.line >= len(rules.targets) - 1 or not _decodable(before):
            return None
        ended = self._extend(self.text + before, rules)
        if ended is None or not ended._complete(rules):
            return None
        return RowState(self.line + 1, "", ended.used | _content(_open(ended.text)), before=_last_word(ended.text))

    def _extend(self, text: str, rules: WordRules) -> "RowState | None":
        if not _decodable(text) or _STUTTER.search(text) or GLUED_WORD.search(text):
            return None
        open_word = _open(text)
        settled = text[: len(text) - len(open_word)]
        finished = _WORDS.findall(settled[len(self.text) - len(_open(self.text)):])
        used, previous = self.used, _last_word(self.text[: len(self.text) - len(_open(self.text))]) or self.before
        for word in finished:
            if not rules.knows(word) or _content(word) & used or word.lower() == previous:
                return None
            used, previous = used | _content(word), word.lower()
        growing = _PART_SPLIT.split(open_word)[:-1]  # pull- in pull-request: finished parts
        if growing and (_content(" ".join(growing)) & used or growing[0].lower() == previous):
            return None
        if open_word.lower() in used or open_word.lower() == previous:
            return None  # a word already said: finishing it would be masked, so stop it here
        floor = rules.floor(open_word)
        if floor is None or _count(settled) + floor > rules.targets[self.line]:
            return None
        if self._dead_end(text, settled, open_word, floor, rules):
            return None
        return RowState(self.line, text, used, before=self.before)

    def _dead_end(self, text: str, settled: str, open_word: str, floor: int, rules: WordRules) -> bool:
        """Whether quality's rules already rule out every way to finish this line. Decoding never
        backtracks, so a line that fills its count on "the", or asks its question before the
        count is met, could only end by escaping (an incomplete haiku); masked here, the word
        that leads there gives way to one that does not."""
        if stray_word(text, last=False):
            return True  # "why? hands?": a lone word between two questions
        target, last = rules.targets[self.line], self.line == len(rules.targets) - 1
        spent = _count(settled)
        if last and (goes_on_after_question(text) or settled.rstrip()[-1:] in ("?", "!") and spent < target):
            return True  # a question may close the haiku, so on the last line it comes at the count
        if spent + floor == target and (not open_word or rules.knows(open_word)):
            # the line is full once this word ends: it must end well right here. A joiner the
            # text stops on ("matter:") is not where it ends: a space or a part comes next.
            return _ends_badly(text.rstrip(_JOINERS), last)
        return False

    def _complete(self, rules: WordRules) -> bool:
        """The line counts exactly its target, its last word may stand, and it does not end on
        a joiner ("senior-", "src/")."""
        last_word = _open(self.text)
        if last_word and (not rules.knows(last_word) or _content(last_word) & self.used):
            return False
        if self.text.rstrip()[-1:] in _JOINERS:
            return False
        last_line = self.line == len(rules.targets) - 1
        if _ends_badly(self.text, last_line):
            return False  # quality's rules: "a copy? thumbs", "...passes it through the"
        return bool(_WORDS.search(self.text)) and _count(self.text) == rules.targets[self.line]


def _ends_badly(line: str, last: bool) -> bool:
    """quality's rules on where a line may stop: no stray word after a question, and the haiku
    not on a function word ("...passes it through the") or a tail after its question."""
    return bool(stray_word(line, last) or last and (dangling_end(line) or goes_on_after_question(line)))


def _decodable(text: str) -> bool:
    """Plain text without operator characters: harness.form reads "a == b" aloud but "a ==" not,
    so an operator would let a line's count jump after its budget was checked."""
    return is_plain(text) and not any(char in "=+%" for char in text)


def _last_word(text: str) -> str:
    words = _WORDS.findall(text)
    return words[-1].lower() if words else ""


def _open(text: str) -> str:
    return _OPEN_WORD.search(text).group()


def _content(word: str) -> frozenset[str]:
    """The content words in a written word, part by part (pull-request: pull, request)."""
    return frozenset(w for part in _PART_SPLIT.split(word) for w in words_of(part) if is_content_word(w))


@functools.lru_cache(maxsize=65536)
def _count(text: str) -> int:
    return count_line(text).syllables if text.strip() else 0


# ----------------------------------------------------------------------------- the vocabulary


class Vocabulary:
    """Token id -> the text it adds to a decoded string, decoded on demand and cached.

    A token is decoded after an anchor token and the anchor's text removed, which shows the
    leading space SentencePiece ("▁the") and byte-level ("Ġthe") vocabularies encode, and which
    a lone decode drops. Special tokens and partial UTF-8 bytes have no text (None)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.special = frozenset(tokenizer.all_special_ids)
        self.anchor = tokenizer.encode("a", add_special_tokens=False)[:1]
        self.anchor_text = self._decode(self.anchor)
        self._texts: dict[int, str | None] = {}

    def text(self, token_id: int) -> str | None:
        if token_id not in self._texts:
            self._texts[token_id] = self._text(token_id)
        return self._texts[token_id]

    def _text(self, token_id: int) -> str | None:
        if token_id in self.special:
            return None
        pair = self._decode(self.anchor + [token_id])
        text = pair[len(self.anchor_text):] if pair.startswith(self.anchor_text) else self._decode([token_id])
        return None if not text or "\ufffd" in text else text

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


@functools.lru_cache(maxsize=4)
def _vocabulary(tokenizer: Any) -> Vocabulary:
    return Vocabulary(tokenizer)


# ----------------------------------------------------------------------------- the processor


class SyllableBudgetProcessor:
    """A transformers LogitsProcessor over a batch whose rows each write one haiku.

    ``constraints`` has one entry per batch row (None: that row is left alone); rows start at
    ``prompt_length`` (left-padded prompts all end there). ``keep`` viable tokens are kept per
    row and step (plus ties), enough for sampling; greedy decoding only needs the first.
    """

    def __init__(self, vocabulary: Vocabulary, constraints: Sequence[FormConstraint | None],
                 prompt_length: int, eos_ids: Sequence[int], search: int = 64, keep: int = 8) -> None:
        self.vocabulary = vocabulary
        self.rules = [WordRules.for_constraint(c) if c is not None else None for c in constraints]
        self.states: list[RowState | None] = [RowState() if c is not None else None for c in constraints]
        self.prompt_length = prompt_length
        self.eos_ids = frozenset(eos_ids)
        self.escape_id = list(eos_ids)[0]
        self.search, self.keep = search, keep
        self.consumed = 0
        self.stats = {"steps": 0, "checked": 0, "widened": 0, "escaped": 0, "seconds": 0.0}

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        started = time.perf_counter()
        masked = self._mask(input_ids, scores)
        self.stats["seconds"] += time.perf_counter() - started  # the decoder's cost, for bench/generate.py
        return masked

    def _mask(self, input_ids: Any, scores: Any) -> Any:
        import torch  # the processor only ever runs inside transformers' generate

        self._consume(input_ids)
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        top = scores.topk(min(self.search, scores.shape[-1]), dim=-1)
        top_ids, top_scores = top.indices.tolist(), top.values.tolist()
        for row, state in enumerate(self.states):
            if state is None or state.done:
                allowed[row] = True
                continue
            viable = self._viable(row, state, top_ids[row], top_scores[row])
            if not viable:
                viable = self._widen(row, state, scores[row])
            allowed[row, viable] = True
        self.stats["steps"] += 1
        masked = scores.masked_fill(~allowed, float("-inf"))
        stuck = torch.isinf(masked).all(dim=-1)  # a warper had already masked every viable token
        if bool(stuck.any()):
            masked[stuck, self.escape_id] = 0.0
        return masked

    def _consume(self, input_ids: Any) -> None:
        """Advance each row's state by the tokens generate appended since the last call."""
        new = input_ids.shape[1] - self.prompt_length
        if new <= self.consumed:
            return
        fresh = input_ids[:, self.prompt_length + self.consumed:].tolist()
        for row, tokens in enumerate(fresh):
            for token_id in tokens:
                self.states[row] = self._after(row, token_id)
        self.consumed = new

    def _after(self, row: int, token_id: int) -> RowState | None:
        state = self.states[row]
        if state is None or state.done:
            return state
        moved = self._step(row, state, token_id)
        # a token outside the mask (sampling from all -inf, or a caller's processor) ends the
        # row's constraint; compose checks the finished text anyway
        return moved if moved is not None else replace(state, done=True)

    def _step(self, row: int, state: RowState, token_id: int) -> RowState | None:
        is_eos = token_id in self.eos_ids
        return state.advance(None if is_eos else self.vocabulary.text(token_id), is_eos, self.rules[row])

    def _viable(self, row: int, state: RowState, ids: list[int], values: list[float]) -> list[int]:
        viable: list[int] = []
        best = float("-inf")  # the first viable token's score: ties with it are kept past ``keep``
        for token_id, value in zip(ids, values):
            if len(viable) >= self.keep and value < best:
                break
            self.stats["checked"] += 1
            if value != float("-inf") and self._step(row, state, token_id) is not None:
                if not viable:
                    best = value
                viable.append(token_id)
        return viable

    def _widen(self, row: int, state: RowState, row_scores: Any) -> list[int]:
        self.stats["widened"] += 1
        top = row_scores.topk(min(self.search * 32, row_scores.shape[-1]))
        viable = self._viable(row, state, top.indices.tolist(), top.values.tolist())
        if not viable:
            self.stats["escaped"] += 1
            viable = [self.escape_id]
        return viable


def build_processor(tokenizer: Any, constraints: Sequence[FormConstraint | None], prompt_length: int,
                    eos_ids: Sequence[int], **options: Any) -> SyllableBudgetProcessor | None:
    """The processor for one generate call, or None when no row is constrained."""
    if all(c is None for c in constraints):
        return None
    return SyllableBudgetProcessor(_vocabulary(tokenizer), constraints, prompt_length, eos_ids, **options)
