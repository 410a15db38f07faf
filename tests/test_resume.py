"""Resuming: from a given --resume_from_checkpoint directory (continuing it exactly), and the wall time that counts
the time before the resume."""
import json
import os
import time

import pytest
import torch

from conftest import run_cli, shared_run_args


@pytest.mark.slow
def test_resume_from_a_given_checkpoint_continues_it_exactly(shared_run, demo_dir, tmp_path):
    """Another --output_dir, the same settings, `--resume_from_checkpoint <run>/checkpoint-2`: training continues at
    step 3, the history before it is the checkpoint's, and step 4's adapter equals the uninterrupted run's."""
    from safetensors.torch import load_file

    out = tmp_path / "resumed"
    checkpoint = shared_run.out / "checkpoint-2"
    proc = run_cli(*shared_run_args(demo_dir, out, "--resume_from_checkpoint", checkpoint, "--report_to", "none"),
                   cwd=shared_run.work)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Resuming from checkpoint-2" in proc.stdout
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4]
    before = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]
    assert state["log_history"][:len(before)] == before
    got = load_file(str(out / "checkpoint-4" / "adapter_model.safetensors"))
    expected = load_file(str(shared_run.out / "checkpoint-4" / "adapter_model.safetensors"))
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in got), "the resumed run did not continue the same training"


def test_wall_time_counts_the_time_before_a_resume(tmp_path):
    import train

    checkpoint = tmp_path / "checkpoint-2"
    checkpoint.mkdir()
    (tmp_path / "run_config.json").write_text(json.dumps({"started_at": time.time() - 100}))
    (checkpoint / "trainer_state.json").write_text("{}")
    os.utime(checkpoint / "trainer_state.json", (time.time() - 40, time.time() - 40))
    assert train.time_before(str(checkpoint)) == pytest.approx(60, abs=2)
    assert train.time_before(None) == 0
