"""Errors a user can fix, and the one place where library error text is read.

Every layer may import this module (it imports nothing of ours), so `UsageError` has one home and no import cycles.
Entry points (`main.py`, `eval.py`) print a UsageError as one `error: ...` line and exit 2, with no traceback.
"""
from __future__ import annotations

import os


class UsageError(Exception):
    """A mistake the user can fix (bad flag, missing file, offline hub id): reported in one line, no traceback."""


def first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def offline_or_network_error(err: BaseException) -> bool:
    """True when an exception means 'the hub could not be reached' rather than 'the thing does not exist'.

    The libraries raise many exception types for this (OSError, ConnectionError, LocalEntryNotFoundError, ...) and
    no common class, so their text is the only signal."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return True
    text = f"{type(err).__name__} {err}".lower()
    return any(
        word in text
        for word in ("offline", "connection", "resolve", "timed out", "timeout", "network", "couldn't reach")
    )


def split_error(err: ValueError, dataset_id: str, split: str) -> str | None:
    """datasets' ValueErrors about a split, as one line; None for any other ValueError. Only its wording tells an
    empty slice ('Instruction "test[:0]" corresponds to no data!') from an unknown split ('Unknown split "tset"')."""
    text = str(err)
    name = split.split("[")[0]
    if "corresponds to no data" in text:
        return f"split {split!r} of {dataset_id} selects no rows: choose a non-empty slice, e.g. {name}[:100]"
    if "split" in text.lower():
        return f"split {split!r} does not exist in {dataset_id}: {first_line(err)}"
    return None


# Known, harmless library warnings, filtered narrowly (category and message) so that real ones still show.
HARMLESS_WARNINGS = [
    (FutureWarning, r".*gradient_checkpointing.*activation_checkpointing"),  # a rename inside TRL's own config
    (FutureWarning, r".*`torch\.cpu\.amp\.autocast|.*torch\.cuda\.amp"),  # DeepSpeed calls the old autocast API
    # DeepSpeed ZeRO calls torch's old collective names, once per bucket and step (111 lines in a 4-step CPU run)
    (FutureWarning, r"`torch\.distributed\.(reduce_scatter_tensor|all_gather_into_tensor)` is deprecated"),
    (UserWarning, r".*pin_memory.*no accelerator"),  # DataLoader on CPU
    (UserWarning, r".*os\.fork\(\) was called"),  # the reward worker starts with Popen, not fork
]


def quiet_library_warnings() -> None:
    """Filter HARMLESS_WARNINGS and the libraries' loading bars; call before the libraries do their work."""
    import logging
    import warnings

    for category, message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    # bitsandbytes (imported by transformers and peft when installed) asks for an optional CPU kernel package at every
    # start; without it 4-bit still works, through its own slower path.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # DeepSpeed (imported by TRL and accelerate) warns that it falls back to CPU on every start without a GPU.
    if "DS_ACCELERATOR" not in os.environ and not _has_cuda():
        os.environ["DS_ACCELERATOR"] = "cpu"
    import datasets
    import transformers

    datasets.disable_progress_bars()  # "Generating train split", "Map": our own bars and lines say what happens
    transformers.utils.logging.disable_progress_bar()  # "Loading weights", "Writing model shards"


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
