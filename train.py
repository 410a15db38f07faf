"""One GRPO + LoRA run: data -> model -> GRPOTrainer -> adapter, tokenizer and run_config.json in --output_dir."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

from errors import UsageError
from data_utils import (filter_by_prompt_length, format_dataset, load_chat_tokenizer,
                        load_math_dataset, load_pretrained)
from distributed import world_size
from runs import RUN_CONFIG, is_finished_run, last_complete_checkpoint, package_versions, write_json

def train(script_args, training_args, model_args) -> Path:
    """Train and save; returns the output directory. Raises UsageError for anything the user can fix."""
    import reward

    reward_funcs = resolve_rewards(script_args.reward_funcs, training_args.reward_weights, reward.REWARD_FUNCS)
    output_dir = Path(training_args.output_dir)
    resume = prepare_output_dir(output_dir, training_args, script_args.overwrite_output_dir)

    if Path(model_args.model_name_or_path).expanduser().exists():
        # Recorded in adapter_config.json: an absolute path lets eval.py find the base from any directory.
        model_args.model_name_or_path = str(Path(model_args.model_name_or_path).expanduser().resolve())
    tokenizer = load_chat_tokenizer(model_args.model_name_or_path, "--model_id", revision=model_args.model_revision)
    dataset = load_math_dataset(script_args.dataset_id, script_args.dataset_split, script_args.dataset_config)
    dataset = format_dataset(dataset, script_args.system_prompt, script_args.prompt_column, script_args.solution_column)
    dataset, dropped = filter_by_prompt_length(dataset, tokenizer, script_args.max_prompt_length)
    if training_args.process_index == 0:
        print(f"max_prompt_length={script_args.max_prompt_length}: kept {len(dataset)} prompts, "
              f"dropped {dropped} longer than that")
    if len(dataset) == 0:
        raise UsageError(f"no training prompt fits --max_prompt_length {script_args.max_prompt_length}: raise it")

    from trl import GRPOTrainer

    trainer = GRPOTrainer(
        model=load_model(model_args, training_args),
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,  # without it TRL loads a tokenizer that may lack the chat template
        peft_config=lora_config(model_args),
    )
    if resume and trainer.is_world_process_zero():
        print(f"Resuming from {Path(resume).name}")
    save_run_config(trainer, script_args, training_args, model_args, finished=False)
    trainer.train(resume_from_checkpoint=resume)

    trainer.save_model(str(output_dir))  # every rank takes part: ZeRO-3 gathers the sharded adapter here
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(output_dir))
    save_run_config(trainer, script_args, training_args, model_args, finished=True)
    return output_dir


def resolve_rewards(names, weights, registry):
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UsageError(f"unknown reward {', '.join(unknown)}: choose --reward_funcs from {', '.join(registry)}")
    if weights is not None and len(weights) != len(names):
        raise UsageError(f"{len(names)} --reward_funcs but {len(weights)} --reward_weights: give one weight per reward")
    return [registry[n] for n in names]


def prepare_output_dir(output_dir: Path, training_args, overwrite: bool) -> str | None:
    """Decide where training starts: fresh, resumed from the last checkpoint, or refused (a finished run)."""
    if overwrite:
        # The main process deletes, the others wait, so no rank sees a half-deleted directory.
        with training_args.main_process_first(desc="clearing --output_dir"):
            if training_args.process_index == 0 and output_dir.exists():
                shutil.rmtree(output_dir)
        return None
    if training_args.resume_from_checkpoint:
        if not Path(training_args.resume_from_checkpoint).is_dir():
            raise UsageError(f"--resume_from_checkpoint {training_args.resume_from_checkpoint} is not a directory")
        return training_args.resume_from_checkpoint
    if is_finished_run(output_dir):
        raise UsageError(f"{output_dir} already holds a finished run: pass --overwrite_output_dir to replace it, "
                         "or choose another --output_dir")
    return last_complete_checkpoint(output_dir)


def load_model(model_args, training_args):
    """Load the policy with the dtype and placement the run needs.

    In a single process the model goes straight to the GPU. Under `accelerate launch` (several processes or
    DeepSpeed) placement is left to accelerate: a `device_map` there triggers DeepSpeed's DeviceMesh assertion.
    """
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if training_args.bf16 else torch.float16 if training_args.fp16 else torch.float32
    if model_args.dtype not in (None, "auto"):
        dtype = getattr(torch, model_args.dtype)
    distributed = world_size() > 1 or os.environ.get("ACCELERATE_USE_DEEPSPEED") == "true"
    device_map = {"": training_args.local_process_index} if torch.cuda.is_available() and not distributed else None
    return load_pretrained(AutoModelForCausalLM.from_pretrained, model_args.model_name_or_path, "--model_id",
                           revision=model_args.model_revision, attn_implementation=model_args.attn_implementation,
                           dtype=dtype, device_map=device_map)


def lora_config(model_args):
    """TRL's LoRA config from the flags; `--lora_target_modules all-linear` means PEFT's shorthand, not a module."""
    from trl import get_peft_config

    config = get_peft_config(model_args)
    if config is not None and config.target_modules in ({"all-linear"}, ["all-linear"]):
        config.target_modules = "all-linear"
    return config


def save_run_config(trainer, script_args, training_args, model_args, finished: bool) -> None:
    """Everything evaluation needs to rebuild the exact prompt, plus versions, written by the main process only."""
    if not trainer.is_world_process_zero():
        return
    config = {
        "finished": finished,
        "model_id": model_args.model_name_or_path,
        "dataset_id": script_args.dataset_id,
        "dataset_split": script_args.dataset_split,
        "system_prompt": script_args.system_prompt,
        "prompt_column": script_args.prompt_column,
        "solution_column": script_args.solution_column,
        "reward_funcs": list(script_args.reward_funcs),
        "reward_weights": list(training_args.reward_weights or [1.0] * len(script_args.reward_funcs)),
        "max_prompt_length": script_args.max_prompt_length,
        "max_completion_length": training_args.max_completion_length,
        "num_generations": training_args.num_generations,
        "script_args": dataclasses.asdict(script_args),
        "model_args": dataclasses.asdict(model_args),
        "training_args": json.loads(training_args.to_json_string()),
        "versions": package_versions(),
    }
    write_json(Path(training_args.output_dir) / RUN_CONFIG, config)
