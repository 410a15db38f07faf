"""The process's environment, set before the libraries start: CPU threads, DeepSpeed's accelerator, quiet libraries.

Quiet means known harmless warnings, a noisy logger and the loading bars. Imports nothing of ours, so the entry points
(`main.py`, `eval.py`) call it before anything else."""
from __future__ import annotations

import logging
import os
import signal
import sys


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def share_cpu_cores() -> str | None:
    """Before torch starts its thread pool: when other work already keeps some cores busy, use only the idle ones.

    torch's OpenMP threads spin while they wait for each other; with more threads than free cores two processes slow
    each other down several times over (docs/speed.md has the figures). An idle machine keeps torch's
    default. Returns a line saying what was chosen, or None. OMP_NUM_THREADS, when set, is the user's choice and is
    left alone."""
    if "OMP_NUM_THREADS" in os.environ:
        return None
    import psutil

    cores = psutil.cpu_percent(interval=0.25, percpu=True)
    idle = sum(load < 50 for load in cores)
    if idle >= len(cores):
        return None
    os.environ["OMP_NUM_THREADS"] = str(max(1, idle))
    return (f"{len(cores) - idle} of {len(cores)} CPU cores are busy with other work: using {max(1, idle)} thread(s) "
            "(set OMP_NUM_THREADS to choose)")


# Known, harmless library warnings, filtered narrowly (category and message) so that real ones still show.
HARMLESS_WARNINGS = [
    (FutureWarning, r".*gradient_checkpointing.*activation_checkpointing"),  # a rename inside TRL's own config
    (FutureWarning, r".*`torch\.cpu\.amp\.autocast|.*torch\.cuda\.amp"),  # DeepSpeed calls the old autocast API
    # DeepSpeed ZeRO calls torch's old collective names, once per bucket and step
    (FutureWarning, r"`torch\.distributed\.(reduce_scatter_tensor|all_gather_into_tensor)` is deprecated"),
    (UserWarning, r".*pin_memory.*no accelerator"),  # DataLoader on CPU
    (UserWarning, r".*os\.fork\(\) was called"),  # the reward worker starts with Popen, not fork
]


def quiet_bitsandbytes() -> None:
    """bitsandbytes (imported by transformers and peft when installed) asks for an optional CPU kernel package when
    it is imported; without it 4-bit still works, through its own slower path. Call before importing transformers."""
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # transformers >= 5.25 loads bitsandbytes' kernels through the `kernels` package, which says on every offline start
    # that it skips a hub trust check for a kernel we never asked for: nothing for our user to act on.
    logging.getLogger("kernels").setLevel(logging.ERROR)


# Known, harmless library log lines (logger name, message start), dropped by a filter so the logger's other lines show.
HARMLESS_LOG_LINES = [
    # accelerate compares its own accumulation plugin with the DeepSpeed config that distributed.py already filled
    # with our --gradient_accumulation_steps, and says it uses DeepSpeed's value: the same number.
    ("accelerate.accelerator", "Gradient accumulation steps mismatch"),
]


class _DropLines(logging.Filter):
    def __init__(self, start: str):
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("[RANK "):  # accelerate's multi-process logger prefixes the rank
            message = message.partition("] ")[2]
        return not message.startswith(self.start)


def quiet_library_warnings() -> None:
    """Filter HARMLESS_WARNINGS, HARMLESS_LOG_LINES and the libraries' loading bars; call before the libraries do
    their work."""
    import warnings

    for category, message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name, start in HARMLESS_LOG_LINES:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropLines) and f.start == start for f in logger.filters):
            logger.addFilter(_DropLines(start))
    quiet_bitsandbytes()
    # DeepSpeed (imported by TRL and accelerate) warns that it falls back to CPU on every start without a GPU.
    if "DS_ACCELERATOR" not in os.environ and not cuda_available():
        os.environ["DS_ACCELERATOR"] = "cpu"
    import datasets
    import transformers

    datasets.disable_progress_bars()  # "Generating train split", "Map": our own bars and lines say what happens
    transformers.utils.logging.disable_progress_bar()  # "Loading weights", "Writing model shards"


def _interrupted_while_starting(signum, frame) -> None:
    sys.stderr.write("\ninterrupted while starting: nothing was done or written\n")
    sys.stderr.flush()
    os._exit(130)  # no cleanup to run yet; raising here would print a traceback from deep inside an import


def quiet_ctrl_c_while_starting() -> None:
    """Ctrl-C during the first seconds (importing torch, TRL, transformers) exits 130 with one line instead of a
    KeyboardInterrupt traceback from inside a library's import. An entry point calls it before its imports and
    `ctrl_c_to_main` once its own handler (an `except KeyboardInterrupt`) is in place. A SIGINT the process was
    started to ignore (a background job) stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_while_starting)


def ctrl_c_to_main() -> None:
    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)
