"""Evaluate a GRPO run (or any chat model) on a math split: batched generation, the training rewards, resumable JSON.

    python eval.py --model_dir ckpts/grpo --dataset_id AI-MO/NuminaMath-TIR --split "test[:5%]"
    python eval.py --model_dir ckpts/grpo --baseline                # the run's base model, same prompts and rewards
    python eval.py --model_dir Qwen/Qwen2.5-0.5B-Instruct           # any plain model: a baseline
    python eval.py --model_dir ckpts/grpo --num_samples 8 --temperature 0.7   # pass@8 and maj@8

Evaluation scores exactly what training rewarded: prompts come from `data_utils.format_dataset` with the run's
run_config.json, generation mirrors GRPOTrainer's settings, and every score is a `reward.py` function called the way
GRPOTrainer calls it. Finished batches are appended to `<output_file>.partial.jsonl`, so a killed run loses at
most one batch: re-running the same command resumes, then writes `--output_file` atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, GenerationConfig, HfArgumentParser

import reward
from data_utils import SYSTEM_PROMPT, format_dataset, load_chat_tokenizer, load_math_dataset, load_pretrained, looks_local
from errors import UsageError, first_line
from runs import RUN_CONFIG, read_json, read_run_config, write_atomically

TIMING_KEYS = ("wall_time_s", "generation_time_s", "tokens_per_second")  # the only summary fields a rerun changes


@dataclass
class EvalArguments:
    model_dir: str | None = field(default=None, metadata={
        "help": "Trained adapter directory (e.g. ckpts/grpo), or a plain model directory or hub id (a baseline)."})
    base_model: str | None = field(default=None, metadata={
        "help": "The adapter's base model; default: base_model_name_or_path in its adapter_config.json."})
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer; default: the base model's."})
    baseline: bool = field(default=False, metadata={
        "help": "Evaluate the adapter's base model without the adapter, with the run's prompt and rewards."})
    dataset_id: str = field(default="AI-MO/NuminaMath-TIR", metadata={
        "help": "Hub data set id, or a local .json/.jsonl/.parquet/.csv file or directory."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub data set configuration name, if any."})
    split: str = field(default="test[:5%]", metadata={
        "help": "Split, slicing allowed: 'test', 'test[:5%%]', 'train[:20]'."})
    prompt_column: str | None = field(default=None, metadata={
        "help": "Column holding the problem; default: the run's (run_config.json), else 'problem'."})
    solution_column: str | None = field(default=None, metadata={
        "help": "Column holding the reference; default: the run's, else 'solution'."})
    system_prompt: str | None = field(default=None, metadata={
        "help": "System prompt; default: the run's, else data_utils.SYSTEM_PROMPT."})
    reward_funcs: list[str] | None = field(default=None, metadata={
        "help": "Rewards summed into each sample's 'reward'; default: the run's, else format accuracy."})
    reward_weights: list[float] | None = field(default=None, metadata={
        "help": "One weight per reward; default: the run's, else 1.0 each."})
    batch_size: int = field(default=16, metadata={"help": "Completions generated together."})
    max_prompt_length: int | None = field(default=256, metadata={
        "help": "Skip prompts longer than this many chat-formatted tokens, as training does (0 keeps all)."})
    max_completion_length: int = field(default=512, metadata={"help": "Max new tokens per completion."})
    num_samples: int = field(default=1, metadata={
        "help": "Completions per problem; above 1, sample and report pass@k and maj@k."})
    temperature: float | None = field(default=None, metadata={
        "help": "Sampling temperature; default 0 (greedy) for --num_samples 1, else 1.0."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling threshold (when sampling)."})
    seed: int = field(default=42, metadata={"help": "Seed; each batch is seeded from it, so resumed runs reproduce."})
    use_vllm: bool = field(default=False, metadata={"help": "Generate with vLLM (needs vllm and a CUDA GPU)."})
    output_file: str = field(default="results/eval_results.json", metadata={
        "help": "Result JSON; progress goes to <output_file>.partial.jsonl until it is written."})


# ----------------------------------------------------------------------------------------------------------------------
# Settings: everything that defines the results. They key the partial file, so a resume never mixes two settings.

def resolve_settings(args: EvalArguments) -> dict:
    if not args.model_dir:
        raise UsageError("--model_dir is required: a trained adapter directory (e.g. ckpts/grpo), or a base model "
                         "directory or hub id for a baseline")
    check_exists(args.model_dir, "--model_dir")
    model_dir = Path(args.model_dir).expanduser()
    adapter_config = read_json(model_dir / "adapter_config.json")  # {} for a plain model or a hub id
    run = read_run_config(model_dir)
    if adapter_config:
        base = args.base_model or adapter_config.get("base_model_name_or_path")
        if not base or (looks_local(base) and not Path(base).expanduser().exists()):
            raise UsageError(f"base model {base!r} of adapter {args.model_dir} cannot be found (moved, or trained "
                             "elsewhere): pass its location with --base_model path/to/base_model")
    elif args.base_model or args.baseline:
        raise UsageError(f"{args.model_dir} is not an adapter directory (no adapter_config.json): --base_model and "
                         "--baseline only apply to a trained adapter; to evaluate a plain model just pass --model_dir")
    else:
        base = args.model_dir

    reward_funcs = args.reward_funcs or run.get("reward_funcs") or list(reward.DEFAULT_REWARDS)
    weights = args.reward_weights or (run.get("reward_weights") if reward_funcs == run.get("reward_funcs") else None)
    weights = [float(w) for w in weights or [1.0] * len(reward_funcs)]
    unknown = [name for name in reward_funcs if name not in reward.REWARD_FUNCS]
    if unknown:
        raise UsageError(f"unknown reward {', '.join(unknown)}: choose --reward_funcs from "
                         f"{', '.join(reward.REWARD_FUNCS)}")
    if len(weights) != len(reward_funcs):
        raise UsageError(f"{len(reward_funcs)} reward functions but {len(weights)} --reward_weights: give one each")

    temperature = args.temperature if args.temperature is not None else (0.0 if args.num_samples == 1 else 1.0)
    for ok, problem in [(args.batch_size >= 1, "--batch_size must be at least 1"),
                        (args.num_samples >= 1, "--num_samples must be at least 1"),
                        (args.max_completion_length >= 1, "--max_completion_length must be at least 1"),
                        (temperature >= 0, "--temperature must be 0 (greedy) or positive"),
                        (0 < args.top_p <= 1, "--top_p must be in (0, 1]"),
                        (args.num_samples == 1 or temperature > 0,
                         "--num_samples above 1 needs sampling (greedy decoding repeats one completion): "
                         "pass --temperature 0.7")]:
        if not ok:
            raise UsageError(problem)
    if args.use_vllm:
        check_vllm()

    return {
        "model_dir": absolute(args.model_dir),
        "adapter": absolute(args.model_dir) if adapter_config and not args.baseline else None,
        # Retraining into the same directory makes a different model: the weights' hash tells them apart on resume.
        "adapter_sha256": weights_digest(model_dir) if adapter_config and not args.baseline else None,
        "base_model": absolute(base),
        "tokenizer": absolute(args.tokenizer or base),
        "dataset_id": absolute(args.dataset_id),
        "dataset_config": args.dataset_config,
        "split": args.split,
        "prompt_column": args.prompt_column or run.get("prompt_column") or "problem",
        "solution_column": args.solution_column or run.get("solution_column") or "solution",
        "system_prompt": run.get("system_prompt", SYSTEM_PROMPT) if args.system_prompt is None else args.system_prompt,
        "reward_funcs": reward_funcs,
        "reward_weights": weights,
        "max_prompt_length": args.max_prompt_length or None,
        "max_completion_length": args.max_completion_length,
        "num_samples": args.num_samples,
        "temperature": temperature,
        "top_p": args.top_p,
        "seed": args.seed,
        "backend": "vllm" if args.use_vllm else "transformers",
    }


def check_exists(name: str, flag: str) -> None:
    if looks_local(name) and not Path(name).expanduser().exists():
        raise UsageError(f"{flag} {name} does not exist: pass a trained adapter directory (e.g. ckpts/grpo), or a "
                         "base model directory or hub id")


def absolute(name: str | None) -> str | None:
    """Local paths become absolute (the same run resumes from any working directory); hub ids stay as they are."""
    path = Path(name).expanduser() if name else None
    return str(path.resolve()) if path and path.exists() else name


def weights_digest(adapter_dir: Path) -> str | None:
    for name in ("adapter_model.safetensors", "adapter_model.bin"):
        if (adapter_dir / name).is_file():
            digest = hashlib.sha256()
            with open(adapter_dir / name, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            return digest.hexdigest()[:16]
    return None


def check_vllm() -> None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise UsageError("--use_vllm needs vLLM (pip install vllm) on a CUDA GPU machine: drop --use_vllm to "
                         "generate with transformers") from None
    if not torch.cuda.is_available():
        raise UsageError("--use_vllm needs a CUDA GPU but none is available: drop --use_vllm")


# ----------------------------------------------------------------------------------------------------------------------
# Tokenizer, prompts, model

def base_flag(settings: dict) -> str:
    return "--model_dir" if settings["base_model"] == settings["model_dir"] else "--base_model"


def load_tokenizer(settings: dict):
    flag = "--tokenizer" if settings["tokenizer"] != settings["base_model"] else base_flag(settings)
    return load_chat_tokenizer(settings["tokenizer"], flag)


def load_prompts(settings: dict, tokenizer) -> tuple[list[dict], int]:
    """The split as training's chat prompts, tokenized; prompts over max_prompt_length are skipped, as training does
    (left-truncating would cut off the system prompt). Returns (rows, number skipped)."""
    data = load_math_dataset(settings["dataset_id"], settings["split"], settings["dataset_config"])
    data = format_dataset(data, settings["system_prompt"], settings["prompt_column"], settings["solution_column"])
    if len(data) == 0:
        raise UsageError(f"split {settings['split']!r} of {settings['dataset_id']} is empty: choose another --split")
    prompts, solutions = list(data["prompt"]), list(data["solution"])
    texts = tokenizer.apply_chat_template(prompts, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    limit = settings["max_prompt_length"]
    rows = [{"index": i, "prompt": prompts[i], "solution": solutions[i], "prompt_ids": ids[i]}
            for i in range(len(ids)) if not limit or len(ids[i]) <= limit]
    if not rows:
        raise UsageError(f"no prompt fits --max_prompt_length {limit} (the shortest has {min(map(len, ids))} tokens): "
                         "raise it")
    return rows, len(ids) - len(rows)


def load_model(settings: dict):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    model = load_pretrained(AutoModelForCausalLM.from_pretrained, settings["base_model"], base_flag(settings),
                            dtype=dtype)
    if settings["adapter"]:
        from peft import PeftModel

        # Folding the LoRA deltas into the weights makes generation exactly as fast as the base model's.
        with warnings.catch_warnings():  # peft calls a deprecated transformers helper: noise, not news for the user
            warnings.simplefilter("ignore", FutureWarning)
            model = PeftModel.from_pretrained(model, settings["adapter"]).merge_and_unload()
    return model.to(device).eval()


def generation_config(settings: dict, model_config: GenerationConfig, tokenizer) -> GenerationConfig:
    """GRPOTrainer's sampling settings (its stop tokens, no top-k, no repetition penalty), or plain greedy decoding.

    Every knob is set explicitly: generate() fills unset ones from the checkpoint's generation_config.json, whose
    defaults (e.g. a repetition penalty) training never used."""
    eos = model_config.eos_token_id  # stop tokens as GRPOTrainer computes them: the tokenizer's EOS plus the model's
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    eos = eos if tokenizer.eos_token_id in eos else [tokenizer.eos_token_id, *eos]
    sampling = settings["temperature"] > 0
    return GenerationConfig(
        max_new_tokens=settings["max_completion_length"], do_sample=sampling,
        temperature=settings["temperature"] if sampling else 1.0, top_p=settings["top_p"] if sampling else 1.0,
        top_k=0 if sampling else 50, repetition_penalty=1.0,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=eos)


def generate(model, prompt_ids: list[list[int]], config: GenerationConfig, seed: int) -> list[list[int]]:
    """One left-padded batch through model.generate; returns each completion's tokens up to and including EOS."""
    width = max(map(len, prompt_ids))
    pad = config.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in prompt_ids], device=model.device)
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in prompt_ids], device=model.device)
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config)
    return [cut_at_eos(ids, config.eos_token_id) for ids in out[:, width:].tolist()]


def cut_at_eos(ids: list[int], eos: list[int]) -> list[int]:
    for n, token in enumerate(ids):
        if token in eos:
            return ids[:n + 1]
    return ids


def make_generator(settings: dict, tokenizer):
    """(run_batch(prompt_ids, config, seed) -> completion ids, generation config) for the chosen backend."""
    if settings["backend"] == "vllm":
        try:  # only its stop tokens are needed; not every checkpoint has a generation_config.json
            model_config = GenerationConfig.from_pretrained(settings["base_model"])
        except OSError:
            model_config = GenerationConfig()
        return vllm_generator(settings, tokenizer), generation_config(settings, model_config, tokenizer)
    model = load_model(settings)
    return (lambda prompt_ids, config, seed: generate(model, prompt_ids, config, seed),
            generation_config(settings, model.generation_config, tokenizer))


def vllm_generator(settings: dict, tokenizer):
    """A run_batch function backed by vLLM, serving the LoRA adapter directly (no merge needed)."""
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    adapter = settings["adapter"]
    lora_options = {"enable_lora": True, "max_lora_rank": read_json(Path(adapter) / "adapter_config.json")["r"]} \
        if adapter else {}
    llm = LLM(model=settings["base_model"], tokenizer=settings["tokenizer"], dtype="bfloat16", seed=settings["seed"],
              max_model_len=(settings["max_prompt_length"] or 4096) + settings["max_completion_length"], **lora_options)
    lora = LoRARequest("adapter", 1, adapter) if adapter else None

    def generate_vllm(prompt_ids, config, seed):
        params = SamplingParams(temperature=settings["temperature"], top_p=settings["top_p"], seed=seed,
                                max_tokens=config.max_new_tokens, stop_token_ids=config.eos_token_id)
        outputs = llm.generate([{"prompt_token_ids": ids} for ids in prompt_ids], params, lora_request=lora,
                               use_tqdm=False)
        return [cut_at_eos(list(o.outputs[0].token_ids), config.eos_token_id) for o in outputs]

    return generate_vllm


# ----------------------------------------------------------------------------------------------------------------------
# Scoring and summary

def score(rows: list[dict], completions: list[str], completion_ids: list[list[int]], settings: dict) -> list[dict]:
    """Each reward from reward.py on each completion, called exactly as GRPOTrainer calls it (conversational
    completions, data set columns as keyword arguments); `reward` is their weighted sum, None rewards skipped."""
    kwargs = {"prompts": [r["prompt"] for r in rows], "solution": [r["solution"] for r in rows],
              "completions": [[{"role": "assistant", "content": c}] for c in completions],
              "completion_ids": completion_ids}
    names = list(dict.fromkeys([*settings["reward_funcs"], "accuracy", "format"]))  # accuracy/format always reported
    scores = {name: reward.REWARD_FUNCS[name](**kwargs) for name in names}
    results = []
    for n in range(len(rows)):
        parts = [(w, scores[name][n]) for name, w in zip(settings["reward_funcs"], settings["reward_weights"])]
        total = [w * r for w, r in parts if r is not None]
        results.append({"reward": sum(total) if total else None, **{name: scores[name][n] for name in names}})
    return results


def make_records(batch, ids, tokenizer, config, settings) -> list[dict]:
    """One output record per completion: what was asked, what came back, and how reward.py scored it."""
    texts = tokenizer.batch_decode(ids, skip_special_tokens=True)  # as GRPOTrainer decodes
    scores = score([row for row, _ in batch], texts, ids, settings)
    return [{"index": row["index"], "sample": j, "prompt": row["prompt"], "completion": text,
             "solution": row["solution"], "extracted_answer": reward.extract_answer(text), **scored,
             "completion_tokens": len(x),  # EOS included, as in GRPOTrainer's completion length
             "truncated": len(x) >= settings["max_completion_length"] and x[-1] not in config.eos_token_id}
            for (row, j), text, x, scored in zip(batch, texts, ids, scores)]


def summarize(settings: dict, samples: list[dict], num_problems: int, skipped: int, timing: dict) -> dict:
    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    scored = [s["accuracy"] for s in samples if s["accuracy"] is not None]
    k = settings["num_samples"]
    summary = {
        **settings,
        "num_problems": num_problems,
        "skipped_prompts": skipped,
        "num_completions": len(samples),
        "accuracy": mean(scored),
        "correct": sum(scored),
        "scored": len(scored),  # completions whose reference could be parsed
        "format_mean": mean(s["format"] for s in samples),
        "reward_mean": mean(s["reward"] for s in samples),
        "truncated_fraction": mean(float(s["truncated"]) for s in samples),
        "completion_tokens_mean": mean(s["completion_tokens"] for s in samples),
    }
    if k > 1:
        by_problem = {}
        for s in samples:
            by_problem.setdefault(s["index"], []).append(s)
        groups = [g for g in by_problem.values() if all(s["accuracy"] is not None for s in g)]
        summary[f"pass@{k}"] = mean(float(any(s["accuracy"] >= 1 for s in g)) for g in groups)
        summary[f"maj@{k}"] = mean(majority_correct(g) for g in groups)
    return {**summary, **timing}


def majority_correct(group: list[dict]) -> float:
    """Accuracy of the most common extracted answer (ties: the earliest sample), judged by reward.py on a
    completion that gave it; 0 when no completion has an answer."""
    answers = Counter(s["extracted_answer"] for s in group if s["extracted_answer"] is not None)
    if not answers:
        return 0.0
    winner = answers.most_common(1)[0][0]
    return float(next(s["accuracy"] for s in group if s["extracted_answer"] == winner))


# ----------------------------------------------------------------------------------------------------------------------
# Resumable output: <output_file>.partial.jsonl holds a settings header line, then one record per completion.

def partial_path(output_file: str) -> Path:
    return Path(output_file + ".partial.jsonl")


def read_partial(path: Path, settings: dict) -> dict:
    """Finished records by (index, sample), after checking they were made with these settings. A torn last line
    (the process was killed mid-write) is dropped; the file is rewritten clean so appends stay valid JSON lines."""
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    try:
        header = json.loads(lines[0])["settings"]
    except (IndexError, ValueError, KeyError, TypeError):
        raise UsageError(f"{path} is not a partial result file of eval.py: delete it or choose another --output_file")
    differs = [key for key in settings if header.get(key) != json.loads(json.dumps(settings[key]))]
    if differs:
        raise UsageError(f"{path} holds results made with different settings ({', '.join(differs)}): re-run with the "
                         "same settings to resume, or delete it or choose another --output_file to start afresh")
    done = {}
    for line in lines[1:]:
        try:
            record = json.loads(line)
            done[record["index"], record["sample"]] = record
        except (ValueError, KeyError, TypeError):
            continue
    write_atomically(path, "".join(json.dumps(x) + "\n" for x in [{"settings": settings}, *done.values()]))
    return done


def evaluate(args: EvalArguments) -> dict:
    """Generate, score and write `args.output_file`; returns `{"summary": {...}, "samples": [...]}`."""
    start = time.time()
    settings = resolve_settings(args)
    tokenizer = load_tokenizer(settings)
    rows, skipped = load_prompts(settings, tokenizer)
    if skipped:
        print(f"skipped {skipped} of {len(rows) + skipped} prompts longer than --max_prompt_length "
              f"{settings['max_prompt_length']} tokens (as training does); raise it to keep them")

    # Longest prompts first: batches hold similar lengths (little padding) and an out-of-memory error shows at once.
    k = settings["num_samples"]
    order = sorted(rows, key=lambda r: -len(r["prompt_ids"]))
    items = [(row, j) for row in order for j in range(k)]
    batches = [items[b:b + args.batch_size] for b in range(0, len(items), args.batch_size)]

    partial = partial_path(args.output_file)
    done = read_partial(partial, settings)
    todo = [(b, batch) for b, batch in enumerate(batches) if any((r["index"], j) not in done for r, j in batch)]
    if done:
        print(f"resuming from {partial}: {len(done)} of {len(items)} completions already done")

    new_tokens, gen_time = 0, 0.0  # this invocation's: generate + decode + score + save, model loading excluded
    if todo:
        run_batch, config = make_generator(settings, tokenizer)
        bar = tqdm(total=len(items), initial=len(done), desc="eval", unit="completion", dynamic_ncols=True)
        if not partial.exists():  # created only now, so a run that fails while loading leaves nothing behind
            write_atomically(partial, json.dumps({"settings": settings}) + "\n")
        with open(partial, "a") as out:
            for b, batch in todo:
                t0 = time.time()
                # Seeded per batch, not once per run: a resumed run samples each batch exactly as an uninterrupted one.
                ids = run_batch([r["prompt_ids"] for r, _ in batch], config, settings["seed"] + b)
                records = [rec for rec in make_records(batch, ids, tokenizer, config, settings)
                           if (rec["index"], rec["sample"]) not in done]
                out.write("".join(json.dumps(rec) + "\n" for rec in records))
                out.flush()  # a killed process loses at most the batch in flight
                os.fsync(out.fileno())
                done.update({(rec["index"], rec["sample"]): rec for rec in records})
                gen_time += time.time() - t0
                new_tokens += sum(map(len, ids))
                bar.update(len(records))
                bar.set_postfix(tok_s=f"{new_tokens / gen_time:.0f}")
        bar.close()

    samples = [done[key] for key in sorted(done)]
    timing = {"wall_time_s": round(time.time() - start, 2), "generation_time_s": round(gen_time, 2),
              "tokens_per_second": round(new_tokens / gen_time, 1) if gen_time else None}
    result = {"summary": summarize(settings, samples, len(rows), skipped, timing), "samples": samples}
    write_atomically(Path(args.output_file), json.dumps(result, indent=1))
    partial.unlink(missing_ok=True)
    return result


def print_summary(summary: dict, output_file: str) -> None:
    """The figures users compare runs by, ending with the overall accuracy."""
    k = summary["num_samples"]
    model = summary["base_model"] if not summary["adapter"] else f"{summary['adapter']} (on {summary['base_model']})"
    print(f"results: {output_file}\nmodel: {model}")
    print(f"data: {summary['dataset_id']}, split {summary['split']}: {summary['num_problems']} problems x {k} "
          f"completion(s), {summary['skipped_prompts']} prompts skipped as too long")
    print(f"time: {summary['wall_time_s']}s, {summary['tokens_per_second']} generated tokens/s")
    keys = ["format_mean", "reward_mean", "truncated_fraction", "completion_tokens_mean", f"pass@{k}", f"maj@{k}"]
    print("  ".join(f"{key}: {summary[key]:.4f}" for key in keys if summary.get(key) is not None))
    accuracy = "n/a (no parseable reference)" if summary["accuracy"] is None else f"{summary['accuracy']:.4f}"
    print(f"accuracy: {accuracy} ({summary['correct']:g}/{summary['scored']})")


def parse_args(argv: list[str] | None) -> EvalArguments:
    parser = HfArgumentParser(EvalArguments)

    def error(message):  # argparse would print usage plus the message and exit; we want one line
        raise UsageError(f"{message} (see python eval.py --help)")

    parser.error = error
    try:
        (args,) = parser.parse_args_into_dataclasses(args=argv)
    except ValueError as err:  # e.g. "Some specified arguments are not used by the HfArgumentParser"
        raise UsageError(first_line(err)) from None
    return args


def main(argv: list[str] | None = None) -> int:
    import datasets
    import transformers

    # On the command line our own bar is the one to watch; the libraries' loading bars are noise around it.
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    args = None
    try:
        args = parse_args(argv)
        result = evaluate(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        where = partial_path(args.output_file) if args else "the partial file"
        print(f"interrupted: finished batches are kept in {where}; re-run the same command to resume", file=sys.stderr)
        return 130
    print_summary(result["summary"], args.output_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
