"""The trainer callbacks (callbacks.py): held-out accuracy during training, the best adapter and the progress line;
one real run on the demo fixtures, shared by every test here."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

import callbacks
import eval as evaluation
from conftest import run_cli
from test_train import train_args

REWARD_FILE = '''
def brevity(completions, completion_ids, **kwargs):
    """1.0 for short completions, falling to 0.0 at 200 tokens."""
    return [max(0.0, 1.0 - len(ids) / 200) for ids in completion_ids]
'''


@pytest.fixture(scope="module")
def run(demo_dir, tmp_path_factory):
    """6 steps with held-out evaluation every 2 steps on the demo's validation split, a custom reward from a file."""
    tmp = tmp_path_factory.mktemp("heldout")
    (tmp / "my_rewards.py").write_text(REWARD_FILE)
    out = tmp / "run"
    proc = run_cli(*train_args(demo_dir, out, "--max_steps", "6", "--save_steps", "2", "--save_total_limit", "5",
                               "--eval_dataset_id", demo_dir / "data" / "val.jsonl", "--eval_split", "test",
                               "--eval_max_samples", "16", "--max_completion_length", "16", "--learning_rate", "1e-3",
                               "--reward_funcs", "format", "accuracy", tmp / "my_rewards.py:brevity",
                               "--logging_steps", "1", "--report_to", "tensorboard"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    state = json.loads((out / "trainer_state.json").read_text())
    return out, proc, state["log_history"], json.loads((out / "run_config.json").read_text())


def eval_entries(history):
    return {e["step"]: e for e in history if "eval/accuracy" in e}


@pytest.mark.slow
def test_heldout_metrics_logged_at_step_zero_and_every_n_steps(run):
    out, proc, history, _ = run
    evals = eval_entries(history)
    assert sorted(evals) == [0, 2, 4, 6]
    for entry in evals.values():
        assert {"eval/accuracy", "eval/format", "eval/completion_length", "eval/truncated_fraction"} <= entry.keys()
    assert list((out / "runs").rglob("events.out.tfevents.*")), "TensorBoard gets them too"
    train_steps = sorted(e["step"] for e in history if "loss" in e)
    assert train_steps == [1, 2, 3, 4, 5, 6], "an evaluation must not swallow its step's training log"


@pytest.mark.slow
def test_heldout_accuracy_equals_eval_py_on_the_same_checkpoint(run, demo_dir, tmp_path):
    out, _, history, config = run
    evals = eval_entries(history)
    for step in (4, 6):
        result = evaluation.evaluate(evaluation.EvalArguments(
            model_dir=str(out / f"checkpoint-{step}"), dataset_id=str(demo_dir / "data" / "val.jsonl"), split="test",
            max_samples=16, max_completion_length=config["max_completion_length"],
            output_file=str(tmp_path / f"{step}.json")))
        summary = result["summary"]
        assert summary["accuracy"] == evals[step]["eval/accuracy"], step
        assert summary["format_mean"] == evals[step]["eval/format"], step
        assert summary["completion_tokens_mean"] == evals[step]["eval/completion_length"], step
        kept = [json.loads(line) for line in (out / "heldout" / f"step-{step}.jsonl").read_text().splitlines()]
        assert kept == result["samples"], f"heldout/step-{step}.jsonl holds eval.py's own records"
    baseline = evaluation.evaluate(evaluation.EvalArguments(
        model_dir=str(out), baseline=True, dataset_id=str(demo_dir / "data" / "val.jsonl"), split="test",
        max_samples=16, max_completion_length=16, output_file=str(tmp_path / "base.json")))
    assert baseline["summary"]["accuracy"] == evals[0]["eval/accuracy"], "step 0 is the base model"


def adapter_tensors(directory):
    return load_file(directory / "adapter_model.safetensors")


def assert_same_tensors(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for name in left:
        assert torch.equal(left[name], right[name]), name


@pytest.mark.slow
def test_best_adapter_is_left_in_output_dir_and_final_in_final(run):
    """The adapter a user loads from --output_dir holds the weights of checkpoint-<best_step> (step 0: the untrained
    LoRA, whose B matrices are zero); final/ holds checkpoint-6's."""
    out, _, history, config = run
    evals = eval_entries(history)
    best = max(evals.values(), key=lambda e: (e["eval/accuracy"], -e["step"]))  # earliest step wins a tie
    assert config["best_step"] == best["step"] and config["final_step"] == 6
    left = adapter_tensors(out)
    if best["step"] == 0:
        assert all(not t.any() for name, t in left.items() if "lora_B" in name)
    else:
        assert_same_tensors(left, adapter_tensors(out / f"checkpoint-{best['step']}"))
    assert_same_tensors(adapter_tensors(out / "final"), adapter_tensors(out / "checkpoint-6"))
    if best["step"] != 6:
        assert any(not torch.equal(left[n], t) for n, t in adapter_tensors(out / "checkpoint-6").items())


@pytest.mark.slow
def test_best_so_far_survives_a_resume(run, demo_dir, tmp_path):
    """Resume from checkpoint-4 with a best.json claiming an unbeatable best: the run must keep it, not step 0's."""
    out, _, _, _ = run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    for name in ("checkpoint-6", "final", "adapter_model.safetensors", "trainer_state.json"):
        path = copy / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    config = json.loads((copy / "run_config.json").read_text())
    (copy / "run_config.json").write_text(json.dumps({**config, "finished": False}))
    (copy / "best" / "best.json").write_text(json.dumps({"step": 4, "accuracy": 2.0}))
    proc = run_cli(*train_args(demo_dir, copy, "--max_steps", "6", "--save_steps", "2", "--save_total_limit", "5",
                               "--eval_dataset_id", demo_dir / "data" / "val.jsonl", "--eval_split", "test",
                               "--eval_max_samples", "16", "--max_completion_length", "16", "--learning_rate", "1e-3",
                               "--reward_funcs", "format", "accuracy", out.parent / "my_rewards.py:brevity"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Resuming from checkpoint-4" in proc.stdout
    assert json.loads((copy / "run_config.json").read_text())["best_step"] == 4
    history = json.loads((copy / "trainer_state.json").read_text())["log_history"]
    assert sorted(eval_entries(history)) == [0, 2, 4, 6], "step 0 is not evaluated again"


@pytest.mark.slow
def test_diagnostics_custom_reward_and_readable_log(run):
    out, proc, history, config = run
    logged = {key for entry in history for key in entry}
    assert {"diagnostics/answer_extracted_fraction", "diagnostics/unparseable_references",
            "diagnostics/reward_timeouts"} <= logged
    assert "rewards/brevity/mean" in logged
    assert config["reward_funcs"][2] == f"{(out.parent / 'my_rewards.py').resolve()}:brevity"
    lines = [line for line in proc.stdout.splitlines() if "step" in line and "|" in line]
    assert any("eval acc" in line for line in lines), proc.stdout[-2000:]
    assert not any("{'loss'" in line for line in proc.stdout.splitlines()), "no raw dicts"
    assert "train_runtime" not in proc.stdout
    tail = proc.stdout[proc.stdout.rindex("Training finished"):]
    assert tail.startswith("Training finished after 6 steps") and "held-out accuracy" in tail
    # eval.py resolves the custom reward recorded by the run, from any directory.
    assert (out / "README.md").read_text().count("brevity") >= 1


@pytest.mark.slow
def test_run_without_eval_data_has_no_heldout_entries(demo_dir, tmp_path):
    out = tmp_path / "plain"
    proc = run_cli(*train_args(demo_dir, out, "--max_steps", "2"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert not any("eval/accuracy" in e for e in history)
    assert not (out / "best").exists() and not (out / "final").exists()
    assert "best_step" not in json.loads((out / "run_config.json").read_text())


def test_format_log_line():
    logs = {"loss": -0.0123, "grad_norm": 0.3, "learning_rate": 1e-5, "reward": 0.95, "reward_std": 0.346,
            "rewards/format_reward/mean": 0.906, "rewards/format_reward/std": 0.26,
            "rewards/accuracy_reward/mean": 0.044, "rewards/accuracy_reward/std": 0.16,
            "completions/mean_length": 16.9, "completions/clipped_ratio": 0.0, "frac_reward_zero_std": 0.2,
            "entropy": 0.44, "clip_ratio/low_mean": 0.0, "step_time": 0.13, "epoch": 0.6}
    line = callbacks.format_log_line(logs, 7, 120)
    assert line.startswith("step   7/120 | ")
    for part in ("loss  -0.0123", "reward  0.950 ±0.346", "format 0.906", "accuracy 0.044", "len   16.9",
                 "lr 1.00e-05"):
        assert part in line, (part, line)
    assert "{" not in line and "'" not in line and "clip_ratio" not in line and "\n" not in line
    # aligned: the same fields land in the same columns from step to step
    other = callbacks.format_log_line({**logs, "loss": 0.5, "reward": 1.5}, 120, 120)
    assert len(other) == len(line) and other.index("reward") == line.index("reward")
    # held-out figures when the entry has them; an entry without training keys is still shown, compactly
    assert "eval acc 0.420" in callbacks.format_log_line({"eval/accuracy": 0.42, "eval/format": 0.9}, 60, 120)
    assert "train_runtime 3725" in callbacks.format_log_line({"train_runtime": 3725.0}, 120, 120)


@pytest.mark.slow
def test_samples_show_the_same_heldout_problems_at_step_0_best_and_last(run):
    """report/samples.md (and report.py --samples) quotes the first held-out problems at step 0, the best step and
    step 6, exactly as heldout/step-<N>.jsonl recorded them, and a best and worst completion from TRL's log."""
    out, _, _, config = run
    proc = run_cli("report.py", out, "--samples")
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (out / "report" / "samples.md").read_text()
    assert text.strip() in proc.stdout and "report/samples.md" in (out / "README.md").read_text()
    records = {step: [json.loads(line) for line in (out / "heldout" / f"step-{step}.jsonl").read_text().splitlines()]
               for step in (0, config["best_step"], 6)}
    heldout, training = text.split("## Training completions")
    problems = heldout.split("### Problem ")[1:]
    assert len(problems) == 3
    for number, section in enumerate(problems):
        assert section.startswith(f"{number + 1} (held-out row {number})")
        for step, kept in records.items():
            record = next(r for r in kept if r["index"] == number)
            assert f"**Step {step} (" in section and record["completion"] in section, (step, section)
    assert "**best**: advantage +" in training and "**worst**: advantage " in training
    assert training.count("### Step ") == 3  # the first, middle and last logged steps
