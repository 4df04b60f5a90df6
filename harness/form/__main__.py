"""Count syllables of lines on stdin, or judge haiku.

    echo "get_user_by_id returns None" | python -m harness.form
    echo "get_user_by_id returns None" | python -m harness.form --json
    printf 'An old silent pond\\nA frog jumps into the pond\\nSplash! Silence again\\n' \\
        | python -m harness.form --haiku

--json prints one object per input line: {"text", "syllables", "alternatives", "tokens"}.
--haiku reads three-line poems separated by blank lines and prints each verdict.
Exit status: 0 when everything was read (and, with --haiku, every poem is strict-valid: 1 if
not), 2 on bad input (binary data, no text).
"""
from __future__ import annotations

import argparse
import json
import sys

from .count import LineCount, count_line
from .haiku import HaikuVerdict, check_haiku


class InputError(Exception):
    """Input this tool cannot read; the message is one line for a person."""


def read_text(stream) -> str:
    data = stream.read()
    nul = data.find(b"\0")
    if nul >= 0:
        raise InputError(f"input is binary (NUL byte at offset {nul}); give text lines")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"input is not UTF-8 text (bad byte at offset {err.start})") from None
    if not text.strip():
        raise InputError("no input: give lines of text on stdin")
    return text


def line_json(count: LineCount) -> dict:
    return {
        "text": count.text,
        "syllables": count.syllables,
        "alternatives": list(count.alternatives),
        "tokens": [
            {"text": t.text, "syllables": t.syllables,
             "pieces": [{"text": p.text, "syllables": p.syllables, "readings": list(p.readings),
                         "source": p.source} for p in t.pieces if p.readings]}
            for t in count.tokens if any(p.readings for p in t.pieces)
        ],
    }


def poems(text: str) -> list[str]:
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def haiku_report(poem: str, verdict: HaikuVerdict, as_json: bool) -> str:
    if as_json:
        return json.dumps({"haiku": poem.splitlines(), "strict": verdict.strict,
                           "lenient": verdict.lenient, "syllables": list(verdict.counts),
                           "explanation": verdict.explain()}, ensure_ascii=False)
    label = "valid" if verdict.strict else ("lenient only" if verdict.lenient else "invalid")
    return f"{poem}\n=> {label} {'-'.join(map(str, verdict.counts))}: {verdict.explain()}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.form", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per line (or poem)")
    parser.add_argument("--haiku", action="store_true", help="judge blank-line-separated poems")
    args = parser.parse_args(argv)
    try:
        text = read_text(sys.stdin.buffer)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.haiku:
        verdicts = [(p, check_haiku(p)) for p in poems(text)]
        for poem, verdict in verdicts:
            print(haiku_report(poem, verdict, args.json))
        return 0 if all(v.strict for _, v in verdicts) else 1
    for line in text.splitlines():
        count = count_line(line)
        if args.json:
            print(json.dumps(line_json(count), ensure_ascii=False))
        else:
            others = [str(n) for n in count.alternatives if n != count.syllables]
            print(f"{count.syllables:3d}  {line}" + (f"  (also {', '.join(others)})" if others else ""))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:          # `| head` closed the pipe: not an error worth a traceback
        sys.exit(0)
