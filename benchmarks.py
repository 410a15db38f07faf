r"""Standard math benchmarks in one command (presets, one eval.py result per benchmark and model, one table), and
the pass-rate data tool.

    python eval.py --model_dir ckpts/grpo --benchmarks gsm8k math500 aime24 amc23 minerva_math olympiadbench \
        --compare_baseline --max_completion_length 2048
    python eval.py --model_dir ckpts/grpo --benchmarks math500 --benchmark_dir Qwen2.5-Math/evaluation/data
    python eval.py --model_dir ckpts/grpo --dataset_id data/train.jsonl --split train --num_samples 8 \
        --temperature 0.7 --write_pass_rates pass_rates.jsonl --write_filtered train_band.jsonl
    python benchmarks.py ckpts/demo/data/test.jsonl bench_data   # a problem file as local benchmark files, to try

Each benchmark is a preset: where its problems are (hub id, config, split, or `DIR/<name>/test.jsonl` in the layout
of Qwen2.5-Math's `evaluation/data`), which column holds the problem, and how its gold answer is read. Its problems
and gold answers (as `\boxed{answer}`) are written once to `results/benchmark_data/<name>-<content hash>.jsonl`;
eval.py's own `evaluate` (passed in by eval.py, which imports this module) then generates, scores and writes the
usual resumable result JSON for each model, so every figure in the table is an eval.py figure.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import benchmark_table as table
import reward
import stats
from benchmark_table import LABELS
from cli import given, one_line_errors
from data_utils import load_math_dataset
from errors import UsageError, error_exit
from models import looks_local
from runs import check_writable, model_slug, write_atomically, write_json

RESULTS = Path("results")
BOXED_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
PROMPT_STYLES = {
    "think": "the run's system prompt and rewards (this toolkit's <think>...</think><answer>\\boxed{}</answer>)",
    "boxed": f'system prompt "{BOXED_PROMPT}", graded on accuracy alone',
}
ANSWER_RULE = "the final answer is the last group of \\boxed{} after any </think> (inside <answer> when present)"


@dataclass(frozen=True)
class Columns:
    problem: str
    answer: str
    convention: str  # how the gold answer is read from the answer cell: a key of GOLD_READERS


@dataclass(frozen=True)
class Benchmark:
    name: str
    hub_id: str
    config: str | None
    split: str
    hub: Columns
    local: Columns  # DIR/<name>/test.jsonl, with the columns of Qwen2.5-Math's evaluation/data/<name>/test.jsonl


# Hub ids, configs and splits as lighteval's task definitions use them (math-ai copies where lighteval has none);
# local columns as Qwen2.5-Math's evaluation/parser.py reads its data folder (parse_question, parse_ground_truth).
BENCHMARKS = {b.name: b for b in [
    Benchmark("gsm8k", "openai/gsm8k", "main", "test",
              Columns("question", "answer", "####"), Columns("question", "answer", "####")),
    Benchmark("math500", "HuggingFaceH4/MATH-500", None, "test",
              Columns("problem", "answer", "bare"), Columns("problem", "answer", "bare")),
    Benchmark("aime24", "HuggingFaceH4/aime_2024", None, "train",
              Columns("problem", "answer", "bare"), Columns("problem", "answer", "bare")),
    Benchmark("amc23", "math-ai/amc23", None, "test",
              Columns("question", "answer", "bare"), Columns("question", "answer", "bare")),
    Benchmark("minerva_math", "math-ai/minervamath", None, "test",
              Columns("question", "answer", "bare"), Columns("problem", "solution", "boxed")),
    Benchmark("olympiadbench", "Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train",
              Columns("question", "final_answer", "list"), Columns("question", "final_answer", "list")),
]}


# ----------------------------------------------------------------------------------------------------------------------
# Gold answers: each convention reads the answer itself; it is stored as \boxed{answer}, so reward.py grades it as a
# LaTeX answer (never as free text) whatever convention it came from.

def _after_hashes(cell) -> str | None:
    """GSM8K: the text after the last `####`, thousands separators dropped (`1,200` is a number, not a set)."""
    text = reward.reference_text(cell)
    if text is None or "####" not in text:
        return None
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.rpartition("####")[2]).strip()


def _bare(cell) -> str | None:
    """The cell is the answer (MATH-500, AIME, AMC: text such as `\\frac{14}{3}`, or a number such as 27.0)."""
    text = reward.reference_text(cell)
    return text.strip().strip("$").strip() if text else None


def _boxed(cell) -> str | None:
    """A worked solution (Minerva): its final group of boxes, as reward.py reads a worked reference."""
    text = reward.reference_text(cell)
    return reward.reference_answer(text) if text and reward.final_boxes(text) else None


def _answer_list(cell) -> str | None:
    """OlympiadBench: a list of answers written `$...$`; several answers read as one set, as `\\boxed{a, b}` does."""
    parts = [_bare(part) for part in (cell if isinstance(cell, list) else [cell])]
    parts = [p for p in parts if p]
    return ", ".join(parts) if parts else None


GOLD_READERS = {"####": _after_hashes, "bare": _bare, "boxed": _boxed, "list": _answer_list}


def gold_answer(cell, convention: str) -> str | None:
    """The gold answer as the reference eval.py grades against (`\\boxed{answer}`); None when the cell has none."""
    answer = GOLD_READERS[convention](cell)
    return f"\\boxed{{{answer}}}" if answer else None


# ----------------------------------------------------------------------------------------------------------------------
# Options: checked before anything runs, so a mistake costs one line, not a finished evaluation.

BENCHMARK_ONLY = ("benchmark_dir", "compare_baseline")
PASS_RATE_ONLY = ("pass_rate_min", "pass_rate_max")
NOT_WITH_BENCHMARKS = ("dataset_id", "dataset_config", "split", "prompt_column", "solution_column", "output_file",
                       "write_pass_rates", "write_filtered")


def flag(name: str) -> str:
    return f"--{name}"


def check_seeds(args) -> None:
    """--seeds repeats a sampled evaluation; greedy decoding gives the same completions whatever the seed."""
    if not args.seeds:
        return
    temperature = args.temperature if args.temperature is not None else (0.0 if args.num_samples == 1 else 1.0)
    if temperature == 0:
        raise UsageError("--seeds does not apply to greedy decoding (the default with --num_samples 1: every seed "
                         "gives the same completions): sample with --temperature 0.7 (or --num_samples 8), or drop "
                         "--seeds")
    if given(args, "seed"):
        raise UsageError("--seed and --seeds both given: drop --seed (each of --seeds is used in turn)")
    if len(set(args.seeds)) < len(args.seeds):
        raise UsageError(f"--seeds {' '.join(map(str, args.seeds))} repeats a seed: give each seed once")
    if args.write_pass_rates or args.write_filtered:
        raise UsageError("--write_pass_rates / --write_filtered read one evaluation: drop --seeds (use --num_samples "
                         "for more samples per problem)")


def check_options(args) -> None:
    check_seeds(args)
    if args.benchmarks:
        missing = args.model_dir and looks_local(args.model_dir) and not Path(args.model_dir).expanduser().exists()
        if not args.model_dir or missing:
            raise UsageError(f"--benchmarks needs --model_dir{f' ({args.model_dir} does not exist)' if missing else ''}"
                             ": a trained adapter directory (e.g. ckpts/grpo), or a base model directory or hub id")
        clash = [flag(n) for n in NOT_WITH_BENCHMARKS if given(args, n)]
        if clash:
            raise UsageError(f"{', '.join(clash)} do(es) not apply to --benchmarks: each benchmark brings its data, "
                             "columns and result file (use --max_samples N for its first N problems)")
        if args.compare_baseline and args.baseline:
            raise UsageError("--compare_baseline already evaluates the base model beside the adapter: drop --baseline")
        for wanted in [f for f in ("compare_baseline", "baseline") if getattr(args, f)]:
            if not is_adapter(args.model_dir):
                raise UsageError(f"--{wanted} needs a trained adapter directory as --model_dir ({args.model_dir} has "
                                 f"no adapter_config.json): to benchmark a plain model drop --{wanted}")
        return
    if extra := [flag(n) for n in BENCHMARK_ONLY if given(args, n)]:
        raise UsageError(f"{', '.join(extra)} only appl(ies) with --benchmarks NAME ...")
    if extra := [flag(n) for n in PASS_RATE_ONLY if given(args, n)]:
        if not args.write_filtered:
            raise UsageError(f"{', '.join(extra)} choose(s) the problems --write_filtered keeps: pass --write_filtered "
                             "FILE too")
    if args.write_pass_rates or args.write_filtered:
        if args.num_samples < 2:
            raise UsageError("a pass rate needs several completions per problem: pass --num_samples 8 --temperature "
                             "0.7 (with one, every pass rate is 0 or 1)")
        low, high = band(args)
        if not 0 <= low < high <= 1:
            raise UsageError(f"--pass_rate_min {low} and --pass_rate_max {high} must satisfy 0 <= min < max <= 1")
        for out in filter(None, [args.write_pass_rates, args.write_filtered]):
            if Path(out).expanduser().resolve() == Path(args.dataset_id).expanduser().resolve():
                raise UsageError(f"{out} is the data set being evaluated (--dataset_id): write to another file")


def is_adapter(model_dir: str | None) -> bool:
    return bool(model_dir) and (Path(model_dir).expanduser() / "adapter_config.json").is_file()


def band(args) -> tuple[float, float]:
    """open-r1's pass-rate band: a problem is kept when min < pass rate < max. The default (0, 1) drops the problems
    the model always or never solves."""
    low = 0.0 if args.pass_rate_min is None else args.pass_rate_min
    return low, 1.0 if args.pass_rate_max is None else args.pass_rate_max


def prompt_style(args) -> str:
    """The chosen style; by default the run's own format for an adapter trained here, the common boxed prompt for a
    plain model (which was never taught <think>/<answer>)."""
    return args.prompt_style or ("think" if is_adapter(args.model_dir) else "boxed")


def with_prompt_style(args, style: str):
    """`args` with the style's system prompt and rewards; unchanged for `think` (the run's settings apply)."""
    if style != "boxed":
        return args
    if args.system_prompt is not None:
        raise UsageError("--prompt_style boxed sets the system prompt: drop --system_prompt, or use --prompt_style "
                         "think with your own --system_prompt")
    return replace(args, system_prompt=BOXED_PROMPT, reward_funcs=args.reward_funcs or ["accuracy"])


# ----------------------------------------------------------------------------------------------------------------------
# Benchmarks: load every benchmark first (a missing file or column stops the run before anything is written), then
# evaluate each with eval.py's `evaluate`.

@dataclass
class Prepared:
    benchmark: Benchmark
    source: dict  # where the problems came from, for the table's notes and the summary
    path: Path  # results/benchmark_data/<name>-<hash>.jsonl: the problems and gold answers eval.py reads
    text: str
    num_rows: int


def local_file(benchmark_dir: str, name: str) -> Path:
    return Path(benchmark_dir).expanduser() / name / "test.jsonl"


def prepare(bench: Benchmark, benchmark_dir: str | None) -> Prepared:
    if benchmark_dir:
        path = local_file(benchmark_dir, bench.name)
        dataset_id, config, split, columns = str(path), None, "test", bench.local
        source = {"file": str(path.resolve())}
    else:
        dataset_id, config, split, columns = bench.hub_id, bench.config, bench.split, bench.hub
        source = {"hub_id": bench.hub_id, "config": config, "split": split}
    try:
        data = load_math_dataset(dataset_id, split, config)
    except UsageError as err:
        if benchmark_dir or not str(err).startswith("could not download"):
            raise
        raise UsageError(f"could not download benchmark {bench.name} ({bench.hub_id}; offline or unreachable hub): "
                         "pass local copies with --benchmark_dir DIR holding DIR/<name>/test.jsonl (e.g. a checkout "
                         "of Qwen2.5-Math's evaluation/data), or go online") from None
    rows = preset_rows(data, columns, f"{bench.name}: {dataset_id}")
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]  # other data, other file: a result never mixes the two
    source |= {"problem_column": columns.problem, "answer_column": columns.answer, "convention": columns.convention}
    return Prepared(bench, source, RESULTS / "benchmark_data" / f"{bench.name}-{digest}.jsonl", text, len(rows))


def preset_rows(data, columns: Columns, where: str) -> list[dict]:
    """A benchmark's rows (a datasets.Dataset in the source's own columns) as eval.py reads them: the problem and
    the gold answer as `\\boxed{answer}` (None when the cell has none). A missing column is one error line."""
    missing = [c for c in (columns.problem, columns.answer) if c not in data.column_names]
    if missing:
        raise UsageError(f"{where} has no column(s) {', '.join(missing)} (it has: {', '.join(data.column_names)}); "
                         f"the preset reads {columns.problem!r} and {columns.answer!r}")
    return [{"problem": "" if row[columns.problem] is None else str(row[columns.problem]),
             "solution": gold_answer(row[columns.answer], columns.convention)} for row in data]


def model_modes(args) -> list[str]:
    """The models in the table, by result-file mode: the base model and the adapter, or the one evaluated."""
    if args.compare_baseline:
        return ["baseline", "adapter"]
    return ["baseline" if args.baseline else "adapter" if is_adapter(args.model_dir) else "model"]


@dataclass
class Run:
    """One evaluation: a benchmark, a model, a seed (None: the single --seed)."""

    seed: int | None
    output_file: str
    summary: dict
    scores: dict  # problem index -> its samples' accuracy (stats.score_matrix)


def table_stem(args, slug: str, tag: str) -> str:
    """results/<model>__<style>[__k<k>][__seeds..][__<benchmarks>]: a run on a subset of the presets names them, so
    it never replaces the table of another set."""
    chosen = list(dict.fromkeys(args.benchmarks))
    subset = "" if set(chosen) == set(BENCHMARKS) else "__" + "-".join(chosen)
    seeds = f"__seeds{'-'.join(map(str, args.seeds))}" if args.seeds else ""
    return f"{slug}__{tag}{seeds}{subset}"


def run_benchmarks(args, evaluate) -> int:
    """Evaluate every benchmark with `evaluate` (eval.py's), write the table files, print the table. Returns the exit
    code. Models are evaluated one after the other (every benchmark with the base model, then with the adapter), so
    each is loaded once."""
    for name in args.benchmarks:
        if name not in BENCHMARKS:
            raise UsageError(f"unknown benchmark {name!r}: choose from {', '.join(BENCHMARKS)}")
    if args.benchmark_dir:
        missing = [str(local_file(args.benchmark_dir, n)) for n in args.benchmarks
                   if not local_file(args.benchmark_dir, n).is_file()]
        if missing:
            raise UsageError(f"benchmark file {', '.join(missing)} does not exist: --benchmark_dir needs "
                             "DIR/<name>/test.jsonl for each benchmark (the layout of Qwen2.5-Math's evaluation/data)")
    style = prompt_style(args)
    styled = with_prompt_style(args, style)
    prepared = [prepare(BENCHMARKS[name], args.benchmark_dir) for name in dict.fromkeys(args.benchmarks)]
    for p in prepared:
        if not p.path.exists():
            write_atomically(p.path, p.text)

    # Greedy and sampled runs are both kept: the sample count is in the names (other changes are refused, not mixed).
    tag = f"{style}__k{args.num_samples}" if args.num_samples > 1 else style
    modes, slug = model_modes(args), model_slug(args.model_dir)
    order = [(mode, p, seed) for mode in modes for p in prepared for seed in (args.seeds or [None])]
    runs, models = {}, {}  # models: the loaded model, kept across benchmarks (eval.py's evaluate)
    for n, (mode, p, seed) in enumerate(order, 1):
        seeded = "" if seed is None else f"__seed{seed}"
        output_file = str(RESULTS / f"{slug}__{mode}__{p.benchmark.name}__{tag}{seeded}.json")
        print(f"[{n}/{len(order)}] {p.benchmark.name}, {LABELS[mode]}{'' if seed is None else f', seed {seed}'}: "
              f"{p.num_rows} problems from {p.source.get('hub_id') or p.source['file']} -> {output_file}")
        run_args = replace(styled, benchmarks=None, benchmark_dir=None, compare_baseline=False, seeds=None,
                           seed=args.seed if seed is None else seed,
                           dataset_id=str(p.path), dataset_config=None, split="test", prompt_column="problem",
                           solution_column="solution", output_file=output_file, baseline=mode == "baseline",
                           max_prompt_length=0 if args.max_prompt_length is None else args.max_prompt_length)
        try:
            result = evaluate(run_args, models)
        except UsageError as err:  # eval.py's advice to choose another --output_file does not apply here
            differs = re.search(r"settings \(([^)]*)\)", str(err))
            if output_file not in str(err) or not differs:
                raise
            raise UsageError(f"{output_file} (or its .partial.jsonl) holds results made with other settings "
                             f"({differs.group(1)}): pass --overwrite to replace them, or move them out of "
                             "results/ to keep them") from None
        except KeyboardInterrupt:
            print(f"interrupted: finished batches are kept in {output_file}.partial.jsonl and finished "
                  "benchmarks in their result files; re-run the same command to resume", file=sys.stderr)
            return 130
        runs.setdefault((p.benchmark.name, mode), []).append(
            Run(seed, output_file, result["summary"], stats.score_matrix(result["samples"])))

    report = table.make_report(prepared, modes, runs, style, PROMPT_STYLES[style], ANSWER_RULE)
    stem = RESULTS / table_stem(args, slug, tag)
    write_json(Path(f"{stem}__benchmarks.json"), report)
    write_atomically(Path(f"{stem}__benchmarks.md"), report["markdown"])
    print(report["markdown"], end="")
    print(f"table: {stem}__benchmarks.md (summary: {stem}__benchmarks.json)")
    return 0


# ----------------------------------------------------------------------------------------------------------------------
# Pass rates (open-r1's pass-rate filtering): each problem's share of correct completions, and the data set's rows
# whose pass rate lies in a band, for training on problems the model sometimes but not always solves.

def write_pass_rates(args, result: dict) -> None:
    """Write `--write_pass_rates` and `--write_filtered` from an eval.py result (nothing when neither is asked)."""
    if not (args.write_pass_rates or args.write_filtered):
        return
    groups = {}
    for sample in result["samples"]:
        groups.setdefault(sample["index"], []).append(sample)
    rates = {}
    for index, group in sorted(groups.items()):
        scored = [s["accuracy"] for s in group if s["accuracy"] is not None]
        rates[index] = {"index": index, "problem": group[0]["prompt"][-1]["content"], "solution": group[0]["solution"],
                        "num_samples": len(group), "correct": sum(a >= 1 for a in scored),
                        "pass_rate": sum(a >= 1 for a in scored) / len(group) if len(scored) == len(group) else None}
    if args.write_pass_rates:
        write_atomically(Path(args.write_pass_rates), "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                              for r in rates.values()))
        print(f"pass rates of {len(rates)} problems: {args.write_pass_rates}")
    if args.write_filtered:
        low, high = band(args)
        keep = [i for i, r in rates.items() if r["pass_rate"] is not None and low < r["pass_rate"] < high]
        summary = result["summary"]
        data = load_math_dataset(summary["dataset_id"], summary["split"], summary["dataset_config"])
        write_atomically(Path(args.write_filtered), "".join(json.dumps(data[i], ensure_ascii=False, default=str) + "\n"
                                                            for i in keep))
        print(f"kept {len(keep)} of {len(rates)} problems with {low} < pass rate < {high} (all columns): "
              f"{args.write_filtered}; train on it with --dataset_id {args.write_filtered}")


# ----------------------------------------------------------------------------------------------------------------------
# Local copies in the benchmark layouts, to try --benchmark_dir offline on your own problems (e.g. the demo's).

ENCODERS = {"####": lambda a: f"#### {a}", "bare": lambda a: a,
            "boxed": lambda a: f"So the answer is $\\boxed{{{a}}}$.", "list": lambda a: [f"${a}$"]}


def write_local_copies(source: str, out_dir: str, rows: int | None = None) -> None:
    """The problems of a problem/solution file (answers in \\boxed{}) dealt out to the presets' local files (every
    sixth problem to each), in each benchmark's columns and answer convention."""
    if not Path(source).expanduser().is_file():
        raise UsageError(f"{source} does not exist: pass a .jsonl file with 'problem' and 'solution' columns")
    data = load_math_dataset(source, "test" if rows is None else f"test[:{rows}]")
    pairs = [(row["problem"], reward.reference_answer(row["solution"])) for row in data]
    pairs = [(problem, answer) for problem, answer in pairs if answer]
    for n, bench in enumerate(BENCHMARKS.values()):
        cols = bench.local
        text = "".join(json.dumps({cols.problem: problem, cols.answer: ENCODERS[cols.convention](answer)}) + "\n"
                       for problem, answer in pairs[n::len(BENCHMARKS)])
        write_atomically(local_file(out_dir, bench.name), text)
    print(f"wrote {len(pairs)} problems to {', '.join(BENCHMARKS)} under {out_dir}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a problem/solution file's problems as each benchmark's "
                                                 "local file (DIR/<name>/test.jsonl), to try --benchmark_dir offline.")
    parser.add_argument("source", help="a .jsonl file with 'problem' and 'solution' (answer in \\boxed{}) columns")
    parser.add_argument("out_dir")
    parser.add_argument("--rows", type=int, default=None, help="the first N problems only")
    one_line_errors(parser, "benchmarks.py")
    try:
        args = parser.parse_args(argv)
        if args.rows is not None and args.rows < 1:
            raise UsageError(f"--rows {args.rows} must be at least 1 (the first N problems), or left out for all")
        check_writable(Path(args.out_dir), "out_dir", directory=True)
        write_local_copies(args.source, args.out_dir, args.rows)
    except UsageError as err:
        return error_exit(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
