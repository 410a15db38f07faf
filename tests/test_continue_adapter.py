"""--model_id <a trained adapter directory>: training continues that adapter (its own LoRA settings, its base
model), from its own held-out accuracy; contradicting flags and full fine-tuning are refused in one line."""
import json
import os
from pathlib import Path

import pytest

import eval as evaluation
import main
from conftest import REPO, run_cli
from helpers import one_error_line
from test_train import train_args


def continue_args(demo_dir, output_dir, *extra) -> list:
    """train_args continuing the demo adapter: without --lora_target_modules (the adapter keeps its own)."""
    argv = train_args(demo_dir, output_dir, "--model_id", demo_dir / "adapter", *extra)
    i = argv.index("--lora_target_modules")
    return argv[:i] + argv[i + 2:]


def adapter_keys(directory: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(directory / "adapter_model.safetensors"), "pt") as f:
        return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}


@pytest.fixture(scope="module")
def continued(demo_dir, tmp_path_factory):
    """Two steps that continue the demo adapter at a learning rate too small to move it, held-out evaluation every
    step on val[:16]; the training data given as a path relative to the working directory."""
    out = tmp_path_factory.mktemp("continued") / "run"
    data = os.path.relpath(demo_dir / "data" / "train.jsonl", REPO)
    proc = run_cli(*continue_args(demo_dir, out, "--dataset_id", data,
                               "--max_steps", "2", "--save_steps", "1", "--learning_rate", "1e-12",
                               "--max_completion_length", "24", "--max_prompt_length", "256",
                               "--eval_dataset_id", demo_dir / "data" / "val.jsonl", "--eval_max_samples", "16"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out, proc


@pytest.mark.slow
def test_continuing_an_adapter_trains_that_adapter_from_its_own_accuracy(demo_dir, continued, tmp_path):
    out, proc = continued
    run_config = json.loads((out / "run_config.json").read_text())
    assert run_config["init_adapter"] == str((demo_dir / "adapter").resolve())
    assert run_config["model_id"] == str((demo_dir / "base_model").resolve())
    # The saved adapter is the same adapter further trained: its config names the real base, its tensors are the
    # old adapter's (same names and shapes: nothing stacked on top).
    config = json.loads((out / "adapter_config.json").read_text())
    old_config = json.loads((demo_dir / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == run_config["model_id"]
    assert (config["r"], sorted(config["target_modules"])) == (old_config["r"], sorted(old_config["target_modules"]))
    assert adapter_keys(out / "final") == adapter_keys(demo_dir / "adapter")

    # Step 0's held-out accuracy is the old adapter's, as eval.py scores it; eval.py scores the new one as base+adapter.
    state = json.loads((out / "trainer_state.json").read_text())
    step0 = next(e["eval/accuracy"] for e in state["log_history"] if "eval/accuracy" in e and e["step"] == 0)
    common = {"dataset_id": str(demo_dir / "data" / "val.jsonl"), "split": "test", "max_samples": 16,
              "max_completion_length": 24}
    old = evaluation.evaluate(evaluation.EvalArguments(model_dir=str(demo_dir / "adapter"),
                                                       output_file=str(tmp_path / "old.json"), **common))["summary"]
    new = evaluation.evaluate(evaluation.EvalArguments(model_dir=str(out / "final"),
                                                       output_file=str(tmp_path / "new.json"), **common))["summary"]
    base = evaluation.evaluate(evaluation.EvalArguments(model_dir=str(demo_dir / "adapter"), baseline=True,
                                                        output_file=str(tmp_path / "base.json"), **common))["summary"]
    assert step0 == old["accuracy"] == new["accuracy"] != base["accuracy"]
    assert new["adapter"] and new["base_model"] == run_config["model_id"]
    assert isinstance(old["correct"], int)  # a count, not 12.0


@pytest.mark.slow
def test_run_that_never_beats_step_0_says_so_and_records_true_paths(demo_dir, continued):
    out, proc = continued
    summary = proc.stdout[proc.stdout.index("Training finished"):]
    assert "training never beat the adapter it continued" in summary and str(out / "final") in summary
    card = (out / "README.md").read_text()
    assert "Training never beat the adapter it continued" in card and "`final/`" in card
    assert f"**Continued from adapter:** `{(demo_dir / 'adapter').resolve()}`" in card
    run_config = json.loads((out / "run_config.json").read_text())
    assert run_config["dataset_id"] == str((demo_dir / "data" / "train.jsonl").resolve())  # absolute like model_id
    assert run_config["wall_time_s"] > 0
    # The card's eval command reproduces the logged figure: the held-out subset size included; eval.py takes the
    # run's --max_completion_length itself (test_eval_settings.py).
    eval_command = next(line for line in card.splitlines() if line.startswith("python eval.py"))
    assert "--max_samples 16" in eval_command and "--max_completion_length" not in eval_command


def test_continuing_refuses_contradicting_lora_flags_and_full_fine_tuning(demo_dir, tmp_path, capsys):
    out = tmp_path / "run"
    for extra, expected in [(["--lora_r", "8"], "--lora_r 8 contradicts adapter"),
                            (["--use_peft", "false"], "full fine-tuning")]:
        argv = continue_args(demo_dir, out, *extra)[1:]
        assert main.main([str(a) for a in argv]) == 2
        assert expected in one_error_line(capsys)
        assert not out.exists()
