"""Processes: agreement with the launcher (accelerate / DeepSpeed), world size and rank checks.

Under `accelerate launch --config_file deepspeed_configs/zero3.yaml`, the yaml's
`deepspeed_config.gradient_accumulation_steps` reaches every process as ACCELERATE_GRADIENT_ACCUMULATION_STEPS, and
a DeepSpeed JSON (`--deepspeed_config_file` / `--deepspeed`) may fix `gradient_accumulation_steps`,
`train_micro_batch_size_per_gpu` or `train_batch_size`. When these disagree with the trainer's options, transformers
raises "Please correct the following DeepSpeed config values that mismatch TrainingArguments values" only once
training starts. `reconcile_with_launcher(args)`, called from `TrainConfig.__post_init__` before the generation
batch check, settles it up front:

* the trainer left --gradient_accumulation_steps at its default (1): it adopts the launcher's value and the main
  process prints one line saying so;
* the trainer was given another value: a one-line `UsageError` naming both values and where each comes from.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from environment import cuda_available
from errors import UsageError

YAML_SOURCE = "deepspeed_config.gradient_accumulation_steps of the accelerate config (or accelerate launch --gradient_accumulation_steps)"


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 (or no launcher at all): the process that prints our own lines."""
    return os.environ.get("RANK", "0") == "0"


@dataclass(frozen=True)
class GenerationBatch:
    """GRPO's batch arithmetic as GRPOConfig derives it, in one place: main.py's divisibility check, `--check`'s
    report and memory estimate, and the run doctor's per-call share all read it."""

    per_device: int
    processes: int
    steps: int  # micro-batches one generation serves: --steps_per_generation, else the accumulation steps
    accumulation: int
    completions: int  # generated together: per_device x processes x steps (or --generation_batch_size)
    num_generations: int

    @property
    def per_process(self) -> int:
        """Completions one process generates (and scores) per generation call."""
        return self.per_device * self.steps

    @property
    def prompts_per_optimizer_step(self) -> float:
        return self.per_device * self.processes * self.accumulation / self.num_generations

    @property
    def divisible(self) -> bool:
        """GRPO compares completions within a group: a generation batch holds whole groups."""
        return self.completions % self.num_generations == 0


def generation_batch(args) -> GenerationBatch:
    """The batch arithmetic of training options `args` (before or after GRPOConfig filled in steps_per_generation)."""
    processes, accumulation = world_size(), args.gradient_accumulation_steps
    per_device = args.per_device_train_batch_size
    if args.steps_per_generation:
        steps = args.steps_per_generation
    elif args.generation_batch_size:
        steps = max(1, args.generation_batch_size // (per_device * processes))
    else:
        steps = accumulation
    completions = args.generation_batch_size or per_device * processes * steps
    return GenerationBatch(per_device, processes, steps, accumulation, completions, args.num_generations or 1)


def main_print(*args, **kwargs) -> None:
    if is_main_process():
        print(*args, **kwargs)


def _int(value):
    """An explicit integer setting, or None for missing/"auto"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def deepspeed_json(args) -> tuple[dict, str]:
    """The DeepSpeed JSON config in use (accelerate's --deepspeed_config_file, else --deepspeed), and its name."""
    source = os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE", "none")
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() != "true" or source in ("", "none"):
        source = getattr(args, "deepspeed", None)
    if isinstance(source, dict):
        return source, "the --deepspeed config"
    if not source:
        return {}, ""
    try:
        with open(source) as f:
            return json.load(f), str(source)
    except OSError as err:
        raise UsageError(f"cannot read DeepSpeed config {source}: {err.strerror or err}") from None
    except ValueError as err:
        raise UsageError(f"DeepSpeed config {source} is not valid JSON: {err}") from None


def launcher_gradient_accumulation(args) -> tuple[int | None, str]:
    """(steps, where) when the launcher fixes gradient accumulation, else (None, "")."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        steps = _int(os.environ.get("ACCELERATE_GRADIENT_ACCUMULATION_STEPS"))
        if steps is not None:
            return steps, YAML_SOURCE
    config, name = deepspeed_json(args)
    steps = _int(config.get("gradient_accumulation_steps"))
    return (steps, f"gradient_accumulation_steps in {name}") if steps is not None else (None, "")


# Settings accelerate refuses to take from its yaml when a DeepSpeed JSON is also given (its own list).
JSON_OWNED = {"gradient_accumulation_steps", "gradient_clipping", "zero_stage", "offload_optimizer_device",
              "offload_param_device", "offload_param_nvme_path", "offload_optimizer_nvme_path", "zero3_save_16bit_model",
              "mixed_precision"}


def check_json_with_yaml() -> None:
    """`--deepspeed_config_file` with a yaml that has its own DeepSpeed settings fails deep inside accelerate with a
    questionnaire-style message; say which yaml to use instead."""
    json_file = os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE", "none")
    fields = set(os.environ.get("ACCELERATE_CONFIG_DS_FIELDS", "").split(","))
    if json_file not in ("", "none") and fields & JSON_OWNED:
        cpu = not cuda_available()
        raise UsageError(
            f"--deepspeed_config_file {json_file} conflicts with the DeepSpeed settings of the accelerate config "
            f"({', '.join(sorted(fields & JSON_OWNED))}): use --config_file deepspeed_configs/deepspeed_json"
            f"{'_cpu' if cpu else ''}.yaml with a DeepSpeed JSON (or drop --deepspeed_config_file)")


def reconcile_with_launcher(args) -> None:
    """Make `args` agree with what accelerate/DeepSpeed will use, or raise a one-line UsageError saying what to change.

    Must run before GRPOConfig.__post_init__ derives steps_per_generation / generation_batch_size from
    gradient_accumulation_steps, so that the divisibility check sees the accumulation really used.
    """
    check_json_with_yaml()
    if (os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true" and "LOCAL_RANK" in os.environ
            and args.ddp_backend is None and not args.use_cpu and not cuda_available()):
        # DeepSpeed without a GPU (the *_cpu.yaml configs): accelerate's PartialState finds no backend and counts
        # 1 process of rank 0 in every process (each rank then writes checkpoints and sees the whole batch); with
        # gloo it counts the real processes.
        args.ddp_backend = "gloo"

    steps, where = launcher_gradient_accumulation(args)
    if steps is not None and steps != args.gradient_accumulation_steps:
        if steps < 1:
            raise UsageError(f"{where} is {steps}: it must be at least 1")
        if args.gradient_accumulation_steps != 1:
            raise UsageError(
                f"--gradient_accumulation_steps {args.gradient_accumulation_steps} disagrees with {steps} from {where}: "
                f"make them equal (or drop --gradient_accumulation_steps to use {steps})"
            )
        args.gradient_accumulation_steps = steps
        main_print(f"gradient_accumulation_steps={steps} (from {where.split(' (')[0]})")

    config, name = deepspeed_json(args)
    micro = _int(config.get("train_micro_batch_size_per_gpu"))
    if micro is not None and micro != args.per_device_train_batch_size:
        raise UsageError(
            f"--per_device_train_batch_size {args.per_device_train_batch_size} disagrees with "
            f"train_micro_batch_size_per_gpu {micro} in {name}: make them equal, or set it to \"auto\" there"
        )
    total = _int(config.get("train_batch_size"))
    expected = args.per_device_train_batch_size * world_size() * args.gradient_accumulation_steps  # one optimizer step
    if total is not None and total != expected:
        raise UsageError(
            f"train_batch_size {total} in {name} is not --per_device_train_batch_size {args.per_device_train_batch_size}"
            f" x {world_size()} process(es) x {args.gradient_accumulation_steps} accumulation steps = {expected}: "
            "set it to \"auto\" there"
        )
