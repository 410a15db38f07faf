"""README promises, each tested the way a user meets it: through main.py and eval.py, their files and their output.

One shared run (4 steps on the demo fixtures, held-out evaluation, a user's reward file given by a relative path,
gradient checkpointing left to the tool, W&B offline when wandb is installed) serves several tests; the others start
their own short processes.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import reward
from conftest import REPO, run_cli
from test_train import train_args

GENERATION_BATCH = 8  # train_args: --batch_size 8 in one process, no accumulation

# A user's reward file: weight 0 in the shared run, it only keeps what the policy wrote at each step, so that the
# logged diagnostics can be recomputed from the completions themselves.
RECORDER = '''
import json
from pathlib import Path


def record(completions, trainer_state=None, **kwargs):
    """0.0 always; appends the training completions with the step they are generated for."""
    if trainer_state is not None:
        with open(Path(__file__).with_name("completions.jsonl"), "a") as f:
            texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
            f.write(json.dumps({"step": trainer_state.global_step + 1, "completions": texts}) + "\\n")
    return [0.0] * len(completions)
'''


def wandb_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("wandb") is not None


def shared_run_args(demo_dir, output_dir, *extra):
    """train_args without --gradient_checkpointing (left to the tool), with held-out evaluation and the recorder."""
    args = train_args(demo_dir, output_dir, "--save_total_limit", "5", "--logging_steps", "1",
                      "--eval_dataset_id", demo_dir / "data" / "val.jsonl", "--eval_split", "test",
                      "--eval_max_samples", "8", "--eval_steps", "2",
                      "--reward_funcs", "format", "accuracy", "my_rewards.py:record", "--reward_weights", "1", "1", "0",
                      "--report_to", "wandb" if wandb_installed() else "tensorboard", *extra)
    at = args.index("--gradient_checkpointing")
    del args[at:at + 2]
    args[0] = REPO / "main.py"
    return args


@pytest.fixture(scope="module")
def shared_run(demo_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("promises")
    (work / "my_rewards.py").write_text(RECORDER)
    out = work / "run"
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(work)}
    start = time.monotonic()
    proc = run_cli(*shared_run_args(demo_dir, out), cwd=work, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"\nshared run: {time.monotonic() - start:.1f} s")
    return SimpleRun(work, out, proc)


class SimpleRun:
    def __init__(self, work: Path, out: Path, proc):
        self.work, self.out, self.proc = work, out, proc
        self.config = json.loads((out / "run_config.json").read_text())
        self.history = json.loads((out / "trainer_state.json").read_text())["log_history"]


# ---------------------------------------------------------------------------------------------------------------
# Speed settings: gradient checkpointing chosen automatically, and recorded.

def test_gradient_checkpointing_is_chosen_automatically_and_recorded(shared_run):
    """LoRA on a model far below 3B parameters: off, chosen automatically; the choice is printed and recorded."""
    speed = shared_run.config["speed_settings"]
    assert re.fullmatch(r"False \(auto: 0\.\d\dB parameters, LoRA\)", speed["gradient_checkpointing"]), speed
    assert speed["cache_implementation"] == "dynamic"  # CPU
    assert shared_run.config["training_args"]["gradient_checkpointing"] is False
    printed = [line for line in shared_run.proc.stdout.splitlines() if line.startswith("speed settings: ")]
    assert printed == [f"speed settings: gradient_checkpointing={speed['gradient_checkpointing']}, "
                       f"cache_implementation=dynamic"], printed


def test_full_fine_tuning_turns_gradient_checkpointing_on(demo_dir, tmp_path):
    """Full fine-tuning (activations dominate memory): on, chosen automatically; one real step. (An explicit flag is
    recorded as such: see the Ctrl-C test's run.)"""
    out = tmp_path / "full"
    args = train_args(demo_dir, out, "--use_peft", "false", "--max_steps", "1", "--save_steps", "1",
                      "--learning_rate", "1e-5")
    at = args.index("--gradient_checkpointing")
    del args[at:at + 2]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / "run_config.json").read_text())
    assert re.fullmatch(r"True \(auto: 0\.\d\dB parameters, full fine-tuning\)",
                        config["speed_settings"]["gradient_checkpointing"]), config["speed_settings"]
    assert config["training_args"]["gradient_checkpointing"] is True


# ---------------------------------------------------------------------------------------------------------------
# Reward diagnostics: the logged values are what the run's completions imply.

def test_diagnostics_equal_what_the_completions_imply(shared_run):
    """Demo references are all parseable and simple: 0 unparseable, 0 timeouts; the extracted fraction at each
    step is the share of that step's completions reward.extract_answer reads an answer from (one reward call per step
    here; what the extractor reads is checked against hand-written cases in test_rewards.py)."""
    recorded = {}
    for line in (shared_run.work / "completions.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if len(entry["completions"]) == GENERATION_BATCH:  # not the one-sample probe at start-up
            recorded.setdefault(entry["step"], []).extend(entry["completions"])
    logged = {e["step"]: e for e in shared_run.history if "diagnostics/answer_extracted_fraction" in e}
    assert sorted(logged) == [1, 2, 3, 4] and sorted(recorded) == [1, 2, 3, 4], (sorted(logged), sorted(recorded))
    for step, entry in logged.items():
        completions = recorded[step]
        assert len(completions) == GENERATION_BATCH
        assert entry["diagnostics/unparseable_references"] == 0.0, step
        assert entry["diagnostics/reward_timeouts"] == 0.0, step
        share = sum(reward.extract_answer(c) is not None for c in completions) / len(completions)
        assert entry["diagnostics/answer_extracted_fraction"] == pytest.approx(share), (step, completions)


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


# ---------------------------------------------------------------------------------------------------------------
# --resume_from_checkpoint <dir>

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


# ---------------------------------------------------------------------------------------------------------------
# W&B, offline.

BLOCK = 32768  # the .wandb file is a LevelDB-style log: 32 KiB blocks of checksummed chunks holding protobuf records


def wandb_history(run_file: Path) -> dict[str, list]:
    """{metric: values} from an offline run's .wandb file, read the way `wandb sync` reads it."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    history, pos, pending = {}, 7, b""
    while pos + 7 <= len(data):
        room = BLOCK - pos % BLOCK
        if room < 7:  # a block's tail too short for a chunk header is padding
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            pos += room
            continue
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            if record.WhichOneof("record_type") == "history":
                for item in record.history.item:
                    key = item.key or "/".join(item.nested_key)
                    history.setdefault(key, []).append(json.loads(item.value_json))
    return history


def readme_wandb_names() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Weights & Biases"):]
    section = section[:section.index("\n#")]
    return re.findall(r"`(train/[\w/<>]+)`", section)


@pytest.mark.skipif(not wandb_installed(), reason="wandb is not installed (requirements-test.txt has it)")
def test_wandb_offline_run_holds_the_metrics_the_readme_names(shared_run):
    runs = list((shared_run.work / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, runs
    history = wandb_history(runs[0])
    names = readme_wandb_names()
    assert names, "README's W&B section names no metric"
    concrete = [name.replace("<reward>", reward) for name in names for reward in ("format_reward", "accuracy_reward")]
    for name in dict.fromkeys(concrete):
        assert name in history, f"{name} (README) not in the W&B run: {sorted(history)}"
    # One value per logged training step (1..4) and one held-out figure per evaluation (steps 0, 2, 4), equal to
    # trainer_state.json's.
    means = [e["rewards/accuracy_reward/mean"] for e in shared_run.history if "rewards/accuracy_reward/mean" in e]
    assert history["train/rewards/accuracy_reward/mean"] == pytest.approx(means)
    held_out = [e["eval/accuracy"] for e in shared_run.history if "eval/accuracy" in e]
    assert history["train/eval/accuracy"] == pytest.approx(held_out) and len(held_out) == 3
    assert re.fullmatch(r"offline-run-\d{8}_\d{6}-\w+", runs[0].parent.name), "what README's wandb sync command names"


# ---------------------------------------------------------------------------------------------------------------
# Ctrl-C: one line saying what to do, exit status 130, no traceback, in main.py and eval.py.

def start(argv, **kwargs) -> subprocess.Popen:
    """A process in its own group with Python's default Ctrl-C handling (a background CI job may inherit SIGINT
    ignored), so that a Ctrl-C can be sent to the whole group as a terminal does."""
    return subprocess.Popen([sys.executable, *map(str, argv)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


def ctrl_c_when(proc: subprocess.Popen, ready, what: str, timeout: float = 300) -> tuple[str, str]:
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None, f"ended before {what}: {proc.communicate()[1][-2000:]}"
            assert time.monotonic() < deadline, f"no {what} in time"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        return proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def last_message(stderr: str) -> str:
    """The last whole line that is not a progress bar (tqdm redraws with carriage returns and closes at exit)."""
    lines = [line for line in stderr.split("\n") if line.strip() and "%|" not in line]
    return lines[-1] if lines else ""


def test_ctrl_c_in_training_says_how_to_resume(demo_dir, tmp_path):
    out = tmp_path / "run"
    proc = start(train_args(demo_dir, out, "--max_steps", "500"))
    _, stderr = ctrl_c_when(proc, lambda: (out / "checkpoint-2" / "trainer_state.json").is_file(), "checkpoint-2")
    assert proc.returncode == 130, stderr[-2000:]
    assert last_message(stderr) == "interrupted: re-run the same command to resume from the last checkpoint"
    assert "Traceback" not in stderr, stderr[-3000:]
    config = json.loads((out / "run_config.json").read_text())
    assert config["finished"] is False
    assert config["speed_settings"]["gradient_checkpointing"] == "False (flag)"  # train_args: --gradient_checkpointing false


def test_ctrl_c_in_eval_says_where_the_finished_batches_are(demo_dir, tmp_path):
    result = tmp_path / "result.json"
    partial = Path(f"{result}.partial.jsonl")
    proc = start(["eval.py", "--model_dir", demo_dir / "adapter", "--dataset_id", demo_dir / "data" / "test.jsonl",
                  "--split", "test", "--batch_size", "2", "--max_completion_length", "32", "--output_file", result])
    _, stderr = ctrl_c_when(proc, lambda: partial.exists() and len(partial.read_text().splitlines()) >= 2,
                            "a finished batch")
    assert proc.returncode == 130, stderr[-2000:]
    assert last_message(stderr) == f"interrupted: finished batches are kept in {partial}; re-run the same command to resume"
    assert "Traceback" not in stderr, stderr[-3000:]
    assert partial.is_file() and not result.exists()


# ---------------------------------------------------------------------------------------------------------------
# The automatic CPU thread choice.

THREADS_PROBE = """
import runpy, sys
sys.argv = ["main.py", "--help"]
try:
    runpy.run_path("main.py", run_name="__main__")
except SystemExit:
    pass
import os, torch
print("OMP_NUM_THREADS:", os.environ.get("OMP_NUM_THREADS"))
print("torch threads:", torch.get_num_threads())
"""


def main_py_threads(env: dict) -> tuple[str | None, str | None, int]:
    """main.py started as a command (its --help, which loads nothing): the line it printed about CPU cores,
    OMP_NUM_THREADS, and the number of threads torch then uses in that process."""
    proc = run_cli("-c", THREADS_PROBE, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    chosen = [line for line in lines if "CPU cores are busy" in line]
    omp = lines[-2].split(": ")[1]
    return (chosen[0] if chosen else None), (None if omp == "None" else omp), int(lines[-1].split(": ")[1])


def test_busy_cores_make_a_run_use_only_the_idle_ones(monkeypatch):
    """With every core kept busy by other processes, main.py says so and torch runs on one thread; OMP_NUM_THREADS,
    when the user sets it, is left alone and nothing is printed."""
    import psutil

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = psutil.cpu_count()
    # Other work, at the lowest priority so that it busies every core without slowing the probe much.
    spinner = "import os\nos.nice(19)\nwhile True: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spinner]) for _ in range(cores)]
    try:
        time.sleep(0.5)
        line, _, threads = main_py_threads({})
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    user_line, user_omp, _ = main_py_threads({"OMP_NUM_THREADS": "3"})
    chosen = re.fullmatch(r"(\d+) of (\d+) CPU cores are busy with other work: using (\d+) thread\(s\) "
                          r"\(set OMP_NUM_THREADS to choose\)", line or "")
    assert chosen, line
    busy, total, used = map(int, chosen.groups())
    assert total == cores and busy >= 1 and used == max(1, cores - busy)
    assert threads == used, "torch must use the number of threads the line announces"
    assert user_line is None and user_omp == "3", "the user's OMP_NUM_THREADS is left alone"


# ---------------------------------------------------------------------------------------------------------------
# --dataset_config and eval.py --tokenizer.

@pytest.fixture
def two_config_data(demo_dir, tmp_path):
    """A local data set with two configurations (declared in its README, as on the hub): 'easy' has 6 problems,
    'hard' 10."""
    rows = [json.loads(line) for line in open(demo_dir / "data" / "test.jsonl")]
    data = tmp_path / "two_configs"
    data.mkdir()
    (data / "easy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:6]))
    (data / "hard.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[6:16]))
    (data / "README.md").write_text("---\nconfigs:\n- config_name: easy\n  data_files:\n  - split: train\n"
                                    "    path: easy.jsonl\n- config_name: hard\n  data_files:\n  - split: train\n"
                                    "    path: hard.jsonl\n---\n")
    return data, rows


def test_dataset_config_picks_the_configuration(demo_dir, two_config_data, tmp_path, capsys):
    import eval as evaluation
    import main

    data, rows = two_config_data
    for config, count in (("easy", 6), ("hard", 10)):
        code = main.main([str(a) for a in train_args(demo_dir, tmp_path / "run", "--check", "--dataset_id", data,
                                                      "--dataset_config", config, "--batch_size", "4")[1:]])
        out = capsys.readouterr().out
        assert code == 0, out[-2000:]
        assert f"references with a parseable answer: {count} of {count}\n" in out, config
        result = evaluation.evaluate(evaluation.EvalArguments(
            model_dir=str(demo_dir / "adapter"), dataset_id=str(data), dataset_config=config, split="train",
            max_completion_length=4, output_file=str(tmp_path / f"{config}.json")))
        problems = [s["prompt"][-1]["content"] for s in result["samples"]]
        expected = [r["problem"] for r in (rows[:6] if config == "easy" else rows[6:16])]
        assert problems == expected and result["summary"]["dataset_config"] == config


def test_eval_tokenizer_option_is_the_tokenizer_used(demo_dir, tmp_path):
    """A tokenizer whose chat template adds a preamble makes every prompt longer: at a limit where every prompt fits
    under the base model's tokenizer, the given one must skip exactly those its own template makes too long."""
    import eval as evaluation
    from transformers import AutoTokenizer

    from data_utils import make_prompt
    from demo import DEMO_SYSTEM_PROMPT

    tokenizer = tmp_path / "preamble_tokenizer"
    tokenizer.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(demo_dir / "base_model" / name, tokenizer / name)
    template = tokenizer / "chat_template.jinja"
    template.write_text("Be brief.\n" + template.read_text())
    rows = [json.loads(line) for line in open(demo_dir / "data" / "test.jsonl")][:16]
    rows = [{**row, "problem": "Please " * i + row["problem"]} for i, row in enumerate(rows)]  # lengths differ
    data = tmp_path / "varied.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    problems = [row["problem"] for row in rows]

    def lengths(path):
        tok = AutoTokenizer.from_pretrained(path)
        texts = [tok.apply_chat_template(make_prompt(p, DEMO_SYSTEM_PROMPT), tokenize=False, add_generation_prompt=True)
                 for p in problems]
        return [len(tok(text, add_special_tokens=False)["input_ids"]) for text in texts]

    limit = max(lengths(demo_dir / "base_model"))  # every prompt fits the base model's tokenizer
    expected_skips = sum(n > limit for n in lengths(tokenizer))
    assert 0 < expected_skips < len(problems), "the preamble should push some prompts over the limit, not all"

    def run(name, **kwargs):
        return evaluation.evaluate(evaluation.EvalArguments(
            model_dir=str(demo_dir / "adapter"), dataset_id=str(data), split="test",
            max_completion_length=4, max_prompt_length=limit, output_file=str(tmp_path / name), **kwargs))["summary"]

    assert run("default.json")["skipped_prompts"] == 0
    given = run("given.json", tokenizer=str(tokenizer))
    assert given["tokenizer"] == str(tokenizer.resolve())
    assert given["skipped_prompts"] == expected_skips, "--tokenizer was not the tokenizer used"


# ---------------------------------------------------------------------------------------------------------------
# A model from the local hub cache; QLoRA training.

def hub_cache_with(model_dir: Path, home: Path, repo_id: str) -> None:
    """The layout `hf download` leaves under HF_HOME: refs/main names a snapshot holding the files."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = home / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(model_dir, repo / "snapshots" / commit)


def test_a_model_in_the_local_hub_cache_loads_without_the_network(demo_dir, tmp_path):
    """Downloaded once, later no network: the hub id loads from the cache, also when the hub is unreachable (not only
    with HF_HUB_OFFLINE=1), and quickly (the unreachable-hub check must not stand in its way)."""
    home = tmp_path / "hf"
    hub_cache_with(demo_dir / "base_model", home, "demo-org/tiny-math")
    env = {"HF_HOME": str(home), "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
           "HF_ENDPOINT": "http://127.0.0.1:9"}
    started = time.monotonic()
    proc = run_cli("eval.py", "--model_dir", "demo-org/tiny-math", "--dataset_id", demo_dir / "data" / "test.jsonl",
                   "--split", "test[:2]", "--max_completion_length", "4", "--output_file", tmp_path / "out.json",
                   env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "out.json").read_text())["summary"]
    assert summary["base_model"] == "demo-org/tiny-math" and summary["num_problems"] == 2
    took = time.monotonic() - started
    assert took < 90, f"{took:.0f} s: the libraries retried the unreachable hub instead of using the cache"


def test_qlora_trains_a_few_steps(demo_dir, tmp_path):
    """--load_in_4bit true: GRPO trains a LoRA adapter on the frozen 4-bit model (bitsandbytes, CPU here), and the
    adapter reloads onto the 4-bit base and changes its outputs."""
    pytest.importorskip("bitsandbytes")
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    out = tmp_path / "qlora"
    proc = run_cli(*train_args(demo_dir, out, "--load_in_4bit", "true", "--max_steps", "2", "--save_steps", "2"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    config = json.loads((out / "run_config.json").read_text())
    assert config["finished"] is True and config["model_args"]["load_in_4bit"] is True
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert [e["step"] for e in history if "loss" in e] == [1, 2]
    # The same command in full precision: its first step's policy entropy differs, since 4-bit weights give other
    # logits (a silently ignored --load_in_4bit would give the very same figure: CPU runs are deterministic).
    twin = run_cli(*train_args(demo_dir, tmp_path / "fp32", "--max_steps", "2", "--save_steps", "2"))
    assert twin.returncode == 0, twin.stderr[-2000:]
    twin_history = json.loads((tmp_path / "fp32" / "trainer_state.json").read_text())["log_history"]
    first = lambda h: next(e for e in h if e.get("step") == 1 and "entropy" in e)  # noqa: E731
    assert first(history)["entropy"] != first(twin_history)["entropy"], "the 4-bit run trained the fp32 model"
    tensors = load_file(str(out / "adapter_model.safetensors"))
    assert any(t.abs().sum() > 0 for k, t in tensors.items() if "lora_B" in k), "lora_B is all zeros: no training"

    tokenizer = AutoTokenizer.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(demo_dir / "base_model", device_map={"": "cpu"},
                                                quantization_config=BitsAndBytesConfig(load_in_4bit=True))
    assert type(base.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"
    ids = tokenizer("What is 3 + 4?", return_tensors="pt")
    with torch.no_grad():
        before = base(**ids).logits.clone()
        after = PeftModel.from_pretrained(base, str(out))(**ids).logits
    assert not torch.allclose(before, after, atol=1e-5), "the adapter must change the 4-bit model's outputs"
