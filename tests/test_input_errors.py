"""Inputs that used to end in a traceback (or train on nonsense) are one `error:` line before any work or file: a
single --lora_target_modules name, zero or negative counts, --temperature 0, W&B without a key, a data file that is
not UTF-8, an adapter folder without its weights, held-out data with nothing to grade, empty problems, and Ctrl-C
while the libraries import."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, run_cli
from demo import DEMO_SYSTEM_PROMPT


def train_argv(demo_dir, out, *extra) -> list[str]:
    return [str(a) for a in [
        "--model_id", demo_dir / "base_model", "--dataset_id", demo_dir / "data" / "train.jsonl", "--output_dir", out,
        "--max_steps", "2", "--batch_size", "4", "--num_generations", "4", "--max_completion_length", "8",
        "--report_to", "none", "--system_prompt", DEMO_SYSTEM_PROMPT, *extra]]


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


# name -> (extra options (placeholders filled by the test), words the one error line must hold)
CASES = {
    "one unknown LoRA module": (["--lora_target_modules", "nope"], "--lora_target_modules nope: the model has no such"),
    "temperature 0": (["--temperature", "0"], "--temperature 0.0 is out of range"),
    "accumulation 0": (["--gradient_accumulation_steps", "0"], "--gradient_accumulation_steps 0 is out of range"),
    "logging steps 0": (["--logging_steps", "0"], "--logging_steps 0"),
    "save steps negative": (["--save_steps", "-5"], "--save_steps -5"),
    "iterations 0": (["--num_iterations", "0"], "--num_iterations 0"),
    "top_p above 1": (["--top_p", "1.5"], "--top_p 1.5"),
    "negative prompt length": (["--max_prompt_length", "-1"], "--max_prompt_length -1"),
    "negative eval samples": (["--eval_max_samples", "-3"], "--eval_max_samples -3"),
    "not UTF-8": (["--dataset_id", "LATIN1"], "is not UTF-8"),
    "adapter without weights": (["--model_id", "NO_WEIGHTS"], "no weights"),
    "held-out with nothing to grade": (["--eval_dataset_id", "UNGRADABLE"], "has nothing to grade"),
    "every problem empty": (["--dataset_id", "EMPTY_PROBLEMS"], "is empty or missing"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_line_before_any_work(case, demo_dir, tmp_path, capsys):
    import main

    extra, expected = CASES[case]
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(b'{"problem": "Combien font 2 + 2 ? caf\xe9", "solution": "\\\\boxed{4}"}\n')
    no_weights = tmp_path / "adapter"
    no_weights.mkdir()
    shutil.copy(demo_dir / "adapter" / "adapter_config.json", no_weights)
    places = {"LATIN1": latin1, "NO_WEIGHTS": no_weights,
              "UNGRADABLE": write_jsonl(tmp_path / "val.jsonl", [{"problem": "What is 1 + 1?", "solution": ""},
                                                                 {"problem": "What is 2 + 2?", "solution": "see book"}]),
              "EMPTY_PROBLEMS": write_jsonl(tmp_path / "empty.jsonl", [{"problem": None, "solution": "1"},
                                                                       {"problem": " ", "solution": "2"}])}
    out = tmp_path / "run"
    assert main.main(train_argv(demo_dir, out, *[places.get(x, x) for x in extra])) == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and expected in error_lines(err)[0], err
    assert "Traceback" not in err
    assert not out.exists(), "nothing written"


def test_a_single_lora_module_name_is_a_list_that_peft_matches(demo_dir):
    """TRL's ModelConfig turns `--lora_target_modules q_proj` into the string 'q_proj', which PEFT would match as a
    pattern against the whole module path (no module is called just 'q_proj'): it stays a list of names."""
    import main
    from models import check_target_modules, lora_config, model_skeleton

    _, _, model_args = main.parse_args(train_argv(demo_dir, "unused", "--lora_target_modules", "q_proj"))
    assert model_args.lora_target_modules == ["q_proj"]
    config = lora_config(model_args)
    assert set(config.target_modules) == {"q_proj"}
    check_target_modules(model_skeleton(model_args), config.target_modules)  # the model has it: no error
    _, _, all_linear = main.parse_args(train_argv(demo_dir, "unused", "--lora_target_modules", "all-linear"))
    assert lora_config(all_linear).target_modules == "all-linear"


def test_empty_problems_are_dropped_and_counted(demo_dir, tmp_path, capsys):
    """A null or blank problem is never trained or evaluated as the prompt "None" / "": dropped, counted, and eval's
    records keep the rows' own positions."""
    import eval as evaluation
    from data_utils import filter_by_prompt_length, load_prompt_dataset
    from models import load_chat_tokenizer

    data = write_jsonl(tmp_path / "train.jsonl", [{"problem": None, "solution": "1"},
                                                  {"problem": "What is 1 + 1?", "solution": "\\boxed{2}"},
                                                  {"problem": "", "solution": "3"},
                                                  {"problem": "What is 2 + 2?", "solution": "\\boxed{4}"}])
    tokenizer = load_chat_tokenizer(str(demo_dir / "base_model"), "--model_id")
    dataset = load_prompt_dataset(data, "train")
    assert "2 of 4 rows" in capsys.readouterr().out
    kept, too_long = filter_by_prompt_length(dataset, tokenizer, 512)
    assert [p[-1]["content"] for p in kept["prompt"]] == ["What is 1 + 1?", "What is 2 + 2?"] and too_long == 0
    settings = evaluation.resolve_settings(evaluation.EvalArguments(model_dir=str(demo_dir / "base_model"),
                                                                    dataset_id=data))
    rows, skipped = evaluation.load_prompts(settings, tokenizer)
    assert [r["index"] for r in rows] == [1, 3] and skipped == 0


def test_eval_refuses_an_adapter_without_weights_in_one_line(demo_dir, tmp_path, capsys):
    import eval as evaluation

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    shutil.copy(demo_dir / "adapter" / "adapter_config.json", adapter)
    assert evaluation.main(["--model_dir", str(adapter), "--dataset_id", str(demo_dir / "data" / "test.jsonl")]) == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "no weights" in err and "Traceback" not in err


def test_wandb_without_a_key_or_offline_mode_is_one_line(demo_dir, tmp_path):
    """As a user would run it: W&B decides from WANDB_API_KEY, ~/.netrc and WANDB_MODE (an empty home has none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), *train_argv(demo_dir, tmp_path / "run"),
                           "--report_to", "wandb"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**env, "HOME": str(tmp_path), "WANDB_CONFIG_DIR": str(tmp_path / ".config")})
    assert proc.returncode == 2 and "needs a W&B API key" in "".join(error_lines(proc.stderr)), proc.stderr[-2000:]
    assert "WANDB_MODE=offline" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_ctrl_c_while_importing_is_one_line_and_status_130(tmp_path):
    for script in ("main.py", "eval.py"):
        proc = subprocess.Popen([sys.executable, str(REPO / script), "--help"], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(1.0)  # torch and TRL take seconds to import: the Ctrl-C lands inside an import
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        if out:  # on a machine fast enough to finish the imports in a second the test says nothing
            pytest.skip("the imports were already done")
        assert proc.returncode == 130 and "Traceback" not in err and err.strip().splitlines()[-1].startswith(
            "interrupted"), err[-2000:]
