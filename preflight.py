"""`python main.py --check <options>`: catch a doomed run in seconds, before any GPU hour is spent.

It loads the tokenizer, the data, the rewards and the model's config, trains nothing, writes nothing, and prints what
the run would see: the first prompt as the policy reads it, prompt lengths, how many references the accuracy reward
can read, whether a correctly formatted answer scores 1.0, a few completions sampled from the base model with their
lengths and rewards (the only step that loads the weights; --check_samples 0 skips it), the batch arithmetic, a rough
memory estimate and the environment. Every fatal finding is an `error:` line; the exit status is 2 if any.
Its own module because it is neither argument parsing (main.py) nor training (train.py).
"""
from __future__ import annotations

import inspect
import math
import random
import statistics

import contamination
import reward
from data_utils import (DEFAULT_MAX_PROMPT_LENGTH, check_gradable, empty_problems, fitting_prompts,
                        load_math_dataset, load_prompt_dataset, tokenize_prompts)
from distributed import generation_batch, world_size
from errors import UsageError
from models import auto_dtype, checkpointing_needed, load_chat_tokenizer, load_pretrained, lora_config
from runs import package_versions

SAMPLE = 2000  # references checked at most (sampled, seeded): NuminaMath-size data stays well under a minute


class Report:
    def __init__(self):
        self.errors: list[str] = []

    def section(self, title: str) -> None:
        print(f"\n== {title}")

    def line(self, text: str = "") -> None:
        print(text)

    def warn(self, text: str) -> None:
        print(f"warning: {text}")

    def error(self, text: str) -> None:
        self.errors.append(text)
        print(f"error: {text}")


def preflight(script_args, training_args, model_args, problems=()) -> int:
    """Print the report; `problems` are the option problems found while parsing (main.parse_check_args). Returns
    the exit status."""
    report = Report()
    for problem in problems:
        report.error(problem)
    tokenizer = step(report, "tokenizer", lambda: load_chat_tokenizer(
        model_args.model_name_or_path, "--model_id", revision=model_args.model_revision))
    step(report, "LoRA", lambda: lora_config(model_args))
    funcs = step(report, "rewards", lambda: reward.resolve_reward_funcs(
        script_args.reward_funcs, training_args.reward_weights,
        max_completion_length=training_args.max_completion_length, overlong_buffer=script_args.overlong_buffer))
    data = step(report, "data", lambda: load_prompt_dataset(
        script_args.dataset_id, script_args.dataset_split, script_args.dataset_config,
        script_args.system_prompt, script_args.prompt_column, script_args.solution_column))
    kept, longest = None, script_args.max_prompt_length or DEFAULT_MAX_PROMPT_LENGTH
    if tokenizer is not None and data is not None:
        report_prompt(report, tokenizer, data)
        kept, longest = report_lengths(report, tokenizer, data, script_args.max_prompt_length)
        rows, sampled = sample_rows(data)
        solutions = [data[i]["solution"] for i in rows]
        answers = reward.reference_answers(solutions)  # what accuracy_reward grades against; None: no answer
        report_references(report, solutions, answers, sampled)
        if funcs is not None:
            report_reward_sanity(report, data, rows, answers, funcs, script_args.reward_funcs)
    if script_args.eval_dataset_id:
        held_out = step(report, "held-out data", lambda: load_held_out(script_args, training_args, model_args))
        if held_out is not None:
            report.section("held-out evaluation during training")
            report.line(f"{len(held_out)} problems in {script_args.eval_dataset_id} ({script_args.eval_split}); the first "
                        f"{min(len(held_out), script_args.eval_max_samples or len(held_out))} that fit are scored "
                        "greedily at step 0 and every --eval_steps steps")
            try:
                check_gradable(held_out["solution"][:script_args.eval_max_samples or len(held_out)], script_args)
            except UsageError as err:
                report.error(str(err))
    if data is not None and (script_args.benchmarks or script_args.benchmark_dir):
        report_contamination(report, script_args)
    if kept and funcs is not None and script_args.check_samples > 0:  # a prompt fits: sample the base model on it
        report_samples(report, script_args, training_args, model_args, tokenizer)
    report_batch(report, training_args, kept)
    report_memory(report, model_args, training_args, longest)
    report_environment(report)
    report.section("verdict")
    if report.errors:
        print(f"{len(report.errors)} problem(s) above would stop or spoil this run; fix them and re-run --check")
        return 2
    print("ok: nothing fatal found; drop --check to train")
    return 0


def report_contamination(report: Report, script_args) -> None:
    """Training problems that share a normalised 8-gram with a benchmark problem (contamination.py): a warning each,
    with the command that writes the training set without them."""
    report.section(f"contamination ({contamination.NGRAM}-gram overlap with benchmarks)")
    problems = step(report, "benchmarks", lambda: contamination.benchmark_problems(script_args.benchmarks,
                                                                                   script_args.benchmark_dir))
    data = step(report, "data", lambda: load_math_dataset(script_args.dataset_id, script_args.dataset_split,
                                                          script_args.dataset_config))
    if problems is None or data is None or script_args.prompt_column not in data.column_names:
        return
    overlaps = contamination.find_overlaps(list(data[script_args.prompt_column]), problems)
    line = contamination.summary_line(overlaps, len(data), problems)
    if not overlaps:
        report.line(line)
        return
    report.warn(line)
    for overlap in overlaps[:5]:
        report.line(f"  {overlap.describe()}")
    given = " ".join(f"--{k} {v}" for k, v in [("benchmarks", " ".join(script_args.benchmarks or [])),
                                               ("benchmark_dir", script_args.benchmark_dir)] if v)
    report.line(f"  write the training set without them: python contamination.py --train {script_args.dataset_id} "
                f"--split {script_args.dataset_split!r} --prompt_column {script_args.prompt_column} {given} "
                "--write_clean train_clean.jsonl")


def step(report: Report, what: str, load):
    """Run one loading step; a UsageError becomes an error line and the steps that need its result are skipped."""
    try:
        return load()
    except UsageError as err:
        report.error(str(err))
        return None


def shorten(text: str, width: int = 600) -> str:
    return text if len(text) <= width else f"{text[:width // 2]} [... {len(text) - width} characters ...] {text[-width // 2:]}"


def report_prompt(report: Report, tokenizer, data) -> None:
    report.section("first training prompt, exactly as the policy reads it")
    conversation = data[0]["prompt"]
    text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    report.line(shorten(text))
    # What the template adds for the assistant's turn: a template that opens <think> itself (a "thinking" template)
    # means the completion never contains it, so the format reward can never reach 1.0.
    without = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=False)
    generation_prompt = text[len(without):] if text.startswith(without) else text[-200:]
    opened = [tag for tag in reward.TAGS if tag in generation_prompt]
    if opened:
        report.warn(f"the chat template's generation prompt already contains {' '.join(opened)}: completions will not "
                    "write it, so the format reward (which expects the completion to open <think> itself) can never "
                    "be 1.0; use a template without the pre-fill, or a system prompt and reward that match")


def report_lengths(report: Report, tokenizer, data, limit: int | None) -> tuple[int, int]:
    """Prints the lengths; returns (prompts kept, longest kept prompt)."""
    lengths = [len(ids) for ids in tokenize_prompts(data["prompt"], tokenizer)]
    empty = len(empty_problems(data["prompt"]))
    report.section("prompt lengths (chat-formatted tokens)")
    report.line(f"{len(lengths)} prompts: min {min(lengths)}, median {statistics.median(lengths):g}, max {max(lengths)}")
    if empty:
        report.warn(f"{empty} of {len(lengths)} problems are empty or missing: dropped from training")
    keep = step(report, "prompt lengths", lambda: fitting_prompts(lengths, limit, "training ", prompts=data["prompt"])) or []
    report.line(f"--max_prompt_length {limit}: keeps {len(keep)}, drops {len(lengths) - len(keep) - empty} as too long")
    return len(keep), max((lengths[i] for i in keep), default=min(lengths))


def sample_rows(data) -> tuple[list[int], str]:
    if len(data) <= SAMPLE:
        return list(range(len(data))), ""
    return sorted(random.Random(0).sample(range(len(data)), SAMPLE)), f" (a random sample of {SAMPLE} of {len(data)})"


def report_references(report: Report, solutions: list, answers: list, sampled: str) -> None:
    bad = [s for s, a in zip(solutions, answers) if a is None]
    report.section("references")
    report.line(f"references with a parseable answer: {len(solutions) - len(bad)} of {len(solutions)}{sampled}")
    for solution in bad[:5]:
        report.line(f"  not parseable: {'(empty cell)' if solution is None else shorten(repr(solution), 160)}")
    if len(bad) == len(solutions):
        report.error("no reference has a parseable answer: the accuracy reward would give None to every sample; check "
                     "--solution_column (it should hold a worked solution with \\boxed{}, '#### 18', or a bare answer)")


def reformatted(answer: str) -> str:
    """The reference's answer written differently (extra braces and spaces), so it is judged, not string-matched."""
    return "{ " + answer + " }"


def report_reward_sanity(report: Report, data, rows: list[int], answers: list, funcs, specs) -> None:
    graded = [(i, a) for i, a in zip(rows, answers) if a is not None][:200]
    report.section("reward sanity: a correct, well-formatted answer should score 1.0")
    if not graded:
        report.line("skipped: no parseable reference")
        return
    completions = [f"<think>The answer follows.</think><answer>\\boxed{{{reformatted(a)}}}</answer>" for _, a in graded]
    pairs = [(data[i]["solution"], a) for i, a in graded]
    kwargs = {"prompts": [data[i]["prompt"] for i, _ in graded], "solution": [s for s, _ in pairs],
              "completions": [[{"role": "assistant", "content": c}] for c in completions],
              "completion_ids": [[0]] * len(pairs), "trainer_state": None}
    for spec, func in zip(specs, funcs):
        takes_solution = "solution" in inspect.signature(func).parameters or func is reward.format_reward
        if not takes_solution:
            continue
        scores = func(**kwargs)
        full = [i for i, v in enumerate(scores) if v == 1.0]
        report.line(f"{spec}: {len(full)} of {len(pairs)} score 1.0")
        for i in [i for i, v in enumerate(scores) if v != 1.0][:3]:
            report.line(f"  scored {scores[i]}: reference answer {shorten(repr(pairs[i][1]), 80)} written as "
                        f"{shorten(repr(completions[i]), 120)}")


def load_held_out(script_args, training_args, model_args):
    """The held-out set exactly as held-out evaluation during training will load it (its one settings builder)."""
    from callbacks import eval_settings

    settings = eval_settings(script_args, training_args, model_args)
    return load_prompt_dataset(settings.dataset_id, settings.split, settings.dataset_config, settings.system_prompt,
                               settings.prompt_column, settings.solution_column,
                               "--eval_prompt_column / --eval_solution_column")


def report_samples(report: Report, script_args, training_args, model_args, tokenizer) -> None:
    """Sample completions from the base model for the first training prompts, as training will (its temperature and
    length limit), scored by the run's rewards: a limit that cuts every answer, or a task where nothing scores, shows
    here instead of after hours of zero reward."""
    import torch

    import eval as evaluation
    from callbacks import eval_settings
    from models import load_for_generation

    count = script_args.check_samples
    group = max(2, training_args.num_generations or 2)  # a whole group per prompt: does it tie, as training would see?
    report.section(f"sampled completions: the base model on the first {count} training prompt(s), as training samples")
    if not torch.cuda.is_available():
        report.line("generating on CPU: with a 0.5B model this may take a minute (--check_samples 0 skips it)")
    try:
        settings = eval_settings(script_args, training_args, model_args, dataset_id=script_args.dataset_id,
                                 split=script_args.dataset_split, max_samples=count, batch_size=count * group,
                                 temperature=training_args.temperature, top_p=training_args.top_p, num_samples=group)
        funcs = evaluation.reward_functions(settings)
        rows, _ = evaluation.load_prompts(settings, tokenizer)
        model = load_for_generation(model_args.model_name_or_path, None, "--model_id")
    except UsageError as err:
        report.error(str(err))
        return
    records = evaluation.generate_records(model, tokenizer, rows, settings, funcs)
    names = [name for name in funcs if name in records[0]]
    groups = {}
    for record in records:
        groups.setdefault(record["index"], []).append(record)
    records = [group_records[0] for group_records in groups.values()]  # shown: one completion per prompt
    for record in records:
        cut = "  CUT at --max_completion_length" if record["truncated"] else ""
        scores = ", ".join(f"{name} {record[name]}" for name in names)
        report.line(f"-- prompt {record['index'] + 1}: {record['completion_tokens']} tokens{cut}; reward "
                    f"{record['reward']} ({scores})")
        report.line(shorten(record["completion"], 400))
    report_ties(report, list(groups.values()), training_args, list(funcs), script_args.reward_funcs)
    limit = training_args.max_completion_length
    if all(record["truncated"] for record in records):
        report.warn(f"all {len(records)} completions were cut at --max_completion_length {limit}: a cut answer never "
                    "closes </answer>, so the format and accuracy rewards stay 0 and GRPO has nothing to learn from; "
                    f"raise --max_completion_length (e.g. {limit * 2})")
    elif not any(record["reward"] for record in records):
        report.warn(f"none of the {len(records)} completions got any reward: if that holds for the whole data set, "
                    "every group has equal rewards and GRPO learns nothing; check the rewards above, the system "
                    "prompt's format instructions, or use easier data or a stronger model")


def report_ties(report: Report, groups: list[list[dict]], training_args, keys: list[str], specs: list[str]) -> None:
    """What share of the sampled groups tie (every completion the same figure: zero advantage, nothing learned);
    when most do, --dynamic_sampling is suggested. `keys` are the records' reward keys (eval.reward_functions), the
    run's rewards first in --reward_funcs order (`specs`)."""
    from dynamic_sampling import TOTAL, tie_share

    metric = training_args.dynamic_sampling_metric or TOTAL
    key = metric if metric == TOTAL else keys[specs.index(metric)]  # `overlong` is logged under its function's name
    tied, total = tie_share([[record.get(key) for record in group] for group in groups])
    size = len(groups[0]) if groups else 0
    report.line(f"groups that tie: {tied} of {total} prompts' {size} completions all got the same {metric} "
                f"({tied / max(total, 1):.0%}): a tied group has zero advantage and teaches nothing")
    if total and tied / total > 0.5 and not training_args.dynamic_sampling:
        report.line("  -> most groups tie: consider --dynamic_sampling (trains only on groups whose rewards differ; "
                    "more generation per step), or data nearer the model's level")


def report_batch(report: Report, args, kept: int | None) -> None:
    report.section("batch arithmetic")
    batch = generation_batch(args)
    prompts = batch.completions / batch.num_generations
    if batch.steps == batch.accumulation:  # one generation per optimizer step
        steps, per = f"{batch.steps} accumulation", f"{prompts:g} prompts per optimizer step"
    else:
        steps = f"{batch.steps} steps per generation"
        per = f"{prompts:g} prompts per generation, {batch.prompts_per_optimizer_step:g} per optimizer step"
    report.line(f"generation batch = {batch.per_device} per device x {batch.processes} process(es) x {steps} = "
                f"{batch.completions} completions; / G={batch.num_generations} = {per}"
                + ("" if batch.divisible else "  <- not divisible"))
    if kept:
        per_epoch = math.ceil(kept / max(1, int(batch.prompts_per_optimizer_step)))
        total = args.max_steps if args.max_steps > 0 else math.ceil(per_epoch * args.num_train_epochs)
        report.line(f"steps per epoch: {per_epoch}; total steps: {total}"
                    + (" (--max_steps)" if args.max_steps > 0 else f" ({args.num_train_epochs:g} epoch(s))"))
        warmup = args.warmup_steps if args.warmup_steps >= 1 else math.ceil(args.warmup_steps * total)
        schedule = getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)
        report.line(f"learning rate: {schedule} schedule from {args.learning_rate:g}, {warmup:g} warmup "
                    f"step(s), over {total} steps")


def report_memory(report: Report, model_args, args, prompt_tokens: int) -> None:
    """A rough per-device estimate from the model's config (no weights loaded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    report.section("memory estimate per device (rough: order of magnitude, not a promise)")
    try:
        config = load_pretrained(AutoConfig.from_pretrained, model_args.model_name_or_path, "--model_id")
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        trainable = lora_parameters(model, model_args) if model_args.use_peft else None
    except (UsageError, ValueError, OSError) as err:
        report.line(f"skipped: {err}")
        return
    params = sum(p.numel() for p in model.parameters())
    dtype = auto_dtype(args.bf16, args.fp16, model_args.dtype)
    width = 0.5 if model_args.load_in_4bit else 1 if model_args.load_in_8bit else torch.finfo(dtype).bits / 8
    trainable = params if trainable is None else trainable
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layers, hidden = text.num_hidden_layers, text.hidden_size
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or hidden // heads
    seq = prompt_tokens + (args.max_completion_length or 256)  # the longest kept prompt plus a full completion
    batch = args.per_device_train_batch_size
    generating = generation_batch(args).per_process
    act_bytes = 2 if width <= 2 else 4
    weights = params * width
    states = trainable * 16  # fp32 weights, gradients and two Adam moments per trainable parameter
    kv_cache = 2 * layers * kv_heads * head_dim * seq * generating * act_bytes
    logits = batch * seq * text.vocab_size * 4 * 2  # fp32 logits and their gradient
    per_layer = batch * seq * hidden * act_bytes * 18  # a transformer layer's saved activations, roughly
    activations = per_layer * layers
    checkpointed = batch * seq * hidden * act_bytes * layers + per_layer
    gib = lambda n: f"{n / 2**30:.2f} GiB"  # noqa: E731
    report.line(f"model: {params / 1e6:.1f}M parameters, {trainable / 1e6:.2f}M trainable; weights {gib(weights)} "
                f"({dtype_name(model_args, dtype)}); optimizer state and gradients {gib(states)}")
    report.line(f"KV cache for {generating} completions x {seq} tokens: {gib(kv_cache)}; logits {gib(logits)}")
    checkpointing = args.gradient_checkpointing
    how = "as asked"
    if getattr(args, "checkpointing_auto", False):  # what models.choose_gradient_checkpointing will pick
        checkpointing, how = checkpointing_needed(params, model_args.use_peft), "chosen automatically"
    report.line(f"activations: {gib(activations)} without, {gib(checkpointed)} with gradient checkpointing "
                f"({'on' if checkpointing else 'off'}, {how})")
    total = weights + states + kv_cache + logits + (checkpointed if checkpointing else activations)
    available, where = available_memory()
    report.line(f"total about {gib(total)}; available: {gib(available)} ({where})")
    if total > available:
        report.error(f"the estimated {gib(total)} per device exceeds the {gib(available)} available ({where}): lower "
                     "--max_completion_length or --batch_size (raise --gradient_accumulation_steps), or turn on "
                     "--gradient_checkpointing true, --load_in_4bit true")


def lora_parameters(model, model_args) -> int:
    """LoRA's trainable parameters: r x (in + out) for each adapted linear layer."""
    import torch

    config = lora_config(model_args)
    targets = config.target_modules if config else None
    count = 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or name.endswith("lm_head"):
            continue
        leaf = name.rsplit(".", 1)[-1]
        if targets == "all-linear" or (targets and leaf in targets) or (not targets and leaf in ("q_proj", "v_proj")):
            count += model_args.lora_r * (module.in_features + module.out_features)
    return count


def dtype_name(model_args, dtype) -> str:
    return "4-bit" if model_args.load_in_4bit else "8-bit" if model_args.load_in_8bit else str(dtype).replace("torch.", "")


def available_memory() -> tuple[float, str]:
    import psutil
    import torch

    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        return free, f"free on {torch.cuda.get_device_name(0)} of {total / 2**30:.0f} GiB"
    return psutil.virtual_memory().available, "free RAM; no GPU"


def report_environment(report: Report) -> None:
    import platform

    import torch

    report.section("environment")
    gpu = "no GPU"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = (f"{torch.cuda.device_count()} x {props.name}, {props.total_memory / 2**30:.0f} GiB, "
               f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}, CUDA {torch.version.cuda}")
    report.line(f"python {platform.python_version()}, {gpu}, {world_size()} process(es)")
    report.line(", ".join(f"{name} {version or 'not installed'}" for name, version in package_versions().items()))
