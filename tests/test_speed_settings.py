"""Speed settings: gradient checkpointing chosen automatically (and recorded), and the CPU thread choice on busy
cores."""
import json
import re
import subprocess
import sys
import time

import pytest

from conftest import run_cli
from test_train import train_args


@pytest.mark.slow
def test_gradient_checkpointing_is_chosen_automatically_and_recorded(shared_run):
    """LoRA on a model far below 3B parameters: off, chosen automatically; the choice is printed and recorded."""
    speed = shared_run.config["speed_settings"]
    assert re.fullmatch(r"False \(auto: 0\.\d\dB parameters, LoRA\)", speed["gradient_checkpointing"]), speed
    assert speed["cache_implementation"] == "dynamic"  # CPU
    assert shared_run.config["training_args"]["gradient_checkpointing"] is False
    printed = [line for line in shared_run.proc.stdout.splitlines() if line.startswith("speed settings: ")]
    assert printed == [f"speed settings: gradient_checkpointing={speed['gradient_checkpointing']}, "
                       f"cache_implementation=dynamic"], printed


@pytest.mark.slow
def test_full_fine_tuning_turns_gradient_checkpointing_on(demo_dir, tmp_path):
    """Full fine-tuning (activations dominate memory): on, chosen automatically; one real step. (An explicit flag is
    recorded as such: see the Ctrl-C test's run.)"""
    out = tmp_path / "full"
    args = train_args(demo_dir, out, "--use_peft", "false", "--max_steps", "1", "--save_steps", "1",
                      "--learning_rate", "1e-5")
    at = args.index("--gradient_checkpointing")
    del args[at:at + 2]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / "run_config.json").read_text())
    assert re.fullmatch(r"True \(auto: 0\.\d\dB parameters, full fine-tuning\)",
                        config["speed_settings"]["gradient_checkpointing"]), config["speed_settings"]
    assert config["training_args"]["gradient_checkpointing"] is True


THREADS_PROBE = """
import runpy, sys
sys.argv = ["main.py", "--help"]
try:
    runpy.run_path("main.py", run_name="__main__")
except SystemExit:
    pass
import os, torch
print("OMP_NUM_THREADS:", os.environ.get("OMP_NUM_THREADS"))
print("torch threads:", torch.get_num_threads())
"""


def main_py_threads(env: dict) -> tuple[str | None, str | None, int]:
    """main.py started as a command (its --help, which loads nothing): the line it printed about CPU cores,
    OMP_NUM_THREADS, and the number of threads torch then uses in that process."""
    proc = run_cli("-c", THREADS_PROBE, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    chosen = [line for line in lines if "CPU cores are busy" in line]
    omp = lines[-2].split(": ")[1]
    return (chosen[0] if chosen else None), (None if omp == "None" else omp), int(lines[-1].split(": ")[1])


@pytest.mark.slow
def test_busy_cores_make_a_run_use_only_the_idle_ones(monkeypatch):
    """With every core kept busy by other processes, main.py says so and torch runs on one thread; OMP_NUM_THREADS,
    when the user sets it, is left alone and nothing is printed."""
    import psutil

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = psutil.cpu_count()
    # Other work, at the lowest priority so that it busies every core without slowing the probe much.
    spinner = "import os\nos.nice(19)\nwhile True: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spinner]) for _ in range(cores)]
    try:
        time.sleep(0.5)
        line, _, threads = main_py_threads({})
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    user_line, user_omp, _ = main_py_threads({"OMP_NUM_THREADS": "3"})
    chosen = re.fullmatch(r"(\d+) of (\d+) CPU cores are busy with other work: using (\d+) thread\(s\) "
                          r"\(set OMP_NUM_THREADS to choose\)", line or "")
    assert chosen, line
    busy, total, used = map(int, chosen.groups())
    assert total == cores and busy >= 1 and used == max(1, cores - busy)
    assert threads == used, "torch must use the number of threads the line announces"
    assert user_line is None and user_omp == "3", "the user's OMP_NUM_THREADS is left alone"
