r"""Properties of `accuracy_reward` (hypothesis): what must change a verdict and what must not.

- swapping the values of two labels changes it (`u = 9, v = 4` is not `u = 4, v = 9`);
- permuting the terms of a sum, swapping the sides of an equation, swapping the sides of an inequality with the
  relation reversed, adding spacing or decoration, and wrapping the answer in `$...$` do not.

Example counts are small: each example is a real math-verify call in the worker.
"""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reward import accuracy_reward

FEW = settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
LETTERS = st.sampled_from(list("abcdmnpquvwxyz"))
VALUES = st.integers(-50, 50)


def said(answer: str) -> str:
    return rf"<think>work</think><answer>\boxed{{{answer}}}</answer>"


def score(answer: str, reference: str) -> float:
    return accuracy_reward([said(answer)], solution=[reference])[0]


@FEW
@given(labels=st.lists(LETTERS, min_size=2, max_size=3, unique=True),
       values=st.lists(VALUES, min_size=3, max_size=3, unique=True), data=st.data())
def test_swapping_the_values_of_two_labels_changes_the_verdict(labels, values, data):
    values = values[:len(labels)]
    pick = data.draw(st.integers(0, len(labels) - 2))
    reference = ", ".join(f"{label} = {value}" for label, value in zip(labels, values))
    swapped = list(values)
    swapped[pick], swapped[pick + 1] = swapped[pick + 1], swapped[pick]
    answer = ", ".join(f"{label} = {value}" for label, value in zip(labels, swapped))
    assert score(reference, reference) == 1.0
    assert score(answer, reference) == 0.0


TERMS = st.lists(st.tuples(st.integers(1, 9), st.sampled_from(["x", "y", "z", "x^2", r"\sqrt{2}", ""])),
                 min_size=2, max_size=4, unique_by=lambda t: t[1])


def written(terms) -> str:
    return " + ".join(f"{c}{v}" if v else str(c) for c, v in terms)


@FEW
@given(terms=TERMS, data=st.data())
def test_permuting_the_terms_of_a_sum_keeps_the_verdict(terms, data):
    permuted = data.draw(st.permutations(terms))
    reference = written(terms)
    wrong = written([(c + 1, v) if i == 0 else (c, v) for i, (c, v) in enumerate(permuted)])
    assert score(written(permuted), reference) == 1.0
    assert score(wrong, reference) == 0.0


@FEW
@given(terms=TERMS.filter(lambda terms: all("y" not in v for _, v in terms)), side=st.sampled_from(["y", "2y", "y^2"]))
def test_swapping_the_sides_of_an_equation_keeps_the_verdict(terms, side):
    reference = f"{side} = {written(terms)}"
    assert score(f"{written(terms)} = {side}", reference) == 1.0
    assert score(f"{written(terms)} + 1 = {side}", reference) == 0.0


RELATIONS = {"<": ">", r"\le": r"\ge", r"\leq": r"\geq", ">": "<", r"\ge": r"\le", r"\geq": r"\leq"}


@FEW
@given(variable=st.sampled_from(["x", "y", "t"]), relation=st.sampled_from(sorted(RELATIONS)), bound=VALUES)
def test_swapping_the_sides_of_an_inequality_with_the_relation_reversed_keeps_the_verdict(variable, relation, bound):
    reference = f"{variable} {relation} {bound}"
    assert score(f"{bound} {RELATIONS[relation]} {variable}", reference) == 1.0
    assert score(f"{bound} {relation} {variable}", reference) == 0.0  # the relation not reversed


ANSWERS = st.sampled_from([("5", "5"), ("6", "5"), (r"\frac{1}{2}", "0.5"), (r"\frac{1}{3}", "0.5"),
                           (r"2\sqrt{2}", r"\sqrt{8}"), ("(1, 2)", "(1,2)"), ("(2, 1)", "(1,2)"),
                           (r"x^2 + 1", "1 + x^2"), ("[0, 1)", "[0,1)"), ("[0, 1]", "[0,1)")])
SPACES = st.sampled_from([" ", r"\,", r"\;", r"\ ", r"\quad ", "~"])
DECORATIONS = st.sampled_from(["{}", r"\mathbf{{{}}}", r"\textcolor{{red}}{{{}}}", r"\displaystyle {}",
                               r"\boldsymbol{{{}}}", "{{{}}}"])


@FEW
@given(pair=ANSWERS, space=SPACES, decoration=DECORATIONS)
def test_spacing_and_decoration_keep_the_verdict(pair, space, decoration):
    answer, reference = pair
    plain = score(answer, reference)
    spaced = answer.replace(", ", f",{space}").replace(" + ", f"{space}+{space}")
    assert score(space + spaced + space, reference) == plain
    assert score(decoration.format(answer), reference) == plain


@FEW
@given(pair=ANSWERS, where=st.sampled_from(["answer", "reference", "both"]))
def test_wrapping_in_dollars_keeps_the_verdict(pair, where):
    answer, reference = pair
    plain = score(answer, reference)
    if where in ("answer", "both"):
        answer = f"${answer}$"
    if where in ("reference", "both"):
        reference = f"${reference}$"
    assert score(answer, reference) == plain
