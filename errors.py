"""Errors a user can fix, and the one place where library error text is read.

Every layer may import this module (it imports nothing of ours), so `UsageError` has one home and no import cycles.
Entry points (`main.py`, `eval.py`, `report.py`, `benchmarks.py`) print a UsageError as one `error: ...` line
and exit 2, with no traceback (`error_exit`).
"""
from __future__ import annotations

import os
from pathlib import Path


class UsageError(Exception):
    """A mistake the user can fix (bad flag, missing file, offline hub id): reported in one line, no traceback."""


def error_exit(err: UsageError) -> int:
    """How every entry point reports a UsageError: one `error: ...` line on stderr; returns the exit status, 2."""
    import sys

    print(f"error: {err}", file=sys.stderr)
    return 2


def first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def offline_or_network_error(err: BaseException, name: str) -> bool:
    """True when an exception about loading `name` means 'the hub could not be reached' rather than 'the thing does
    not exist'; never for a local path that exists (a file that fails to read is not a failed download).

    The libraries raise many exception types for this (OSError, ConnectionError, LocalEntryNotFoundError, ...) and
    no common class, so their text is the only signal."""
    if Path(name).expanduser().exists():
        return False
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return True
    text = f"{type(err).__name__} {err}".lower()
    return any(
        word in text
        for word in ("offline", "connection", "resolve", "timed out", "timeout", "network", "couldn't reach")
    )


def split_error_kind(err: ValueError) -> str | None:
    """What a `datasets` ValueError says about the split asked for: "empty" (an empty slice: 'Instruction "test[:0]"
    corresponds to no data!'), "unknown" ('Unknown split "tset"'), or None (another error). Only its wording tells."""
    text = str(err)
    if "corresponds to no data" in text:
        return "empty"
    return "unknown" if "split" in text.lower() else None
