"""Command line for GRPO + LoRA math training. Every way to launch it:

    python main.py --demo                               # offline: tiny model + synthetic data, shows GRPO learning
    python main.py --model_id Qwen/Qwen2.5-0.5B-Instruct --dataset_id AI-MO/NuminaMath-TIR --output_dir ckpts/run
    python main.py --check <the same options>           # preflight: loads tokenizer, data and rewards, trains nothing
    python main.py --config run.yaml --beta 0.04        # options from YAML; the command line wins
    accelerate launch --config_file deepspeed_configs/zero2.yaml main.py <options>    # several GPUs (also zero3, ddp)
    accelerate launch --config_file deepspeed_configs/deepspeed_json.yaml \\
        --deepspeed_config_file deepspeed_configs/ds_config_zero2.json main.py <options>

Options come from three dataclasses: `ScriptArguments` (data, rewards, evaluation: ours), `TrainConfig` (TRL's
`GRPOConfig`, so every GRPO/Trainer option such as --beta, --temperature, --loss_type, --use_vllm works, with defaults
tuned below) and `ModelArguments` (TRL's `ModelConfig`: model id, LoRA and quantization flags).

Why one file of ~540 lines: the three dataclasses and their option checks (each a small function returning one-line
problems) are one job, the command line; what the options do lives in train.py, preflight.py and demo.py.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from dataclasses import dataclass, field

from environment import (ctrl_c_to_main, quiet_bitsandbytes, quiet_ctrl_c_while_starting,  # noqa: E402
                         quiet_library_warnings, share_cpu_cores)

if __name__ == "__main__":
    quiet_ctrl_c_while_starting()  # until main()'s own handler: one line, not an import's traceback

# Run as a command (not imported by tests or other modules): choose CPU threads before torch starts its thread pool.
CPU_THREADS = share_cpu_cores() if __name__ == "__main__" else None
quiet_bitsandbytes()  # before TRL imports transformers (and with it bitsandbytes)

import torch  # noqa: E402
from trl import GRPOConfig, ModelConfig, TrlParser

import reward
from cli import HelpFormatter, flags_given, given, suggest, unknown_option
from data_utils import DEFAULT_MAX_PROMPT_LENGTH, SYSTEM_PROMPT
from distributed import generation_batch, is_main_process, reconcile_with_launcher
from errors import UsageError, error_exit
from models import kv_cache, target_module_list


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
        default=DEFAULT_MAX_PROMPT_LENGTH,
        metadata={"help": "Drop training prompts longer than this many chat-formatted tokens (0 keeps all)."},
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: list(reward.DEFAULT_REWARDS),
        metadata={"help": "Rewards: names (format, accuracy, overlong, random: the control run), a file function "
                  "(my_rewards.py:brevity) or an import path (my_pkg.rewards.brevity); weighted by --reward_weights."},
    )
    overlong_buffer: int | None = field(
        default=None, metadata={"help": "Tokens before --max_completion_length where the 'overlong' reward starts "
                                "to punish (default: a quarter of --max_completion_length)."})
    eval_dataset_id: str | None = field(
        default=None, metadata={"help": "Held-out data scored every --eval_steps steps (greedy, eval.py's scoring); "
                                "giving it turns held-out evaluation on. Same formats as --dataset_id."})
    eval_split: str = field(default="test", metadata={"help": "Held-out split, slicing allowed: 'test', 'test[:200]'."})
    eval_dataset_config: str | None = field(default=None, metadata={
        "help": "Held-out data set configuration; default: --dataset_config when --eval_dataset_id is --dataset_id, "
                "else none."})
    eval_prompt_column: str | None = field(default=None, metadata={"help": "Default: --prompt_column."})
    eval_solution_column: str | None = field(default=None, metadata={"help": "Default: --solution_column."})
    eval_max_samples: int = field(
        default=200, metadata={"help": "Held-out problems scored each time (the first N that fit; 0: all)."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Start afresh: remove the earlier run's files from --output_dir (only a "
                                 "run's own; a folder holding other files is refused) instead of resuming or refusing."}
    )
    check: bool = field(
        default=False, metadata={"help": "Preflight: load tokenizer, data and rewards, print a report, train nothing."})
    check_samples: int = field(
        default=4, metadata={"help": "With --check: completions sampled from the base model for the first training "
                             "prompts, shown with their lengths and rewards (0: none; loads the model's weights)."})
    benchmarks: list[str] | None = field(default=None, metadata={
        "help": "With --check: look for these benchmarks' problems in the training data (normalised 8-gram overlap, "
                "contamination.py), e.g. math500 aime24; from the hub, or --benchmark_dir."})
    benchmark_dir: str | None = field(default=None, metadata={
        "help": "With --check: benchmark files DIR/<name>/test.jsonl to compare the training data with (every "
                "preset found there, or those --benchmarks names)."})
    demo: bool = field(
        default=False,
        metadata={"help": "Offline demo: build a tiny model and synthetic data under --output_dir (default "
                  "ckpts/demo), evaluate, train with GRPO+LoRA, evaluate again. Takes --output_dir, --seed, "
                  "--overwrite_output_dir (to write into a directory holding other files)."},
    )

    def __post_init__(self):
        for name, value in [("--max_prompt_length", self.max_prompt_length), ("--overlong_buffer", self.overlong_buffer),
                            ("--eval_max_samples", self.eval_max_samples), ("--check_samples", self.check_samples)]:
            if value is not None and value < 0:  # refused by name here, not a crash (or all rows) later
                raise UsageError(f"{name} {value} is out of range: it must be 0 or more")


@dataclass
class TrainConfig(GRPOConfig):
    """TRL's GRPOConfig with this project's defaults (every GRPOConfig/TrainingArguments option still works)."""

    checkpointing_auto = False  # set in __post_init__ (not a field)
    problems = ()  # set in __post_init__: the option combinations that cannot run (not a field)
    raise_problems = True  # False in CheckConfig: --check lists them all instead of stopping at the first

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
    # Qwen2.5-0.5B-Instruct writes a median of ~274 tokens for a GSM8K solution (huggingface/trl#6263): at 256 most
    # answers are cut before </answer> and score 0. 512 lets most finish; docs/training.md gives the 24 GB-card batch shape.
    max_completion_length: int | None = field(default=512, metadata={"help": "Max tokens per completion."})
    # TRL's completion log, on: report/samples.md shows the best and worst completion of a group from it. Printing it
    # (a rich table of every completion at every logged step) stays off unless asked for.
    log_completions: bool = field(default=True, metadata={
        "help": "Keep each logged step's completions, rewards and advantages in <output_dir>/completions/*.parquet "
                "(TRL's log; report/samples.md reads it)."})
    num_completions_to_print: int | None = field(default=0, metadata={
        "help": "Completions TRL prints as a table at each logged step (needs rich; 0: none)."})
    logging_steps: float = field(default=1, metadata={"help": "Log rewards and loss every N steps."})
    save_steps: float = field(default=50, metadata={"help": "Save a checkpoint every N steps."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep at most N checkpoints."})
    report_to: None | str | list[str] = field(
        default="tensorboard", metadata={"help": "'tensorboard' (logs under output_dir/runs), 'wandb', or 'none'."}
    )
    bf16: bool | None = field(
        default=None, metadata={"help": "bf16 mixed precision; default: on when the GPU supports it, off on CPU."}
    )
    # Why these speed defaults (checkpointing off for LoRA, a static KV cache on CUDA): docs/speed.md.
    activation_checkpointing: bool | None = field(default=None, metadata={
        "help": "Alias of --gradient_checkpointing (transformers' new name).", "nargs": "?", "const": True})
    gradient_checkpointing: bool | None = field(default=None, metadata={"nargs": "?", "const": True,
        "help": "Recompute activations in the backward pass (less memory, slower); default: off for LoRA on models "
                "up to 3B parameters, on for larger models and full fine-tuning."})
    cache_implementation: str | None = field(default="auto", metadata={
        "help": "KV cache for generation: 'static' (fixed-size, much faster decoding on a GPU), 'dynamic' (the "
                "transformers default); 'auto': static on CUDA without vLLM, dynamic on CPU."})

    # Dynamic sampling (DAPO): docs/dynamic-sampling.md. The last two stay None unless given, so that giving them
    # without --dynamic_sampling is refused rather than ignored.
    dynamic_sampling: bool = field(default=False, metadata={
        "help": "Train only on groups whose rewards differ: drop groups whose completions all tie and generate for "
                "more prompts until the batch is full again (DAPO's dynamic sampling; more generation per step)."})
    dynamic_sampling_metric: str | None = field(default=None, metadata={
        "help": "With --dynamic_sampling: the figure that must differ within a group: 'reward' (the weighted total; "
                "default) or one of --reward_funcs (e.g. accuracy)."})
    max_generation_rounds: int | None = field(default=None, metadata={
        "help": "With --dynamic_sampling: generation rounds per step at most, the first included (default 4); "
                "when hit, the step trains on the varied groups it has."})

    def __post_init__(self):
        # TRL defaults bf16 to True, which refuses to start without a GPU: make precision automatic instead.
        if self.bf16 is None:
            self.bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported() and not (self.fp16 or self.use_cpu)
        # Left unset (None), checkpointing is chosen once the model's size is known (models.choose_gradient_checkpointing).
        self.checkpointing_auto = self.activation_checkpointing is None and self.gradient_checkpointing is None
        self.cache_implementation = kv_cache(self.cache_implementation, self.use_vllm)  # None: TRL's own default
        self.problems = config_problems(self)
        try:  # agree with accelerate/DeepSpeed's accumulation (this adjusts self) before checking the batch
            reconcile_with_launcher(self)
        except UsageError as err:
            self.problems.append(str(err))
        self.problems += generation_batch_problems(self) + dynamic_sampling_problems(self)
        if self.problems and not self.raise_problems:
            return
        for problem in self.problems:
            raise UsageError(problem)
        super().__post_init__()


@dataclass
class CheckConfig(TrainConfig):
    """TrainConfig for --check: it keeps every option problem in `problems` instead of raising the first."""

    raise_problems = False


def config_problems(args) -> list[str]:
    """Option values that cannot run, as one-line messages; reads `args`, changes nothing. (The launcher and batch
    checks follow in TrainConfig.__post_init__.)"""
    problems = []
    if (args.bf16 or args.fp16 or args.use_vllm) and not torch.cuda.is_available():
        wanted = "--use_vllm" if args.use_vllm else ("--bf16" if args.bf16 else "--fp16")
        problems.append(f"{wanted} needs a CUDA GPU but none is available: drop {wanted} to train in fp32 on CPU "
                        "(precision is chosen automatically)")
    if "wandb" in (args.report_to or []) and importlib.util.find_spec("wandb") is None:
        problems.append("--report_to wandb needs the wandb package: pip install wandb (or use --report_to tensorboard)")
    elif "wandb" in (args.report_to or []):
        problems += wandb_problems()
    # Counts and sizes by name: 0 or a negative value would crash deep inside the trainer (a division by zero, an
    # empty batch) or be silently ignored. (name, value, lowest allowed; 0: positive)
    for name, value, low in [("--learning_rate", args.learning_rate, 0), ("--num_generations", args.num_generations, 2),
                             ("--per_device_train_batch_size", args.per_device_train_batch_size, 1),
                             ("--gradient_accumulation_steps", args.gradient_accumulation_steps, 1),
                             ("--max_completion_length", args.max_completion_length, 1),
                             ("--num_iterations", args.num_iterations, 1),
                             ("--steps_per_generation", args.steps_per_generation, 1),
                             ("--generation_batch_size", args.generation_batch_size, 1),
                             ("--logging_steps", args.logging_steps, 0), ("--save_steps", args.save_steps, 0),
                             ("--eval_steps", args.eval_steps, 0), ("--save_total_limit", args.save_total_limit, 1),
                             ("--temperature", args.temperature, 0), ("--top_p", args.top_p, 0)]:
        if value is not None and (value < low or (low == 0 and value <= 0)):
            problems.append(f"{name} {value} is out of range: it must be {'positive' if low == 0 else f'at least {low}'}"
                            + COUNT_WHY.get(name, ""))
    if args.top_p is not None and args.top_p > 1:
        problems.append(f"--top_p {args.top_p} is out of range: it must be in (0, 1]")
    if (args.max_steps or 0) <= 0 and (args.num_train_epochs or 0) <= 0:  # would save an untrained adapter as finished
        problems.append(f"--max_steps {args.max_steps} with --num_train_epochs {args.num_train_epochs} trains nothing: "
                        "pass --max_steps N (N > 0), or --num_train_epochs above 0 with --max_steps -1")
    return problems


COUNT_WHY = {"--num_generations": " (GRPO compares completions within a group)",
             "--temperature": " (GRPO samples a group of completions per prompt: greedy decoding, temperature 0, "
                              "would make them identical and every advantage 0)"}


def wandb_problems() -> list[str]:
    """--report_to wandb that would stop at the first log with W&B's own traceback: no API key (WANDB_API_KEY, a
    ~/.netrc entry from `wandb login`) and not offline (WANDB_MODE=offline or disabled, or `wandb offline`)."""
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            from wandb.sdk import wandb_setup

            mode = wandb_setup.singleton().settings.mode
            if mode in ("offline", "disabled", "dryrun") or os.environ.get("WANDB_API_KEY"):
                return []
            import wandb

            logged_in = wandb.login(prompt=False, verify=False)  # reads the key where wandb itself looks; no prompt
    except Exception as err:  # noqa: BLE001 - e.g. an invalid WANDB_MODE: W&B's settings refuse it
        return [f"--report_to wandb: W&B cannot start: {str(err).strip().splitlines()[-1] if str(err).strip() else err!r}"
                " (check the WANDB_* environment variables)"]
    if logged_in:
        return []
    return ["--report_to wandb needs a W&B API key: run `wandb login` (or set WANDB_API_KEY), or log offline with "
            "WANDB_MODE=offline, or use --report_to tensorboard"]


def generation_batch_problems(args) -> list[str]:
    """GRPO scores whole groups: per-device batch x processes x generation steps must be a multiple of G."""
    batch = generation_batch(args)
    if args.num_generations and args.num_generations > 0 and not batch.divisible:
        return [f"generation batch {batch.completions} (= --per_device_train_batch_size {batch.per_device} x "
                f"{batch.processes} process(es) x {batch.steps} accumulation steps) is not divisible by "
                f"--num_generations {args.num_generations}: make --batch_size a multiple of {args.num_generations}, "
                "or change --num_generations"]
    return []


def dynamic_sampling_problems(args) -> list[str]:
    """--dynamic_sampling's options that make no sense (the metric is checked against the rewards in
    `dynamic_sampling_metric_problems`, which sees --reward_funcs)."""
    flags = [flag for flag, value in [("--dynamic_sampling_metric", args.dynamic_sampling_metric),
                                      ("--max_generation_rounds", args.max_generation_rounds)] if value is not None]
    if flags and not args.dynamic_sampling:
        return [f"{' and '.join(flags)} only apply with --dynamic_sampling: add --dynamic_sampling, or drop "
                f"{' and '.join(flags)}"]
    if not args.dynamic_sampling:
        return []
    if args.max_generation_rounds is not None and args.max_generation_rounds < 1:
        return [f"--max_generation_rounds {args.max_generation_rounds} is out of range: it must be at least 1 "
                "(the first round included)"]
    per_process = generation_batch(args).per_process
    if args.num_generations and per_process % args.num_generations:
        return [f"--dynamic_sampling needs whole groups on each process, but each process generates {per_process} "
                f"completions per step, not a multiple of --num_generations {args.num_generations}: make "
                f"--batch_size a multiple of {args.num_generations}"]
    return []


def dynamic_sampling_metric_problems(script_args, training_args) -> list[str]:
    """--dynamic_sampling_metric must name the total ('reward') or one of the run's --reward_funcs."""
    metric = training_args.dynamic_sampling_metric
    if not training_args.dynamic_sampling or metric is None or metric == "reward" \
            or metric in script_args.reward_funcs:
        return []
    return [f"--dynamic_sampling_metric {metric} is not one of this run's rewards: use 'reward' (the total) or one "
            f"of --reward_funcs ({', '.join(script_args.reward_funcs)})"]


@dataclass
class ModelArguments(ModelConfig):
    """TRL's ModelConfig (model loading, LoRA and quantization flags) with the seed's --model_id and LoRA on."""

    model_name_or_path: str | None = field(
        default="Qwen/Qwen2.5-0.5B-Instruct",
        metadata={"help": "Base model: hub id or local directory (alias --model_id).", "aliases": ["--model_id"]},
    )
    use_peft: bool = field(default=True, metadata={"help": "Train a LoRA adapter (False: full fine-tuning)."})

    def __post_init__(self):
        super().__post_init__()
        # TRL turns a one-item list into a string, which PEFT would match as a whole-name pattern: always a list.
        self.lora_target_modules = target_module_list(self.lora_target_modules)


# --help shows these first, in this order and with these short texts; TRL's full list follows under its own heading.
OUR_OPTIONS = {
    "Model and data": ["model_name_or_path", "dataset_id", "dataset_config", "dataset_split", "prompt_column",
                       "solution_column", "system_prompt", "max_prompt_length"],
    "Training": ["output_dir", "learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                 "num_generations", "gradient_accumulation_steps", "max_completion_length", "warmup_steps",
                 "temperature", "beta", "logging_steps", "save_steps", "save_strategy", "seed", "report_to",
                 "resume_from_checkpoint", "overwrite_output_dir", "bf16", "gradient_checkpointing"],
    "Rewards": ["reward_funcs", "reward_weights", "overlong_buffer"],
    "Dynamic sampling": ["dynamic_sampling", "dynamic_sampling_metric", "max_generation_rounds"],
    "Held-out evaluation during training": ["eval_dataset_id", "eval_split", "eval_dataset_config", "eval_steps",
                                            "eval_max_samples", "eval_prompt_column", "eval_solution_column"],
    "LoRA and quantization": ["lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "load_in_4bit",
                              "load_in_8bit"],
    "Modes": ["config", "check", "check_samples", "benchmarks", "benchmark_dir", "demo", "help_all"],
}
SHORT_HELP = {
    "num_train_epochs": "Epochs over the training prompts (--max_steps wins when > 0).",
    "max_steps": "Total optimizer steps; -1: from --num_train_epochs.",
    "gradient_accumulation_steps": "Steps per optimizer update.",
    "temperature": "Sampling temperature of the GRPO completions.",
    "beta": "KL penalty coefficient (0: no reference model).",
    "save_strategy": "'steps', 'epoch' or 'no'.",
    "seed": "Random seed.",
    "resume_from_checkpoint": "Resume from this checkpoint directory (default: the last complete one in --output_dir).",
    "gradient_checkpointing": "Recompute activations in the backward pass: less memory, slower.",
    "reward_weights": "One weight per reward (default 1.0 each).",
    "eval_steps": "Held-out evaluation every N steps (default: --save_steps, so each checkpoint has its figure).",
    "lora_r": "LoRA rank.", "lora_alpha": "LoRA alpha.", "lora_dropout": "LoRA dropout.",
    "lora_target_modules": "Modules to adapt, e.g. q_proj v_proj, or all-linear (default: PEFT's for the model).",
    "load_in_4bit": "QLoRA: load the base model in 4-bit (bitsandbytes).",
    "load_in_8bit": "Load the base model in 8-bit (bitsandbytes).",
}


class HelpAll(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.show_all = True
        parser.print_help()
        parser.exit()


class Parser(TrlParser):
    config_path = None

    def __init__(self, dataclass_types):
        # allow_abbrev off: a misspelled flag gets "did you mean" instead of silently matching a longer option.
        super().__init__(dataclass_types, formatter_class=HelpFormatter, usage="python main.py [options]",
                         allow_abbrev=False,
                         description=__doc__.split("\n\nOptions come")[0])
        self.add_argument("--config", help="YAML file of options (keys are option names); the command line wins.")
        self.add_argument("--help_all", action=HelpAll, help="Show every option, TRL's and transformers' included.")
        self.show_all = False
        self.organise_help()

    def format_help(self) -> str:
        """--help: our groups only (the options users change), then where the rest is; --help_all: everything."""
        if self.show_all:
            return super().format_help()
        groups = self._action_groups[:]
        self._action_groups[:] = [g for g in groups if g.title in OUR_OPTIONS]
        try:
            text = super().format_help()
        finally:
            self._action_groups[:] = groups
        hidden = len(groups[-1]._group_actions)
        return text + (f"\n{hidden} more options (TRL GRPOConfig, transformers TrainingArguments, ModelConfig: "
                       "--loss_type, --use_vllm, --top_p, --adam_beta1, ...): python main.py --help_all\n")

    def organise_help(self) -> None:
        """Move our options into short groups at the top of --help; everything else stays under one heading."""
        by_dest = {action.dest: action for action in self._actions}
        rest = self.add_argument_group("All other options (TRL GRPOConfig, transformers TrainingArguments, ModelConfig)")
        ours = {}
        for title, dests in OUR_OPTIONS.items():
            group = self.add_argument_group(title)
            for dest in dests:
                action = by_dest[dest]
                ours[id(action)] = action
                action.help = SHORT_HELP.get(dest, action.help)
                group._group_actions.append(action)
        for group in self._action_groups:
            if group.title not in OUR_OPTIONS:
                group._group_actions[:] = [a for a in group._group_actions if id(a) not in ours]
        rest._group_actions[:] = [a for g in self._action_groups if g.title not in OUR_OPTIONS and g is not rest
                                  for a in g._group_actions if a.option_strings and a.dest != "help"]
        self._action_groups[:] = [g for g in self._action_groups if g.title in OUR_OPTIONS] + [rest]

    def set_defaults_with_config(self, **kwargs):
        # YAML keys may use any spelling of an option (model_id, batch_size, warmup_ratio), not only its dest.
        dest_of = {opt.lstrip("-"): action.dest for action in self._actions for opt in action.option_strings}
        unknown = [key for key in kwargs if key not in dest_of and key != "env"]
        if unknown:
            raise UsageError(f"{self.config_path}: unknown key {unknown[0]!r}{suggest(self, unknown[0])}; keys are "
                             "option names without the dashes (see python main.py --help)")
        return super().set_defaults_with_config(**{dest_of.get(key, key): value for key, value in kwargs.items()})

    def error(self, message):
        # argparse's default prints a usage line for every option (GRPOConfig has over a hundred) before the error.
        if message.startswith("unrecognized arguments: "):
            raise unknown_option(self, message.split(": ", 1)[1].split(), "main.py")
        raise UsageError(f"{message} (see python main.py --help)")


def make_parser(config_class=TrainConfig):
    return Parser((ScriptArguments, config_class, ModelArguments))


def parse_args(argv: list[str] | None = None):
    """Parse argv (and `--config file.yaml`) into (ScriptArguments, TrainConfig, ModelArguments); an option
    combination that cannot run is a UsageError."""
    script_args, training_args, model_args = parse_with(argv, TrainConfig)
    for problem in dynamic_sampling_metric_problems(script_args, training_args):
        raise UsageError(problem)
    return script_args, training_args, model_args


def parse_check_args(argv: list[str]):
    """For --check: (ScriptArguments, TrainConfig, ModelArguments, every option problem), nothing raised for those,
    so that the preflight lists them all."""
    script_args, training_args, model_args = parse_with(argv, CheckConfig)
    problems = list(training_args.problems) + dynamic_sampling_metric_problems(script_args, training_args)
    return script_args, training_args, model_args, problems


def parse_with(argv: list[str] | None, config_class):
    """argv (and `--config file.yaml`) through the parser, with `config_class` for the training options; the
    libraries' parsing errors become one-line UsageErrors."""
    import yaml

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser(config_class)
    if "--config" in argv:
        i = argv.index("--config")
        if i + 1 >= len(argv) or not os.path.isfile(argv[i + 1]):
            raise UsageError(f"--config needs an existing YAML file, got {argv[i + 1] if i + 1 < len(argv) else 'nothing'}")
        parser.config_path = argv[i + 1]
    try:
        return tuple(parser.parse_args_and_config(argv)[:3])  # [3] would be --config's own (already used) value
    except yaml.YAMLError as err:
        raise UsageError(f"{parser.config_path} is not valid YAML: {str(err).splitlines()[0]}") from None
    except ValueError as err:  # TRL/transformers option validation
        message = str(err).strip().splitlines()[0]
        if "not used by the HfArgumentParser" in message:  # transformers' wording for unknown options
            unknown = [a for a in argv if a.startswith("--") and a.split("=")[0] in message]
            flag = unknown[0].split("=")[0] if unknown else message.split(": ", 1)[-1]
            message = str(unknown_option(parser, [flag], "main.py"))
        elif "must contain a YAML mapping" in message:
            message = f"{parser.config_path} must hold option: value lines (a YAML mapping)"
        raise UsageError(message) from None


def main(argv: list[str] | None = None) -> int:
    quiet_library_warnings()
    if CPU_THREADS and is_main_process():
        print(CPU_THREADS)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        ctrl_c_to_main()
        check = "--check" in argv  # then every option problem is listed by the preflight, not only the first raised
        script_args, training_args, model_args, problems = parse_check_args(argv) if check else (*parse_args(argv), [])
        if script_args.demo:
            from demo import run_demo

            return run_demo(demo_options(argv, training_args), train_from_argv=lambda a: run_training(*parse_args(a)))
        # On the command line or in a --config YAML:
        if not script_args.check and given(script_args, "check_samples", argv):
            raise UsageError("--check_samples only applies with --check: add --check, or drop --check_samples")
        if not script_args.check and (script_args.benchmarks or script_args.benchmark_dir):
            raise UsageError("--benchmarks / --benchmark_dir only apply with --check (the contamination check): add "
                             "--check, or evaluate on benchmarks with python eval.py --benchmarks")
        if script_args.check:
            from preflight import preflight

            return preflight(script_args, training_args, model_args, problems)
        run_training(script_args, training_args, model_args)
    except UsageError as err:
        return error_exit(err) if is_main_process() else 2  # under accelerate launch: once, not once per rank
    except KeyboardInterrupt:
        print("\ninterrupted: re-run the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    return 0


def run_training(script_args, training_args, model_args):
    """train.train, holding --output_dir's lock for the run's life (output_dir.RunLock: one writer per directory).
    Under accelerate launch only the main process takes it: the others write nothing of their own there, and a
    refused main process stops them (the launcher ends every rank when one fails)."""
    import contextlib
    import shlex

    from output_dir import RunLock
    from runs import check_writable
    from train import train

    check_writable(training_args.output_dir, "--output_dir", directory=True)  # before the lock creates the folder
    command = shlex.join([os.path.basename(sys.argv[0]), *sys.argv[1:]])
    lock = RunLock(training_args.output_dir, command) if is_main_process() else contextlib.nullcontext()
    with lock:
        return train(script_args, training_args, model_args)


def demo_options(argv: list[str], training_args) -> dict:
    """--demo takes --output_dir, --seed and --overwrite_output_dir; any other option would be silently ignored, so it
    is refused."""
    flags = flags_given(argv) - {"--demo"}
    extra = sorted(flags - {"--output_dir", "--seed", "--overwrite_output_dir"})
    if extra:
        raise UsageError(f"--demo takes only --output_dir and --seed (and --overwrite_output_dir), not {', '.join(extra)}: the demo chooses its own "
                         "settings (run main.py without --demo to train with yours)")
    return {"output_dir": training_args.output_dir if "--output_dir" in flags else "ckpts/demo",
            "seed": training_args.seed, "overwrite": "--overwrite_output_dir" in flags}


if __name__ == "__main__":
    sys.exit(main())
