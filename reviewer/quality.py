"""Content rules a haiku must meet besides its syllables: form is never bought with filler.

Shared by the constrained decoder (a word that would break a rule is not offered) and by compose
(a candidate that breaks one is rejected with the rule's name). The rules are cheap and
mechanical on purpose; whether a haiku names the right issue is the harness's relevance metric.
"""

from __future__ import annotations

import re

# Function words may repeat ("the cache and the lock"); content words may not.
STOPWORDS = frozenset("""
a an the and or but nor so yet for of to in on at by as is are was were be been being it its
this that these those with from into onto out up down off over under than then there here
not no do does did done has have had will would can could should may might must shall
i you he she we they me him her us them my your our their what which who whom when where how
if else while each every all any some one both either neither such own same too very just only
""".split())

# "why" is not among them: a haiku that asks "why?" twice is stalling, not asking.

# Words a writer reaches for to fill a count, not to say anything.
FILLER = frozenset("oh ah alas la lo indeed truly yea nay hey ooh aye yeah".split())

# A word glued to a question or exclamation mark ("a copy?Ya", "why?_"), a closing parenthesis
# ("name)list"), a colon, comma or semicolon ("docstring:font", "docs,zero") or a number to a word
# by a dot ("row.1"): the tail a small model adds to reach a line's count. Dotted names are left
# alone here (see dotted_outside_hunk); numbers keep their commas (3,000).
GLUED_WORD = re.compile(r"[?!)]\w|[A-Za-z][:,;]\w|[A-Za-z]\.\d")
# Words a sentence cannot end on: a haiku whose last word is one of them was cut to fit its count.
DANGLING = frozenset("""
a an the of to with and or but nor for from into onto by at in on as than its their your my our
is are was were be if so when while because unless until whether although whose it's
""".split())
# Prepositions may end a question ("what is it for?"); these end nothing, asked or not ("why not a?").
NEVER_LAST = frozenset("a an the and or but nor its their your my our".split())
_OPEN_PUNCTUATION = ",;:"  # a haiku stopping on one of these stopped mid-sentence
_DOTTED = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+")
_QUESTION = re.compile(r"[?!]")
_WORD_CHAR = re.compile(r"\w")
_AFTER_QUESTION = re.compile(r"[?!].*[A-Za-z0-9]")

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'.-]*[A-Za-z0-9]|[A-Za-z]")


def words_of(text: str) -> list[str]:
    return [word.lower().rstrip(".") for word in _WORD.findall(text)]


def is_content_word(word: str) -> bool:
    return word not in STOPWORDS and len(word) > 1


def repeated_word(lines: list[str] | tuple[str, ...]) -> str | None:
    """The first content word used twice in the haiku, if any."""
    seen: set[str] = set()
    for word in words_of(" ".join(lines)):
        if is_content_word(word):
            if word in seen:
                return word
            seen.add(word)
    return None


def doubled_word(lines: list[str] | tuple[str, ...]) -> str | None:
    """A word said twice in a row, across a line break too ("the answer is a / a comma")."""
    words = words_of(" ".join(lines))
    return next((w for w, after in zip(words, words[1:]) if w == after), None)


def filler_word(lines: list[str] | tuple[str, ...]) -> str | None:
    return next((w for w in words_of(" ".join(lines)) if w in FILLER), None)


def dangling_end(text: str) -> str | None:
    """The function word the text ends on ("...passes it through the"), or the comma, colon or
    semicolon it stops at ("pass the first item,"): a sentence cut to fit its count. None if
    it ends well."""
    end = text.rstrip()[-1:]
    if end and end in _OPEN_PUNCTUATION:
        return end
    words = words_of(text)
    if not words:
        return None
    if words[-1] in NEVER_LAST or words[-1] in DANGLING and end not in "?!":
        return words[-1]
    return None


def stray_word(line: str, last: bool) -> str | None:
    """A lone word between two question marks ("why? hands?") or, on the last line, after the
    final one ("a copy? thumbs"): a count filled with whatever came to hand."""
    pieces = _QUESTION.split(line)[1:]
    if not last and pieces:
        pieces = pieces[:-1]  # the line goes on in the next one
    return next((w[0] for w in map(words_of, pieces) if len(w) == 1), None)


def goes_on_after_question(last_line: str) -> bool:
    """The last line asks and then keeps writing ("use pytest? plead then?"): a model sure its
    haiku was over, made to fill the count. A question may close the haiku, not open its tail."""
    return bool(_AFTER_QUESTION.search(last_line))


def dotted_outside_hunk(text: str, hunk_words: frozenset[str]) -> str | None:
    """A dotted name whose parts are not all identifiers of the hunk ("docstring.passwords"):
    glued words, not code the hunk has."""
    return next((name for name in _DOTTED.findall(text)
                 if not all(part.lower() in hunk_words for part in name.split("."))), None)


def content_problem(lines: tuple[str, ...], examples: tuple[str, ...] = (), instructions: str = "",
                    hunk_words: frozenset[str] | None = None, numbers: frozenset[str] | None = None) -> str | None:
    """Why a 5-7-5 candidate still says nothing worth posting, or None. ``hunk_words`` (the
    hunk's identifiers, lower-cased) turns on the dotted-name rule, ``numbers`` (those the hunk
    and the finding hold) the number rule."""
    if len(set(line.lower() for line in lines)) < len(lines):
        return "a line is repeated"
    openings = [tuple(words_of(line)[:3]) for line in lines]
    if len(set(openings)) < len(openings):
        return "two lines open with the same words"
    glued = next(filter(None, map(GLUED_WORD.search, lines)), None)
    if glued:
        return f"glues a word to {_WORD_CHAR.sub('', glued.group())!r}"
    word = dangling_end(lines[-1])
    if word:
        return f"ends on {word!r}, cut to fit"
    word = next((w for i, line in enumerate(lines) if (w := stray_word(line, i == len(lines) - 1))), None)
    if word:
        return f"a stray word after a question: {word!r}"
    if goes_on_after_question(lines[-1]):
        return "the last line goes on after its question"
    if hunk_words is not None and (name := dotted_outside_hunk(" ".join(lines), hunk_words)):
        return f"{name} is not a name in the hunk"
    word = repeated_word(lines) or doubled_word(lines)
    if word:
        return f"repeats the word {word!r}"
    word = filler_word(lines)
    if word:
        return f"pads with the filler word {word!r}"
    number = number_outside(lines, numbers) if numbers is not None else None
    if number:
        return f"pads with the number {number!r}, which the hunk does not hold"
    if "linter" in words_of(" ".join(lines)):
        return "talks about the linter, not the code"
    if copies_example(lines, examples):
        return "copies the prompt's example"
    if instructions and copies_instructions(lines, instructions):
        return "copies the prompt's instructions"
    return None


_DIGITS = re.compile(r"\d+")


def numbers_in(*texts: str) -> frozenset[str]:
    """The digit runs of ``texts``: the numbers a haiku about them may name."""
    return frozenset(n for text in texts for n in _DIGITS.findall(text))


def number_outside(lines: tuple[str, ...] | list[str], numbers: frozenset[str]) -> str | None:
    """A number the hunk and the finding do not hold ("confusion, bugs. 1000", "three lines of 5,
    7050"): digits a small model writes to reach a count, or the prompt's 5-7-5 echoed."""
    return next((n for line in lines for n in _DIGITS.findall(line) if n not in numbers), None)


def copies_instructions(lines: tuple[str, ...] | list[str], instructions: str, run: int = 3) -> bool:
    """A line holding ``run`` consecutive words of the instructions ("you are a senior"): a
    small base model parroting its prompt."""
    source = " " + " ".join(words_of(instructions)) + " "
    for line in lines:
        words = words_of(line)
        if any(" " + " ".join(words[i:i + run]) + " " in source for i in range(len(words) - run + 1)):
            return True
    return False


def copies_example(lines: tuple[str, ...] | list[str], examples: tuple[str, ...]) -> bool:
    """Two or more lines taken from the prompt's worked examples: a copy, not a review."""
    shown = {line.strip().lower() for example in examples for line in example.split("\n")}
    return sum(line.strip().lower() in shown for line in lines) >= 2
