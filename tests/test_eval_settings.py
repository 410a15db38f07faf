"""The one builder of evaluation settings (eval.build_settings): what an adapter inherits from its run, decided once for
eval.py, held-out evaluation during training, `--check`, the model card's eval command and the benchmarks."""
import json
import shutil
from pathlib import Path

import pytest

import benchmarks
import callbacks
import card
import eval as evaluation
import main
import run_records
import shlex
from conftest import REPO, run_cli
from test_train import train_args

# A run as run_config.json records it (hand-written: the values the assertions below expect back).
RUN = {"dataset_id": "org/math", "dataset_split": "train", "dataset_config": "hard",
       "eval_dataset_id": "org/math", "eval_split": "test", "eval_dataset_config": "hard",
       "eval_prompt_column": "question", "eval_solution_column": None, "system_prompt": "Be brief.",
       "prompt_column": "problem", "solution_column": "answer", "reward_funcs": ["accuracy"], "reward_weights": [2.0],
       "max_prompt_length": 300, "max_completion_length": 1024, "overlong_buffer": None}


def settings(run, **flags):
    args = evaluation.EvalArguments(model_dir="ckpts/run", **flags)
    return evaluation.build_settings(args, run, model_dir="ckpts/run", base_model="base")


def test_an_adapter_is_evaluated_as_its_run_trained_on_its_held_out_set():
    held_out = settings(RUN, dataset_id="org/math", split="test")
    assert (held_out.dataset_config, held_out.max_completion_length, held_out.overlong_length) == ("hard", 1024, 1024)
    assert (held_out.prompt_column, held_out.solution_column) == ("question", "answer")  # --eval_*, else training's
    assert (held_out.system_prompt, held_out.reward_funcs, held_out.reward_weights) == ("Be brief.", ("accuracy",),
                                                                                        (2.0,))
    assert held_out.max_prompt_length == 300
    assert {held_out.sources[name] for name in evaluation.INHERITED} == {"run"}


def test_flags_win_and_other_data_inherits_no_data_settings():
    flagged = settings(RUN, dataset_id="org/math", split="test", max_completion_length=2048, dataset_config="easy")
    assert (flagged.max_completion_length, flagged.dataset_config) == (2048, "easy")
    assert flagged.overlong_length == 1024, "the overlong reward keeps the length the run was trained and scored at"
    assert flagged.sources["max_completion_length"] == flagged.sources["dataset_config"] == "flag"
    other = settings(RUN, dataset_id="org/other", split="test")
    assert (other.dataset_config, other.sources["dataset_config"]) == (None, "default")
    assert (other.prompt_column, other.max_completion_length) == ("problem", 1024), "the model's settings still apply"
    training = settings(RUN, dataset_id="org/math", split="train[:10]")
    assert (training.dataset_config, training.prompt_column) == ("hard", "problem")


def test_a_plain_model_gets_the_defaults():
    plain = settings({}, dataset_id="org/math", split="test")
    assert (plain.max_completion_length, plain.dataset_config, plain.max_prompt_length) == (512, None, 512)
    assert {plain.sources[name] for name in evaluation.INHERITED} == {"default"}


def test_heldout_check_and_eval_py_build_the_same_settings(tmp_path):
    """Held-out evaluation (and --check's held-out data) get what eval.py resolves from run_config.json for the same
    data, checkpoint aside: the training --dataset_config and a non-default --max_completion_length included."""
    script_args, training_args, model_args = main.parse_args(list(map(str, [
        "--model_id", "base", "--dataset_id", "org/math", "--dataset_config", "hard", "--output_dir", tmp_path,
        "--max_completion_length", "48", "--eval_dataset_id", "org/math", "--eval_split", "test[:8]",
        "--eval_max_samples", "4", "--eval_prompt_column", "question", "--report_to", "none"])))
    during = callbacks.eval_settings(script_args, training_args, model_args)
    run = json.loads(json.dumps(evaluation.run_record(script_args, training_args)))  # as run_config.json holds it
    after = evaluation.build_settings(evaluation.EvalArguments(
        model_dir=str(tmp_path), dataset_id="org/math", split="test[:8]", max_samples=4), run,
        model_dir=during.model_dir, base_model="base")
    assert during.key() == after.key()
    assert (after.dataset_config, after.max_completion_length, after.prompt_column) == ("hard", 48, "question")
    assert evaluation.run_record(script_args, training_args)["eval_dataset_config"] == "hard"


def test_benchmarks_use_the_runs_length_unless_told(demo_dir, tmp_path, monkeypatch, capsys):
    """The demo adapter was trained at 24 tokens: the benchmark and its base model beside it are evaluated at 24
    (eval.py's default for a plain model is 512), at 7 when told."""
    run = json.loads((demo_dir / "adapter" / "run_config.json").read_text())
    monkeypatch.chdir(tmp_path)  # results/ lands here
    benchmarks.write_local_copies(str(demo_dir / "data" / "test.jsonl"), "data", rows=8)
    command = ["--model_dir", str(demo_dir / "adapter"), "--benchmarks", "gsm8k", "--benchmark_dir", "data",
               "--max_samples", "1", "--compare_baseline"]
    for flags, expected in [([], run["max_completion_length"]), (["--max_completion_length", "7"], 7)]:
        assert evaluation.main([*command, *flags]) == 0, capsys.readouterr()
        results = [json.loads(path.read_text())["summary"] for path in Path("results").glob("*__gsm8k__*.json")
                   if not path.name.endswith("__benchmarks.json")]  # the subset's table file, beside the results
        assert len(results) == 2 and {r["max_completion_length"] for r in results} == {expected}, flags
        shutil.rmtree("results")


DATASET_CARD = """---
configs:
- config_name: easy
  default: true
  data_files:
  - {split: train, path: easy/train.jsonl}
  - {split: test, path: easy/test.jsonl}
- config_name: hard
  data_files:
  - {split: train, path: hard/train.jsonl}
  - {split: test, path: hard/test.jsonl}
---
"""


@pytest.mark.slow
def test_eval_py_reports_the_heldout_figure_of_a_run_with_a_dataset_config(demo_dir, tmp_path):
    """A real run on a local data set with two configurations (--dataset_config hard, not the default) at a
    non-default --max_completion_length: the model card's eval command reports exactly the held-out figure logged at
    the best step, with the same records."""
    rows = [json.loads(line) for line in (demo_dir / "data" / "train.jsonl").read_text().splitlines()]
    data = tmp_path / "data"
    for config, part in [("easy", rows[:40]), ("hard", rows[40:])]:
        for split, chunk in [("train", part[:32]), ("test", part[-8:])]:
            (data / config).mkdir(parents=True, exist_ok=True)
            (data / config / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chunk))
    (data / "README.md").write_text(DATASET_CARD)
    out = tmp_path / "run"
    proc = run_cli(*train_args(demo_dir, out, "--dataset_id", data, "--dataset_config", "hard", "--max_steps", "2",
                               "--eval_dataset_id", data, "--eval_split", "test", "--eval_steps", "1",
                               "--max_completion_length", "12", "--learning_rate", "1e-2"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    config = json.loads((out / "run_config.json").read_text())
    command = shlex.split(card.eval_command(run_records.load_run(out), str(out)))
    assert "--dataset_config" not in command and "--max_completion_length" not in command
    result = evaluation.evaluate(evaluation.parse_args([*command[2:], "--output_file", str(tmp_path / "e.json")]))
    summary = result["summary"]
    assert (summary["dataset_config"], summary["max_completion_length"]) == ("hard", 12)
    assert summary["accuracy"] == config["best_accuracy"]
    logged = (out / "heldout" / f"step-{config['best_step']}.jsonl").read_text().splitlines()
    assert result["samples"] == [json.loads(line) for line in logged]


@pytest.mark.slow
def test_eval_py_from_another_directory_resolves_the_runs_reward_file(shared_run, demo_dir, tmp_path):
    """The run was given `my_rewards.py:record` relative to its working directory; eval.py, started elsewhere, finds
    the same file through run_config.json and scores every sample with it."""
    recorded = shared_run.config["reward_funcs"][2]
    assert recorded == f"{(shared_run.work / 'my_rewards.py').resolve()}:record"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run_cli(REPO / "eval.py", "--model_dir", shared_run.out, "--dataset_id", demo_dir / "data" / "test.jsonl",
                   "--split", "test[:4]", "--max_completion_length", "8", "--output_file", "result.json",
                   cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((elsewhere / "result.json").read_text())
    assert list(result["summary"]["reward_funcs"]) == shared_run.config["reward_funcs"]
    assert all(s["record"] == 0.0 for s in result["samples"]) and len(result["samples"]) == 4
