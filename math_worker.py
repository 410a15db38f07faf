r"""Runs math-verify (sympy) on untrusted answers in a separate, restartable process with a deadline per job.

One public function, `judge(jobs) -> (outcomes, overruns)`; reward.py decides what to ask. A job is a tuple:

    ("parse", answer)                        -> True when math-verify reads a value in `\boxed{answer}`
    ("compare", reference, prediction, rel) -> 1.0 when equal, else 0.0: two real numbers exactly when either is
                                               an integer or both are fractions, else within `rel` of the larger (so
                                               `\boxed{0}` is not 5e-7), or a precise decimal answer that is the
                                               value rounded to its written places (`rounding_half_unit`); anything
                                               else as math-verify's `verify` says

A job whose own code (not math-verify's) raises gets a RuleError (the error's text) instead, for the caller to count.

Model output is untrusted input: math-verify only ever sees it here, in a long-lived worker process that the caller
waits on with a deadline, so a pathological answer such as \boxed{9^{9^{9^{9}}}} costs at most TIMEOUT_S seconds, from
any thread. math-verify's own timeouts rely on signal.alarm, which works only on a main thread; in the worker, which
is single-threaded, they stop most slow cases early, and the deadline (kill and restart the worker) catches the rest.
The worker is started on first use (importing this module starts no process), is replaced in a forked child, and
stops when its parent exits or dies.
"""
from __future__ import annotations

import atexit
import functools
import logging
import os
import re
import subprocess
import sys
import threading
import warnings
from multiprocessing.connection import Connection, Pipe
from pathlib import Path

logger = logging.getLogger("reward")  # its warnings are about rewards: one logger name for users to filter

TIMEOUT_S = 2.0  # hard wall-clock limit for one math-verify job (parse + verify); overrunning scores 0.0
MATH_VERIFY_TIMEOUT_S = 1  # math-verify's own (signal) timeouts in the worker: slow cases end here, cheaply
STARTUP_TIMEOUT_S = 60.0  # importing sympy on a busy machine can take a while; only a broken install exceeds this
WORKER_MEMORY_BYTES = 4 << 30  # a runaway answer gets MemoryError in the worker, not the machine's OOM killer
# A decimal answer this precise (significant digits) may be the exact value rounded to its written places (`0.3333` for
# 1/3, `3.1416` for pi); fewer digits (`0.33`, `3.14`) are too coarse to tell an answer from a near miss.
MIN_ROUNDED_DIGITS = 4

# What an overrun job (or one that killed the worker) counts as: not equal, no value read.
OVERRUN = {"compare": 0.0, "parse": False}


class RuleError(str):
    """The outcome of a job whose own code raised: the error as text."""


def judge(jobs: list[tuple]) -> tuple[dict[tuple, object], int]:
    """The worker's outcome for each distinct job, and how many jobs overran TIMEOUT_S (or killed the worker). An
    overrun job gets its OVERRUN outcome, the worker is replaced and the other jobs go on."""
    outcomes, overruns = {}, 0
    todo = list(dict.fromkeys(jobs))
    with _lock:
        while todo:
            answered = _ask_worker(todo)
            outcomes.update(zip(todo, answered))
            todo = todo[len(answered):]
            if todo:
                stuck, todo = todo[0], todo[1:]
                outcomes[stuck] = OVERRUN[stuck[0]]
                overruns += 1
                logger.warning("math-verify overran %ss (or crashed) on %.200r: scored %r, worker restarted",
                               TIMEOUT_S, stuck[2] if stuck[0] == "compare" else stuck[1], outcomes[stuck])
                _stop_worker()
    return outcomes, overruns


# ---------------------------------------------------------------- the parent's side

def _ask_worker(jobs: list[tuple]) -> list:
    """The running worker's answers to `jobs` in order (starting one if needed), stopping early at the first job
    that overruns or kills it. An interruption (Ctrl-C) stops the worker, so unread answers never reach a later
    call."""
    global _worker
    if _worker is None or _worker.proc.poll() is not None:
        _worker = _Worker()
    try:
        return _worker.run(jobs)
    except BaseException:
        _stop_worker()
        raise


def _stop_worker():
    global _worker
    if _worker is not None:
        _worker.close(kill=True)
        _worker = None


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

    def run(self, jobs: list[tuple]) -> list:
        """Answers to `jobs` in order, stopping early at the first one that takes over TIMEOUT_S or kills the worker."""
        self._wait_until_ready()
        try:
            self.conn.send(jobs)
        except OSError:  # it died since we last looked: the caller restarts it
            return []
        answers = []
        for _ in jobs:
            answer = self._recv() if self.conn.poll(TIMEOUT_S) else _DIED
            if answer is _DIED:
                break
            answers.append(answer)
        return answers

    def _wait_until_ready(self):
        if not self.ready:
            if not self.conn.poll(STARTUP_TIMEOUT_S) or self._recv() != "ready":
                self.close(kill=True)
                raise RuntimeError("the reward worker (math-verify) failed to start; see its error output above")
            self.ready = True

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


# ---------------------------------------------------------------- the worker's side

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
            for kind, *args in conn.recv():
                conn.send(_ANSWER[kind](*args))
    except (EOFError, OSError):  # the parent closed the pipe, or is gone
        return


def _reads(answer: str) -> bool:
    try:
        return bool(_parse(answer))
    except Exception:  # math-verify catches nearly everything itself; anything left means "no value"
        return False


def _compare(reference: str, prediction: str, relative_tolerance: float) -> float | RuleError:
    try:
        gold, answer = _parse(reference), _parse(prediction)
    except Exception:  # math-verify catches nearly everything itself; anything left is a wrong answer, not a crash
        return 0.0
    try:
        numeric = _numeric_verdict(gold, answer, reference, prediction, relative_tolerance)
    except TimeoutError:
        numeric = None
    except Exception as err:
        return RuleError(f"{type(err).__name__}: {err}")
    if numeric is not None:
        return numeric
    try:
        from math_verify import verify

        return float(verify(gold, answer, timeout_seconds=MATH_VERIFY_TIMEOUT_S))
    except Exception:
        return 0.0


def rounding_half_unit(text: str):
    """Half a unit in the last written place of a plain decimal with at least MIN_ROUNDED_DIGITS significant digits
    (`0.3333` -> 0.00005), as a Decimal; None for any other text. An answer rounded honestly to its written places lies
    within this of the exact value."""
    from decimal import Decimal

    match = re.fullmatch(r"-?(\d*)\.(\d+)", text.strip())
    if not match or len((match[1] + match[2]).lstrip("0")) < MIN_ROUNDED_DIGITS:
        return None
    return Decimal(5).scaleb(-len(match[2]) - 1)


def _numeric_verdict(gold: list, answer: list, reference: str, prediction: str, relative_tolerance: float
                     ) -> float | None:
    """1.0 or 0.0 when both sides are one real number; None otherwise, and for percentages (math-verify's own rule
    reads 28 and 28% as one answer)."""
    import signal

    import sympy

    texts = reference + prediction
    if not (gold and answer) or "%" in texts or "percent" in texts:
        return None
    a, b = gold[0], answer[0]
    if not all(isinstance(x, sympy.Expr) and x.is_number and _small(x) for x in (a, b)):
        return None
    half_unit = rounding_half_unit(prediction)
    if a.is_Rational and b.is_Rational and half_unit is None:
        return float(a == b)
    exact = a.is_Integer or b.is_Integer  # an integer answer is exact: 203.9999999 is not 204
    signal.signal(signal.SIGALRM, _raise_timeout)  # the worker is single-threaded: its own alarm bounds evalf
    signal.setitimer(signal.ITIMER_REAL, MATH_VERIFY_TIMEOUT_S)
    try:
        x, y = (sympy.N(v, 30) for v in (a, b))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if not (x.is_real and y.is_real and x.is_finite and y.is_finite):
        return None
    if abs(x - y) <= (1e-20 if exact else relative_tolerance) * max(abs(x), abs(y)):
        return 1.0
    # The exact value rounded to the answer's written places (an integer is never within half a unit of another value)
    return float(half_unit is not None and bool(abs(x - y) <= sympy.Float(str(half_unit), 30)))


def _small(expr) -> bool:
    """No power with a large or non-numeral exponent (`9^{9^{9}}`): those are left to math-verify's own timeouts."""
    import sympy

    return all(p.exp.is_Rational and abs(p.exp) <= 64 for p in expr.atoms(sympy.Pow))


def _raise_timeout(signum, frame):
    raise TimeoutError


@functools.lru_cache(maxsize=4096)
def _parse(answer: str):
    from math_verify import LatexExtractionConfig, parse

    # Wrapped in \boxed{} so both sides go through math-verify's best-tuned path (handles \frac12, \dfrac, 0.5, units).
    return parse("\\boxed{" + answer + "}", extraction_config=[LatexExtractionConfig(boxed_match_priority=0)],
                 parsing_timeout=MATH_VERIFY_TIMEOUT_S)


_ANSWER = {"parse": _reads, "compare": _compare}
