r"""Issue #18, class by class, through the path training and eval.py take: a data file in a real data set's answer
column convention -> `data_utils.load_math_dataset` / `format_dataset` -> `reward.accuracy_reward`. Each table is
written from the rule (README "Rewards"), not from the implementation: the honest answer in its unusual-but-correct
forms scores 1.0; a partial, hedged, dropped-variable or wrong one 0.0; a reference with no gradable answer None.

Conventions (file format, problem column, answer column, how the answer is stored):
    numina   NuminaMath-TIR  jsonl  problem/solution   worked solution ending in \boxed{}
    gsm8k    GSM8K           jsonl  question/answer    worked solution ending in `#### 42`
    math500  MATH-500        jsonl  problem/answer     bare LaTeX, no `$`
    minerva  Minerva math    json   problem/solution   worked solution with a box
    aime     AIME            parquet problem/answer    an integer
    amc      AMC             csv    problem/answer     a float (`27.0`)
    olympiad OlympiadBench   jsonl  question/final_answer  a list of LaTeX strings (`["$3$"]`, `["(1, 2)"]`)
    prose    free-text answer column (e.g. a hand-made set)  jsonl  problem/answer
"""
import json
import logging
from collections import defaultdict

import pytest

import data_utils
import reward
from reward import accuracy_reward, format_reward

CONVENTIONS = {  # name -> (file suffix, problem column, answer column)
    "numina": (".jsonl", "problem", "solution"),
    "gsm8k": (".jsonl", "question", "answer"),
    "math500": (".jsonl", "problem", "answer"),
    "minerva": (".json", "problem", "solution"),
    "aime": (".parquet", "problem", "answer"),
    "amc": (".csv", "problem", "answer"),
    "olympiad": (".jsonl", "question", "final_answer"),
    "prose": (".jsonl", "problem", "answer"),
}


def answered(box_content: str) -> str:
    return rf"<think>work</think><answer>The answer is \boxed{{{box_content}}}</answer>"


def answering(block: str) -> str:
    return f"<think>work</think><answer>{block}</answer>"


PMATRIX = r"\begin{pmatrix}5 & 0 \\ -1 & 7\end{pmatrix}"

# (convention, reference cell, completion, expected)
BARE_LATEX = [  # class 1: bare LaTeX is LaTeX, graded whole, never reduced to its last number
    ("math500", PMATRIX, answered(PMATRIX), 1.0),
    ("math500", PMATRIX, answered(r"\begin{bmatrix}5 & 0 \\ -1 & 7\end{bmatrix}"), 1.0),
    ("math500", PMATRIX, answered(r"\left[\begin{matrix}5 & 0 \\ -1 & 7\end{matrix}\right]"), 1.0),
    ("math500", PMATRIX, answered("7"), 0.0),  # one entry
    ("math500", PMATRIX, answered(r"\begin{pmatrix}5 & 0 \\ 1 & 7\end{pmatrix}"), 0.0),
    ("minerva", rf"So the matrix is $\boxed{{{PMATRIX}}}$.", answered(r"\begin{bmatrix}5&0\\-1&7\end{bmatrix}"), 1.0),
    ("minerva", rf"So the matrix is $\boxed{{{PMATRIX}}}$.", answered("5"), 0.0),
    ("math500", "4ab", answered("4ab"), 1.0),
    ("math500", "4ab", answered("4ba"), 1.0),
    ("math500", "4ab", answered(r"4\cdot a\cdot b"), 1.0),
    ("math500", "4ab", answered("4"), 0.0),  # the coefficient alone
    ("math500", "4ab", answered("4a"), 0.0),
    ("math500", "mn", answered("nm"), 1.0),
    ("math500", "mn", answered("m"), 0.0),
    ("math500", r"\frac{mn}{3}", answered(r"\frac{nm}{3}"), 1.0),
    ("math500", r"\frac{mn}{3}", answered(r"\frac{1}{3}"), 0.0),
    ("math500", "y^2 - 3yz", answered("-3zy + y^2"), 1.0),
    ("math500", "y^2 - 3yz", answered("y^2"), 0.0),
    ("math500", r"\begin{cases} x = 1 \\ y = 2 \end{cases}", answered("x = 1, y = 2"), 1.0),
    ("math500", r"\begin{cases} x = 1 \\ y = 2 \end{cases}", answered("2"), 0.0),
    ("math500", "(1, -2)", answered(r"\left(1,-2\right)"), 1.0),
    ("math500", "(1, -2)", answered("(-2, 1)"), 0.0),  # a point's coordinates are ordered
    ("math500", "(1, -2)", answered("-2"), 0.0),
    ("math500", "[2, 5)", answered(r"\left[2, 5\right)"), 1.0),
    ("math500", "[2, 5)", answered("[2, 5]"), 0.0),
    ("math500", r"\{1, 2\}", answered(r"\{2, 1\}"), 1.0),
    ("math500", r"\{1, 2\}", answered("2"), 0.0),
    ("math500", r"\dfrac{\sqrt{3}}{2}", answered(r"\frac{\sqrt3}{2}"), 1.0),
    ("math500", r"$\frac{1}{2}$", answered("0.5"), 1.0),
    ("math500", r"27,\!000", answered("27000"), 1.0),
    ("math500", r"\text{(C)}", answered("C"), 1.0),
    ("math500", r"\text{(C)}", answered("D"), 0.0),
    ("math500", r"y = -\frac{5}{2} x + 7", answered(r"-\frac52x+7"), 1.0),
    ("math500", r"x \in [-2,7]", answered("[-2, 7]"), 1.0),
    ("math500", "5, 6, or 7", answered("7, 6, 5"), 1.0),
    ("math500", "5, 6, or 7", answered("6"), 0.0),
    ("olympiad", ["(1, 2)"], answered("(1,2)"), 1.0),
    ("olympiad", ["(1, 2)"], answered("2"), 0.0),
]

MULTI_PART = [  # class 2: a multi-part reference pays only the whole answer
    ("prose", "3 and 8", answered("3, 8"), 1.0),
    ("prose", "3 and 8", answering(r"\boxed{3} and \boxed{8}"), 1.0),
    ("prose", "3 and 8", answered(r"3 \text{ and } 8"), 1.0),
    ("prose", "3 and 8", answered("8"), 0.0),
    ("prose", "3 and 8", answered("3"), 0.0),
    ("prose", "a = 4 and b = -1", answered("a = 4, b = -1"), 1.0),
    ("prose", "a = 4 and b = -1", answered("4, -1"), 1.0),
    ("prose", "a = 4 and b = -1", answered("-1"), 0.0),
    ("prose", "a = 4 and b = -1", answered("a = 4"), 0.0),
    ("prose", "The roots are -1 and 5.", answered("-1, 5"), 1.0),
    ("prose", "The roots are -1 and 5.", answered(r"x = -1 \text{ or } x = 5"), 1.0),
    ("prose", "The roots are -1 and 5.", answered("5"), 0.0),
    ("math500", "PQ=3, RS=9", answered("3, 9"), 1.0),
    ("math500", "PQ=3, RS=9", answered("PQ = 3, RS = 9"), 1.0),
    ("math500", "PQ=3, RS=9", answered("9"), 0.0),
    ("math500", r"\frac{PM}{MQ}=\frac{2}{\sqrt{5}}", answered(r"\frac{2\sqrt{5}}{5}"), 1.0),
    ("math500", r"\frac{PM}{MQ}=\frac{2}{\sqrt{5}}", answered("2"), 0.0),
    ("olympiad", ["$3$", "$8$"], answered("3, 8"), 1.0),
    ("olympiad", ["$3$", "$8$"], answered("8"), 0.0),
    ("olympiad", ["$3$"], answered("3"), 1.0),
    ("numina", r"So $x=\boxed{1}$ or $x=\boxed{-2}$.", answered("1, -2"), 1.0),
    ("numina", r"So $x=\boxed{1}$ or $x=\boxed{-2}$.", answered("-2"), 0.0),
    ("prose", "The answer is 42.", answered("42"), 1.0),  # prose with one answer
    ("prose", "The answer is 42.", answered("41"), 0.0),
    ("prose", r"The answer is $\frac{1}{2}$ meters.", answered("0.5"), 1.0),
    ("prose", "The roots are $-1$ and $5$.", answered("5, -1"), 1.0),
    ("prose", "The roots are $-1$ and $5$.", answered("5"), 0.0),
    ("prose", r"Final Answer: The final answer is $\frac{14}{3}$. I hope it is correct.", answered("14/3"), 1.0),
    ("prose", r"Final Answer: The final answer is $\frac{14}{3}$. I hope it is correct.", answered("I"), 0.0),
    ("prose", r"So $x = 2$, and the area is $6$.", answered("6"), 1.0),  # words between: the last one alone
]

DROPPED_VARIABLE = [  # class 3: a bare letter is a variable; units written as units may be left out
    ("math500", "3t", answered("3t"), 1.0),
    ("math500", "3t", answered("3"), 0.0),
    ("math500", "f(t) = 3t", answered("3t"), 1.0),
    ("math500", "f(t) = 3t", answered("f(t)=3t"), 1.0),
    ("math500", "f(t) = 3t", answered("3"), 0.0),
    ("math500", "2x + 1", answered("1+2x"), 1.0),
    ("math500", "2x + 1", answered("3"), 0.0),
    ("gsm8k", "She has 18 left.\n#### 18", answered("18t"), 0.0),  # a variable added
    ("gsm8k", "She has 18 left.\n#### 18", answered(r"18 \text{ dollars}"), 1.0),
    ("math500", "5", answered(r"5\text{ cm}"), 1.0),
    ("math500", "5", answered(r"5\,\mathrm{m}"), 1.0),
    ("math500", r"5\text{ cm}", answered("5"), 1.0),
    ("math500", "3x", answered("3X"), 0.0),  # another variable
    ("aime", 7, answered("m+n=7"), 1.0),  # a label of letters names the answer
    ("math500", r"f^{-1}(x) = 2x", answered("2x"), 1.0),
    ("math500", r"f^{-1}(x) = 2x", answered("2"), 0.0),
    ("math500", "x^2 = 4", answered("4"), 0.0),  # an equation with numbers on both sides is the answer
    ("math500", r"x \le 3", answered(r"(-\infty, 3]"), 1.0),  # an inequality's own variable is not dropped
    ("math500", r"2 \le x \le 5", answered("[2, 5]"), 1.0),
    ("math500", r"2 \le x \le 5", answered("[2, 6]"), 0.0),
]

HEDGES = [  # class 4: more than one distinct candidate in the final answer is a hedge, whatever separates them
    ("aime", 6, answered("6"), 1.0),
    ("aime", 6, answering(r"\boxed{6}\,\boxed{6}"), 1.0),  # the same candidate twice
    ("aime", 6, answering(r"\boxed{5}, no: \boxed{6}"), 1.0),  # a retraction, then one answer
    ("aime", 6, answering(r"\boxed{6}\hspace{1em}"), 1.0),
    ("aime", 6, answering(r"\boxed{5}\hspace{1em}\boxed{6}"), 0.0),
    ("aime", 6, answering(r"\boxed{5}\,\boxed{6}"), 0.0),
    ("aime", 6, answering(r"\boxed{5}\quad\boxed{6}"), 0.0),
    ("aime", 6, answering(r"\boxed{5}\phantom{x}\boxed{6}"), 0.0),
    ("aime", 6, answering("\\boxed{5}\u200b\\boxed{6}"), 0.0),
    ("aime", 6, answering("\\boxed{5}\u00a0\\boxed{6}"), 0.0),
    ("aime", 6, answering("\\boxed{5}% not this one\n\\boxed{6}"), 0.0),
    ("aime", 6, answering(r"\boxed{5} or maybe \boxed{6}"), 0.0),
    ("aime", 6, answering(r"\boxed{5}\text{ or perhaps }\boxed{6}"), 0.0),
    ("aime", 6, answering(r"\boxed{5} (possibly \boxed{6})"), 0.0),
    ("aime", 6, answered(r"5 \lor 6"), 0.0),
    ("aime", 6, answered(r"5 \text{ or } 6"), 0.0),
    ("aime", 6, answered("5 or 6"), 0.0),
    ("aime", 6, answering(r"\boxed{5}</think>\boxed{6}"), 0.0),
    ("gsm8k", "#### 6", answering(r"\boxed{5} \vee \boxed{6}"), 0.0),
    ("gsm8k", "#### 6", answering(r"\boxed{5}\newline\boxed{6}"), 0.0),
    ("gsm8k", "#### 6", answering(r"\boxed{5}{}\boxed{6}"), 0.0),
    ("gsm8k", "#### 6", answering(r"\boxed{5} / \boxed{6}"), 0.0),
    ("gsm8k", "#### 6", answering(r"\boxed{5} | \boxed{6}"), 0.0),
    ("gsm8k", "#### 6", answering(r"\boxed{5}\hspace*{2cm}\boxed{6}"), 0.0),
    ("gsm8k", "#### 6", answering("\\boxed{5}\u2062\\boxed{6}"), 0.0),  # invisible times
    ("gsm8k", "#### 6", answering(r"\boxed{5} or \textbf{maybe} \boxed{6}"), 0.0),
    ("gsm8k", "#### 6", answering(r"x = \boxed{5}, x = \boxed{6}"), 0.0),
    ("gsm8k", "#### 6", answering(r"\boxed{6}</answer><answer>\boxed{6}"), 1.0),
]

NUMBERS = [  # class 5: integers exactly; decimals as math-verify rounds them (6 decimals); finer references relatively
    ("amc", 27.0, answered("27"), 1.0),
    ("amc", 27.0, answered("27.0"), 1.0),
    ("amc", 27.0, answered("26.99999"), 0.0),
    ("aime", 204, answered("204.0"), 1.0),
    ("aime", 204, answered("203.9999999"), 0.0),  # an integer answer is exact
    ("aime", 0, answered("0.0000001"), 0.0),
    ("amc", 5e-7, answered("0"), 0.0),
    ("amc", 5e-7, answered("0.0000004"), 0.0),  # any absolute tolerance of 1e-6 (or 6-decimal rounding) pays this
    ("amc", 5e-7, answered("0.0000005"), 1.0),
    ("amc", 5e-7, answered("5e-7"), 1.0),
    ("amc", 5e-7, answered(r"5\times 10^{-7}"), 1.0),
    ("math500", r"\frac{1}{2000000}", answered("0"), 0.0),
    ("math500", r"\frac{1}{3}", answered("0.3333333"), 1.0),
    ("math500", r"\frac{1}{3}", answered("0.33"), 0.0),
    # math-verify's rounding: a decimal equals the value when both agree to 6 decimals; a coarser one does not
    ("math500", r"\frac{1}{3}", answered("0.333333"), 1.0),
    ("math500", r"\frac{1}{3}", answered("0.3333"), 0.0),  # was 1.0 (round three); math-verify's tests: not 1/3
    ("math500", r"\frac{1}{3}", answered("0.333"), 0.0),
    ("math500", r"\frac{2}{3}", answered("0.6666"), 0.0),  # truncated, not rounded
    ("math500", r"\frac{2}{3}", answered("0.666667"), 1.0),
    ("math500", r"\pi", answered("3.1416"), 0.0),  # was 1.0 (round three): 4 decimals are not pi to 6
    ("math500", r"\pi", answered("3.141593"), 1.0),
    ("math500", r"\pi", answered("3.14"), 0.0),
    ("math500", "0.5", answered("0.50001"), 0.0),
    ("math500", "0.333333333", answered("0.3333"), 0.0),  # was 1.0 (round three), as 1/3 above
    ("math500", "0.333333333", answered("0.3334"), 0.0),
    ("math500", r"\sqrt{8}", answered("2.8284271"), 1.0),
    ("math500", "1234567.5", answered("1234567.6"), 0.0),  # was 1.0 (round three: relative 1e-6); 6 decimals differ
    ("math500", "1234577.5", answered("1234577.5000001"), 1.0),
]

DECORATION = [  # class 6: synonyms and decoration never change a grade
    ("gsm8k", "#### 5", answered(r"\textcolor{red}{5}"), 1.0),
    ("gsm8k", "#### 5", answered(r"\textcolor{red}{6}"), 0.0),
    ("gsm8k", "#### 5", answered(r"{\color{blue} 5}"), 1.0),
    ("gsm8k", "#### 5", answered(r"\mathbf{5}"), 1.0),
    ("gsm8k", "#### 5", answered(r"\boldsymbol{6}"), 0.0),
    ("gsm8k", "#### 5", answered(r"\displaystyle 5"), 1.0),
    ("math500", r"\frac{1}{2}", answered(r"\displaystyle\tfrac{1}{2}"), 1.0),
    ("math500", r"x \le 3", answered(r"x \leq 3"), 1.0),
    ("math500", r"x \le 3", answered(r"x \leq 4"), 0.0),
    ("math500", r"x \geq 3", answered(r"x \ge 3"), 1.0),
    ("math500", r"\textcolor{red}{\frac{1}{2}}", answered("0.5"), 1.0),
    ("math500", r"\mathbf{(1, 2)}", answered("(1, 2)"), 1.0),
]

MATH_VERIFY_FLOOR = [  # issue #26: math-verify's semantics are the floor; guards veto and extensions extend by name
    ("math500", "y < 7", answered("7 > y"), 1.0),  # an inequality the other way round
    ("math500", r"y \le 2", answered(r"-y \ge -2"), 1.0),
    ("math500", r"y \le 2", answered(r"-y \le -2"), 0.0),
    ("math500", "4", answered(r"y \approx 4"), 1.0),
    ("math500", r"1 \le t \le 4", answered(r"t \in [1, 4]"), 1.0),  # an interval for an inequality chain
    ("math500", r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", answered(r"\left[\begin{array}{cc}1&2\\3&4\end{array}\right]"),
     1.0),
    ("math500", "2x - y - 1 = 0", answered("y = 2x - 1"), 1.0),  # an equation rearranged
    ("math500", "2x - y - 1 = 0", answered("y = 2x + 1"), 0.0),
    ("math500", "(4, 1)", answered("(m, n) = (4, 1)"), 1.0),  # labelled tuples and ratios, labels as expressions
    ("math500", "(m, n) = (4, 1)", answered("(4, 1)"), 1.0),
    ("math500", "(m, n) = (4, 1)", answered("(1, 4)"), 0.0),
    ("math500", "3 : 5", answered("A_1 : A_2 = 3 : 5"), 1.0),
    ("math500", "2", answered("|PQ| = 2"), 1.0),
    ("math500", "2", answered("S_1 : S_2 = 2"), 1.0),
    ("math500", "a=1, b=2; a=3, b=2", answered("a=3, b=2; a=1, b=2"), 1.0),  # a list of solutions is a set
    ("math500", "u = 4, v = 9", answered("u = 9, v = 4"), 0.0),  # a label pairs with its value
    ("math500", "u = 4, v = 9", answered("v = 9, u = 4"), 1.0),
    ("math500", "u = 4, v = 9", answered("4, 9"), 1.0),  # unlabelled parts follow the reference
    ("math500", "x = 1", answered("y = 1"), 0.0),  # another label names another variable
    ("math500", "(m, n) = (4, 1)", answered("(a, b) = (4, 1)"), 0.0),
    ("math500", "12 km", answered("12"), 1.0),  # units in references
    ("math500", r"\text{12 km}", answered("12"), 1.0),
    ("math500", r"\text{12 km}", answered("13"), 0.0),
    ("math500", r"45^\circ", answered("45"), 1.0),
    ("math500", r"\angle PQR = 45^\circ", answered("45"), 1.0),
    ("math500", "3t", answered("3"), 0.0),  # a letter glued to a number is a variable
    ("math500", r"\emptyset", answered(r"\varnothing"), 1.0),  # synonyms
    ("math500", r"\emptyset", answered(r"\{\}"), 1.0),
    ("math500", r"\emptyset", answered(r"\{0\}"), 0.0),
    ("math500", r"\mathbb{R}", answered(r"(-\infty, \infty)"), 1.0),
    ("math500", r"(-\infty, \infty)", answered(r"\mathbb{R}"), 1.0),
    ("math500", "y = 3x + 2", answered("3x + 2 = y"), 1.0),  # the two sides of an equation swapped
    ("math500", r"\frac{1}{3}", answered("0.3333"), 0.0),  # decimals: math-verify's 6-decimal rounding
    ("math500", r"\frac{1}{3}", answered("0.333333"), 1.0),
    ("math500", r"\text{(B)} \; 7!!", answered(r"\text{(B)} \; 7!!"), 1.0),  # identical strings always agree
]

NO_ANSWER = [  # a reference with no gradable answer gives None
    ("prose", "Answer is forty two.", answered("42"), None),
    ("prose", "See the figure.", answered("42"), None),
    ("numina", r"The answer is \boxed{", answered("42"), None),
    ("gsm8k", "#### ", answered("42"), None),
    ("olympiad", [], answered("42"), None),
    ("math500", "", answered("42"), None),
]

CLASSES = {"bare_latex": BARE_LATEX, "multi_part": MULTI_PART, "dropped_variable": DROPPED_VARIABLE,
           "hedges": HEDGES, "numbers": NUMBERS, "decoration": DECORATION, "math_verify_floor": MATH_VERIFY_FLOOR,
           "no_answer": NO_ANSWER}
ALL_CASES = [(name, *case) for name, cases in CLASSES.items() for case in cases]


def write_data(path, rows: list[dict], suffix: str) -> None:
    import datasets

    if suffix == ".parquet":
        datasets.Dataset.from_list(rows).to_parquet(str(path))
    elif suffix == ".csv":
        datasets.Dataset.from_list(rows).to_csv(str(path), index=False)
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def loaded_references(tmp_path_factory):
    """Every case's reference cell written to a data file of its convention, then loaded and formatted exactly as
    training and eval.py do: case index -> the `solution` the reward receives."""
    folder = tmp_path_factory.mktemp("reference_shapes")
    by_convention = defaultdict(list)
    for i, (_, convention, cell, _, _) in enumerate(ALL_CASES):
        by_convention[convention].append((i, cell))
    solutions = {}
    for convention, cells in by_convention.items():
        suffix, problem_column, answer_column = CONVENTIONS[convention]
        path = folder / f"{convention}{suffix}"
        write_data(path, [{problem_column: f"problem {i}", answer_column: cell} for i, cell in cells], suffix)
        data = data_utils.format_dataset(data_utils.load_math_dataset(str(path), "test"),
                                         prompt_column=problem_column, solution_column=answer_column)
        assert [row["prompt"][-1]["content"] for row in data] == [f"problem {i}" for i, _ in cells]
        solutions.update((i, row["solution"]) for (i, _), row in zip(cells, data))
    return solutions


@pytest.mark.parametrize("index", range(len(ALL_CASES)),
                         ids=[f"{c[0]}-{c[1]}-{str(c[2])[:30]}-{c[3][40:-9][:30]}" for c in ALL_CASES])
def test_reference_shapes_through_the_data_path(loaded_references, index):
    _, _, cell, completion, expected = ALL_CASES[index]
    assert accuracy_reward([completion], solution=[loaded_references[index]]) == [expected]


def test_every_class_has_honest_and_failing_rows():
    for name, cases in CLASSES.items():
        scores = {case[-1] for case in cases}
        assert scores == {None} if name == "no_answer" else scores == {0.0, 1.0}, name


# ---------------------------------------------------------------- class 6: an empty-looking box is empty

@pytest.mark.parametrize("box, expected", [
    (r"\,", 0.5), (r"{}", 0.5), (r"\text{}", 0.5), ("\u200b", 0.5), (r"\ ", 0.5), (r"\quad", 0.5),
    (r"\hspace{1em}", 0.5), (r"{\,}", 0.5), ("0", 1.0), (r"\text{No}", 1.0), (r"\{\}", 1.0),  # the empty set
])
def test_a_box_holding_only_spacing_is_empty(box, expected):
    assert format_reward([answered(box)]) == [expected]
    if expected == 0.5:
        assert reward.extract_answer(answered(box)) is None


# ---------------------------------------------------------------- class 7: our own errors are counted, never fatal

def test_our_own_exceptions_are_counted_logged_once_and_the_run_goes_on(monkeypatch, caplog):
    import answers
    import reward_rules

    real = answers.answer_parts

    def broken(contents):  # a bug in reading, hit by answers holding an 8
        if any("8" in c for c in contents or []):
            raise RuntimeError("rule bug")
        return real(contents)

    monkeypatch.setattr(reward._Errors, "logged", False)
    monkeypatch.setattr(answers, "answer_parts", broken)
    metrics = {}
    with caplog.at_level(logging.ERROR, logger="reward"):
        scores = accuracy_reward([answered("7"), answered("8"), answered("7")], solution=["7", "7", "#### 87654"],
                                 log_metric=metrics.__setitem__)
        assert accuracy_reward([answered("8")], solution=["7"]) == [0.0]
    assert scores == [1.0, 0.0, None]  # a completion we failed to read scores 0.0, a reference we failed to read None
    assert metrics["diagnostics/reward_errors"] == 2.0
    logged = [r.getMessage() for r in caplog.records if "diagnostics/reward_errors" in r.getMessage()]
    assert len(logged) == 1 and "rule bug" in logged[0] and "boxed{8}" in logged[0]
    monkeypatch.undo()

    def broken_extension(reference, prediction):
        raise ZeroDivisionError("extension bug")

    monkeypatch.setattr(reward_rules, "EXTENSIONS", [broken_extension, *reward_rules.EXTENSIONS])
    metrics = {}
    assert accuracy_reward([answered("7.5"), answered("7")], solution=["7.5", "7.50"],
                           log_metric=metrics.__setitem__) == [1.0, 0.0]  # identical needs no rule; a failing one 0.0
    assert metrics["diagnostics/reward_errors"] == 1.0


# ---------------------------------------------------------------- class 9: one place turns a cell into text

@pytest.mark.parametrize("cell, text", [
    (18, "18"), (27.0, "27.0"), (1e-07, "0.0000001"), (float("nan"), None), (None, None), ("  ", None),
    (["$3$"], "$3$"), (["$3$", "$8$"], "$3$, $8$"), ([], None),
])
def test_one_cell_reader_for_data_and_rewards(cell, text):
    assert not hasattr(data_utils, "reference_cell")
    assert reward.reference_text(cell) == text


# ---------------------------------------------------------------- class 8: eval's overlong reward is training's

def test_eval_scores_overlong_with_the_runs_buffer_and_length(demo_dir, tmp_path):
    """run_config.json records --overlong_buffer; eval.py inherits it and punishes length against the run's
    --max_completion_length, whatever its own generation limit."""
    import shutil

    import eval as evaluation
    import main
    import train

    run_dir = tmp_path / "run"
    shutil.copytree(demo_dir / "adapter", run_dir, ignore=shutil.ignore_patterns("checkpoint-*", "best", "final"))
    script_args, training_args, model_args = main.parse_args([
        "--model_name_or_path", str(demo_dir / "base_model"), "--output_dir", str(run_dir),
        "--reward_funcs", "format", "accuracy", "overlong", "--max_completion_length", "8", "--overlong_buffer", "2"])
    train.save_run_config(script_args, training_args, model_args, finished=True)
    run = json.loads((run_dir / "run_config.json").read_text())
    assert (run["overlong_buffer"], run["max_completion_length"]) == (2, 8)

    def overlong_scores(**flags):
        settings = evaluation.resolve_settings(evaluation.EvalArguments(
            model_dir=str(run_dir), dataset_id=str(demo_dir / "data"), split="test", max_completion_length=64, **flags))
        funcs = evaluation.reward_functions(settings)
        (overlong,) = [f for key, f in funcs.items() if key not in ("format", "accuracy")]
        return settings, overlong(completions=["x"] * 4, completion_ids=[[1] * n for n in (6, 7, 8, 20)])

    settings, scores = overlong_scores()
    assert settings.sources["overlong_buffer"] == "run"
    assert scores == [0.0, -0.5, -1.0, -1.0]  # training's punishment, not eval's 64-token limit with a 16-token buffer
    settings, scores = overlong_scores(overlong_buffer=4)
    assert settings.sources["overlong_buffer"] == "flag" and scores == [-0.5, -0.75, -1.0, -1.0]
