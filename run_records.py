"""Reading a run: its logged figures (`trainer_state.json`: the directory's own, else its newest complete
`checkpoint-N/`), its run_config.json, the held-out evaluations, and the figures a reader is shown from them (the
plots, the model card, the end-of-run summary and the run doctor all read a run through here)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from errors import UsageError
from runs import checkpoint_step, last_complete_checkpoint, read_json, read_run_config

RUN_OUTCOME = ("finished", "best_step", "best_accuracy", "final_step", "wall_time_s")  # written when a run ends
EVAL_KEYS = ("eval/accuracy", "eval/format", "eval/completion_length", "eval/truncated_fraction")


@dataclass
class Run:
    directory: Path  # what the user named: a run's --output_dir or one checkpoint-N directory
    state_path: Path  # the trainer_state.json the figures come from
    state: dict
    config: dict  # run_config.json; {} when missing

    @property
    def history(self) -> list[dict]:
        return [entry for entry in self.state.get("log_history", []) if isinstance(entry, dict)]

    @property
    def step(self) -> int:
        return int(self.state.get("global_step") or 0)

    @property
    def max_steps(self) -> int | None:
        return self.state.get("max_steps") or None

    @property
    def finished(self) -> bool:
        """A finished run's own directory; a checkpoint of it, or a run still training, is not."""
        return bool(self.config.get("finished")) and checkpoint_step(self.directory) is None

    @property
    def reward_keys(self) -> list[str]:
        return reward_keys(self.history, self.config.get("reward_funcs") or ())

    @property
    def progress(self) -> str:
        """'training finished after 120 steps', 'checkpoint at step 60 of 120', or for a run still going (or
        stopped) 'training not finished: step 60 of 120'."""
        total = f" of {self.max_steps}" if self.max_steps else ""
        if checkpoint_step(self.directory) is not None:
            return f"checkpoint at step {self.step}{total}"
        if self.finished:
            return f"training finished after {self.step} steps"
        return f"training not finished: step {self.step}{total}"


def find_trainer_state(directory: Path) -> Path:
    """The trainer_state.json with the most steps among `directory`'s own and its complete checkpoints'.

    The Trainer writes trainer_state.json last when it saves a checkpoint, so a readable one marks a complete
    checkpoint; one being written right now fails to parse and is passed over."""
    candidates = [directory / "trainer_state.json", *directory.glob("checkpoint-*/trainer_state.json"),
                  directory / "final" / "trainer_state.json"]
    readable = [(read_json(path).get("global_step"), path) for path in candidates if path.is_file()]
    damaged = [path for step, path in readable if not isinstance(step, int)]
    readable = [(step, path) for step, path in readable if isinstance(step, int)]
    own = directory / "trainer_state.json"
    if own in damaged:  # the finished run's own record: falling back to a checkpoint would report fewer steps
        raise UsageError(f"{own} is damaged (not a complete trainer state): restore it, or delete it to report "
                         "from the newest complete checkpoint-N/")
    if damaged and not readable:
        raise UsageError(f"{damaged[0]} is damaged (not a complete trainer state) and no other checkpoint is "
                         "complete: re-run training with the same command to save a new checkpoint")
    if not readable:
        raise UsageError(f"no trainer_state.json in {directory} or its checkpoint-N/ directories: point report.py at a "
                         "training --output_dir that has saved at least one checkpoint (see --save_steps)")
    # max() keeps the first of equal steps: the directory's own state wins over a checkpoint's copy of it
    return max(readable, key=lambda item: item[0])[1]


def load_run(output_dir: str | Path) -> Run:
    directory = Path(output_dir).expanduser()
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory: pass a training --output_dir or one of its checkpoint-N "
                         "directories")
    state_path = find_trainer_state(directory)
    config = read_run_config(directory)
    if checkpoint_step(directory) is not None:  # a checkpoint has its own step; the run's outcome is not its own
        config = {k: v for k, v in config.items() if k not in RUN_OUTCOME}
    run = Run(directory, state_path, read_json(state_path), config)
    if not any(as_number(entry.get("reward")) is not None or _eval_entry(entry) for entry in run.history):
        raise UsageError(f"{state_path} has no logged training steps yet: run report.py again after the first "
                         "--logging_steps steps have been saved in a checkpoint")
    return run


def as_number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _eval_entry(entry: dict) -> bool:
    return as_number(entry.get("eval/accuracy")) is not None


def series(history: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of every log entry holding a finite number under `key`."""
    steps, values = [], []
    for entry in history:
        value = as_number(entry.get(key))
        if value is not None:
            steps.append(int(entry.get("step", len(steps))))
            values.append(value)
    return steps, values


def reward_keys(history: list[dict], order=()) -> list[str]:
    """The `rewards/<function>/mean` keys, in the order of the run's --reward_funcs (`order`) when it is known."""
    keys = []
    for entry in history:
        keys += [k for k in entry if k.startswith("rewards/") and k.endswith("/mean") and k not in keys]
    order = [str(name) for name in order]

    def rank(key):
        function = key.split("/")[1]
        return next((i for i, name in enumerate(order) if function.startswith(name)), len(order)), key
    return sorted(keys, key=rank)


def short_name(key: str) -> str:
    """rewards/accuracy_reward/mean -> accuracy: the name a user passed to --reward_funcs."""
    return key.split("/")[1].removesuffix("_reward")


def window(count: int) -> int:
    """How many logged steps 'first' and 'last' average over: a quarter of the log, 1 to 10 entries."""
    return max(1, min(10, count // 4))


def first_last(history: list[dict], key: str) -> tuple[float, float, int] | None:
    _, values = series(history, key)
    if not values:
        return None
    k = window(len(values))
    return sum(values[:k]) / k, sum(values[-k:]) / k, k


@dataclass
class Heldout:
    steps: list[int]
    accuracy: list[float]
    by_step: dict  # step -> the eval entry logged at that step
    before: int  # steps of the first, best and last evaluations
    best: int
    last: int


def heldout(run: Run) -> Heldout | None:
    """Held-out evaluations in the log; the best is the run's recorded best_step, else the first highest accuracy."""
    steps, accuracy = series(run.history, "eval/accuracy")
    if not steps:
        return None
    by_step = {}
    for entry in run.history:
        if _eval_entry(entry):
            by_step[int(entry.get("step", 0))] = entry
    recorded = run.config.get("best_step")
    best = recorded if recorded in by_step else steps[accuracy.index(max(accuracy))]
    return Heldout(steps, accuracy, by_step, steps[0], best, steps[-1])


def fmt(value, digits: int = 3) -> str:
    number = as_number(value)
    if number is None:
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if abs(number) >= 10:
        return f"{number:.1f}"
    return f"{number:.{digits}f}" if abs(number) >= 10 ** -digits or number == 0 else f"{number:.2e}"


def duration(seconds) -> str:
    seconds = as_number(seconds)
    if seconds is None:
        return "not recorded"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def wall_time(run: Run) -> float | None:
    recorded = as_number(run.config.get("wall_time_s"))
    if recorded is not None and checkpoint_step(run.directory) is None:
        return recorded
    _, runtime = series(run.history, "train_runtime")
    return runtime[-1] if runtime else None


def option(run: Run, name: str):
    for section in ("training_args", "script_args", "model_args"):
        values = run.config.get(section) or {}
        if name in values:
            return values[name]
    return run.config.get(name)


def adapter_dir(run: Run) -> Path | None:
    """What a user loads from this run: the directory itself when it is a finished run, a checkpoint or holds an
    adapter (or model), else the newest complete checkpoint (a run interrupted or still training), else None."""
    if run.finished or checkpoint_step(run.directory) is not None or any(
            (run.directory / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin",
                                                          "model.safetensors")):
        return run.directory
    newest = last_complete_checkpoint(run.directory)
    return Path(newest) if newest else None


def never_beat_start(run: Run) -> bool:
    """Held-out accuracy never rose above step 0's, so the adapter kept in the directory is step 0's."""
    best, final = run.config.get("best_step"), run.config.get("final_step")
    return best == 0 and final not in (None, 0)


def start_name(run: Run) -> str:
    init = run.config.get("init_adapter")
    return f"the adapter it continued ({init})" if init else "the base model"
