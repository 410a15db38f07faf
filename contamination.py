"""Benchmark contamination: which training problems share a normalised n-gram with a benchmark problem.

    python contamination.py --train data/train.jsonl --benchmarks math500 aime24            # the presets (hub)
    python contamination.py --train data/train.jsonl --benchmark_dir bench_data             # every local preset file
    python contamination.py --train data/train.jsonl --benchmark_dir bench_data --write_clean data/train_clean.jsonl

open-r1's decontamination (scripts/decontaminate.py, after s1) flags a training problem that shares a word 8-gram
with a benchmark problem, after lower-casing and collapsing whitespace. Here the text is also normalised for
punctuation and spacing, so a copy that only changed `,` to `;`, dropped a `?` or wrote `55+5` for `55 + 5` still
matches: words and numbers are tokens, math operators (`+ - * / = < > ^ ( ) [ ] { } |`) are tokens of their own,
everything else (spaces, `. , ; : ! ? ' " $ \\`) only separates. A problem shorter than n tokens (many arithmetic
problems) has no n-gram: it matches a training problem with exactly the same tokens. `main.py --check` runs this
check when it is given benchmarks (`--benchmarks` or `--benchmark_dir`) and warns on any overlap.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from benchmarks import BENCHMARKS, local_file, prepare
from data_utils import load_math_dataset
from environment import quiet_library_warnings
from errors import UsageError, error_exit
from runs import check_writable, write_atomically

NGRAM = 8  # open-r1's default
TOKEN = re.compile(r"[^\W_]+|[+\-*/=<>^()\[\]{}|]")


def tokens(text) -> tuple[str, ...]:
    """The text as comparison tokens: NFKC, lower case, words, numbers and math operators; the rest separates."""
    return tuple(TOKEN.findall(unicodedata.normalize("NFKC", str(text or "")).lower()))


def grams(text, n: int = NGRAM) -> list[tuple[str, ...]]:
    """Every n-token window of the text, in text order, each once; a text shorter than n tokens is one gram, the
    whole of it."""
    toks = tokens(text)
    if len(toks) < n:
        return [toks] if toks else []
    return list(dict.fromkeys(toks[i:i + n] for i in range(len(toks) - n + 1)))


def an(n: int) -> str:
    return "an" if str(n).startswith("8") or n in (11, 18) else "a"


@dataclass(frozen=True)
class Overlap:
    train_row: int
    benchmark: str
    benchmark_row: int
    shared: str  # the first shared gram, as normalised tokens

    def describe(self) -> str:
        return f"training row {self.train_row} ~ {self.benchmark} row {self.benchmark_row}: {self.shared!r}"


def build_index(problems: dict[str, list[str]], n: int = NGRAM) -> dict[tuple, list[tuple[str, int]]]:
    """gram -> the (benchmark, row) pairs holding it."""
    index: dict[tuple, list[tuple[str, int]]] = {}
    for name, texts in problems.items():
        for row, text in enumerate(texts):
            for gram in grams(text, n):
                index.setdefault(gram, []).append((name, row))
    return index


def find_overlaps(train: list[str], problems: dict[str, list[str]], n: int = NGRAM) -> list[Overlap]:
    """One Overlap per (training row, benchmark row) pair that shares a gram, in training-row order."""
    index = build_index(problems, n)
    found = []
    for row, text in enumerate(train):
        seen = set()
        for gram in grams(text, n):
            for name, bench_row in index.get(gram, ()):
                if (name, bench_row) not in seen:
                    seen.add((name, bench_row))
                    found.append(Overlap(row, name, bench_row, " ".join(gram)))
    return found


def benchmark_problems(names: list[str] | None, benchmark_dir: str | None) -> dict[str, list[str]]:
    """The presets' problems: `names` (every preset with a local file when None) from `benchmark_dir`, else the hub."""
    if names is None:
        if not benchmark_dir:
            raise UsageError("name the benchmarks to compare with: --benchmarks NAME ... or --benchmark_dir DIR")
        names = [name for name in BENCHMARKS if local_file(benchmark_dir, name).is_file()]
        if not names:
            raise UsageError(f"{benchmark_dir} holds no benchmark file: it needs DIR/<name>/test.jsonl for one of "
                             f"{', '.join(BENCHMARKS)}")
    for name in names:
        if name not in BENCHMARKS:
            raise UsageError(f"unknown benchmark {name!r}: choose from {', '.join(BENCHMARKS)}")
        if benchmark_dir and not local_file(benchmark_dir, name).is_file():
            raise UsageError(f"benchmark file {local_file(benchmark_dir, name)} does not exist: --benchmark_dir needs "
                             "DIR/<name>/test.jsonl for each benchmark")
    return {name: [json.loads(line)["problem"] for line in prepare(BENCHMARKS[name], benchmark_dir).text.splitlines()]
            for name in names}


def summary_line(overlaps: list[Overlap], train_rows: int, problems: dict[str, list[str]], n: int = NGRAM) -> str:
    sizes = ", ".join(f"{name} ({len(texts)})" for name, texts in problems.items())
    if not overlaps:
        return f"no overlap: none of {train_rows} training problems shares {an(n)} {n}-gram with {sizes}"
    rows = sorted({o.train_row for o in overlaps})
    hit = sorted({o.benchmark for o in overlaps})
    return (f"{len(rows)} of {train_rows} training problems share {an(n)} {n}-gram with {', '.join(hit)} "
            f"(first: {overlaps[0].describe()})")


def write_clean(data, overlaps: list[Overlap], path: str) -> int:
    """The training rows (every column) without the overlapping ones; returns how many were kept."""
    drop = {o.train_row for o in overlaps}
    keep = [data[i] for i in range(len(data)) if i not in drop]
    write_atomically(Path(path), "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in keep))
    return len(keep)


def main(argv: list[str] | None = None) -> int:
    quiet_library_warnings()  # the data sets' loading bars: our lines say what happens
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--train", required=True, help="training data: hub id or a local .json/.jsonl/.parquet file")
    parser.add_argument("--split", default="train", help="training split (default: train)")
    parser.add_argument("--config", default=None, help="hub configuration of --train, if any")
    parser.add_argument("--prompt_column", default="problem", help="column holding the problem (default: problem)")
    parser.add_argument("--benchmarks", nargs="+", metavar="NAME", default=None,
                        help=f"presets to compare with: {' '.join(BENCHMARKS)} (default: every file in "
                             "--benchmark_dir)")
    parser.add_argument("--benchmark_dir", default=None, help="read DIR/<name>/test.jsonl instead of the hub")
    parser.add_argument("--ngram", type=int, default=NGRAM, help=f"tokens per n-gram (default: {NGRAM}, open-r1's)")
    parser.add_argument("--write_clean", default=None, metavar="PATH",
                        help="write the training rows (all columns) without the overlapping ones to this .jsonl")

    def refuse(message):  # argparse would print its usage too: one line is the project's form
        raise UsageError(f"{message} (see python contamination.py --help)")

    parser.error = refuse
    try:
        args = parser.parse_args(argv)
        if args.ngram < 1:
            raise UsageError(f"--ngram {args.ngram} must be at least 1")
        if args.write_clean:
            check_writable(Path(args.write_clean), "--write_clean", directory=False)
            if Path(args.write_clean).expanduser().resolve() == Path(args.train).expanduser().resolve():
                raise UsageError(f"--write_clean {args.write_clean} is the training file itself: write to another file")
        problems = benchmark_problems(args.benchmarks, args.benchmark_dir)
        data = load_math_dataset(args.train, args.split, args.config)
        if args.prompt_column not in data.column_names:
            raise UsageError(f"--train {args.train} has no column {args.prompt_column!r} (it has: "
                             f"{', '.join(data.column_names)}): pass --prompt_column")
        overlaps = find_overlaps(list(data[args.prompt_column]), problems, args.ngram)
    except UsageError as err:
        return error_exit(err)
    print(summary_line(overlaps, len(data), problems, args.ngram))
    for overlap in overlaps:
        print(f"  {overlap.describe()}")
    if args.write_clean:
        kept = write_clean(data, overlaps, args.write_clean)
        print(f"kept {kept} of {len(data)} training rows: {args.write_clean}")
    return 1 if overlaps and not args.write_clean else 0


if __name__ == "__main__":
    sys.exit(main())
