r"""The accuracy cases of TRL's, open-r1's and Qwen2.5-Math's public tests, ported in full as (reference, completion,
peer's verdict) rows through `reward.accuracy_reward`.

Sources (read through the search tool's read_file):
- TRL: huggingface/trl tests/test_rewards.py at commit 010eddf0110ae5461b2102eb0977f83106b4106d (TestAccuracyReward,
  TestReasoningAccuracyReward, and the accuracy verdicts inside TestCosineScaledReward: a cosine reward is positive
  exactly when accuracy is 1, None when the gold is unparseable). Completions as written: TRL's bare `\boxed{}`
  completions have no think block, which our reader accepts (the box anywhere).
- open-r1: huggingface/open-r1 tests/test_rewards.py at commit 031ec05d1254c4a444eadf9cfa548c684bfc0fbe (accuracy
  tests, and the accuracy verdicts inside test_cosine_scaled_reward; its padding spaces change nothing we read).
- Qwen2.5-Math: QwenLM/Qwen2.5-Math evaluation/grader.py at commit 29a82a8802e058c236fe7903ae6d8362df078aa7:
  `TestMathEquality` (math_equal and its helpers' equality asserts, as math_equal(prediction, reference)) and the
  pairs listed in `_test_math_equal` (not asserted there: the expected value is what math_equal's rules give, noted
  per row). Qwen's predictions are bare answers: they are boxed. evaluation/parser.py's `_test_extract_answer` only
  prints, so it has no case.

The expected value is the peer's. A row where we deliberately differ gives our value and the reason (`differs`).
"""
import pytest

from helpers import peer_rows
from reward import accuracy_reward


def said(answer: str) -> str:
    return rf"<think>work</think><answer>\boxed{{{answer}}}</answer>"


def differs(ours, why: str):
    return ours, why


TRL = [
    (r"\frac{63}{400}", r"\boxed{\frac{63}{400}}", 1),
    ("63/400", r"\boxed{\frac{63}{400}}", 1),
    (r"\frac{63}{400}", r"\boxed{\frac{64}{400}}", 0),
    ("6", r"\boxed{3}", 0),
    ("Answer is forty two.", "Answer is forty two.", None),
    ("Answer is forty three.", r"Some other content. \boxed{43}.", None),
    (r"\frac{1}{3}", r"\boxed{\frac{1}{3}}", 1),  # test_accuracy_reward_in_worker_thread (thread: test_rewards.py)
    # reasoning_accuracy_reward
    (r"\frac{63}{400}", r"<think> Reasoning content </think> \boxed{\frac{63}{400}}", 1),
    (r"\frac{63}{400}", r"Reasoning content </think> \boxed{\frac{63}{400}}", 1),
    (r"\frac{63}{400}", r"<REASONING_START> Reasoning content </REASONING_END> \boxed{\frac{63}{400}}", 1),
    (r"\frac{63}{400}", r"<think> Reasoning content </think> \boxed{\frac{64}{400}}", 0),
    (r"\boxed{42}", r"<think> My answer is \boxed{42} </think> Some other text.", 0),
    (r"\boxed{42}", r"<think> The answer is \boxed{42} </think> Here's a wrong answer: \boxed{43}.", 0),
    (r"\frac{63}{400}", r"<think> Incomplete reasoning without closing tag", 0),
    (r"\frac{63}{400}", r"Correct answer \frac{63}{400} but completely missing reasoning content", 0),
    ("forty two", r"<think> Reasoning content </think> \boxed{42}", None),
    # get_cosine_scaled_reward: positive exactly when accurate
    (r"\frac{1}{3}", r"\boxed{\frac{1}{3}}", 1),
    (r"\frac{1}{3}", r"\boxed{\frac{1}{2}}", 0),
    ("forty two", r"\boxed{42}", None),
]

OPEN_R1 = [
    (r"\frac{63}{400}", r"\boxed{\frac{63}{400}}", 1),
    (r"\frac{63}{400}", r"\boxed{\frac{64}{400}}", 0),
    (r"\frac{63}{400}", r"\boxed{\frac{63}{400}}", 1),  # test_multiple_completions
    (r"\frac{63}{400}", r"\boxed{\frac{64}{400}}", 0),
    (r"\frac{63}{400}", r"\boxed{\frac{63}{400}}" + " " * 0, 1),  # test_cosine_scaled_reward (padded to 20 and 80)
    (r"\frac{63}{400}", r"\boxed{\frac{63}{400}}" + " " * 57, 1),
    (r"\frac{63}{400}", r"\boxed{\frac{64}{400}}" + " " * 0, 0),
    (r"\frac{63}{400}", r"\boxed{\frac{64}{400}}" + " " * 57, 0),
]

PMATRIX = "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"
QWEN = [  # math_equal(prediction, reference): (reference, completion boxing the prediction, verdict)
    ("10", said("10"), 1),  # test_is_numerical_equal (three flag settings: one verdict)
    ("10", said("10"), 1),
    ("10", said("10"), 1),
    ("20", said("10"), 0),
    ("0.1", said(r"10\%"), 1),
    ("0.2", said(r"10\%"), 0),
    ("[1, 2, 3]", said("[1, 2, 3]"), 1),  # test_compare_lists / test_compare_structures / test_math_equal
    ("[1, 2, 4]", said("[1, 2, 3]"), 0),
    ("(1, 2, 3)", said("(1, 2, 3)"), 1),
    (PMATRIX, said(PMATRIX), 1),  # test_compare_matrices
    ("\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}", said(PMATRIX), 0),
    ("x = y", said("x = y"), 1),  # test_check_symbolic_equality / test_compare_equations
    ("x = z", said("x = y"), 0),
    ("10", said("x = 10"), 1),
    ("x = 10", said("10"), 1),
    ("10", said("10"), 1),  # test_check_math_equality / test_math_equal
    ("20", said("10"), 0),
    ("0.1", said(r"10\%"), 1),
    ("[1, 2, 3]", said("[1, 2, 3]"), 1),
    (PMATRIX, said(PMATRIX), 1),
    ("x = y", said("x = y"), 1),
    ("20", said("10"), 0),
    ("x = z", said("x = y"), 0),
    # _test_math_equal's pairs (prediction, ground truth), verdicts by math_equal's rules
    (r"\frac{1}{12}", said("0.0833333333333333"), 1),
    (r"(1,\frac{9}{2})", said("(1,4.5)"), 1),
    (r"\frac{x+2}{7}", said(r"\frac{x}{7}+\frac{2}{7}"), 1),
    (r"\tan^2(y)+1", said(r"\sec^2(y)"), 1),
    (r"(\begin{pmatrix}-\frac{7}{4}&-2\\4&\frac{1}{4}\\\end{pmatrix})",
     said(r"\begin{pmatrix}-\frac{7}{4}&-2\\4&\frac{1}{4}\end{pmatrix}"), 1),
    (r"(\begin{pmatrix}\frac{1}{3\sqrt[3]{x}^2}&0&0\\0&1&0\\-\sin(x)&0&0\\\end{pmatrix})",
     said(r"\begin{pmatrix}\frac{1}{3x^{2/3}}&0&0\\0&1&0\\-\sin(x)&0&0\end{pmatrix}"), 1),
    (r"-\frac{2(x^2+6)}{9(x^2-2)\sqrt[3]{x^2-2}^2}", said(r"-\frac{8x^2}{9(x^2-2)^{5/3}}+\frac{2}{3(x^2-2)^{2/3}}"), 1),
    ("34x+45y-20z+100=0", said("-34x-45y+20z-100=0"), 1),
    ("33.3", said(r"\frac{100}{3}"), 0),  # relative 1e-3 apart: beyond math_equal's rel_tol 1e-4
    (r"(\begin{pmatrix}0.29\\0.196\\-0.186\\\end{pmatrix})",
     said(r"\begin{pmatrix}0.290243531202435\\0.196008371385084\\-0.186381278538813\end{pmatrix}"), 1,
     *differs(0, "Qwen rounds matrix entries to 3 decimals; the reward follows math-verify's 6")),
    (r"\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{15+2\sqrt{33}}",
     said(r"\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{2\sqrt{33}+15}"), 1),
    ("(a+5)(b+2)", said("(+5)(b+2)"), 0),
    ("2", said(r"\frac{1+\sqrt{5}}{2}"), 0),
    ("4", said(r"\frac{34}{16}+\frac{\sqrt{1358}}{16}"), 0),
    (r"1\sqrt{19}", said("1"), 0),
    (r"(\frac{3}{5},\frac{8}{3}]", said("(0.6,2.6667]"), 1,
     *differs(0, "Qwen compares numbers within a relative 1e-4; the reward follows math-verify's 6 decimals")),
    ("x+2n+1", said("x+1"), 0),
]

TABLES = {"trl": TRL, "open_r1": OPEN_R1, "qwen2_5_math": QWEN}


ROWS, IDS = peer_rows(TABLES)


@pytest.mark.parametrize("table, index, solution, completion, peer, ours, why", ROWS, ids=IDS)
def test_trainer_suites(table, index, solution, completion, peer, ours, why):
    assert accuracy_reward([completion], solution=[solution]) == [None if ours is None else float(ours)]


def test_agreement_summary():
    for name in TABLES:
        rows = [r for r in ROWS if r[0] == name]
        differing = [r for r in rows if r[4] != r[5]]
        assert all(r[6] for r in differing)
        print(f"\n{name}: {len(rows)} ported, {len(rows) - len(differing)} agree, {len(differing)} differ")
