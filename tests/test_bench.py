"""The training benchmark as CI's smoke test: `python bench/bench_train.py --tiny --steps 2` runs both paths on CPU.

Not a timed test: it checks that our path and the bare TRL script both train and that the comparison is printed.
"""
import re

import pytest

from conftest import run_cli


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
