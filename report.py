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
import io
import json
import math
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from errors import UsageError, error_exit
from runs import check_writable, checkpoint_step, last_complete_checkpoint, read_json, read_run_config, write_atomically

REPORT_DIR = "report"
SAMPLES_FILE = "samples.md"  # <dir>/report/samples.md: what the model wrote, held out and in training
SAMPLE_PROBLEMS = 3  # held-out problems in samples.md: the first ones of the held-out set, the same at every step
SAMPLE_STEPS = 3  # logged training steps whose best and worst completion samples.md shows: first, middle and last
RUN_OUTCOME = ("finished", "best_step", "best_accuracy", "final_step", "wall_time_s")  # written when a run ends
EVAL_KEYS = ("eval/accuracy", "eval/format", "eval/completion_length", "eval/truncated_fraction")
DIAGNOSTICS = {"diagnostics/answer_extracted_fraction": "answer extracted (fraction)",
               "diagnostics/unparseable_references": "unparseable references (per reward call)",
               "diagnostics/reward_timeouts": "reward timeouts (per reward call)"}


# ----------------------------------------------------------------------------------------------------------------------
# Reading a run

@dataclass
class Run:
    directory: Path  # what the user named: a run's --output_dir or one checkpoint-N directory
    state_path: Path  # the trainer_state.json the figures come from
    state: dict
    config: dict  # run_config.json; {} when missing

    @property
    def history(self) -> list[dict]:
        return [entry for entry in self.state.get("log_history", []) if isinstance(entry, dict)]

    @property
    def step(self) -> int:
        return int(self.state.get("global_step") or 0)

    @property
    def max_steps(self) -> int | None:
        return self.state.get("max_steps") or None

    @property
    def finished(self) -> bool:
        """A finished run's own directory; a checkpoint of it, or a run still training, is not."""
        return bool(self.config.get("finished")) and checkpoint_step(self.directory) is None

    @property
    def reward_keys(self) -> list[str]:
        return reward_keys(self.history, self.config.get("reward_funcs") or ())

    @property
    def progress(self) -> str:
        """'training finished after 120 steps', 'checkpoint at step 60 of 120', or for a run still going (or
        stopped) 'training not finished: step 60 of 120'."""
        total = f" of {self.max_steps}" if self.max_steps else ""
        if checkpoint_step(self.directory) is not None:
            return f"checkpoint at step {self.step}{total}"
        if self.finished:
            return f"training finished after {self.step} steps"
        return f"training not finished: step {self.step}{total}"


def find_trainer_state(directory: Path) -> Path:
    """The trainer_state.json with the most steps among `directory`'s own and its complete checkpoints'.

    The Trainer writes trainer_state.json last when it saves a checkpoint, so a readable one marks a complete
    checkpoint; one being written right now fails to parse and is passed over."""
    candidates = [directory / "trainer_state.json", *directory.glob("checkpoint-*/trainer_state.json"),
                  directory / "final" / "trainer_state.json"]
    readable = [(read_json(path).get("global_step"), path) for path in candidates if path.is_file()]
    damaged = [path for step, path in readable if not isinstance(step, int)]
    readable = [(step, path) for step, path in readable if isinstance(step, int)]
    own = directory / "trainer_state.json"
    if own in damaged:  # the finished run's own record: falling back to a checkpoint would report fewer steps
        raise UsageError(f"{own} is damaged (not a complete trainer state): restore it, or delete it to report "
                         "from the newest complete checkpoint-N/")
    if damaged and not readable:
        raise UsageError(f"{damaged[0]} is damaged (not a complete trainer state) and no other checkpoint is "
                         "complete: re-run training with the same command to save a new checkpoint")
    if not readable:
        raise UsageError(f"no trainer_state.json in {directory} or its checkpoint-N/ directories: point report.py at a "
                         "training --output_dir that has saved at least one checkpoint (see --save_steps)")
    # max() keeps the first of equal steps: the directory's own state wins over a checkpoint's copy of it
    return max(readable, key=lambda item: item[0])[1]


def load_run(output_dir: str | Path) -> Run:
    directory = Path(output_dir).expanduser()
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory: pass a training --output_dir or one of its checkpoint-N "
                         "directories")
    state_path = find_trainer_state(directory)
    config = read_run_config(directory)
    if checkpoint_step(directory) is not None:  # a checkpoint has its own step; the run's outcome is not its own
        config = {k: v for k, v in config.items() if k not in RUN_OUTCOME}
    run = Run(directory, state_path, read_json(state_path), config)
    if not any(_number(entry.get("reward")) is not None or _eval_entry(entry) for entry in run.history):
        raise UsageError(f"{state_path} has no logged training steps yet: run report.py again after the first "
                         "--logging_steps steps have been saved in a checkpoint")
    return run


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _eval_entry(entry: dict) -> bool:
    return _number(entry.get("eval/accuracy")) is not None


def series(history: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of every log entry holding a finite number under `key`."""
    steps, values = [], []
    for entry in history:
        value = _number(entry.get(key))
        if value is not None:
            steps.append(int(entry.get("step", len(steps))))
            values.append(value)
    return steps, values


def reward_keys(history: list[dict], order=()) -> list[str]:
    """The `rewards/<function>/mean` keys, in the order of the run's --reward_funcs (`order`) when it is known."""
    keys = []
    for entry in history:
        keys += [k for k in entry if k.startswith("rewards/") and k.endswith("/mean") and k not in keys]
    order = [str(name) for name in order]

    def rank(key):
        function = key.split("/")[1]
        return next((i for i, name in enumerate(order) if function.startswith(name)), len(order)), key
    return sorted(keys, key=rank)


def short_name(key: str) -> str:
    """rewards/accuracy_reward/mean -> accuracy: the name a user passed to --reward_funcs."""
    return key.split("/")[1].removesuffix("_reward")


def window(count: int) -> int:
    """How many logged steps 'first' and 'last' average over: a quarter of the log, 1 to 10 entries."""
    return max(1, min(10, count // 4))


def first_last(history: list[dict], key: str) -> tuple[float, float, int] | None:
    _, values = series(history, key)
    if not values:
        return None
    k = window(len(values))
    return sum(values[:k]) / k, sum(values[-k:]) / k, k


@dataclass
class Heldout:
    steps: list[int]
    accuracy: list[float]
    by_step: dict  # step -> the eval entry logged at that step
    before: int  # steps of the first, best and last evaluations
    best: int
    last: int


def heldout(run: Run) -> Heldout | None:
    """Held-out evaluations in the log; the best is the run's recorded best_step, else the first highest accuracy."""
    steps, accuracy = series(run.history, "eval/accuracy")
    if not steps:
        return None
    by_step = {}
    for entry in run.history:
        if _eval_entry(entry):
            by_step[int(entry.get("step", 0))] = entry
    recorded = run.config.get("best_step")
    best = recorded if recorded in by_step else steps[accuracy.index(max(accuracy))]
    return Heldout(steps, accuracy, by_step, steps[0], best, steps[-1])


# ----------------------------------------------------------------------------------------------------------------------
# Plots

def smooth(values: list[float]) -> list[float]:
    """Centered moving average over about 1/15 of the log (none on a short log): unlike an exponential average it
    does not lag behind the trend, and the report has the whole log at hand."""
    half = round(len(values) / 30)
    return [sum(values[max(0, i - half):i + half + 1]) / len(values[max(0, i - half):i + half + 1])
            for i in range(len(values))]


def _plot_series(ax, steps, values, label, color, *, band=None):
    """Raw values faint, the smoothed line solid; `band` (same length) is drawn as a shaded +/- region."""
    if not steps:
        return
    if len(steps) == 1:
        ax.plot(steps, values, "o", color=color, label=label)
        return
    dense = len(steps) > 300  # thousands of overlapping raw points would bury the trend
    ax.plot(steps, values, color=color, alpha=0.12 if dense else 0.3, linewidth=0.6 if dense else 1)
    smoothed = smooth(values)
    ax.plot(steps, smoothed, color=color, linewidth=2, label=label)
    if band is not None:
        spread = smooth(band)
        ax.fill_between(steps, [m - s for m, s in zip(smoothed, spread)], [m + s for m, s in zip(smoothed, spread)],
                        color=color, alpha=0.12, linewidth=0)


def _style(ax, title, *, fraction=False, legend=True):
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize=11)
    ax.set_xlabel("step")
    low, high = ax.get_xlim()
    if high - low < 2:  # a single logged step: show whole steps around it, not 0.96 ... 1.04
        ax.set_xlim((low + high) / 2 - 1, (low + high) / 2 + 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    if fraction:
        ax.set_ylim(-0.03, 1.03)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best", framealpha=0.7)


def _in_unit_range(*value_lists) -> bool:
    values = [v for values in value_lists for v in values]
    return bool(values) and all(0 <= v <= 1 for v in values)


COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def _rewards_panels(run: Run) -> list:
    history, panels = run.history, []
    steps, reward = series(history, "reward")
    _, reward_std = series(history, "reward_std")
    if steps:
        def total(ax):
            band = reward_std if len(reward_std) == len(reward) else None
            _plot_series(ax, steps, reward, "mean", "tab:blue", band=band)
            if band and len(steps) > 1:
                ax.fill_between([], [], [], color="tab:blue", alpha=0.12, label="± std within groups")
            _style(ax, "total reward (weighted sum)")
        panels.append(total)
    keys = run.reward_keys
    if keys:
        def each(ax):
            for key, color in zip(keys, COLORS[1:] + COLORS[:1]):
                _plot_series(ax, *series(history, key), short_name(key), color)
            _style(ax, "mean of each reward", fraction=_in_unit_range(*(series(history, k)[1] for k in keys)))
        panels.append(each)
    zero_steps, zero = series(history, "frac_reward_zero_std")
    if zero_steps:
        panels.append(_fraction_panel(zero_steps, zero, "frac_reward_zero_std", "tab:gray",
                                      "groups with equal rewards (no signal)"))
    return panels


def _fraction_panel(steps, values, label: str, color: str, title: str):
    """A panel of one series in [0, 1], without a legend (the title says what it is)."""
    def panel(ax):
        _plot_series(ax, steps, values, label, color)
        _style(ax, title, fraction=True, legend=False)
    return panel


def _heldout_panels(run: Run) -> list:
    result = heldout(run)
    if result is None:
        return []
    history = run.history

    def scores(ax):
        ax.plot(result.steps, result.accuracy, "o-", color="tab:green", linewidth=2, label="held-out accuracy")
        format_steps, format_values = series(history, "eval/format")
        if format_steps:
            ax.plot(format_steps, format_values, "s--", color="tab:orange", linewidth=1.5, label="held-out format")
        train = next((k for k in run.reward_keys if short_name(k) == "accuracy"), None)
        if train:  # the sampled training reward next to greedy held-out accuracy: a gap is the warning sign
            train_steps, train_values = series(history, train)
            if len(train_steps) > 1:
                ax.plot(train_steps, smooth(train_values), color="tab:green", alpha=0.35, linewidth=1,
                        label="training accuracy reward (sampled)")
        best = result.accuracy[result.steps.index(result.best)]
        ax.plot([result.best], [best], "*", color="black", markersize=14, zorder=5,
                label=f"best {best:.3f} @ step {result.best}")
        _style(ax, "held-out accuracy and format (greedy)", fraction=True)
    return [scores]


def _completions_panels(run: Run) -> list:
    history, panels = run.history, []
    steps, mean = series(history, "completions/mean_length")
    eval_steps, eval_length = series(history, "eval/completion_length")
    if steps or eval_steps:
        def length(ax):
            _plot_series(ax, steps, mean, "training mean", "tab:blue")
            low_steps, low = series(history, "completions/min_length")
            high_steps, high = series(history, "completions/max_length")
            if low_steps == steps and high_steps == steps and len(steps) > 1:
                ax.fill_between(steps, low, high, color="tab:blue", alpha=0.08, linewidth=0, label="min–max")
            if eval_steps:
                ax.plot(eval_steps, eval_length, "o-", color="tab:green", label="held-out mean")
            limit = run.config.get("max_completion_length")
            if isinstance(limit, int):
                ax.axhline(limit, color="tab:red", linestyle=":", linewidth=1, label=f"limit {limit}")
            _style(ax, "completion length (tokens)")
        panels.append(length)
    clip_steps, clipped = series(history, "completions/clipped_ratio")
    trunc_steps, truncated = series(history, "eval/truncated_fraction")
    if clip_steps or trunc_steps:
        def cut(ax):
            _plot_series(ax, clip_steps, clipped, "training (clipped_ratio)", "tab:red")
            if trunc_steps:
                ax.plot(trunc_steps, truncated, "o-", color="tab:purple", label="held-out")
            _style(ax, "completions cut at the length limit", fraction=True)
        panels.append(cut)
    found_steps, found = series(history, "diagnostics/answer_extracted_fraction")
    if found_steps:
        panels.append(_fraction_panel(found_steps, found, "answer extracted", "tab:olive",
                                      "completions with an extractable answer"))
    return panels


def _training_panels(run: Run) -> list:
    history, panels = run.history, []
    for key, title, color in (("loss", "loss", "tab:blue"), ("kl", "KL to the reference model", "tab:red"),
                              ("entropy", "entropy of the policy", "tab:purple"),
                              ("learning_rate", "learning rate", "tab:gray"),
                              ("grad_norm", "gradient norm", "tab:brown")):
        steps, values = series(history, key)
        if steps:
            def panel(ax, steps=steps, values=values, title=title, color=color, key=key):
                if key == "learning_rate":  # a schedule, not a noisy signal: draw it as is
                    ax.plot(steps, values, "o-" if len(steps) == 1 else "-", color=color, linewidth=2)
                    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
                else:
                    _plot_series(ax, steps, values, key, color)
                _style(ax, title, legend=False)
            panels.append(panel)
    return panels


def _figure(panels: list, path: Path, heading: str) -> None:
    """Lay the panels out, up to three a row, and save a small PNG (written whole, then renamed into place)."""
    from matplotlib.figure import Figure  # the object API: no pyplot state, no GUI backend, safe inside training

    columns = 2 if len(panels) == 4 else min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(max(7.0, 4.6 * columns), 3.4 * rows + 0.4), layout="constrained")
    figure.suptitle(heading, fontsize=12, fontweight="bold")
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    for draw, ax in zip(panels, axes):
        draw(ax)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    # A 256-colour palette keeps a PNG of long noisy curves well under 150 KB without blurring the text
    from PIL import Image

    tmp = path.with_name(path.stem + ".tmp.png")
    Image.open(buffer).convert("RGB").quantize(colors=256).save(tmp, format="PNG", optimize=True)
    os.replace(tmp, path)


def run_title(run: Run) -> str:
    """The run's own folder (with its checkpoint), and the base model when it is a hub id: a local base's folder
    name (the demo's 'base_model') says nothing about the run."""
    directory = run.directory.resolve()
    name = f"{directory.parent.name}/{directory.name}" if checkpoint_step(directory) is not None else directory.name
    base = run.config.get("model_id")
    return f"{name} (base {base})" if is_hub_id(base) else name


def is_hub_id(name) -> bool:
    return isinstance(name, str) and name.count("/") == 1 and not Path(name).expanduser().exists()


def write_plots(run: Run, report_dir: Path) -> list[Path]:
    """The report's PNGs; a figure with nothing to show (no held-out data, say) is not written, and an older copy of
    it is removed so the report never mixes two runs."""
    report_dir.mkdir(parents=True, exist_ok=True)
    figures = {"rewards.png": (_rewards_panels, f"Rewards during training: {run_title(run)}"),
               "heldout.png": (_heldout_panels, "Held-out evaluation"),
               "completions.png": (_completions_panels, "Completions"),
               "training.png": (_training_panels, "Optimisation")}
    written = []
    for file_name, (make_panels, heading) in figures.items():
        path = report_dir / file_name
        panels = make_panels(run)
        if panels:
            _figure(panels, path, heading)
            written.append(path)
        elif path.exists():
            path.unlink()
    return written


# ----------------------------------------------------------------------------------------------------------------------
# Samples: what the model wrote

def run_root(run: Run) -> Path:
    """The run's --output_dir, also when the report is about one of its checkpoints."""
    return run.directory.parent if checkpoint_step(run.directory) is not None else run.directory


def _text(value) -> str:
    """A prompt or completion as TRL logs it (a list of chat messages, or plain text): its last message's text."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1].get("content", ""))
    return str(value)


def _quote(text: str, width: int = 1200) -> list[str]:
    text = text if len(text) <= width else text[:width] + f" [... {len(text) - width} more characters]"
    fence = "````" if "```" in text else "```"  # a model may write a fence of its own
    return [fence + "text", text, fence]


def _heldout_records(root: Path, up_to: int | None) -> dict[int, list[dict]]:
    """step -> that evaluation's records, from <run>/heldout/step-<N>.jsonl (at most step `up_to`)."""
    found = {}
    for path in (root / "heldout").glob("step-*.jsonl"):
        step = path.stem.removeprefix("step-")
        if step.isdigit() and (up_to is None or int(step) <= up_to):
            found[int(step)] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return found


RECORD_FIELDS = {"index", "sample", "prompt", "completion", "solution", "extracted_answer", "completion_tokens",
                 "truncated", "reward"}


def heldout_samples(run: Run) -> list[str]:
    records = _heldout_records(run_root(run), run.step if checkpoint_step(run.directory) is not None else None)
    if not records:
        return ["No held-out samples: held-out evaluation keeps them in `heldout/step-<N>.jsonl` when the run has "
                "`--eval_dataset_id`.", ""]
    result = heldout(run)
    first, last = min(records), max(records)
    best = result.best if result is not None and result.best in records else first
    shown = {}  # step -> label; a step that is both best and last is shown once
    for label, step in ((("before training" if first == 0 else "first evaluation"), first), ("best", best),
                        ("final" if run.finished else "latest", last)):
        shown[step] = f"{shown[step]}, {label}" if step in shown else label
    problems = sorted({record["index"] for record in records[first]})[:SAMPLE_PROBLEMS]
    lines = [f"The first {len(problems)} held-out problems (the same ones at every evaluation), answered greedily and "
             "scored as `eval.py` does; from `heldout/step-<N>.jsonl`.", ""]
    for number, index in enumerate(problems, 1):
        record = next(r for r in records[first] if r["index"] == index)
        lines += [f"### Problem {number} (held-out row {index})", "", *_quote(_text(record["prompt"])), "",
                  f"Reference: {_reference(record['solution'])}", ""]
        for step, label in shown.items():
            match = next((r for r in records[step] if r["index"] == index and r.get("sample", 0) == 0), None)
            if match is None:
                continue
            rewards = ", ".join(f"{name} {_fmt(value)}" for name, value in match.items() if name not in RECORD_FIELDS)
            cut = ", **cut at the length limit**" if match.get("truncated") else ""
            lines += [f"**Step {step} ({label})**: answer `{match.get('extracted_answer')}`; reward "
                      f"{_fmt(match.get('reward'))} ({rewards}); {match.get('completion_tokens')} tokens{cut}", "",
                      *_quote(match["completion"]), ""]
    return lines


def _reference(solution) -> str:
    text = " ".join(str(solution).split())
    return f"`{text}`" if len(text) <= 160 else f"`{text[:80]} … {text[-60:]}`"


def training_samples(run: Run) -> list[str]:
    files = sorted((run_root(run) / "completions").glob("completions_*.parquet"))
    if checkpoint_step(run.directory) is not None:
        files = [f for f in files if int(f.stem.split("_")[-1]) <= run.step]
    if not files:
        return ["No training samples: TRL keeps them in `completions/` when `--log_completions` is on (the default).",
                ""]
    import pandas as pd

    picked = sorted({files[0], files[len(files) // 2], files[-1]})[:SAMPLE_STEPS]
    lines = ["At a few logged steps, one group (the completions of one prompt: the group whose advantages differ "
             "most), its best and worst completion by advantage, with each reward; from TRL's completion log "
             "(`completions/completions_<step>.parquet`, `--log_completions`).", ""]
    for path in picked:
        table = pd.read_parquet(path)
        if table.empty:  # --dynamic_sampling at its cap with no group whose rewards differ: nothing was trained on
            lines += [f"### Step {int(path.stem.split('_')[-1])}: no completions trained on", ""]
            continue
        table["prompt_text"] = [_text(p) for p in table["prompt"]]
        rewards = [c for c in table.columns if c not in ("step", "prompt", "completion", "advantage", "prompt_text")
                   and pd.api.types.is_numeric_dtype(table[c])]
        group = max((g for _, g in table.groupby("prompt_text", sort=False)),
                    key=lambda g: g["advantage"].max() - g["advantage"].min())
        lines += [f"### Step {int(path.stem.split('_')[-1])}: {len(group)} completions of one prompt", "",
                  *_quote(group["prompt_text"].iloc[0]), ""]
        pair = [("best", group.loc[group["advantage"].idxmax()]), ("worst", group.loc[group["advantage"].idxmin()])]
        if group["advantage"].max() == group["advantage"].min():  # no group told its completions apart
            pair = [("one of them (every group's completions scored alike: no learning signal)", pair[0][1])]
        for label, row in pair:
            scores = ", ".join(f"{name.removesuffix('_reward')} {_fmt(float(row[name]))}" for name in rewards)
            lines += [f"**{label}**: advantage {float(row['advantage']):+.3f}; {scores}", "",
                      *_quote(_text(row["completion"])), ""]
    return lines


def samples_markdown(run: Run) -> str:
    return "\n".join([f"# Samples: {run.progress}", "",
                      "## Held-out problems at step 0, the best step and the last step", "", *heldout_samples(run),
                      "## Training completions", "", *training_samples(run)])


# ----------------------------------------------------------------------------------------------------------------------
# The model card

def _fmt(value, digits: int = 3) -> str:
    number = _number(value)
    if number is None:
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if abs(number) >= 10:
        return f"{number:.1f}"
    return f"{number:.{digits}f}" if abs(number) >= 10 ** -digits or number == 0 else f"{number:.2e}"


COUNT_OPTIONS = ("eval_steps", "logging_steps", "save_steps", "warmup_steps", "num_train_epochs")


def _count(name: str, value):
    """Step counts that transformers stores as floats (eval_steps 20.0) shown as the whole numbers they are."""
    return int(value) if name in COUNT_OPTIONS and isinstance(value, float) and value.is_integer() else value


def duration(seconds) -> str:
    seconds = _number(seconds)
    if seconds is None:
        return "not recorded"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def wall_time(run: Run) -> float | None:
    recorded = _number(run.config.get("wall_time_s"))
    if recorded is not None and checkpoint_step(run.directory) is None:
        return recorded
    _, runtime = series(run.history, "train_runtime")
    return runtime[-1] if runtime else None


def _option(run: Run, name: str):
    for section in ("training_args", "script_args", "model_args"):
        values = run.config.get(section) or {}
        if name in values:
            return values[name]
    return run.config.get(name)


KEY_OPTIONS = ("learning_rate", "max_steps", "num_train_epochs", "per_device_train_batch_size",
               "gradient_accumulation_steps", "num_generations", "max_prompt_length", "max_completion_length",
               "beta", "temperature", "loss_type", "lr_scheduler_type", "warmup_ratio", "seed", "bf16",
               "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "eval_steps", "eval_max_samples")


def adapter_dir(run: Run) -> Path | None:
    """What a user loads from this run: the directory itself when it is a finished run, a checkpoint or holds an
    adapter (or model), else the newest complete checkpoint (a run interrupted or still training), else None."""
    if run.finished or checkpoint_step(run.directory) is not None or any(
            (run.directory / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin",
                                                          "model.safetensors")):
        return run.directory
    newest = last_complete_checkpoint(run.directory)
    return Path(newest) if newest else None


def never_beat_start(run: Run) -> bool:
    """Held-out accuracy never rose above step 0's, so the adapter kept in the directory is step 0's."""
    best, final = run.config.get("best_step"), run.config.get("final_step")
    return best == 0 and final not in (None, 0)


def start_name(run: Run) -> str:
    init = run.config.get("init_adapter")
    return f"the adapter it continued ({init})" if init else "the base model"


def _which_adapter(run: Run) -> str:
    best, final = run.config.get("best_step"), run.config.get("final_step")
    loadable = adapter_dir(run)
    if checkpoint_step(run.directory) is not None:
        return f"The adapter in this directory is the checkpoint at step {run.step}."
    if loadable is None:
        return "This directory holds no adapter yet: no checkpoint is complete."
    if loadable != run.directory:
        return (f"This directory holds no final adapter yet, only checkpoints: the newest complete one, "
                f"`{loadable.name}/`, is what the loading snippet and the eval command below use (re-run the training "
                "command to resume).")
    if best is None:
        return f"The adapter in this directory is the one at step {run.step}."
    if never_beat_start(run):
        return (f"Training never beat {start_name(run)} on the held-out set, so the adapter in this directory is "
                f"step 0's; the final adapter (step {final}) is in `final/`.")
    if final is None or best == final:
        return f"The adapter in this directory is the final one (step {best}), which is also the best on held-out data."
    return (f"The adapter in this directory is the **best** on held-out accuracy (step {best}); the **final** adapter "
            f"(step {final}) is in `final/`.")


def _reward_table(run: Run) -> list[str]:
    history = run.history
    rows = [(f"`{short_name(key)}` reward", key) for key in run.reward_keys]
    rows += [("total reward", "reward"), ("reward std within groups", "reward_std"),
             ("groups with equal rewards", "frac_reward_zero_std"), ("completion length", "completions/mean_length"),
             ("completions clipped", "completions/clipped_ratio")]
    rows += [(label, key) for key, label in DIAGNOSTICS.items()]
    if "kl" in {k for entry in history for k in entry}:
        rows.append(("KL", "kl"))
    lines = []
    for label, key in rows:
        values = first_last(history, key)
        if values:
            first, last, k = values
            change = last - first
            lines.append(f"| {label} | {_fmt(first)} | {_fmt(last)} | {change:+.{1 if abs(change) >= 10 else 3}f} |")
    if not lines:
        return []
    k = window(len(series(history, "reward")[1]) or 1)
    span = f"means of the first and last {k} logged steps" if k > 1 else "the first and last logged step"
    head = [f"Training completions (sampled), {span}:", "",
            "| metric | first | last | change |", "|---|---|---|---|"]
    return head + lines


def _heldout_table(run: Run) -> list[str]:
    result = heldout(run)
    if result is None:
        return ["No held-out evaluation during training (pass `--eval_dataset_id` to score held-out problems every "
                "`--eval_steps` steps)."]
    last = "final" if run.finished else "latest"
    columns = [("before" if result.before == 0 else "first", result.before), ("best", result.best),
               (last, result.last)]
    data = run.config.get("eval_dataset_id") or _option(run, "eval_dataset_id")
    split = run.config.get("eval_split") or _option(run, "eval_split")
    where = f" on `{data}` split `{split}`" if data else ""
    lines = [f"Greedy decoding{where}, scored like `eval.py`:", "",
             "| metric | " + " | ".join(f"{name} (step {step})" for name, step in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for key in EVAL_KEYS:
        values = [result.by_step[step].get(key) for _, step in columns]
        if any(_number(v) is not None for v in values):
            lines.append(f"| {key.split('/')[1].replace('_', ' ')} | " + " | ".join(_fmt(v) for v in values) + " |")
    return lines


def health_lines(run: Run) -> list[str]:
    """The run doctor's warnings, as run_config.json records them."""
    warnings = run.config.get("health")
    if warnings is None:
        return ["Not recorded (a run made before the run doctor)."]
    if not warnings:
        return ["No warnings: the run doctor found no truncation, no lack of learning signal, no flat accuracy, no "
                "reward failures, no entropy collapse, no KL or gradient blow-up, no held-out decline and no "
                "non-finite loss."]
    return [f"- step {w.get('step')}, **{str(w.get('check')).replace('_', ' ')}**: {w.get('message')}"
            for w in warnings]


def _eval_command(run: Run, model_dir: str) -> str:
    data, split = run.config.get("eval_dataset_id"), run.config.get("eval_split")
    if not data:  # none recorded: a hub set's test split, or a placeholder (a local file is its own only split)
        data, split = str(run.config.get("dataset_id") or "AI-MO/NuminaMath-TIR"), "test"
        if Path(data).expanduser().exists() or Path(data).suffix in (".json", ".jsonl", ".parquet", ".csv"):
            data = "HELD_OUT_FILE.jsonl"
    parts = ["python", "eval.py", "--model_dir", model_dir, "--dataset_id", str(data), "--split", str(split)]
    limit = run.config.get("max_completion_length")
    if limit:
        parts += ["--max_completion_length", str(limit)]
    samples = _option(run, "eval_max_samples")
    if run.config.get("eval_dataset_id") and samples:  # the logged figure scored the first N held-out problems
        parts += ["--max_samples", str(samples)]
    for flag in ("eval_prompt_column", "eval_solution_column"):
        value = _option(run, flag)
        if value:
            parts += [f"--{flag.removeprefix('eval_')}", str(value)]
    return shlex.join(parts)


def _peft_snippet(run: Run, model_dir: str) -> str:
    system = run.config.get("system_prompt")
    messages = ('[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "What is 12 * 7?"}]'
                if system else '[{"role": "user", "content": "What is 12 * 7?"}]')
    return "\n".join([
        "from peft import AutoPeftModelForCausalLM",
        "from transformers import AutoTokenizer",
        "",
        f"model_dir = {model_dir!r}",
        "model = AutoPeftModelForCausalLM.from_pretrained(model_dir)  # the base model named in adapter_config.json "
        "+ this adapter",
        "model = model.merge_and_unload()  # optional: faster generation",
        "tokenizer = AutoTokenizer.from_pretrained(model_dir)",
        *([f"SYSTEM_PROMPT = {system!r}  # the prompt the adapter was trained with"] if system else []),
        f"messages = {messages}",
        "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\", "
        "return_dict=True)",
        f"output = model.generate(**inputs, max_new_tokens={run.config.get('max_completion_length') or 256}, "
        "do_sample=False)",
        "print(tokenizer.decode(output[0, inputs[\"input_ids\"].shape[1]:], skip_special_tokens=True))",
    ])


def dynamic_sampling_text(config: dict) -> str | None:
    """--dynamic_sampling's settings and totals from run_config.json (None when the run did not use it)."""
    ds = config.get("dynamic_sampling")
    if not isinstance(ds, dict):
        return None
    text = f"on (metric `{ds.get('metric')}`, at most {ds.get('max_rounds')} generation rounds per step)"
    if "groups_generated" not in ds:  # written when the run ends
        return text
    generated, trained = ds.get("groups_generated") or 0, ds.get("groups_trained") or 0
    return (text + f": {ds.get('completions_generated')} completions ({ds.get('tokens_generated')} tokens) generated "
            f"in {ds.get('rounds')} rounds for {ds.get('generations')} generation batches; {trained} of {generated} "
            f"groups trained on ({trained / max(generated, 1):.0%}); cap hit in {ds.get('cap_hits')} batch(es)")


def model_card(run: Run, plots: list[Path], model_dir: str) -> str:
    config = run.config
    base = config.get("model_id") or _option(run, "model_name_or_path") or "not recorded"
    names = config.get("reward_funcs") or [short_name(k) for k in run.reward_keys]
    weights = config.get("reward_weights") or [1.0] * len(names)
    front = ["---", "library_name: peft", *([f"base_model: {base}"] if is_hub_id(base) else []),
             "pipeline_tag: text-generation", "tags:", "- grpo", "- lora", "- trl", "- math", "---", ""]
    command = config.get("command")
    options = [(name, _option(run, name)) for name in KEY_OPTIONS]
    options = [(name, value) for name, value in options if value not in (None, "", [], -1)
               and not (name == "num_train_epochs" and (_option(run, "max_steps") or -1) > 0)]
    lines = front + [
        f"# GRPO LoRA adapter for `{base}`",
        "",
        f"A LoRA adapter trained with GRPO (TRL `GRPOTrainer`) to answer math problems as "
        f"`<think>…</think><answer>\\boxed{{…}}</answer>`; {run.progress}. {_which_adapter(run)}",
        "",
        "## Results",
        "",
        "### Held-out accuracy",
        "",
        *_heldout_table(run),
        "",
        "### Training rewards, first vs last",
        "",
        *_reward_table(run),
        "",
        "### Health",
        "",
        *health_lines(run),
        "",
        f"What the model wrote, held out and in training: [{REPORT_DIR}/{SAMPLES_FILE}]({REPORT_DIR}/{SAMPLES_FILE}).",
        "",
        "## Training",
        "",
        f"- **Base model:** `{base}`",
        *([f"- **Continued from adapter:** `{config['init_adapter']}`"] if config.get("init_adapter") else []),
        f"- **Data:** `{config.get('dataset_id', 'not recorded')}`, split `{config.get('dataset_split', '?')}`",
        "- **Rewards (weight):** " + ", ".join(f"`{n}` ({w:g})" for n, w in zip(names, weights)),
        f"- **Steps:** {run.step}" + (f" of {run.max_steps}" if run.max_steps else "")
        + (f"; best step {config['best_step']}" if config.get("best_step") is not None else "")
        + (f"; final step {config['final_step']}" if config.get("final_step") is not None else ""),
        f"- **Wall time:** {duration(wall_time(run))}",
        f"- **Hardware:** {config.get('hardware') or 'not recorded'}",
    ]
    if dynamic_sampling_text(config):
        lines.append(f"- **Dynamic sampling:** {dynamic_sampling_text(config)}")
    versions = config.get("versions") or {}
    if versions:
        lines.append("- **Versions:** " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    lines += ["", "Command:", "", "```bash", command or "# not recorded: run_config.json holds every resolved option",
              "```", ""]
    if options:
        lines += ["| option | value |", "|---|---|"]
        lines += [f"| `{name}` | `{_count(name, value)}` |" for name, value in options]
        lines.append("")
    lines += ["## Use", "", "Load the adapter with PEFT:", "", "```python", _peft_snippet(run, model_dir), "```", "",
              "Evaluate it on held-out problems with this project's `eval.py` (greedy, with the run's prompt and "
              "rewards):", "", "```bash", _eval_command(run, model_dir), "```", ""]
    if plots:
        lines += ["## Plots", "", "Smoothed lines; the raw logged values are drawn faintly behind them.", ""]
        lines += [f"![{path.stem}]({REPORT_DIR}/{path.name})" for path in plots]
        lines.append("")
    lines += ["_Written by `report.py` from `" + os.path.relpath(run.state_path, run.directory) + "`; "
              "rerun `python report.py <this directory>` to refresh it._", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------------
# Entry points

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
            moves.append(f"{short_name(key) if '/' in key else 'total'} {_fmt(values[0])} -> {_fmt(values[1])}")
    if moves:
        k = window(len(series(run.history, "reward")[1]) or 1)
        span = f"first -> last {k} logged steps" if k > 1 else "first -> last logged step"
        lines.append(f"  rewards:  {',  '.join(moves)}  ({span})")
    result = heldout(run)
    if result is not None:
        def at(step):
            return f"{_fmt(result.by_step[step].get('eval/accuracy'))} (step {step})"
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
    args = parser.parse_args(argv)
    try:
        report_dir = write_report(args.output_dir)
        if args.samples:
            print((report_dir / SAMPLES_FILE).read_text())
        print(end_of_run_summary(args.output_dir))
    except UsageError as err:
        return error_exit(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
