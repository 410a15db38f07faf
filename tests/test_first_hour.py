"""A new user's first hour (issue 21): no silent wrong result, no traceback, outputs that point where they say.

Error cases run in-process (seconds); the two real training runs are short subprocesses on the demo's tiny model.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import eval as evaluation
import main
import report
from conftest import REPO, run_cli
from test_train import train_args

FAST = {"split": "test[:4]", "batch_size": 4, "max_completion_length": 8}


def continue_args(demo_dir, output_dir, *extra) -> list:
    """train_args continuing the demo adapter: without --lora_target_modules (the adapter keeps its own)."""
    argv = train_args(demo_dir, output_dir, "--model_id", demo_dir / "adapter", *extra)
    i = argv.index("--lora_target_modules")
    return argv[:i] + argv[i + 2:]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


def adapter_keys(directory: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(directory / "adapter_model.safetensors"), "pt") as f:
        return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}


# ---------------------------------------------------------------------------------------------------------------------
# Item 1 (and 7, and the labels a run records): --model_id <adapter dir> continues that adapter.

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
    # The card's eval command reproduces the logged figure: the held-out subset size included.
    assert "--max_samples 16" in card and "--max_completion_length 24" in card


def test_continuing_refuses_contradicting_lora_flags_and_full_fine_tuning(demo_dir, tmp_path, capsys):
    out = tmp_path / "run"
    for extra, expected in [(["--lora_r", "8"], "--lora_r 8 contradicts adapter"),
                            (["--use_peft", "false"], "full fine-tuning")]:
        argv = continue_args(demo_dir, out, *extra)[1:]
        assert main.main([str(a) for a in argv]) == 2
        assert expected in one_error_line(capsys)
        assert not out.exists()


# ---------------------------------------------------------------------------------------------------------------------
# Errors of main.py that used to be tracebacks or silent wrong results.

def stacked_adapter(demo_dir, tmp_path) -> Path:
    """A copy of the demo adapter whose adapter_config.json names another adapter as its base."""
    adapter = Path(shutil.copytree(demo_dir / "adapter", tmp_path / "stacked", ignore=shutil.ignore_patterns(
        "checkpoint-*", "best", "final", "report")))
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path":
                                                             str(demo_dir / "adapter")}))
    return adapter


MAIN_ERRORS = {
    "zero steps": (["--max_steps", "-1", "--num_train_epochs", "0"], "trains nothing"),
    "split syntax": (["--dataset_split", "train[:abc]"], "'train[:abc]' is not a valid split"),
    "eval split syntax": (["--eval_dataset_id", "VAL", "--eval_split", "test[x]"], "--eval_split"),
    "missing LoRA module": (["--lora_target_modules", "q_proj", "nonsense"], "nonsense: the model has no such module"),
    "output_dir is a file": (["--output_dir", "A_FILE"], "is a file, not a directory"),
    "output_dir below a file": (["--output_dir", "A_FILE/run"], "is a file, not a directory"),
    "adapter on an adapter": (["--model_id", "STACKED"], "names another adapter"),
    "other run's checkpoint": (["--resume_from_checkpoint", "DEMO_CHECKPOINT", "--lora_target_modules", "q_proj"],
                               "was trained with other settings (--lora_target_modules"),
    "other run's rewards": (["--resume_from_checkpoint", "DEMO_CHECKPOINT", "--lora_r", "16", "--lora_alpha", "32"],
                            "--num_generations 8 vs 4"),
}


@pytest.mark.parametrize("case", list(MAIN_ERRORS))
def test_main_errors_are_one_line_and_leave_nothing(case, demo_dir, tmp_path, capsys):
    extra, expected = MAIN_ERRORS[case]
    (tmp_path / "a_file").write_text("not a directory")
    places = {"VAL": demo_dir / "data" / "val.jsonl", "A_FILE": tmp_path / "a_file",
              "A_FILE/run": tmp_path / "a_file" / "run", "STACKED": stacked_adapter(demo_dir, tmp_path),
              "DEMO_CHECKPOINT": demo_dir / "adapter" / "checkpoint-100"}
    out = tmp_path / "run"
    argv = [str(places.get(str(a), a)) for a in train_args(demo_dir, out, *extra)[1:]]
    assert main.main(argv) == 2
    err = one_error_line(capsys)
    assert expected in err, err
    if case == "missing LoRA module":
        assert "q_proj" in err.split("its linear modules are")[1]
    assert not out.exists(), "nothing half-written on error"


def test_damaged_run_config_is_named_not_taken_for_a_fresh_run(demo_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run_config.json").write_text('{"finished": true, "model_id"')  # cut off
    assert main.main([str(a) for a in train_args(demo_dir, out)[1:]]) == 2
    err = one_error_line(capsys)
    assert str(out / "run_config.json") in err and "damaged" in err and "--overwrite_output_dir" in err
    assert sorted(p.name for p in out.iterdir()) == ["run_config.json"]


def test_demo_refuses_a_directory_that_is_not_a_demo(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main.main(["--demo", "--output_dir", str(tmp_path)]) == 2
    assert "not the demo's (notes.txt)" in one_error_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_demo_labels_its_held_out_split_validation(tmp_path):
    import demo

    argv = demo.grpo_argv(tmp_path / "base", tmp_path / "data", tmp_path / "adapter", 1)
    assert argv[argv.index("--eval_dataset_id") + 1].endswith("val.jsonl")
    assert argv[argv.index("--eval_split") + 1] == "validation"


def test_wall_time_counts_the_time_before_a_resume(tmp_path):
    import train

    checkpoint = tmp_path / "checkpoint-2"
    checkpoint.mkdir()
    (tmp_path / "run_config.json").write_text(json.dumps({"started_at": time.time() - 100}))
    (checkpoint / "trainer_state.json").write_text("{}")
    os.utime(checkpoint / "trainer_state.json", (time.time() - 40, time.time() - 40))
    assert train.time_before(str(checkpoint)) == pytest.approx(60, abs=2)
    assert train.time_before(None) == 0


# ---------------------------------------------------------------------------------------------------------------------
# eval.py and eval.sh

def damaged_run(demo_dir, tmp_path) -> Path:
    adapter = Path(shutil.copytree(demo_dir / "adapter", tmp_path / "damaged", ignore=shutil.ignore_patterns(
        "checkpoint-*", "best", "final", "report")))
    (adapter / "run_config.json").write_text('{"system_prompt": "Think')
    return adapter


EVAL_ERRORS = [
    ("adapter as base model", ["--base_model", "ADAPTER"], "is itself an adapter directory"),
    ("adapter on an adapter", ["--model_dir", "STACKED"], "is itself an adapter directory"),
    ("damaged run_config", ["--model_dir", "DAMAGED"], "run_config.json is damaged"),
    ("split syntax", ["--split", "test[:abc]"], "'test[:abc]' is not a valid split"),
    ("output is a directory", ["--output_file", "TMP", "--overwrite"], "is a directory"),
    ("output below a file", ["--output_file", "A_FILE/out.json"], "is a file, not a directory"),
    ("typo", ["--num_sample", "3"], "did you mean --num_samples?"),
    ("no prefix matching", ["--num_s", "3"], "unknown option --num_s"),
    ("missing default run", ["--model_dir", "./ckpts/grpo"], "does not exist"),
]


@pytest.mark.parametrize("case, flags, message", EVAL_ERRORS)
def test_eval_errors_are_one_line_and_leave_nothing(case, flags, message, demo_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ./ckpts/grpo does not exist here
    (tmp_path / "a_file").write_text("x")
    places = {"ADAPTER": str(demo_dir / "adapter"), "STACKED": str(stacked_adapter(demo_dir, tmp_path)),
              "DAMAGED": str(damaged_run(demo_dir, tmp_path)), "TMP": str(tmp_path),
              "A_FILE/out.json": str(tmp_path / "a_file" / "out.json")}
    defaults = {"--model_dir": str(demo_dir / "adapter"), "--dataset_id": str(demo_dir / "data" / "test.jsonl"),
                "--output_file": str(tmp_path / "out.json"), "--split": "test[:4]"}
    flags = [places.get(f, f) for f in flags]
    argv = [x for k, v in defaults.items() if k not in flags for x in (k, v)] + flags
    before = sorted(p.name for p in tmp_path.iterdir())
    assert evaluation.main(argv) == 2
    err = one_error_line(capsys)
    assert message in err, err
    if case == "missing default run":
        assert "e.g. ckpts/grpo" not in err  # never suggests the very path that is missing
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing written"


def test_eval_on_a_local_file_takes_all_of_it_unless_a_split_is_given(demo_dir):
    local = evaluation.resolve_settings(evaluation.EvalArguments(model_dir=str(demo_dir / "base_model"),
                                                                 dataset_id=str(demo_dir / "data" / "test.jsonl")))
    assert local.split == "test"
    hub = evaluation.EvalArguments(model_dir=str(demo_dir / "base_model"), dataset_id="AI-MO/NuminaMath-TIR")
    assert evaluation.resolve_settings(hub).split == "test[:5%]"
    assert evaluation.default_output_file(hub).endswith("_test_5pct.json")


def test_eval_help_has_a_description_and_examples():
    help_text = run_cli("eval.py", "--help").stdout
    assert help_text.index("Evaluate a GRPO run") < help_text.index("--model_dir MODEL_DIR")
    assert "python eval.py --model_dir ckpts/grpo --baseline" in help_text


def test_every_eval_option_maps_from_the_environment():
    parser = evaluation.make_parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        name = action.option_strings[0]
        argv = evaluation.environment_options(parser, {name[2:].upper(): "a b"})
        assert argv[0] == name and argv[1:] == (["a", "b"] if action.nargs in ("+", "*") else ["a b"]), name


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_eval_sh_passes_sampling_variables_under_sh_and_bash(shell, demo_dir, tmp_path):
    out = tmp_path / "from_sh.json"
    env = {"MODEL_DIR": str(demo_dir / "adapter"), "DATASET_ID": str(demo_dir / "data" / "test.jsonl"),
           "MAX_SAMPLES": "2", "NUM_SAMPLES": "2", "TEMPERATURE": "0.7", "MAX_COMPLETION_LENGTH": "6",
           "OUTPUT_FILE": str(out), "PYTHON": sys.executable}
    proc = subprocess.run([shell, str(REPO / "eval.sh"), "--seed", "7"], cwd=tmp_path, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "eval.sh: --model_dir" in proc.stdout and "--num_samples 2" in proc.stdout
    summary = json.loads(out.read_text())["summary"]
    assert (summary["num_problems"], summary["num_samples"], summary["temperature"]) == (2, 2, 0.7)
    assert (summary["max_samples"], summary["seed"], summary["split"]) == (2, 7, "test")


def test_eval_sh_without_a_run_says_what_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MODEL_DIR"}
    proc = subprocess.run(["sh", str(REPO / "eval.sh")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: MODEL_DIR is not set"), proc.stderr
    assert "hf download" not in proc.stderr  # not mistaken for a hub id to download


# ---------------------------------------------------------------------------------------------------------------------
# report.py

def interrupted_run(demo_dir, tmp_path) -> Path:
    """The demo run as if killed after checkpoint-100: run_config.json unfinished, no adapter of its own."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copytree(demo_dir / "adapter" / "checkpoint-100", run / "checkpoint-100")
    config = json.loads((demo_dir / "adapter" / "run_config.json").read_text())
    config = {k: v for k, v in config.items() if k not in report.RUN_OUTCOME}
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
    assert report.run_title(report.load_run(run / "checkpoint-100")) == "run/checkpoint-100"


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


# ---------------------------------------------------------------------------------------------------------------------
# bench

def test_gpu_check_says_up_front_when_there_is_no_gpu(tmp_path):
    if shutil.which("nvidia-smi"):
        pytest.skip("a GPU machine")
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh")], env={**os.environ, "OUT": str(tmp_path / "o")},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no NVIDIA GPU here" in proc.stderr
    assert not (tmp_path / "o").exists()


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
