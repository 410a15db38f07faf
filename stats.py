"""How far an accuracy figure can be trusted: bootstrap intervals, paired differences and seed aggregation.

Pure functions on per-problem scores (no files, no models). A benchmark figure is a mean over a few hundred problems
at most (AIME: 30, one question = 3.3 points), so every figure we print comes with a 95% interval:

- `accuracy_interval`: percentile bootstrap over problems, and over the k samples within each problem when there
  are several (a two-level bootstrap: the problems drawn, then each drawn problem's samples drawn).
- `paired_difference`: the change between two runs on the same problems, resampling the problems jointly, so the
  interval reflects the per-problem differences (much narrower than two separate intervals when both runs find the
  same problems hard). Identical runs give exactly [0, 0].
- `mean_interval`: the mean over several benchmarks, each resampled on its own (a stratified bootstrap).
- `seed_spread`: mean, spread and each seed's figure for one evaluation repeated with several sampling seeds.

Everything is seeded (the same scores always give the same interval) and vectorised with numpy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000
LEVEL = 0.95
SEED = 0  # the bootstrap's own seed, independent of the generation seed
CHUNK = 4_000_000  # scores drawn at once: bounds memory for 500 problems x 16 samples


@dataclass(frozen=True)
class Interval:
    """A figure and its interval, as fractions (0.5 = 50%)."""

    estimate: float
    low: float
    high: float
    problems: int

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def points(self, signed: bool = False) -> str:
        """`80.4 [72.1, 87.6]` in percent (points), or `+3.3 [-6.7, +13.3]` when signed."""
        form = "{:+.1f}" if signed else "{:.1f}"
        return f"{form.format(100 * self.estimate)} [{form.format(100 * self.low)}, {form.format(100 * self.high)}]"

    def reading(self) -> str:
        """The change in plain words: whether the interval excludes zero, on how many problems."""
        if not self.excludes_zero():
            return f"not distinguishable from no change on {self.problems} problems"
        return f"{'a gain' if self.estimate > 0 else 'a loss'} beyond noise on {self.problems} problems"

    def to_json(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "problems": self.problems}


def mean(values) -> float | None:
    """The mean of the values that are not None (eval.py's summary, the table's averages); None when there are none."""
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def method(k: int = 1, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL, seeds: int = 1) -> dict:
    """The interval method as the table's note and the JSON state it (`seeds`: sampling seeds pooled per problem)."""
    pooled = f" ({k} per seed x {seeds} seeds)" if seeds > 1 else ""
    over = "problems" if k * seeds == 1 else f"problems, then the {k * seeds} samples{pooled} within each drawn problem"
    return {"method": f"percentile bootstrap over {over}; a change resamples the same problems for both models "
                      "(paired); an average resamples each benchmark separately (stratified)",
            "level": level, "resamples": resamples, "seed": seed}


def score_matrix(samples: list[dict], key: str = "accuracy") -> dict[int, list[float]]:
    """Per-problem scores from eval.py records ({index, sample, <key>}): problem index -> its samples' scores, in
    sample order. Problems whose reference could not be read (score None) are left out, as eval.py's accuracy does."""
    by_problem: dict[int, list[float]] = {}
    for record in sorted(samples, key=lambda r: (r["index"], r["sample"])):
        if record.get(key) is not None:
            by_problem.setdefault(record["index"], []).append(float(record[key]))
    return by_problem


def as_array(scores) -> np.ndarray:
    """(problems, samples) float array from a mapping or a list of per-problem score lists (or a 1-D array)."""
    rows = list(scores.values()) if isinstance(scores, dict) else list(scores)
    array = np.asarray(rows, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError("every problem needs the same number of samples")
    return array


def resample_means(scores, resamples: int = RESAMPLES, seed: int = SEED, paired_with=None) -> np.ndarray:
    """`resamples` bootstrap means of a (problems, samples) score array: problems drawn with replacement, then each
    drawn problem's samples drawn with replacement (when there are several). With `paired_with` (an array of the
    same shape), returns the bootstrap distribution of mean(scores) - mean(paired_with), both drawn with the same
    problem and sample indices."""
    a = as_array(scores)
    b = None if paired_with is None else as_array(paired_with)
    if b is not None and b.shape != a.shape:
        raise ValueError(f"paired runs need the same problems and samples: {a.shape} vs {b.shape}")
    n, k = a.shape
    if n == 0:
        return np.full(resamples, np.nan)
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    step = max(1, CHUNK // (n * k))
    for start in range(0, resamples, step):
        size = min(step, resamples - start)
        rows = rng.integers(0, n, size=(size, n))
        if k == 1:
            drawn = a[rows, 0] if b is None else a[rows, 0] - b[rows, 0]
            out[start:start + size] = drawn.mean(axis=1)
            continue
        cols = rng.integers(0, k, size=(size, n, k))
        drawn = a[rows[..., None], cols] if b is None else a[rows[..., None], cols] - b[rows[..., None], cols]
        out[start:start + size] = drawn.mean(axis=(1, 2))
    return out


def percentile(distribution: np.ndarray, estimate: float, problems: int, level: float = LEVEL) -> Interval:
    if problems == 0 or np.isnan(distribution).all():
        return Interval(estimate, math.nan, math.nan, problems)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(distribution, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high), problems)


def accuracy_interval(scores, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL) -> Interval:
    """The mean score with its percentile-bootstrap interval (over problems, and samples when k > 1).

    >>> accuracy_interval([1] * 15 + [0] * 15).points()  # 15 of 30 right; the normal approximation gives +-17.9
    '50.0 [33.3, 66.7]'
    """
    a = as_array(scores)
    estimate = float(a.mean()) if a.size else math.nan
    return percentile(resample_means(a, resamples, seed), estimate, len(a), level)


def paired_difference(new, old, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL) -> Interval:
    """mean(new) - mean(old) over the same problems (same order, same number of samples), with a paired-bootstrap
    interval: each resample draws one set of problems (and samples) for both runs.

    >>> paired_difference([1, 0, 1], [1, 0, 1]).points(signed=True)
    '+0.0 [+0.0, +0.0]'
    """
    a, b = as_array(new), as_array(old)
    estimate = float(a.mean() - b.mean()) if a.size else math.nan
    return percentile(resample_means(a, resamples, seed, paired_with=b), estimate, len(a), level)


def common_problems(new: dict[int, list[float]], old: dict[int, list[float]]) -> tuple[list, list]:
    """The two runs' scores on the problems both could score, in one order (the pairing a difference needs)."""
    shared = sorted(set(new) & set(old))
    return [new[i] for i in shared], [old[i] for i in shared]


def mean_interval(distributions: list[np.ndarray], estimates: list[float], problems: int,
                  level: float = LEVEL) -> Interval:
    """The mean over benchmarks (each counts once), from each benchmark's own bootstrap distribution: resampling
    each benchmark separately keeps every resample's benchmark sizes as they are (a stratified bootstrap)."""
    return percentile(np.mean(distributions, axis=0), float(np.mean(estimates)), problems, level)


@dataclass(frozen=True)
class SeedSpread:
    """One figure repeated with several sampling seeds."""

    per_seed: dict[int, float]

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.per_seed.values())))

    @property
    def sd(self) -> float:
        """Sample standard deviation over seeds (0 for one seed)."""
        values = list(self.per_seed.values())
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    @property
    def range(self) -> float:
        return max(self.per_seed.values()) - min(self.per_seed.values())

    def describe(self) -> str:
        """`mean 47.7, sd 2.3, range 4.5 points over seeds 0 1 2 (45.5, 50.0, 47.7)`."""
        each = ", ".join(f"{100 * v:.1f}" for v in self.per_seed.values())
        return (f"mean {100 * self.mean:.1f}, sd {100 * self.sd:.1f}, range {100 * self.range:.1f} points over seeds "
                f"{' '.join(map(str, self.per_seed))} ({each})")

    def to_json(self) -> dict:
        return {"mean": self.mean, "sd": self.sd, "range": self.range,
                "per_seed": {str(s): v for s, v in self.per_seed.items()}}


def seed_spread(per_seed: dict[int, float]) -> SeedSpread:
    """Mean, spread and each seed's figure (None figures, from runs with nothing to score, are left out)."""
    return SeedSpread({seed: value for seed, value in per_seed.items() if value is not None})
