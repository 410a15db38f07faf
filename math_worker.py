r"""Runs math-verify (sympy) on untrusted answers in a separate, restartable process with a deadline per job.

One public function, `judge(jobs) -> (outcomes, overruns)` (several jobs shared out over WORKERS worker processes);
reward.py decides what to ask. A job is a tuple:

    ("parse", answer)                   -> True when math-verify reads a value in `\boxed{answer}`
    ("compare", reference, prediction) -> 1.0 when math-verify's `verify` says the two are equal, else 0.0

A job that raises (our code, or an exception escaping math-verify) gets a RuleError (the error's text) instead, for
the caller to count in diagnostics/reward_errors: a failure is never a silent 0.0.

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

# What an overrun job (or one that killed the worker) counts as: not equal, no value read.
OVERRUN = {"compare": 0.0, "parse": False}


class RuleError(str):
    """The outcome of a job whose own code raised: the error as text."""


def judge(jobs: list[tuple]) -> tuple[dict[tuple, object], int]:
    """The workers' outcome for each distinct job, and how many jobs overran TIMEOUT_S (or killed a worker). An
    overrun job gets its OVERRUN outcome, its worker is replaced and the other jobs go on. Several jobs are shared out
    over up to WORKERS workers (math-verify is single-threaded: each worker keeps one core busy)."""
    todo = list(dict.fromkeys(jobs))
    with _lock:
        slots = min(WORKERS, len(todo))
        if slots <= 1:
            return _judge_on(0, todo)
        shares = [todo[slot::slots] for slot in range(slots)]
        results: list = [None] * slots

        def work(slot):
            try:
                results[slot] = _judge_on(slot, shares[slot])
            except Exception:  # e.g. a second worker that cannot start: slot 0 judges its share below
                results[slot] = None

        helpers = [threading.Thread(target=work, args=(slot,), daemon=True) for slot in range(1, slots)]
        for thread in helpers:
            thread.start()
        try:
            results[0] = _judge_on(0, shares[0])
        finally:
            for thread in helpers:  # no other call may talk to a worker this call still reads from
                thread.join()
        for slot in range(1, slots):
            if results[slot] is None:
                results[slot] = _judge_on(0, shares[slot])
        return ({job: outcome for found, _ in results for job, outcome in found.items()},
                sum(overruns for _, overruns in results))


def _judge_on(slot: int, todo: list[tuple]) -> tuple[dict[tuple, object], int]:
    """`todo` judged in order by the worker in `slot`, restarting it after a job that overruns or kills it."""
    outcomes, overruns = {}, 0
    while todo:
        answered = _ask_worker(todo, slot)
        outcomes.update(zip(todo, answered))
        todo = todo[len(answered):]
        if todo:
            stuck, todo = todo[0], todo[1:]
            outcomes[stuck] = OVERRUN[stuck[0]]
            overruns += 1
            logger.warning("math-verify overran %ss (or crashed) on %.200r: scored %r, worker restarted",
                           TIMEOUT_S, stuck[2] if stuck[0] == "compare" else stuck[1], outcomes[stuck])
            _stop_worker(slot)
    return outcomes, overruns


# ---------------------------------------------------------------- the parent's side

def _ask_worker(jobs: list[tuple], slot: int = 0) -> list:
    """The answers of the worker in `slot` to `jobs` in order (starting one if needed), stopping early at the first
    job that overruns or kills it. An interruption (Ctrl-C) stops the worker, so unread answers never reach a later
    call."""
    worker = _workers.get(slot)
    if worker is None or worker.proc.poll() is not None:
        worker = _workers[slot] = _Worker()
    try:
        return worker.run(jobs)
    except BaseException:
        _stop_worker(slot)
        raise


def workers() -> dict[int, "_Worker"]:
    """The running workers by slot."""
    return dict(_workers)


def _stop_worker(slot: int = 0):
    worker = _workers.pop(slot, None)
    if worker is not None:
        worker.close(kill=True)


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
_workers: dict[int, _Worker] = {}  # by slot, each started on first use: importing this module starts no process
# Workers one call may use: a second core halves the wait of a batch with several jobs (a GRPO step's groups).
WORKERS = max(1, min(2, os.cpu_count() or 1))
_lock = threading.Lock()  # one conversation with the worker at a time, whichever threads call the rewards


def _forget_parent_worker():
    global _workers, _lock
    _workers, _lock = {}, threading.Lock()  # a forked child starts its own; the parent's pipes stay the parent's


def _shutdown():
    for worker in list(_workers.values()):
        worker.close()


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

    _compare(r"\frac{1}{2}", "0.5")  # and the parsers' first use (grammar, caches): not a user's job's deadline
    _parse.cache_clear()

    conn = Connection(fd)
    conn.send("ready")
    try:
        while True:
            for kind, *args in conn.recv():
                conn.send(_ANSWER[kind](*args))
    except (EOFError, OSError):  # the parent closed the pipe, or is gone
        return


def _reads(answer: str) -> bool | RuleError:
    try:
        return bool(_parse(answer))
    except Exception as err:  # math-verify catches its own failures; one escaping it is counted, not hidden
        return RuleError(f"{type(err).__name__}: {err}")


def _compare(reference: str, prediction: str) -> float | RuleError:
    """math-verify's verdict, nothing added: `verify(parse(reference), parse(prediction))` with its own float rounding
    (6 decimals) and strict variables. A failure escaping math-verify (or ours) is a RuleError for the caller to
    count, never a silent 0.0."""
    try:
        from math_verify import verify

        return float(verify(_parse(reference), _parse(prediction), timeout_seconds=MATH_VERIFY_TIMEOUT_S))
    except Exception as err:
        return RuleError(f"{type(err).__name__}: {err}")


@functools.lru_cache(maxsize=4096)
def _parse(answer: str):
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    # Wrapped in \boxed{} so that LaTeX extraction reads the whole answer (it reads \frac12, \dfrac, 0.5, units);
    # expression extraction reads what LaTeX extraction does not (`1,000.99€`). One after the other: both together
    # give the same reading at twenty times the cost.
    text = "\\boxed{" + answer + "}"
    return (parse(text, extraction_config=[LatexExtractionConfig(boxed_match_priority=0)],
                  parsing_timeout=MATH_VERIFY_TIMEOUT_S)
            or parse(text, extraction_config=[ExprExtractionConfig()], parsing_timeout=MATH_VERIFY_TIMEOUT_S))


_ANSWER = {"parse": _reads, "compare": _compare}
