"""Evaluate a GRPO run (or any chat model) on a math split: batched generation, the training rewards, resumable JSON.

    python eval.py --model_dir ckpts/grpo --dataset_id AI-MO/NuminaMath-TIR --split "test[:5%]"
    python eval.py --model_dir ckpts/grpo --dataset_id data/test.jsonl    # a local file: all of it
    python eval.py --model_dir ckpts/grpo --baseline                # the run's base model, same prompts and rewards
    python eval.py --model_dir Qwen/Qwen2.5-0.5B-Instruct           # any plain model: a baseline
    python eval.py --model_dir ckpts/grpo --num_samples 8 --temperature 0.7   # pass@8 and maj@8

Evaluation scores exactly what training rewarded: prompts come from `data_utils.format_dataset` with the run's
run_config.json, generation mirrors GRPOTrainer's settings, and every score is a `reward.py` function called the way
GRPOTrainer calls it. Finished batches are appended to `<output_file>.partial.jsonl`, so a killed run loses at
most one batch: re-running the same command resumes, then writes `--output_file` atomically.

Why one file of ~580 lines: generation, scoring, the resumable partial file and the CLI are one job with one caller,
`evaluate`; the settings it runs with are built in eval_settings.py, the benchmark loop and table in benchmarks.py
and benchmark_table.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from environment import ctrl_c_to_main, quiet_ctrl_c_while_starting, quiet_library_warnings, share_cpu_cores  # noqa: E402

if __name__ == "__main__":
    quiet_ctrl_c_while_starting()  # until main()'s own handler: one line, not an import's traceback


# Run as a command (not imported by tests or other modules): choose CPU threads before torch starts its thread pool.
CPU_THREADS = share_cpu_cores() if __name__ == "__main__" else None

import torch  # noqa: E402
from tqdm.auto import tqdm
from transformers import GenerationConfig, HfArgumentParser

import benchmarks
import reward
import stats
from cli import HelpFormatter, one_line_errors, unknown_option
from data_utils import empty_problems, fitting_prompts, load_prompt_dataset, tokenize_prompts
from errors import UsageError, error_exit, first_line
from models import load_chat_tokenizer, load_for_generation
from runs import check_writable, read_json, write_atomically

from eval_settings import (  # noqa: F401  (the settings API, re-exported: callbacks and preflight use eval.<name>)
    INHERITED,
    EvalArguments,
    EvalSettings,
    build_settings,
    default_output_file,
    resolve_settings,
    run_record,
)

TIMING_KEYS = ("wall_time_s", "generation_time_s", "generation_cpu_s", "tokens_per_second")  # what a rerun changes


# ----------------------------------------------------------------------------------------------------------------------
# Tokenizer, prompts, model

def base_flag(settings: EvalSettings) -> str:
    return "--model_dir" if settings.base_model == settings.model_dir else "--base_model"


def load_tokenizer(settings: EvalSettings):
    flag = "--tokenizer" if settings.tokenizer != settings.base_model else base_flag(settings)
    return load_chat_tokenizer(settings.tokenizer, flag)


def load_prompts(settings: EvalSettings, tokenizer) -> tuple[list[dict], int]:
    """The split as training's chat prompts, tokenized; prompts over max_prompt_length are skipped, as training does
    (left-truncating would cut off the system prompt). Returns (rows, number skipped)."""
    data = load_prompt_dataset(settings.dataset_id, settings.split, settings.dataset_config, settings.system_prompt,
                               settings.prompt_column, settings.solution_column)
    prompts, solutions = list(data["prompt"]), list(data["solution"])
    ids = tokenize_prompts(prompts, tokenizer)
    origin = {"run": " (the run's)", "default": " (the default)"}.get(settings.sources.get("max_prompt_length"), "")
    rows = [{"index": i, "prompt": prompts[i], "solution": solutions[i], "prompt_ids": ids[i]}
            for i in fitting_prompts(list(map(len, ids)), settings.max_prompt_length, origin=origin, prompts=prompts)]
    skipped = len(ids) - len(rows) - len(empty_problems(prompts))  # too long (empty ones: load_prompt_dataset's line)
    return rows[:settings.max_samples] if settings.max_samples else rows, skipped


def load_model(settings: EvalSettings):
    return load_for_generation(settings.base_model, settings.adapter, base_flag(settings))


def generation_config(settings: EvalSettings, model_config: GenerationConfig, tokenizer) -> GenerationConfig:
    """GRPOTrainer's sampling settings (its stop tokens, no top-k, no repetition penalty), or plain greedy decoding.

    Every knob is set explicitly: generate() fills unset ones from the checkpoint's generation_config.json, whose
    defaults (e.g. a repetition penalty) training never used."""
    eos = model_config.eos_token_id  # stop tokens as GRPOTrainer computes them: the tokenizer's EOS plus the model's
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    eos = eos if tokenizer.eos_token_id in eos else [tokenizer.eos_token_id, *eos]
    sampling = settings.temperature > 0
    return GenerationConfig(
        max_new_tokens=settings.max_completion_length, do_sample=sampling,
        temperature=settings.temperature if sampling else 1.0, top_p=settings.top_p if sampling else 1.0,
        top_k=0 if sampling else 50, repetition_penalty=1.0, cache_implementation=settings.cache_implementation,
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


def make_generator(settings: EvalSettings, tokenizer, model=None):
    """(run_batch(prompt_ids, config, seed) -> completion ids, generation config) for the chosen backend; `model`: an
    already loaded one (transformers)."""
    if settings.backend == "vllm":
        try:  # only its stop tokens are needed; not every checkpoint has a generation_config.json
            model_config = GenerationConfig.from_pretrained(settings.base_model)
        except OSError:
            model_config = GenerationConfig()
        return vllm_generator(settings, tokenizer), generation_config(settings, model_config, tokenizer)
    model = model if model is not None else load_model(settings)
    return (lambda prompt_ids, config, seed: generate(model, prompt_ids, config, seed),
            generation_config(settings, model.generation_config, tokenizer))


def cached_generator(settings: EvalSettings, tokenizer, models: dict | None):
    """make_generator, reusing the model `models` holds when it is the same one (same weights; for vLLM, whose
    generator holds the sampling settings, the same settings too); another model replaces it, so one model is in
    memory at a time."""
    if models is None:
        return make_generator(settings, tokenizer)
    vllm = settings.backend == "vllm"
    key = (settings.base_model, settings.adapter, settings.adapter_sha256, settings.tokenizer, settings.backend,
           settings.cache_implementation) + ((settings,) if vllm else ())
    if key not in models:
        models.clear()  # free the previous model before loading the next
        models[key] = make_generator(settings, tokenizer) if vllm else load_model(settings)
    return models[key] if vllm else make_generator(settings, tokenizer, models[key])


def vllm_generator(settings: EvalSettings, tokenizer):
    """A run_batch function backed by vLLM, serving the LoRA adapter directly (no merge needed)."""
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    adapter = settings.adapter
    lora_options = {"enable_lora": True, "max_lora_rank": read_json(Path(adapter) / "adapter_config.json")["r"]} \
        if adapter else {}
    llm = LLM(model=settings.base_model, tokenizer=settings.tokenizer, dtype="bfloat16", seed=settings.seed,
              max_model_len=(settings.max_prompt_length or 4096) + settings.max_completion_length, **lora_options)
    lora = LoRARequest("adapter", 1, adapter) if adapter else None

    def generate_vllm(prompt_ids, config, seed):
        params = SamplingParams(temperature=settings.temperature, top_p=settings.top_p, seed=seed,
                                max_tokens=config.max_new_tokens, stop_token_ids=config.eos_token_id)
        outputs = llm.generate([{"prompt_token_ids": ids} for ids in prompt_ids], params, lora_request=lora,
                               use_tqdm=False)
        return [cut_at_eos(list(o.outputs[0].token_ids), config.eos_token_id) for o in outputs]

    return generate_vllm


# ----------------------------------------------------------------------------------------------------------------------
# Scoring and summary

def reward_functions(settings: EvalSettings) -> dict:
    """Record key -> reward function: the run's rewards (by registry name, or the custom function's name), plus
    accuracy and format, which every result reports."""
    specs = list(dict.fromkeys([*settings.reward_funcs, "accuracy", "format"]))
    funcs = reward.resolve_reward_funcs(specs, max_completion_length=settings.overlong_length or
                                        settings.max_completion_length, overlong_buffer=settings.overlong_buffer)
    return {spec if spec in reward.REWARD_FUNCS else func.__name__: func for spec, func in zip(specs, funcs)}


def score(rows: list[dict], completions: list[str], completion_ids: list[list[int]], settings: EvalSettings,
          funcs: dict) -> tuple[list[dict], list[str | None]]:
    """Each reward on each completion, called exactly as GRPOTrainer calls it (conversational completions, data set
    columns, `log_extra` and `log_metric` as keyword arguments); `reward` is the weighted sum of the run's rewards,
    None rewards skipped. Also returns the extracted answers, as accuracy_reward logs them (read once, not twice)."""
    extras = {}
    kwargs = {"prompts": [r["prompt"] for r in rows], "solution": [r["solution"] for r in rows],
              "completions": [[{"role": "assistant", "content": c}] for c in completions],
              "completion_ids": completion_ids, "trainer_state": None,
              "log_extra": lambda column, values: extras.setdefault(column, list(values)),
              "log_metric": lambda name, value: None}
    scores = {name: func(**kwargs) for name, func in funcs.items()}
    run_rewards = list(funcs)[:len(settings.reward_funcs)]
    results = []
    for n in range(len(rows)):
        total = [w * scores[name][n] for name, w in zip(run_rewards, settings.reward_weights)
                 if scores[name][n] is not None]
        results.append({"reward": sum(total) if total else None, **{name: scores[name][n] for name in funcs}})
    logged = extras.get("extracted_answer")  # "" stands for no answer (extract_answer never gives an empty one)
    answers = [a or None for a in logged] if logged is not None and len(logged) == len(rows) else \
        [reward.extract_answer(c) for c in completions]
    return results, answers


def make_records(batch, ids, tokenizer, config, settings: EvalSettings, funcs: dict) -> list[dict]:
    """One output record per completion: what was asked, what came back, and how reward.py scored it."""
    texts = tokenizer.batch_decode(ids, skip_special_tokens=True)  # as GRPOTrainer decodes
    scores, answers = score([row for row, _ in batch], texts, ids, settings, funcs)
    return [{"index": row["index"], "sample": j, "prompt": row["prompt"], "completion": text,
             "solution": row["solution"], "extracted_answer": answer, **scored,
             "completion_tokens": len(x),  # EOS included, as in GRPOTrainer's completion length
             "truncated": len(x) >= settings.max_completion_length and x[-1] not in config.eos_token_id}
            for (row, j), text, x, scored, answer in zip(batch, texts, ids, scores, answers)]


def make_batches(rows: list[dict], settings: EvalSettings) -> list[list[tuple[dict, int]]]:
    """(row, sample number) pairs in batches, longest prompts first: batches hold similar lengths (little padding),
    and an out-of-memory error shows at once."""
    order = sorted(rows, key=lambda r: -len(r["prompt_ids"]))
    items = [(row, j) for row in order for j in range(settings.num_samples)]
    return [items[b:b + settings.batch_size] for b in range(0, len(items), settings.batch_size)]


def generate_records(model, tokenizer, rows: list[dict], settings: EvalSettings, funcs: dict) -> list[dict]:
    """Every record for `rows` with an in-memory model, no files: what held-out evaluation during training uses, with
    the batches, seeds, decoding and scoring of `evaluate`, so both give the same figures. `funcs` is
    `reward_functions(settings)`, resolved once by the caller."""
    config = generation_config(settings, model.generation_config, tokenizer)
    records = []
    for b, batch in enumerate(make_batches(rows, settings)):
        ids = generate(model, [r["prompt_ids"] for r, _ in batch], config, settings.seed + b)
        records += make_records(batch, ids, tokenizer, config, settings, funcs)
    return sorted(records, key=lambda rec: (rec["index"], rec["sample"]))


def summarize(settings: EvalSettings, samples: list[dict], num_problems: int, skipped: int, timing: dict) -> dict:
    mean = stats.mean
    scored = [s["accuracy"] for s in samples if s["accuracy"] is not None]
    k = settings.num_samples
    summary = {
        **settings.key(),
        "setting_sources": settings.sources,
        "cache_implementation": settings.cache_implementation or "dynamic",
        "num_problems": num_problems,
        "skipped_prompts": skipped,
        "num_completions": len(samples),
        "accuracy": mean(scored),
        "correct": int(sum(scored)) if float(sum(scored)).is_integer() else sum(scored),  # a count, not 20.0
        "scored": len(scored),  # completions whose reference could be parsed
        "unscored_references": len({s["index"] for s in samples if s["accuracy"] is None}),
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
    return {**summary, **intervals(samples, k), **timing}


def intervals(samples: list[dict], k: int) -> dict:
    """95% bootstrap intervals of accuracy (over problems, and samples when k > 1) and of pass@k (over problems),
    with the method that made them: a figure on 30 problems moves by 3.3 points per problem."""
    scores = stats.score_matrix(samples)
    if len({len(v) for v in scores.values()}) > 1:  # an unfinished problem: no interval rather than a wrong one
        return {}
    found = {"accuracy_interval": stats.accuracy_interval(scores).to_json(), "interval_method": stats.method(k)}
    if k > 1:
        solved = {i: [float(any(v >= 1 for v in values))] for i, values in scores.items()}
        found[f"pass@{k}_interval"] = stats.accuracy_interval(solved).to_json()
    return found


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


def differing(header: dict, settings: EvalSettings) -> list[str]:
    return [key for key, value in settings.key().items() if header.get(key) != value]


def data_fingerprint(settings: EvalSettings, rows: list[dict]) -> dict:
    """What the partial file's records depend on besides the settings: the data file's size and modification time
    (a local file or directory) and a hash of the rows evaluated, so a file rewritten at the same path is noticed."""
    path = Path(settings.dataset_id).expanduser()
    data_file = lambda p: p.is_file() and p.suffix in (".json", ".jsonl", ".parquet", ".csv", ".arrow") \
        and not p.name.endswith(".partial.jsonl")  # noqa: E731 - results written beside the data do not count
    files = [path] if path.is_file() else sorted(filter(data_file, path.rglob("*"))) if path.is_dir() else []
    stats = [p.stat() for p in files]
    rows_text = json.dumps([[r["index"], r["prompt"], r["solution"]] for r in rows], default=str)
    fingerprint = {"rows_sha256": hashlib.sha256(rows_text.encode()).hexdigest()[:16]}
    if stats:
        fingerprint.update(size=sum(st.st_size for st in stats), mtime=max(st.st_mtime for st in stats))
    return fingerprint


def partial_header(settings: EvalSettings, data: dict) -> str:
    return json.dumps({"settings": settings.key(), "data": data}) + "\n"


def read_partial(path: Path, settings: EvalSettings, data: dict | None = None) -> dict:
    """Finished records by (index, sample), after checking they were made with these settings and on this data
    (`data_fingerprint`: when it changed, the file is started over, saying so). Any record line that does not parse
    (a torn last line when the process was killed mid-write, or a damaged one) is dropped and counted; the file is
    rewritten clean so appends stay valid JSON lines."""
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    try:
        first = json.loads(lines[0])
        header = first["settings"]
    except (IndexError, ValueError, KeyError, TypeError):
        raise UsageError(f"{path} is not a partial result file of eval.py: delete it or choose another --output_file")
    differs = differing(header, settings)
    if differs:
        raise UsageError(f"{path} holds results made with different settings ({', '.join(differs)}): re-run with the "
                         "same settings to resume, or delete it or choose another --output_file to start afresh")
    if data is not None and first.get("data") != data:
        changed = [k for k in ("size", "mtime", "rows_sha256") if (first.get("data") or {}).get(k) != data.get(k)]
        print(f"starting over: the data ({settings.dataset_id}) changed since {path} was written "
              f"({', '.join(changed)} differ), so its {len(lines) - 1} finished completion(s) are not reused")
        path.unlink()
        return {}
    done, dropped = {}, 0
    for line in lines[1:]:
        try:
            record = json.loads(line)
            done[record["index"], record["sample"]] = record
        except (ValueError, KeyError, TypeError):
            dropped += 1
    if dropped:
        print(f"dropped {dropped} unreadable line(s) of {path} (cut short when a run was killed, or damaged): their "
              "completions are generated again")
    write_atomically(path, "".join([json.dumps({**first, "settings": settings.key()}) + "\n",
                                    *(json.dumps(x) + "\n" for x in done.values())]))
    return done


def check_output_file(path: Path, settings: EvalSettings, overwrite: bool) -> None:
    """Never replace a result made with other settings unless asked: a baseline, another split or another model
    must not silently take the place of an earlier result."""
    if overwrite or not path.exists():
        return
    try:
        header = json.loads(path.read_text())["summary"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"{path} exists and is not an eval.py result: pass --overwrite to replace it, or choose "
                         "another --output_file") from None
    differs = differing(header, settings)
    if differs:
        raise UsageError(f"{path} holds results made with other settings ({', '.join(differs[:4])}): pass --overwrite "
                         "to replace it, or choose another --output_file")


# ----------------------------------------------------------------------------------------------------------------------

def evaluate(args: EvalArguments, models: dict | None = None) -> dict:
    """Generate, score and write `args.output_file`; returns `{"summary": {...}, "samples": [...]}`. `models`, when
    given, keeps the loaded model between calls (the benchmarks command: one load per model, not per benchmark)."""
    start = time.time()
    settings = resolve_settings(args)
    output_file = args.output_file or default_output_file(args)
    check_writable(Path(output_file), "--output_file", directory=False)  # not after the whole evaluation
    check_output_file(Path(output_file), settings, args.overwrite)
    funcs = reward_functions(settings)
    tokenizer = load_tokenizer(settings)
    rows, skipped = load_prompts(settings, tokenizer)
    if skipped:
        print(f"skipped {skipped} of {len(rows) + skipped} prompts longer than --max_prompt_length "
              f"{settings.max_prompt_length} tokens (as training does); raise it to keep them")

    batches = make_batches(rows, settings)
    total = sum(map(len, batches))
    partial = partial_path(output_file)
    data = data_fingerprint(settings, rows)
    done = read_partial(partial, settings, data)
    todo = [(b, batch) for b, batch in enumerate(batches) if any((r["index"], j) not in done for r, j in batch)]
    if done:
        print(f"resuming from {partial}: {len(done)} of {total} completions already done")

    new_tokens, gen_time, gen_cpu = 0, 0.0, 0.0  # this invocation's generation loop, loading and warm-up excluded
    if todo:
        run_batch, config = cached_generator(settings, tokenizer, models)
        if torch.cuda.is_available():  # CUDA's first call pays kernel selection: keep it out of the timed figure
            run_batch([todo[0][1][0][0]["prompt_ids"]], GenerationConfig(**{**config.to_dict(), "max_new_tokens": 2}),
                      0)
        bar = tqdm(total=total, initial=len(done), desc="eval", unit="completion", dynamic_ncols=True)
        if not partial.exists():  # created only now, so a run that fails while loading leaves nothing behind
            write_atomically(partial, partial_header(settings, data))

        def save(batch, ids):  # decode, score and append while the next batch generates
            records = [rec for rec in make_records(batch, ids, tokenizer, config, settings, funcs)
                       if (rec["index"], rec["sample"]) not in done]
            out.write("".join(json.dumps(rec) + "\n" for rec in records))
            out.flush()  # in the OS's hands: a killed process loses at most the batch in flight
            done.update({(rec["index"], rec["sample"]): rec for rec in records})
            bar.update(len(records))

        t0, cpu0 = time.time(), time.process_time()  # CPU time: the loop's cost (scoring thread included), not load
        with open(partial, "a") as out, ThreadPoolExecutor(max_workers=1) as scorer:
            pending = None
            for b, batch in todo:
                # Seeded per batch, not once per run: a resumed run samples each batch exactly as an uninterrupted one.
                ids = run_batch([r["prompt_ids"] for r, _ in batch], config, settings.seed + b)
                new_tokens += sum(map(len, ids))
                if pending is not None:
                    pending.result()  # re-raises a scoring error here
                pending = scorer.submit(save, batch, ids)
                bar.set_postfix(tok_s=f"{new_tokens / (time.time() - t0):.0f}", refresh=False)  # drawn with update
            # The pipeline's throughput: scoring overlaps generation except for the last batch's, which is in
            # wall_time_s.
            gen_time, gen_cpu = time.time() - t0, time.process_time() - cpu0
            pending.result()
        bar.close()

    samples = [done[key] for key in sorted(done)]
    timing = {"wall_time_s": round(time.time() - start, 2), "generation_time_s": round(gen_time, 2),
              "generation_cpu_s": round(gen_cpu, 3),
              "tokens_per_second": round(new_tokens / gen_time, 1) if gen_time else None}
    result = {"summary": summarize(settings, samples, len(rows), skipped, timing), "samples": samples}
    write_atomically(Path(output_file), json.dumps(result, indent=1))
    partial.unlink(missing_ok=True)
    return result


def print_summary(summary: dict, output_file: str) -> None:
    """The figures users compare runs by, ending with the overall accuracy."""
    k = summary["num_samples"]
    model = summary["base_model"] if not summary["adapter"] else f"{summary['adapter']} (on {summary['base_model']})"
    print(f"results: {output_file}\nmodel: {model}")
    print(f"data: {summary['dataset_id']}, split {summary['split']}: {summary['num_problems']} problems x {k} "
          f"completion(s), {summary['skipped_prompts']} prompts skipped as too long")
    inherited = ", ".join(f"{name} ({source})" for name, source in summary["setting_sources"].items())
    print(f"prompt settings from: {inherited}")
    if summary["unscored_references"]:
        print(f"{summary['unscored_references']} problems have no parseable reference: not scored for accuracy")
    print(f"time: {summary['wall_time_s']}s, {summary['tokens_per_second']} generated tokens/s")
    keys = ["format_mean", "reward_mean", "truncated_fraction", "completion_tokens_mean", f"pass@{k}", f"maj@{k}"]
    print("  ".join(f"{key}: {summary[key]:.4f}" for key in keys if summary.get(key) is not None))
    if summary.get(f"pass@{k}_interval"):
        found = summary[f"pass@{k}_interval"]
        print(f"pass@{k} 95% interval: [{found['low']:.4f}, {found['high']:.4f}] (bootstrap over problems)")
    accuracy = "n/a (no parseable reference)" if summary["accuracy"] is None else f"{summary['accuracy']:.4f}"
    print(f"accuracy: {accuracy} ({summary['correct']:g}/{summary['scored']}){interval_text(summary)}")


def interval_text(summary: dict) -> str:
    """`, 95% interval [0.3333, 0.6667] (percentile bootstrap over problems, 10000 resamples)`, or nothing."""
    found, how = summary.get("accuracy_interval"), summary.get("interval_method")
    if not found or found["low"] != found["low"]:  # none, or NaN: nothing scored
        return ""
    over = "problems" if summary["num_samples"] == 1 else "problems and samples"
    return (f", {100 * how['level']:.0f}% interval [{found['low']:.4f}, {found['high']:.4f}] (bootstrap over {over}, "
            f"{found['problems']} problems, {how['resamples']} resamples)")


def seed_file(output_file: str, seed) -> str:
    """results/x.json -> results/x__seed3.json (or x__seeds.json for the summary over seeds)."""
    path = Path(output_file)
    return str(path.with_name(f"{path.stem}__seed{seed}{path.suffix or '.json'}"))


def evaluate_seeds(args: EvalArguments) -> int:
    """--seeds: the evaluation once per seed (its own result file, resumable), the model loaded once; then each
    seed's accuracy, their mean and spread, and the interval over problems with every seed's samples pooled."""
    output_file, models, runs = args.output_file or default_output_file(args), {}, {}
    for seed in args.seeds:
        seeded = seed_file(output_file, seed)
        print(f"seed {seed}: {seeded}")
        runs[seed] = evaluate(replace(args, seed=seed, seeds=None, output_file=seeded), models)
        print_summary(runs[seed]["summary"], seeded)
    spread = stats.seed_spread({seed: r["summary"]["accuracy"] for seed, r in runs.items()})
    scores = [stats.score_matrix(r["samples"]) for r in runs.values()]
    shared = sorted(set.intersection(*(set(s) for s in scores)))
    pooled = stats.accuracy_interval([[v for s in scores for v in s[i]] for i in shared]) if shared else None
    summary = {"seeds": list(runs), "accuracy": spread.to_json(),
               "result_files": [seed_file(output_file, s) for s in runs],
               "pooled_accuracy_interval": pooled and pooled.to_json(),
               "interval_method": stats.method(args.num_samples, seeds=len(runs))}
    write_atomically(Path(seed_file(output_file, "s")), json.dumps(summary, indent=1))
    print(f"\naccuracy over seeds: {spread.describe()}")
    if pooled:
        print(f"all seeds pooled: {pooled.points()} (95% bootstrap interval over {pooled.problems} problems and "
              f"{args.num_samples * len(runs)} samples each); summary: {seed_file(output_file, 's')}")
    return 0


def make_parser() -> HfArgumentParser:
    # allow_abbrev off: a misspelled option gets "did you mean" instead of silently matching a longer one.
    parser = HfArgumentParser(EvalArguments, allow_abbrev=False, formatter_class=HelpFormatter,
                              usage="python eval.py --model_dir DIR [options]",
                              description=__doc__.split("\n\nEvaluation scores")[0])
    return one_line_errors(parser, "eval.py")


def environment_options(parser, environ) -> list[str]:
    """eval.sh's variables as options: each upper-case option name set in the environment (SPLIT, NUM_SAMPLES,
    TEMPERATURE, any option eval.py has) becomes `--name value`; a list option takes space-separated values."""
    argv = []
    for action in parser._actions:
        names = [opt for opt in action.option_strings if opt.startswith("--")]
        if not names or action.dest == "help":
            continue
        value = environ.get(names[0][2:].upper())
        if value:
            argv += [names[0], *(value.split() if action.nargs in ("+", "*") else [value])]
    return argv


def parse_args(argv: list[str] | None) -> EvalArguments:
    parser = make_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("EVAL_SH") == "1":  # run by eval.sh: the environment's options first, so flags win
        from_env = environment_options(parser, os.environ)
        print("eval.sh: " + (shlex.join(from_env) if from_env else "no options from the environment"))
        argv = from_env + argv
    try:
        args, unknown = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except ValueError as err:  # a value the dataclass refuses
        raise UsageError(first_line(err)) from None
    if unknown:
        raise unknown_option(parser, unknown, "eval.py")
    return args


def main(argv: list[str] | None = None) -> int:
    quiet_library_warnings()  # our own bar is the one to watch; the libraries' loading bars are noise around it
    if CPU_THREADS:
        print(CPU_THREADS)
    args = None
    try:
        ctrl_c_to_main()
        args = parse_args(argv)
        benchmarks.check_options(args)
        if args.benchmarks:
            return benchmarks.run_benchmarks(args, evaluate)
        styled = benchmarks.with_prompt_style(args, args.prompt_style) if args.prompt_style else args
        if args.seeds:
            return evaluate_seeds(styled)
        result = evaluate(styled)
        benchmarks.write_pass_rates(args, result)
    except UsageError as err:
        return error_exit(err)
    except KeyboardInterrupt:
        where = partial_path(args.output_file or default_output_file(args)) if args and args.model_dir else \
            "the partial file"
        print(f"\ninterrupted: finished batches are kept in {where}; re-run the same command to resume", file=sys.stderr)
        return 130
    print_summary(result["summary"], args.output_file or default_output_file(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
