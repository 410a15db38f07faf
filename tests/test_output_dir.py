"""The output directory: --overwrite_output_dir removes only what a run of ours wrote there (never the current
directory, home, /, a user's file or the data the command reads), and one run at a time holds it (the lock)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from errors import UsageError
from output_dir import LOCK_FILE, RunLock, check_overwrite, clear_run_output


def plant_run(path: Path) -> Path:
    """The files a finished LoRA run with held-out evaluation leaves (names as train.py, TRL and report.py write)."""
    for name in ["run_config.json", "README.md", "adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
                 "tokenizer_config.json", "chat_template.jinja", "trainer_state.json", "training_args.bin",
                 "checkpoint-2/trainer_state.json", "checkpoint-2/optimizer.pt", "best/best.json",
                 "best/adapter_model.safetensors", "final/adapter_config.json", "heldout/step-0.jsonl",
                 "completions/completions_00001.parquet", "report/rewards.png", "report/samples.md",
                 "runs/events.out.tfevents.1.host"]:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text("x")
    return path


def error_lines(proc) -> list[str]:
    """The `error:` lines (a library may add its own line to stderr: only ours are asserted on)."""
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# (output_dir relative to the working directory, what is planted there, inputs, words the refusal must say, what must
# survive)
REFUSED = [
    (".", "notes.txt", [], "the current directory", "notes.txt"),
    ("..", "work/notes.txt", [], "a parent of the current directory", "work/notes.txt"),
    ("run", "run/notes.txt", [], "holds notes.txt", "run/notes.txt"),
    ("run", "run/report/mine.csv", [], "report/mine.csv", "run/report/mine.csv"),
    ("run", "run/data/train.jsonl", [("--dataset_id", "run/data/train.jsonl")], "--dataset_id run/data/train.jsonl",
     "run/data/train.jsonl"),
    ("run", "run/checkpoint-2/adapter_model.safetensors", [("--model_id", "run/checkpoint-2")],
     "--model_id run/checkpoint-2", "run/checkpoint-2/adapter_model.safetensors"),
    ("run", "run/my_rewards.py", [("--reward_funcs", "run/my_rewards.py:brevity")], "--reward_funcs", "run/my_rewards.py"),
    ("run", "run/config.json", [], "no run record", "run/config.json"),  # a model folder: our names, not our run
]


@pytest.mark.parametrize("output_dir, planted, inputs, says, survives", REFUSED)
def test_overwrite_refuses_what_a_run_did_not_write(in_tmp, output_dir, planted, inputs, says, survives):
    work = in_tmp / "work"
    work.mkdir()
    os.chdir(work)  # ".." is then in_tmp, a parent of the working directory
    base = work if output_dir != ".." else in_tmp
    (base / planted).parent.mkdir(parents=True, exist_ok=True)
    (base / planted).write_text("the user's")
    if output_dir == "run" and "record" not in says:
        plant_run(work / "run")
    with pytest.raises(UsageError) as err:
        check_overwrite(Path(output_dir), inputs)
    message = str(err.value)
    assert says in message and "\n" not in message, message
    assert (base / survives).read_text() == "the user's"


def test_overwrite_refuses_root_and_home(in_tmp):
    for path, says in [("/", "root"), (str(Path.home()), "home")]:
        with pytest.raises(UsageError, match=says):
            check_overwrite(Path(path), [])


def test_overwrite_clears_a_run_and_keeps_nothing_else(in_tmp):
    run = plant_run(in_tmp / "run")
    (run / LOCK_FILE).write_text("{}")
    check_overwrite(run, [("--dataset_id", str(in_tmp / "train.jsonl"))])  # data outside: allowed
    deleted = clear_run_output(run)
    assert "run_config.json" in deleted and "checkpoint-2" in deleted
    assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE]  # the lock of the run now holding the folder stays
    check_overwrite(in_tmp / "new", [])  # a folder that does not exist yet: nothing to refuse


def test_overwrite_from_the_command_line_keeps_the_current_directory(tmp_path):
    """The reported data loss: `--output_dir . --overwrite_output_dir` from a project folder."""
    (tmp_path / "notes.txt").write_text("keep me")
    (tmp_path / "train.jsonl").write_text('{"problem": "1+1", "solution": "2"}\n')
    proc = run_cli(REPO / "main.py", "--output_dir", ".", "--overwrite_output_dir", "--dataset_id", "train.jsonl",
                   "--model_id", "/nonexistent-model", cwd=tmp_path, timeout=300)
    assert proc.returncode == 2 and len(error_lines(proc)) == 1, proc.stderr[-2000:]
    assert "current directory" in error_lines(proc)[0] and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "train.jsonl"]


def test_second_writer_gets_one_line_naming_the_holder(tmp_path):
    with RunLock(tmp_path / "run", "main.py --output_dir run"):
        assert (tmp_path / "run" / LOCK_FILE).is_file()
        with pytest.raises(UsageError) as err:
            with RunLock(tmp_path / "run"):
                pass
        assert f"pid {os.getpid()}" in str(err.value) and "main.py --output_dir run" in str(err.value)
        assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()  # the lock made the folder and nothing else filled it: gone again
    with RunLock(tmp_path / "run"):  # released on exit: the next run takes it
        pass


HOLD = ("import sys, time; sys.path.insert(0, sys.argv[1]); from output_dir import RunLock; "
        "lock = RunLock(sys.argv[2], 'holder').__enter__(); print('held', flush=True); time.sleep(600)")


def test_lock_of_a_killed_run_is_free_and_a_live_one_refuses_the_cli(tmp_path):
    """Two processes: a live holder refuses `main.py` into its folder in one line; once it is killed (no cleanup
    runs), its stale lock file no longer holds anyone back."""
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(REPO), str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = run_cli(REPO / "main.py", "--output_dir", run, "--dataset_id", tmp_path / "missing.jsonl", timeout=300)
        assert proc.returncode == 2 and "in use by another run" in error_lines(proc)[0], proc.stderr[-2000:]
        assert f"pid {holder.pid}" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (run / LOCK_FILE).is_file()  # left behind by the killed process ...
    with RunLock(run):  # ... and recognised as stale: the kernel dropped its flock
        pass


def test_training_never_deletes_the_data_it_reads(demo_dir, tmp_path, capsys):
    """The reported case, in-process: --output_dir is the folder holding the training file."""
    import main

    run = tmp_path / "run"
    run.mkdir()
    data = run / "train.jsonl"
    shutil.copy(demo_dir / "data" / "train.jsonl", data)
    argv = ["--model_id", demo_dir / "base_model", "--dataset_id", data, "--output_dir", run, "--overwrite_output_dir",
            "--max_steps", "1", "--batch_size", "4", "--num_generations", "4", "--report_to", "none"]
    assert main.main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert len([l for l in err.splitlines() if l.startswith('error:')]) == 1 and f"--dataset_id {data}" in err, err
    assert data.read_bytes() == (demo_dir / "data" / "train.jsonl").read_bytes()


@pytest.mark.parametrize("planted, refused", [
    ("data/my_problems.csv", True),  # a user's own data/ folder: the demo would write its files into it
    ("base_model/notes.txt", True),
    ("adapter/notes.txt", True),  # the demo's training would clear adapter/
    ("report.txt", False),  # beside the demo's folders, untouched: --overwrite_output_dir lets the demo write there
])
def test_demo_replaces_only_an_earlier_demo(tmp_path, planted, refused):
    from demo import check_demo_dir

    out = tmp_path / "demo"
    for name in ["data/train.jsonl", "base_model/config.json", "eval_base.json"]:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    plant_run(out / "adapter")
    (out / planted).parent.mkdir(parents=True, exist_ok=True)
    (out / planted).write_text("the user's")
    if refused:
        with pytest.raises(UsageError, match=planted.split("/")[-1]):
            check_demo_dir(out, overwrite=True)
    else:
        check_demo_dir(out, overwrite=True)
    assert (out / planted).read_text() == "the user's"


@pytest.mark.slow
def test_overwrite_replaces_an_earlier_run_and_its_best_adapter(demo_dir, tmp_path):
    """A real run over an earlier one: the earlier run's files go (a user's file beside them would have refused it),
    and the best adapter of the earlier run (best/best.json: step 999, accuracy 1.0) is not carried into the new run."""
    import main

    run = plant_run(tmp_path / "run")
    (run / "best" / "best.json").write_text(json.dumps({"step": 999, "accuracy": 1.0}))
    (run / "run_config.json").write_text(json.dumps({"finished": True}))
    argv = ["--model_id", demo_dir / "base_model", "--dataset_id", demo_dir / "data" / "train.jsonl",
            "--output_dir", run, "--overwrite_output_dir", "--max_steps", "2", "--batch_size", "4",
            "--num_generations", "4", "--max_completion_length", "8", "--report_to", "none", "--save_steps", "2",
            "--eval_dataset_id", demo_dir / "data" / "val.jsonl", "--eval_max_samples", "4", "--eval_steps", "1",
            "--lora_target_modules", "all-linear"]
    assert main.main([str(a) for a in argv]) == 0
    config = json.loads((run / "run_config.json").read_text())
    assert config["finished"] and config["best_step"] in (0, 1, 2)
    assert json.loads((run / "best" / "best.json").read_text())["step"] == config["best_step"]
    assert (run / "heldout" / "step-0.jsonl").read_text() != "x"  # this run's evaluation, not the planted file
    assert not (run / "runs" / "events.out.tfevents.1.host").exists()  # the earlier run's logs went
    assert not (run / LOCK_FILE).exists()
