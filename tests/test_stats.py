"""stats.py against hand-computed cases: bootstrap intervals over problems (and samples), paired differences, the
stratified average over benchmarks, and the spread over seeds."""
import math

import numpy as np
import pytest

import stats


def half_width(interval) -> float:
    return (interval.high - interval.low) / 2


def test_fifteen_of_thirty_matches_the_normal_approximation():
    # normal approximation: 1.96 * sqrt(0.5 * 0.5 / 30) = 0.1789, i.e. +-17.9 points around 50.0
    interval = stats.accuracy_interval([1] * 15 + [0] * 15)
    assert interval.estimate == 0.5 and interval.problems == 30
    assert interval.low < 0.5 < interval.high
    assert half_width(interval) == pytest.approx(1.96 * math.sqrt(0.25 / 30), abs=0.02)
    assert interval.points() == "50.0 [33.3, 66.7]"  # multiples of 1/30: the percentile bootstrap's discreteness


def test_an_interval_narrows_as_the_square_root_of_the_problems():
    small = stats.accuracy_interval([1] * 15 + [0] * 15)
    large = stats.accuracy_interval([1] * 240 + [0] * 240)  # 16 times the problems: a quarter of the width
    assert half_width(large) == pytest.approx(1.96 * math.sqrt(0.25 / 480), abs=0.006)
    assert half_width(large) == pytest.approx(half_width(small) / 4, rel=0.25)


def test_unanimous_results_have_no_spread():
    assert stats.accuracy_interval([1] * 10).points() == "100.0 [100.0, 100.0]"
    assert stats.accuracy_interval([0] * 10).points() == "0.0 [0.0, 0.0]"


def test_several_samples_per_problem_are_resampled_too():
    # every problem solved by 2 of its 4 samples: problems do not differ, so an interval over problems alone would
    # be [50, 50]; resampling each problem's samples gives the mean of 30 Binomial(4, 1/2) / 4 draws:
    # sd = sqrt(0.25 / 4 / 30) = 0.0456, i.e. +-8.9 points
    interval = stats.accuracy_interval([[1, 1, 0, 0]] * 30)
    assert interval.estimate == 0.5
    assert half_width(interval) == pytest.approx(1.96 * math.sqrt(0.25 / 4 / 30), abs=0.015)


def test_identical_runs_differ_by_exactly_zero():
    rng = np.random.default_rng(3)
    for k in (1, 4):
        run = (rng.random((30, k)) < 0.4).astype(float)
        change = stats.paired_difference(run, run.copy())
        assert (change.estimate, change.low, change.high) == (0, 0, 0)
        assert not change.excludes_zero()
        assert change.reading() == "not distinguishable from no change on 30 problems"


def test_a_paired_change_resamples_the_per_problem_differences():
    # the new run solves 6 more of 30 problems and loses none: per-problem differences are six 1s and 24 0s, so the
    # paired interval is 20 +- 1.96 * sqrt(0.2 * 0.8 / 30) = 20 +- 14.3 points, and excludes zero
    old = [1] * 12 + [0] * 18
    new = [1] * 18 + [0] * 12
    change = stats.paired_difference(new, old)
    assert change.estimate == pytest.approx(0.2)
    assert half_width(change) == pytest.approx(1.96 * math.sqrt(0.16 / 30), abs=0.025)
    assert change.excludes_zero() and change.reading() == "a gain beyond noise on 30 problems"
    # two unpaired intervals would overlap (each is about +-17.9 points wide): pairing is what separates them
    assert stats.accuracy_interval(new).low < stats.accuracy_interval(old).high
    assert stats.paired_difference(old, new).reading() == "a loss beyond noise on 30 problems"


def test_a_change_reads_as_the_issue_writes_it():
    interval = stats.Interval(1 / 30, -2 / 30, 4 / 30, 30)
    assert f"{interval.points(signed=True)}, {interval.reading()}" == \
        "+3.3 [-6.7, +13.3], not distinguishable from no change on 30 problems"


def test_the_bootstrap_is_seeded():
    scores = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1]
    assert stats.accuracy_interval(scores) == stats.accuracy_interval(scores)  # the same figures, the same interval
    assert (stats.resample_means(scores, seed=1) == stats.resample_means(scores, seed=1)).all()
    assert (stats.resample_means(scores, seed=1) != stats.resample_means(scores, seed=2)).any()


def test_the_average_over_benchmarks_resamples_each_separately():
    everything = stats.resample_means([1] * 10, seed=0)
    nothing = stats.resample_means([0] * 20, seed=1)
    average = stats.mean_interval([everything, nothing], [1.0, 0.0], problems=30)
    assert (average.estimate, average.low, average.high, average.problems) == (0.5, 0.5, 0.5, 30)


def test_unscored_problems_are_left_out_of_the_scores():
    records = [{"index": 1, "sample": 1, "accuracy": 0.0}, {"index": 1, "sample": 0, "accuracy": 1.0},
               {"index": 0, "sample": 0, "accuracy": None}, {"index": 0, "sample": 1, "accuracy": None}]
    assert stats.score_matrix(records) == {1: [1.0, 0.0]}
    assert stats.common_problems({0: [1.0], 2: [0.0]}, {2: [1.0], 3: [1.0]}) == ([[0.0]], [[1.0]])


def test_the_spread_over_seeds():
    spread = stats.seed_spread({0: 0.4, 1: 0.5, 2: 0.6, 3: None})
    assert spread.mean == pytest.approx(0.5) and spread.sd == pytest.approx(0.1) and spread.range == pytest.approx(0.2)
    assert spread.describe() == "mean 50.0, sd 10.0, range 20.0 points over seeds 0 1 2 (40.0, 50.0, 60.0)"
    assert stats.seed_spread({7: 0.25}).sd == 0.0
