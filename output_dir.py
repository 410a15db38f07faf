"""The output directory as a place nothing is lost or mixed: what --overwrite_output_dir may delete (only what a run of
ours wrote, never a user's file, never the data the command reads) and the one-writer lock held for a run's life.

A run writes, under --output_dir: run_config.json (its record), the adapter (or model) and tokenizer files, README.md
(the model card), trainer_state.json and training_args.bin, checkpoint-N/ (the Trainer's checkpoints), best/ and
final/ (held-out evaluation's adapters, best.json), heldout/step-N.jsonl, completions/*.parquet (TRL's log), report/
(plots, samples.md) and runs/ (TensorBoard), plus `.tmp` files while writing atomically and LOCK_FILE while it runs.
"""
from __future__ import annotations

import fnmatch
import json
import os
import socket
import time
from pathlib import Path

from errors import UsageError

LOCK_FILE = ".run.lock"

# Top-level names a run writes. Files are matched by pattern; folders by name, then their contents by the patterns
# of FOLDER_FILES (None: the folder is the Trainer's or TensorBoard's own, any content).
RUN_FILES = [
    "run_config.json", "README.md", "trainer_state.json", "training_args.bin", LOCK_FILE, "*.tmp", "*.tmp.png",
    "adapter_config.json", "adapter_model.safetensors", "adapter_model.bin",  # LoRA
    "config.json", "generation_config.json", "model.safetensors", "model-*-of-*.safetensors",  # full fine-tuning
    "model.safetensors.index.json", "pytorch_model*.bin", "pytorch_model.bin.index.json",
    "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "added_tokens.json",
    "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json",
]
ADAPTER_FILES = ["adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "README.md", "best.json",
                 "*.tmp"]
FOLDER_FILES = {
    "checkpoint-*": None, "runs": None,
    "best": ADAPTER_FILES, "final": ADAPTER_FILES,
    "heldout": ["step-*.jsonl", "*.tmp"],
    "completions": ["completions_*.parquet"],
    "report": ["*.png", "*.md", "*.tmp"],
}
RECORDS = ("run_config.json", LOCK_FILE)  # a folder holding neither (nor a checkpoint) is not a run of ours


def matches(name: str, patterns) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _folder_rule(name: str):
    """The content patterns of a run's folder called `name`; KeyError when a run writes no such folder."""
    for pattern, files in FOLDER_FILES.items():
        if fnmatch.fnmatchcase(name, pattern):
            return files
    raise KeyError(name)


def foreign_entry(path: Path) -> Path | None:
    """The first entry of `path` that a run of ours did not write (searched one folder deep), else None."""
    for entry in sorted(path.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            try:
                files = _folder_rule(entry.name)
            except KeyError:
                return entry
            if files is not None:
                inner = next((p for p in sorted(entry.iterdir()) if p.is_dir() or not matches(p.name, files)), None)
                if inner is not None:
                    return inner
        elif not matches(entry.name, RUN_FILES):
            return entry
    return None


def is_run_of_ours(path: Path) -> bool:
    return any((path / name).is_file() for name in RECORDS) or any(path.glob("checkpoint-*/trainer_state.json"))


def check_overwrite(output_dir: Path, inputs: list[tuple[str, str | None]]) -> None:
    """Refuse `--overwrite_output_dir` where it would delete what is not a run's output: `.`, `/`, the home directory,
    the current directory or a parent of it, a folder holding a file we did not write, or one holding a file or folder
    the command reads (`inputs`: (flag, path) pairs, e.g. ("--dataset_id", "data/train.jsonl"); a reward file
    function "my_rewards.py:brevity" counts by its file). One line naming what is at stake."""
    path = Path(output_dir).expanduser().resolve()
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    flag = f"--overwrite_output_dir would delete --output_dir {output_dir}"
    if path == Path(path.anchor) or path == home or cwd == path or path in cwd.parents:
        what = ("the filesystem root" if path == Path(path.anchor) else "your home directory" if path == home
                else "the current directory" if path == cwd else "a parent of the current directory")
        raise UsageError(f"{flag}, which is {what}: pass a folder of its own, e.g. --output_dir ckpts/run")
    for name, value in inputs:
        if not value or not isinstance(value, str):
            continue
        source = Path(value.split(":")[0] if name == "--reward_funcs" else value).expanduser()
        if source.exists() and (source.resolve() == path or path in source.resolve().parents):
            raise UsageError(f"{flag}, which holds {name} {value} that this command reads: move it out of "
                             f"{output_dir}, or choose another --output_dir")
    if not path.is_dir():
        return
    foreign = foreign_entry(path)
    if foreign is not None:
        raise UsageError(f"{flag}, which holds {foreign.relative_to(path)}, not written by a run: move it out, or choose "
                         "another --output_dir (--overwrite_output_dir only removes a run's own files)")
    if any(path.iterdir()) and not is_run_of_ours(path):
        raise UsageError(f"{flag}, which holds files but no run record (run_config.json or a checkpoint): choose "
                         "another --output_dir, or empty it yourself")


def clear_run_output(output_dir: Path) -> list[str]:
    """Delete what a run wrote in `output_dir` (after `check_overwrite`), never the lock file of the run now holding
    it, nor anything else; returns the names deleted."""
    import shutil

    path = Path(output_dir)
    if not path.is_dir():
        return []
    deleted = []
    for entry in sorted(path.iterdir()):
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            try:
                files = _folder_rule(entry.name)
            except KeyError:
                continue
            if files is None:
                shutil.rmtree(entry)
            else:
                for inner in entry.iterdir():
                    if inner.is_file() and matches(inner.name, files):
                        inner.unlink()
                if not any(entry.iterdir()):
                    entry.rmdir()
        elif matches(entry.name, RUN_FILES):
            entry.unlink()
        else:
            continue
        deleted.append(entry.name)
    return deleted


# ----------------------------------------------------------------------------------------------------------------------
# One writer per output directory. flock: the kernel drops the lock when its process dies, however it dies, so a lock
# left by a killed run is never mistaken for a live one; the file's text only names the holder for the message.

class RunLock:
    """`with RunLock(output_dir):` the output directory is this process's until the block ends. A second run into it
    gets a UsageError naming the holder (pid, host, start time, command)."""

    def __init__(self, output_dir: Path, command: str = ""):
        self.dir, self.command = Path(output_dir), command
        self.path = self.dir / LOCK_FILE
        self.fd = None
        self.created_dir = False

    def __enter__(self):
        import fcntl

        self.created_dir = not self.dir.exists()
        self.dir.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                self._undo_dir()
                raise UsageError(f"--output_dir {self.dir} is in use by another run ({holder}): wait for it to "
                                 "finish, or choose another --output_dir") from None
            except OSError as err:  # a filesystem without locks (some network mounts): run, but say what is lost
                os.close(fd)
                self.path.unlink(missing_ok=True)
                print(f"warning: cannot lock {self.dir} ({err.strerror or err}): nothing stops a second run from "
                      "writing into it at the same time")
                return self
            # A holder that just finished may have removed the file we opened: lock the file that is there now.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "command": self.command}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(holder).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        self.release()

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still locked, so no other run holds this file meanwhile
        finally:
            os.close(self.fd)  # releases the flock
            self.fd = None
        self._undo_dir()

    def _undo_dir(self) -> None:
        """A directory this lock created and nothing else filled (a refused run) is removed: nothing half-written."""
        if self.created_dir:
            try:
                self.dir.rmdir()
            except OSError:
                pass


def _read_holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "a process that is starting"
    where = f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
    return where + (f": {holder['command']}" if holder.get("command") else "")
