"""Benchmark: reviewer.diff against raw unidiff on the same synthetic diff.

    python bench/diff.py                       # 50k-line diff + a 20 MB diff; last line is JSON
    python bench/diff.py --lines 200000 --large-mb 0 --repeat 9     # no 20 MB run

All sides get the same bytes:

* "unidiff": raw unidiff, ``PatchSet.from_string(data)`` (decode + full parse, Line objects);
* "unidiff_metadata": ``PatchSet.from_string(data, metadata_only=True)``, the mode our fast
  path runs unidiff in (structure, counts and line types validated, no Line objects);
* "ours": ``parse_diff(data)`` plus the anchor of every hunk, i.e. what ``--list-hunks`` needs:
  decode, chunking, unidiff (metadata-only), slicing each hunk's body out of the text and
  checking every line is accounted for, frozen dataclasses, anchors.

``overhead_pct`` compares ours with raw unidiff (the goal: under +10%); ``layer_ms`` is ours
minus unidiff_metadata, the cost of everything we add to the unidiff call we make. Each time is
the best of ``--repeat`` alternating runs, so load from other processes on a shared machine
inflates no side more than another. The 20 MB runs happen in child processes so that their peak
RSS is the parse's own: the rate holding at 20 MB shows linear time, the RSS the memory bound.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unidiff import PatchSet  # noqa: E402

from reviewer.diff import parse_diff  # noqa: E402

WORDS = ("self", "value", "result", "config", "items", "index", "path", "None", "return", "data")


def synthetic_diff(lines: int = 0, min_bytes: int = 0, seed: int = 575) -> bytes:
    """A git-style diff of about ``lines`` lines (or ``min_bytes`` bytes): files of 1-8 hunks,
    3 lines of context, runs of added and removed lines, section headings: a real PR's shape."""
    rng = random.Random(seed)
    out: list[str] = []
    n_file = size = 0
    while len(out) < lines or size < min_bytes:
        chunk = _file_lines(rng, n_file)
        out.extend(chunk)
        size += sum(map(len, chunk))
        n_file += 1
    return "".join(out).encode("utf-8")


def _file_lines(rng: random.Random, n_file: int) -> list[str]:
    path = f"src/pkg{n_file % 17}/module_{n_file}.py"
    out = [f"diff --git a/{path} b/{path}\n", f"index {n_file:07x}..{n_file + 1:07x} 100644\n",
           f"--- a/{path}\n", f"+++ b/{path}\n"]
    old, shift = 1, 0  # shift: head line number minus base line number so far
    for _ in range(rng.randint(1, 8)):
        old += rng.randint(5, 60)
        body, n_old, n_new = _hunk_body(rng)
        out.append(f"@@ -{old},{n_old} +{old + shift},{n_new} @@ def function_{rng.randint(0, 99)}(self):\n")
        out.extend(body)
        old, shift = old + n_old, shift + n_new - n_old
    return out


def _hunk_body(rng: random.Random) -> tuple[list[str], int, int]:
    body, n_old, n_new = [], 0, 0
    for run in range(rng.randint(1, 4)):
        for _ in range(3):
            body.append(f"     {_code(rng)}\n")
        n_old, n_new = n_old + 3, n_new + 3
        removed, added = rng.randint(0, 6), rng.randint(0, 10)
        body.extend(f"-    {_code(rng)}\n" for _ in range(removed))
        body.extend(f"+    {_code(rng)}\n" for _ in range(added))
        n_old, n_new = n_old + removed, n_new + added
    body.extend(f"     {_code(rng)}\n" for _ in range(3))
    return body, n_old + 3, n_new + 3


def _code(rng: random.Random) -> str:
    return f"{rng.choice(WORDS)} = {rng.choice(WORDS)}.{rng.choice(WORDS)}({rng.choice(WORDS)}, {rng.randint(0, 999)})"


def run_unidiff(data: bytes) -> int:
    return sum(len(hunk) for pf in PatchSet.from_string(data) for hunk in pf)


def run_unidiff_metadata(data: bytes) -> int:
    return sum(len(pf) for pf in PatchSet.from_string(data, metadata_only=True))


def run_ours(data: bytes) -> int:
    files = parse_diff(data)
    return sum(hunk.anchor is not None for f in files for hunk in f.hunks)


def best_times(data: bytes, repeat: int) -> tuple[float, float, float]:
    best = {run_unidiff: float("inf"), run_unidiff_metadata: float("inf"), run_ours: float("inf")}
    for _ in range(repeat):
        for fn in best:
            start = time.perf_counter()
            fn(data)
            best[fn] = min(best[fn], time.perf_counter() - start)
    return best[run_unidiff], best[run_unidiff_metadata], best[run_ours]


def child_run(which: str, path: str) -> None:
    """In a child process: read the diff, parse it once ("read": only read it), report the
    seconds and the peak RSS."""
    with open(path, "rb") as handle:  # read(size): one allocation, no growing buffer to blur the peak
        data = handle.read(Path(path).stat().st_size)
    start = time.perf_counter()
    if which != "read":
        (run_ours if which == "ours" else run_unidiff)(data)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "lines": data.count(b"\n"), "bytes": len(data), "peak_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux's VmHWM belongs to the address space, which exec replaces;
    ru_maxrss would also count the parent's RSS at fork time."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def large_run(which: str, path: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", which, "--child-input", path]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--large-mb", type=float, default=20.0, help="0 skips the large run")
    parser.add_argument("--child", choices=("read", "ours", "unidiff"), help=argparse.SUPPRESS)
    parser.add_argument("--child-input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_run(args.child, args.child_input)
    result = _small_fields(synthetic_diff(args.lines), args.repeat)
    if args.large_mb:
        result.update(_large_fields(args.large_mb))
    print(json.dumps(result))  # the last line: one JSON object


def _small_fields(data: bytes, repeat: int) -> dict[str, float]:
    n_lines = data.count(b"\n")
    unidiff_s, metadata_s, ours_s = best_times(data, repeat)
    result = {"bench": "diff", "lines": n_lines, "bytes": len(data), "repeat": repeat,
              "unidiff_s": round(unidiff_s, 4), "unidiff_metadata_s": round(metadata_s, 4),
              "ours_s": round(ours_s, 4), "unidiff_lines_per_s": round(n_lines / unidiff_s),
              "ours_lines_per_s": round(n_lines / ours_s), "overhead_pct": round(100 * (ours_s / unidiff_s - 1), 1),
              "layer_ms": round(1e3 * (ours_s - metadata_s), 1)}
    print(f"{n_lines} lines: unidiff {unidiff_s * 1e3:.1f} ms, unidiff metadata-only {metadata_s * 1e3:.1f} ms, "
          f"ours {ours_s * 1e3:.1f} ms ({result['overhead_pct']:+.1f}% against unidiff)")
    return result


def _large_fields(megabytes: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "large.diff")
        Path(path).write_bytes(synthetic_diff(min_bytes=int(megabytes * 1e6)))
        base, ours, raw = (large_run(which, path) for which in ("read", "ours", "unidiff"))
    ours_mb, raw_mb = ours["peak_mb"] - base["peak_mb"], raw["peak_mb"] - base["peak_mb"]
    print(f"{ours['bytes'] / 1e6:.1f} MB: ours {ours['seconds']:.2f} s, +{ours_mb:.0f} MB peak RSS; "
          f"unidiff {raw['seconds']:.2f} s, +{raw_mb:.0f} MB peak RSS (over reading the file)")
    return {"large_bytes": ours["bytes"], "large_lines": ours["lines"],
            "large_ours_s": round(ours["seconds"], 3), "large_ours_lines_per_s": round(ours["lines"] / ours["seconds"]),
            "large_ours_peak_rss_mb": round(ours_mb, 1), "large_unidiff_s": round(raw["seconds"], 3),
            "large_unidiff_peak_rss_mb": round(raw_mb, 1)}


if __name__ == "__main__":
    main()
