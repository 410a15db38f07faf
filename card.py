"""The model card (`<dir>/README.md`) and `<dir>/report/samples.md`: what a run was, how it went, how to load and
evaluate it, and what the model wrote (held-out answers from `heldout/step-<N>.jsonl`, training completions from
TRL's `completions/` log)."""
from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from plots import is_hub_id
from run_records import (EVAL_KEYS, Run, adapter_dir, as_number, duration, first_last, fmt, heldout, never_beat_start,
                         option, series, short_name, start_name, wall_time, window)
from runs import checkpoint_step

REPORT_DIR = "report"
SAMPLES_FILE = "samples.md"  # <dir>/report/samples.md: what the model wrote, held out and in training
SAMPLE_PROBLEMS = 3  # held-out problems in samples.md: the first ones of the held-out set, the same at every step
SAMPLE_STEPS = 3  # logged training steps whose best and worst completion samples.md shows: first, middle and last
DIAGNOSTICS = {"diagnostics/answer_extracted_fraction": "answer extracted (fraction)",
               "diagnostics/unparseable_references": "unparseable references (per reward call)",
               "diagnostics/reward_timeouts": "reward timeouts (per reward call)"}


# ----------------------------------------------------------------------------------------------------------------------
# Samples: what the model wrote

def run_root(run: Run) -> Path:
    """The run's --output_dir, also when the report is about one of its checkpoints."""
    return run.directory.parent if checkpoint_step(run.directory) is not None else run.directory


def _text(value) -> str:
    """A prompt or completion as TRL logs it (a list of chat messages, or plain text): its last message's text."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1].get("content", ""))
    return str(value)


def _quote(text: str, width: int = 1200) -> list[str]:
    text = text if len(text) <= width else text[:width] + f" [... {len(text) - width} more characters]"
    fence = "````" if "```" in text else "```"  # a model may write a fence of its own
    return [fence + "text", text, fence]


def _heldout_records(root: Path, up_to: int | None) -> dict[int, list[dict]]:
    """step -> that evaluation's records, from <run>/heldout/step-<N>.jsonl (at most step `up_to`)."""
    found = {}
    for path in (root / "heldout").glob("step-*.jsonl"):
        step = path.stem.removeprefix("step-")
        if step.isdigit() and (up_to is None or int(step) <= up_to):
            found[int(step)] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return found


RECORD_FIELDS = {"index", "sample", "prompt", "completion", "solution", "extracted_answer", "completion_tokens",
                 "truncated", "reward"}


def heldout_samples(run: Run) -> list[str]:
    records = _heldout_records(run_root(run), run.step if checkpoint_step(run.directory) is not None else None)
    if not records:
        return ["No held-out samples: held-out evaluation keeps them in `heldout/step-<N>.jsonl` when the run has "
                "`--eval_dataset_id`.", ""]
    result = heldout(run)
    first, last = min(records), max(records)
    best = result.best if result is not None and result.best in records else first
    shown = {}  # step -> label; a step that is both best and last is shown once
    for label, step in ((("before training" if first == 0 else "first evaluation"), first), ("best", best),
                        ("final" if run.finished else "latest", last)):
        shown[step] = f"{shown[step]}, {label}" if step in shown else label
    problems = sorted({record["index"] for record in records[first]})[:SAMPLE_PROBLEMS]
    lines = [f"The first {len(problems)} held-out problems (the same ones at every evaluation), answered greedily and "
             "scored as `eval.py` does; from `heldout/step-<N>.jsonl`.", ""]
    for number, index in enumerate(problems, 1):
        record = next(r for r in records[first] if r["index"] == index)
        lines += [f"### Problem {number} (held-out row {index})", "", *_quote(_text(record["prompt"])), "",
                  f"Reference: {_reference(record['solution'])}", ""]
        for step, label in shown.items():
            match = next((r for r in records[step] if r["index"] == index and r.get("sample", 0) == 0), None)
            if match is None:
                continue
            rewards = ", ".join(f"{name} {fmt(value)}" for name, value in match.items() if name not in RECORD_FIELDS)
            cut = ", **cut at the length limit**" if match.get("truncated") else ""
            lines += [f"**Step {step} ({label})**: answer `{match.get('extracted_answer')}`; reward "
                      f"{fmt(match.get('reward'))} ({rewards}); {match.get('completion_tokens')} tokens{cut}", "",
                      *_quote(match["completion"]), ""]
    return lines


def _reference(solution) -> str:
    text = " ".join(str(solution).split())
    return f"`{text}`" if len(text) <= 160 else f"`{text[:80]} … {text[-60:]}`"


def training_samples(run: Run) -> list[str]:
    files = sorted((run_root(run) / "completions").glob("completions_*.parquet"))
    if checkpoint_step(run.directory) is not None:
        files = [f for f in files if int(f.stem.split("_")[-1]) <= run.step]
    if not files:
        return ["No training samples: TRL keeps them in `completions/` when `--log_completions` is on (the default).",
                ""]
    import pandas as pd

    picked = sorted({files[0], files[len(files) // 2], files[-1]})[:SAMPLE_STEPS]
    lines = ["At a few logged steps, one group (the completions of one prompt: the group whose advantages differ "
             "most), its best and worst completion by advantage, with each reward; from TRL's completion log "
             "(`completions/completions_<step>.parquet`, `--log_completions`).", ""]
    for path in picked:
        table = pd.read_parquet(path)
        if table.empty:  # --dynamic_sampling at its cap with no group whose rewards differ: nothing was trained on
            lines += [f"### Step {int(path.stem.split('_')[-1])}: no completions trained on", ""]
            continue
        table["prompt_text"] = [_text(p) for p in table["prompt"]]
        rewards = [c for c in table.columns if c not in ("step", "prompt", "completion", "advantage", "prompt_text")
                   and pd.api.types.is_numeric_dtype(table[c])]
        group = max((g for _, g in table.groupby("prompt_text", sort=False)),
                    key=lambda g: g["advantage"].max() - g["advantage"].min())
        lines += [f"### Step {int(path.stem.split('_')[-1])}: {len(group)} completions of one prompt", "",
                  *_quote(group["prompt_text"].iloc[0]), ""]
        pair = [("best", group.loc[group["advantage"].idxmax()]), ("worst", group.loc[group["advantage"].idxmin()])]
        if group["advantage"].max() == group["advantage"].min():  # no group told its completions apart
            pair = [("one of them (every group's completions scored alike: no learning signal)", pair[0][1])]
        for label, row in pair:
            scores = ", ".join(f"{name.removesuffix('_reward')} {fmt(float(row[name]))}" for name in rewards)
            lines += [f"**{label}**: advantage {float(row['advantage']):+.3f}; {scores}", "",
                      *_quote(_text(row["completion"])), ""]
    return lines


def samples_markdown(run: Run) -> str:
    return "\n".join([f"# Samples: {run.progress}", "",
                      "## Held-out problems at step 0, the best step and the last step", "", *heldout_samples(run),
                      "## Training completions", "", *training_samples(run)])


# ----------------------------------------------------------------------------------------------------------------------
# The model card

COUNT_OPTIONS = ("eval_steps", "logging_steps", "save_steps", "warmup_steps", "num_train_epochs")


def _count(name: str, value):
    """Step counts that transformers stores as floats (eval_steps 20.0) shown as the whole numbers they are."""
    return int(value) if name in COUNT_OPTIONS and isinstance(value, float) and value.is_integer() else value


KEY_OPTIONS = ("learning_rate", "max_steps", "num_train_epochs", "per_device_train_batch_size",
               "gradient_accumulation_steps", "num_generations", "max_prompt_length", "max_completion_length",
               "beta", "temperature", "loss_type", "lr_scheduler_type", "warmup_ratio", "seed", "bf16",
               "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "eval_steps", "eval_max_samples")


def _which_adapter(run: Run) -> str:
    best, final = run.config.get("best_step"), run.config.get("final_step")
    loadable = adapter_dir(run)
    if checkpoint_step(run.directory) is not None:
        return f"The adapter in this directory is the checkpoint at step {run.step}."
    if loadable is None:
        return "This directory holds no adapter yet: no checkpoint is complete."
    if loadable != run.directory:
        return (f"This directory holds no final adapter yet, only checkpoints: the newest complete one, "
                f"`{loadable.name}/`, is what the loading snippet and the eval command below use (re-run the training "
                "command to resume).")
    if best is None:
        return f"The adapter in this directory is the one at step {run.step}."
    if never_beat_start(run):
        return (f"Training never beat {start_name(run)} on the held-out set, so the adapter in this directory is "
                f"step 0's; the final adapter (step {final}) is in `final/`.")
    if final is None or best == final:
        return f"The adapter in this directory is the final one (step {best}), which is also the best on held-out data."
    return (f"The adapter in this directory is the **best** on held-out accuracy (step {best}); the **final** adapter "
            f"(step {final}) is in `final/`.")


def _reward_table(run: Run) -> list[str]:
    history = run.history
    rows = [(f"`{short_name(key)}` reward", key) for key in run.reward_keys]
    rows += [("total reward", "reward"), ("reward std within groups", "reward_std"),
             ("groups with equal rewards", "frac_reward_zero_std"), ("completion length", "completions/mean_length"),
             ("completions clipped", "completions/clipped_ratio")]
    rows += [(label, key) for key, label in DIAGNOSTICS.items()]
    if "kl" in {k for entry in history for k in entry}:
        rows.append(("KL", "kl"))
    lines = []
    for label, key in rows:
        values = first_last(history, key)
        if values:
            first, last, k = values
            change = last - first
            lines.append(f"| {label} | {fmt(first)} | {fmt(last)} | {change:+.{1 if abs(change) >= 10 else 3}f} |")
    if not lines:
        return []
    k = window(len(series(history, "reward")[1]) or 1)
    span = f"means of the first and last {k} logged steps" if k > 1 else "the first and last logged step"
    head = [f"Training completions (sampled), {span}:", "",
            "| metric | first | last | change |", "|---|---|---|---|"]
    return head + lines


def _heldout_table(run: Run) -> list[str]:
    result = heldout(run)
    if result is None:
        return ["No held-out evaluation during training (pass `--eval_dataset_id` to score held-out problems every "
                "`--eval_steps` steps)."]
    last = "final" if run.finished else "latest"
    columns = [("before" if result.before == 0 else "first", result.before), ("best", result.best),
               (last, result.last)]
    data = run.config.get("eval_dataset_id") or option(run, "eval_dataset_id")
    split = run.config.get("eval_split") or option(run, "eval_split")
    where = f" on `{data}` split `{split}`" if data else ""
    lines = [f"Greedy decoding{where}, scored like `eval.py`:", "",
             "| metric | " + " | ".join(f"{name} (step {step})" for name, step in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for key in EVAL_KEYS:
        values = [result.by_step[step].get(key) for _, step in columns]
        if any(as_number(v) is not None for v in values):
            lines.append(f"| {key.split('/')[1].replace('_', ' ')} | " + " | ".join(fmt(v) for v in values) + " |")
    return lines


def health_lines(run: Run) -> list[str]:
    """The run doctor's warnings, as run_config.json records them."""
    warnings = run.config.get("health")
    if warnings is None:
        return ["Not recorded (a run made before the run doctor)."]
    if not warnings:
        return ["No warnings: the run doctor found no truncation, no lack of learning signal, no flat accuracy, no "
                "reward failures, no entropy collapse, no KL or gradient blow-up, no held-out decline and no "
                "non-finite loss."]
    return [f"- step {w.get('step')}, **{str(w.get('check')).replace('_', ' ')}**: {w.get('message')}"
            for w in warnings]


def eval_command(run: Run, model_dir: str) -> str:
    data, split = run.config.get("eval_dataset_id"), run.config.get("eval_split")
    if not data:  # none recorded: a hub set's test split, or a placeholder (a local file is its own only split)
        data, split = str(run.config.get("dataset_id") or "AI-MO/NuminaMath-TIR"), "test"
        if Path(data).expanduser().exists() or Path(data).suffix in (".json", ".jsonl", ".parquet", ".csv"):
            data = "HELD_OUT_FILE.jsonl"
    parts = ["python", "eval.py", "--model_dir", model_dir, "--dataset_id", str(data), "--split", str(split)]
    # eval.py takes the rest from run_config.json as held-out evaluation did: prompt, rewards, lengths, columns and
    # the data set configuration (eval.build_settings).
    samples = option(run, "eval_max_samples")
    if run.config.get("eval_dataset_id") and samples:  # the logged figure scored the first N held-out problems
        parts += ["--max_samples", str(samples)]
    return shlex.join(parts)


def _peft_snippet(run: Run, model_dir: str) -> str:
    system = run.config.get("system_prompt")
    messages = ('[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "What is 12 * 7?"}]'
                if system else '[{"role": "user", "content": "What is 12 * 7?"}]')
    return "\n".join([
        "from peft import AutoPeftModelForCausalLM",
        "from transformers import AutoTokenizer",
        "",
        f"model_dir = {model_dir!r}",
        "model = AutoPeftModelForCausalLM.from_pretrained(model_dir)  # the base model named in adapter_config.json "
        "+ this adapter",
        "model = model.merge_and_unload()  # optional: faster generation",
        "tokenizer = AutoTokenizer.from_pretrained(model_dir)",
        *([f"SYSTEM_PROMPT = {system!r}  # the prompt the adapter was trained with"] if system else []),
        f"messages = {messages}",
        "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\", "
        "return_dict=True)",
        f"output = model.generate(**inputs, max_new_tokens={run.config.get('max_completion_length') or 256}, "
        "do_sample=False)",
        "print(tokenizer.decode(output[0, inputs[\"input_ids\"].shape[1]:], skip_special_tokens=True))",
    ])


def dynamic_sampling_text(config: dict) -> str | None:
    """--dynamic_sampling's settings and totals from run_config.json (None when the run did not use it)."""
    ds = config.get("dynamic_sampling")
    if not isinstance(ds, dict):
        return None
    text = f"on (metric `{ds.get('metric')}`, at most {ds.get('max_rounds')} generation rounds per step)"
    if "groups_generated" not in ds:  # written when the run ends
        return text
    generated, trained = ds.get("groups_generated") or 0, ds.get("groups_trained") or 0
    return (text + f": {ds.get('completions_generated')} completions ({ds.get('tokens_generated')} tokens) generated "
            f"in {ds.get('rounds')} rounds for {ds.get('generations')} generation batches; {trained} of {generated} "
            f"groups trained on ({trained / max(generated, 1):.0%}); cap hit in {ds.get('cap_hits')} batch(es)")


def model_card(run: Run, plots: list[Path], model_dir: str) -> str:
    config = run.config
    base = config.get("model_id") or option(run, "model_name_or_path") or "not recorded"
    names = config.get("reward_funcs") or [short_name(k) for k in run.reward_keys]
    weights = config.get("reward_weights") or [1.0] * len(names)
    front = ["---", "library_name: peft", *([f"base_model: {base}"] if is_hub_id(base) else []),
             "pipeline_tag: text-generation", "tags:", "- grpo", "- lora", "- trl", "- math", "---", ""]
    command = config.get("command")
    options = [(name, option(run, name)) for name in KEY_OPTIONS]
    options = [(name, value) for name, value in options if value not in (None, "", [], -1)
               and not (name == "num_train_epochs" and (option(run, "max_steps") or -1) > 0)]
    lines = front + [
        f"# GRPO LoRA adapter for `{base}`",
        "",
        f"A LoRA adapter trained with GRPO (TRL `GRPOTrainer`) to answer math problems as "
        f"`<think>…</think><answer>\\boxed{{…}}</answer>`; {run.progress}. {_which_adapter(run)}",
        "",
        "## Results",
        "",
        "### Held-out accuracy",
        "",
        *_heldout_table(run),
        "",
        "### Training rewards, first vs last",
        "",
        *_reward_table(run),
        "",
        "### Health",
        "",
        *health_lines(run),
        "",
        f"What the model wrote, held out and in training: [{REPORT_DIR}/{SAMPLES_FILE}]({REPORT_DIR}/{SAMPLES_FILE}).",
        "",
        "## Training",
        "",
        f"- **Base model:** `{base}`",
        *([f"- **Continued from adapter:** `{config['init_adapter']}`"] if config.get("init_adapter") else []),
        f"- **Data:** `{config.get('dataset_id', 'not recorded')}`, split `{config.get('dataset_split', '?')}`",
        "- **Rewards (weight):** " + ", ".join(f"`{n}` ({w:g})" for n, w in zip(names, weights)),
        f"- **Steps:** {run.step}" + (f" of {run.max_steps}" if run.max_steps else "")
        + (f"; best step {config['best_step']}" if config.get("best_step") is not None else "")
        + (f"; final step {config['final_step']}" if config.get("final_step") is not None else ""),
        f"- **Wall time:** {duration(wall_time(run))}",
        f"- **Hardware:** {config.get('hardware') or 'not recorded'}",
    ]
    if dynamic_sampling_text(config):
        lines.append(f"- **Dynamic sampling:** {dynamic_sampling_text(config)}")
    versions = config.get("versions") or {}
    if versions:
        lines.append("- **Versions:** " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    lines += ["", "Command:", "", "```bash", command or "# not recorded: run_config.json holds every resolved option",
              "```", ""]
    if options:
        lines += ["| option | value |", "|---|---|"]
        lines += [f"| `{name}` | `{_count(name, value)}` |" for name, value in options]
        lines.append("")
    lines += ["## Use", "", "Load the adapter with PEFT:", "", "```python", _peft_snippet(run, model_dir), "```", "",
              "Evaluate it on held-out problems with this project's `eval.py` (greedy, with the run's prompt and "
              "rewards):", "", "```bash", eval_command(run, model_dir), "```", ""]
    if plots:
        lines += ["## Plots", "", "Smoothed lines; the raw logged values are drawn faintly behind them.", ""]
        lines += [f"![{path.stem}]({REPORT_DIR}/{path.name})" for path in plots]
        lines.append("")
    lines += ["_Written by `report.py` from `" + os.path.relpath(run.state_path, run.directory) + "`; "
              "rerun `python report.py <this directory>` to refresh it._", ""]
    return "\n".join(lines)
