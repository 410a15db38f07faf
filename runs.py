"""A run's records on disk: `run_config.json` (what a run was, read back by eval.py and report.py), atomic writes,
writable output paths, and which checkpoints are complete. Shared by train.py, eval.py and report.py; imports nothing
of ours but errors."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from errors import UsageError

RUN_CONFIG = "run_config.json"


def read_json(path: Path) -> dict:
    """The JSON object in `path`, or {} when it is missing or unreadable."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, value) -> None:
    write_atomically(path, json.dumps(value, indent=2, default=str))


def read_record(path: Path, fix: str) -> dict:
    """The JSON object in `path`, {} when there is no such file; a damaged one is a UsageError that names it and
    says `fix` (read as {}, a run record would silently lose its prompt settings or its 'finished' mark)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text())
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise UsageError(f"{path} is damaged (not a JSON object): {fix}")
    return value


RUN_CONFIG_FIX = ("restore it from a copy; without one, eval.py needs the run's settings as flags (--system_prompt, "
                  "--reward_funcs, ...) and main.py --overwrite_output_dir trains the run afresh")


def read_run_config(model_dir: Path) -> dict:
    """The run_config.json of a run directory, or of the run a `checkpoint-N`, `final` or `best` directory belongs
    to; {} if none."""
    model_dir = Path(model_dir).expanduser()
    run = read_record(model_dir / RUN_CONFIG, RUN_CONFIG_FIX)
    if not run and (model_dir.name.startswith("checkpoint-") or model_dir.name in ("final", "best")):
        run = read_record(model_dir.parent / RUN_CONFIG, RUN_CONFIG_FIX)
    return run


def is_finished_run(output_dir: Path) -> bool:
    return bool(read_record(Path(output_dir) / RUN_CONFIG, RUN_CONFIG_FIX).get("finished", False))


def absolute(name: str | None) -> str | None:
    """A local path made absolute (run_config.json and the eval settings then point to it from any working
    directory); a hub id as it is."""
    path = Path(name).expanduser() if name else None
    return str(path.resolve()) if path is not None and path.exists() else name


def check_writable(path: Path, flag: str, directory: bool) -> None:
    """Refuse, before any long work, an output path that cannot be written: a file where a directory is expected
    (or the reverse), a path below a file, or a read-only directory."""
    path = Path(path).expanduser()
    if path.is_dir() and not directory:
        raise UsageError(f"{flag} {path} is a directory: pass a file path, e.g. {path / 'result.json'}")
    if path.exists() and not path.is_dir() and directory:
        raise UsageError(f"{flag} {path} is a file, not a directory: choose another {flag}")
    where = path if directory and path.is_dir() else path.parent
    while not where.exists() and where != where.parent:
        where = where.parent
    if not where.is_dir():
        raise UsageError(f"{flag} {path} cannot be created: {where} is a file, not a directory")
    if not os.access(where, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path} cannot be written: no write permission in {where}; choose another {flag}")


def slug(text: str) -> str:
    """`text` as a file-name part: letters, digits and . = - kept, '%' spelled 'pct', anything else one '_'."""
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", text.replace("%", "pct")).strip("_")


def model_slug(model_dir: str) -> str:
    """A model's part of a result file name: a directory inside a run (checkpoint-N, final, best) keeps its run's
    name, so two runs' checkpoints never share a result file."""
    path = Path(model_dir).expanduser()
    inside_run = path.name.startswith("checkpoint-") or path.name in ("final", "best")
    return slug("-".join(path.parts[-2:] if inside_run else path.parts[-1:]))


def checkpoint_step(path: Path) -> int | None:
    name = Path(path).name
    step = name.removeprefix("checkpoint-")
    return int(step) if name.startswith("checkpoint-") and step.isdigit() else None


def last_complete_checkpoint(output_dir: Path) -> str | None:
    """The newest `checkpoint-N` that was fully written (the Trainer writes trainer_state.json last), so a run
    killed while saving resumes from the previous checkpoint instead of crashing on a half-written one."""
    steps = [step for p in Path(output_dir).glob("checkpoint-*")
             if (step := checkpoint_step(p)) is not None and (p / "trainer_state.json").is_file()]
    return str(Path(output_dir) / f"checkpoint-{max(steps)}") if steps else None


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "deepspeed", "math-verify",
                 "bitsandbytes"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions
