"""The benchmarks table and its report: each accuracy cell with its 95% bootstrap interval, the change as a paired
difference over the same problems (with its own interval and a plain reading), the average over benchmarks, and
several seeds pooled, and the notes under the table (settings, sources, intervals, seeds, wall time) and the JSON.
Pure functions of the finished runs (stats.py does the resampling); benchmarks.py runs the evaluations and writes the
files.

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


# ----------------------------------------------------------------------------------------------------------------------
# The report: the table, the settings and sources under it, and the same as JSON.

def make_report(prepared: list, modes: list[str], runs: dict, style: str, style_text: str, answer_rule: str) -> dict:
    """The table, the notes under it (settings, sources, intervals, seeds, wall time, result files) and the same as
    JSON. `prepared`: benchmarks.Prepared per benchmark; `runs[(benchmark, mode)]`: its benchmarks.Run per seed;
    `style`, `style_text`: the prompt style's name and what it is."""
    first = runs[prepared[0].benchmark.name, modes[-1]][0].summary
    k = first["num_samples"]
    names = [p.benchmark.name for p in prepared]
    seeds = [r.seed for r in runs[names[0], modes[-1]] if r.seed is not None]
    figures = compute(names, modes, {key: [r.scores for r in group] for key, group in runs.items()}, k)
    problems = {n: runs[n, modes[-1]][0].summary["num_problems"] for n in names}
    rows = table_rows(names, modes, figures, problems, k)
    method = stats.method(k, seeds=max(1, len(seeds)))

    sampling = "greedy" if first["temperature"] == 0 else \
        f"{k} samples per problem, temperature {first['temperature']}, top_p {first['top_p']}"
    model = {"adapter": f"adapter {first['adapter']} on {first['base_model']}", "model": first["base_model"],
             "baseline": f"{first['base_model']}, the base model of adapter {first['model_dir']}"}[modes[-1]]
    seeding = f"seeds {' '.join(map(str, seeds))} (pooled per problem)" if seeds else f"seed {first['seed']}"
    notes = [f"prompt style: {style}: {style_text}; system prompt: {first['system_prompt']!r}",
             f"answer: {answer_rule}; figures in percent, change in points, average = mean over benchmarks",
             f"intervals: {100 * method['level']:.0f}% {method['method']}; {method['resamples']} resamples, bootstrap "
             f"seed {method['seed']}; a change whose interval holds 0 is not distinguishable from no change",
             f"model: {model}",
             f"decoding: {sampling}, max_completion_length {first['max_completion_length']}, "
             f"max_prompt_length {first['max_prompt_length'] or 'none (all prompts kept)'}, {seeding}"]
    for p in prepared:
        s = p.source
        where = s.get("file") or f"{s['hub_id']} ({s['config'] or 'default'}, {s['split']})"
        summary = runs[p.benchmark.name, modes[-1]][0].summary
        issues = [f"{summary[key]} {what}" for key, what in [("unscored_references", "problems without a readable "
                  "gold answer, not scored"), ("skipped_prompts", "prompts skipped as too long")] if summary[key]]
        notes.append(f"{p.benchmark.name}: {where}, problem column {s['problem_column']!r}, gold answer from "
                     f"{s['answer_column']!r} ({s['convention']})" + (f"; {', '.join(issues)}" if issues else ""))
    spreads = {(n, m): stats.seed_spread({r.seed: r.summary["accuracy"] for r in runs[n, m]})
               for n in names for m in modes} if seeds else {}
    notes += [f"seeds, {n} {LABELS[m]} {metrics(k)[0][1]}: {spread.describe()}" for (n, m), spread in spreads.items()]
    wall = {n: sum(r.summary["wall_time_s"] for m in modes for r in runs[n, m]) for n in names}
    notes.append("wall time (the first benchmark includes loading each model): " +
                 ", ".join(f"{n} {wall[n]:.1f}s" for n in names))
    notes.append("results: " + ", ".join(r.output_file for n in names for m in modes for r in runs[n, m]))
    markdown = markdown_table(rows) + "\n" + "".join(f"- {note}\n" for note in notes)

    def model_entry(n: str, m: str) -> dict:
        group = runs[n, m]
        entry = {"result_files": [r.output_file for r in group],
                 "wall_time_s": round(sum(r.summary["wall_time_s"] for r in group), 2)}
        for key, _ in metrics(k):
            entry[key] = stats.mean(r.summary.get(key) for r in group)
            entry[f"{key}_interval"] = as_json(figures.cells[n, m, key])
        for key in ("unscored_references", "skipped_prompts"):
            entry[key] = group[0].summary[key]
        if seeds:
            entry["seeds"] = spreads[n, m].to_json()
        return entry

    return {
        "prompt_style": style,
        "system_prompt": first["system_prompt"],
        "models": [LABELS[m] for m in modes],
        "settings": {key: first[key] for key in ("model_dir", "adapter", "base_model", "num_samples", "temperature",
                                                  "top_p", "max_completion_length", "max_prompt_length")}
        | ({"seeds": seeds} if seeds else {"seed": first["seed"]}),
        "intervals": method,
        "benchmarks": [{"name": n, "source": p.source, "data_file": str(p.path), "problems": problems[n],
                        "wall_time_s": round(wall[n], 2),
                        "results": {LABELS[m]: model_entry(n, m) for m in modes},
                        **({"change": {key: as_json(figures.changes[n, key]) for key, _ in metrics(k)}}
                           if len(modes) == 2 else {})}
                       for n, p in zip(names, prepared)],
        "average": {LABELS[m]: {key: as_json(figures.cells["average", m, key]) for key, _ in metrics(k)}
                    for m in modes} | ({"change": {key: as_json(figures.changes["average", key])
                                                   for key, _ in metrics(k)}} if len(modes) == 2 else {}),
        "table": rows,
        "markdown": markdown,
    }
