"""The training benchmark as CI's smoke test: `python bench/bench_train.py --tiny --steps 2` runs both paths on CPU.

Not a timed test: it checks that our path and the bare TRL script both train and that the comparison is printed.
"""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli


@pytest.mark.slow
def test_bench_train_tiny_runs_both_paths():
    proc = run_cli("bench/bench_train.py", "--tiny", "--steps", "2", env={"OMP_NUM_THREADS": "1"}, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    lines = proc.stdout.strip().splitlines()
    assert re.fullmatch(r"ours/bare speed: \d+\.\d\dx", lines[-1]), lines[-1]
    assert "[bench_train] ours: done" in proc.stdout and "[bench_train] bare: done" in proc.stdout, output[-4000:]
    rows = {line.split()[0]: line.split() for line in lines if re.match(r"(ours|bare)\s+\d+\.\d{3}\s", line)}
    assert set(rows) == {"ours", "bare"}, proc.stdout[-3000:]
    assert all(float(row[1]) > 0 for row in rows.values())
    # TRL's default bf16 cannot run without a GPU: the bare script turns it off and says so.
    assert "bare: bf16=False" in proc.stdout


def test_gpu_check_says_up_front_when_there_is_no_gpu(tmp_path):
    if shutil.which("nvidia-smi"):
        pytest.skip("a GPU machine")
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh")], env={**os.environ, "OUT": str(tmp_path / "o")},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no NVIDIA GPU here" in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_bench_train_stops_its_runs_on_ctrl_c_and_cleans_up(tmp_path):
    """Ctrl-C (SIGINT) stops the stage running in its own process group and removes the temporary work directory."""
    import signal

    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "bench_train.py"), "--tiny", "--steps", "2"],
                            cwd=REPO, env={**os.environ, "TMPDIR": str(tmp_path)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            # Python's own Ctrl-C handling, even when pytest runs in the background (SIGINT ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "prepare: running" in line:
            break
    assert "no NVIDIA GPU here" in "".join(lines) or shutil.which("nvidia-smi")
    time.sleep(1)  # the stage has started
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130, proc.stdout.read()[-2000:]
    assert list(tmp_path.iterdir()) == [], "the temporary work directory is removed"
    leftovers = [p for p in Path("/proc").glob("[0-9]*") if str(tmp_path).encode() in _cmdline(p)]
    assert not leftovers, "the stage's process group is stopped"


def _cmdline(proc_dir: Path) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()
    except OSError:
        return b""
