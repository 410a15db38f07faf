"""The run doctor (doctor.RunDoctor) and the sampled preflight: real runs of the demo's tiny model, each provoking
one failure, and the healthy demo raising none."""
import json
import shlex

import pytest
from safetensors.torch import load_file

from conftest import error_line, run_cli
from test_train import train_args

CONSTANT_REWARD = '''
def constant(completions, **kwargs):
    """The same score for every completion: no completion is better than another."""
    return [1.0] * len(completions)
'''
# An injected non-finite loss: once the POISON file exists and two steps have run, this reward (called inside the
# trainer's step, after generation) fills the LoRA weights in memory with NaN, as an overflow would; the step's loss and
# gradient become NaN. The checkpoints on disk are untouched, as they are when a real run diverges.
POISONED_REWARD = '''
import inspect
from pathlib import Path

def poisoned(completions, trainer_state=None, **kwargs):
    """0.0 for every completion; NaN into the policy's LoRA weights once poisoned."""
    if Path(__file__).with_name("POISON").exists() and trainer_state.global_step >= 2:
        trainer = next(f.frame.f_locals["self"] for f in inspect.stack()
                       if type(f.frame.f_locals.get("self")).__name__ == "GRPOTrainer")
        for name, weight in trainer.model.named_parameters():
            if "lora_B" in name:
                weight.data.fill_(float("nan"))
    return [0.0] * len(completions)
'''


def warnings_in(stdout: str) -> list[str]:
    return [line[line.index("warning:"):] for line in stdout.splitlines() if "warning:" in line]


def health(out) -> list[dict]:
    return json.loads((out / "run_config.json").read_text())["health"]


@pytest.fixture(scope="module")
def truncated(demo_dir, tmp_path_factory):
    """Every completion cut: a 4-token limit, where the demo's answers need about 20."""
    out = tmp_path_factory.mktemp("doctor") / "truncated"
    proc = run_cli(*train_args(demo_dir, out, "--max_completion_length", "4", "--max_steps", "5",
                               "--logging_steps", "1"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


@pytest.mark.slow
def test_truncation_warns_once_with_the_figure_and_the_fix(truncated):
    out, proc = truncated
    lines = [line for line in warnings_in(proc.stdout) if "cut at --max_completion_length" in line]
    assert len(lines) == 1, proc.stdout[-3000:]  # when it starts, not at every step
    assert "100% of completions are cut at --max_completion_length 4 (completions/clipped_ratio, last 3" in lines[0]
    assert "</answer>" in lines[0] and "raise --max_completion_length" in lines[0]
    assert [w["check"] for w in health(out)][0] == "truncation"
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    flagged = [e["step"] for e in history if e.get("health/truncation") == 1.0]
    assert flagged and flagged == list(range(flagged[0], 6)), "health/truncation marks every step while it lasts"
    card = (out / "README.md").read_text()
    section = card.split("### Health")[1].split("###")[0]
    assert "**truncation**" in section and "cut at --max_completion_length 4" in section
    summary = proc.stdout[proc.stdout.index("Training finished"):]
    assert "health:" in summary and "truncation" in summary


@pytest.mark.slow
def test_constant_reward_warns_no_signal(demo_dir, tmp_path):
    (tmp_path / "my_rewards.py").write_text(CONSTANT_REWARD)
    out = tmp_path / "run"
    proc = run_cli(*train_args(demo_dir, out, "--reward_funcs", tmp_path / "my_rewards.py:constant",
                               "--max_completion_length", "24", "--max_steps", "4", "--logging_steps", "1"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line for line in warnings_in(proc.stdout) if "frac_reward_zero_std" in line]
    assert len(lines) == 1, proc.stdout[-3000:]
    assert "100% of groups have equal rewards" in lines[0]
    assert "constant gave every completion the same value" in lines[0]
    assert "no_signal" in [w["check"] for w in health(out)]


@pytest.mark.slow
def test_non_finite_gradient_stops_with_one_error_and_a_resumable_checkpoint(demo_dir, tmp_path):
    (tmp_path / "my_rewards.py").write_text(POISONED_REWARD)
    (tmp_path / "POISON").touch()
    out = tmp_path / "run"
    args = train_args(demo_dir, out, "--reward_funcs", "format", "accuracy", tmp_path / "my_rewards.py:poisoned",
                      "--max_steps", "6", "--save_steps", "2", "--logging_steps", "1", "--learning_rate", "3e-4")
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]  # the rest is tqdm's bar
    assert len(errors) == 1 and errors[0].startswith("error: training stopped at step 3: the gradient is not finite")
    assert "Traceback" not in proc.stderr
    assert "checkpoint-2, is kept" in errors[0]
    # The NaN never reached the weights: the last checkpoint is whole and finite, nothing later was written.
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    weights = load_file(out / "checkpoint-2" / "adapter_model.safetensors")
    assert all(bool(t.isfinite().all()) for t in weights.values())
    assert not json.loads((out / "run_config.json").read_text())["finished"]
    assert health(out)[-1]["check"] == "non_finite"

    # The command the error gives resumes from checkpoint-2 with a tenth of the learning rate, and that rate is used.
    command = errors[0].split("with a lower learning rate: ", 1)[1]
    argv = shlex.split(command)
    assert argv[:2] == ["python", "main.py"] and argv[-2:] == ["--learning_rate", "3e-05"]
    (tmp_path / "POISON").unlink()
    resumed = run_cli(*argv[1:])
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "Resuming from checkpoint-2" in resumed.stdout
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    rates = {e["step"]: e["learning_rate"] for e in history if "learning_rate" in e}
    assert rates[2] == pytest.approx(3e-4 * 5 / 6)  # the linear schedule before the stop
    assert rates[3] == pytest.approx(3e-5 * 4 / 6)  # after: the same schedule at the new rate


def test_healthy_demo_raises_no_warning(demo):
    out, proc = demo
    adapter = out / "adapter"
    assert health(adapter) == []
    section = (adapter / "README.md").read_text().split("### Health")[1].split("###")[0]
    assert "No warnings" in section
    if proc is not None:
        assert not warnings_in(proc.stdout) and "health:   no warnings" in proc.stdout


def test_check_samples_completions_and_warns_when_all_are_cut(demo_dir, tmp_path):
    proc = run_cli(*train_args(demo_dir, tmp_path / "run", "--check", "--max_completion_length", "4",
                               "--check_samples", "3"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    section = proc.stdout.split("== sampled completions")[1].split("\n== ")[0]
    assert "on the first 3 training prompt(s)" in section and "may take a minute" in section
    assert section.count("4 tokens  CUT at --max_completion_length; reward 0.0 (format 0.0, accuracy 0.0") == 3
    assert "warning: all 3 completions were cut at --max_completion_length 4" in section
    assert "raise --max_completion_length" in section
    assert not (tmp_path / "run").exists()

    quiet = run_cli(*train_args(demo_dir, tmp_path / "run", "--check", "--check_samples", "0"))
    assert quiet.returncode == 0 and "== sampled completions" not in quiet.stdout
    refused = run_cli(*train_args(demo_dir, tmp_path / "run", "--check_samples", "2"))
    assert refused.returncode == 2
    assert error_line(refused.stderr).startswith("error: --check_samples only applies with --check")


def test_check_samples_in_a_yaml_without_check_is_refused(demo_dir, tmp_path, capsys):
    import main as cli

    config = tmp_path / "run.yaml"
    config.write_text("check_samples: 2\n")
    code = cli.main(["--config", str(config), *map(str, train_args(demo_dir, tmp_path / "run")[1:])])
    assert code == 2 and capsys.readouterr().err.startswith("error: --check_samples only applies with --check")
    assert not (tmp_path / "run").exists()


def feed(doctor, entries: list[dict]) -> list[str]:
    """Log `entries` one step each, as Trainer.log does (history entry, then on_log); returns the checks warned."""
    from transformers import TrainerControl, TrainerState

    state = TrainerState()
    for step, entry in enumerate(entries, 1):
        state.global_step = step
        state.log_history.append({**entry, "step": step})
        doctor.on_log(None, state, TrainerControl(), logs=dict(entry))
    return [w["check"] for w in doctor.warnings]


def steps(count: int, **figures) -> list[dict]:
    return [{"loss": 0.0, **figures} for _ in range(count)]


@pytest.mark.parametrize("entries, expected", [
    (steps(5, entropy=0.8) + steps(5, entropy=0.05), ["entropy_collapse"]),
    (steps(5, entropy=0.8) + steps(5, entropy=0.5), []),  # entropy falls in a healthy run too, not tenfold
    (steps(10, kl=0.002) + steps(2, kl=0.4), ["kl_blowup"]),
    (steps(10, kl=0.002) + steps(1, kl=0.4) + steps(1, kl=0.002), []),  # one spike is not a blow-up
    (steps(10, kl=0.0) + steps(2, kl=0.005), []),  # KL leaving 0 is drift, not a blow-up
    (steps(10, grad_norm=0.3) + steps(2, grad_norm=9.0), ["grad_norm_blowup"]),
    (steps(10, grad_norm=0.3) + steps(2, grad_norm=0.9), []),
    (steps(30, **{"rewards/format_reward/mean": 0.95, "rewards/accuracy_reward/mean": 0.2}), ["accuracy_flat"]),
    (steps(29, **{"rewards/format_reward/mean": 0.95, "rewards/accuracy_reward/mean": 0.2}), []),  # not long yet
    ([{"loss": 0.0, "rewards/format_reward/mean": 0.95, "rewards/accuracy_reward/mean": 0.2 + i / 100}
      for i in range(40)], []),  # accuracy rising
    (steps(5, **{"diagnostics/unparseable_references": 2.0}), ["reward_problems"]),  # 2 of 16 per call
    (steps(5, **{"diagnostics/reward_timeouts": 0.5}), []),  # 3% of samples: noise
    ([{"eval/accuracy": 0.5}, {"eval/accuracy": 0.4}, {"eval/accuracy": 0.42}], ["heldout_below_start"]),
    ([{"eval/accuracy": 0.5}, {"eval/accuracy": 0.4}, {"eval/accuracy": 0.5}, {"eval/accuracy": 0.4}], []),
])
def test_each_check_fires_on_its_own_failure_only(tmp_path, entries, expected):
    from doctor import RunDoctor

    assert feed(RunDoctor(tmp_path, 512, 16), entries) == expected
