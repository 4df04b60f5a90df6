"""Numbers as people usually read them aloud, in syllables.

Readings are ranked, most usual first:
  404 -> "four-oh-four" (3); 500 -> "five hundred" (3); 256 -> "two fifty-six" (4);
  2024 -> "twenty twenty-four" (5); 1024 -> "ten twenty-four" (4); 2000 -> "two thousand" (3);
  1500 -> "fifteen hundred" (4); 12345 -> the full cardinal; 3.14 -> "three point one four" (4);
  1st -> "first" (1); 0 -> "zero" (2, also "oh" 1).
"""
from __future__ import annotations

_ONES = [2, 1, 1, 1, 1, 1, 1, 2, 1, 1]            # zero one two three four five six seven eight nine
_TEENS = [1, 3, 1, 2, 2, 2, 2, 3, 2, 2]            # ten eleven twelve thirteen ... nineteen
_TENS = [0, 0, 2, 2, 2, 2, 2, 3, 2, 2]             # twenty thirty forty fifty sixty seventy eighty ninety
_SCALES = [(10**12, 2), (10**9, 2), (10**6, 2), (1000, 2)]  # trillion billion million thousand
_HUNDRED = 2
_POINT = 1
_OH = 1

# Ordinal words whose syllables differ from their cardinal: first 1, second 2, third 1, fifth 1,
# eighth 1, ninth 1, twelfth 1; "-th" adds no syllable elsewhere, "-ieth" adds one (twentieth).
_ORDINAL_ONES = [2, 1, 2, 1, 1, 1, 1, 2, 1, 1]     # zeroth first second third fourth ... ninth
_ORDINAL_TEENS = [1, 3, 1, 2, 2, 2, 2, 3, 2, 2]
_ORDINAL_TENS = [0, 0, 3, 3, 3, 3, 3, 4, 3, 3]     # twentieth thirtieth ... ninetieth


def below_100(n: int) -> int:
    if n < 10:
        return 0 if n == 0 else _ONES[n]
    if n < 20:
        return _TEENS[n - 10]
    return _TENS[n // 10] + (_ONES[n % 10] if n % 10 else 0)


def cardinal(n: int) -> int:
    """Syllables of the full cardinal reading, e.g. 12345 -> twelve thousand three hundred forty-five."""
    if n == 0:
        return _ONES[0]
    total = 0
    for scale, cost in _SCALES:
        if n >= scale:
            total += cardinal(n // scale) + cost
            n %= scale
    if n >= 100:
        total += _ONES[n // 100] + _HUNDRED
        n %= 100
    return total + below_100(n)


def _pair(n: int) -> int:
    """A two-digit group read as one number; 05 in "twenty oh five" reads "oh five"."""
    return _OH + _ONES[n] if n < 10 else below_100(n)


def integer_readings(digits: str) -> tuple[int, ...]:
    """Ranked readings of a digit string (no sign, no separators)."""
    n = int(digits)
    if len(digits) > 1 and digits[0] == "0":            # 007, 0644: digit by digit
        spelled = sum(_OH if d == "0" else _ONES[int(d)] for d in digits)
        return _ranked(spelled, sum(_ONES[int(d)] for d in digits))
    if n == 0:
        return (2, 1)                                    # zero | oh
    full = cardinal(n)
    if 100 <= n <= 999 and n % 100:
        first = _ONES[n // 100]
        usual = first + (_OH + _ONES[n % 10] if n % 100 < 10 else below_100(n % 100))
        return _ranked(usual, full)                      # four-oh-four, two fifty-six
    if 1000 <= n <= 9999 and n % 100:
        if 2000 < n < 2010:
            return _ranked(full, below_100(n // 100) + _pair(n % 100))   # two thousand five
        return _ranked(below_100(n // 100) + _pair(n % 100), full)      # twenty twenty-four
    if 1100 <= n <= 9900 and n % 1000:
        return _ranked(below_100(n // 100) + _HUNDRED, full)            # fifteen hundred
    return (full,)


def decimal_readings(whole: str, fraction: str) -> tuple[int, ...]:
    """3.14 -> three point one four: the fraction is read digit by digit."""
    tail = _POINT + sum(_ONES[int(d)] for d in fraction)
    ranked = [w + tail for w in integer_readings(whole)] if whole else [tail]
    if whole == "0":
        ranked.append(tail)                              # "point five"
    return _ranked(*ranked)


def ordinal_readings(digits: str) -> tuple[int, ...]:
    """1st, 22nd, 99th: the cardinal with its last word made ordinal."""
    n = int(digits)
    last = n % 100
    if last == 0 and n:
        return (cardinal(n),)                            # hundredth, thousandth: same syllables
    if last < 10:
        tail, head = _ORDINAL_ONES[last], n - last
    elif last < 20:
        tail, head = _ORDINAL_TEENS[last - 10], n - last
    elif last % 10 == 0:
        tail, head = _ORDINAL_TENS[last // 10], n - last
    else:
        tail, head = _ORDINAL_ONES[last % 10] + _TENS[last // 10], n - last
    if head == 0:
        return (tail,)
    return (cardinal(head) + tail,)


def _ranked(*readings: int) -> tuple[int, ...]:
    seen: list[int] = []
    for r in readings:
        if r not in seen:
            seen.append(r)
    return tuple(seen)
