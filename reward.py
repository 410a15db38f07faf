r"""Reward functions for GRPO math training: the one place where reward rules live.

Training, evaluation and reports get their reward functions from `resolve_reward_funcs` (registry names such as
`format`, `accuracy`, `overlong`, or a user's own function as `path/to/file.py:name` or `pkg.module.name`);
evaluation also uses `extract_answer`; users run the self-test or debug one pair:

    python reward.py                                        # table of cases; exits 1 if any fails
    python reward.py --completion "<think>..." --solution "\boxed{5}"

Every reward follows TRL's convention `f(completions, **kwargs) -> list[float | None]`: `completions` are
strings or TRL's conversational form (`[[{"role": "assistant", "content": ...}], ...]`) and dataset columns
such as `solution` arrive as keyword lists.

Model output is untrusted input. Nothing here evaluates it or raises on it; math-verify (sympy) only ever sees it
through `math_worker.judge`, in a separate process with a deadline per job.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import importlib
import importlib.util
import inspect
import logging
import math
import numbers
import os
import re
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import math_worker
from control_reward import random_reward
from errors import UsageError, first_line

logger = logging.getLogger("reward")  # the same name when run as a script

MAX_ANSWER_CHARS = 1000  # a longer prediction scores 0.0 unparsed (unless identical to the reference)
RELATIVE_TOLERANCE = 1e-6  # two numbers are equal within this relative gap (exactly when one is an integer)

_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE_OR_ESCAPE = re.compile(r"\\.|[{}]", re.S)  # `\{`, `\}` and `\\` never open or close a group
_SPACED_ARGUMENT = re.compile(r"\s+([^\s$]+)")  # `\boxed 5`: the argument runs to whitespace or `$`
# Characters that show nothing: zero-width spaces and joiners, soft hyphens, direction marks, byte-order marks.
_INVISIBLE = re.compile(r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")
# What typesets as (at most) blank space: whitespace, LaTeX spacing and style commands, empty groups, phantoms.
_SPACING = r"""(?: \s | ~ | \\[,;:!>\ ] | \\\\ | \{\s*\} | \\(?:text\w*|mathrm|mbox)\s*\{\s*\}
    | \\[hv]space\*?\s*\{[^{}]*\} | \\[hv]?phantom\s*\{[^{}]*\}
    | \\(?:q?quad|en(?:space|skip)|(?:neg)?(?:thin|med|thick)space|newline|linebreak|allowbreak|par|noindent
          |h?fill?|(?:small|med|big)skip|(?:display|text|script|scriptscript)style)(?![A-Za-z]) )"""
_SPACES = re.compile(_SPACING, re.X)
# Words that offer another candidate rather than retract one: between two boxes they join them into one answer.
_HEDGE = r"(?i:and|or|maybe|perhaps|possibly|probably|either|alternatively|otherwise|else|also)"
# What may stand between two boxes of one answer: spacing, punctuation, math delimiters, LaTeX comments, stray think
# tags and hedge words (also inside \text{}). Any other word ends the group (`\boxed{1}, no: \boxed{5}` reads 5), so
# a self-correction is read as its last box, and a hedge (`\boxed{5} or maybe \boxed{6}`) as the set it is, never as 6.
_GROUP_GAP = re.compile(rf"""(?: {_SPACING} | [,;.:!?$()\[\]/|&*-] | \\[()\[\]] | (?<!\\)%[^\n]* | </?think>
    | (?<![A-Za-z]){_HEDGE}(?![A-Za-z]) | \\(?:text\w*|mathrm|mbox)\s*\{{(?:\s|[,;.:!?]|{_HEDGE})*\}}
    | \\(?:lor|vee)(?![A-Za-z])
    | (?<![A-Za-z\\])[A-Za-z]{{1,2}}(?:_\{{?\w+\}}?)?'*(?:\([^()=]*\))?\s*(?:=|\\in(?![A-Za-z])) )*""",
                        re.X)  # the last alternative: a label (`x =`, `PQ=`, `f(t)=`) names the next part
# Inside one answer, a logical or/and (`5 \lor 6`, `x=2 \text{ or } x=3`, `3 and 8`) separates parts of one set.
_CONNECTIVE = re.compile(r"""\s*(?: \\(?:lor|vee|land|wedge)(?![A-Za-z])
                             | \\(?:text\w*|mathrm|mbox)\s*\{\s*(?i:or|and)\s*\}
                             | (?<![A-Za-z\\])(?i:or|and)(?![A-Za-z]) )\s*""", re.X)
# Digits grouped in threes by a space or a LaTeX thin space (`1 000`, `1\,000`): math-verify would read a product.
_DIGIT_GROUPS = re.compile(r"(?<!\d)\d{1,3}(?:(?:\s|\\[,;: ]|~)\d{3})+(?!\d)")
_GROUP_SPACE = re.compile(r"\s|\\[,;: ]|~")
_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][-+]?\d{1,3}")  # `5e-7` is a number, not 5e - 7
_PLAIN_NUMBER = re.compile(r"-?(\d+)(?:\.(\d+))?")
# Decoration and synonyms that typeset the same answer: removed or spelled one way before anything reads it.
_SYNONYMS = [(re.compile(p), r) for p, r in [
    (r"\\le(?![A-Za-z])", r"\\leq"), (r"\\ge(?![A-Za-z])", r"\\geq"), (r"\\ne(?![A-Za-z])", r"\\neq"),
    (r"\\lbrace(?![A-Za-z])", r"\\{"), (r"\\rbrace(?![A-Za-z])", r"\\}"), (r"\\[lr]?vert(?![A-Za-z])", "|"),
    (r"\\[dtc]frac(?![A-Za-z])", r"\\frac"), (r"\\(?:display|text|script|scriptscript)style(?![A-Za-z])", " "),
    (r"\\color\s*\{[^{}]*\}", " "), (r"(?<!\\)\$|\\[()\[\]]", " "),  # math delimiters inside an answer
]]
_DECORATION = re.compile(r"\\(?:(?:textcolor|colorbox)\s*\{[^{}]*\}|mathbf|boldsymbol|bm|pmb|mathbfit|underline"
                         r"|cancelto\s*\{[^{}]*\}|overbrace|underbrace)\s*\{")  # the command goes, its argument stays
_CASES = re.compile(r"\\begin\{cases\}(.*?)\\end\{cases\}", re.S)  # a system's solution: its rows are its parts
# A label before an answer (`x = 3`, `PQ=3`, `f(t)=`, `f^{-1}(x)=`, `m+n=`, `\frac{PM}{MQ}=`, `x \in`): names, not
# values. Only letters (products, sums, subscripts, function arguments): `x^2 = 4` and `2x + 3y = 6` are answers.
_SYMBOL = r"(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[A-Za-z0-9]+\}?)?(?:\^\{-1\})?'*"
_NAME = rf"(?:\\angle\s*)?(?:{_SYMBOL}\s*)+(?:\([^()=]*\))?"
_LABEL = re.compile(rf"\s*(?:{_NAME}(?:[-+]\s*{_NAME})*|\\frac\{{[A-Za-z\s]+\}}\{{[A-Za-z\s]+\}})"
                    r"\s*(?:=|\\in(?![A-Za-z]))\s*(?=\S)")
# Text in an answer (units, names, environment names) and LaTeX command names: not variables, not prose words.
_TEXT_GROUP = re.compile(r"\\(?:text\w*|mathrm|mbox|operatorname\*?|begin|end)\s*\{[^{}]*\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
# The variable an inequality is about (`x` in `x \le 3`, `a < x < b`): an interval names none, so it is not counted.
_RELATION = r"(?:<|>|\\(?:[lg]eq?|[lg]t|in)(?![A-Za-z]))"
_BOUND_IN_CHAIN = re.compile(rf"{_RELATION}\s*([A-Za-z])\s*{_RELATION}")  # a < x < b
_BOUND_ON_LEFT = re.compile(rf"^\s*([A-Za-z])\s*{_RELATION}")  # x < a
_PROSE_JOIN = re.compile(r"[\s,;]*(?:(?i:and|or)[\s,;]*)?")  # what joins two runs of math in prose into one answer
_MATH_SEGMENT = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S)
_FORMAT = re.compile(r"<think>.*</think>\s*<answer>(.*)</answer>", re.S)
_THINKING = re.compile(r"<think>.*?</think>", re.S)
TAGS = ("<think>", "</think>", "<answer>", "</answer>")  # the completion format's tags, in order


# ---------------------------------------------------------------- text rules (pure, no math-verify)


def completion_text(completion) -> str:
    """A completion as text: strings pass through, TRL's conversational form gives its last message's content."""
    if isinstance(completion, list):
        completion = completion[-1] if completion else ""
    if isinstance(completion, dict):
        completion = completion.get("content", "")
    if isinstance(completion, list):  # multimodal content: a list of {"type": "text", "text": ...} parts
        completion = "".join(p["text"] for p in completion if isinstance(p, dict) and isinstance(p.get("text"), str))
    if isinstance(completion, bytes):
        completion = completion.decode("utf-8", "replace")
    return completion if isinstance(completion, str) else ""


def _read_box(text: str, box: re.Match, stop: int | None = None) -> tuple[str, int] | None:
    r"""The argument of the box command `box` matched in `text` (`\boxed{...}` with nested braces, or `\boxed 5`)
    and the index just after it; None when it does not close before `stop`."""
    stop = len(text) if stop is None else stop
    brace = box.end()
    while brace < stop and text[brace].isspace():
        brace += 1
    if brace >= stop or text[brace] != "{":
        token = _SPACED_ARGUMENT.match(text, box.end(), stop)
        return (token.group(1), token.end()) if token else None
    closing = _closing_brace(text, brace, stop)
    return None if closing is None else (text[brace + 1:closing], closing + 1)


def _closing_brace(text: str, brace: int, stop: int | None = None) -> int | None:
    """The index of the `}` closing the `{` at `brace`; None when it does not close before `stop`."""
    depth = 1
    for m in _BRACE_OR_ESCAPE.finditer(text, brace + 1, len(text) if stop is None else stop):
        if m.group() == "{":
            depth += 1
        elif m.group() == "}":
            depth -= 1
            if depth == 0:
                return m.start()
    return None


def extract_boxed(text: str) -> str | None:
    r"""Content of the last `\boxed{...}` (or `\fbox{...}`, or `\boxed 5`) in `text`, nested braces included;
    None when there is none or its braces never close."""
    last = None
    for last in _BOX.finditer(text):
        pass
    box = _read_box(text, last) if last else None
    return box[0] if box else None


def final_boxes(text: str) -> list[str] | None:
    r"""Contents of the final group of boxes in `text`: the last box, together with the boxes just before it that
    are separated from it only by spacing (whitespace, `\,`, `\quad`, `\hspace{}`, invisible characters, ...),
    punctuation, math delimiters, LaTeX comments, stray think tags or hedge words ("and", "or", "maybe", also in
    `\text{}`). Any other word ends the group, so `\boxed{1}, no: \boxed{5}` reads 5 alone.
    None when there is no box or the last one never closes."""
    text = _INVISIBLE.sub("", text)
    boxes = list(_BOX.finditer(text))
    last = _read_box(text, boxes[-1]) if boxes else None
    if last is None:
        return None
    group, start = [last[0]], boxes[-1].start()
    for box in reversed(boxes[:-1]):
        found = _read_box(text, box, stop=start)  # a box that does not close before `start` contains it
        if found is None or not _GROUP_GAP.fullmatch(text, found[1], start):
            break
        group.append(found[0])
        start = box.start()
    return group[::-1]


def _undecorated(latex: str) -> str:
    r"""`latex` without what only decorates it (colour, bold, `\displaystyle`, invisible characters, math
    delimiters), with synonyms spelled one way (`\le` -> `\leq`, `\dfrac` -> `\frac`)."""
    latex = _INVISIBLE.sub("", latex)
    while (m := _DECORATION.search(latex)) and (end := _closing_brace(latex, m.end() - 1)) is not None:
        latex = latex[:m.start()] + " " + latex[m.end():end] + " " + latex[end + 1:]
    for pattern, replacement in _SYNONYMS:
        latex = pattern.sub(replacement, latex)
    return _CASES.sub(lambda m: ", ".join(row.replace("&", " ") for row in m.group(1).split(r"\\")), latex)


def _top_level_split(text: str) -> list[str]:
    """`text` cut at the commas outside any brackets (`(1, 2), 3` -> `(1, 2)`, ` 3`)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def _unlabelled(part: str) -> str:
    r"""A part without its labels: `x = 3` -> `3`, `PQ=3, RS=9` -> `3, 9`, `f(t) = 3t` -> `3t`; unchanged when no
    piece is labelled (so `1,000` and `(1, 2)` stay as written)."""
    pieces = _top_level_split(part)
    stripped = [_LABEL.sub("", p, count=1) if _LABEL.match(p) else p for p in pieces]
    return part if stripped == pieces else ", ".join(p.strip() for p in stripped)


def _clean_part(part: str) -> str:
    r"""One answer as math-verify should read it: no label, no sentence full stop at the end (`42.`), digits grouped
    by a space joined (`1 000` -> `1000`), scientific notation positional (`5e-7` -> `0.0000005`)."""
    part = _unlabelled(part.strip().strip(",;").strip()).strip()
    if part.endswith(".") and not part.endswith(".."):
        part = part[:-1].rstrip()
    part = _DIGIT_GROUPS.sub(lambda m: _GROUP_SPACE.sub("", m.group()), part)
    return format(Decimal(part), "f") if _SCIENTIFIC.fullmatch(part) else part


def _parts(latex: str) -> list[str]:
    r"""The parts one box (or one bare answer) holds: decoration removed, a system's rows and or/and-joined pieces
    apart (`x = 2 \text{ or } x = 3` -> `2`, `3`), labels dropped; a part holding only spacing is no part."""
    if len(latex) > MAX_ANSWER_CHARS:  # never read, never paid (unless identical to the reference): keep it cheap
        return [] if _blank(latex) else [latex.strip()]
    parts = (_clean_part(p) for p in _CONNECTIVE.split(_undecorated(latex)) if not _blank(p))
    return [p for p in parts if p]


def _blank(latex: str) -> bool:
    r"""True when `latex` typesets as nothing but space (`\,`, `{}`, `{\,}`, `\text{}`, a zero-width space)."""
    latex = _SPACES.sub("", _SPACES.sub("", _INVISIBLE.sub("", latex)))  # twice: `{\,}` is `{}` after one pass
    return not latex.replace("{", "").replace("}", "")  # braces only group


def _answer_of(contents: list[str] | None) -> str | None:
    r"""The parts of `contents` (boxes, or bare answers) as one answer string, each distinct part once; several read
    as a set (`1, -2` is {1, -2}), as math-verify reads `\boxed{1, -2}`. Joined with ", " (a space) so that parts
    never fuse into a number such as 1,500. None when there is no part."""
    parts = list(dict.fromkeys(p for content in contents or [] for p in _parts(content)))
    return ", ".join(parts) if parts else None


def _answer_region(text: str) -> str:
    """Where a completion's answer is: its last `<answer>` block (one opened outside thinking), else what follows
    the first `</think>`, else everything; text inside `<think>...</think>` or after an unclosed `<think>` never
    counts, and a stray `</think>` separates nothing."""
    before, opened, block = text.rpartition("<answer>")
    if opened and before.rfind("</think>") >= before.rfind("<think>"):
        region = block.split("</answer>", 1)[0]
    else:
        region = text.partition("</think>")[2] if "</think>" in text else text
    return _THINKING.sub(" ", region).split("<think>", 1)[0].replace("</think>", " ")


def extract_answer(completion) -> str | None:
    r"""The prediction `accuracy_reward` judges: the final group of boxes (`final_boxes`) in the answer region
    (`_answer_region`), read as parts (`_parts`: labels, or/and, decoration). Several parts come back joined as
    `1, 2, 3`; None when there is no non-empty box."""
    return _answer_of(final_boxes(_answer_region(completion_text(completion))))


def reference_text(solution) -> str | None:
    """A data set cell as reference text (the one place a cell becomes text, for data_utils and the rewards); None
    for a cell with no reference (None, NaN, empty or blank text, an empty list, other types). Numbers stored as
    numbers are answers: 18 -> "18", 27.0 -> "27.0", 1e-07 -> "0.0000001"; a list of answers (OlympiadBench's
    `final_answer`) is its parts: ["$3$", "$8$"] -> "$3$, $8$"."""
    if hasattr(solution, "tolist") and not isinstance(solution, (str, bytes)):  # numpy scalars and arrays
        solution = solution.tolist()
    if isinstance(solution, (list, tuple)):
        parts = [reference_text(p) for p in solution]
        return ", ".join(p.strip() for p in parts if p) or None
    if isinstance(solution, bytes):
        solution = solution.decode("utf-8", "replace")
    if isinstance(solution, str):
        return solution if solution.strip() else None
    if isinstance(solution, bool) or not isinstance(solution, numbers.Real):
        return None
    if isinstance(solution, numbers.Integral):
        return str(int(solution))
    value = float(solution)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return r"\infty" if value > 0 else r"-\infty"
    return format(Decimal(repr(value)), "f")  # positional, never `1e-07`


def reference_answer(solution) -> str | None:
    r"""The answer a reference states, read by its shape (README "Rewards" has the table), by text alone:
    a box: the final group of boxes (`final_boxes`, worked solutions); `####`: the text after the last one (GSM8K);
    prose (a word of three letters or more outside math): its last run of math joined by "and"/"or"/commas
    (`The roots are -1 and 5.` -> `-1, 5`); else bare LaTeX, `$...$` included, read whole. Each part loses its
    label and decoration (`_parts`). None when there is none; `reference_answers` also needs math-verify to read it."""
    text = reference_text(solution)
    if text is None:
        return None
    text = _INVISIBLE.sub("", text)
    if _BOX.search(text):
        return _answer_of(final_boxes(text))
    if "####" in text:
        return _answer_of([text.rpartition("####")[2]])
    if _is_prose(text):
        return _answer_of(_prose_answer(text))
    return _answer_of([text])


def _masked(text: str) -> str:
    """`text` with math segments, text groups and command names blanked out (same length, so positions hold)."""
    for pattern in (_MATH_SEGMENT, _TEXT_GROUP, _COMMAND):
        text = pattern.sub(lambda m: "\0" * len(m.group()), text)
    return text


def _is_prose(text: str) -> bool:
    r"""A bare reference with a word in it: a run of three letters or more outside math segments, LaTeX commands
    and text groups (`The answer is 42.`). Shorter runs are products of variables (`mn`, `4ab`, `PQ=3`)."""
    return bool(re.search(r"[A-Za-z]{3,}", _masked(text)))


def _prose_answer(text: str) -> list[str]:
    r"""The answer in prose: its last run of math together with the runs before it that only "and"/"or" or commas
    separate (`3 and 8`, `a = 4 and b = -1`, `The roots are $-1$ and $5$.`). With math segments (`$...$`, `\(...\)`)
    the runs are those segments (`The final answer is $28\%$. I hope it is correct.` -> `28\%`); without, a run is a
    stretch between words that holds a digit, letter or command, and every run of two letters or more is a word."""
    segments = list(_MATH_SEGMENT.finditer(text))
    if segments:
        runs = [m.group() for m in segments]
        joins = [text[a.end():b.start()] for a, b in zip(segments, segments[1:])]
    else:
        words = list(re.finditer(r"[A-Za-z]{2,}", _masked(text)))
        gaps = [text[a.end() if a else 0:b.start() if b else len(text)] for a, b in zip([None, *words], [*words, None])]
        runs = [g.strip().strip(",.;:!?'\"").strip() for g in gaps]
        joins = [w.group() for w in words]
    found = []
    for i in reversed(range(len(runs))):
        if runs[i]:
            found.append(runs[i])
            if i == 0 or not _PROSE_JOIN.fullmatch(joins[i - 1]):
                break
        elif found:
            break
    return found[::-1]


def _variables(answer: str, with_text: bool = False) -> frozenset[str]:
    r"""The variables an answer names: letters outside LaTeX commands in runs of at most two (a run of three or more
    is a word: `apples`, `percent`), but not the one an inequality is about (`x` in `x < a`, as in `(-\infty, a)`).
    Letters in text groups (`\text{ cm}`, `\mathrm{m}`) count only `with_text`."""
    if with_text:
        answer = _TEXT_GROUP.sub(lambda m: " " + m.group().partition("{")[2][:-1] + " ", answer)
    bare = _COMMAND.sub(" ", _TEXT_GROUP.sub(" ", ",".join(map(_without_bound_variable, answer.split(",")))))
    return frozenset(c for run in re.findall(r"[A-Za-z]+", bare) if len(run) < 3 for c in run)


def _without_bound_variable(part: str) -> str:
    found = _BOUND_IN_CHAIN.search(part) or _BOUND_ON_LEFT.search(part)
    return part if found is None else part[:found.start(1)] + " " + part[found.end(1):]


def _same_variables(reference: str, prediction: str) -> bool:
    r"""Neither side drops or adds a variable: every bare letter of one appears in the other (in a text group
    counts). `\boxed{3}` for `3t` fails (math-verify would read `3t` as 3 with a unit), `3\text{ cm}` for 3 passes."""
    return (_variables(reference) <= _variables(prediction, with_text=True)
            and _variables(prediction) <= _variables(reference, with_text=True))


def _for_math_verify(answer: str) -> str:
    r"""`answer` as sent to math-verify: one that names variables ends in a thin space, which keeps math-verify from
    reading a trailing variable as a unit (it reads `4ab` as 4 and `3t` as 3, but `4ab\,` as 4*a*b)."""
    return answer + r"\," if _variables(answer) else answer


def _numbers_agree(reference: str, prediction: str) -> bool | None:
    """Two plain numerals (`-12`, `0.5`): equal exactly when either is an integer (`27.0` is 27, 203.9999999 is not
    204), else within RELATIVE_TOLERANCE of the larger or, for a precise decimal prediction, the reference rounded to
    its written places (`math_worker.rounding_half_unit`); None when either is no plain numeral."""
    if not (_PLAIN_NUMBER.fullmatch(reference) and _PLAIN_NUMBER.fullmatch(prediction)):
        return None
    a, b = Decimal(reference), Decimal(prediction)
    if a % 1 == 0 or b % 1 == 0:
        return a == b
    half_unit = math_worker.rounding_half_unit(prediction)  # `0.3333` for 0.333333: the value rounded as written
    return abs(a - b) <= Decimal(RELATIVE_TOLERANCE) * max(abs(a), abs(b)) or (half_unit is not None and
                                                                               abs(a - b) <= half_unit)


# ---------------------------------------------------------------- rewards


def format_reward(completions, **kwargs) -> list[float]:
    r"""1.0 when the completion (surrounding whitespace ignored) is exactly one `<think>...</think>` then one
    `<answer>...</answer>` whose answer holds a complete `\boxed{...}` with something in it (a box holding only
    spacing such as `\,`, `{}`, `\text{}` or a zero-width space is empty); 0.5 when that answer has no such box;
    0.0 for any other shape (missing, repeated, unclosed or reordered tags, text outside the blocks)."""
    rewards = []
    for completion in completions:
        text = completion_text(completion).strip()
        shape = _FORMAT.fullmatch(text) if all(text.count(tag) == 1 for tag in TAGS) else None
        if shape is None:
            rewards.append(0.0)
        else:
            boxed = extract_boxed(shape.group(1))
            rewards.append(0.5 if boxed is None or _blank(boxed) else 1.0)
    return rewards


def accuracy_reward(completions, solution, **kwargs) -> list[float | None]:
    r"""1.0 when the prediction (`extract_answer`) equals the reference's answer (`reference_answers`), else 0.0;
    None (TRL skips the sample) when the reference has no gradable answer. Equal means: the same variables
    (`_same_variables`), then two numbers exactly when either is an integer or both are fractions, else within
    RELATIVE_TOLERANCE, then anything else as math-verify (sympy) says. Those rules win over math-verify.

    With TRL's `log_metric` (GRPOTrainer passes it) each call logs `diagnostics/answer_extracted_fraction`,
    `diagnostics/unparseable_references` (completions whose reference has no answer), `diagnostics/reward_timeouts`
    (math-verify jobs stopped at math_worker.TIMEOUT_S) and `diagnostics/reward_errors` (our own rules raising:
    such a sample scores 0.0, or None for its reference; the first is logged with its input); with `log_extra`,
    the extracted answers."""
    errors = _Errors()
    predictions = [errors.guard(extract_answer, c) for c in completions]
    references = [reference_text(s) for s in solution]
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} completions but {len(references)} solutions")

    answers, timeouts = _graded_answers(references, errors)  # cached; new references are read by math-verify once
    # GRPO groups repeat answers: each distinct (answer, prediction) pair is judged once, in the worker only where
    # plain text cannot tell.
    verdicts = {pair: errors.guard(_quick_verdict, pair, failed=0.0)
                for pair in zip(answers, predictions) if None not in pair}
    comparisons = {pair: ("compare", *map(_for_math_verify, pair), RELATIVE_TOLERANCE)
                   for pair, verdict in verdicts.items() if verdict is None}
    outcomes, compare_timeouts = math_worker.judge(list(comparisons.values()))
    for pair, job in comparisons.items():
        verdicts[pair] = errors.count(outcomes[job], pair)

    rewards = [None if answer is None else 0.0 if prediction is None else verdicts[answer, prediction] or 0.0
               for answer, prediction in zip(answers, predictions)]
    _log_call(kwargs, predictions, rewards, timeouts + compare_timeouts, errors.seen)
    return rewards


# ready-made functions, by registry name; `random` is the control run's reward (control_reward.py)
REWARD_FUNCS = {"format": format_reward, "accuracy": accuracy_reward, "random": random_reward}
DEFAULT_REWARDS = ["format", "accuracy"]


def _log_call(kwargs: dict, predictions: list, rewards: list, timeouts: int, errors: int) -> None:
    """What TRL shows about an accuracy_reward call: the extracted answers in its completions table (`log_extra`), and
    the diagnostics as metrics (`log_metric`; TRL averages them over the logging window and over processes)."""
    if callable(kwargs.get("log_extra")):
        kwargs["log_extra"]("extracted_answer", [p or "" for p in predictions])
    if callable(kwargs.get("log_metric")) and predictions:
        log_metric = kwargs["log_metric"]
        log_metric("diagnostics/answer_extracted_fraction", sum(p is not None for p in predictions) / len(predictions))
        log_metric("diagnostics/unparseable_references", float(sum(r is None for r in rewards)))
        log_metric("diagnostics/reward_timeouts", float(timeouts))
        log_metric("diagnostics/reward_errors", float(errors))


class _Errors:
    """Counts our own rules raising during one accuracy_reward call; the process's first is logged with its input.
    Model output must never stop a run, so the sample scores as if nothing was read."""
    logged = False

    def __init__(self):
        self.seen = 0

    def guard(self, rule: Callable, value, failed=None):
        """`rule(value)` (`rule(*value)` for a tuple), or `failed` when it raises."""
        try:
            return rule(*value) if isinstance(value, tuple) else rule(value)
        except Exception as err:
            self.count(math_worker.RuleError(f"{type(err).__name__}: {err}"), value)
            return failed

    def count(self, outcome, value):
        """`outcome`, or None (counted, the first logged) when it is a RuleError."""
        if not isinstance(outcome, math_worker.RuleError):
            return outcome
        self.seen += 1
        if not _Errors.logged:
            _Errors.logged = True
            logger.error("a reward rule raised %s on %.300r: counted in diagnostics/reward_errors, the run goes on",
                         outcome, value)
        return None


def _quick_verdict(reference: str, prediction: str) -> float | None:
    """1.0 or 0.0 where sympy is not needed: identical strings, over-long predictions, a variable dropped or added,
    and two plain numerals (`_numbers_agree`). Else None: math-verify decides."""
    if prediction == reference:
        return 1.0
    if len(prediction) > MAX_ANSWER_CHARS or not _same_variables(reference, prediction):
        return 0.0
    agree = _numbers_agree(reference, prediction)
    return None if agree is None else float(agree)


# ---------------------------------------------------------------- references: cached, checked once by math-verify

_references: dict[str, str | None] = {}  # reference text -> the answer graded against it, None when it has none


def reference_answers(solutions) -> list[str | None]:
    """The answer `accuracy_reward` grades each solution against; None where it gives None (no reference, or no
    answer math-verify can read). For reports and checks of a data set's solution column."""
    return _graded_answers([reference_text(s) for s in solutions], _Errors())[0]


def _graded_answers(references: list[str | None], errors: _Errors) -> tuple[list[str | None], int]:
    """The answer for each reference text (None where there is none), and how many math-verify checks overran.
    A reference is read once (math-verify must read its answer too), then cached; one without answer is logged once."""
    global _references
    cache = _references  # read one dict, even if another thread swaps in a fresh one meanwhile
    new = {text: errors.guard(reference_answer, text) for text in set(references) - {None} if text not in cache}
    checks = {text: ("parse", _for_math_verify(answer)) for text, answer in new.items()
              if answer is not None and not _PLAIN_NUMBER.fullmatch(answer)}  # plain numerals need no check
    outcomes, timeouts = math_worker.judge(list(checks.values()))
    for text in new:
        if text in checks and not errors.count(outcomes[checks[text]], text):
            new[text] = None
        if new[text] is None:
            logger.warning("reference has no gradable answer, its samples get reward None: %.200r", text)
    if new:
        if len(_references) > 100_000:  # bounded memory over a long run
            _references = {}
        _references.update(new)
    return [None if text is None else new[text] if text in new else cache[text] for text in references], timeouts


# ---------------------------------------------------------------- resolving --reward_funcs (training, eval, reports)

OVERLONG = "overlong"  # TRL's soft overlong punishment (DAPO), built from the completion-length options
REWARD_NAMES = [*REWARD_FUNCS, OVERLONG]
CUSTOM_FORMS = "path/to/file.py:function or package.module.function"


def resolve_reward_funcs(specs: list[str], weights: list[float] | None = None, *,
                         max_completion_length: int | None = None,
                         overlong_buffer: int | None = None) -> list[Callable]:
    """The reward functions `--reward_funcs` names, in order, for GRPOTrainer, eval.py and reports alike.

    A spec is a registry name (`format`, `accuracy`, `overlong`), a function in a file (`path/to/file.py:name`) or
    an importable one (`package.module.name`). Custom functions are probed once with a one-sample batch passed the
    way GRPOTrainer passes it. `overlong` is TRL's `get_soft_overlong_punishment(max_completion_length,
    overlong_buffer)`; the buffer defaults to a quarter of max_completion_length. Each function's `__name__` is what
    TRL logs (`rewards/<name>/mean`). Raises UsageError (one line naming --reward_funcs) for anything unusable."""
    if weights is not None and not all(math.isfinite(w) for w in weights):
        raise UsageError(f"--reward_weights {' '.join(map(str, weights))} holds a non-finite value: give numbers")
    if weights is not None and len(weights) != len(specs):
        raise UsageError(f"{len(specs)} --reward_funcs but {len(weights)} --reward_weights: give one weight per reward")
    funcs = [_resolve_one(spec, max_completion_length, overlong_buffer) for spec in specs]
    names = [_logged_name(f) for f in funcs]
    for spec, name in zip(specs, names):
        if names.count(name) > 1:
            clashing = " and ".join(s for s, n in zip(specs, names) if n == name)
            raise UsageError(f"--reward_funcs {clashing} would all be logged as rewards/{name}: give each reward once, "
                             f"or rename one of the functions")
    return funcs


def recorded_reward_spec(spec: str) -> str:
    """`spec` as run_config.json records it: a file spec with an absolute path (so eval.py run from another
    directory finds the same file); registry names and module paths unchanged."""
    if _is_file_spec(spec):
        path, _, attr = spec.rpartition(":")
        return f"{Path(path).expanduser().resolve()}:{attr}"
    return spec


def soft_overlong_punishment(max_completion_length: int, overlong_buffer: int | None = None) -> Callable:
    """TRL's soft overlong punishment: 0 up to max - buffer tokens, then falling linearly to -1 at max."""
    from trl.rewards import get_soft_overlong_punishment

    buffer = max(1, max_completion_length // 4) if overlong_buffer is None else overlong_buffer
    if not 1 <= buffer <= max_completion_length:
        raise UsageError(f"--reward_funcs {OVERLONG}: --overlong_buffer {buffer} must be between 1 and "
                         f"--max_completion_length ({max_completion_length})")
    return get_soft_overlong_punishment(max_completion_len=max_completion_length, soft_punish_cache=buffer)


def _resolve_one(spec: str, max_completion_length: int | None, overlong_buffer: int | None) -> Callable:
    if spec in REWARD_FUNCS:
        return REWARD_FUNCS[spec]
    if spec == OVERLONG:
        if not max_completion_length or max_completion_length < 1:
            raise UsageError(f"--reward_funcs {OVERLONG} needs --max_completion_length (a positive number of tokens)")
        return soft_overlong_punishment(max_completion_length, overlong_buffer)
    if _is_file_spec(spec):
        path, _, attr = spec.rpartition(":")
        func = _attribute(_load_file(path, spec), attr, spec)
    elif ":" in spec or "." in spec.strip(".") and not spec.endswith(".py"):
        module, _, attr = spec.rpartition(":") if ":" in spec else spec.rpartition(".")
        func = _attribute(_import_module(module, spec), attr, spec)
    elif spec.endswith(".py"):
        raise UsageError(f"--reward_funcs {spec}: name the function too, as {spec}:function_name")
    else:
        raise UsageError(f"unknown reward {spec!r} in --reward_funcs: choose from {', '.join(REWARD_NAMES)}, "
                         f"or give your own function as {CUSTOM_FORMS}")
    _probe(func, spec)
    return func


def _is_file_spec(spec: str) -> bool:
    path = spec.rpartition(":")[0]
    return path.endswith(".py") or "/" in path or os.sep in path


def _load_file(path_text: str, spec: str):
    """The module in a .py file, loaded once per absolute path under a name of its own (so dataclasses work)."""
    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"--reward_funcs {spec}: no file {path}: give an existing file as path/to/file.py:function")
    name = f"reward_file_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise UsageError(f"--reward_funcs {spec}: loading {path} failed: {type(err).__name__}: {first_line(err)}") \
            from None
    return module


def _import_module(module: str, spec: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and (module == err.name or module.startswith(err.name + ".")):
            raise UsageError(f"--reward_funcs {spec}: no module named {err.name!r}: install it or put its directory "
                             f"on PYTHONPATH, or give a file as path/to/file.py:function") from None
        raise UsageError(f"--reward_funcs {spec}: importing {module} failed: {first_line(err)}") from None
    except Exception as err:
        raise UsageError(f"--reward_funcs {spec}: importing {module} failed: {type(err).__name__}: "
                         f"{first_line(err)}") from None


def _attribute(module, attr: str, spec: str) -> Callable:
    if not attr or not hasattr(module, attr):
        raise UsageError(f"--reward_funcs {spec}: {getattr(module, '__file__', None) or module.__name__} has no "
                         f"{attr!r}: check the function's name")
    func = getattr(module, attr)
    if not callable(func):
        raise UsageError(f"--reward_funcs {spec}: {attr} is not a function ({type(func).__name__}): name a "
                         f"function with TRL's reward signature f(completions, **kwargs) -> list[float]")
    if not hasattr(func, "__name__"):  # a callable object: TRL would log it under its class name
        try:
            func.__name__ = attr
        except (AttributeError, TypeError):
            pass
    return func


def _logged_name(func: Callable) -> str:
    """The name TRL logs a reward function under (trl.trainer.utils.get_callable_name)."""
    while isinstance(func, functools.partial):
        func = func.func
    return getattr(func, "__name__", type(func).__name__)


def _probe(func: Callable, spec: str) -> None:
    """Call `func` once on a one-sample batch exactly as TRL 1.16's GRPOTrainer calls reward functions: prompts,
    conversational completions, completion_ids, the data set's columns (here `solution`), trainer_state,
    log_extra and log_metric as keyword arguments; await it if it is async. It must return one float or None."""
    from transformers import TrainerState

    batch = {
        "prompts": [[{"role": "system", "content": "Think in <think></think>, answer in <answer>\\boxed{}</answer>."},
                     {"role": "user", "content": "What is 2 + 3?"}]],
        "completions": [[{"role": "assistant", "content": "<think>2 + 3 = 5</think><answer>\\boxed{5}</answer>"}]],
        "completion_ids": [[17, 18, 19, 20, 21]],
        "solution": ["5"],
        "trainer_state": TrainerState(),
        "log_extra": lambda column, values: None,
        "log_metric": lambda name, value: None,
    }
    try:
        result = func(**batch)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
    except Exception as err:
        raise UsageError(f"--reward_funcs {spec}: {_logged_name(func)} raised {type(err).__name__}: {first_line(err)} "
                         f"on a one-sample batch passed as GRPOTrainer passes it (prompts, completions, "
                         f"completion_ids, solution, trainer_state, log_extra, log_metric as keywords): fix it, "
                         f"or accept **kwargs") from None
    if not (isinstance(result, (list, tuple)) and len(result) == 1 and _is_reward_value(result[0])):
        shown = repr(result)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise UsageError(f"--reward_funcs {spec}: {_logged_name(func)} returned {shown} for one completion: a reward "
                         f"function returns a list with one float (or None to skip) per completion")


def _is_reward_value(value) -> bool:
    return value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool))


# ---------------------------------------------------------------- self-test and debugging

_GOOD = r"<think>2+3=5</think><answer>\boxed{5}</answer>"


def _answer(text: str) -> str:
    return rf"<think>x</think><answer>{text}</answer>"


SELF_TESTS = [  # (function, input, expected): one case per rule; the exhaustive tables live in tests/test_rewards.py
    (extract_boxed, r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
    (extract_answer, _answer(r"\boxed{1} and \boxed{2}"), "1, 2"),
    (extract_answer, _answer(r"\boxed{1}, no: \boxed{5}"), "5"),
    (format_reward, _GOOD, 1.0),
    (format_reward, "<think>a</think><answer>5</answer>", 0.5),
    (format_reward, r"<answer>\boxed{5}</answer><think>a</think>", 0.0),
    (accuracy_reward, (_GOOD, "6"), 0.0),
    (accuracy_reward, (r"<think>\boxed{5}</think><answer>five</answer>", "5"), 0.0),
    (accuracy_reward, (r"</think> so \boxed{5}", "Natalia sold 2+3=5 #### 5"), 1.0),
    (accuracy_reward, (r"\boxed{27}", 27.0), 1.0),
    (accuracy_reward, (r"\boxed{0.5}", r"so $x=\boxed{\dfrac{1}{2}}$."), 1.0),
    (accuracy_reward, (_answer(r"\boxed{-2}"), r"So \(\boxed{1}\) and \(\boxed{-2}\)."), 0.0),  # partial answer
    (accuracy_reward, (_answer(r"\boxed{5}\,\boxed{6}"), "6"), 0.0),  # hedging
    (accuracy_reward, (_answer(r"\boxed{3, 8}"), "The roots are 3 and 8."), 1.0),  # multi-part prose
    (accuracy_reward, (_answer(r"\boxed{8}"), "The roots are 3 and 8."), 0.0),  # partial answer
    (accuracy_reward, (_answer(r"\boxed{3}"), "f(t) = 3t"), 0.0),  # dropped variable
    (accuracy_reward, (_answer(r"\boxed{\begin{bmatrix}1&0\\0&1\end{bmatrix}}"),
                       r"\begin{pmatrix}1&0\\0&1\end{pmatrix}"), 1.0),  # bare LaTeX
    (accuracy_reward, (_answer(r"\boxed{0}"), 5e-7), 0.0),  # relative tolerance
    (accuracy_reward, (_GOOD, ["$5$"]), 1.0),  # a list cell (OlympiadBench)
    (accuracy_reward, (_answer(r"\boxed{42}"), "Answer is forty two."), None),
    (accuracy_reward, (r"\boxed{9^{9^{9^{9}}}}", r"\boxed{2003^{2002^{2001}}}"), 0.0),
]


def _run_case(func, case):
    if func is accuracy_reward:
        completion, solution = case
        return accuracy_reward([completion], solution=[solution])[0]
    return format_reward([case])[0] if func is format_reward else func(case)


def _short(value, width=46) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def self_test() -> int:
    """Print every SELF_TESTS case as a table row; returns the number of failures."""
    print(f"{'function':<16} {'input':<62} {'expected':<16} {'got':<16}")
    failed = 0
    for func, case, expected in SELF_TESTS:
        got = _run_case(func, case)
        ok = got == expected
        failed += not ok
        shown = " | ".join(_short(c, 30) for c in case) if isinstance(case, tuple) else _short(case, 62)
        print(f"{func.__name__:<16} {shown:<62} {_short(expected, 16):<16} {_short(got, 16):<16}"
              f"{'' if ok else '  <-- FAIL'}")
    print(f"{len(SELF_TESTS) - failed} passed, {failed} failed")
    return failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Self-test the rewards, or score one completion.")
    parser.add_argument("--completion", help="score this completion with every reward instead of self-testing")
    parser.add_argument("--solution", help="the reference for --completion (worked solution, '#### 18' or bare)")
    args = parser.parse_args(argv)
    if args.completion is None:
        if args.solution is not None:
            parser.error("--solution needs --completion")
        return 1 if self_test() else 0
    if args.solution is None:
        parser.error("--completion needs --solution")
    print(f"extracted answer: {extract_answer(args.completion)!r}")
    print(f"reference answer: {reference_answers([args.solution])[0]!r}")
    for name, func in REWARD_FUNCS.items():
        print(f"{name}: {func([args.completion], solution=[args.solution])[0]}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
