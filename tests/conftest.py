"""Shared test setup: everything runs offline, and the offline demo is built once per session.

The demo (`python main.py --demo`) leaves a tiny base model, synthetic data and a GRPO LoRA adapter;
the training, evaluation and multi-process tests all reuse those fixtures instead of touching a hub.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Nothing in the suite may reach a model or dataset hub.
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def run_cli(*args, cwd=REPO, env=None, timeout=900):
    """Run a repo script (e.g. `main.py`) in a fresh interpreter, as a user would; returns CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def error_line(stderr: str) -> str:
    """The one `error:` line a refused command printed, asserting there is exactly one and no traceback. Other
    lines a library may add (a new release's notice) are not ours to test; the one-line rule is about our error."""
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return errors[0]


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """Run the offline demo once; returns (output_dir, completed_process).

    Developers iterating on one test can reuse an earlier demo with `REUSE_DEMO_DIR=ckpts/demo pytest ...`
    (the process is then None and the demo's own end-to-end test is skipped).
    """
    if os.environ.get("REUSE_DEMO_DIR"):
        return Path(os.environ["REUSE_DEMO_DIR"]).resolve(), None
    out = tmp_path_factory.mktemp("demo")
    proc = run_cli("main.py", "--demo", "--output_dir", out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


@pytest.fixture(scope="session")
def demo_dir(demo):
    return demo[0]


@pytest.fixture(autouse=True)
def _restore_environment():
    """In-process runs set variables for their own process (train.py points TENSORBOARD_LOGGING_DIR at its run's
    folder): put os.environ back after each test, so a later test's subprocesses don't inherit another run's."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


# ----------------------------------------------------------------------------------------------------------------------
# The shared training run

GENERATION_BATCH = 8  # train_args: --batch_size 8 in one process, no accumulation


# A user's reward file: weight 0 in the shared run, it only keeps what the policy wrote at each step, so that the
# logged diagnostics can be recomputed from the completions themselves.
RECORDER = '''
import json
from pathlib import Path


def record(completions, trainer_state=None, **kwargs):
    """0.0 always; appends the training completions with the step they are generated for."""
    if trainer_state is not None:
        with open(Path(__file__).with_name("completions.jsonl"), "a") as f:
            texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
            f.write(json.dumps({"step": trainer_state.global_step + 1, "completions": texts}) + "\\n")
    return [0.0] * len(completions)
'''


def wandb_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("wandb") is not None


def shared_run_args(demo_dir, output_dir, *extra):
    """train_args without --gradient_checkpointing (left to the tool), with held-out evaluation and the recorder."""
    from test_train import train_args

    args = train_args(demo_dir, output_dir, "--save_total_limit", "5", "--logging_steps", "1",
                      "--eval_dataset_id", demo_dir / "data" / "val.jsonl", "--eval_split", "test",
                      "--eval_max_samples", "8", "--eval_steps", "2",
                      "--reward_funcs", "format", "accuracy", "my_rewards.py:record", "--reward_weights", "1", "1", "0",
                      "--report_to", "wandb" if wandb_installed() else "tensorboard", *extra)
    at = args.index("--gradient_checkpointing")
    del args[at:at + 2]
    args[0] = REPO / "main.py"
    return args


@pytest.fixture(scope="session")
def shared_run(demo_dir, tmp_path_factory):
    """One 4-step run on the demo fixtures (held-out evaluation, a user's reward file given by a relative path,
    gradient checkpointing left to the tool, W&B offline when wandb is installed) that several test files read."""
    work = tmp_path_factory.mktemp("shared_run")
    (work / "my_rewards.py").write_text(RECORDER)
    out = work / "run"
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(work)}
    start = time.monotonic()
    proc = run_cli(*shared_run_args(demo_dir, out), cwd=work, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"\nshared run: {time.monotonic() - start:.1f} s")
    return SimpleRun(work, out, proc)


class SimpleRun:
    def __init__(self, work: Path, out: Path, proc):
        self.work, self.out, self.proc = work, out, proc
        self.config = json.loads((out / "run_config.json").read_text())
        self.history = json.loads((out / "trainer_state.json").read_text())["log_history"]
