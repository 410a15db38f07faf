"""The benchmarks table's figures: each accuracy cell with its 95% bootstrap interval, the change as a paired
difference over the same problems (with its own interval and a plain reading), the average over benchmarks, and
several seeds pooled. Pure functions on per-problem scores (stats.py does the resampling); benchmarks.py runs the
evaluations, writes the files and the notes under the table.

Cells read `80.4 [72.1, 87.6]` (percent, 95% interval) and `+3.3 [-6.7, +13.3], not distinguishable from no change on
30 problems` (points). The average row is the mean over benchmarks (each counts once); its interval resamples each
benchmark separately.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import stats

LABELS = {"baseline": "base", "adapter": "adapter", "model": "model"}


def metrics(k: int) -> list[tuple[str, str]]:
    """(summary key, column label): accuracy, which over k samples is avg@k, and pass@k."""
    return [("accuracy", "accuracy")] if k == 1 else [("accuracy", f"avg@{k}"), (f"pass@{k}", f"pass@{k}")]


def per_problem(scores: dict[int, list[float]], key: str) -> dict[int, list[float]]:
    """A metric's per-problem values from accuracy scores (problem -> its samples): the samples themselves for
    accuracy (avg@k), whether any sample is right for pass@k."""
    return scores if key == "accuracy" else {i: [float(any(v >= 1 for v in values))] for i, values in scores.items()}


def pooled(runs: list[dict[int, list[float]]]) -> dict[int, list[float]]:
    """Several seeds' per-problem scores as one: each problem's samples from every seed (the problems all scored)."""
    shared = set.intersection(*(set(r) for r in runs))
    return {i: [v for r in runs for v in r[i]] for i in sorted(shared)}


@dataclass
class Figures:
    """Every interval of the table: cells[(benchmark or 'average', mode, key)], changes[(benchmark or 'average',
    key)] (the second mode minus the first); None where nothing could be scored."""

    cells: dict
    changes: dict


def bootstrap(rows: list[list[float]], seed: int, paired_with: list[list[float]] | None = None):
    """(Interval, bootstrap distribution) of the mean of `rows` (minus `paired_with`'s), or (None, None) if empty."""
    if not rows:
        return None, None
    new = stats.as_array(rows)
    old = None if paired_with is None else stats.as_array(paired_with)
    estimate = float(new.mean() - (0 if old is None else old.mean()))
    distribution = stats.resample_means(new, seed=seed, paired_with=old)
    return stats.percentile(distribution, estimate, len(new)), distribution


def average(found: dict, distributions: dict, names: list[str], problems: int):
    """The mean over benchmarks with its stratified interval; None unless every benchmark has its figure."""
    if any(found[n] is None for n in names):
        return None
    return stats.mean_interval([distributions[n] for n in names], [found[n].estimate for n in names], problems)


def compute(names: list[str], modes: list[str], scores: dict, k: int) -> Figures:
    """`scores[(benchmark, mode)]` is a list (one per seed) of per-problem accuracy scores (problem -> samples).
    Seeds are pooled per problem (each seed's samples, or each seed's pass@k, are more draws for that problem). Each
    benchmark gets its own bootstrap seed, so the average's resamples are independent across benchmarks."""
    cells, changes = {}, {}
    for key, _ in metrics(k):
        dists, diffs = {m: {} for m in modes}, {}
        for b, name in enumerate(names):
            data = {m: pooled([per_problem(run, key) for run in scores[name, m]]) for m in modes}
            for m in modes:
                cells[name, m, key], dists[m][name] = bootstrap(list(data[m].values()), stats.SEED + b)
            if len(modes) == 2:
                new, old = stats.common_problems(data[modes[1]], data[modes[0]])
                changes[name, key], diffs[name] = bootstrap(new, stats.SEED + b, old)
        for m in modes:
            total = sum(cells[n, m, key].problems for n in names if cells[n, m, key])
            cells["average", m, key] = average({n: cells[n, m, key] for n in names}, dists[m], names, total)
        if len(modes) == 2:
            total = sum(changes[n, key].problems for n in names if changes[n, key])
            changes["average", key] = average({n: changes[n, key] for n in names}, diffs, names, total)
    return Figures(cells, changes)


def cell(interval) -> str:
    if interval is None or math.isnan(interval.estimate):
        return "n/a"
    return interval.points() if not math.isnan(interval.low) else f"{100 * interval.estimate:.1f}"


def change_cell(interval) -> str:
    if interval is None or math.isnan(interval.estimate):
        return "n/a"
    return f"{interval.points(signed=True)}, {interval.reading()}"


def table_rows(names: list[str], modes: list[str], figures: Figures, problems: dict, k: int) -> list[list[str]]:
    """Header, then one row per benchmark, then the average over benchmarks (each benchmark counts once)."""
    keys = metrics(k)
    header = ["benchmark", "problems"] + [f"{LABELS[m]} {label}" for m in modes for _, label in keys]
    if len(modes) == 2:
        header += [f"change {label}" for _, label in keys]
    rows = [header]
    for name in [*names, "average"]:
        row = [name, str(sum(problems.values()) if name == "average" else problems[name])]
        row += [cell(figures.cells[name, m, key]) for m in modes for key, _ in keys]
        if len(modes) == 2:
            row += [change_cell(figures.changes[name, key]) for key, _ in keys]
        rows.append(row)
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    align = ["---"] + ["---:"] * (len(rows[0]) - 1)
    return "".join("| " + " | ".join(row) + " |\n" for row in [rows[0], align, *rows[1:]])


def as_json(interval) -> dict | None:
    return None if interval is None else interval.to_json()
