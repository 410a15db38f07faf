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

import reward
from reward import (
    DEFAULT_REWARDS,
    REWARD_FUNCS,
    accuracy_reward,
    completion_text,
    extract_answer,
    extract_boxed,
    format_reward,
    reference_answer,
)

REPO = Path(__file__).resolve().parent.parent
GENEROUS_S = 10.0
PATHOLOGICAL = (r"\boxed{9^{9^{9^{9}}}}", r"\boxed{2003^{2002^{2001}}}")


def boxed(answer: str) -> str:
    """A well-formed completion answering `answer`."""
    return f"<think>some work</think><answer>The answer is \\boxed{{{answer}}}</answer>"


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


def test_at_least_40_table_cases():
    assert len(EXTRACT_BOXED_CASES) + len(FORMAT_CASES) + len(ACCURACY_CASES) >= 40


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
    before = reward._worker.proc.pid
    monkeypatch.setattr(reward, "TIMEOUT_S", 0.5)  # below math-verify's own 1 s alarm: the hard deadline fires
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
    assert reward._worker.proc.pid != before
    assert accuracy_reward([boxed("7")], solution=["7.0"]) == [1.0]


def test_an_interrupted_call_leaves_no_stale_replies_for_the_next():
    accuracy_reward([boxed("1")], solution=[r"\frac{2}{2}"])  # a started worker
    threading.Timer(0.3, _thread.interrupt_main).start()  # Ctrl-C while the worker still owes two replies
    with pytest.raises(KeyboardInterrupt):
        accuracy_reward([PATHOLOGICAL[0], boxed("0.5")], solution=[PATHOLOGICAL[1], r"\frac12"])
        time.sleep(GENEROUS_S)  # the interrupt lands by now at the latest
    assert accuracy_reward([boxed("0.5"), boxed("3")], solution=[r"\frac{1}{2}", "x+1"]) == [1.0, 0.0]


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
        "import reward\n"
        "assert reward._worker is None\n"
        "assert reward.accuracy_reward([r'\\boxed{0.5}'], solution=[r'\\frac12']) == [1.0]\n"
        "print(reward._worker.proc.pid)\n")
    assert proc.returncode == 0, proc.stderr
    assert process_gone(int(proc.stdout.split()[-1]))


def test_worker_exits_when_its_parent_is_killed():
    proc = run_python(
        "import os, signal, reward\n"
        "reward.accuracy_reward([r'\\boxed{0.5}'], solution=[r'\\frac12'])\n"
        "print(reward._worker.proc.pid, flush=True)\n"
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
    parent_worker = reward._worker.proc.pid
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not talk over the parent's pipe
        try:
            ok = (reward._worker is None and accuracy_reward([boxed("0.5")], solution=[r"\frac12"]) == [1.0]
                  and reward._worker.proc.pid != parent_worker)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert reward._worker.proc.pid == parent_worker
    assert accuracy_reward([boxed("0.5")], solution=[r"\frac12"]) == [1.0]
