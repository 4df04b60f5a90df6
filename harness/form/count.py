"""Counting syllables of a line: tokens -> spoken pieces -> ranked readings -> line totals.

The lookup chain for one spoken piece (the same for a prose word and for a piece of an
identifier, so an acronym inside ``parseHTTPHeader`` is found like a lone ``HTTP``):
  digits -> numbers; lexicon (exact case, then lower case); a single letter -> its name;
  capitals -> CMUdict when it is a word, else spelled; CMUdict; a compound of known words;
  the estimator for unknown words. Accented Latin letters lose their accents first
  (façade -> facade), so a word is found as its plain spelling is.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import NamedTuple

from . import dictionary, estimator, numbers
from .lexicon import ATTACHED_OPERATORS, CAPS_WORDS, LETTER_SYLLABLES, LEXICON, OPERATORS

# Sources, named in every explanation.
DICTIONARY, LEXICON_SRC, NUMBER, LETTERS, ESTIMATE, COMPOUND, OPERATOR, SILENT = (
    "dictionary", "lexicon", "number", "letters", "estimate", "compound", "operator", "silent")


@dataclass(frozen=True, slots=True)
class Piece:
    """One spoken unit: a word, an acronym, a number, an operator read aloud."""
    text: str
    readings: tuple[int, ...]    # ranked: readings[0] is canonical; empty for silent text
    source: str

    @property
    def syllables(self) -> int:
        return self.readings[0] if self.readings else 0


@dataclass(frozen=True, slots=True)
class Token:
    """A token as written in the line, and the pieces it is read as."""
    text: str
    pieces: tuple[Piece, ...]
    syllables: int = field(init=False)           # canonical, summed once: lines are hot

    def __post_init__(self):
        object.__setattr__(self, "syllables", sum(p.syllables for p in self.pieces))


class LineCount(NamedTuple):                     # a tuple: built for every line, so it must be cheap
    text: str
    syllables: int                     # canonical total
    alternatives: tuple[int, ...]      # every reachable total, sorted (includes the canonical)

    @property
    def tokens(self) -> tuple[Token, ...]:
        """The per-token breakdown, read on demand (explanations need it; counting does not)."""
        return tuple(_read_tokens(tokenize(self.text)))

    def reachable(self, target: int, max_alternative_pieces: int) -> bool:
        """Can ``target`` be read with at most that many pieces off their canonical reading?"""
        return target in _bounded_totals(self.tokens, max_alternative_pieces)

    def breakdown(self) -> str:
        return ", ".join(_describe(t) for t in self.tokens if t.syllables or _has_readings(t))


# --- tokenizing -----------------------------------------------------------------------------

_ABBREVIATIONS = r"(?i:e\.g\.|i\.e\.|etc\.|vs\.|w/o\b|w/(?=\s|$)|c\+\+|[cf]#|\.net\b)"
_GROUPED_NUMBER = r"\d{1,3}(?:,\d{3})+(?![\d,])"
# A word starts with a letter or digit and may join pieces with . - / : (os.path, src/a.py,
# well-known, std::vector) or an apostrophe (don't, user's); operators are never joiners.
# Accents typed as combining marks after a Latin letter (cafe + U+0301) stay in the word.
_WORD = r"\w(?:[\w'’]|(?<=[A-Za-z])[\u0300-\u036f]+|[.\-/:]+(?=\w))*"
_SPOKEN_OPERATOR = r"===|!==|==|!=|<=|>=|->|=>|&&|\|\||\+=|-=|\*=|/=|[=+*<>&%]"
# A dash or slash with space on both sides may be arithmetic (x - y); glued, it is a joiner.
_OPERATOR = _SPOKEN_OPERATOR + r"|(?<!\S)[-/](?!\S)"
# Operators glued to an operand: !done, (!ok), ++i, count++, i--. A prefix -- is a decrement
# only before a single letter or code (--i, --count;), so a flag (--verbose) stays silent.
_ATTACHED = (r"(?<!\w)(?:!|\+\+)(?=\w)|(?<!\w)--(?=[^\W\d_](?!\w)|\w+[;)\]])"
             r"|(?<=\w)(?:\+\+|--)(?!\w)")
# An operator alone in backticks is named, whatever stands around it: prefer `!=` here.
_QUOTED = f"(?<=`)(?:{_SPOKEN_OPERATOR})(?=`)"
# Angle brackets glued to words may enclose type parameters (List<String>, Map<K, V>).
_ANGLE = r"(?<=\w)<(?=\w)|(?<=\w)>(?![\w=])"
# Lookarounds, never neighbouring tokens, decide the glued kinds: a chunk and the whole line
# cut alike, so the chunk caches stay exact.
_TOKEN = re.compile(
    f"(?P<word>{_ABBREVIATIONS}|{_GROUPED_NUMBER}|{_WORD})|(?P<quoted>{_QUOTED})"
    f"|(?P<attached>{_ATTACHED})|(?P<angle>{_ANGLE})|(?P<op>{_OPERATOR})|(?P<other>\\S)")

# Separators inside an identifier are silent; a dot between digits is a decimal point (v2.1).
_SEPARATORS = re.compile(r"[_\-/:'’]+|(?<!\d)\.|\.(?!\d)")
_RUNS = re.compile(r"\d+(?:\.\d+)*|[^\W\d_]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[^\W\d_]+")
# The same two patterns for reviewer.constrain, which must cut words exactly as the checker does.
WORD_PATTERN, CAMEL_PIECES = _WORD, _CAMEL
_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)$", re.I)
_GROUPED = re.compile(_GROUPED_NUMBER + "$")
_POSSESSIVE = re.compile(r"(.+?)['’]s$")
_SIBILANT_END = re.compile(r"(s|z|x|ch|sh|ce|ge|se|ze)$", re.I)
_VOWEL = re.compile(r"[aeiouy]", re.I)
# What - and / are arithmetic between: a number or a single letter (10 - 3, k / 4).
_ARITHMETIC_OPERAND = re.compile(r"[^\W\d_]|\d+(?:[.,]\d+)*")


def tokenize(line: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: kind is word, op, attached (!x, x++), quoted (`==`), angle (< or >
    glued to words) or other."""
    return [(m.lastgroup, m.group()) for m in _TOKEN.finditer(line)]


# --- the lookup chain -------------------------------------------------------------------------

@functools.lru_cache(maxsize=200_000)
def read_word(text: str) -> Token:
    """A word-like token: a prose word, an identifier, a number or an abbreviation."""
    return Token(text, tuple(_word_pieces(text if text.isascii() else _unaccented(text))))


def _unaccented(text: str) -> str:
    """façade -> facade, Pokémon -> Pokemon: accented Latin letters read as their plain
    spelling, which CMUdict and the lexicon know (NFKD, combining marks dropped). Combining
    marks typed after a Latin letter go too; other scripts are kept as written."""
    out: list[str] = []
    for char in text:
        if unicodedata.combining(char) and out and out[-1].isascii() and out[-1].isalpha():
            continue
        out.append(_latin_base(char))
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _latin_base(char: str) -> str:
    """é -> e, ﬁ -> fi; a character that is not a Latin letter (日, ε, ²) is kept."""
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base.isascii() and base.isalpha() else char


def _word_pieces(text: str) -> list[Piece]:
    whole = _lexicon(text)
    if whole:
        return [whole]
    if _GROUPED.match(text):
        return [Piece(text, numbers.integer_readings(text.replace(",", "")), NUMBER)]
    ordinal = _ORDINAL.match(text)
    if ordinal:
        return [Piece(text, numbers.ordinal_readings(ordinal.group(1)), NUMBER)]
    if "'" in text or "’" in text:
        known = dictionary.lookup(text.replace("’", "'"))
        if known:                                # don't, o'clock: CMUdict has them whole
            return [Piece(text, known, DICTIONARY)]
        possessive = _POSSESSIVE.match(text)
        if possessive:
            return _possessive(possessive.group(1))
    pieces: list[Piece] = []
    for part in _SEPARATORS.split(text):
        if part:
            pieces.extend(_part_pieces(part))
    return pieces


def _part_pieces(part: str) -> list[Piece]:
    whole = _lexicon(part)
    if whole:
        return [whole]
    if part.isalpha() and _is_plain_word(part):
        return [_piece(part)]
    pieces: list[Piece] = []
    for run in _RUNS.findall(part):
        if run[0].isdigit():
            pieces.extend(_number_run(run))
        else:
            pieces.extend(_piece(p) for p in _CAMEL.findall(run))
    return pieces


def _is_plain_word(part: str) -> bool:
    """A single-case or Capitalised word is not split further."""
    return part.islower() or part.isupper() or (part[0].isupper() and part[1:].islower())


@functools.lru_cache(maxsize=200_000)
def _piece(text: str) -> Piece:
    found = _lexicon(text)
    if found:
        return found
    if len(text) == 1:
        return Piece(text, (LETTER_SYLLABLES.get(text.lower(), 1),), LETTERS)
    if text.isupper() and text.isascii():
        return _capitals(text)
    known = dictionary.lookup(text)
    if known:
        return Piece(text, known, DICTIONARY)
    return read_unknown(text)


def _lexicon(text: str) -> Piece | None:
    readings = LEXICON.get(text) or LEXICON.get(text.lower())
    return Piece(text, readings, LEXICON_SRC) if readings else None


def _capitals(text: str) -> Piece:
    """Capitals are spelled (OS, CLI, ORM) unless they are a known word (DO NOT MERGE)."""
    lower = text.lower()
    spelled = _spelled(text)
    if len(text) == 2 and lower not in CAPS_WORDS or not _VOWEL.search(text):
        return Piece(text, (spelled,), LETTERS)
    known = dictionary.lookup(lower)
    if known:
        return Piece(text, known, DICTIONARY)
    if len(text) <= 3:                           # ORM, EOF: too short to be a word nobody knows
        return Piece(text, (spelled,), LETTERS)
    return read_unknown(text)                        # RETRIES, TIMEOUTS: a word in capitals


def _spelled(text: str) -> int:
    return sum(LETTER_SYLLABLES.get(c, 1) for c in text.lower())


def read_unknown(text: str) -> Piece:
    """A word no dictionary or lexicon knows: spelled, inflected, compound, or estimated."""
    folded = _fold(text)
    if not folded:                                # a script with no Latin letters: a syllable a character
        return Piece(text, (len(text),), ESTIMATE)
    if not _VOWEL.search(folded) or len(folded) <= 4 and not _pronounceable(folded):
        return Piece(text, (_spelled(folded),), LETTERS)   # cfg, lru: nobody says them, so spelled
    compound = _compound(folded)
    if compound:
        return Piece(text, compound, COMPOUND)
    return Piece(text, (estimator.estimate(folded),), ESTIMATE)


def _fold(text: str) -> str:
    """Lower-case ASCII letters: café -> cafe."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if "a" <= c <= "z")


def _pronounceable(word: str) -> bool:
    """Does the word open and close like English? (lru and ssh do not; lint and tmux do.)"""
    onset = re.match(r"[^aeiouy]*", word).group()
    coda = re.search(r"[^aeiouy]*$", word).group()
    return onset in _ONSETS and coda in _CODAS


_ONSETS = frozenset(
    ["", "b", "bl", "br", "c", "ch", "cl", "cr", "d", "dr", "dw", "f", "fl", "fr", "g", "gl", "gr",
     "gn", "h", "j", "k", "kn", "kl", "kr", "l", "m", "n", "p", "ph", "pl", "pr", "ps", "qu", "q", "r",
     "rh", "s", "sc", "sch", "scr", "sh", "shr", "sk", "sl", "sm", "sn", "sp", "spl", "spr", "squ",
     "st", "str", "sw", "t", "th", "thr", "tr", "tw", "v", "w", "wh", "wr", "x", "z"])
_CODAS = frozenset(
    ["", "b", "c", "ch", "ck", "ct", "d", "f", "ff", "ft", "g", "gh", "ght", "k", "l", "ld", "lf", "lk",
     "ll", "lm", "lp", "lt", "m", "mb", "mp", "n", "nc", "nch", "nd", "ng", "nk", "ns", "nt", "nx", "p",
     "ph", "pt", "r", "rb", "rc", "rch", "rd", "rf", "rg", "rk", "rl", "rm", "rn", "rp", "rs", "rt",
     "rth", "s", "sh", "sk", "sp", "ss", "st", "t", "tch", "th", "tt", "v", "w", "x", "z", "zz",
     "cks", "ds", "gs", "ks", "ls", "ms", "ns", "ps", "rds", "rks", "rms", "rts", "ts", "ws", "xt"])

def _compound(word: str) -> tuple[int, ...] | None:
    """testid -> test + id, getattr -> get + attr: a dictionary word glued to a lexicon term.

    Only compounds with a lexicon term: the estimator reads plain compounds (dataclass) better
    than a dictionary split does (measured on held-out CMUdict words: 96% against 90%), but it
    cannot know that "id" is spelled."""
    for cut in range(2, len(word) - 1):
        head, tail = word[:cut], word[cut:]
        if head in LEXICON and _known(tail) or tail in LEXICON and _known(head):
            return (_known(head)[0] + _known(tail)[0],)
    return None


def _known(word: str) -> tuple[int, ...] | None:
    return LEXICON.get(word) or (dictionary.lookup(word) if len(word) >= 3 else None)


def _possessive(base: str) -> list[Piece]:
    pieces = _word_pieces(base)
    if _SIBILANT_END.search(base) and pieces:
        last = pieces[-1]
        pieces[-1] = Piece(last.text + "'s", tuple(r + 1 for r in last.readings), last.source)
    return pieces


def _number_run(text: str) -> list[Piece]:
    """42 is a number; 3.14 a decimal; 1.2.3 a version, each dot read "point"."""
    whole, *rest = text.split(".")
    if not rest:
        return [Piece(text, numbers.integer_readings(text), NUMBER)]
    if len(rest) == 1:
        return [Piece(text, numbers.decimal_readings(whole, rest[0]), NUMBER)]
    pieces = [Piece(whole, numbers.integer_readings(whole), NUMBER)]
    for part in rest:
        pieces.append(Piece("point", (1,), NUMBER))
        pieces.append(Piece(part, numbers.integer_readings(part), NUMBER))
    return pieces


# --- lines ------------------------------------------------------------------------------------

_SILENT_OPERATOR_CACHE: dict[str, Token] = {}


# The hot path. Tokens never span whitespace, so a line's count is the sum of its chunks'
# counts, except where an operator's reading depends on a neighbouring chunk (a == b). A chunk
# read once is remembered in _CHUNKS as its canonical count, plus _AMBIGUOUS_MARK when it has
# other readings (its canonical count and bit set of reachable totals are in _AMBIGUOUS), or
# _CONTEXT_MARK when an operator in it needs its neighbours (it is read again per context, and
# there are only six: what stands before it and after it). So one sum over _CHUNKS both counts
# a plain line and says whether it needs more work: a line is a few dict look-ups. Chunk counts
# above _LARGEST_CACHED are not cached, so the marks never overflow into each other.
# _ALTERNATIVES keeps the sorted totals of each combination of ambiguous chunks seen.
# tests/test_form.py holds count_line equal to count_line_slowly.
_CHUNKS: dict[str, int] = {}
_AMBIGUOUS: dict[str, tuple[int, int]] = {}
_ALTERNATIVES: dict[tuple, tuple[int, ...]] = {}
_AMBIGUOUS_MARK, _CONTEXT_MARK = 1 << 40, 1 << 80
_COUNT_BITS = _AMBIGUOUS_MARK - 1
_LARGEST_CACHED = 1 << 12
_CACHE_LIMIT = 500_000
_new_tuple = tuple.__new__


def count_line(line: str) -> LineCount:
    """The canonical count, every reachable total and (on demand) the tokens of one line."""
    chunks = line.split()
    try:
        total = sum(map(_CHUNKS.__getitem__, chunks))
    except KeyError:
        return _count_uncached(line, chunks)
    if total < _AMBIGUOUS_MARK:
        return _new_tuple(LineCount, (line, total, (total,)))   # LineCount(...) minus a call
    if total >= _CONTEXT_MARK:
        return _count_in_context(line, chunks)
    canonical = total & _COUNT_BITS
    ambiguous = [_AMBIGUOUS[c] for c in chunks if c in _AMBIGUOUS]
    return LineCount(line, canonical, _alternatives(canonical, ambiguous))


def count_line_slowly(line: str) -> LineCount:
    """The reference path: the whole line tokenized at once, no chunk caches."""
    tokens = _read_tokens(tokenize(line))
    canonical = sum(t.syllables for t in tokens)
    return LineCount(line, canonical, _bits(_reachable(tokens)))


def _alternatives(canonical: int, ambiguous: list[tuple[int, int]]) -> tuple[int, ...]:
    """Sorted totals of a line: its unambiguous rest plus one reading of each ambiguous chunk."""
    key = (canonical, *ambiguous)
    found = _ALTERNATIVES.get(key)
    if found is None:
        reachable = 1 << (canonical - sum(c for c, _ in ambiguous))
        for _, bits in ambiguous:
            reachable = _convolve(reachable, bits)
        found = _bits(reachable)
        if len(_ALTERNATIVES) < _CACHE_LIMIT:
            _ALTERNATIVES[key] = found
    return found


def _count_uncached(line: str, chunks: list[str]) -> LineCount:
    """A line with a chunk never seen: read and remember each new chunk, then count."""
    for chunk in chunks:
        if chunk not in _CHUNKS and (len(_CHUNKS) >= _CACHE_LIMIT or not _remember(chunk)):
            return count_line_slowly(line)       # the caches are full, or a huge number
    return count_line(line)                      # answered from the caches just filled


def _remember(chunk: str) -> bool:
    """Cache one chunk's reading; False when it is too long to cache."""
    raw = tokenize(chunk)
    if any(kind == "op" and not _operator_inside(raw, i) for i, (kind, _) in enumerate(raw)):
        _CHUNKS[chunk] = _CONTEXT_MARK
        return True
    tokens = _read_tokens(raw)
    canonical = sum(t.syllables for t in tokens)
    if canonical > _LARGEST_CACHED:
        return False
    _CHUNKS[chunk] = canonical
    if any(len(p.readings) > 1 for t in tokens for p in t.pieces):
        _AMBIGUOUS[chunk] = (canonical, _reachable(tokens))
        _CHUNKS[chunk] += _AMBIGUOUS_MARK
    return True


def _count_in_context(line: str, chunks: list[str]) -> LineCount:
    """Each contextual chunk read with what stands before and after it; the rest from the caches."""
    edges = [_edges(c) for c in chunks]
    canonical, ambiguous = 0, []
    for i, chunk in enumerate(chunks):
        if _CHUNKS[chunk] == _CONTEXT_MARK:
            count, bits = _in_context(chunk, _left(edges, i), _right(edges, i))
            if bits != 1 << count:
                ambiguous.append((count, bits))
        else:
            count = _CHUNKS[chunk] & _COUNT_BITS
            if chunk in _AMBIGUOUS:
                ambiguous.append(_AMBIGUOUS[chunk])
        canonical += count
    return LineCount(line, canonical, _alternatives(canonical, ambiguous) if ambiguous else (canonical,))


# What an operator sees of a neighbouring chunk, each kind with a stand-in token that an
# operator reads the same way: a number that ends the chunk (100 %, 10 - 3), another number or
# a single letter (x - y), another word ending in a digit (v2 %), any other word, or something
# else (punctuation, an operator, the line's edge). Brackets, quotes and glued operators (!x,
# x++) are looked past, as _neighbour does.
_NUMBER, _LETTER, _DIGIT_WORD, _WORD_EDGE, _NOT_WORD = "number", "letter", "digit", "word", "other"
# (Stand-ins the lookup chain finds at once: an unknown one would load the estimator.)
_CONTEXT_TOKEN = {_NUMBER: ("word", "1"), _LETTER: ("word", "x"), _DIGIT_WORD: ("word", "v1"),
                  _WORD_EDGE: ("word", "word"), _NOT_WORD: ("other", "#")}
# A neighbour seen past a chunk of brackets alone is not right before a %: it loses its digit.
_PAST_WRAPPERS = {_NUMBER: _LETTER, _DIGIT_WORD: _WORD_EDGE}


@functools.lru_cache(maxsize=100_000)
def _edges(chunk: str) -> tuple[str | None, str | None]:
    """(what an operator after the previous chunk sees first, what one before the next sees
    last) of this chunk; None where the chunk is all brackets and quotes."""
    raw = tokenize(chunk)
    spoken = [(kind, text) for kind, text in raw if text not in _WRAPPERS and kind != "attached"]
    if not spoken:
        return None, None
    first, last = _edge(spoken[0]), _edge(spoken[-1])
    if raw[-1][0] == "word" and raw[-1][1][-1].isdigit():
        last = _NUMBER if last == _LETTER else _DIGIT_WORD
    return first, last


def _edge(token: tuple[str, str]) -> str:
    if token[0] != "word":
        return _NOT_WORD
    return _LETTER if _is_operand(token) else _WORD_EDGE


def _left(edges: list[tuple[str | None, str | None]], i: int) -> str:
    for j in range(i - 1, -1, -1):
        last = edges[j][1]
        if last is not None:                     # % reads only a number right before it
            return _PAST_WRAPPERS.get(last, last) if j < i - 1 else last
    return _NOT_WORD


def _right(edges: list[tuple[str | None, str | None]], i: int) -> str:
    return next((first for first, _ in edges[i + 1:] if first is not None), _NOT_WORD)


@functools.lru_cache(maxsize=100_000)
def _in_context(chunk: str, left: str, right: str) -> tuple[int, int]:
    """(canonical count, reachable bits) of a chunk between stand-ins for its neighbours."""
    raw = [_CONTEXT_TOKEN[left], *tokenize(chunk), _CONTEXT_TOKEN[right]]
    tokens = _read_tokens(raw)[1:-1]
    return sum(t.syllables for t in tokens), _reachable(tokens)


def _reachable(tokens) -> int:
    """Bit n is set when the tokens can be read with n syllables in total."""
    reachable = 1
    for piece in (p for t in tokens for p in t.pieces):
        if piece.readings:
            reachable = _convolve(reachable, sum(1 << r for r in set(piece.readings)))
    return reachable


def _convolve(a: int, b: int) -> int:
    """Totals reachable by adding one reachable total of each bit set."""
    out, shift = 0, 0
    while b:
        if b & 1:
            out |= a << shift
        b >>= 1
        shift += 1
    return out


def _bits(mask: int) -> tuple[int, ...]:
    return tuple(n for n in range(mask.bit_length()) if mask >> n & 1)


def _read_tokens(raw: list[tuple[str, str]]) -> list[Token]:
    tokens = []
    for i, (kind, text) in enumerate(raw):
        if kind == "word":
            tokens.append(read_word(text))
        elif kind == "op":
            tokens.append(_operator(raw, i, text))
        elif kind == "attached":
            tokens.append(_spoken(text, ATTACHED_OPERATORS[text]))
        elif kind == "quoted":
            tokens.append(_spoken(text, OPERATORS[text]))
        elif kind == "angle":
            tokens.append(_angle(raw, i, text))
        else:
            tokens.append(_silent(text))
    return tokens


def _operator_inside(raw: list[tuple[str, str]], i: int) -> bool:
    """Are both of this operator's neighbours inside the chunk (so its reading is settled)?"""
    if raw[i][1] == "%":
        return i > 0
    return _neighbour(raw, i, -1) is not None and _neighbour(raw, i, 1) is not None


_WRAPPERS = frozenset("()[]{}`'\"")


def _neighbour(raw: list[tuple[str, str]], i: int, step: int) -> tuple[str, str] | None:
    """The nearest token that is not a bracket, backtick or quote: parse(s) -> dict. A glued
    operator belongs to its operand, so it is looked past too: ok && !done."""
    i += step
    while 0 <= i < len(raw) and (raw[i][1] in _WRAPPERS or raw[i][0] == "attached"):
        i += step
    return raw[i] if 0 <= i < len(raw) else None


def _operator(raw: list[tuple[str, str]], i: int, text: str) -> Token:
    """Read aloud between two words (a == b), for - and / between two numbers or single letters
    (x - y), and for % right after a number (100%)."""
    before, after = _neighbour(raw, i, -1), _neighbour(raw, i, 1)
    if text == "%":
        spoken = i > 0 and raw[i - 1][0] == "word" and raw[i - 1][1][-1].isdigit()
    elif text in ("-", "/"):
        spoken = _is_operand(before) and _is_operand(after)
    else:
        spoken = bool(before and after and before[0] == "word" and after[0] == "word")
    return _spoken(text, OPERATORS[text]) if spoken else _silent(text)


def _is_operand(token: tuple[str, str] | None) -> bool:
    """A number or a single letter: what a dash or slash between makes arithmetic."""
    return bool(token and token[0] == "word" and _ARITHMETIC_OPERAND.fullmatch(token[1]))


def _angle(raw: list[tuple[str, str]], i: int, text: str) -> Token:
    """< glued between words opens type parameters (List<String>: silent), unless a number or
    a single letter stands before it or a number after it: a comparison (i<n, len<10). A glued
    > closes them, silent."""
    if text == "<" and (_is_operand(raw[i - 1]) or raw[i + 1][1][0].isdigit()):
        return _spoken(text, OPERATORS[text])
    return _silent(text)


def _spoken(text: str, readings: tuple[int, ...]) -> Token:
    return Token(text, (Piece(text, readings, OPERATOR),))


def _silent(text: str) -> Token:
    token = _SILENT_OPERATOR_CACHE.get(text)
    if token is None:
        token = _SILENT_OPERATOR_CACHE[text] = Token(text, (Piece(text, (), SILENT),))
    return token


def _bounded_totals(tokens: tuple[Token, ...], budget: int) -> set[int]:
    """Totals reachable when at most ``budget`` pieces take a non-canonical reading."""
    layers = [{0}] + [set() for _ in range(budget)]
    for piece in (p for t in tokens for p in t.pieces):
        first, others = piece.syllables, piece.readings[1:]
        new = [{s + first for s in layer} for layer in layers]
        for used in range(budget):
            new[used + 1] |= {s + r for s in layers[used] for r in others}
        layers = new
    return set().union(*layers)


def _has_readings(token: Token) -> bool:
    return any(p.readings for p in token.pieces)


def _describe(token: Token) -> str:
    spoken = [p for p in token.pieces if p.readings]
    if len(spoken) == 1 and spoken[0].text == token.text:
        return _describe_piece(spoken[0])
    return f"{token.text} -> " + ", ".join(_describe_piece(p) for p in spoken)


def _describe_piece(piece: Piece) -> str:
    text = f"{piece.text} {piece.syllables}"
    if piece.source != DICTIONARY or len(piece.readings) > 1:
        also = f"; also {', '.join(map(str, piece.readings[1:]))}" if len(piece.readings) > 1 else ""
        text += f" ({piece.source}{also})"
    return text
