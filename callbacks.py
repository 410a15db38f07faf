"""The trainer callbacks: what runs inside GRPOTrainer while a run trains.

- `HeldOutEval`: held-out accuracy every N steps (eval.py's own generation and scoring, so the figure equals
  `python eval.py` on that checkpoint) and the best adapter so far;
- `ReadableProgress`: one aligned progress line per logged step (`format_log_line`).

The run doctor, also a callback, has its own module (doctor.py). Its own module because it is neither building the
trainer (train.py), evaluating a saved model (eval.py) nor writing files after a run (report.py).
"""
from __future__ import annotations

import json
import math
import shutil
from contextlib import contextmanager
from pathlib import Path

from transformers import ProgressCallback, Trainer, TrainerCallback

import eval as evaluation
from distributed import is_main_process
from run_records import reward_keys, short_name
from errors import UsageError
from runs import read_record, write_atomically, write_json

HELDOUT_DIR = "heldout"  # <output_dir>/heldout/step-<N>.jsonl: each evaluation's records, as eval.py writes them
BEST_DIR = "best"  # <output_dir>/best/: the best adapter so far and best.json, so it survives a resume
FINAL_DIR = "final"  # <output_dir>/final/: the last step's adapter when held-out evaluation chose another


def eval_settings(script_args, training_args, model_args, **options) -> evaluation.EvalSettings:
    """The settings `python eval.py --model_dir <output_dir>/checkpoint-N --dataset_id <eval data> --split <eval split>
    --max_samples N` resolves for this run (eval.py's one builder, given what the run records in run_config.json):
    greedy, the run's prompt, rewards, lengths and data set configuration, eval.py's default batch size. `options`
    are other eval.py options (`--check` samples the training data at training's temperature)."""
    args = evaluation.EvalArguments(**{
        "model_dir": training_args.output_dir, "dataset_id": script_args.eval_dataset_id,
        "split": script_args.eval_split, "max_samples": script_args.eval_max_samples or None,
        "cache_implementation": "dynamic", **options})  # generating with the training model's own cache, as ever
    return evaluation.build_settings(args, evaluation.run_record(script_args, training_args),
                                     model_dir=str(Path(training_args.output_dir).resolve()),
                                     base_model=model_args.model_name_or_path)


@contextmanager
def adapter_merged(model):
    """Generate with the LoRA deltas folded into the weights, exactly as eval.py's merged model does (same numbers,
    so the same greedy tokens), then put the frozen base weights back bit for bit: unmerging by subtraction alone
    would drift them a little at every evaluation. A quantized base cannot be merged: it generates unmerged."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
    if not layers or not hasattr(model, "merge_adapter") or getattr(model, "is_loaded_in_4bit", False) \
            or getattr(model, "is_loaded_in_8bit", False):
        yield
        return
    saved = [layer.get_base_layer().weight.detach().clone() for layer in layers]
    model.merge_adapter()
    try:
        yield
    finally:
        model.unmerge_adapter()
        for layer, weight in zip(layers, saved):
            layer.get_base_layer().weight.data.copy_(weight)


class HeldOutEval(TrainerCallback):
    """Scores the policy on held-out prompts at step 0 and every `eval_steps` steps (and at the last step), logs
    eval/accuracy, eval/format, eval/completion_length and eval/truncated_fraction, and keeps the best adapter in
    <output_dir>/best/ (the earliest step wins a tie)."""

    def __init__(self, settings: evaluation.EvalSettings, tokenizer, eval_steps: int):
        self.settings, self.tokenizer, self.eval_steps = settings, tokenizer, eval_steps
        self.rows, self.skipped = evaluation.load_prompts(settings, tokenizer)
        self.funcs = evaluation.reward_functions(settings)  # once: a custom reward is imported and probed here
        self.trainer = None  # set by train.py once the trainer exists: logging goes through it
        self.best_dir = Path(settings.model_dir) / BEST_DIR
        self.best = read_best(self.best_dir)  # a resumed run keeps its best so far

    def on_train_begin(self, args, state, control, **kwargs):
        if not any("eval/accuracy" in entry for entry in state.log_history):  # a resumed run already has step 0
            self.evaluate(state)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.eval_steps == 0 or state.global_step == state.max_steps:
            should_log = control.should_log
            self.evaluate(state)
            control.should_log = should_log  # logging resets it, which would swallow this step's training log

    def evaluate(self, state) -> None:
        model = self.trainer.model
        was_training = model.training
        model.eval()
        with adapter_merged(model):
            records = evaluation.generate_records(model, self.tokenizer, self.rows, self.settings, self.funcs)
        if was_training:
            model.train()
        if is_main_process():
            write_atomically(Path(self.settings.model_dir) / HELDOUT_DIR / f"step-{state.global_step}.jsonl",
                             "".join(json.dumps(record) + "\n" for record in records))
        summary = evaluation.summarize(self.settings, records, len(self.rows), self.skipped, {})
        metrics = {"eval/accuracy": summary["accuracy"], "eval/format": summary["format_mean"],
                   "eval/completion_length": summary["completion_tokens_mean"],
                   "eval/truncated_fraction": summary["truncated_fraction"]}
        Trainer.log(self.trainer, metrics)  # the base Trainer's log: GRPOTrainer's would flush its reward window
        accuracy = summary["accuracy"] or 0.0
        if not self.best or accuracy > self.best["accuracy"]:
            self.best = {"step": state.global_step, "accuracy": accuracy}
            if is_main_process():
                self.trainer.model.save_pretrained(str(self.best_dir))
                write_json(self.best_dir / "best.json", self.best)

    def keep_best(self, output_dir: Path) -> dict:
        """At the end: the last step's adapter moves to <output_dir>/final/, the best one takes its place in
        <output_dir> (what eval.py and users load by default). Returns {"best_step", "best_accuracy"} for
        run_config.json."""
        final_dir = output_dir / FINAL_DIR
        final_dir.mkdir(exist_ok=True)
        for name in ("adapter_model.safetensors", "adapter_config.json"):
            shutil.copy2(output_dir / name, final_dir / name)
            shutil.copy2(self.best_dir / name, output_dir / name)
        return {"best_step": self.best["step"], "best_accuracy": self.best["accuracy"]}


def read_best(best_dir: Path) -> dict:
    """best.json: {"step", "accuracy"} of the adapter saved beside it; {} before the first evaluation. A damaged one is
    an error: read as {}, the next evaluation would replace the best adapter whatever its accuracy."""
    path = Path(best_dir) / "best.json"
    fix = (f"restore it, or delete {best_dir} to choose the best adapter afresh from the evaluations after this "
           "resume")
    best = read_record(path, fix)
    if best and not all(isinstance(best.get(key), (int, float)) for key in ("step", "accuracy")):
        raise UsageError(f"{path} is damaged (no step and accuracy): {fix}")
    return best


class ReadableProgress(ProgressCallback):
    """transformers' progress bar, with one aligned line per log instead of a dict of 26 quoted keys. The full dict
    still goes to trainer_state.json, TensorBoard and W&B."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or self.training_bar is None or not logs or "train_runtime" in logs:
            return  # the end-of-run summary replaces the final runtime dict
        self.training_bar.write(format_log_line(logs, state.global_step, state.max_steps))


def _finite(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def format_log_line(logs: dict, step: int, max_steps: int) -> str:
    """One aligned progress line with the figures that say whether GRPO is learning; everything else still goes to
    trainer_state.json and TensorBoard."""
    width = len(str(max_steps)) if max_steps and max_steps > 0 else 1
    parts = [f"step {step:>{width}}/{max_steps}" if max_steps and max_steps > 0 else f"step {step:>{width}}"]

    def add(label, key, spec="7.3f"):
        value = _finite(logs.get(key))
        if value is not None:
            parts.append(f"{label} {value:{spec}}")
    add("loss", "loss", "+8.4f")
    reward, spread = _finite(logs.get("reward")), _finite(logs.get("reward_std"))
    if reward is not None:
        parts.append(f"reward {reward:6.3f}" + (f" ±{spread:5.3f}" if spread is not None else ""))
    for key in reward_keys([logs]):
        add(short_name(key), key, "5.3f")
    add("kl", "kl", "7.4f")
    add("eval acc", "eval/accuracy", "5.3f")
    add("eval fmt", "eval/format", "5.3f")
    add("len", "completions/mean_length", "6.1f")
    add("lr", "learning_rate", "8.2e")
    if len(parts) == 1:  # an entry we have no layout for (e.g. train_runtime at the end): show it compactly
        parts += [f"{key} {value:g}" if _finite(value) is not None else f"{key} {value}"
                  for key, value in logs.items() if key not in ("step", "epoch")]
    return " | ".join(parts)
