r"""Reward rules (reward.py): table cases, adversarial input, bounded time off the main thread, the worker's
lifecycle, and the `python reward.py` self-test. Real math-verify, real worker process, no mocks, offline.

Timing asserts leave wide margins (10 s where the target is ~2 s): CI machines are shared and busy.
"""
import _thread
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import math_worker
import reward
from reward import (
    DEFAULT_REWARDS,
    REWARD_FUNCS,
    accuracy_reward,
    completion_text,
    extract_answer,
    extract_boxed,
    final_boxes,
    format_reward,
    reference_answer,
    reference_answers,
)

REPO = Path(__file__).resolve().parent.parent
GENEROUS_S = 10.0
PATHOLOGICAL = (r"\boxed{9^{9^{9^{9}}}}", r"\boxed{2003^{2002^{2001}}}")


def boxed(answer: str) -> str:
    """A well-formed completion answering `answer`."""
    return f"<think>some work</think><answer>The answer is \\boxed{{{answer}}}</answer>"


def answering(text: str) -> str:
    """A well-formed completion whose answer block is `text`."""
    return f"<think>some work</think><answer>{text}</answer>"


def assert_valid_scores(scores, allowed=(0.0, 0.5, 1.0, None)):
    assert all(s in allowed and (s is None or isinstance(s, float)) for s in scores), scores


# ---------------------------------------------------------------- extract_boxed

EXTRACT_BOXED_CASES = [
    (r"\boxed{5}", "5"),
    (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),  # nested braces
    (r"\boxed{\sqrt{\frac{a}{b^{2}}}}", r"\sqrt{\frac{a}{b^{2}}}"),  # deeper nesting
    (r"first \boxed{1}, finally \boxed{2}.", "2"),  # last box wins
    (r"so \boxed 5", "5"),
    (r"$\boxed 42$ done", "42"),
    (r"\fbox{7}", "7"),
    (r"\boxed {3}", "3"),
    (r"\boxed{\{1,2\}}", r"\{1,2\}"),  # escaped braces don't close the box
    (r"\boxed{a \\ b}", r"a \\ b"),
    (r"\boxed{}", ""),
    (r"\boxed{\frac{1}{2}", None),  # braces never close
    (r"\boxed{1} and then \boxed{2", None),  # the last box is unclosed
    ("no box here", None),
    ("", None),
    (r"ends with \boxed", None),
    (r"\boxedfoo{3}", None),  # another command
]


@pytest.mark.parametrize("text, expected", EXTRACT_BOXED_CASES)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


# ---------------------------------------------------------------- format_reward

FORMAT_CASES = [
    (r"<think>x</think><answer>\boxed{5}</answer>", 1.0),
    ("\n  <think>x</think>\n\n<answer> \\boxed{5} </answer>  \n", 1.0),  # whitespace around and between
    (r"<think>x</think><answer>5</answer>", 0.5),  # no box
    (r"<think>x</think><answer>\boxed{}</answer>", 0.5),  # empty box
    (r"<think>x</think><answer>\boxed{5</answer>", 0.5),  # unclosed box
    (r"<think>\boxed{5}</think><answer>5</answer>", 0.5),  # box only while thinking
    (r"<answer>\boxed{5}</answer>", 0.0),  # missing think
    (r"<think>x</think>", 0.0),  # missing answer
    (r"<think>x<answer>\boxed{5}</answer>", 0.0),  # unclosed think
    (r"<think>x</think><answer>\boxed{5}", 0.0),  # unclosed answer
    (r"<answer>\boxed{5}</answer><think>x</think>", 0.0),  # out of order
    (r"<think>a</think><think>b</think><answer>\boxed{5}</answer>", 0.0),  # repeated think
    (r"<think>a</think><answer>\boxed{4}</answer><answer>\boxed{5}</answer>", 0.0),  # repeated answer
    (r"<think>a <think> b</think><answer>\boxed{5}</answer>", 0.0),  # stray extra tag
    (r"<think>a</think> so <answer>\boxed{5}</answer>", 0.0),  # text between the blocks
    (r"Sure! <think>a</think><answer>\boxed{5}</answer>", 0.0),  # text before
    (r"<think>a</think><answer>\boxed{5}</answer> Hope this helps", 0.0),  # text after
    ("", 0.0),
]


@pytest.mark.parametrize("completion, expected", FORMAT_CASES)
def test_format_reward(completion, expected):
    assert format_reward([completion]) == [expected]
    assert format_reward([[{"role": "assistant", "content": completion}]]) == [expected]


# ---------------------------------------------------------------- accuracy_reward

GSM8K = "She sold 48 + 24 = <<48+24=72>>72 clips.\n#### 72"
ACCURACY_CASES = [
    # which \boxed{} is the prediction
    (boxed("5"), "5", 1.0),
    (boxed("6"), "5", 0.0),
    (r"<think>x</think><answer>\boxed{1}, no: \boxed{5}</answer>", "5", 1.0),  # last box wins
    (r"<think>x</think><answer>\boxed{5}, no: \boxed{1}</answer>", "5", 0.0),
    (r"<think>it is \boxed{5}</think><answer>I am not sure</answer>", "5", 0.0),  # answer only inside think
    (r"<think>it is \boxed{5}</think>", "5", 0.0),
    (r"<think>it is \boxed{5}", "5", 0.0),  # think never closes
    (r"<think>x</think><answer>5</answer>", "5", 0.0),  # no box
    (r"<think>x</think><answer>5</answer> \boxed{5}", "5", 0.0),  # the answer block decides
    (r"<think>x</think> So the answer is \boxed{5}.", "5", 1.0),  # no answer block: after </think>
    (r"</think> So the answer is \boxed{5}.", "5", 1.0),  # think opened in the prompt (R1 style)
    (r"\boxed{5}<think>x</think> and that is all", "5", 0.0),  # before the reasoning doesn't count
    (r"The answer is \boxed{5}.", "5", 1.0),  # no think block: anywhere
    (r"<think>x</think><answer>\boxed 5</answer>", "5", 1.0),
    # GSM8K, bare and numeric references
    (boxed("72"), GSM8K, 1.0),
    (boxed("72.0"), GSM8K, 1.0),
    (boxed("71"), GSM8K, 0.0),
    (boxed(r"\$18"), "She pays 18 dollars.\n#### 18", 1.0),
    (boxed("27"), "27.0", 1.0),
    (boxed("27.0"), "27", 1.0),
    (boxed("27"), 27, 1.0),
    (boxed("27"), 27.0, 1.0),
    (boxed("28"), "27.0", 0.0),
    (boxed("-5.0"), "-5", 1.0),
    (boxed("0.333333"), "0.3333333", 1.0),  # within math-verify's 6 decimals
    (boxed("1.000003"), "1.000001", 0.0),
    (boxed("123456789012345679"), "123456789012345678", 0.0),
    # worked (NuminaMath-style) references: their last box
    (boxed(r"\frac{1}{2}"), r"Adding, $x = \frac{2}{4}$, so the answer is $\boxed{\frac{1}{2}}$.", 1.0),
    (boxed("2"), r"We first guess $\boxed{2}$, but checking gives $\boxed{3}$.", 0.0),
    # fractions, decimals and equivalent LaTeX
    (boxed(r"\frac12"), "0.5", 1.0),
    (boxed("0.5"), r"\frac{1}{2}", 1.0),
    (boxed(r"\dfrac{1}{2}"), r"\frac{1}{2}", 1.0),
    (boxed("1/2"), r"\frac{1}{2}", 1.0),
    (boxed(r"\frac{1}{3}"), "0.333", 0.0),
    (boxed(r"\sqrt{8}"), r"2\sqrt{2}", 1.0),
    (boxed(r"\frac{\sqrt{3}}{2}"), r"\dfrac{\sqrt3}{2}", 1.0),
    (boxed("(x+1)^2"), "x^2+2x+1", 1.0),
    (boxed("x+1"), "x+2", 0.0),
    (boxed("3.14"), r"\pi", 0.0),
    # sets and intervals
    (boxed(r"\{3, 1, 2\}"), r"\{1, 2, 3\}", 1.0),
    (boxed(r"\{1, 2\}"), r"\{1, 2, 3\}", 0.0),
    (boxed(r"\left[1, 2\right)"), "[1,2)", 1.0),
    (boxed("[1, 2]"), "[1, 2)", 0.0),
    (boxed(r"(-\infty, 3)"), r"(-\infty,3)", 1.0),
    # units and text around the number
    (boxed(r"18 \text{ apples}"), "18", 1.0),
    (boxed(r"5\text{ cm}"), "5", 1.0),
    (boxed(r"90^\circ"), "90", 1.0),
    (boxed("x = 3"), "3", 1.0),
    (boxed("Monday"), r"\text{Monday}", 1.0),
    # unparseable references -> None, never 1.0
    (boxed("5"), "", None),
    (boxed("5"), r"The answer is \boxed{", None),
    (boxed("5"), "#### ", None),
    (boxed("5"), None, None),
    (boxed("}}}"), "}}}", None),
]


@pytest.mark.parametrize("completion, solution, expected", ACCURACY_CASES)
def test_accuracy_reward(completion, solution, expected):
    assert accuracy_reward([completion], solution=[solution]) == [expected]


# ---------------------------------------------------------------- the final group of boxes (issue #15)
# Rule: the answer is the last box together with the boxes just before it that are separated from it only by
# spacing, punctuation, math delimiters ($, \(, \), \[, \], \quad) or "and"/"or" (also in \text{}); any other word
# ends the group. Several boxes are one answer read as a set, compared as math-verify compares sets and tuples.

FINAL_BOXES_CASES = [
    (r"\boxed{5}", ["5"]),
    (r"\boxed{1} and \boxed{2} and \boxed{3}", ["1", "2", "3"]),
    (r"\boxed{1}, \boxed{2}, and \boxed{3}.", ["1", "2", "3"]),
    (r"\(\boxed{1}\) and \(\boxed{-2}\).", ["1", "-2"]),
    (r"$\boxed{1}$ $\boxed{2}$", ["1", "2"]),
    (r"\[\boxed{1}\]\[\boxed{2}\]", ["1", "2"]),
    (r"\boxed{1}\quad\boxed{2}\qquad\boxed{3}", ["1", "2", "3"]),
    (r"\boxed{1} \text{ and } \boxed{2}", ["1", "2"]),
    (r"\boxed{1}; \boxed{2}", ["1", "2"]),
    (r"\boxed{5} or \boxed{6}", ["5", "6"]),  # a hedge is read whole
    (r"\boxed{1}, no: \boxed{5}", ["5"]),  # a self-correction: a word ends the group
    (r"\boxed{1}. Wait, that was wrong, so \boxed{5}", ["5"]),
    (r"First $\boxed{2}$ is the width, hence the area is $\boxed{6}$.", ["6"]),  # intermediate results stay apart
    (r"x = \boxed{1}, y = \boxed{2}", ["1", "2"]),  # issue #18: a label names a part (was ["2"]: a partial answer)
    (r"x = \boxed{1}, then y = \boxed{2}", ["2"]),  # words are words
    (r"\boxed{1} band \boxed{2}", ["2"]),  # "and" only as a whole word
    (r"\boxed{\boxed{1}}", ["1"]),  # a box inside a box is not a neighbour
    (r"\boxed{1} and \boxed{2", None),  # the last box never closes
    ("no box", None),
]


@pytest.mark.parametrize("text, expected", FINAL_BOXES_CASES)
def test_final_boxes(text, expected):
    assert final_boxes(text) == expected


MULTI_BOX_CASES = [
    # a completion's answer split across boxes
    (answering(r"\boxed{1} and \boxed{2} and \boxed{3}"), r"\{1,2,3\}", 1.0),
    (answering(r"$\boxed{3}$, $\boxed{1}$ and $\boxed{2}$"), r"\{1, 2, 3\}", 1.0),  # order does not matter
    (answering(r"\boxed{1} \text{ and } \boxed{2}"), "1, 2", 1.0),
    (answering(r"\boxed{1}, \boxed{2}"), "(1, 2)", 1.0),  # math-verify: a pair equals the set of its parts
    (answering(r"\boxed{1} and \boxed{2}"), r"\{1,2,3\}", 0.0),  # incomplete
    (answering(r"\boxed{1}, \boxed{500}"), "1500", 0.0),  # parts never fuse into one number
    (answering(r"\boxed{1}, \boxed{500}"), r"\{1, 500\}", 1.0),
    # a reference's final answer split across boxes: the complete answer pays, a partial one does not
    (boxed("-2,1"), r"Hence \(\boxed{1}\) and \(\boxed{-2}\).", 1.0),
    (boxed(r"\{1, -2\}"), r"Hence \(\boxed{1}\) and \(\boxed{-2}\).", 1.0),
    (answering(r"\boxed{-2} and \boxed{1}"), r"Hence \(\boxed{1}\) and \(\boxed{-2}\).", 1.0),
    (boxed("-2"), r"Hence \(\boxed{1}\) and \(\boxed{-2}\).", 0.0),  # partial answer
    (boxed("1"), r"Hence \(\boxed{1}\) and \(\boxed{-2}\).", 0.0),  # partial answer
    (boxed("6"), r"First $\boxed{2}$ is the width, hence the area is $\boxed{6}$.", 1.0),
    (answering(r"\boxed{2}, \boxed{6}"), r"First $\boxed{2}$ is the width, hence the area is $\boxed{6}$.", 0.0),
    # hedging never pays: the group must equal the answer, not contain it
    (answering(r"\boxed{5} \boxed{6}"), "6", 0.0),
    (answering(r"\boxed{5}, \boxed{6}"), "5", 0.0),
    (answering(r"\boxed{5} or \boxed{6}"), "6", 0.0),
    (answering(r"$\boxed{5}$ and $\boxed{6}$"), r"\boxed{6}", 0.0),
    (answering(r"\boxed{6} \boxed{6}"), "6", 1.0),  # saying it twice is no hedge
    # self-correction with words in between: the last box alone
    (answering(r"\boxed{1}, no: \boxed{5}"), "5", 1.0),
    (answering(r"\boxed{5}, no: \boxed{1}"), "5", 0.0),
    (answering(r"\boxed{1}. Wait, that was wrong, so \boxed{5}"), "5", 1.0),
    # thinking never counts, even next to the answer's box
    (r"<think>\boxed{1}</think><answer>\boxed{2}</answer>", r"\{1,2\}", 0.0),
    (r"<think>so \boxed{1} and</think> \boxed{2}", "2", 1.0),
]

REFERENCE_WITHOUT_MATH_CASES = [  # a bare reference (no box, no ####) with words: math-verify reads it as free text
    (boxed("42"), "Answer is forty two.", None),
    (r"Some other content. \boxed{43}.", "Answer is forty three.", None),
    (boxed("42"), "forty two", None),
    (boxed("Yes"), "Yes", None),
    (boxed("42"), "The answer is 42.", 1.0),  # a number in prose is the answer
    (boxed("43"), "The answer is 42.", 0.0),
    (boxed("7"), "Answer: 7 cm", 1.0),
    # still answers: bare variables and constants, text in \text{}, boxed text
    (boxed("x"), "x", 1.0),
    (boxed("y"), "x", 0.0),
    (boxed(r"\pi"), r"\pi", 1.0),
    (boxed("3.14"), r"\pi", 0.0),
    (boxed("1+2x"), "2x+1", 1.0),
    (boxed(r"\text{Evelyn}"), r"\text{Evelyn}", 1.0),
    (boxed(r"\text{Yes}"), r"\boxed{\text{Yes}}", 1.0),
    (boxed(r"\text{No}"), r"\boxed{\text{Yes}}", 0.0),
    (boxed("18"), r"18 \text{ apples}", 1.0),
]

FULL_STOP_CASES = [  # a sentence's full stop inside the box is not part of the answer
    (boxed("42."), "42", 1.0),
    (boxed("43."), "42", 0.0),
    (boxed(r"2\sqrt{2}."), r"\sqrt{8}", 1.0),
    (boxed("(1, 2)."), "(1,2)", 1.0),
    (boxed(r"5\text{ cm}."), "5", 1.0),
    (boxed("0.5."), r"\frac{1}{2}", 1.0),
    (boxed(r"\frac{1}{2} ."), "0.5", 1.0),
    (boxed("42"), r"so it is $\boxed{42.}$", 1.0),  # in the reference too
    (boxed("7"), "7.", 1.0),
]

DIGIT_GROUP_CASES = [  # digits grouped in threes by a space (or a LaTeX thin space) are one number
    (boxed("1 000"), "1000", 1.0),
    (boxed(r"1\,000"), "1000", 1.0),
    (boxed("12 345 678"), "12345678", 1.0),
    (boxed("1 000 000"), "10^6", 1.0),
    (boxed("1 000.5"), "1000.5", 1.0),
    (boxed("1 001"), "1000", 0.0),
    (boxed("1000"), "1 000", 1.0),  # in the reference too
    (boxed("1,000"), "1000", 1.0),
]

EMPTY_AND_NUMERIC_CELL_CASES = [  # data set cells as loaded from CSV, JSON or parquet (issue #12)
    (boxed("None"), None, None),
    (boxed("nan"), float("nan"), None),
    (boxed("5"), "", None),
    (boxed("5"), "   \n", None),
    (boxed("5"), [], None),  # not a reference at all
    (boxed("18"), 18, 1.0),
    (boxed("19"), 18, 0.0),
    (boxed("27"), 27.0, 1.0),
    (boxed(r"\frac12"), 0.5, 1.0),
    (boxed("0.0000001"), 1e-07, 1.0),
    (boxed(r"\infty"), float("inf"), 1.0),
]


@pytest.mark.parametrize("completion, solution, expected",
                         MULTI_BOX_CASES + REFERENCE_WITHOUT_MATH_CASES + FULL_STOP_CASES + DIGIT_GROUP_CASES)
def test_accuracy_reward_reads_answers_as_written(completion, solution, expected):
    assert accuracy_reward([completion], solution=[solution]) == [expected]


@pytest.mark.parametrize("completion, solution, expected", EMPTY_AND_NUMERIC_CELL_CASES)
def test_empty_cells_are_no_reference_and_numbers_are_answers(completion, solution, expected):
    assert accuracy_reward([completion], solution=[solution]) == [expected]


def test_numpy_cells_from_parquet_are_numbers():
    np = pytest.importorskip("numpy")
    assert accuracy_reward([boxed("18"), boxed("0.5"), boxed("1")], solution=[np.int64(18), np.float64(0.5),
                                                                            np.float64("nan")]) == [1.0, 1.0, None]


def test_reference_answers_are_what_accuracy_grades_against():
    solutions = ["Answer is forty two.", "The answer is 42.", 27.0, r"so \(\boxed{1}\) and \(\boxed{-2}\).", "",
                 None, "x", r"\boxed{"]
    assert reference_answers(solutions) == [None, "42", "27.0", "1, -2", None, None, "x", None]


def test_diagnostics_are_logged_through_log_metric():
    metrics = []
    completions = [boxed("5"), boxed("6"), "no answer", r"<think>\boxed{5}</think>", boxed("5"), boxed("5")]
    solutions = ["5", "5", "5", "5", None, "Answer is forty two."]
    rewards = accuracy_reward(completions, solution=solutions, log_metric=lambda name, value: metrics.append(
        (name, value)))
    assert rewards == [1.0, 0.0, 0.0, 0.0, None, None]
    logged = dict(metrics)
    assert {name: logged.pop(name) for name in ["diagnostics/answer_extracted_fraction",
                                                "diagnostics/unparseable_references", "diagnostics/reward_timeouts",
                                                "diagnostics/reward_errors"]} == {
        "diagnostics/answer_extracted_fraction": 4 / 6, "diagnostics/unparseable_references": 2.0,
        "diagnostics/reward_timeouts": 0.0, "diagnostics/reward_errors": 0.0}
    # the rest: one count per guard and extension (docs/rewards.md); here the think guard refused the thought-only 5
    assert logged == {f"diagnostics/{name}": float(name == "guard_think") for name in reward.DIAGNOSTIC_NAMES}
    assert len(metrics) == 4 + len(reward.DIAGNOSTIC_NAMES)  # once per call


def test_timeouts_are_counted_in_the_diagnostics(monkeypatch):
    accuracy_reward([boxed("0.5")], solution=[r"\frac{1}{2}"])  # a started, warm worker
    monkeypatch.setattr(math_worker, "TIMEOUT_S", 0.5)  # below math-verify's own 1 s alarm: the hard deadline fires
    metrics = {}
    scores = accuracy_reward([PATHOLOGICAL[0], boxed("0.75")], solution=[PATHOLOGICAL[1], r"\frac34"],
                             log_metric=metrics.__setitem__)
    assert scores == [0.0, 1.0]
    assert metrics["diagnostics/reward_timeouts"] == 1.0


# ---------------------------------------------------------------- round four: guards veto, extensions extend, by name
# Each row is a shape where math-verify alone gives the other verdict; the named rule decides it, and the call counts
# it in diagnostics/<name> (docs/rewards.md has the rules).

RULE_CASES = [
    (boxed("3"), "3t", 0.0, "guard_dropped_variable"),  # math-verify reads 3t as 3 with a unit
    (boxed("4"), "4ab", 0.0, "guard_dropped_variable"),
    (boxed("18t"), "#### 18", 0.0, "guard_dropped_variable"),
    (boxed("u = 9, v = 4"), "u = 4, v = 9", 0.0, "guard_wrong_labels"),  # the labels extension would pay {4, 9}
    (boxed("0.0000004"), 5e-7, 0.0, "guard_rounded_reference"),  # equal at math-verify's 6 decimals
    (r"<think>\boxed{5}</think><answer>five</answer>", "5", 0.0, "guard_think"),
    (boxed("12"), r"\text{12 km}", 1.0, "extension_units"),
    (boxed(r"\varnothing"), r"\emptyset", 1.0, "extension_synonyms"),
    (boxed(r"\text{none}"), r"\emptyset", 1.0, "extension_synonyms"),
    (boxed(r"(-\infty,\infty)"), r"\mathbb R", 1.0, "extension_synonyms"),
    (boxed(r"\textcolor{red}{5}"), "5", 1.0, "extension_synonyms"),
    (boxed("x = 2"), r"x \in \{2\}", 1.0, "extension_labels"),
    (boxed("5e-7"), 5e-7, 1.0, "extension_numbers"),
    (boxed("1 000"), "1000", 1.0, "extension_numbers"),
    (boxed(r"4\cdot a\cdot b"), "4ab", 1.0, "extension_trailing_variables"),
]


@pytest.mark.parametrize("completion, solution, expected, rule", RULE_CASES)
def test_each_guard_and_extension_decides_its_shape_and_is_counted(completion, solution, expected, rule):
    metrics = {}
    assert accuracy_reward([completion], solution=[solution], log_metric=metrics.__setitem__) == [expected]
    fired = {name for name in reward.DIAGNOSTIC_NAMES if metrics[f"diagnostics/{name}"]}
    assert fired == {rule}


def test_guards_only_veto_and_extensions_only_extend():
    import reward_rules

    for completion, solution, expected, rule in RULE_CASES:
        if rule in ("guard_think", "guard_wrong_labels"):  # no pair math-verify sees / it refuses an extension's 1.0
            continue
        name = rule.partition("_")[2]
        reference, prediction = reward.reference_parts(solution), reward.prediction_parts(completion)
        math_verify_alone = math_worker.judge([("compare", reward.joined(reference), reward.joined(prediction))])[0]
        assert list(math_verify_alone.values()) == [1.0 - expected], rule  # the rule changed math-verify's verdict
        assert (name in {g.__name__ for g in reward_rules.GUARDS}) == (expected == 0.0)


@pytest.mark.parametrize("text", [r"\text{Evelyn}", r"3t", "x = 2, x = 3", "AZYUK2A", r"\mathbb{Q}",
                                  r"\text{(B)} \; 7!!", r"\sqrt[3]{x}^{\frac{a}{b}}", "1,22", r"0.3333"])
def test_identical_strings_always_agree_whatever_they_hold(text):
    assert accuracy_reward([answering(rf"\boxed{{{text}}}")], solution=[rf"\boxed{{{text}}}"]) == [1.0]


def test_a_failure_inside_the_worker_is_an_error_not_a_silent_zero(monkeypatch):
    """A job raising in the worker (our code, or math-verify raising past its own handlers) comes back as a RuleError;
    accuracy_reward counts it in diagnostics/reward_errors and scores the sample 0.0."""
    def broken_parse(answer):
        raise RuntimeError("parser bug")

    with monkeypatch.context() as patched:  # the worker's own function, called in this process
        patched.setattr(math_worker, "_parse", broken_parse)
        assert isinstance(math_worker._compare("1", "2"), math_worker.RuleError)
        assert isinstance(math_worker._reads("1"), math_worker.RuleError)

    real = math_worker.judge

    def judge_with_a_failing_job(jobs):  # what the parent receives when a job raised in the worker
        outcomes, overruns = real(jobs)
        return {job: math_worker.RuleError("RuntimeError: parser bug") if job[0] == "compare" else outcome
                for job, outcome in outcomes.items()}, overruns

    monkeypatch.setattr(math_worker, "judge", judge_with_a_failing_job)
    monkeypatch.setattr(reward._Errors, "logged", False)
    metrics = {}
    assert accuracy_reward([boxed(r"\frac{2}{4}"), boxed("7")], solution=["0.5", "7"],
                           log_metric=metrics.__setitem__) == [0.0, 1.0]
    assert metrics["diagnostics/reward_errors"] == 1.0


# ---------------------------------------------------------------- peers' own test cases, ported to our format
# Ported by hand from TRL tests/test_rewards.py (accuracy_reward, reasoning_accuracy_reward, cosine reward's
# unparseable gold), open-r1 tests/test_rewards.py (accuracy_reward) and Math-Verify tests/test_all.py (number,
# fraction, set, LaTeX-notation, percent and worked-solution cases, and its Qwen2.5-Math parser cases). A bare
# `\boxed{...}` completion became a well-formed `<think>...</think><answer>\boxed{...}</answer>` one; a peer's
# plain-text prediction was boxed. Expected = the peer's verdict, except where we judge the peer wrong (marked).


def peer(answer: str) -> str:
    return rf"<think>work</think><answer>\boxed{{{answer}}}</answer>"


PEER_CASES = [
    # TRL tests/test_rewards.py
    (peer(r"\frac{63}{400}"), r"\frac{63}{400}", 1.0),
    (peer(r"\frac{63}{400}"), "63/400", 1.0),
    (peer(r"\frac{64}{400}"), r"\frac{63}{400}", 0.0),
    (peer("3"), "6", 0.0),
    ("Answer is forty two.", "Answer is forty two.", None),
    (r"Some other content. \boxed{43}.", "Answer is forty three.", None),
    (peer(r"\frac{1}{3}"), r"\frac{1}{3}", 1.0),
    (r"<think> Reasoning content </think> \boxed{\frac{63}{400}}", r"\frac{63}{400}", 1.0),
    (r"Reasoning content </think> \boxed{\frac{63}{400}}", r"\frac{63}{400}", 1.0),
    (r"<think> Reasoning content </think> \boxed{\frac{64}{400}}", r"\frac{63}{400}", 0.0),
    (r"<think> My answer is \boxed{42} </think> Some other text.", r"\boxed{42}", 0.0),
    (r"<think> The answer is \boxed{42} </think> Here's a wrong answer: \boxed{43}.", r"\boxed{42}", 0.0),
    (r"<think> Incomplete reasoning without closing tag", r"\frac{63}{400}", 0.0),
    (r"Correct answer \frac{63}{400} but completely missing reasoning content", r"\frac{63}{400}", 0.0),
    (r"<think> Reasoning content </think> \boxed{42}", "forty two", None),
    # open-r1 tests/test_rewards.py
    (peer(r"\frac{63}{400}"), r"\frac{63}{400}", 1.0),
    (peer(r"\frac{64}{400}"), r"\frac{63}{400}", 0.0),
    # Math-Verify tests/test_all.py
    (peer("-5"), "-5", 1.0),
    (peer("7,425,000"), "7425000", 1.0),
    (peer("1 000"), "1000", 1.0),
    (peer("1000.0"), "1000", 1.0),
    (peer("1,000.0"), "1000.0", 1.0),
    (peer("1000,99"), "1000.99", 0.0),  # peer: 1.0. Wrong here: in a box a comma lists parts ({1000, 99})
    (peer("1.22"), "1,22", 0.0),  # peer: 1.0. Wrong here: the reference 1,22 is the pair 1 and 22 (see above)
    (peer(".4"), "0.4", 1.0),
    (peer("1,000.99"), "1000.99", 1.0),
    (peer(r"\$1,000.99"), "1000.99", 1.0),
    (peer("0.111"), "0,111", 1.0),
    (peer("AZYUK2A"), "2", 0.0),
    (peer(r"\frac{10}{9}"), "10/9", 1.0),
    (peer(r"-\frac{10}{9}"), "-10/9", 1.0),
    (peer("[0,1)"), "$[0,1)$", 1.0),
    (peer("[0,1)"), "$[0,9)$", 0.0),
    (peer("[0,9)"), "$(0,9)$", 0.0),
    (peer("-[0,1)"), "$1$", 0.0),
    (peer(r"\frac13"), "$1/3$", 1.0),
    (peer(r"\frac3{3}"), "$1$", 1.0),
    (peer(r"\sqrt3"), r"$\sqrt{3}$", 1.0),
    (peer(r"\cfrac{1}{3}"), "$1/3$", 1.0),
    (peer(r"\dfrac{1}{3}"), "$1/3$", 1.0),
    (peer(r"\tfrac{1}{3}"), "$1/3$", 1.0),
    (peer("1/3"), "$1/3$", 1.0),
    (peer(r"\left( \frac{1}{3} \right)"), "$1/3$", 1.0),
    (peer(r"\frac{1}{3} \text{meters}"), "$1/3$", 1.0),
    (peer(r"\frac{1}{3} \textbf{meters}"), "$1/3$", 1.0),
    (peer(r"k = \frac{1}{3}"), "$1/3$", 1.0),
    (peer(r"28\%"), r"$28\%$", 1.0),
    (peer("28 percent"), r"$28\%$", 1.0),
    (peer("28"), r"$28\%$", 1.0),
    (peer("28"), "$0.28$", 0.0),
    (peer("28"), "$28/100$", 0.0),
    (peer("28/100"), "$28$", 0.0),
    (peer("28"), r"$\frac{28}{100}$", 0.0),
    (r"If $2-x=p$, then $x=2-p$. Thus $x-p=\boxed{2-2p}$.", "$2-2p$", 1.0),
    (r"Therefore, the polar coordinates are $\boxed{\left( 3, \frac{\pi}{2} \right)}.$", r"$(3, \frac{\pi}{2})$", 1.0),
    (r"$f(-2)+f(-1)+f(0)=2+\frac{5}{3}+1=\boxed{\frac{14}{3}}$", r"$\frac{14}{3}$", 1.0),
    (r"Therefore, $\boxed{\text{Evelyn}}$ is our answer.", r"$\text{Evelyn}$", 1.0),
    (r"the sum is located between $\boxed{12 $ and $13 }. $",
     r"so the sum is between $\boxed{12\text{ and }13}$. To be more precise, $\sqrt{50}>7$.", 1.0),
    (r"The smallest possible value of $N$ is $\boxed{14{,}916}$. I hope it is correct.", "$14916$", 1.0),
    (r"Paula's investment is worth $\boxed{\$16,\!386.20}$ at the end.", "$16386.20$", 1.0),
    (peer(r"(-\infty, -3] \cup [2, \infty)"), "$[-3,2]$", 0.0),
    (peer("(0, 1)"), "$[0,1)$", 0.0),
    (r"Thus, $(p,q) = \boxed{\left( \frac{1}{5}, \frac{1}{6} \right)}.$", r"$\left(\frac{1}{5},\frac{1}{6}\right)$",
     1.0),
    # Math-Verify tests/test_all.py, its Qwen2.5-Math parser cases
    (peer("0.0833333333333333"), r"$\frac{1}{12}$", 1.0),
    (peer("(1,4.5)"), r"$(1,\frac{9}{2})$", 1.0),
    (peer(r"\frac{x}{7}+\frac{2}{7}"), r"$\frac{x+2}{7}$", 1.0),
    (peer(r"\sec^2(y)"), r"$\tan^2(y)+1$", 1.0),
    (peer("-34x-45y+20z-100=0"), "$34x+45y-20z+100=0$", 1.0),
    (peer(r"\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{2\sqrt{33}+15}"), r"$\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{15+2\sqrt{33}}$",
     1.0),
    (peer("(+5)(b+2)"), "$(a+5)(b+2)$", 0.0),
    (peer(r"\frac{1+\sqrt{5}}{2}"), "$2$", 0.0),
    (peer(r"\frac{34}{16}+\frac{\sqrt{1358}}{16}"), "$4$", 0.0),
    (peer("1"), r"$1\sqrt{19}$", 0.0),
    (peer("x+1"), "$x+2n+1$", 0.0),
]


@pytest.mark.parametrize("completion, solution, expected", PEER_CASES)
def test_peer_cases(completion, solution, expected):
    assert accuracy_reward([completion], solution=[solution]) == [expected]


PEER_FORMAT_CASES = [  # TRL's think_format_reward and open-r1's format_reward: shapes both call malformed
    "<think>\nThis is my reasoning.\nThis is my answer.",
    "<think>This is my reasoning.\nThis is my answer.",
    "This is my reasoning. This is my answer.",
    "This is my reasoning.</think>\nThis is my answer.",
    "This<think>is my reasoning.</think>\nThis is my answer.",
    "<think>This is<think>my reasoning.</think></think>This is my answer.",
    "<think>This is</think>\nmy\n<think>reasoning.</think>\nThis is my answer.",
    "<think>Only thinking</think>",
    "<answer>Only answer</answer>",
    "No tags at all",
    "<think>Missing closing</think><answer>Missing closing",
    "<think>Wrong order</answer><answer>Wrong order</think>",
]


@pytest.mark.parametrize("completion", PEER_FORMAT_CASES)
def test_peer_format_cases(completion):
    assert format_reward([[{"content": completion}]]) == [0.0]


def test_accuracy_scores_a_grpo_group_against_one_reference():
    completions = [boxed("0.5"), boxed(r"\frac{1}{2}"), boxed("1/3"), r"<think>\boxed{0.5}</think>",
                   boxed("0.5"), "no answer", [{"role": "assistant", "content": boxed(r"\dfrac12")}], ""]
    solution = [r"so $\boxed{\frac{1}{2}}$"] * len(completions)
    assert accuracy_reward(completions, solution=solution) == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]


def test_unparseable_reference_is_logged_once_per_reference(caplog):
    reference = f"problem {uuid.uuid4().hex} has no final answer \\boxed{{"
    with caplog.at_level(logging.WARNING, logger="reward"):
        for _ in range(2):
            assert accuracy_reward([boxed("5")] * 8, solution=[reference] * 8) == [None] * 8
    assert len([r for r in caplog.records if reference[:30] in r.getMessage()]) == 1


def test_mismatched_lengths_are_a_caller_error():
    with pytest.raises(ValueError):
        accuracy_reward([boxed("1"), boxed("2")], solution=["1"])


# ---------------------------------------------------------------- helpers

@pytest.mark.parametrize("completion, expected", [
    ("plain", "plain"),
    ([{"role": "assistant", "content": "chat"}], "chat"),
    ([{"role": "assistant", "content": "first"}, {"role": "assistant", "content": "last"}], "last"),
    ([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "ab"),
    ([{"role": "assistant", "content": None}], ""),
    ([], ""),
    (None, ""),
    (b"bytes \xff", "bytes \ufffd"),
])
def test_completion_text(completion, expected):
    assert completion_text(completion) == expected


@pytest.mark.parametrize("completion, expected", [
    (boxed(" 42 "), "42"),
    (r"<think>\boxed{1}</think><answer>\boxed{2}</answer>", "2"),
    (r"<think>\boxed{1}</think><answer>no box</answer>", None),
    (r"<think>x</think><answer>\boxed{}</answer>", None),
    (r"<think>\boxed{1}", None),
    ([{"role": "assistant", "content": r"\boxed{7}"}], "7"),
])
def test_extract_answer(completion, expected):
    assert extract_answer(completion) == expected


@pytest.mark.parametrize("solution, expected", [
    (r"So $x = \boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
    (GSM8K, "72"),
    ("27.0", "27.0"),
    (27, "27"),
    ("  5 \n", "5"),
    ("", None),
    (None, None),
    (r"unclosed \boxed{", None),
])
def test_reference_answer(solution, expected):
    assert reference_answer(solution) == expected


def test_registry_matches_trl_conventions():
    assert DEFAULT_REWARDS == ["format", "accuracy"]
    assert set(DEFAULT_REWARDS) <= set(REWARD_FUNCS)
    assert REWARD_FUNCS["format"].__name__ == "format_reward"
    assert REWARD_FUNCS["accuracy"].__name__ == "accuracy_reward"
    logged = {}
    trainer_kwargs = dict(prompts=["p", "p"], completion_ids=[[1], [2]], trainer_state=None,
                          log_extra=lambda column, values: logged.setdefault(column, values),
                          log_metric=lambda name, value: None, solution=["5", "5"])
    completions = [[{"role": "assistant", "content": boxed("5")}], [{"role": "assistant", "content": "5"}]]
    for name, func in REWARD_FUNCS.items():
        assert func.__doc__ and func.__doc__.strip(), name
        assert len(func(completions, **trainer_kwargs)) == 2
    assert logged == {"extracted_answer": ["5", ""]}


# ---------------------------------------------------------------- untrusted input: never raises, bounded time

NOISE = "".join(chr(0x20 + (i * 7919) % 0x2FFF) for i in range(1_000_000))
ADVERSARIAL = [
    "",
    NOISE,
    "{" * 100_000,
    "}" * 100_000,
    "\\boxed{" * 20_000,
    "\\boxed{" + "{" * 50_000 + "}" * 50_000 + "}",
    "<think>" * 1000 + "</answer>" * 1000,
    "\udcff\udcfe \x00 \ufffd \\boxed{\udcff}",
    "\\boxed{" + "9" * 5000 + "}",
    "\\boxed{\\frac{\\frac{\\frac{1}{2}}{3}" + "}" * 10,
    "\\boxed{" + "(" * 500 + ")" * 500 + "}",
    "<think></think><answer>\\boxed{\\left( \\right]}</answer>",
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda t: repr(t[:20]) + f"..{len(t)}")
def test_adversarial_completions_and_references_never_raise(text):
    start = time.monotonic()
    assert_valid_scores(format_reward([text]))
    assert_valid_scores(accuracy_reward([text], solution=["5"]), allowed=(0.0, 1.0))
    assert_valid_scores(accuracy_reward([boxed("5")], solution=[text]))
    assert time.monotonic() - start < GENEROUS_S


def test_pathological_power_tower_is_bounded_on_the_main_thread():
    start = time.monotonic()
    assert accuracy_reward([PATHOLOGICAL[0]], solution=[PATHOLOGICAL[1]]) == [0.0]
    assert time.monotonic() - start < GENEROUS_S


def test_pathological_power_tower_is_bounded_off_the_main_thread():
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        scores=accuracy_reward([PATHOLOGICAL[0], boxed("0.5")], solution=[PATHOLOGICAL[1], r"\frac12"])))
    start = time.monotonic()
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert time.monotonic() - start < GENEROUS_S
    assert result["scores"] == [0.0, 1.0]


def test_an_overrun_kills_the_worker_and_the_rest_of_the_batch_is_still_judged(monkeypatch, caplog):
    accuracy_reward([boxed("0.5")], solution=[r"\frac{1}{2}"])  # a started, warm worker
    stopped, stop = [], math_worker._stop_worker  # the workers stopped, whichever slot judged the stuck job

    def recording_stop(slot=0):
        stopped.append(math_worker.workers().get(slot))
        stop(slot)

    monkeypatch.setattr(math_worker, "_stop_worker", recording_stop)
    monkeypatch.setattr(math_worker, "TIMEOUT_S", 0.5)  # below math-verify's own 1 s alarm: the hard deadline fires
    completions = [PATHOLOGICAL[0], boxed(r"\frac{3}{4}"), boxed("0.25"), boxed(r"\{2,1\}")]
    solutions = [PATHOLOGICAL[1], "0.75", r"\frac{1}{5}", r"\{1,2\}"]
    with caplog.at_level(logging.WARNING, logger="reward"):
        start = time.monotonic()
        scores = accuracy_reward(completions, solution=solutions)
        elapsed = time.monotonic() - start
    monkeypatch.undo()
    assert scores == [0.0, 1.0, 0.0, 1.0]
    assert elapsed < 2 * GENEROUS_S
    assert any("overran" in r.getMessage() for r in caplog.records)
    assert stopped and all(w.proc.poll() is not None for w in stopped)  # the stuck job's worker was killed
    assert not {w.proc.pid for w in stopped} & {w.proc.pid for w in math_worker.workers().values()}  # and replaced
    assert accuracy_reward([boxed("7")], solution=["7.0"]) == [1.0]


def test_an_interrupted_call_leaves_no_stale_replies_for_the_next():
    # A process started in the background (as CI may be) inherits SIGINT ignored, and interrupt_main then does nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        accuracy_reward([boxed("1")], solution=[r"\frac{2}{2}"])  # a started worker
        threading.Timer(0.3, _thread.interrupt_main).start()  # Ctrl-C while the worker still owes two replies
        with pytest.raises(KeyboardInterrupt):
            accuracy_reward([PATHOLOGICAL[0], boxed("0.5")], solution=[PATHOLOGICAL[1], r"\frac12"])
            time.sleep(GENEROUS_S)  # the interrupt lands by now at the latest
        assert accuracy_reward([boxed("0.5"), boxed("3")], solution=[r"\frac{1}{2}", "x+1"]) == [1.0, 0.0]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_concurrent_threads_get_their_own_correct_scores():
    cases = [(boxed(r"\frac{1}{2}"), "0.5", 1.0), (boxed("3"), "4", 0.0), (boxed(r"\sqrt{4}"), "2", 1.0),
             (boxed(r"[0, 1)"), "[0,1]", 0.0)]
    errors = []

    def work(completion, solution, expected):
        for _ in range(5):
            got = accuracy_reward([completion] * 3, solution=[solution] * 3)
            if got != [expected] * 3:
                errors.append((completion, solution, got))

    threads = [threading.Thread(target=work, args=case) for case in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


LATEX_BITS = st.sampled_from([
    "\\boxed{", "\\boxed ", "\\fbox{", "{", "}", "\\", "\\{", "\\}", "$", "<think>", "</think>", "<answer>",
    "</answer>", "####", "\\frac", "^", "_", "9", "0.5", "-", "/", "\\sqrt", "\\infty", "x", "=", "[", ")", ",",
    "\\left(", "\\right]", "\\text{", "%", "\udcff", "\x00", "\n",
])
FUZZ_TEXT = st.lists(st.one_of(st.text(max_size=12), LATEX_BITS), max_size=40).map("".join)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(completion=FUZZ_TEXT, solution=st.one_of(FUZZ_TEXT, st.sampled_from(["5", r"\frac{1}{2}", "#### 3"])))
def test_fuzz_random_strings_never_raise_and_return_in_bounded_time(completion, solution):
    start = time.monotonic()
    assert isinstance(extract_boxed(completion), (str, type(None)))
    assert isinstance(extract_answer(completion), (str, type(None)))
    for func in REWARD_FUNCS.values():
        scores = func([completion, [{"role": "assistant", "content": completion}]], solution=[solution] * 2)
        assert len(scores) == 2 and scores[0] == scores[1]
        assert_valid_scores(scores)
    assert time.monotonic() - start < GENEROUS_S


# ---------------------------------------------------------------- worker lifecycle and the command line

def run_python(code: str, timeout=120):
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def process_gone(pid: int, within_s: float = GENEROUS_S) -> bool:
    """True once `pid` no longer runs (a zombie waiting for a reaper counts as gone)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX":
                return True
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return True
        time.sleep(0.05)
    return False


def test_import_starts_no_process_and_exit_stops_the_worker():
    proc = run_python(
        "import math_worker, reward\n"
        "assert not math_worker.workers()\n"
        "assert reward.accuracy_reward([r'\\boxed{0.5}'], solution=[r'\\frac12']) == [1.0]\n"
        "print(math_worker.workers()[0].proc.pid)\n")
    assert proc.returncode == 0, proc.stderr
    assert process_gone(int(proc.stdout.split()[-1]))


def test_worker_exits_when_its_parent_is_killed():
    proc = run_python(
        "import os, signal, math_worker, reward\n"
        "reward.accuracy_reward([r'\\boxed{0.5}'], solution=[r'\\frac12'])\n"
        "print(math_worker.workers()[0].proc.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    assert proc.returncode == -signal.SIGKILL
    assert process_gone(int(proc.stdout.split()[-1]))


def test_self_test_cli_passes_and_ends_with_the_summary():
    proc = subprocess.run([sys.executable, "reward.py"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed, 0 failed", last), last
    assert int(last.split()[0]) == len(reward.SELF_TESTS)


def test_debug_cli_prints_every_reward_for_one_pair():
    proc = subprocess.run([sys.executable, "reward.py", "--completion", boxed("0.5"),
                           "--solution", r"so $\boxed{\frac{1}{2}}$"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "format: 1.0" in proc.stdout and "accuracy: 1.0" in proc.stdout
    assert "extracted answer: '0.5'" in proc.stdout


def test_debug_cli_needs_both_arguments():
    proc = subprocess.run([sys.executable, "reward.py", "--completion", "x"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "--solution" in proc.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_worker():
    accuracy_reward([boxed("1")], solution=[r"\frac{2}{2}"])
    parent_worker = math_worker.workers()[0].proc.pid
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not talk over the parent's pipe
        try:
            ok = (not math_worker.workers() and accuracy_reward([boxed("0.5")], solution=[r"\frac12"]) == [1.0]
                  and math_worker.workers()[0].proc.pid != parent_worker)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert math_worker.workers()[0].proc.pid == parent_worker
    assert accuracy_reward([boxed("0.5")], solution=[r"\frac12"]) == [1.0]
