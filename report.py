"""The run report: the files a run leaves for a reader (plots, model card, samples), and its end-of-run summary.

    python report.py <output_dir>             # a finished run, a run still training, or one checkpoint-N directory
    python report.py <output_dir> --samples   # the same, and print report/samples.md

writes `<dir>/report/{rewards,heldout,completions,training}.png`, `<dir>/report/samples.md` (what the model wrote:
held-out answers from `heldout/step-<N>.jsonl`, training completions from TRL's `completions/` log) and the model card
`<dir>/README.md` (with the run doctor's health warnings), from the newest `trainer_state.json` it finds (the
directory's own, else its newest complete `checkpoint-N/`) and the run's `run_config.json`. train.py calls
`write_report` after the final save and prints `end_of_run_summary` last.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from card import REPORT_DIR, SAMPLES_FILE, dynamic_sampling_text, model_card, samples_markdown
from cli import one_line_errors
from errors import UsageError, error_exit
from plots import write_plots
from run_records import (adapter_dir, duration, first_last, fmt, heldout, load_run, never_beat_start, series,
                         short_name, start_name, wall_time, window)
from runs import check_writable, write_atomically


def write_report(output_dir: str | Path) -> Path:
    """Write `<output_dir>/report/*.png`, `report/samples.md` and the model card `<output_dir>/README.md`; returns the
    report directory.

    TRL writes its own card to the run's --output_dir at every checkpoint save, so call this after the last save."""
    run = load_run(output_dir)
    report_dir = run.directory / REPORT_DIR
    check_writable(report_dir, "report directory", directory=True)
    check_writable(run.directory / "README.md", "model card", directory=False)
    plots = write_plots(run, report_dir)
    write_atomically(report_dir / SAMPLES_FILE, samples_markdown(run))
    loadable = adapter_dir(run)
    model_dir = str(Path(output_dir) / loadable.name) if loadable not in (None, run.directory) else str(output_dir)
    write_atomically(run.directory / "README.md", model_card(run, plots, model_dir))
    return report_dir


def end_of_run_summary(output_dir: str | Path) -> str:
    """The last lines a user sees: where the adapter is, how rewards and held-out accuracy moved, where the report
    is."""
    run = load_run(output_dir)
    config, lines = run.config, []
    wall = wall_time(run)
    lines.append(run.progress[0].upper() + run.progress[1:] + (f" in {duration(wall)}" if wall is not None else ""))
    best, final = config.get("best_step"), config.get("final_step")
    loadable = adapter_dir(run)
    if loadable is None:
        lines.append("  adapter:  none yet (no complete checkpoint)")
    elif loadable != run.directory:
        lines.append(f"  adapter:  no final adapter yet; newest checkpoint: {Path(output_dir) / loadable.name}")
    elif never_beat_start(run):
        lines.append(f"  adapter:  {output_dir}  (training never beat {start_name(run)} on the held-out set: this is "
                     f"step 0's adapter; the final adapter, step {final}, is in {Path(output_dir) / 'final'})")
    elif best is not None and final is not None and best != final:
        lines.append(f"  adapter:  {output_dir}  (best held-out accuracy, step {best}; final adapter, step {final}: "
                     f"{Path(output_dir) / 'final'})")
    else:
        lines.append(f"  adapter:  {output_dir}")
    moves = []
    for key in [*run.reward_keys, "reward"]:
        values = first_last(run.history, key)
        if values:
            moves.append(f"{short_name(key) if '/' in key else 'total'} {fmt(values[0])} -> {fmt(values[1])}")
    if moves:
        k = window(len(series(run.history, "reward")[1]) or 1)
        span = f"first -> last {k} logged steps" if k > 1 else "first -> last logged step"
        lines.append(f"  rewards:  {',  '.join(moves)}  ({span})")
    result = heldout(run)
    if result is not None:
        def at(step):
            return f"{fmt(result.by_step[step].get('eval/accuracy'))} (step {step})"
        text = (f"  held-out accuracy:  {'before' if result.before == 0 else 'first'} {at(result.before)} -> "
                f"best {at(result.best)}")
        if result.last != result.best:
            text += f" -> {'final' if run.finished else 'latest'} {at(result.last)}"
        lines.append(text)
    if dynamic_sampling_text(config):
        lines.append(f"  dynamic sampling:  {dynamic_sampling_text(config)}")
    warnings = config.get("health") or []
    if warnings:
        lines.append(f"  health:   {len(warnings)} warning(s): " + "; ".join(
            f"step {w.get('step')} {str(w.get('check')).replace('_', ' ')}" for w in warnings)
            + " (see the model card's Health section)")
    elif "health" in config:
        lines.append("  health:   no warnings")
    report_dir = run.directory / REPORT_DIR
    if report_dir.is_dir():
        lines.append(f"  report:   {run.directory / 'README.md'} and {report_dir}/ "
                     f"({', '.join(sorted(p.name for p in report_dir.glob('*.png')))})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write plots (<dir>/report/*.png) and a model card (<dir>/README.md) "
                                                 "for a GRPO run, finished or not, or one of its checkpoints.")
    parser.add_argument("output_dir", help="a training --output_dir, or one of its checkpoint-N directories")
    parser.add_argument("--samples", action="store_true",
                        help=f"also print {REPORT_DIR}/{SAMPLES_FILE}: held-out answers at step 0, best and last step, "
                             "and the best and worst completion of a group at a few training steps")
    one_line_errors(parser, "report.py")
    try:
        args = parser.parse_args(argv)
        report_dir = write_report(args.output_dir)
        if args.samples:
            print((report_dir / SAMPLES_FILE).read_text())
        print(end_of_run_summary(args.output_dir))
    except UsageError as err:
        return error_exit(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
