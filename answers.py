r"""Reading answers: where a completion's answer is and what a reference states, by text alone (no math-verify).

`reward.py` grades what this module reads: the prediction is the final group of boxes in a completion's answer
region (`extract_answer`), the reference is read by its shape (`reference_answer`; docs/rewards.md has the table).
Reading only finds and splits the answer: it never decides whether two answers are equal. Both sides come back as
parts (`answer_parts`): one per box, and one per piece a logical or/and joins (`3 \text{ or } 8`); math delimiters
and surrounding spacing go, everything else is kept as written for math-verify to read.

Model output is untrusted input: nothing here evaluates it or raises on it, and every rule runs in linear-ish time.
"""
from __future__ import annotations

import math
import numbers
import re
from decimal import Decimal

MAX_ANSWER_CHARS = 1000  # a longer prediction scores 0.0 unparsed (unless identical to the reference)

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
_EDGE_SPACING = _SPACING.replace(r"| \\\\ |", r"| \\\\(?![A-Za-z]) |")  # `\\left` (a stray `\`) stays
_EDGE_SPACES = re.compile(rf"^(?:{_EDGE_SPACING})+|(?:{_EDGE_SPACING})+$", re.X)  # spacing around an answer: none of it
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
_MATH_DELIMITER = re.compile(r"(?<!\\)\$|\\[()\[\]]")  # `$`, `\(`, `\)`, `\[`, `\]`: where math starts, not what
_PROSE_JOIN = re.compile(r"[\s,;]*(?:(?i:and|or)[\s,;]*)?")  # what joins two runs of math in prose into one answer
_MATH_SEGMENT = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S)
_TEXT_GROUP = re.compile(r"\\(?:text\w*|mathrm|mbox|operatorname\*?|begin|end)\s*\{[^{}]*\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_THINKING = re.compile(r"<think>.*?</think>", re.S)
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



def _top_level_split(text: str) -> list[str]:
    """`text` cut at the commas outside any brackets (`(1, 2), 3` -> `(1, 2)`, ` 3`)."""
    return split_outside_brackets(text, ",")


def split_outside_brackets(text: str, separators: str, escaped_stay: bool = False) -> list[str]:
    """`text` cut at each of `separators` outside any brackets; with `escaped_stay`, a separator right after a
    backslash (LaTeX's thin and thick spaces) does not cut."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char in separators and depth == 0 and not (escaped_stay and text[i - 1:i] == "\\"):
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]



def _blank(latex: str) -> bool:
    r"""True when `latex` typesets as nothing but space (`\,`, `{}`, `{\,}`, `\text{}`, a zero-width space)."""
    latex = _SPACES.sub("", _SPACES.sub("", _INVISIBLE.sub("", latex)))  # twice: `{\,}` is `{}` after one pass
    return not latex.replace("{", "").replace("}", "")  # braces only group



def answer_parts(contents: list[str] | None) -> list[str]:
    r"""The parts of an answer written as `contents` (boxes, or a reference's pieces of text), each distinct part once:
    one per box and one per piece that a logical or/and joins (`5 \lor 6`, `x=2 \text{ or } x=3`, `3 and 8`), without
    math delimiters (`$`, `\(`) and surrounding spacing. A part that typesets as nothing is no part. A content over
    MAX_ANSWER_CHARS is one part as written (never split, never paid unless identical to the reference)."""
    parts = []
    for content in contents or []:
        if len(content) > MAX_ANSWER_CHARS:
            parts += [] if _blank(content) else [content.strip()]
            continue
        pieces = _CONNECTIVE.split(_MATH_DELIMITER.sub(" ", _INVISIBLE.sub("", content)))
        parts += [_EDGE_SPACES.sub("", p).strip(",;").strip() for p in pieces if not _blank(p)]
    return list(dict.fromkeys(p for p in parts if p))


def joined(parts: list[str]) -> str | None:
    """Parts as one answer string, as math-verify reads a list (`1, -2` is the set {1, -2}); None when there is none.
    Joined with ", " (a space) so that parts never fuse into a number such as 1,500."""
    return ", ".join(parts) if parts else None


def answer_region(text: str) -> str:
    """Where a completion's answer is: its last `<answer>` block (one opened outside thinking), else what follows
    the first `</think>`, else everything; text inside `<think>...</think>` or after an unclosed `<think>` never
    counts, and a stray `</think>` separates nothing."""
    before, opened, block = text.rpartition("<answer>")
    if opened and before.rfind("</think>") >= before.rfind("<think>"):
        region = block.split("</answer>", 1)[0]
    else:
        region = text.partition("</think>")[2] if "</think>" in text else text
    return _THINKING.sub(" ", region).split("<think>", 1)[0].replace("</think>", " ")


def prediction_parts(completion) -> list[str]:
    """The parts of a completion's answer: the final group of boxes (`final_boxes`) in its answer region."""
    return answer_parts(final_boxes(answer_region(completion_text(completion))))


def thinking_parts(completion) -> list[str]:
    r"""The parts of the final group of boxes written while thinking (inside `<think>...</think>`, or after an
    unclosed `<think>`): what a reader that ignores the thinking tags would take as the answer."""
    text = completion_text(completion)
    thoughts = [m.group() for m in _THINKING.finditer(text)]
    _, opened, rest = text.rpartition("<think>")
    if opened and "</think>" not in rest:
        thoughts.append(rest)
    return answer_parts(final_boxes(" ".join(thoughts))) if thoughts else []


def extract_answer(completion) -> str | None:
    r"""The prediction `accuracy_reward` judges: the parts of the final group of boxes in the answer region, joined as
    `1, 2, 3`; None when there is no non-empty box."""
    return joined(prediction_parts(completion))


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


def reference_parts(solution) -> list[str]:
    r"""The parts of the answer a reference states, read by its shape (docs/rewards.md has the table), by text alone:
    a box: the final group of boxes (`final_boxes`, worked solutions); `####`: the text after the last one (GSM8K);
    prose (a word of three letters or more outside math): its last run of math joined by "and"/"or"/commas
    (`The roots are -1 and 5.` -> `-1`, `5`); else bare LaTeX, `$...$` included, read whole."""
    text = reference_text(solution)
    if text is None:
        return []
    text = _INVISIBLE.sub("", text)
    if _BOX.search(text):
        return answer_parts(final_boxes(text))
    if "####" in text:
        return answer_parts([text.rpartition("####")[2]])
    if is_prose(text):
        return answer_parts(_prose_answer(text))
    return answer_parts([text])


def reference_answer(solution) -> str | None:
    """The answer a reference states (`reference_parts`, joined); None when there is none. `reward.reference_answers`
    also needs math-verify to read it."""
    return joined(reference_parts(solution))


def _masked(text: str) -> str:
    """`text` with math segments, text groups and command names blanked out (same length, so positions hold)."""
    for pattern in (_MATH_SEGMENT, _TEXT_GROUP, _COMMAND):
        text = pattern.sub(lambda m: "\0" * len(m.group()), text)
    return text


def is_prose(text: str) -> bool:
    r"""A bare reference with a word in it: a run of three letters or more, not all capitals, outside math segments,
    LaTeX commands and text groups (`The answer is 42.`). Shorter runs are products of variables (`mn`, `4ab`, `PQ=3`)
    and capitals name points (`\angle PQR = 45^\circ`)."""
    return any(not run.isupper() for run in re.findall(r"[A-Za-z]{3,}", _masked(text)))


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
