"""cli.py: the command-line plumbing every entry point shares (one-line errors with "did you mean", whether an option
was given), and GRPO's batch arithmetic (distributed.generation_batch) that main.py, --check and the doctor read."""
from types import SimpleNamespace

import pytest

import cli
import eval as evaluation
from distributed import generation_batch
from errors import UsageError


def test_an_option_is_given_on_the_command_line_or_by_a_value_off_its_default():
    args = evaluation.EvalArguments(model_dir="m", seed=7)
    assert cli.given(args, "seed") and not cli.given(args, "num_samples")
    assert cli.given(args, "num_samples", ["--num-samples=1"]), "at its default value, but typed"
    assert cli.flags_given(["--check-samples=2", "x", "--seed", "3"]) == {"--check_samples", "--seed"}


def test_a_misspelled_option_is_one_line_with_a_suggestion():
    parser = evaluation.make_parser()
    with pytest.raises(UsageError, match=r"^unknown option --num_sample \(did you mean --num_samples\?\) \(see python "
                                         r"eval.py --help\)$"):
        parser.parse_args(["--num_sample", "3"])
    assert cli.suggest(parser, "--zzzz") == ""


@pytest.mark.parametrize("per_device, processes, accumulation, steps_per_generation, expected", [
    # per device x processes x steps = completions; per process = per device x steps; prompts per optimizer step =
    # per device x processes x accumulation / G (G = 4)
    (8, 1, 1, None, (1, 8, 8, 2.0, True)),
    (8, 1, 1, 4, (4, 32, 32, 2.0, True)),  # --steps_per_generation: four micro-batches from one generation
    (2, 2, 8, None, (8, 32, 16, 8.0, True)),
    (6, 1, 1, None, (1, 6, 6, 1.5, False)),  # 6 completions cannot hold whole groups of 4
])
def test_generation_batch_arithmetic(monkeypatch, per_device, processes, accumulation, steps_per_generation, expected):
    monkeypatch.setenv("WORLD_SIZE", str(processes))
    args = SimpleNamespace(per_device_train_batch_size=per_device, gradient_accumulation_steps=accumulation,
                           steps_per_generation=steps_per_generation, generation_batch_size=None, num_generations=4)
    batch = generation_batch(args)
    assert (batch.steps, batch.completions, batch.per_process, batch.prompts_per_optimizer_step,
            batch.divisible) == expected
