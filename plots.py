"""The report's plots: `<dir>/report/{rewards,heldout,completions,training}.png` from a run's logged figures
(`run_records`), smoothed lines over the raw values, drawn with matplotlib's object API (safe inside training)."""
from __future__ import annotations

import io
import math
import os
from pathlib import Path

from run_records import Run, heldout, series, short_name
from runs import checkpoint_step


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
