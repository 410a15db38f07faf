"""Ctrl-C: one line saying what to do, exit status 130, no traceback, in main.py and eval.py."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from test_train import train_args


def start(argv, **kwargs) -> subprocess.Popen:
    """A process in its own group with Python's default Ctrl-C handling (a background CI job may inherit SIGINT
    ignored), so that a Ctrl-C can be sent to the whole group as a terminal does."""
    return subprocess.Popen([sys.executable, *map(str, argv)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


def ctrl_c_when(proc: subprocess.Popen, ready, what: str, timeout: float = 300) -> tuple[str, str]:
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None, f"ended before {what}: {proc.communicate()[1][-2000:]}"
            assert time.monotonic() < deadline, f"no {what} in time"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        return proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def last_message(stderr: str) -> str:
    """The last whole line that is not a progress bar (tqdm redraws with carriage returns and closes at exit)."""
    lines = [line for line in stderr.split("\n") if line.strip() and "%|" not in line]
    return lines[-1] if lines else ""


@pytest.mark.slow
def test_ctrl_c_in_training_says_how_to_resume(demo_dir, tmp_path):
    out = tmp_path / "run"
    proc = start(train_args(demo_dir, out, "--max_steps", "500"))
    _, stderr = ctrl_c_when(proc, lambda: (out / "checkpoint-2" / "trainer_state.json").is_file(), "checkpoint-2")
    assert proc.returncode == 130, stderr[-2000:]
    assert last_message(stderr) == "interrupted: re-run the same command to resume from the last checkpoint"
    assert "Traceback" not in stderr, stderr[-3000:]
    config = json.loads((out / "run_config.json").read_text())
    assert config["finished"] is False
    assert config["speed_settings"]["gradient_checkpointing"] == "False (flag)"  # train_args: --gradient_checkpointing false


@pytest.mark.slow
def test_ctrl_c_in_eval_says_where_the_finished_batches_are(demo_dir, tmp_path):
    result = tmp_path / "result.json"
    partial = Path(f"{result}.partial.jsonl")
    proc = start(["eval.py", "--model_dir", demo_dir / "adapter", "--dataset_id", demo_dir / "data" / "test.jsonl",
                  "--split", "test", "--batch_size", "2", "--max_completion_length", "32", "--output_file", result])
    _, stderr = ctrl_c_when(proc, lambda: partial.exists() and len(partial.read_text().splitlines()) >= 2,
                            "a finished batch")
    assert proc.returncode == 130, stderr[-2000:]
    assert last_message(stderr) == f"interrupted: finished batches are kept in {partial}; re-run the same command to resume"
    assert "Traceback" not in stderr, stderr[-3000:]
    assert partial.is_file() and not result.exists()
