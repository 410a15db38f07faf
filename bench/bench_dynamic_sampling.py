"""Dynamic sampling on the offline demo: held-out accuracy against the generation it costs, with and without.

    python bench/bench_dynamic_sampling.py                         # the demo's 200 steps, 3 seeds each way
    python bench/bench_dynamic_sampling.py --steps 60 --seeds 42   # a quick look
    python bench/bench_dynamic_sampling.py --demo_dir ckpts/demo   # reuse a demo's base model and data

Every run is `python main.py` with the demo's own command line (demo.grpo_argv: its model, data, LoRA, batch of 2
prompts x 8 completions, learning rate, held-out evaluation on the validation split, greedy), for the same number of
optimizer steps, with --seed varied, `--logging_steps 1` (exact per-step figures; logging changes no training) and
`--dynamic_sampling` added for the "on" runs. The base model and data are
built once (demo.py, seed 42) unless --demo_dir names an existing demo. For each run it reads what the run recorded:
held-out accuracy (eval/accuracy at the last step; step 0's is the base model's), completions and completion tokens
generated (the dynamic_sampling totals; without it, the steps' completions and TRL's logged mean length), the
training wall time (run_config.json), and TRL's frac_reward_zero_std (the share of generated groups whose rewards
all tie, averaged over the logged steps). It prints one row per run, the mean per mode, and writes a plot of held-out
accuracy against completions generated and against wall time (--plot, default docs/dynamic_sampling.png).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import demo  # noqa: E402

COMPLETIONS_PER_STEP = 16  # demo.grpo_argv: --batch_size 16 on one process, one generation per step


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=demo.GRPO_STEPS, help="optimizer steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44], help="training seeds (each mode)")
    parser.add_argument("--eval_steps", type=int, default=20, help="held-out evaluation every N steps")
    parser.add_argument("--max_generation_rounds", type=int, default=None, help="passed on with --dynamic_sampling")
    parser.add_argument("--num_generations", type=int, default=None,
                        help="instead of the demo's 8 (the batch stays 16 completions): 4 gives more tied groups")
    parser.add_argument("--demo_dir", type=Path, default=None, help="an existing demo output (base_model/, data/)")
    parser.add_argument("--work_dir", type=Path, default=None, help="where runs go (default: a temporary directory); "
                        "finished runs found there are reused, so an interrupted bench continues")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "dynamic_sampling.png")
    return parser.parse_args(argv)


def build_demo_inputs(work: Path) -> Path:
    """The demo's data and warm-started base model (seed 42), as `python main.py --demo` builds them."""
    out = work / "demo"
    data_dir = demo.write_arithmetic_data(out / "data", seed=42)
    demo.build_base_model(out / "base_model", data_dir / "train.jsonl", seed=42)
    return out


def run_once(demo_dir: Path, out: Path, seed: int, args, dynamic: bool) -> dict:
    argv = demo.grpo_argv(demo_dir / "base_model", demo_dir / "data", out, seed, max_steps=args.steps)
    argv[argv.index("--eval_steps") + 1] = str(args.eval_steps)
    argv[argv.index("--logging_steps") + 1] = "1"  # every step's figures (logging changes nothing in training)
    if args.num_generations:
        argv[argv.index("--num_generations") + 1] = str(args.num_generations)
    if dynamic:
        argv.append("--dynamic_sampling")
        if args.max_generation_rounds:
            argv += ["--max_generation_rounds", str(args.max_generation_rounds)]
    if (out / "run_config.json").is_file() and json.loads((out / "run_config.json").read_text()).get("finished"):
        return summarize(out, seed, dynamic, None)  # a finished run in --work_dir (an interrupted bench, re-run)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "main.py", *argv], cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"run failed ({' '.join(argv)}):\n{proc.stderr[-3000:]}")
    return summarize(out, seed, dynamic, time.monotonic() - start)


def summarize(out: Path, seed: int, dynamic: bool, process_s: float) -> dict:
    config = json.loads((out / "run_config.json").read_text())
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    heldout = [(e["step"], e["eval/accuracy"]) for e in history if "eval/accuracy" in e]
    logged = [e for e in history if "loss" in e]
    tokens, completions_at, previous = 0.0, {0: 0}, 0
    for entry in logged:  # without dynamic sampling: each step generates COMPLETIONS_PER_STEP completions
        steps = entry["step"] - previous
        tokens += entry["completions/mean_length"] * COMPLETIONS_PER_STEP * steps
        completions_at[entry["step"]] = entry.get("dynamic_sampling/total_completions",
                                                  entry["step"] * COMPLETIONS_PER_STEP)
        previous = entry["step"]
    ds = config.get("dynamic_sampling") or {}
    return {
        "mode": "on" if dynamic else "off", "seed": seed, "steps": config["final_step"],
        "accuracy": heldout[-1][1], "accuracy_step0": heldout[0][1], "best_accuracy": max(a for _, a in heldout),
        "curve": [(completions_at.get(step, step * COMPLETIONS_PER_STEP), acc) for step, acc in heldout],
        "completions": ds.get("completions_generated", config["final_step"] * COMPLETIONS_PER_STEP),
        "tokens": ds.get("tokens_generated", round(tokens)),
        "wall_s": config["wall_time_s"], "process_s": round(process_s, 1) if process_s else None,
        "frac_reward_zero_std": statistics.mean(e["frac_reward_zero_std"] for e in logged),
        "groups_trained_fraction": (ds["groups_trained"] / ds["groups_generated"]) if ds else None,
        "cap_hits": ds.get("cap_hits"),
    }


def print_table(rows: list[dict]) -> None:
    header = (f"{'mode':<5}{'seed':>5}{'steps':>6}{'held-out acc':>13}{'(step 0)':>9}{'completions':>12}"
              f"{'tokens':>9}{'wall s':>8}{'zero-std':>9}{'kept':>6}{'caps':>5}")
    print(header)
    for r in rows:
        kept = f"{r['groups_trained_fraction']:.2f}" if r["groups_trained_fraction"] is not None else "–"
        print(f"{r['mode']:<5}{r['seed']:>5}{r['steps']:>6}{r['accuracy']:>13.3f}{r['accuracy_step0']:>9.3f}"
              f"{r['completions']:>12}{r['tokens']:>9}{r['wall_s']:>8.0f}{r['frac_reward_zero_std']:>9.3f}{kept:>6}"
              f"{r['cap_hits'] if r['cap_hits'] is not None else '–':>5}")
    print("mean per mode:")
    for mode in ("off", "on"):
        mine = [r for r in rows if r["mode"] == mode]
        if not mine:
            continue
        acc = [r["accuracy"] for r in mine]
        spread = f" ± {statistics.stdev(acc):.3f}" if len(acc) > 1 else ""
        print(f"  {mode:<4} held-out accuracy {statistics.mean(acc):.3f}{spread}; completions "
              f"{statistics.mean(r['completions'] for r in mine):.0f}; tokens {statistics.mean(r['tokens'] for r in mine):.0f}; "
              f"wall {statistics.mean(r['wall_s'] for r in mine):.0f} s; frac_reward_zero_std "
              f"{statistics.mean(r['frac_reward_zero_std'] for r in mine):.3f}")


def plot(rows: list[dict], path: Path, steps: int, title_extra: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"off": "tab:blue", "on": "tab:orange"}
    labels = {"off": "GRPO", "on": "GRPO + --dynamic_sampling"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode in ("off", "on"):
        mine = [r for r in rows if r["mode"] == mode]
        for i, r in enumerate(mine):
            xs, ys = zip(*r["curve"])
            left.plot(xs, ys, "-o", color=colors[mode], alpha=0.75, markersize=3,
                      label=labels[mode] if i == 0 else None)
        right.scatter([r["wall_s"] for r in mine], [r["accuracy"] for r in mine], color=colors[mode],
                      label=labels[mode], s=40)
    left.set(xlabel="completions generated", ylabel="held-out accuracy (greedy, validation)",
             title=f"Held-out accuracy during training ({steps} steps each{title_extra})")
    right.set(xlabel="training wall time (s)", ylabel="held-out accuracy at the last step",
              title="Final accuracy against wall time")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main(argv=None) -> int:
    args = parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench_dynamic_sampling_"))
    demo_dir = args.demo_dir.resolve() if args.demo_dir else build_demo_inputs(work)
    rows = []
    for seed in args.seeds:
        for dynamic in (False, True):
            out = work / f"{'on' if dynamic else 'off'}-seed{seed}"
            rows.append(run_once(demo_dir, out, seed, args, dynamic))
            print(f"[bench] {rows[-1]['mode']} seed {seed}: held-out accuracy {rows[-1]['accuracy']:.3f}, "
                  f"{rows[-1]['completions']} completions, {rows[-1]['wall_s']:.0f} s", flush=True)
    print_table(rows)
    (work / "results.json").write_text(json.dumps(rows, indent=1))
    plot(rows, args.plot, args.steps, f", G={args.num_generations}" if args.num_generations else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
