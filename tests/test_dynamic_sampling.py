"""--dynamic_sampling (dynamic_sampling.py): the decisions as function calls with hand-computed answers, real short
trainings of the demo's tiny model (in-process), and, marked slow, two processes under DeepSpeed ZeRO-2/3 and a
resume after kill -9."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import main
from conftest import REPO, run_cli
from demo import DEMO_SYSTEM_PROMPT
from dynamic_sampling import (DynamicSampling, DynamicSamplingTrainer, extra_prompt_indices, groups_vary, join_rows,
                              metric_values, plan_batch, tie_share)
from errors import UsageError

# Ties on every "+" problem (1.0 for each completion), differs on every "-" problem (the completion's place in its
# group: 0, 1, 2, 3), so which groups vary depends only on the prompt, never on what the model wrote.
PLUS_TIES = '''
import os
from pathlib import Path

def plus_ties(prompts, completions, trainer_state=None, **kwargs):
    log = os.environ.get("REWARD_CALL_LOG")
    if log and len(completions) > 1:  # one line per call (= per generation round) on each process; not the probe
        with open(f"{log}.rank{os.environ.get('RANK', '0')}", "a") as f:
            f.write(f"{trainer_state.global_step}\\n")
    return [1.0 if "+" in p[-1]["content"] else float(i % 4) for i, p in enumerate(prompts)]
'''
ALWAYS_TIES = '''
def always_ties(completions, **kwargs):
    return [0.5] * len(completions)
'''


def reward_file(tmp_path: Path, source: str, name: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return f"{path}:{name}"


def run_argv(demo_dir, out, *extra) -> list[str]:
    return ["--model_id", str(demo_dir / "base_model"), "--dataset_id", str(demo_dir / "data" / "train.jsonl"),
            "--output_dir", str(out), "--max_steps", "3", "--learning_rate", "3e-4", "--batch_size", "8",
            "--num_generations", "4", "--max_completion_length", "8", "--lora_target_modules", "all-linear",
            "--gradient_checkpointing", "false", "--report_to", "none", "--save_steps", "2", "--logging_steps", "1",
            "--system_prompt", DEMO_SYSTEM_PROMPT, *map(str, extra)]


# ----------------------------------------------------------------------------------------------------------------------
# The decisions, in-process.

def test_groups_vary_ignores_missing_rewards_and_float_noise():
    values = torch.tensor([1.0, 1.0, 1.0, 1.0,           # all equal: ties
                           0.0, 1.0, 0.0, 0.0,           # one differs: varies
                           0.3, 0.3 + 1e-9, 0.3, 0.3,    # float noise under the tolerance: ties
                           float("nan"), 2.0, float("nan"), 2.0,  # None rewards ignored, the rest equal: ties
                           float("nan"), float("nan"), 5.0, float("nan"),  # a single value: ties
                           float("nan"), 0.0, 1.0, float("nan")])  # two values that differ: varies
    assert groups_vary(values, 4) == [False, True, False, False, False, True]
    assert tie_share([[1, 1], [1, 0], [None, 3]]) == (2, 3)


def test_metric_is_the_weighted_total_or_one_reward():
    rewards = torch.tensor([[1.0, 0.0], [0.0, 1.0], [float("nan"), float("nan")], [float("nan"), 1.0]])
    weights = torch.tensor([2.0, 1.0])
    total = metric_values(rewards, weights, None)
    assert total[:2].tolist() == [2.0, 1.0] and torch.isnan(total[2]) and total[3].item() == 1.0
    assert metric_values(rewards, weights, 1)[:2].tolist() == [0.0, 1.0]


def test_plan_keeps_the_first_varied_groups_of_each_process_and_fills_only_at_the_cap():
    # 2 processes x 2 groups per round; round 0: process 0's groups (T, F), process 1's (F, F); round 1: (T, T), (F, T)
    plan = plan_batch([[True, False, False, False], [True, True, False, True]], processes=2, groups_per_process=2)
    assert plan.kept == [[(0, 0), (1, 0)], [(1, 1)]]  # process 0 drops its surplus (1, 1)
    assert plan.filler == [[], [(0, 0)]] and not plan.full  # process 1 is one short: its earliest tied group fills
    assert plan_batch([[True, True, True, True]], 2, 2).full
    nothing = plan_batch([[False, False]], 1, 2)
    assert nothing.kept == [[]] and nothing.filler == [[(0, 0), (0, 1)]]


def test_extra_prompts_are_reproducible_and_differ_by_step_and_round():
    first = extra_prompt_indices(seed=42, step=7, round_index=1, dataset_size=50, count=10)
    assert first == extra_prompt_indices(42, 7, 1, 50, 10)  # the same on every process and after a resume
    assert len(set(first)) == 10 and all(0 <= i < 50 for i in first)
    assert first != extra_prompt_indices(42, 8, 1, 50, 10) and first != extra_prompt_indices(42, 7, 2, 50, 10)
    assert sorted(extra_prompt_indices(0, 0, 1, 3, 7)[:3]) == [0, 1, 2]  # more than the data: whole passes


def test_join_rows_pads_prompts_left_and_completions_right():
    a = {"prompt_ids": torch.tensor([[5, 6], [7, 8]]), "prompt_mask": torch.ones(2, 2, dtype=torch.long),
         "completion_ids": torch.tensor([[1], [2]]), "completion_mask": torch.ones(2, 1, dtype=torch.long),
         "advantages": torch.tensor([0.5, -0.5]), "num_items_in_batch": torch.tensor(2)}
    b = {"prompt_ids": torch.tensor([[9]]), "prompt_mask": torch.ones(1, 1, dtype=torch.long),
         "completion_ids": torch.tensor([[3, 4, 4]]), "completion_mask": torch.tensor([[1, 1, 0]]),
         "advantages": torch.tensor([1.0]), "num_items_in_batch": torch.tensor(2)}
    joined = join_rows([(a, torch.tensor([1])), (b, torch.tensor([0]))], pad_token_id=0)
    assert joined["prompt_ids"].tolist() == [[7, 8], [0, 9]] and joined["prompt_mask"].tolist() == [[1, 1], [0, 1]]
    assert joined["completion_ids"].tolist() == [[2, 0, 0], [3, 4, 4]]
    assert joined["completion_mask"].tolist() == [[1, 0, 0], [1, 1, 0]]
    assert joined["advantages"].tolist() == [-0.5, 1.0] and "num_items_in_batch" not in joined


REFUSALS = {
    "metric without the option": (["--dynamic_sampling_metric", "accuracy"], "only apply with --dynamic_sampling"),
    "rounds without the option": (["--max_generation_rounds", "3"], "only apply with --dynamic_sampling"),
    "zero rounds": (["--dynamic_sampling", "--max_generation_rounds", "0"], "--max_generation_rounds 0 is out of range"),
    "metric not a reward": (["--dynamic_sampling", "--dynamic_sampling_metric", "brevity"],
                            "--dynamic_sampling_metric brevity is not one of this run's rewards"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_options_that_make_no_sense_are_refused_in_one_line(case):
    argv, expected = REFUSALS[case]
    with pytest.raises(UsageError) as err:
        main.parse_args(["--output_dir", "/tmp/never-written", *argv])
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_group_split_across_processes_is_refused(monkeypatch):
    """2 processes x --batch_size 2 with G=4: the generation batch (4) holds whole groups, each process's half
    does not, so a process could not tell which of its groups tie."""
    from types import SimpleNamespace

    import distributed

    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    args = SimpleNamespace(dynamic_sampling=True, dynamic_sampling_metric=None, max_generation_rounds=None,
                           steps_per_generation=None, gradient_accumulation_steps=1, generation_batch_size=None,
                           per_device_train_batch_size=2, num_generations=4)
    assert main.generation_batch_problems(args) == []
    problems = main.dynamic_sampling_problems(args)
    assert len(problems) == 1 and "needs whole groups on each process" in problems[0]
    args.per_device_train_batch_size = 4
    assert main.dynamic_sampling_problems(args) == []


def test_accepted_options():
    _, args, _ = main.parse_args(["--dynamic_sampling", "--dynamic_sampling_metric", "accuracy",
                                  "--max_generation_rounds", "2"])
    assert args.dynamic_sampling and args.dynamic_sampling_metric == "accuracy" and args.max_generation_rounds == 2
    _, args, _ = main.parse_args(["--dynamic_sampling", "--dynamic_sampling_metric", "reward"])
    assert args.dynamic_sampling_metric == "reward"


# ----------------------------------------------------------------------------------------------------------------------
# Real training of the tiny demo model, in-process.

class Recording(DynamicSamplingTrainer):
    """Records each generation round's prompts and every batch the loss sees."""

    def __init__(self, *args, **kwargs):
        self.rounds_by_step, self.loss_batches = {}, []
        super().__init__(*args, **kwargs)

    def _generate(self, prompts):
        group_prompts = [p[-1]["content"] for p in prompts[::self.num_generations]]
        self.rounds_by_step.setdefault(self.state.global_step, []).append(group_prompts)
        return super()._generate(prompts)

    def _compute_loss(self, model, inputs):
        rows = self.processing_class.batch_decode(inputs["prompt_ids"], skip_special_tokens=True)
        self.loss_batches.append((rows, inputs["completion_mask"].sum(dim=1).tolist(), inputs["advantages"].tolist()))
        return super()._compute_loss(model, inputs)


def build_trainer(demo_dir, out, reward, max_rounds):
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM

    from data_utils import load_prompt_dataset
    from models import load_chat_tokenizer

    script_args, training_args, _ = main.parse_args(run_argv(demo_dir, out, "--dynamic_sampling"))
    tokenizer = load_chat_tokenizer(str(demo_dir / "base_model"), "--model_id")
    data = load_prompt_dataset(str(demo_dir / "data" / "train.jsonl"), "train", None, DEMO_SYSTEM_PROMPT,
                               "problem", "solution")
    return Recording(model=AutoModelForCausalLM.from_pretrained(demo_dir / "base_model"), reward_funcs=[reward],
                     args=training_args, train_dataset=data, processing_class=tokenizer,
                     peft_config=LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"),
                     dynamic_sampling=DynamicSampling(max_rounds=max_rounds))


def plus_ties(prompts, completions, **kwargs):
    return [1.0 if "+" in p[-1]["content"] else float(i % 4) for i, p in enumerate(prompts)]


def test_tied_prompts_never_reach_the_loss_and_the_batch_keeps_its_size(demo_dir, tmp_path):
    trainer = build_trainer(demo_dir, tmp_path / "run", plus_ties, max_rounds=6)
    trainer.train()
    groups_wanted = 2  # --batch_size 8 / --num_generations 4, one process, one accumulation step
    logged = [e for e in trainer.state.log_history if "dynamic_sampling/rounds" in e]
    assert len(logged) == 3 and len(trainer.loss_batches) == 3
    for entry, (step, rounds) in zip(logged, sorted(trainer.rounds_by_step.items())):
        # By hand: rounds run until two "-" prompts have been generated for (or the cap).
        minus = [sum("-" in p for p in prompts) for prompts in rounds]
        expected = next((r + 1 for r in range(len(minus)) if sum(minus[:r + 1]) >= groups_wanted), 6)
        assert len(rounds) == expected == entry["dynamic_sampling/rounds"], (step, rounds)
        assert entry["dynamic_sampling/groups_generated"] == 2 * expected
        assert entry["dynamic_sampling/completions_generated"] == 8 * expected
        assert entry["dynamic_sampling/groups_trained"] == min(groups_wanted, sum(minus))
    for rows, lengths, advantages in trainer.loss_batches:
        assert len(rows) == 8  # the batch TRL trains on keeps its size
        trained = [row for row, length in zip(rows, lengths) if length > 0]
        assert trained and all(" - " in row and " + " not in row.split("user")[-1] for row in trained), rows
        assert all(a == 0 for row, length, a in zip(rows, lengths, advantages) if length == 0)
    # TRL's completion log (report/samples.md reads it) holds the trained groups only.
    import pandas as pd

    logs = [pd.read_parquet(p) for p in sorted((tmp_path / "run" / "completions").glob("*.parquet"))]
    assert len(logs) == 3 and all(len(df) == 8 and not df["prompt"].astype(str).str.contains(r"\+").any()
                                  for df in logs)


def test_a_reward_that_always_ties_hits_the_cap_warns_once_and_trains_nothing(demo_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = main.main(run_argv(demo_dir, out, "--reward_funcs", reward_file(tmp_path, ALWAYS_TIES, "always_ties"),
                              "--dynamic_sampling", "--max_generation_rounds", "2"))
    stdout = capsys.readouterr()
    assert code == 0, stdout.err[-2000:]
    config = json.loads((out / "run_config.json").read_text())
    caps = [w for w in config["health"] if w["check"] == "dynamic_sampling_cap"]
    assert len(caps) == 1 and "--max_generation_rounds" in caps[0]["message"] and "--temperature" in caps[0]["message"]
    assert (stdout.out + stdout.err).count("dynamic sampling hit --max_generation_rounds") == 1
    ds = config["dynamic_sampling"]
    assert ds["metric"] == "reward" and ds["max_rounds"] == 2
    assert (ds["generations"], ds["rounds"], ds["cap_hits"], ds["groups_trained"]) == (3, 6, 3, 0)
    assert ds["completions_generated"] == 3 * 2 * 8 and ds["groups_generated"] == 3 * 2 * 2
    # Nothing trained: LoRA B starts at zero and no gradient ever reached it.
    from safetensors.torch import load_file

    adapter = load_file(str(out / "adapter_model.safetensors"))
    assert all(t.abs().sum() == 0 for k, t in adapter.items() if "lora_B" in k)
    assert "dynamic sampling:" in stdout.out and "cap hit in 3 batch(es)" in stdout.out  # end-of-run summary
    assert "Dynamic sampling" in (out / "README.md").read_text()


# ----------------------------------------------------------------------------------------------------------------------
# Two processes and a resume (slow).

@pytest.mark.slow
@pytest.mark.parametrize("config", ["zero2_cpu.yaml", "zero3_cpu.yaml"])
def test_two_processes_run_the_same_rounds(config, demo_dir, tmp_path):
    from test_multigpu import launch, launch_cmd, output

    out, calls = tmp_path / "run", tmp_path / "calls"
    cmd = launch_cmd(config, demo_dir, out, "--max_steps", "3", "--save_steps", "3", "--dynamic_sampling",
                     "--max_generation_rounds", "4", "--reward_funcs", reward_file(tmp_path, PLUS_TIES, "plus_ties"))
    os.environ["REWARD_CALL_LOG"] = str(calls)  # the launched ranks inherit it (conftest restores os.environ)
    proc = launch(cmd)
    assert proc.returncode == 0, output(proc)
    rank0, rank1 = (Path(f"{calls}.rank{r}").read_text().split() for r in (0, 1))
    assert rank0 == rank1, "the processes ran different numbers of generation rounds"
    state = json.loads((out / "trainer_state.json").read_text())
    logged = [e["dynamic_sampling/rounds"] for e in state["log_history"] if "dynamic_sampling/rounds" in e]
    per_step = [rank0.count(str(step)) for step in range(3)]
    assert logged == per_step and sum(per_step) > 3, (logged, per_step)  # some step needed extra rounds
    assert (out / "adapter_model.safetensors").is_file() and not list(out.glob("adapter_model*rank*"))
    assert json.loads((out / "run_config.json").read_text())["dynamic_sampling"]["rounds"] == sum(per_step)


@pytest.mark.slow
def test_resume_after_kill_equals_the_uninterrupted_run(demo_dir, tmp_path):
    from safetensors.torch import load_file

    reward = reward_file(tmp_path, PLUS_TIES, "plus_ties")

    def argv(out):
        return ["main.py", *run_argv(demo_dir, out, "--max_steps", "4", "--reward_funcs", reward,
                                     "--dynamic_sampling")]

    whole = run_cli(*argv(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr[-3000:]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, *argv(out)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not (out / "checkpoint-2" / "trainer_state.json").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before its first checkpoint"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not json.loads((out / "run_config.json").read_text())["finished"]
    again = run_cli(*argv(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Resuming from checkpoint-" in again.stdout
    left, right = load_file(str(tmp_path / "whole" / "adapter_model.safetensors")), \
        load_file(str(out / "adapter_model.safetensors"))
    assert left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)
    totals = [json.loads((d / "run_config.json").read_text())["dynamic_sampling"] for d in (tmp_path / "whole", out)]
    assert totals[0] == totals[1] and totals[0]["rounds"] > 4  # extra rounds ran, and were counted once
