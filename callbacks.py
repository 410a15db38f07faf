"""The trainer callbacks: what runs inside GRPOTrainer while a run trains.

- `HeldOutEval`: held-out accuracy every N steps (eval.py's own generation and scoring, so the figure equals
  `python eval.py` on that checkpoint) and the best adapter so far;
- `ReadableProgress`: one aligned progress line per logged step (`format_log_line`);
- `RunDoctor`: reads what each step logged and prints one `warning:` line when a known GRPO failure starts
  (truncation, no learning signal, ...), and stops the run with one `error:` line on a non-finite gradient.

Its own module because it is neither building the trainer (train.py), evaluating a saved model (eval.py) nor writing
files after a run (report.py): everything here is a transformers `TrainerCallback`.
"""
from __future__ import annotations

import json
import math
import shlex
import shutil
import statistics
import sys
from contextlib import contextmanager
from pathlib import Path

from transformers import ProgressCallback, Trainer, TrainerCallback

import eval as evaluation
from distributed import is_main_process
from errors import UsageError
from report import reward_keys, short_name
from runs import RUN_CONFIG, absolute, last_complete_checkpoint, read_json, write_atomically, write_json

HELDOUT_DIR = "heldout"  # <output_dir>/heldout/step-<N>.jsonl: each evaluation's records, as eval.py writes them
BEST_DIR = "best"  # <output_dir>/best/: the best adapter so far and best.json, so it survives a resume
FINAL_DIR = "final"  # <output_dir>/final/: the last step's adapter when held-out evaluation chose another


def eval_settings(script_args, training_args, model_args) -> evaluation.EvalSettings:
    """The settings `python eval.py --model_dir <checkpoint> --dataset_id <eval data> --split <eval split>
    --max_samples N --max_completion_length <training's>` resolves for this run: greedy, the run's prompt, rewards
    (the overlong reward with the run's buffer and length) and prompt-length limit, eval.py's default batch size."""
    defaults = evaluation.EvalArguments()
    return evaluation.EvalSettings(
        model_dir=str(Path(training_args.output_dir).resolve()), adapter=None, adapter_sha256=None,
        base_model=model_args.model_name_or_path, tokenizer=model_args.model_name_or_path,
        dataset_id=absolute(script_args.eval_dataset_id), dataset_config=script_args.dataset_config,
        split=script_args.eval_split, prompt_column=script_args.eval_prompt_column or script_args.prompt_column,
        solution_column=script_args.eval_solution_column or script_args.solution_column,
        system_prompt=script_args.system_prompt, reward_funcs=tuple(script_args.reward_funcs),
        reward_weights=tuple(float(w) for w in training_args.reward_weights or [1.0] * len(script_args.reward_funcs)),
        max_prompt_length=script_args.max_prompt_length or None, max_samples=script_args.eval_max_samples or None,
        max_completion_length=training_args.max_completion_length, num_samples=1, temperature=0.0, top_p=1.0,
        seed=defaults.seed, batch_size=defaults.batch_size, backend="transformers",
        overlong_buffer=script_args.overlong_buffer, overlong_length=training_args.max_completion_length)


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
        self.best = read_json(self.best_dir / "best.json")  # a resumed run keeps its best so far

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


# ----------------------------------------------------------------------------------------------------------------------
# The run doctor. Each check reads the figures TRL (and reward.py's diagnostics) logged; thresholds are relative to
# what a healthy run shows, and every check looks at several logged steps, so one noisy step raises nothing.

WINDOW = 5  # logged steps a check averages over (TRL already averages each figure over --logging_steps)
MIN_LOGS = 3  # logged steps before a check may speak: the first figures of a run are the noisiest
# Half the completions cut at the limit: half the samples score 0 for format and accuracy whatever they reasoned, so
# the reward measures the length limit, not the math. A healthy run cuts a few percent.
TRUNCATION_SHARE = 0.5
# GRPO's advantage is a reward minus its group's mean: a group of equal rewards gives no gradient at all. At 90% of
# groups, nine samples in ten are generated for nothing.
NO_SIGNAL_SHARE = 0.9
ALL_WRONG, ALL_RIGHT = 0.05, 0.95  # mean accuracy reward that makes "no signal" read as too hard / too easy
# "Format learned, accuracy flat": format above FORMAT_LEARNED while accuracy has gained less than FLAT_GAIN over the
# run's first logged steps, for at least FLAT_LOGS logged steps (long enough that a real rise would show).
FORMAT_LEARNED, FLAT_GAIN, FLAT_LOGS = 0.8, 0.02, 30
# Samples without a usable reward (unparseable reference, grader timeout or error): one in twenty is noise, more is a
# broken reference column or a grader that cannot keep up, and those samples teach nothing.
REWARD_PROBLEM_SHARE = 0.05
# Entropy below a tenth of the run's starting entropy: the policy samples nearly the same completion every time, groups
# become identical and exploration stops. Healthy runs lose some entropy, not an order of magnitude.
ENTROPY_COLLAPSE = 0.1
# KL or gradient norm ten times their own median so far, two logged steps in a row: a blow-up, not drift (both move by
# small factors in a healthy run). The floors keep near-zero histories from making any real step look like a spike:
# KL starts at exactly 0, and the gradient norm is ~0 while groups give no signal; a gradient norm under 1.0 (the
# default --max_grad_norm) is not blowing up.
SPIKE_FACTOR, KL_FLOOR, GRAD_NORM_FLOOR = 10.0, 0.01, 0.1
# Held-out accuracy this far below step 0's at two evaluations in a row: training is making the model worse.
HELDOUT_DROP = 0.05


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


class RunDoctor(TrainerCallback):
    """Prints one `warning:` line when a problem first starts (not at every step), with the figure, the likely cause
    and what to change; logs `health/<check>` (1 while it lasts, 0 when it clears) with the step's own metrics; records
    the warnings in run_config.json's "health". A non-finite gradient stops the run before the optimizer applies it,
    with one `error:` line and the resume command. Inserted first among the callbacks, so the health figures it adds
    reach TensorBoard and W&B with the step they belong to."""

    def __init__(self, output_dir: Path, max_completion_length: int, completions_per_call: int,
                 accuracy_key: str = "rewards/accuracy_reward/mean", format_key: str = "rewards/format_reward/mean"):
        self.output_dir, self.limit, self.per_call = Path(output_dir), max_completion_length, completions_per_call
        self.accuracy_key, self.format_key = accuracy_key, format_key
        self.logged: dict[str, list[float]] = {}  # figure -> its value at every logged training step
        self.heldout: list[float] = []  # eval/accuracy at every held-out evaluation, step 0's first
        self.active: set[str] = set()
        self.warnings: list[dict] = list(read_json(self.output_dir / RUN_CONFIG).get("health") or [])

    # -- events

    def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
        for entry in state.log_history:  # a resumed run: rebuild the history, without warning again
            self.read(entry)
        self.active = {check for check, _ in self.findings()}
        if state.global_step and optimizer is not None and lr_scheduler is not None:
            self.apply_new_learning_rate(args.learning_rate, optimizer, lr_scheduler)

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        """Checked before the update, so a NaN never reaches the weights (nor a checkpoint). fp16's loss scaler skips
        non-finite steps itself, and under DeepSpeed the gradients are not here: then the logged loss tells."""
        if model is None or args.fp16:
            return
        grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
        if grads and not all_finite(grads):
            self.stop(args, state.global_step + 1, "the gradient is not finite (NaN or inf)")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "train_runtime" in logs:
            return
        for key in ("loss", "grad_norm"):
            value = logs.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                self.stop(args, state.global_step, f"{key} is {value}")
        self.read(logs)
        findings = dict(self.findings())  # in findings() order: a cause is warned about before its consequences
        health = {f"health/{check}": 1.0 for check in findings}
        health.update({f"health/{check}": 0.0 for check in self.active - findings.keys()})
        warned = {w["check"] for w in self.warnings}
        for check, message in findings.items():  # once per run: a figure hovering at a threshold would otherwise
            if check not in self.active | warned:  # warn each time it crosses
                self.warn(state, check, message)
        self.active = set(findings)
        logs.update(health)  # the trainer's own log call: TensorBoard and W&B see them with this step
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(health)

    # -- reading the figures

    def read(self, entry: dict) -> None:
        if isinstance(entry.get("eval/accuracy"), (int, float)):
            self.heldout.append(float(entry["eval/accuracy"]))
        if "loss" not in entry:  # held-out entries and the final summary hold no training figures
            return
        for key, value in entry.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.logged.setdefault(key, []).append(float(value))

    def recent(self, key: str, count: int = WINDOW) -> float | None:
        values = self.logged.get(key, [])
        return _mean(values[-count:]) if len(values) >= MIN_LOGS else None

    def span(self, key: str) -> str:
        count = min(WINDOW, len(self.logged.get(key, [])))
        return f"{key}, last {count} logged steps"

    def findings(self) -> list[tuple[str, str]]:
        """(check, message) for every problem present now."""
        found = []
        clipped = self.recent("completions/clipped_ratio")
        if clipped is not None and clipped >= TRUNCATION_SHARE:
            found.append(("truncation", (
                f"{clipped:.0%} of completions are cut at --max_completion_length {self.limit} "
                f"({self.span('completions/clipped_ratio')}): a cut completion never closes </answer>, "
                "so the format and accuracy rewards give it 0 whatever it reasoned; raise --max_completion_length "
                "(python main.py --check shows how long the base model's answers are)")))
        no_signal = self.recent("frac_reward_zero_std")
        if no_signal is not None and no_signal >= NO_SIGNAL_SHARE:
            found.append(("no_signal", f"{no_signal:.0%} of groups have equal rewards "
                                       f"({self.span('frac_reward_zero_std')}): {self.why_no_signal()}"))
        found += self.flat_accuracy() + self.reward_problems() + self.collapse_and_blowups() + self.heldout_drop()
        return found + self.dynamic_sampling_cap()

    def dynamic_sampling_cap(self) -> list[tuple[str, str]]:
        """--dynamic_sampling ran out of generation rounds before its batch held enough groups whose rewards differ
        (the latest logged step; the run continues on the groups it had)."""
        hit = self.logged.get("dynamic_sampling/cap_hit", [])
        if not hit or hit[-1] <= 0:
            return []
        filled = self.logged.get("dynamic_sampling/batch_filled", [0.0])[-1]
        rounds = max(self.logged.get("dynamic_sampling/rounds", [0.0]))
        accuracy = (self.logged.get(self.accuracy_key) or [None])[-1]
        data = ("easier data (nearly all answers are wrong)" if accuracy is not None and accuracy <= ALL_WRONG else
                "harder data (nearly all answers are right)" if accuracy is not None and accuracy >= ALL_RIGHT else
                "data nearer the model's level (easier if most answers are wrong, harder if most are right)")
        return [("dynamic_sampling_cap", (
            f"dynamic sampling hit --max_generation_rounds ({rounds:g} rounds) with only {filled:.0%} of the batch "
            "made of groups whose rewards differ (dynamic_sampling/batch_filled): the step trained on fewer groups; "
            f"use {data}, raise --temperature or --num_generations for more varied completions, or raise "
            "--max_generation_rounds"))]

    def why_no_signal(self) -> str:
        clipped = self.recent("completions/clipped_ratio")
        if clipped is not None and clipped >= TRUNCATION_SHARE:
            return "most completions are cut at the length limit and score the same; fix the truncation first"
        accuracy = self.recent(self.accuracy_key)
        if accuracy is not None and accuracy <= ALL_WRONG:
            return (f"nearly all answers are wrong (accuracy reward {accuracy:.3f}): the problems are too hard for "
                    "this model, or the accuracy reward cannot read the references (check --solution_column and "
                    "diagnostics/unparseable_references); use easier data or a stronger model")
        if accuracy is not None and accuracy >= ALL_RIGHT:
            return (f"nearly all answers are right (accuracy reward {accuracy:.3f}): the problems are too easy to "
                    "learn from; use harder data")
        constant = [short_name(k) for k in reward_keys([self.logged]) if self.recent(k.replace("/mean", "/std")) == 0]
        named = f" ({', '.join(constant)} gave every completion the same value)" if constant else ""
        return (f"the rewards do not tell the completions of a prompt apart{named}; check the reward functions, or "
                "raise --num_generations or --temperature for more varied completions")

    def flat_accuracy(self) -> list[tuple[str, str]]:
        accuracy, formats = self.logged.get(self.accuracy_key, []), self.logged.get(self.format_key, [])
        if len(accuracy) < FLAT_LOGS or len(formats) < FLAT_LOGS:
            return []
        start, now, form = _mean(accuracy[:WINDOW]), _mean(accuracy[-WINDOW:]), _mean(formats[-WINDOW:])
        if form < FORMAT_LEARNED or now >= start + FLAT_GAIN:
            return []
        return [("accuracy_flat", (
            f"the format is learned (format reward {form:.2f}) but accuracy has not risen in {len(accuracy)} logged "
            f"steps ({start:.3f} at the start, {now:.3f} now): the policy learned the tags, not the math; try a "
            "larger --num_generations, a larger --learning_rate, or easier problems"))]

    def reward_problems(self) -> list[tuple[str, str]]:
        found = []
        for key, what, fix in [
                ("diagnostics/unparseable_references", "references without a gradable answer",
                 "check --solution_column (python main.py --check lists unparseable references)"),
                ("diagnostics/reward_timeouts", "answers whose check timed out",
                 "math-verify could not decide them in time (very long or unusual answers); read them with "
                 "python report.py <output_dir> --samples"),
                ("diagnostics/reward_errors", "answers on which a reward rule raised an error",
                 "the log names the completions; a reward that fails on them cannot grade them")]:
            count = self.recent(key)  # per reward call; a call scores one generation batch on this process
            if count is not None and count / self.per_call > REWARD_PROBLEM_SHARE:
                found.append(("reward_problems", f"{count / self.per_call:.0%} of samples are {what} "
                                                 f"({self.span(key)}): they get no reward; {fix}"))
        return found[:1]

    def collapse_and_blowups(self) -> list[tuple[str, str]]:
        found = []
        entropy = self.logged.get("entropy", [])
        if len(entropy) >= MIN_LOGS + WINDOW:
            start, now = _mean(entropy[:WINDOW]), _mean(entropy[-WINDOW:])
            if start > 0 and now < ENTROPY_COLLAPSE * start:
                found.append(("entropy_collapse", (
                    f"entropy fell from {start:.3f} to {now:.3f} (entropy): the policy samples nearly the same "
                    "completion every time, so groups stop differing; lower --learning_rate, raise --temperature, or "
                    "add a KL penalty (--beta 0.04)")))
        for key, check, floor, fix in [
                ("kl", "kl_blowup", KL_FLOOR, "the policy is running away from the base model; lower --learning_rate "
                                              "or raise --beta"),
                ("grad_norm", "grad_norm_blowup", GRAD_NORM_FLOOR, "updates are unstable; lower --learning_rate "
                                                                    "(and keep --max_grad_norm at 1.0)")]:
            values = self.logged.get(key, [])
            if len(values) < MIN_LOGS + 2:
                continue
            typical = max(statistics.median(values[:-2]), floor)
            if min(values[-2:]) > SPIKE_FACTOR * typical:
                found.append((check, f"{key} is {values[-1]:.3g}, over {SPIKE_FACTOR:g}x its median so far "
                                     f"({typical:.3g}) two logged steps in a row: {fix}"))
        return found

    def heldout_drop(self) -> list[tuple[str, str]]:
        if len(self.heldout) < 3 or not all(a < self.heldout[0] - HELDOUT_DROP for a in self.heldout[-2:]):
            return []
        return [("heldout_below_start", (
            f"held-out accuracy {self.heldout[-1]:.3f} is below step 0's {self.heldout[0]:.3f} for two evaluations in "
            "a row (eval/accuracy): training is making the model worse; the adapter kept in --output_dir is still "
            "the best one; lower --learning_rate, or check that training and held-out data ask the same thing"))]

    # -- speaking

    def warn(self, state, check: str, message: str) -> None:
        self.record({"step": state.global_step, "check": check, "message": message})
        if is_main_process():
            from tqdm.auto import tqdm

            tqdm.write(f"warning: step {state.global_step}: {message}")

    def record(self, warning: dict) -> None:
        """Keep a warning, and write it into run_config.json at once (train.py wrote that file before training), so
        a stopped run still shows its warnings."""
        self.warnings.append(warning)
        config = read_json(self.output_dir / RUN_CONFIG) if is_main_process() else {}
        if config:
            write_json(self.output_dir / RUN_CONFIG, {**config, "health": self.warnings})

    def stop(self, args, step: int, what: str):
        """One error line (main.py prints it) and a non-zero exit; nothing of this step is saved."""
        checkpoint = last_complete_checkpoint(self.output_dir)
        lower = f"{args.learning_rate / 10:g}"
        where = (f"the last complete checkpoint, {Path(checkpoint).name}, is kept; resume from it with a lower "
                 f"learning rate: {resume_command(lower)}" if checkpoint else
                 f"no checkpoint was saved yet; start again with a lower learning rate: {resume_command(lower)} "
                 "--overwrite_output_dir")
        self.record({"step": step, "check": "non_finite", "message": what})
        if is_main_process():
            print(file=sys.stderr)  # end the progress bar's line: the error line starts clean
        raise UsageError(f"training stopped at step {step}: {what} (most often a learning rate, "
                         f"here {args.learning_rate:g}, too high for this model); {where}")

    @staticmethod
    def apply_new_learning_rate(learning_rate: float, optimizer, lr_scheduler) -> None:
        """A resumed run restores the checkpoint's optimizer and schedule, learning rate included: rescale both so a
        new --learning_rate takes effect, the schedule continuing from the resumed step."""
        scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate wraps it
        base = getattr(scheduler, "base_lrs", None)
        if not base or not base[0] or math.isclose(base[0], learning_rate, rel_tol=1e-9):
            return
        ratio = learning_rate / base[0]
        scheduler.base_lrs = [lr * ratio for lr in base]
        for group in optimizer.param_groups:
            group["lr"] *= ratio
            if "initial_lr" in group:
                group["initial_lr"] *= ratio
        scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
        if is_main_process():
            print(f"learning rate {base[0]:g} -> {learning_rate:g} from the resumed step on")


def all_finite(tensors) -> bool:
    import torch

    return bool(torch.stack([t.isfinite().all() for t in tensors]).all())


def resume_command(learning_rate: str) -> str:
    """This run's command line with --learning_rate replaced: re-running it resumes from the last complete
    checkpoint."""
    argv, out, skip = sys.argv[1:], [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--learning_rate":
            skip = True
        elif not arg.startswith("--learning_rate="):
            out.append(arg)
    return shlex.join(["python", Path(sys.argv[0]).name, *out, "--learning_rate", learning_rate])
