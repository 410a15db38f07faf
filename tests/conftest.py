"""Shared test setup: everything runs offline, and the offline demo is built once per session.

The demo (`python main.py --demo`) leaves a tiny base model, synthetic data and a GRPO LoRA adapter;
the training, evaluation and multi-process tests all reuse those fixtures instead of touching a hub.
"""
import os
import subprocess
import sys
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
