r"""Reward functions for GRPO math training: the one place where reward rules live.

Training picks rewards by name from `REWARD_FUNCS` (`--reward_funcs format accuracy`), evaluation uses
`extract_answer` and `accuracy_reward`, and users run the self-test or debug one pair:

    python reward.py                                        # table of cases; exits 1 if any fails
    python reward.py --completion "<think>..." --solution "\boxed{5}"

Every reward follows TRL's convention `f(completions, **kwargs) -> list[float | None]`: `completions` are
strings or TRL's conversational form (`[[{"role": "assistant", "content": ...}], ...]`) and dataset columns
such as `solution` arrive as keyword lists.

Model output is untrusted input. Nothing here evaluates it or raises on it, and math-verify (sympy) only
ever sees it inside a long-lived worker process that the caller waits on with a deadline: a pathological
answer such as \boxed{9^{9^{9^{9}}}} costs at most TIMEOUT_S seconds, from any thread. math-verify's own
timeouts rely on signal.alarm, which works only on a main thread; in the worker, which is single-threaded,
they stop most slow cases early, and the deadline (kill and restart the worker) catches the rest.
"""
from __future__ import annotations

import argparse
import atexit
import functools
import logging
import os
import re
import subprocess
import sys
import threading
import warnings
from decimal import Decimal
from multiprocessing.connection import Connection, Pipe
from pathlib import Path

logger = logging.getLogger("reward")  # the same name when run as a script

TIMEOUT_S = 2.0  # hard wall-clock limit for one math-verify job (parse + verify); overrunning scores 0.0
MATH_VERIFY_TIMEOUT_S = 1  # math-verify's own (signal) timeouts in the worker: slow cases end here, cheaply
STARTUP_TIMEOUT_S = 60.0  # importing sympy on a busy machine can take a while; only a broken install exceeds this
MAX_ANSWER_CHARS = 1000  # a longer prediction scores 0.0 unparsed (unless identical to the reference)
WORKER_MEMORY_BYTES = 4 << 30  # a runaway answer gets MemoryError in the worker, not the machine's OOM killer

_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE_OR_ESCAPE = re.compile(r"\\.|[{}]", re.S)  # `\{`, `\}` and `\\` never open or close a group
_FORMAT = re.compile(r"<think>.*</think>\s*<answer>(.*)</answer>", re.S)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_PLAIN_NUMBER = re.compile(r"-?(\d+)(?:\.(\d+))?")


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


def extract_boxed(text: str) -> str | None:
    r"""Content of the last `\boxed{...}` (or `\fbox{...}`, or `\boxed 5`) in `text`, nested braces included;
    None when there is none or its braces never close."""
    last = None
    for last in _BOX.finditer(text):
        pass
    if last is None:
        return None
    rest = text[last.end():]
    if not rest.lstrip().startswith("{"):
        token = re.match(r"\s+([^\s$]+)", rest)  # `\boxed 5`: the argument runs to whitespace or `$`
        return token.group(1) if token else None
    start = rest.index("{") + 1
    depth = 1
    for m in _BRACE_OR_ESCAPE.finditer(rest, start):
        if m.group() == "{":
            depth += 1
        elif m.group() == "}":
            depth -= 1
            if depth == 0:
                return rest[start:m.start()]
    return None


def extract_answer(completion) -> str | None:
    r"""The prediction `accuracy_reward` judges: the last `\boxed{}` in the `<answer>` block, else after the last
    `</think>`, else anywhere; text inside `<think>...</think>` or after an unclosed `<think>` never counts."""
    text = completion_text(completion)
    _, closed, after_thinking = text.rpartition("</think>")
    text = (after_thinking if closed else text).split("<think>", 1)[0]
    if "<answer>" in text:
        text = text.rpartition("<answer>")[2].split("</answer>", 1)[0]
    answer = extract_boxed(text)
    return answer.strip() if answer and answer.strip() else None


def reference_answer(solution) -> str | None:
    r"""The answer a reference states: its last `\boxed{}` (worked solution), else the text after GSM8K's
    `####`, else the whole reference (a bare answer such as `27.0` or `\frac{1}{2}`); None when empty."""
    text = "" if solution is None else solution if isinstance(solution, str) else str(solution)
    if _BOX.search(text):
        answer = extract_boxed(text)
    elif "####" in text:
        answer = text.rpartition("####")[2]
    else:
        answer = text
    return answer.strip() if answer and answer.strip() else None


# ---------------------------------------------------------------- rewards


def format_reward(completions, **kwargs) -> list[float]:
    r"""1.0 when the completion (surrounding whitespace ignored) is exactly one `<think>...</think>` then one
    `<answer>...</answer>` whose answer holds a complete, non-empty `\boxed{...}`; 0.5 when that answer has no
    such box; 0.0 for any other shape (missing, repeated, unclosed or reordered tags, text outside the blocks)."""
    rewards = []
    for completion in completions:
        text = completion_text(completion).strip()
        shape = _FORMAT.fullmatch(text) if all(text.count(tag) == 1 for tag in _TAGS) else None
        if shape is None:
            rewards.append(0.0)
        else:
            boxed = extract_boxed(shape.group(1))
            rewards.append(1.0 if boxed and boxed.strip() else 0.5)
    return rewards


def accuracy_reward(completions, solution, **kwargs) -> list[float | None]:
    r"""1.0 when the prediction (`extract_answer`) is mathematically equal, per math-verify, to the reference's
    answer (`reference_answer`), else 0.0; None (TRL skips the sample) when the reference has no parseable answer."""
    predictions = [extract_answer(c) for c in completions]
    texts = ["" if s is None else s if isinstance(s, str) else str(s) for s in solution]
    if len(predictions) != len(texts):
        raise ValueError(f"{len(predictions)} completions but {len(texts)} solutions")
    cache = _references  # read from one dict, even if another thread swaps in a fresh one meanwhile
    known = {text: cache[text] for text in set(texts) if text in cache}
    new = {text: reference_answer(text) for text in set(texts) if text not in known}
    answers = {**known, **new}
    # GRPO groups repeat answers, so each distinct (reference, prediction) pair is judged once; what needs sympy
    # goes to the worker in one round trip, together with the check that each new reference parses.
    verdicts = {pair: _quick_verdict(*pair) for pair in set(zip(map(answers.get, texts), predictions))
                if None not in pair}
    checks = sorted({a for a in new.values() if a is not None and not _PLAIN_NUMBER.fullmatch(a)})
    pairs = sorted(pair for pair, verdict in verdicts.items() if verdict is None)
    results = _judge([(ref, None) for ref in checks] + pairs)
    verdicts.update((pair, result or 0.0) for pair, result in zip(pairs, results[len(checks):]))
    answers.update(_remember_references(new, parses=dict(zip(checks, results))))
    rewards = [None if answers[text] is None else 0.0 if pred is None else verdicts[answers[text], pred]
               for text, pred in zip(texts, predictions)]
    if callable(kwargs.get("log_extra")):  # TRL's completions table: shows what was judged
        kwargs["log_extra"]("extracted_answer", [p or "" for p in predictions])
    return rewards


REWARD_FUNCS = {"format": format_reward, "accuracy": accuracy_reward}
DEFAULT_REWARDS = ["format", "accuracy"]


def _quick_verdict(reference: str, prediction: str) -> float | None:
    """1.0 or 0.0 where sympy is not needed: identical strings, over-long predictions, and two plain numerals of
    up to 15 digits (math-verify's own rule: integers exactly, decimals to 6 places; only clear cases). Else None."""
    if prediction == reference:
        return 1.0
    if len(prediction) > MAX_ANSWER_CHARS:
        return 0.0
    numbers = [_PLAIN_NUMBER.fullmatch(s) for s in (reference, prediction)]
    if not all(numbers) or any(len("".join(m.groups(""))) > 15 for m in numbers):
        return None
    difference = abs(Decimal(reference) - Decimal(prediction))
    return 1.0 if difference == 0 else 0.0 if difference > Decimal("2e-6") else None


_references: dict[str, str | None] = {}  # reference text -> its answer, or None when it has no parseable one


def _remember_references(new: dict[str, str | None], parses: dict[str, float | None]) -> dict[str, str | None]:
    """Record newly seen references (answer, or None when math-verify cannot parse it: logged once) and return them."""
    global _references
    usable = {}
    for text, answer in new.items():
        if answer is None or parses.get(answer, 1.0) is None:  # plain numerals need no check
            logger.warning("reference has no parseable answer, its samples get reward None: %.200r", text)
            answer = None
        usable[text] = answer
    if len(_references) > 100_000:  # bounded memory over a long run
        _references = {}
    _references.update(usable)
    return usable


# ---------------------------------------------------------------- the math-verify worker process


def _judge(jobs: list[tuple[str, str | None]]) -> list[float | None]:
    """Worker verdicts on (reference, prediction) jobs: 1.0 or 0.0 for the prediction, None when the reference does
    not parse; a job without prediction only checks the reference (1.0). A job that overruns TIMEOUT_S, or kills
    the worker, gets 0.0, or None for a reference check (and for the later jobs with that reference, which would
    hang too); the worker is replaced and the remaining jobs go on."""
    global _worker
    results = {}
    todo = list(enumerate(jobs))
    with _lock:
        while todo:
            if _worker is None or _worker.proc.poll() is not None:
                _worker = _Worker()
            try:
                done = _worker.run([job for _, job in todo])
            except BaseException:  # e.g. Ctrl-C mid-conversation: replies left unread would answer the next call
                _worker.close(kill=True)
                _worker = None
                raise
            results.update((i, result) for (i, _), result in zip(todo, done))
            todo = todo[len(done):]
            if todo:
                (stuck, (reference, prediction)), todo = todo[0], todo[1:]
                results[stuck] = 0.0 if prediction is not None else None
                if prediction is None:
                    results.update((i, None) for i, job in todo if job[0] == reference)
                    todo = [(i, job) for i, job in todo if job[0] != reference]
                logger.warning("math-verify overran %ss (or crashed) on %.200r: scored %r, worker restarted",
                               TIMEOUT_S, prediction or reference, results[stuck])
                _worker.close(kill=True)
                _worker = None
    return [results[i] for i in range(len(jobs))]


class _Worker:
    """A fresh interpreter running `_serve`. Not multiprocessing's spawn/forkserver: those re-import the caller's
    `__main__` (torch, trl) in the child; this one imports only this file and math-verify."""

    def __init__(self):
        here = Path(__file__).resolve()
        self.conn, theirs = Pipe()
        boot = "import sys; sys.path.insert(0, sys.argv[1]); __import__(sys.argv[2])._serve(int(sys.argv[3]))"
        self.proc = subprocess.Popen([sys.executable, "-c", boot, str(here.parent), here.stem, str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        self.ready = False

    def run(self, jobs) -> list:
        """Results of `jobs` in order, stopping early at the first one that overruns or kills the worker."""
        if not self.ready:
            if not self.conn.poll(STARTUP_TIMEOUT_S) or self._recv() != "ready":
                self.close(kill=True)
                raise RuntimeError("the reward worker (math-verify) failed to start; see its error output above")
            self.ready = True
        try:
            self.conn.send(jobs)
        except OSError:  # it died since we last looked: the caller restarts it
            return []
        results = []
        for _ in jobs:
            if not self.conn.poll(TIMEOUT_S):
                break
            result = self._recv()
            if result is _DIED:
                break
            results.append(result)
        return results

    def _recv(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return _DIED

    def close(self, kill=False):
        self.conn.close()  # the worker exits on end-of-file
        if kill:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_DIED = object()
_worker: _Worker | None = None  # started on first use: importing this module starts no process
_lock = threading.Lock()  # one conversation with the worker at a time, whichever threads call the rewards


def _forget_parent_worker():
    global _worker, _lock
    _worker, _lock = None, threading.Lock()  # a forked child starts its own; the parent's pipe stays the parent's


def _shutdown():
    if _worker is not None:
        _worker.close()


os.register_at_fork(after_in_child=_forget_parent_worker)
atexit.register(_shutdown)


def _serve(fd: int):
    """Worker main loop: answer every job in order, one message each; exit when the parent's pipe closes."""
    import resource
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent; we follow it out via end-of-file
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = WORKER_MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(WORKER_MEMORY_BYTES, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # its timeout warnings would echo model output
    warnings.simplefilter("ignore")  # so would sympy's
    import math_verify  # noqa: F401  (pay the sympy import before saying ready)

    conn = Connection(fd)
    conn.send("ready")
    try:
        while True:
            for reference, prediction in conn.recv():
                conn.send(_verify_job(reference, prediction))
    except (EOFError, OSError):  # the parent closed the pipe, or is gone
        return


def _verify_job(reference: str, prediction: str | None) -> float | None:
    try:
        gold = _parse(reference)
        if not gold:
            return None
        if prediction is None:
            return 1.0
        from math_verify import verify

        return float(verify(gold, _parse(prediction), timeout_seconds=MATH_VERIFY_TIMEOUT_S))
    except Exception:  # math-verify catches nearly everything itself; anything left is a wrong answer, not a crash
        return 0.0 if prediction is not None else None


@functools.lru_cache(maxsize=4096)
def _parse(answer: str):
    from math_verify import LatexExtractionConfig, parse

    # Wrapped in \boxed{} so both sides go through math-verify's best-tuned path (handles \frac12, \dfrac, 0.5, units).
    return parse("\\boxed{" + answer + "}", extraction_config=[LatexExtractionConfig(boxed_match_priority=0)],
                 parsing_timeout=MATH_VERIFY_TIMEOUT_S)


# ---------------------------------------------------------------- self-test and debugging

_GOOD = r"<think>2+3=5</think><answer>\boxed{5}</answer>"
SELF_TESTS = [  # (function, input, expected); accuracy inputs are (completion, solution)
    (extract_boxed, r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
    (extract_boxed, r"\boxed{1} then \boxed{2}", "2"),
    (extract_boxed, r"so \boxed 5", "5"),
    (extract_boxed, r"\fbox{x+1}", "x+1"),
    (extract_boxed, r"\boxed{\{1,2\}}", r"\{1,2\}"),
    (extract_boxed, r"\boxed{\frac{1}{2}", None),
    (extract_boxed, "no box", None),
    (format_reward, _GOOD, 1.0),
    (format_reward, "  <think>a</think>\n<answer>5</answer>\n", 0.5),
    (format_reward, r"<answer>\boxed{5}</answer><think>a</think>", 0.0),
    (format_reward, r"<think>a</think><think>b</think><answer>\boxed{5}</answer>", 0.0),
    (format_reward, r"<think>a</think><answer>\boxed{5}", 0.0),
    (format_reward, r"\boxed{5}", 0.0),
    (accuracy_reward, (_GOOD, "5"), 1.0),
    (accuracy_reward, (_GOOD, "6"), 0.0),
    (accuracy_reward, (r"<think>\boxed{5}</think><answer>five</answer>", "5"), 0.0),
    (accuracy_reward, (r"<think>it is \boxed{5}", "5"), 0.0),
    (accuracy_reward, (r"</think> so \boxed{5}", "Natalia sold 2+3=5 #### 5"), 1.0),
    (accuracy_reward, (r"\boxed{27}", "27.0"), 1.0),
    (accuracy_reward, (r"\boxed{0.5}", r"so $x=\boxed{\dfrac{1}{2}}$."), 1.0),
    (accuracy_reward, (r"\boxed{\frac12}", "0.5"), 1.0),
    (accuracy_reward, (r"\boxed{\{2, 1\}}", r"\{1,2\}"), 1.0),
    (accuracy_reward, (r"\boxed{[1,2]}", "[1,2)"), 0.0),
    (accuracy_reward, (r"\boxed{18 \text{ apples}}", "18"), 1.0),
    (accuracy_reward, (r"\boxed{5}", r"\boxed{"), None),
    (accuracy_reward, (r"\boxed{9^{9^{9^{9}}}}", r"\boxed{2003^{2002^{2001}}}"), 0.0),
]


def _run_case(func, case):
    if func is accuracy_reward:
        completion, solution = case
        return accuracy_reward([completion], solution=[solution])[0]
    return format_reward([case])[0] if func is format_reward else extract_boxed(case)


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
    print(f"reference answer: {reference_answer(args.solution)!r}")
    for name, func in REWARD_FUNCS.items():
        print(f"{name}: {func([args.completion], solution=[args.solution])[0]}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
