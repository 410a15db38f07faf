"""Command line for GRPO + LoRA math training.

    python main.py --model_id Qwen/Qwen2.5-0.5B-Instruct --dataset_id AI-MO/NuminaMath-TIR --output_dir ckpts/run
    python main.py --demo                      # offline: tiny model + synthetic data, shows GRPO learning
    python main.py --config run.yaml --beta 0.04

Options come from three dataclasses: `ScriptArguments` (data and rewards, ours), `TrainConfig` (TRL's
`GRPOConfig`, so every GRPO/Trainer option such as --beta, --temperature, --loss_type, --use_vllm works, with
defaults tuned below) and `ModelArguments` (TRL's `ModelConfig`: model id and LoRA flags). `--config run.yaml`
sets any of them from YAML; the command line wins.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field

import torch
from trl import GRPOConfig, ModelConfig, TrlParser

from data_utils import SYSTEM_PROMPT
from errors import UsageError
from distributed import reconcile_with_launcher, world_size


@dataclass
class ScriptArguments:
    dataset_id: str = field(
        default="AI-MO/NuminaMath-TIR",
        metadata={"help": "Hub data set id, or a local .json/.jsonl/.parquet/.csv file or directory."},
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub data set configuration name, if any."})
    dataset_split: str = field(
        default="train", metadata={"help": "Training split, slicing allowed: 'train', 'train[:10%%]', 'train[:500]'."}
    )
    prompt_column: str = field(default="problem", metadata={"help": "Column holding the problem text."})
    solution_column: str = field(
        default="solution",
        metadata={"help": "Column holding the reference (worked solution with \\boxed{}, '#### 18', or a bare answer)."},
    )
    system_prompt: str = field(
        default=SYSTEM_PROMPT, metadata={"help": "System prompt asking for <think>...</think><answer>...</answer>."}
    )
    max_prompt_length: int | None = field(
        default=512,
        metadata={"help": "Drop training prompts longer than this many chat-formatted tokens (0/None keeps all)."},
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["format", "accuracy"],
        metadata={"help": "Reward names from reward.REWARD_FUNCS, weighted by --reward_weights."},
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Delete --output_dir first instead of resuming or refusing."}
    )
    demo: bool = field(
        default=False,
        metadata={"help": "Offline demo: build a tiny model and synthetic data under --output_dir (default "
                  "ckpts/demo), evaluate, train with GRPO+LoRA, evaluate again."},
    )


@dataclass
class TrainConfig(GRPOConfig):
    """TRL's GRPOConfig with this project's defaults (every GRPOConfig/TrainingArguments option still works)."""

    output_dir: str = field(default="ckpts/grpo", metadata={"help": "Where checkpoints and the adapter go."})
    per_device_train_batch_size: int = field(
        default=16, metadata={"help": "Completions per device per step (alias --batch_size).",
                              "aliases": ["--batch_size"]}
    )
    warmup_steps: float = field(
        default=0, metadata={"help": "Warmup: steps (int) or a ratio of all steps (float < 1; alias --warmup_ratio, "
                             "which transformers 5 folded into --warmup_steps).", "aliases": ["--warmup_ratio"]}
    )
    learning_rate: float = field(default=1e-5, metadata={"help": "AdamW learning rate."})
    num_generations: int | None = field(default=4, metadata={"help": "Completions sampled per prompt (G)."})
    max_completion_length: int | None = field(default=256, metadata={"help": "Max tokens per completion."})
    logging_steps: float = field(default=1, metadata={"help": "Log rewards and loss every N steps."})
    save_steps: float = field(default=50, metadata={"help": "Save a checkpoint every N steps."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep at most N checkpoints."})
    report_to: None | str | list[str] = field(
        default="tensorboard", metadata={"help": "'tensorboard' (logs under output_dir/runs), 'wandb', or 'none'."}
    )
    bf16: bool | None = field(
        default=None, metadata={"help": "bf16 mixed precision; default: on when the GPU supports it, off on CPU."}
    )

    def __post_init__(self):
        # TRL defaults bf16 to True, which refuses to start without a GPU: make precision automatic instead.
        if self.bf16 is None:
            self.bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported() and not (self.fp16 or self.use_cpu)
        if (self.bf16 or self.fp16 or self.use_vllm) and not torch.cuda.is_available():
            wanted = "--use_vllm" if self.use_vllm else ("--bf16" if self.bf16 else "--fp16")
            raise UsageError(f"{wanted} needs a CUDA GPU but none is available: drop {wanted} to train in fp32 "
                             "on CPU (precision is chosen automatically)")
        if "wandb" in (self.report_to or []) and importlib.util.find_spec("wandb") is None:
            raise UsageError("--report_to wandb needs the wandb package: pip install wandb (or use --report_to "
                             "tensorboard)")
        reconcile_with_launcher(self)  # agree with accelerate/DeepSpeed's accumulation before checking the batch
        check_generation_batch(self)
        super().__post_init__()


def check_generation_batch(args) -> None:
    """GRPO scores whole groups: per-device batch x processes x accumulation must be a multiple of G."""
    steps = args.steps_per_generation or args.gradient_accumulation_steps
    world = world_size()
    batch = args.generation_batch_size or args.per_device_train_batch_size * world * steps
    if args.num_generations and batch % args.num_generations:
        raise UsageError(
            f"generation batch {batch} (= --per_device_train_batch_size {args.per_device_train_batch_size} x "
            f"{world} process(es) x {steps} accumulation steps) is not divisible by --num_generations "
            f"{args.num_generations}: make --batch_size a multiple of {args.num_generations}, or change --num_generations"
        )


@dataclass
class ModelArguments(ModelConfig):
    """TRL's ModelConfig (model loading and LoRA flags) with the seed's --model_id and LoRA on by default."""

    model_name_or_path: str | None = field(
        default="Qwen/Qwen2.5-0.5B-Instruct",
        metadata={"help": "Base model: hub id or local directory (alias --model_id).", "aliases": ["--model_id"]},
    )
    use_peft: bool = field(default=True, metadata={"help": "Train a LoRA adapter (False: full fine-tuning)."})


class Parser(TrlParser):
    def set_defaults_with_config(self, **kwargs):
        # YAML keys may use any spelling of an option (model_id, batch_size, warmup_ratio), not only its dest.
        dest_of = {opt.lstrip("-"): action.dest for action in self._actions for opt in action.option_strings}
        return super().set_defaults_with_config(**{dest_of.get(key, key): value for key, value in kwargs.items()})

    def error(self, message):
        # argparse's default prints ~150 lines of usage (GRPOConfig has that many options) before the error.
        print(f"error: {message} (see python main.py --help)", file=sys.stderr)
        sys.exit(2)


def make_parser():
    return Parser((ScriptArguments, TrainConfig, ModelArguments))


def parse_args(argv: list[str] | None = None):
    """Parse argv (and `--config file.yaml`) into (ScriptArguments, TrainConfig, ModelArguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" in argv:
        i = argv.index("--config")
        if i + 1 >= len(argv) or not os.path.isfile(argv[i + 1]):
            raise UsageError(f"--config needs an existing YAML file, got {argv[i + 1:i + 2] or 'nothing'}")
    try:
        return make_parser().parse_args_and_config(argv)
    except ValueError as err:  # TRL/transformers option validation, e.g. an unknown key in the YAML file
        message = str(err).strip().splitlines()[0]
        if "not used by the HfArgumentParser" in message:
            message = f"unknown option(s) {message.split(': ', 1)[1]}: see python main.py --help"
        raise UsageError(message) from None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if "--demo" in argv:
            from demo import run_demo

            return run_demo(argv)
        script_args, training_args, model_args = parse_args(argv)
        from train import train

        train(script_args, training_args, model_args)
    except UsageError as err:
        if os.environ.get("LOCAL_RANK", "0") == "0":  # under accelerate launch: once per machine, not once per rank
            print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
