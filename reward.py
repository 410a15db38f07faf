r"""Reward functions for GRPO math training: the registry, format, and accuracy.

Training, evaluation and reports get their reward functions from `resolve_reward_funcs` (registry names such as
`format`, `accuracy`, `overlong`, or a user's own function as `path/to/file.py:name` or `pkg.module.name`);
evaluation also uses `extract_answer`; users run the self-test or debug one pair:

    python reward.py                                        # table of cases; exits 1 if any fails
    python reward.py --completion "<think>..." --solution "\boxed{5}"

Every reward follows TRL's convention `f(completions, **kwargs) -> list[float | None]`: `completions` are
strings or TRL's conversational form (`[[{"role": "assistant", "content": ...}], ...]`) and dataset columns
such as `solution` arrive as keyword lists.

How accuracy is decided (docs/rewards.md has the full rules):
  1. math-verify decides equivalence between the completion's answer (the final group of boxes outside thinking,
     `answers.extract_answer`) and the reference's answer (`answers.reference_answer`), reading LaTeX and
     expressions, in the worker process with deadlines (`math_worker`). Identical strings are equal without asking.
  2. Guards (`reward_rules.GUARDS`, and the answer-inside-<think> guard here) may only turn a 1.0 into 0.0, each a
     named rule: hedge, partial answer, dropped or added variable, labels paired with the wrong values, a reference
     finer than math-verify's 6-decimal rounding.
  3. Extensions (`reward_rules.EXTENSIONS`) may only turn a 0.0 into 1.0, where math-verify fails on a documented
     shape: units, synonyms, labels math-verify does not strip, numbers as data sets store them, trailing variables.
     math-verify judges every rewrite, and the guards still apply to what an extension pays.
  4. Nothing else changes a verdict. Each firing is counted in `diagnostics/guard_<name>` or
     `diagnostics/extension_<name>` (TRL's log_metric), so a run shows how often each one decides.

Model output is untrusted input. Nothing here evaluates it or raises on it; math-verify (sympy) only ever sees it
through `math_worker.judge`, in a separate process with a deadline per job.

Why one file of ~590 lines: the rewards and their registry belong together (`resolve_reward_funcs` loads, probes and
names them for every command); reading answers lives in answers.py, the guards and extensions in reward_rules.py, and
math-verify in math_worker.py.
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
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import math_worker
import reward_rules
from answers import (  # noqa: F401  (the reading API, re-exported: other modules and users call reward.<name>)
    MAX_ANSWER_CHARS,
    answer_parts,
    completion_text,
    extract_answer,
    extract_boxed,
    final_boxes,
    joined,
    prediction_parts,
    reference_answer,
    reference_parts,
    reference_text,
    thinking_parts,
)
from answers import _blank
from control_reward import random_reward
from errors import UsageError, first_line

logger = logging.getLogger("reward")  # the same name when run as a script

_FORMAT = re.compile(r"<think>.*</think>\s*<answer>(.*)</answer>", re.S)
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
TAGS = ("<think>", "</think>", "<answer>", "</answer>")  # the completion format's tags, in order
THINK_GUARD = "think"  # the guard that refuses an answer written only while thinking (counted like the others)
DIAGNOSTIC_NAMES = ([f"guard_{THINK_GUARD}"] + [f"guard_{g.__name__}" for g in reward_rules.GUARDS]
                    + [f"extension_{e.__name__}" for e in reward_rules.EXTENSIONS])


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
    r"""1.0 when math-verify says the prediction (`extract_answer`) equals the reference's answer
    (`reference_answers`), or an extension shows it does, and no guard refuses it; else 0.0. None (TRL skips the
    sample) when the reference has no gradable answer. The module docstring has the four-point design.

    With TRL's `log_metric` (GRPOTrainer passes it) each call logs `diagnostics/answer_extracted_fraction`,
    `diagnostics/unparseable_references` (completions whose reference has no answer), `diagnostics/reward_timeouts`
    (math-verify jobs stopped at math_worker.TIMEOUT_S), `diagnostics/reward_errors` (our rules or math-verify
    raising: such a sample scores 0.0, or None for its reference; the first is logged with its input), and for each
    guard and extension `diagnostics/guard_<name>` / `diagnostics/extension_<name>`: how many completions of the call
    it decided. With `log_extra`, the extracted answers."""
    errors = _Errors()
    predictions = [errors.guard(prediction_parts, c) or [] for c in completions]
    references = [reference_text(s) for s in solution]
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} completions but {len(references)} solutions")

    # New references are read once and checked by math-verify in the same batch as the first comparisons.
    answers, new, checks = _read_references(references, errors)
    # A completion whose only box is inside its thinking gets no answer; the think guard is counted when that box
    # would have been paid.
    thoughts = {i: tuple(errors.guard(thinking_parts, c) or ()) for i, c in enumerate(completions)
                if not predictions[i] and answers[i] is not None}
    pairs = {(answers[i], tuple(p)) for i, p in enumerate(predictions) if p and answers[i] is not None}
    pairs |= {(answers[i], t) for i, t in thoughts.items() if t}
    judged = _Judgement(errors)
    verdicts, decided_by = judged.run(pairs, also=list(checks.values()))
    answers = _settled_references(references, answers, new, checks, judged.also, errors)

    rewards, fired = [], Counter()
    for i, (answer, prediction) in enumerate(zip(answers, predictions)):
        if answer is None:
            rewards.append(None)
        elif not prediction:
            rewards.append(0.0)
            if thoughts.get(i) and verdicts[answer, thoughts[i]] == 1.0:
                fired[f"guard_{THINK_GUARD}"] += 1
        else:
            pair = (answer, tuple(prediction))
            rewards.append(verdicts[pair])
            if pair in decided_by:
                fired.update(decided_by[pair])
    _log_call(kwargs, [joined(p) for p in predictions], rewards, judged.timeouts, errors.seen, fired)
    return rewards


# ready-made functions, by registry name; `random` is the control run's reward (control_reward.py)
REWARD_FUNCS = {"format": format_reward, "accuracy": accuracy_reward, "random": random_reward}
DEFAULT_REWARDS = ["format", "accuracy"]


class _Judgement:
    """The verdicts for a batch of distinct (reference parts, prediction parts) pairs, in three rounds of worker jobs
    at most: math-verify; extensions for the 0.0s; guards (pure text) for the 1.0s. `decided_by[pair]` names the
    guard or extension(s) that changed a pair's verdict."""

    def __init__(self, errors: _Errors):
        self.errors, self.timeouts, self.also = errors, 0, {}

    def run(self, pairs: set[tuple[tuple[str, ...], tuple[str, ...]]], also: list[tuple] = ()) -> tuple[dict, dict]:
        """Verdicts and what decided them; `also`: other worker jobs sent with the first round, answered in
        `self.also`."""
        verdicts, decided_by, settled = {}, {}, set()
        asked = {}
        for pair in pairs:
            reference, prediction = joined(list(pair[0])), joined(list(pair[1]))
            if prediction == reference:
                verdicts[pair] = 1.0  # identical strings always agree: no rule overrides them
                settled.add(pair)
            elif len(prediction) > MAX_ANSWER_CHARS:
                verdicts[pair] = 0.0
                settled.add(pair)
            elif (known := _plain_numbers_verdict(reference, prediction)) is not None:
                verdicts[pair] = known  # what math-verify says, without asking
            else:
                asked[pair] = ("compare", reference, prediction)
        outcomes = self._judge([*asked.values(), *also])
        self.also = {job: outcomes[job] for job in also}
        for pair, job in asked.items():
            verdict = self.errors.count(outcomes[job], pair)
            verdicts[pair] = 0.0 if verdict is None else verdict
            if verdict is None:
                settled.add(pair)  # a failure is counted in reward_errors, not retried by other rules
        self._extend([p for p in verdicts if verdicts[p] == 0.0 and p not in settled], verdicts, decided_by)
        for pair in verdicts:
            if verdicts[pair] == 1.0 and pair not in settled:
                refusal = self.errors.guard(_refusal, pair)
                if refusal is not None:
                    verdicts[pair] = 0.0
                    decided_by[pair] = [f"guard_{refusal.__name__}"]
        return verdicts, decided_by

    def _extend(self, pairs: list, verdicts: dict, decided_by: dict) -> None:
        """Each 0.0 pair's rewrites by every extension (and by all together), judged by math-verify in one batch;
        the first that math-verify pays turns the pair to 1.0."""
        tries = {}
        for pair in pairs:
            reference, prediction = list(pair[0]), list(pair[1])
            for extension in reward_rules.EXTENSIONS:
                for rewrite in self.errors.guard(extension, (reference, prediction)) or []:
                    tries.setdefault(pair, []).append(([f"extension_{extension.__name__}"], rewrite))
            together = self.errors.guard(reward_rules.combined, (reference, prediction))
            if together and len(together[2]) > 1:
                names = [f"extension_{n}" for n in together[2]]
                tries.setdefault(pair, []).append((names, (joined(together[0]) or "", joined(together[1]) or "")))
        jobs = {("compare", *rewrite) for attempts in tries.values() for _, rewrite in attempts
                if rewrite[0] != rewrite[1]}
        outcomes = self._judge(jobs)
        for pair, attempts in tries.items():
            for names, rewrite in attempts:
                paid = rewrite[0] == rewrite[1] or self.errors.count(outcomes[("compare", *rewrite)], pair) == 1.0
                if paid:
                    verdicts[pair], decided_by[pair] = 1.0, names
                    break

    def _judge(self, jobs) -> dict:
        outcomes, timeouts = math_worker.judge(list(jobs))
        self.timeouts += timeouts
        return outcomes


def _refusal(reference: tuple[str, ...], prediction: tuple[str, ...]) -> Callable | None:
    """The first guard that refuses the pair, each reading both answers spelled one way (synonyms, numbers, units
    rewritten as the extensions do, labels kept), so that how an answer is spelled never decides a refusal."""
    ours, theirs, _ = reward_rules.combined(list(reference), list(prediction), with_labels=True)
    return next((guard for guard in reward_rules.GUARDS if guard(ours, theirs)), None)


def _log_call(kwargs: dict, predictions: list, rewards: list, timeouts: int, errors: int, fired: Counter) -> None:
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
        for name in DIAGNOSTIC_NAMES:
            log_metric(f"diagnostics/{name}", float(fired[name]))


class _Errors:
    """Counts our own rules (or math-verify) raising during one accuracy_reward call; the process's first is logged
    with its input. Model output must never stop a run, so the sample scores as if nothing was read."""
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


# ---------------------------------------------------------------- references: cached, checked once by math-verify

_references: dict[str, tuple[str, ...] | None] = {}  # reference text -> the parts graded against, None when none


def reference_answers(solutions) -> list[str | None]:
    """The answer `accuracy_reward` grades each solution against; None where it gives None (no reference, or no
    answer math-verify can read). For reports and checks of a data set's solution column."""
    return [None if a is None else joined(list(a)) for a in _graded_answers([reference_text(s) for s in solutions],
                                                                            _Errors())[0]]


def _graded_answers(references: list[str | None], errors: _Errors) -> tuple[list[tuple[str, ...] | None], int]:
    """The answer parts for each reference text (None where there is none), and how many math-verify checks overran."""
    answers, new, checks = _read_references(references, errors)
    outcomes, timeouts = math_worker.judge(list(checks.values()))
    return _settled_references(references, answers, new, checks, outcomes, errors), timeouts


def _read_references(references: list[str | None], errors: _Errors) -> tuple[list, dict, dict]:
    """The answer parts for each reference text (cached, or read now), the newly read ones {text: parts}, and the
    math-verify checks those need {text: job} (a plain number needs none)."""
    cache = _references  # read one dict, even if another thread swaps in a fresh one meanwhile
    new = {}
    for text in set(references) - {None}:
        if text not in cache:
            parts = errors.guard(reference_parts, text)
            new[text] = tuple(parts) if parts else None
    checks = {text: ("parse", joined(list(parts))) for text, parts in new.items()
              if parts is not None and not _PLAIN_NUMBER.fullmatch(joined(list(parts)))}
    return [None if text is None else new[text] if text in new else cache[text] for text in references], new, checks


def _settled_references(references: list, answers: list, new: dict, checks: dict, outcomes: dict,
                        errors: _Errors) -> list:
    """`answers` with the new references math-verify could not read set to None (each logged once), all cached."""
    global _references
    for text in new:
        if text in checks and not errors.count(outcomes[checks[text]], text):
            new[text] = None
        if new[text] is None:
            logger.warning("reference has no gradable answer, its samples get reward None: %.200r", text)
    if new:
        if len(_references) > 100_000:  # bounded memory over a long run
            _references = {}
        _references.update(new)
    return [new[text] if text in new else answer for text, answer in zip(references, answers)]


def _plain_numbers_verdict(reference: str, prediction: str) -> float | None:
    """math-verify's verdict on two plain numerals (`-12`, `0.5`, at most 15 digits) where it is certain without
    asking: equal values are equal, and values more than 1e-5 apart stay apart after its rounding to 6 decimals. None
    in between (and for anything else): math-verify decides."""
    if not (_PLAIN_NUMBER.fullmatch(reference) and _PLAIN_NUMBER.fullmatch(prediction)
            and max(len(reference), len(prediction)) <= 16):
        return None
    gap = abs(Decimal(reference) - Decimal(prediction))
    return 1.0 if gap == 0 else 0.0 if gap > Decimal("1e-5") else None


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
    if func not in _PROBED:  # once per process: training, held-out evaluation, --check and each benchmark share it
        _probe(func, spec)
        _PROBED.add(func)
    return func


_PROBED: set = set()  # custom reward functions that passed the probe


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
    (accuracy_reward, (_answer(r"\boxed{0.0000004}"), 5e-7), 0.0),  # guard: finer than 6 decimals
    (accuracy_reward, (_answer(r"\boxed{0.3333}"), r"\frac{1}{3}"), 0.0),  # math-verify's 6-decimal rounding
    (accuracy_reward, (_answer(r"\boxed{u = 9, v = 4}"), "u = 4, v = 9"), 0.0),  # a label pairs with its value
    (accuracy_reward, (_answer(r"\boxed{12}"), r"\text{12 km}"), 1.0),  # extension: units
    (accuracy_reward, (_answer(r"\boxed{\varnothing}"), r"\emptyset"), 1.0),  # extension: synonyms
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
