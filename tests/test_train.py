"""Training through `main.py` on the demo's tiny model: real runs of a few steps, no mocks."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO, run_cli
from demo import DEMO_SYSTEM_PROMPT as SHORT_PROMPT  # the demo's short prompt keeps these runs fast


def train_args(demo_dir, output_dir, *extra):
    """A fast, valid training command line on the demo fixtures; `extra` overrides or adds flags."""
    return [
        "main.py", "--model_id", demo_dir / "base_model", "--dataset_id", demo_dir / "data" / "train.jsonl",
        "--output_dir", output_dir, "--max_steps", "4", "--learning_rate", "3e-4", "--batch_size", "8",
        "--num_generations", "4", "--max_completion_length", "16", "--lora_target_modules", "all-linear",
        "--gradient_checkpointing", "false", "--report_to", "none", "--save_steps", "2",
        "--system_prompt", SHORT_PROMPT, *extra,
    ]


def logits(model, tokenizer):
    ids = tokenizer("What is 3 + 4?", return_tensors="pt")
    with torch.no_grad():
        return model(**ids).logits


def test_help_lists_seed_flags_with_defaults():
    proc = run_cli("main.py", "--help_all")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for flag in ["--model_id", "--dataset_id", "--output_dir", "--learning_rate", "--num_train_epochs",
                 "--batch_size", "--per_device_train_batch_size", "--max_completion_length", "--max_prompt_length",
                 "--num_generations", "--gradient_accumulation_steps", "--warmup_ratio", "--logging_steps",
                 "--save_steps", "--save_strategy", "--max_steps", "--seed", "--report_to",
                 "--resume_from_checkpoint", "--lora_r", "--lora_alpha", "--lora_dropout", "--lora_target_modules",
                 "--reward_funcs", "--reward_weights", "--system_prompt", "--prompt_column", "--solution_column",
                 "--beta", "--temperature", "--loss_type", "--use_vllm", "--overwrite_output_dir", "--demo"]:
        assert flag in text, flag
    assert "Qwen/Qwen2.5-0.5B-Instruct" in text and "AI-MO/NuminaMath-TIR" in text  # defaults are shown


@pytest.mark.slow
def test_training_run_saves_adapter_that_reloads_and_changes_outputs(demo_dir, tmp_path):
    """One run covers: YAML config (command line wins), the max_prompt_length filter, TensorBoard logs,
    and the saved adapter/tokenizer/run_config.json."""
    rows = [json.loads(line) for line in open(demo_dir / "data" / "train.jsonl")][:24]
    rows += [{"problem": "What is " + " + ".join(["1"] * 200) + "?", "solution": "\\boxed{200}"}] * 5
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "run.yaml"
    config.write_text("temperature: 0.9\nnum_generations: 2\nlora_r: 8\nreport_to: tensorboard\n"
                      "warmup_ratio: 0.25\n")  # an alias spelling works in YAML too
    out = tmp_path / "run"

    proc = run_cli(*train_args(demo_dir, out, "--dataset_id", data, "--max_prompt_length", "64",
                               "--config", config, "--num_generations", "4", "--report_to", "tensorboard"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "kept 24 prompts, dropped 5 longer than that" in proc.stdout

    run_config = json.loads((out / "run_config.json").read_text())
    assert run_config["finished"] is True
    assert run_config["system_prompt"] == SHORT_PROMPT
    assert run_config["training_args"]["temperature"] == 0.9  # from YAML
    assert run_config["training_args"]["warmup_steps"] == 0.25
    assert run_config["num_generations"] == 4  # command line beats YAML
    assert run_config["model_args"]["lora_r"] == 8
    assert set(run_config["versions"]) >= {"torch", "transformers", "trl", "peft"}
    assert list((out / "runs").rglob("events.out.tfevents.*")), "TensorBoard logs under output_dir/runs"
    assert (out / "tokenizer_config.json").is_file() and (out / "checkpoint-4").is_dir()

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template
    base = AutoModelForCausalLM.from_pretrained(demo_dir / "base_model")
    before = logits(base, tokenizer)
    tuned = PeftModel.from_pretrained(base, out)
    assert tuned.peft_config["default"].r == 8
    assert not torch.allclose(before, logits(tuned, tokenizer), atol=1e-5), "adapter must change the outputs"


@pytest.mark.slow
def test_interrupted_run_resumes_from_last_checkpoint(demo_dir, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, *map(str, train_args(demo_dir, out, "--max_steps", "12", "--report_to", "tensorboard"))]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while not (out / "checkpoint-2" / "trainer_state.json").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before its first checkpoint"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # as abrupt as a preempted job
    proc.wait()
    assert not json.loads((out / "run_config.json").read_text())["finished"]
    done = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if (p / "trainer_state.json").exists())
    assert done and done[-1] < 12

    again = run_cli(*train_args(demo_dir, out, "--max_steps", "12", "--report_to", "tensorboard"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"Resuming from checkpoint-{done[-1]}" in again.stdout
    # The resumed run continues the same TensorBoard curves: one folder, event files from both starts.
    assert not [p for p in (out / "runs").iterdir() if p.is_dir()]
    assert len(list((out / "runs").glob("events.out.tfevents.*"))) == 2
    state = json.loads((out / "checkpoint-12" / "trainer_state.json").read_text())
    assert state["global_step"] == 12

    # The same command on a finished run refuses instead of silently overwriting; --overwrite_output_dir restarts.
    refused = run_cli(*train_args(demo_dir, out, "--max_steps", "12"))
    assert refused.returncode != 0 and "--overwrite_output_dir" in refused.stderr
    fresh = run_cli(*train_args(demo_dir, out, "--max_steps", "2", "--overwrite_output_dir"))
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "Resuming" not in fresh.stdout and not (out / "checkpoint-12").exists()


ERROR_CASES = {
    "batch not divisible": (["--batch_size", "6", "--num_generations", "4"], "not divisible by --num_generations"),
    "unknown reward": (["--reward_funcs", "format", "nonsense"], "unknown reward"),
    "reward weights count": (["--reward_weights", "1.0"], "--reward_weights"),
    "missing file": (["--dataset_id", "/nonexistent/train.jsonl"], "does not exist"),
    "missing column": (["--prompt_column", "question"], "--prompt_column"),
    "offline dataset": (["--dataset_id", "AI-MO/NuminaMath-TIR"], "could not download data set"),
    "offline model": (["--model_id", "Qwen/Qwen2.5-0.5B-Instruct"], "could not download model"),
    "cuda absent": (["--bf16", "true"], "needs a CUDA GPU"),
    "missing config": (["--config", "/nonexistent/run.yaml"], "--config"),
    "wandb not installed": (["--report_to", "wandb"], "pip install wandb"),
    "unknown flag": (["--no_such_flag", "1"], "--no_such_flag"),
    "misspelled flag": (["--learning_rat", "1e-5"], "did you mean --learning_rate?"),
    "empty split": (["--dataset_split", "train[:0]"], "selects no rows"),
    "prompts too long": (["--max_prompt_length", "5"], "the shortest has"),
    "wrong type": (["--max_steps", "many"], "invalid int value"),
    "zero generations": (["--num_generations", "1"], "--num_generations 1 is out of range"),
    "negative learning rate": (["--learning_rate", "-1"], "--learning_rate -1.0 is out of range"),
    "demo with training options": (["--demo", "--learning_rate", "1e-3"], "--demo takes only --output_dir and --seed"),
    "eval data missing": (["--eval_dataset_id", "/nonexistent/val.jsonl"], "does not exist"),
    "eval column missing": (["--eval_dataset_id", "EVAL", "--eval_prompt_column", "nope"], "--eval_prompt_column"),
    "empty file": (["--dataset_id", "EMPTY"], "is empty"),
    "resume from a non-checkpoint": (["--resume_from_checkpoint", "EMPTY_DIR"], "is not a complete checkpoint"),
    "lora rank zero": (["--lora_r", "0"], "invalid LoRA options"),
    "non-finite weight": (["--reward_weights", "1", "nan"], "non-finite"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_clear_errors(case, demo_dir, tmp_path, capsys, monkeypatch):
    """In-process (seconds for the whole table); test_cli_error_is_one_line_without_traceback covers a real process."""
    import main

    extra, expected = ERROR_CASES[case]
    if case == "cuda absent" and torch.cuda.is_available():
        pytest.skip("checks the no-GPU error")
    if case == "wandb not installed":  # the test requirements install wandb: hide it, as on a machine without it
        monkeypatch.setitem(sys.modules, "wandb", None)
        assert importlib.util.find_spec("wandb") is None
    out = tmp_path / "run"
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "empty_dir").mkdir()
    places = {"EVAL": demo_dir / "data" / "val.jsonl", "EMPTY": tmp_path / "empty.jsonl",
              "EMPTY_DIR": tmp_path / "empty_dir"}
    extra = [places.get(x, x) for x in extra]
    assert main.main([str(a) for a in train_args(demo_dir, out, *extra)[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and expected in err, err
    assert not out.exists(), "nothing half-written on error"


def test_cli_error_is_one_line_without_traceback(demo_dir, tmp_path):
    proc = run_cli(*train_args(demo_dir, tmp_path / "run", "--batch_size", "6"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: generation batch 6")


def test_yaml_typo_names_file_key_and_suggestion(demo_dir, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("learning_rat: 1e-5\n")
    proc = run_cli(*train_args(demo_dir, tmp_path / "run", "--config", config))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert str(config) in line and "'learning_rat'" in line and "did you mean --learning_rate?" in line, line


def test_help_puts_our_options_first_and_lists_config():
    text = run_cli("main.py", "--help_all").stdout
    heading = text.index("All other options (TRL GRPOConfig")
    for flag in ["--model_id", "--dataset_id", "--output_dir", "--learning_rate", "--batch_size", "--num_generations",
                 "--max_completion_length", "--max_prompt_length", "--reward_funcs", "--eval_dataset_id", "--lora_r",
                 "--load_in_4bit", "--config", "--check", "--demo"]:
        assert text.index(flag) < heading, flag
    assert text.index("--model_id") < 2500, "the first options are ours, near the top"
    assert "--adam_beta1" in text[heading:], "TRL's full list follows"


def test_unreachable_hub_fails_fast(tmp_path):
    """A hub id with the hub unreachable (a closed local port) is one line within seconds, not a minute of retries."""
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
           "TRANSFORMERS_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf")}
    start = time.time()
    proc = run_cli("main.py", "--model_id", "Qwen/Qwen2.5-0.5B-Instruct", "--output_dir", tmp_path / "run", env=env)
    assert proc.returncode == 2 and time.time() - start < 30
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: could not download") and "127.0.0.1:9 unreachable" in line, proc.stderr[-1000:]
