"""One GRPO + LoRA run: data -> model -> GRPOTrainer -> adapter, tokenizer, run_config.json and a report in
--output_dir."""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
import time
from functools import partial
from pathlib import Path

import reward
from data_utils import check_gradable, check_split, filter_by_prompt_length, load_prompt_dataset
from distributed import generation_batch, is_main_process, main_print, world_size
from errors import UsageError
from cli import given
from models import (adapter_base, check_adapter_base, check_target_modules, choose_gradient_checkpointing,
                    load_chat_tokenizer, load_policy, lora_config, model_skeleton)
from output_dir import check_overwrite, clear_run_output
from runs import (RUN_CONFIG, absolute, check_writable, is_finished_run, last_complete_checkpoint, package_versions,
                  read_json, read_run_config, write_json)

USER_TENSORBOARD_DIR = os.environ.get("TENSORBOARD_LOGGING_DIR")  # as the process started, before any run set it


def train(script_args, training_args, model_args) -> Path:
    """Train and save; returns the output directory. Raises UsageError for anything the user can fix."""
    started = time.time()
    output_dir = Path(training_args.output_dir)
    check_writable(output_dir, "--output_dir", directory=True)  # before any long work, not after it
    check_split(script_args.dataset_split, "--dataset_split")
    if script_args.eval_dataset_id:
        check_split(script_args.eval_split, "--eval_split")
    reward_funcs = reward.resolve_reward_funcs(
        script_args.reward_funcs, training_args.reward_weights,
        max_completion_length=training_args.max_completion_length, overlong_buffer=script_args.overlong_buffer)
    init_adapter = continued_adapter(model_args)
    # Recorded in adapter_config.json and run_config.json: absolute paths let eval.py and report.py find the base
    # and the data from any directory.
    model_args.model_name_or_path = absolute(model_args.model_name_or_path)
    script_args.dataset_id = absolute(script_args.dataset_id)
    script_args.eval_dataset_id = absolute(script_args.eval_dataset_id)
    resume = prepare_output_dir(output_dir, training_args, script_args.overwrite_output_dir,
                                read_inputs(script_args, training_args, model_args, init_adapter))
    peft_config = lora_config(model_args)
    if peft_config is not None and not init_adapter and isinstance(peft_config.target_modules, (list, set)):
        check_target_modules(model_skeleton(model_args), peft_config.target_modules)  # before the weights load
    tokenizer = load_chat_tokenizer(model_args.model_name_or_path, "--model_id", revision=model_args.model_revision)
    dataset = load_training_prompts(script_args, tokenizer)
    held_out = held_out_eval(script_args, training_args, model_args, tokenizer)

    from trl import GRPOTrainer
    from transformers import ProgressCallback

    # One TensorBoard folder per output_dir (transformers makes a new runs/<time>_<host> at every start), so a resumed
    # run continues the same curves instead of starting a second folder. A folder the user chose still wins.
    os.environ["TENSORBOARD_LOGGING_DIR"] = USER_TENSORBOARD_DIR or str(output_dir / "runs")

    from callbacks import ReadableProgress
    from doctor import RunDoctor
    from dynamic_sampling import DynamicSamplingTrainer, settings_from

    model = load_policy(model_args, training_args)
    if resume:
        check_checkpoint_belongs(Path(resume), model, peft_config, script_args, training_args, model_args)
    if init_adapter:
        model = load_trainable_adapter(model, init_adapter)
        peft_config = None  # TRL trains the PeftModel's own adapter; a config would stack a second one
    checkpointing = choose_gradient_checkpointing(model, model_args, training_args)
    if script_args.overwrite_output_dir:  # only now, after every check that could refuse the run
        clear_output_dir(output_dir, training_args)
        if held_out:
            held_out.best = {}  # read from the cleared run's best/best.json: not this run's
    dynamic = settings_from(training_args, script_args.reward_funcs)
    trainer_class = partial(DynamicSamplingTrainer, dynamic_sampling=dynamic) if dynamic else GRPOTrainer
    trainer = trainer_class(
        model=model,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,  # without it TRL loads a tokenizer that may lack the chat template
        peft_config=peft_config,
    )
    if trainer.pop_callback(ProgressCallback):  # absent with --disable_tqdm
        trainer.add_callback(ReadableProgress())
    if held_out:  # after the progress bar, so the bar exists to print the step-0 figures
        held_out.trainer = trainer
        trainer.add_callback(held_out)
    doctor = RunDoctor(output_dir, training_args.max_completion_length, generation_batch(training_args).per_process)
    trainer.callback_handler.callbacks.insert(0, doctor)  # first: its health/* figures go out with the step's log
    if resume:
        main_print(f"Resuming from {Path(resume).name}")
    speed = {"gradient_checkpointing": f"{training_args.gradient_checkpointing} ({checkpointing})",
             "cache_implementation": training_args.cache_implementation or "dynamic"}
    main_print("speed settings: " + ", ".join(f"{k}={v}" for k, v in speed.items()))
    earlier = time_before(resume)
    start = {"init_adapter": init_adapter, "started_at": started - earlier,
             "dynamic_sampling": dataclasses.asdict(dynamic) if dynamic else None}
    save_run_config(script_args, training_args, model_args, finished=False, speed_settings=speed,
                    health=doctor.warnings, **start)
    trainer.train(resume_from_checkpoint=resume)

    trainer.save_model(str(output_dir))  # every rank takes part: ZeRO-3 gathers the sharded adapter here
    if not is_main_process():
        return output_dir
    tokenizer.save_pretrained(str(output_dir))
    trainer.save_state()  # the run's own trainer_state.json, with the final entry, for the report
    outcome = {"speed_settings": speed, "final_step": trainer.state.global_step, **start,
               "wall_time_s": round(time.time() - started + earlier, 1),  # with the time before a resume
               "health": doctor.warnings}
    if dynamic:  # the settings and the run's totals (the card and the end-of-run summary show them)
        outcome["dynamic_sampling"] = {**dataclasses.asdict(dynamic), **trainer.dynamic_totals.as_dict()}
    if held_out:
        outcome.update(held_out.keep_best(output_dir))
    save_run_config(script_args, training_args, model_args, finished=True, **outcome)
    import report

    report.write_report(output_dir)  # after the last save: TRL writes its own README.md model card when saving
    print(report.end_of_run_summary(output_dir))
    return output_dir


def continued_adapter(model_args) -> str | None:
    """`--model_id <a trained adapter directory>` continues training that adapter: the base model named in its
    adapter_config.json becomes --model_id and the adapter's own LoRA settings are the run's. Returns the adapter
    directory (absolute), or None for a plain model. LoRA flags that contradict the adapter are refused."""
    base = adapter_base(model_args.model_name_or_path)
    if base is None:
        return None
    adapter = absolute(model_args.model_name_or_path)
    if not model_args.use_peft:
        raise UsageError(f"--model_id {model_args.model_name_or_path} is a LoRA adapter, which full fine-tuning "
                         "(--use_peft false) cannot continue: drop --use_peft false to keep training the adapter, or "
                         "pass its base model")
    check_adapter_base(adapter, base, f"base_model_name_or_path in {adapter}",
                       "fix it in its adapter_config.json, or pass the base model as --model_id")
    config = read_json(Path(adapter) / "adapter_config.json")
    for flag, name, value in [("--lora_r", "lora_r", config.get("r")), ("--lora_alpha", "lora_alpha",
                              config.get("lora_alpha")), ("--lora_dropout", "lora_dropout", config.get("lora_dropout"))]:
        if given(model_args, name) and getattr(model_args, name) != value:
            raise UsageError(f"{flag} {getattr(model_args, name)} contradicts adapter {adapter}, which has {flag} "
                             f"{value}: drop {flag} to continue training that adapter, or pass its base model to "
                             "train a new one")
        setattr(model_args, name, value)
    if model_args.lora_target_modules:
        raise UsageError(f"--lora_target_modules does not apply when continuing adapter {adapter} (it keeps its own "
                         "modules): drop it, or pass the base model to train a new adapter")
    model_args.lora_target_modules = sorted(config.get("target_modules") or []) or None
    model_args.model_name_or_path = base
    main_print(f"continuing adapter {adapter} (base model {base})")
    return adapter


def load_trainable_adapter(model, adapter: str):
    """The base model with `adapter` loaded as trainable weights: GRPO continues from it, and the adapter saved at
    the end is that same adapter (same config, same modules), further trained."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter, is_trainable=True)


def lora_summary(config) -> dict:
    """What makes two LoRA adapters interchangeable in a checkpoint: rank, alpha and the modules adapted."""
    modules = config.get("target_modules")
    modules = sorted(modules) if isinstance(modules, (list, tuple, set)) else modules
    return {"--lora_r": config.get("r"), "--lora_alpha": config.get("lora_alpha"), "--lora_target_modules": modules}


# ScriptArguments that select the data (training and held out) or shape the prompt or the reward: a resume with
# another value would continue one run's history on other rows.
RESUME_DATA_OPTIONS = ["dataset_id", "dataset_config", "dataset_split", "prompt_column", "solution_column",
                       "system_prompt", "max_prompt_length", "overlong_buffer", "eval_dataset_id", "eval_split",
                       "eval_prompt_column", "eval_solution_column", "eval_max_samples"]


def check_checkpoint_belongs(checkpoint: Path, model, peft_config, script_args, training_args, model_args) -> None:
    """A checkpoint resumes only a run with its settings: another run's (other LoRA modules, another base model,
    other rewards) would crash while loading or silently mix two runs' histories into one summary."""
    theirs_adapter = read_json(checkpoint / "adapter_config.json")
    differences = []
    if bool(theirs_adapter) != bool(model_args.use_peft):
        differences.append("LoRA adapter vs full fine-tuning (--use_peft)")
    elif theirs_adapter:
        base = theirs_adapter.get("base_model_name_or_path")
        if base and base != model_args.model_name_or_path:
            differences.append(f"--model_id {base} vs {model_args.model_name_or_path}")
        ours = lora_summary(expanded_lora(peft_config, model))
        for flag, value in lora_summary(theirs_adapter).items():
            if ours.get(flag) is not None and value != ours[flag]:
                differences.append(f"{flag} {value} vs {ours[flag]}")
    run = read_run_config(checkpoint)
    recorded = {"--reward_funcs": [reward.recorded_reward_spec(s) for s in script_args.reward_funcs],
                "--reward_weights": list(training_args.reward_weights or [1.0] * len(script_args.reward_funcs)),
                "--num_generations": training_args.num_generations,
                "--max_completion_length": training_args.max_completion_length}
    for flag, value in recorded.items():
        key = flag.removeprefix("--")
        if key in run and run[key] != value:
            differences.append(f"{flag} {run[key]} vs {value}")
    theirs = run.get("script_args") or {}
    for key in RESUME_DATA_OPTIONS:  # the rows trained on and held out: another choice mixes two runs' figures
        if key in theirs:
            value, recorded_value = getattr(script_args, key), theirs[key]
            if key in ("dataset_id", "eval_dataset_id"):
                recorded_value = absolute(recorded_value)
            if recorded_value != value:
                differences.append(f"--{key} {recorded_value} vs {value}")
    if differences:
        raise UsageError(f"checkpoint {checkpoint} was trained with other settings ({'; '.join(differences[:3])}; "
                         "checkpoint vs now): resume it with the same settings, or pass --overwrite_output_dir or "
                         "another --output_dir (without --resume_from_checkpoint) to start afresh")


def expanded_lora(peft_config, model) -> dict:
    """Our LoRA config as adapter_config.json would record it (PEFT expands 'all-linear' into module names)."""
    import copy

    try:  # PEFT's own expansion (a private helper: without it, 'all-linear' is not compared)
        from peft.tuners.tuners_utils import _maybe_include_all_linear_layers
        config = _maybe_include_all_linear_layers(copy.deepcopy(peft_config), model)
    except ImportError:
        config = peft_config
    modules = None if config.target_modules == "all-linear" else config.target_modules
    return {"r": config.r, "lora_alpha": config.lora_alpha, "target_modules": modules}


def time_before(resume: str | None) -> float:
    """Seconds the run had trained before the checkpoint it resumes from (0 for a fresh start): its first start is
    in run_config.json and the checkpoint's trainer_state.json was written when it was saved."""
    if not resume:
        return 0.0
    started_at = read_run_config(Path(resume)).get("started_at")
    state = Path(resume) / "trainer_state.json"
    if not isinstance(started_at, (int, float)) or not state.is_file():
        return 0.0
    return max(0.0, state.stat().st_mtime - started_at)


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
    check_gradable([row["solution"] for row in callback.rows], script_args)
    main_print(f"held-out evaluation: {len(callback.rows)} prompts of {script_args.eval_dataset_id} "
               f"({script_args.eval_split}), greedy, at step 0 and every {every} steps")
    return callback


def read_inputs(script_args, training_args, model_args, init_adapter) -> list[tuple[str, str | None]]:
    """(flag, path) of everything the command reads from disk, which --overwrite_output_dir must never delete."""
    config = sys.argv[sys.argv.index("--config") + 1] if "--config" in sys.argv[:-1] else None
    deepspeed = training_args.deepspeed if isinstance(training_args.deepspeed, str) else None
    return [("--dataset_id", script_args.dataset_id), ("--eval_dataset_id", script_args.eval_dataset_id),
            ("--model_id", init_adapter), ("--model_id", model_args.model_name_or_path), ("--config", config),
            ("--deepspeed", deepspeed), ("--resume_from_checkpoint", training_args.resume_from_checkpoint),
            *[("--reward_funcs", spec) for spec in script_args.reward_funcs if ":" in spec]]


def prepare_output_dir(output_dir: Path, training_args, overwrite: bool, inputs=()) -> str | None:
    """Decide where training starts: fresh (the run's old output cleared later by `clear_output_dir`, once nothing
    can refuse the run), resumed from the last checkpoint, or refused (a finished run; a folder --overwrite_output_dir
    must not empty)."""
    if overwrite:
        check_overwrite(output_dir, list(inputs))
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


def clear_output_dir(output_dir: Path, training_args) -> None:
    """--overwrite_output_dir: delete the earlier run's files (only those: output_dir.clear_run_output). The main
    process deletes, the others wait, so no rank sees a half-deleted directory."""
    with training_args.main_process_first(desc="clearing --output_dir"):
        if is_main_process():
            deleted = clear_run_output(output_dir)
            if deleted:
                main_print(f"--overwrite_output_dir: removed the earlier run's {', '.join(deleted[:6])}"
                           f"{' ...' if len(deleted) > 6 else ''} from {output_dir}")


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
    from eval_settings import run_record

    path = Path(training_args.output_dir) / RUN_CONFIG
    config = {
        "finished": finished,
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "model_id": model_args.model_name_or_path,
        **run_record(script_args, training_args),  # what eval.py inherits: eval.py's own list
        "num_generations": training_args.num_generations,
        "hardware": hardware(),
        **outcome,
        "script_args": dataclasses.asdict(script_args),
        "model_args": dataclasses.asdict(model_args),
        "training_args": json.loads(training_args.to_json_string()),
        "versions": package_versions(),
    }
    write_json(path, config)
