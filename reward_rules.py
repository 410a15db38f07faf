r"""Guards and extensions: the only rules that may change math-verify's verdict, each by name (docs/rewards.md).

    verdict = math-verify(reference, prediction)          the floor (math_worker, with deadlines)
    0.0 -> 1.0 only by an EXTENSION: math-verify fails on a documented shape; the extension rewrites both sides
                 (units, synonyms, labels, numbers, trailing variables) and math-verify judges the rewrite
    1.0 -> 0.0 only by a GUARD: a named reason the answer must not be paid (hedge, partial answer, dropped or added
                 variable, labels paired with the wrong values, a reference finer than math-verify's rounding)

Every rule is a small pure function of the two answers' parts (lists of strings, `answers.answer_parts`) with its
rule in its docstring; `GUARDS` and `EXTENSIONS` list them in the order they are tried. reward.py applies them and
counts each firing as `diagnostics/guard_<name>` and `diagnostics/extension_<name>`. (The guard "answer inside
<think>" lives in reward.py: it needs the completion, not the two answers.)
"""
from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from answers import split_outside_brackets

# ---------------------------------------------------------------- shared reading of parts

# Units a reference may write after a number. Only these read as units, and only set apart from the number (a space,
# `\,`, `\text{}`/`\mathrm{}`, or `^\circ`): a letter glued to a number is a variable (`3t`, `4ab`, `3m`).
UNITS = ("mm", "cm", "m", "km", "in", "inch", "inches", "ft", "feet", "foot", "yd", "mi", "mile", "miles", "mph",
         "g", "kg", "mg", "lb", "lbs", "oz", "t", "ton", "tons", "s", "sec", "second", "seconds", "min", "minute",
         "minutes", "h", "hr", "hrs", "hour", "hours", "day", "days", "week", "weeks", "year", "years", "L", "mL", "ml",
         "cc", "degree", "degrees", "deg", "rad", "radians", "dollar", "dollars", "cent", "cents", "unit", "units",
         "square", "sq", "cubic", "meter", "meters", "metre", "metres", "centimeter", "centimeters", "kilometer",
         "kilometers", "gram", "grams", "kilogram", "kilograms", "liter", "liters", "litre", "litres", "km/h",
         "m/s", "cm^2", "m^2", "km^2", "cm^3", "m^3")
_UNIT = "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True))
_NUMBER = r"(?<![\d.,])-?\d+(?:[.,]\d+)*"  # from the start of a number only: linear time
# A number with its unit: `12 km`, `12\,\text{km}`, `\text{12 km}`, `45^\circ`, `45^{\circ}`, `45°`, `15\mbox{ cm}^2`.
_WITH_UNIT = re.compile(
    rf"""\\(?:text|mathrm|mbox|textnormal)\s*\{{\s*({_NUMBER})\s*(?:{_UNIT})\s*\}}
       | ({_NUMBER})\s*(?:\^\s*\{{?\s*\\circ\s*\}}?|°)
       | ({_NUMBER})(?:\s|\\[,;: ]|~)*\\(?:text|mathrm|mbox|textnormal)\s*\{{\s*(?:{_UNIT})\s*\}}(?:\^\{{?[23]\}}?)?
       | ({_NUMBER})(?:\s|\\[,;: ]|~)+(?:{_UNIT})(?![A-Za-z])(?:\^\{{?[23]\}}?)?
       | ({_NUMBER})\s*(?:€|£|¥|\\?\$|[A-Za-z]{{1,2}}[²³])""", re.X)  # symbols and m² may touch the number
_TEXT_GROUP = re.compile(r"\\begin\s*\{array\}\s*\{[^{}]*\}"  # an array's column letters are no variables
                         r"|\\(?:text\w*|mathrm|mbox|operatorname\*?|begin|end)\s*\{[^{}]*\}")
_COMMAND = re.compile(r"\\+[A-Za-z]+")  # `\\le` too (a line break before letters reads as the command)
# The variable an inequality is about (`x` in `x \le 3`, `a < x < b`, `7 > y`): an interval names none.
_RELATION = r"(?:<|>|\\(?:[lg]eq?|[lg]t|in)(?![A-Za-z]))"
_BOUND_IN_CHAIN = re.compile(rf"{_RELATION}\s*([A-Za-z])\s*{_RELATION}")  # a < x < b
_BOUND_ON_LEFT = re.compile(rf"^\s*([A-Za-z])\s*{_RELATION}")  # x < a
_BOUND_ON_RIGHT = re.compile(rf"{_RELATION}\s*([A-Za-z])\s*$")  # a > x
# A label names a value: `x =`, `PQ=`, `f(t)=`, `f^{-1}(x)=`, `m+n=`, `\frac{PM}{MQ}=`, `(m, n) =`, `A_1 : A_2 =`,
# `|PQ| =`, `\angle PQR =`, `x \in`, `y \approx`. Only letters: `x^2 = 4` and `2x + 3y = 6` are answers.
_SYMBOL = r"(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[A-Za-z0-9]+\}?)?(?:\^\{-1\})?'*"
_NAME = rf"(?:\\angle\s*|\\overline\s*)?\|?(?:{_SYMBOL}\s*)+\|?(?:\([^()=]*\))?"
_LABEL = re.compile(rf"""\s*(?: {_NAME}(?:\s*[-+:]\s*{_NAME})*
                             | \\frac\{{[A-Za-z\s]+\}}\{{[A-Za-z\s]+\}}
                             | \\left\s*\(\s*{_NAME}(?:\s*,\s*{_NAME})*\\right\s*\)
                             | \(\s*{_NAME}(?:\s*,\s*{_NAME})*\) )
                          \s*(?:=|\\in(?![A-Za-z])|\\approx(?![A-Za-z]))\s*(?=\S)""", re.X)
_DIGIT_GROUP_COMMA = re.compile(r"(?<=\d)(?:,|\{,\}|,\\!\s?)(?=\d{3}(?!\d))")  # 1,000 and 27,\!000 are one number
_OUTER = re.compile(r"^\s*(?:\\left\s*)?(?:\(|\[|\\?\{)(.*?)(?:\\right\s*)?(?:\)|\]|\\?\})\s*$", re.S)
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_PLUS_MINUS = re.compile(r"\\(?:pm|mp)(?![A-Za-z])|±|∓")


def top_level_split(text: str) -> list[str]:
    """`text` cut at the commas outside any brackets (`(1, 2), 3` -> `(1, 2)`, ` 3`); digit groups (`1,000`) stay."""
    return split_outside_brackets(_DIGIT_GROUP_COMMA.sub(" ", text), ",;", escaped_stay=True)  # `\,` `\;`: spaces


def _unwrapped(part: str) -> str:
    r"""The inside of a part that is one bracketed group (`(1, 2)`, `\left[2, 5\right)`, `\{1, 2\}`), else the part."""
    found = _OUTER.match(part)
    if found is None:
        return part
    depth = 0
    for char in found.group(1):  # `(1, 2) \cup (3, 4)` is not one group: its inside closes before it opens
        depth += (char in "([{") - (char in ")]}")
        if depth < 0:
            return part
    return found.group(1)


def elements(parts: list[str], unwrap: bool = True) -> int:
    """How many elements an answer lists: its top-level comma-separated pieces over all parts, looking inside a part
    that is one bracketed group when `unwrap` (`(1, 2)` lists 2; `[2, 5]` unwrapped lists 2, as written 1); a piece
    with a plus-minus is two (`\\pm 2021`)."""
    pieces = [q for p in parts for q in top_level_split(_unwrapped(unlabelled(p)) if unwrap else p)]
    return sum(2 ** min(3, len(_PLUS_MINUS.findall(q))) for q in pieces)  # `1 \pm \sqrt{19}` is two values


def _without_units(text: str) -> str:
    """`text` with every number-with-unit (`12 km`, `\\text{12 km}`, `45^\\circ`) written as the number alone."""
    return _WITH_UNIT.sub(lambda m: next(g for g in m.groups() if g is not None), text)


def _without_bound_variable(piece: str) -> str:
    found = _BOUND_IN_CHAIN.search(piece) or _BOUND_ON_LEFT.search(piece) or _BOUND_ON_RIGHT.search(piece)
    return piece if found is None else piece[:found.start(1)] + " " + piece[found.end(1):]


def unlabelled(part: str) -> str:
    r"""A part without its labels: `x = 3` -> `3`, `PQ=3, RS=9` -> `3, 9`, `f(t) = 3t` -> `3t`; unchanged when no
    piece is labelled (so `1,000` and `(1, 2)` stay as written)."""
    pieces = top_level_split(part) if _DIGIT_GROUP_COMMA.search(part) is None else [part]
    stripped = [_LABEL.sub("", p, count=1) if _LABEL.match(p) else p for p in pieces]
    return part if stripped == pieces else ", ".join(p.strip() for p in stripped)


def _value(piece: str) -> str:
    """What a piece states as its value: after its labels, and after the last `=` of an equation or a chain of them
    (`y = 2x - 1` states `2x - 1`, `x = 5+5+1 = 11` states 11), as math-verify reads equations and chains."""
    piece = _LABEL.sub("", piece, count=1) if _LABEL.match(piece) else piece
    if "=" in piece and not re.search(_RELATION + r"|\\neq?(?![A-Za-z])|!=", piece):
        piece = piece.rpartition("=")[2]
    return piece


def variables(parts: list[str], *, values_only: bool = False) -> frozenset[str]:
    r"""The variables an answer names: letters outside LaTeX commands in runs of at most two (a run of three or more
    is a word: `apples`, `percent`), not units set apart from a number (`12 km`), with letters in text groups
    (`\text{ cm}`). `values_only`: only those its values name (`_value`: not labels, not the left side of an
    equation), without text groups, and not the variable an inequality is about (`x` in `x < a`, as in
    `(-\infty, a)`)."""
    found = set()
    for part in parts:
        part = _without_units(part)
        if values_only:
            part = ",".join(_without_bound_variable(_value(p)) for p in top_level_split(part))
            part = _TEXT_GROUP.sub(" ", part)
        else:
            part = _TEXT_GROUP.sub(lambda m: " " + m.group().partition("{")[2][:-1] + " ", part)
        bare = _COMMAND.sub(" ", part)
        found.update(c for run in re.findall(r"[A-Za-z]+", bare) if len(run) < 3 for c in run)
    return frozenset(found)


def _labelled_values(parts: list[str]) -> dict[str, str] | None:
    """{label: value} when every top-level piece of the answer is `label = value` with distinct labels, else None."""
    pairs = {}
    for piece in (p for part in parts for p in top_level_split(part)):
        label = _LABEL.match(piece)
        if label is None or "=" not in label.group():
            return None
        name = re.sub(r"\s|=", "", label.group())
        if name in pairs:
            return None
        pairs[name] = re.sub(r"\s", "", piece[label.end():]).rstrip(".")
    return pairs or None


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text) if _PLAIN_NUMBER.fullmatch(text.strip()) else None
    except InvalidOperation:
        return None


# ---------------------------------------------------------------- guards: 1.0 -> 0.0 only


def hedge(reference: list[str], prediction: list[str]) -> bool:
    r"""Several distinct candidates are a hedge: the prediction lists more elements (boxes, or/and-joined pieces,
    top-level commas) than the reference has (`\boxed{5} or \boxed{6}` for 6, `1000,99` for 1000.99). A reference that
    is one bracketed group lists its inside (`(1, 2)` is answered by `\boxed{1}, \boxed{2}`)."""
    return len(prediction) > 1 and len(prediction) > elements(reference) or \
        elements(prediction, unwrap=False) > elements(reference)


def partial(reference: list[str], prediction: list[str]) -> bool:
    """A partial answer is wrong: the prediction lists fewer elements than the reference (`8` for `3 and 8`, `-2` for
    the roots `1, -2`, `9` for `PQ=3, RS=9`)."""
    return elements(prediction) < elements(reference)


def dropped_variable(reference: list[str], prediction: list[str]) -> bool:
    r"""A variable dropped or added is wrong: the reference's value names a variable the prediction never mentions
    (`3` for `3t`; math-verify reads `3t` as 3 with a unit), or the prediction's value names one the reference never
    mentions (`18t` for 18). Labels are not values (`f(t) = 3t` is answered by `3t`), units set apart from a number
    are not variables (`12 km`), and a letter written in `\text{}` counts as mentioned (`5\text{ cm}` for 5)."""
    return not (variables(reference, values_only=True) <= variables(prediction)
                and variables(prediction, values_only=True) <= variables(reference))


def wrong_labels(reference: list[str], prediction: list[str]) -> bool:
    """A label pairs with its value: with the same labels on both sides, values moved to other labels are wrong
    (`u = 9, v = 4` for `u = 4, v = 9`), even where the values as a set are right."""
    ours, theirs = _labelled_values(reference), _labelled_values(prediction)
    return bool(ours and theirs and ours.keys() == theirs.keys() and len(ours) > 1 and ours != theirs
                and sorted(ours.values()) == sorted(theirs.values()))


def rounded_reference(reference: list[str], prediction: list[str]) -> bool:
    """math-verify rounds numbers to 6 decimals, so below that every number looks alike (0.0000004 rounds like
    0.0000005). A plain-number reference with more than 6 decimals is a value, not a rounding: a plain-number
    prediction must agree with it to a relative 1e-6."""
    if len(reference) != 1 or len(prediction) != 1:
        return False
    ours, theirs = _number(reference[0]), _number(prediction[0])
    if ours is None or theirs is None or ours == 0 or -ours.as_tuple().exponent <= 6:
        return False
    return abs(ours - theirs) > Decimal("1e-6") * abs(ours)


GUARDS: list[Callable[[list[str], list[str]], bool]] = [hedge, partial, dropped_variable, wrong_labels,
                                                        rounded_reference]

# ---------------------------------------------------------------- extensions: 0.0 -> 1.0 only, through math-verify

_EMPTY_SET = re.compile(r"\\(?:varnothing|emptyset|O)(?![A-Za-z])|∅|\\\{\s*\\\}"
                        r"|\\text\{\s*(?i:empty set|none|no solutions?)\s*\}")
_NUMBER_SET = re.compile(r"\\(?:mathbb|Bbb|mathbf|mathrm)\s*\{?\s*([RZNQC])\s*\}?"
                         r"|\\([RZNQC])(?![A-Za-z])|([ℝℤℕℚℂ])")
_SET_SYMBOL = {"ℝ": "R", "ℤ": "Z", "ℕ": "N", "ℚ": "Q", "ℂ": "C"}
_SPELLINGS = [(re.compile(p), r) for p, r in [
    (r"\\le(?![A-Za-z])", r"\\leq"), (r"\\ge(?![A-Za-z])", r"\\geq"), (r"\\ne(?![A-Za-z])", r"\\neq"),
    (r"\\lbrace(?![A-Za-z])", r"\\{"), (r"\\rbrace(?![A-Za-z])", r"\\}"), (r"\\[lr]?vert(?![A-Za-z])", "|"),
    (r"\\[dtc]frac(?![A-Za-z])", r"\\frac"), (r"\\(?:display|text|script|scriptscript)style(?![A-Za-z])", " "),
    (r"\\color\s*\{[^{}]*\}", " "), (r"\\(?:infinity|inf)(?![A-Za-z])", r"\\infty"), ("∞", r"\\infty"),
    (r"(?<!\\)~", " "),  # a non-breaking space
]]
_DECORATION = re.compile(r"\\(?:(?:textcolor|colorbox)\s*\{[^{}]*\}|mathbf|boldsymbol|bm|pmb|mathbfit|underline"
                         r"|cancelto\s*\{[^{}]*\}|overbrace|underbrace)\s*\{")  # the command goes, its argument stays
_CASES = re.compile(r"\\begin\{cases\}(.*?)\\end\{cases\}", re.S)  # a system's solution: its rows are its parts
_SCIENTIFIC = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?[eE][-+]?\d{1,3}(?![\w.])")  # `5e-7` is a number, not 5e - 7
_DIGIT_GROUPS = re.compile(r"(?<![\d.])\d{1,3}(?:(?:\s|\\[,;: ]|~|\{,\}|,\\!)\d{3})+(?![\d])")
_GROUP_MARK = re.compile(r"\s|\\[,;: ]|~|\{,\}|,\\!")
_EQUATION = re.compile(r"^([^=<>]+?)=([^=<>]+)$")
_TRAILING_VARIABLE = re.compile(r"[A-Za-z]\s*$")


def _closing_brace(text: str, brace: int) -> int | None:
    """The index of the `}` closing the `{` at `brace` (escaped braces never count); None if it never closes."""
    depth, i = 0, brace
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        depth += (text[i] == "{") - (text[i] == "}")
        if depth == 0:
            return i
        i += 1
    return None


def _undecorated(latex: str) -> str:
    while (m := _DECORATION.search(latex)) and (end := _closing_brace(latex, m.end() - 1)) is not None:
        latex = latex[:m.start()] + " " + latex[m.end():end] + " " + latex[end + 1:]
    return latex


def _spelled_one_way(part: str) -> str:
    part = _undecorated(part).strip()
    while part.startswith("{") and _closing_brace(part, 0) == len(part) - 1:  # `{(1, 2)}`: a group, not a set
        part = part[1:-1].strip()
    for pattern, replacement in _SPELLINGS:
        part = pattern.sub(replacement, part)
    part = _EMPTY_SET.sub(r"\\emptyset", part)
    part = _NUMBER_SET.sub(lambda m: r"\mathbb{" + _SET_SYMBOL.get(m.group(3), m.group(3))
                           if m.group(3) else r"\mathbb{" + (m.group(1) or m.group(2)) + "}", part)
    part = re.sub(r"\\mathbb\{R\}", r"(-\\infty, \\infty)", part)  # math-verify reads the interval, not every symbol
    return _CASES.sub(lambda m: ", ".join(row.replace("&", " ") for row in m.group(1).split(r"\\")), part)


def _rewrite(rule: Callable[[str], str], reference: list[str], prediction: list[str]) -> list[tuple[str, str]]:
    """[(reference, prediction)] rewritten part by part by `rule`; [] when the rule changes nothing."""
    ours, theirs = [rule(p) for p in reference], [rule(p) for p in prediction]
    return [] if (ours, theirs) == (reference, prediction) else [(", ".join(ours), ", ".join(theirs))]


def units(reference: list[str], prediction: list[str]) -> list[tuple[str, str]]:
    r"""A number followed by a unit is that number (`12 km`, `12\,\text{km}`, `\text{12 km}`, `45^\circ`, `45°`), on
    both sides; a label before it goes with it (`\angle PQR = 45^\circ` -> 45). Units are the short list UNITS and
    only when set apart from the number: `3t` stays 3 times t."""
    def rule(part):
        plain = _without_units(part)
        return unlabelled(plain) if plain != part else part
    return _rewrite(rule, reference, prediction)


def synonyms(reference: list[str], prediction: list[str]) -> list[tuple[str, str]]:
    r"""One object, several spellings: the empty set (`\varnothing`, `\emptyset`, `\{\}`, `\text{none}`), the number
    sets as symbols or intervals (`\mathbb{R}`, `\R`, `ℝ`, `(-\infty, \infty)`), `\le`/`\leq`, `\dfrac`/`\frac`,
    decoration (`\textcolor{red}{5}`, `\mathbf{5}`, `\displaystyle`, a `{...}` group around the whole answer, `~` as
    a space), a system's `cases` rows as a list; and an
    equation's two sides swapped (`2x + 1 = y` for `y = 2x + 1`)."""
    spelled = _rewrite(_spelled_one_way, reference, prediction)
    ours, theirs = [_spelled_one_way(p) for p in reference], [_spelled_one_way(p) for p in prediction]
    sides = [_EQUATION.match(p) for p in theirs]
    if len(theirs) == 1 and all(sides) and "," not in theirs[0]:
        spelled.append((", ".join(ours), f"{sides[0].group(2).strip()} = {sides[0].group(1).strip()}"))
    return spelled


def labels(reference: list[str], prediction: list[str]) -> list[tuple[str, str]]:
    r"""Labels math-verify does not strip name the value, on both sides: `(m, n) = (4, 1)`, `A_1 : A_2 = 3 : 5`,
    `|PQ| = 2`, `S_1 : S_2 = 2`, `\frac{PM}{MQ} = 2`, `f(t) = 3t`, `x \in [1, 2]`. (The guard wrong_labels still
    refuses values moved to other labels.) Both sides labelled with other names (`y = 1` for `x = 1`) stay apart."""
    ours, theirs = _label_names(reference), _label_names(prediction)
    return [] if ours and theirs and ours != theirs else _rewrite(unlabelled, reference, prediction)


def _label_names(parts: list[str]) -> frozenset[str]:
    """The names an answer's pieces are labelled with, spaces and the relation aside (`x = 1, y \\in A` -> {x, y})."""
    found = (_LABEL.match(piece) for piece in (p for part in parts for p in top_level_split(part)))
    return frozenset(re.sub(r"\s|=|\\in$|\\approx$", "", re.sub(r"\s", "", m.group())) for m in found if m)


def numbers(reference: list[str], prediction: list[str]) -> list[tuple[str, str]]:
    r"""A number as data sets and models write it: scientific notation (`5e-7`, as a float cell stores it) is
    positional (0.0000005), digits grouped in threes by a space or thin space are one number (`1 000`, `1\,000`,
    `1{,}000`), and a sentence's full stop after a number is no decimal point (`42.`)."""
    def rule(part):
        part = _SCIENTIFIC.sub(lambda m: format(Decimal(m.group()), "f"), part)
        part = _DIGIT_GROUPS.sub(lambda m: _GROUP_MARK.sub("", m.group()), part)
        return part[:-1].rstrip() if part.endswith(".") and not part.endswith("..") else part
    return _rewrite(rule, reference, prediction)


def trailing_variables(reference: list[str], prediction: list[str]) -> list[tuple[str, str]]:
    r"""math-verify reads letters after a number as a unit (`4ab` as 4); where both sides name the same variables the
    letters are variables: each side is read with a thin space after it (`4ab\,`), so `4\cdot a\cdot b` is `4ab`."""
    if not variables(reference) or variables(reference) != variables(prediction):
        return []
    return [(", ".join(p + r"\," for p in reference), ", ".join(p + r"\," for p in prediction))]


EXTENSIONS: list[Callable[[list[str], list[str]], list[tuple[str, str]]]] = [
    units, synonyms, labels, numbers, trailing_variables]


def _number_written_one_way(part: str) -> str:
    rewritten = numbers([part], [])
    return rewritten[0][0] if rewritten else part


def combined(reference: list[str], prediction: list[str], with_labels: bool = False
             ) -> tuple[list[str], list[str], list[str]]:
    """Every extension's part rewrite applied together (for shapes that need two, such as a labelled number with a
    unit in a decorated box): (reference parts, prediction parts, names of the extensions that rewrote something).
    `with_labels` keeps the labels: the guards read answers this way, so that spelling never decides a refusal."""
    names = []
    rules = [("synonyms", _spelled_one_way), ("numbers", _number_written_one_way), ("units", _without_units)]
    for name, rule in rules + ([] if with_labels else [("labels", unlabelled)]):
        ours, theirs = [rule(p) for p in reference], [rule(p) for p in prediction]
        if (ours, theirs) != (reference, prediction):
            names.append(name)
            reference, prediction = ours, theirs
    return reference, prediction, names
