"""One GRPO + LoRA run: data -> model -> GRPOTrainer -> adapter, tokenizer, run_config.json and a report in
--output_dir."""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import reward
from data_utils import filter_by_prompt_length, load_prompt_dataset
from distributed import is_main_process, main_print, world_size
from errors import UsageError
from models import choose_gradient_checkpointing, load_chat_tokenizer, load_policy, lora_config
from runs import RUN_CONFIG, is_finished_run, last_complete_checkpoint, package_versions, write_json

USER_TENSORBOARD_DIR = os.environ.get("TENSORBOARD_LOGGING_DIR")  # as the process started, before any run set it


def train(script_args, training_args, model_args) -> Path:
    """Train and save; returns the output directory. Raises UsageError for anything the user can fix."""
    started = time.time()
    reward_funcs = reward.resolve_reward_funcs(
        script_args.reward_funcs, training_args.reward_weights,
        max_completion_length=training_args.max_completion_length, overlong_buffer=script_args.overlong_buffer)
    output_dir = Path(training_args.output_dir)
    resume = prepare_output_dir(output_dir, training_args, script_args.overwrite_output_dir)

    if Path(model_args.model_name_or_path).expanduser().exists():
        # Recorded in adapter_config.json: an absolute path lets eval.py find the base from any directory.
        model_args.model_name_or_path = str(Path(model_args.model_name_or_path).expanduser().resolve())
    tokenizer = load_chat_tokenizer(model_args.model_name_or_path, "--model_id", revision=model_args.model_revision)
    dataset = load_training_prompts(script_args, tokenizer)
    held_out = held_out_eval(script_args, training_args, model_args, tokenizer)

    from trl import GRPOTrainer
    from transformers import ProgressCallback

    # One TensorBoard folder per output_dir (transformers makes a new runs/<time>_<host> at every start), so a resumed
    # run continues the same curves instead of starting a second folder. A folder the user chose still wins.
    os.environ["TENSORBOARD_LOGGING_DIR"] = USER_TENSORBOARD_DIR or str(output_dir / "runs")

    from callbacks import ReadableProgress, RunDoctor

    model = load_policy(model_args, training_args)
    checkpointing = choose_gradient_checkpointing(model, model_args, training_args)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,  # without it TRL loads a tokenizer that may lack the chat template
        peft_config=lora_config(model_args),
    )
    if trainer.pop_callback(ProgressCallback):  # absent with --disable_tqdm
        trainer.add_callback(ReadableProgress())
    if held_out:  # after the progress bar, so the bar exists to print the step-0 figures
        held_out.trainer = trainer
        trainer.add_callback(held_out)
    doctor = RunDoctor(output_dir, training_args.max_completion_length,
                       training_args.per_device_train_batch_size * training_args.steps_per_generation)
    trainer.callback_handler.callbacks.insert(0, doctor)  # first: its health/* figures go out with the step's log
    if resume:
        main_print(f"Resuming from {Path(resume).name}")
    speed = {"gradient_checkpointing": f"{training_args.gradient_checkpointing} ({checkpointing})",
             "cache_implementation": training_args.cache_implementation or "dynamic"}
    main_print("speed settings: " + ", ".join(f"{k}={v}" for k, v in speed.items()))
    save_run_config(script_args, training_args, model_args, finished=False, speed_settings=speed,
                    health=doctor.warnings)
    trainer.train(resume_from_checkpoint=resume)

    trainer.save_model(str(output_dir))  # every rank takes part: ZeRO-3 gathers the sharded adapter here
    if not is_main_process():
        return output_dir
    tokenizer.save_pretrained(str(output_dir))
    trainer.save_state()  # the run's own trainer_state.json, with the final entry, for the report
    outcome = {"speed_settings": speed, "final_step": trainer.state.global_step,
               "wall_time_s": round(time.time() - started, 1), "health": doctor.warnings}
    if held_out:
        outcome.update(held_out.keep_best(output_dir))
    save_run_config(script_args, training_args, model_args, finished=True, **outcome)
    import report

    report.write_report(output_dir)  # after the last save: TRL writes its own README.md model card when saving
    print(report.end_of_run_summary(output_dir))
    return output_dir


def load_training_prompts(script_args, tokenizer):
    dataset = load_prompt_dataset(script_args.dataset_id, script_args.dataset_split, script_args.dataset_config,
                                  script_args.system_prompt, script_args.prompt_column, script_args.solution_column)
    dataset, dropped = filter_by_prompt_length(dataset, tokenizer, script_args.max_prompt_length)
    main_print(f"max_prompt_length={script_args.max_prompt_length}: kept {len(dataset)} prompts, "
               f"dropped {dropped} longer than that")
    unparseable = reward.reference_answers(dataset["solution"]).count(None)
    if unparseable:
        main_print(f"{unparseable} of {len(dataset)} references are empty or have no answer: their samples get reward "
                   "None (skipped)")
    return dataset


def held_out_eval(script_args, training_args, model_args, tokenizer):
    """The held-out evaluation callback when --eval_dataset_id is given, else None."""
    if not script_args.eval_dataset_id:
        return None
    if world_size() > 1:
        raise UsageError("held-out evaluation during training (--eval_dataset_id) runs in a single process: drop it "
                         "under accelerate launch and evaluate checkpoints with eval.py")
    from callbacks import HeldOutEval, eval_settings

    # Default: at every checkpoint, so each checkpoint-N has its held-out figure to check with eval.py.
    every = int(training_args.eval_steps or training_args.save_steps)
    settings = eval_settings(script_args, training_args, model_args)
    try:
        callback = HeldOutEval(settings, tokenizer, every)
    except UsageError as err:  # eval.py's wording names its own flags; here they are the --eval_* ones
        raise UsageError(str(err).replace("--prompt_column / --solution_column",
                                          "--eval_prompt_column / --eval_solution_column")) from None
    main_print(f"held-out evaluation: {len(callback.rows)} prompts of {script_args.eval_dataset_id} "
               f"({script_args.eval_split}), greedy, at step 0 and every {every} steps")
    return callback


def prepare_output_dir(output_dir: Path, training_args, overwrite: bool) -> str | None:
    """Decide where training starts: fresh, resumed from the last checkpoint, or refused (a finished run)."""
    if overwrite:
        # The main process deletes, the others wait, so no rank sees a half-deleted directory.
        with training_args.main_process_first(desc="clearing --output_dir"):
            if is_main_process() and output_dir.exists():
                shutil.rmtree(output_dir)
        return None
    if training_args.resume_from_checkpoint:
        checkpoint = Path(training_args.resume_from_checkpoint)
        if not (checkpoint / "trainer_state.json").is_file():
            what = "is not a directory" if not checkpoint.is_dir() else "is not a complete checkpoint (no trainer_state.json)"
            raise UsageError(f"--resume_from_checkpoint {checkpoint} {what}: pass a checkpoint-N directory of a run, or "
                             "drop the flag to resume from the last complete one in --output_dir")
        return training_args.resume_from_checkpoint
    if is_finished_run(output_dir):
        raise UsageError(f"{output_dir} already holds a finished run: pass --overwrite_output_dir to replace it, "
                         "or choose another --output_dir")
    return last_complete_checkpoint(output_dir)


def hardware() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{world_size()} x {torch.cuda.get_device_name(0)}"
    return f"CPU ({os.cpu_count()} cores), {world_size()} process(es)"


def save_run_config(script_args, training_args, model_args, finished: bool, **outcome) -> None:
    """Everything evaluation needs to rebuild the exact prompt, plus versions and how the run went; main process
    only."""
    if not is_main_process():
        return
    path = Path(training_args.output_dir) / RUN_CONFIG
    config = {
        "finished": finished,
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "model_id": model_args.model_name_or_path,
        "dataset_id": script_args.dataset_id,
        "dataset_split": script_args.dataset_split,
        "eval_dataset_id": script_args.eval_dataset_id,
        "eval_split": script_args.eval_split if script_args.eval_dataset_id else None,
        "system_prompt": script_args.system_prompt,
        "prompt_column": script_args.prompt_column,
        "solution_column": script_args.solution_column,
        "reward_funcs": [reward.recorded_reward_spec(spec) for spec in script_args.reward_funcs],
        "reward_weights": list(training_args.reward_weights or [1.0] * len(script_args.reward_funcs)),
        "max_prompt_length": script_args.max_prompt_length,
        "max_completion_length": training_args.max_completion_length,
        "num_generations": training_args.num_generations,
        "hardware": hardware(),
        **outcome,
        "script_args": dataclasses.asdict(script_args),
        "model_args": dataclasses.asdict(model_args),
        "training_args": json.loads(training_args.to_json_string()),
        "versions": package_versions(),
    }
    write_json(path, config)
