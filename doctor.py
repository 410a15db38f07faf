"""The run doctor (`RunDoctor`, a transformers callback train.py inserts first): prints one `warning:` line when a
known GRPO failure starts (truncation, no learning signal, flat accuracy, reward failures, entropy collapse, KL or
gradient blow-up, held-out decline), records the warnings in run_config.json's "health", and stops the run with
one `error:` line on a non-finite gradient.

Each check reads the figures TRL (and reward.py's diagnostics) logged; thresholds are relative to
what a healthy run shows, and every check looks at several logged steps, so one noisy step raises nothing.
"""
from __future__ import annotations

import math
import shlex
import statistics
import sys
from pathlib import Path

from transformers import TrainerCallback

from distributed import is_main_process
from errors import UsageError
from run_records import reward_keys, short_name
from runs import RUN_CONFIG, last_complete_checkpoint, read_json, write_json

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
        return statistics.fmean(values[-count:]) if len(values) >= MIN_LOGS else None

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
        start, now = statistics.fmean(accuracy[:WINDOW]), statistics.fmean(accuracy[-WINDOW:])
        form = statistics.fmean(formats[-WINDOW:])
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
            start, now = statistics.fmean(entropy[:WINDOW]), statistics.fmean(entropy[-WINDOW:])
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
