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
