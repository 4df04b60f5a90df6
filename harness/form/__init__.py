"""The ONE syllable counter and 5-7-5 checker of lgtm-575.

The decoder steers with it, the Action's gate posts only what it passes, and the harness scores
with it, so "valid while decoding" = "valid when posted" = "valid when scored".

    from harness.form import count_line, check_haiku
    count_line("get_user_by_id returns None").syllables          # 9
    check_haiku("An old silent pond\\nA frog jumps into the pond\\nSplash! Silence again").strict

Reading convention (what a count means; tests/data/form/labelled_lines.tsv is labelled under it):
- Dictionary words: American English, CMUdict's first pronunciation is canonical and every other
  pronunciation is an alternative (every 3, also 2). Contractions and possessives as said.
- Identifiers are read as their split words: snake_case, camelCase, PascalCase (HTTPServer ->
  HTTP Server), kebab-case, dotted.names, paths and __dunders__; letters and digits split
  (IPv6 -> IP v 6). Every piece goes through the same lookup chain as a prose word.
- Acronyms are spelled (API 3, CLI 3, AWS 5: W is "double-u") unless commonly said as a word
  (JSON 2, YAML 2, NASA 2, GIF 1); capitals that are English words stay words (DO NOT MERGE).
  Code shorthand is read as engineers say it (src "source", kwargs "kw-args"): lexicon.py.
- Numbers as usually read: 404 four-oh-four, 256 two fifty-six, 2024 twenty twenty-four,
  1500 fifteen hundred, 3.14 three point one four, 1e9 one e nine, v2 v two, 100% one hundred
  percent, 1st first, 1,000 one thousand (numbers.py).
- Operators between two words or numbers are read aloud (== equals, != not equals, -> arrow,
  && and, || or, += plus equals, === triple equals, 4 (also: strict equals, 3), !== not triple
  equals; the table is lexicon.OPERATORS; x==y counts like x == y). Between two numbers or
  single letters, spaced, a minus and a slash are arithmetic: x - y "x minus y", k / 4 "k
  divided by four" (also: "k over four"). Written tight (1/2, 10-3, n/a, x-y) or between longer
  words (and/or, foo - bar) a dash or slash stays silent; --flags too.
- Operators attached to an operand: a prefix ! reads "not" (!done, (!ok) "not done", "not ok");
  a postfix ++ or -- reads "plus plus", "minus minus" (count++); a prefix one the same (++i).
- An operator written alone in backticks is read as that operator: `!=` "not equals",
  `==` "equals", `->` "arrow".
- Generic type parameters: angle brackets are silent and what is inside is read like any other
  word, so single capitals are spelled (Map<K, V> "map k v", List<String> "list string").
- Accented Latin letters belong to their word (façade, fiancée, piñata, Pokémon): the word is
  read as its unaccented spelling is read (façade 2, fiancée 3, piñata 3, Pokémon 3).
- All other punctuation, a lone dash or slash, markdown and emoji are silent.
- Unknown words: a compound of two known words (dataclass), else the CMUdict-fitted estimator.

Verdicts: strict = the canonical counts are exactly 5, 7, 5; lenient = each line can reach its
target with at most MAX_ALTERNATIVE_PIECES pieces read another known way.
"""
from __future__ import annotations

from .count import LineCount, Piece, Token, count_line, tokenize
from .haiku import (FORM, MAX_ALTERNATIVE_PIECES, HaikuVerdict, LineVerdict, check_haiku,
                    split_lines)

__all__ = [
    "FORM", "MAX_ALTERNATIVE_PIECES", "HaikuVerdict", "LineCount", "LineVerdict", "Piece", "Token",
    "check_haiku", "count_line", "split_lines", "tokenize",
]
