"""report.py: plots and a model card from a real short GRPO run (finished and mid-run), from a run with held-out
evaluation (a synthetic log with the eval keys train.py logs), and one error line when there is nothing to report."""
import json
import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import plots
import report
import run_records
from conftest import REPO, run_cli
from helpers import one_error_line

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SYSTEM_PROMPT = "Think in <think></think>, then answer in <answer>\\boxed{}</answer>."


@pytest.fixture(scope="module")
def short_run(demo_dir, tmp_path_factory):
    """One 4-step GRPO run on the demo fixtures with checkpoints at steps 2 and 4; returns (output_dir, command)."""
    out = tmp_path_factory.mktemp("report") / "run"
    args = ["--model_id", demo_dir / "base_model", "--dataset_id", demo_dir / "data" / "train.jsonl",
            "--output_dir", out, "--max_steps", "4", "--batch_size", "8", "--num_generations", "4",
            "--max_completion_length", "16", "--lora_target_modules", "all-linear", "--gradient_checkpointing", "false",
            "--report_to", "none", "--save_steps", "2", "--logging_steps", "1", "--system_prompt", SYSTEM_PROMPT]
    proc = run_cli("main.py", *args, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert (out / "checkpoint-2" / "trainer_state.json").is_file()
    return out, demo_dir


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def assert_valid_plots(report_dir: Path, expected: set[str]) -> None:
    from matplotlib.image import imread

    assert {p.name for p in report_dir.glob("*.png")} == expected
    for path in report_dir.glob("*.png"):
        width, height = png_size(path)
        assert width >= 300 and height >= 200, (path, width, height)
        assert 5_000 < path.stat().st_size < 150_000, (path, path.stat().st_size)
        pixels = imread(path)
        assert pixels.shape[:2] == (height, width)
        assert pixels.std() > 0.01, f"{path} is blank"
    assert not list(report_dir.glob("*.tmp*")), "temporary files left behind"


@pytest.mark.slow
def test_report_on_finished_run(short_run):
    out, demo_dir = short_run
    proc = run_cli("report.py", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_valid_plots(out / "report", {"rewards.png", "completions.png", "training.png"})

    card = (out / "README.md").read_text()
    assert str(demo_dir / "base_model") in card
    assert str(demo_dir / "data" / "train.jsonl") in card
    for name in ("`format`", "`accuracy`"):
        assert name in card
    assert "AutoPeftModelForCausalLM.from_pretrained" in card
    assert "python eval.py --model_dir" in card
    assert "training finished after 4 steps" in card
    assert "](report/rewards.png)" in card and "](report/training.png)" in card
    assert "heldout.png" not in card and "No held-out evaluation" in card
    assert "This model is a fine-tuned version of" not in card  # ours replaced TRL's card

    # the terminal summary: where the adapter is, how rewards moved, where the report is
    assert "Training finished after 4 steps" in proc.stdout
    assert f"adapter:  {out}" in proc.stdout
    assert "format " in proc.stdout and " -> " in proc.stdout
    assert f"{out / 'report'}/" in proc.stdout


@pytest.mark.slow
def test_card_records_command_and_peft_snippet_runs(short_run, tmp_path):
    """The card shows the command line train.py records, and its PEFT snippet loads the adapter and generates."""
    out, _ = short_run
    run = tmp_path / "run"
    shutil.copytree(out, run, ignore=shutil.ignore_patterns("checkpoint-*", "report", "trainer_state.json"))
    config = json.loads((run / "run_config.json").read_text())
    config.update(command="python main.py --max_steps 4 --output_dir ckpts/x", wall_time_s=75.4, hardware="2 CPU cores")
    (run / "run_config.json").write_text(json.dumps(config))
    with pytest.raises(report.UsageError, match="no trainer_state.json"):
        report.write_report(run)  # the checkpoints held the only trainer_state.json
    shutil.copy(out / "checkpoint-4" / "trainer_state.json", run)

    report_dir = report.write_report(run)
    assert report_dir == run / "report"
    card = (run / "README.md").read_text()
    assert "python main.py --max_steps 4 --output_dir ckpts/x" in card
    assert "1m 15s" in card and "2 CPU cores" in card

    snippet = card.split("```python\n")[1].split("```")[0]
    proc = subprocess.run([sys.executable, "-c", snippet], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_report_mid_run_and_on_a_checkpoint(short_run, tmp_path):
    """While training runs, the output dir has only checkpoints: the newest complete one is used; a checkpoint
    directory gets its own report."""
    out, _ = short_run
    mid = tmp_path / "mid"
    mid.mkdir()
    shutil.copytree(out / "checkpoint-2", mid / "checkpoint-2")
    shutil.copy(out / "run_config.json", mid)
    (mid / "checkpoint-4").mkdir()  # a checkpoint being written: no trainer_state.json yet
    (mid / "checkpoint-4" / "adapter_model.safetensors").write_bytes(b"partial")
    config = json.loads((mid / "run_config.json").read_text())
    (mid / "run_config.json").write_text(json.dumps({**config, "finished": False}))

    proc = run_cli("report.py", mid)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Training not finished: step 2 of 4" in proc.stdout
    card = (mid / "README.md").read_text()
    assert "step 2 of 4" in card and "checkpoint-2/trainer_state.json" in card
    assert_valid_plots(mid / "report", {"rewards.png", "completions.png", "training.png"})

    checkpoint = mid / "checkpoint-2"
    report_dir = report.write_report(checkpoint)
    assert report_dir == checkpoint / "report"
    assert_valid_plots(report_dir, {"rewards.png", "completions.png", "training.png"})
    card = (checkpoint / "README.md").read_text()
    assert "checkpoint at step 2 of 4" in card
    assert f"model_dir = {str(checkpoint)!r}" in card


@pytest.mark.parametrize("make", [lambda d: d / "missing", lambda d: d])
def test_error_without_trainer_state(tmp_path, make):
    target = make(tmp_path)
    proc = run_cli("report.py", target)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(target) in lines[0], proc.stderr
    assert not (tmp_path / "README.md").exists() and not (tmp_path / "report").exists()


def synthetic_history(steps: int = 60, eval_every: int = 10, seed: int = 0) -> list[dict]:
    """A log_history shaped like TRL 1.16's GRPOTrainer with beta > 0, plus the eval and diagnostics entries train.py
    adds (held-out accuracy peaks at step 40, then drops)."""
    rng = random.Random(seed)
    history = []
    for step in range(0, steps + 1):
        if step % eval_every == 0:
            accuracy = {0: 0.10, 10: 0.20, 20: 0.30, 30: 0.40, 40: 0.50, 50: 0.45, 60: 0.42}[step]
            history.append({"step": step, "eval/accuracy": accuracy, "eval/format": min(1.0, 0.2 + step / 50),
                            "eval/completion_length": 100.0 + step,
                            "eval/truncated_fraction": max(0.0, 0.3 - step / 200)})
        if step == 0:
            continue
        fmt = min(1.0, 0.1 + step / 40 + rng.uniform(-0.1, 0.1))
        acc = max(0.0, min(1.0, 0.1 + step / 100 + rng.uniform(-0.1, 0.1)))
        history.append({
            "step": step, "epoch": step / steps, "loss": rng.uniform(-0.05, 0.05), "grad_norm": rng.uniform(0.1, 0.5),
            "learning_rate": 1e-5 * (1 - step / steps), "reward": fmt + acc, "reward_std": rng.uniform(0.2, 0.6),
            "rewards/format_reward/mean": fmt, "rewards/format_reward/std": 0.3,
            "rewards/accuracy_reward/mean": acc, "rewards/accuracy_reward/std": 0.4,
            "frac_reward_zero_std": rng.uniform(0, 0.5), "completions/mean_length": 120 + step + rng.uniform(-10, 10),
            "completions/min_length": 40.0, "completions/max_length": 256.0,
            "completions/clipped_ratio": rng.uniform(0, 0.2), "kl": step * 1e-3 * rng.uniform(0.5, 1.5),
            "entropy": 0.6 - step / 200, "diagnostics/answer_extracted_fraction": min(1.0, 0.3 + step / 60),
            "diagnostics/unparseable_references": 0.0, "diagnostics/reward_timeouts": 0.0,
        })
    history.append({"step": steps, "train_runtime": 3725.0, "train_loss": 0.01})
    return history


def write_synthetic_run(directory: Path, **config) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    state = {"global_step": 60, "max_steps": 60, "log_history": synthetic_history()}
    (directory / "trainer_state.json").write_text(json.dumps(state))
    run_config = {"finished": True, "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "dataset_id": "AI-MO/NuminaMath-TIR",
                  "dataset_split": "train", "system_prompt": SYSTEM_PROMPT, "reward_funcs": ["format", "accuracy"],
                  "reward_weights": [0.5, 1.0], "max_completion_length": 256, "eval_dataset_id": "AI-MO/NuminaMath-TIR",
                  "eval_split": "test", "training_args": {"beta": 0.04, "learning_rate": 1e-5, "max_steps": 60},
                  **config}
    (directory / "run_config.json").write_text(json.dumps(run_config))
    return directory


def test_heldout_plot_and_before_best_final(tmp_path):
    run = write_synthetic_run(tmp_path / "run", best_step=40, final_step=60, command="python main.py --eval_steps 10",
                              wall_time_s=3725.0, hardware="1x NVIDIA H100 80GB")
    report_dir = report.write_report(run)
    assert_valid_plots(report_dir, {"rewards.png", "heldout.png", "completions.png", "training.png"})

    card = (run / "README.md").read_text()
    assert "| accuracy | 0.100 | 0.500 | 0.420 |" in card
    assert "before (step 0)" in card and "best (step 40)" in card and "final (step 60)" in card
    assert "**best** on held-out accuracy (step 40)" in card and "`final/`" in card
    assert "`format` (0.5), `accuracy` (1)" in card
    assert "1h 02m 05s" in card and "1x NVIDIA H100 80GB" in card
    assert "base_model: Qwen/Qwen2.5-0.5B-Instruct" in card  # hub metadata only for a hub id
    assert "--dataset_id AI-MO/NuminaMath-TIR --split test\n" in card  # eval.py inherits the rest from the run
    assert "| KL |" in card and "| answer extracted (fraction) |" in card
    assert "](report/heldout.png)" in card
    from huggingface_hub import ModelCard

    metadata = ModelCard.load(run / "README.md").data  # the front matter the hub reads
    assert metadata.library_name == "peft" and metadata.base_model == "Qwen/Qwen2.5-0.5B-Instruct"

    summary = report.end_of_run_summary(run)
    assert "held-out accuracy:  before 0.100 (step 0) -> best 0.500 (step 40) -> final 0.420 (step 60)" in summary
    assert f"{run / 'final'}" in summary and "1h 02m 05s" in summary


def test_best_step_without_a_record_is_the_highest_accuracy(tmp_path):
    """A mid-run report has no best_step yet: the best is the highest held-out accuracy so far."""
    run = write_synthetic_run(tmp_path / "run", finished=False)
    summary = report.end_of_run_summary(run)
    assert "best 0.500 (step 40) -> latest 0.420 (step 60)" in summary


def test_stale_heldout_plot_is_removed(tmp_path):
    """Rewriting a report for a run without evaluation leaves no held-out plot from an earlier one."""
    run = write_synthetic_run(tmp_path / "run")
    report.write_report(run)
    state = json.loads((run / "trainer_state.json").read_text())
    state["log_history"] = [e for e in state["log_history"] if "eval/accuracy" not in e]
    (run / "trainer_state.json").write_text(json.dumps(state))
    report.write_report(run)
    assert not (run / "report" / "heldout.png").exists()
    assert "heldout.png" not in (run / "README.md").read_text()


def interrupted_run(demo_dir, tmp_path) -> Path:
    """The demo run as if killed after checkpoint-100: run_config.json unfinished, no adapter of its own."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copytree(demo_dir / "adapter" / "checkpoint-100", run / "checkpoint-100")
    config = json.loads((demo_dir / "adapter" / "run_config.json").read_text())
    config = {k: v for k, v in config.items() if k not in run_records.RUN_OUTCOME}
    (run / "run_config.json").write_text(json.dumps({**config, "finished": False}))
    return run


def test_card_of_an_interrupted_run_points_at_its_checkpoint(demo_dir, tmp_path):
    run = interrupted_run(demo_dir, tmp_path)
    report.write_report(run)
    card = (run / "README.md").read_text()
    assert "The adapter in this directory" not in card and "no final adapter yet" in card
    assert f"model_dir = {str(run / 'checkpoint-100')!r}" in card
    assert f"--model_dir {run / 'checkpoint-100'}" in card
    assert "--split validation" in card or "--split test" in card
    assert "| `eval_steps` | `20` |" in card  # a count, not 20.0
    summary = report.end_of_run_summary(run)
    assert f"newest checkpoint: {run / 'checkpoint-100'}" in summary


def test_report_on_a_checkpoint_speaks_of_that_checkpoint_only(demo_dir, tmp_path):
    run = Path(shutil.copytree(demo_dir / "adapter", tmp_path / "run", ignore=shutil.ignore_patterns("report")))
    summary = report.end_of_run_summary(run / "checkpoint-100")
    assert "final" not in summary and "step 180" not in summary, summary
    assert summary.startswith("Checkpoint at step 100")
    assert plots.run_title(run_records.load_run(run / "checkpoint-100")) == "run/checkpoint-100"


@pytest.mark.parametrize("damage", ["run_config", "trainer_state", "readme_is_a_directory"])
def test_report_names_a_damaged_file(damage, demo_dir, tmp_path, capsys):
    run = Path(shutil.copytree(demo_dir / "adapter", tmp_path / "run", ignore=shutil.ignore_patterns("report")))
    if damage == "run_config":
        (run / "run_config.json").write_text('{"finished": tr')
        expected = f"{run / 'run_config.json'} is damaged"
    elif damage == "trainer_state":
        text = (run / "trainer_state.json").read_text()
        (run / "trainer_state.json").write_text(text[:len(text) // 2])
        expected = f"{run / 'trainer_state.json'} is damaged"
    else:
        (run / "README.md").unlink()
        (run / "README.md").mkdir()
        expected = "is a directory"
    assert report.main([str(run)]) == 2
    assert expected in one_error_line(capsys)
