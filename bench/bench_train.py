"""Seconds per GRPO step: our training path (main.py/train.py defaults) against a bare TRL script (TRL's defaults).

    python bench/bench_train.py                      # Qwen2.5-0.5B-Instruct's architecture, 10 steps (for a GPU)
    python bench/bench_train.py --tiny --steps 2     # the demo's tiny size: a CPU smoke test (~2 minutes)
    python bench/bench_train.py --ours_args="--gradient_checkpointing false --cache_implementation static"
    python bench/bench_train.py --ours_args="" --ours_args="--gradient_checkpointing false"   # defaults + a variant
    python bench/bench_train.py --load_in_4bit --steps 5 --no_bare              # QLoRA figures for our path

Nothing is downloaded. A randomly initialised model with Qwen2.5-0.5B-Instruct's architecture (hidden 896, 24 layers,
14 query / 2 KV heads, vocabulary 151,936, tied embeddings, saved in bf16 like the hub checkpoint) and a small
locally trained ChatML tokenizer are built under --work_dir, with the demo's synthetic arithmetic problems kept to
those whose chat prompt (our default system prompt) fits --max_prompt_length, so both runs see the same prompts.
Speed does not depend on the weights being trained: a random model rarely emits EOS, so completions run to
--max_completion_length, the worst case.

Both runs use the seed command's shape (--batch_size 16 --num_generations 4 --max_completion_length 64
--max_prompt_length 128 --learning_rate 1e-5), the same reward functions (reward.format_reward,
reward.accuracy_reward), the same LoRA (r 16, alpha 32, dropout 0.05, PEFT's default target modules) and seed:
  ours   main.parse_args([...]) + train.train(...), with every other option at our default
  bare   GRPOConfig(...) + GRPOTrainer(model=<path>, ...) with every other option at TRL's default; where a TRL
         default cannot run on the machine (bf16 without a GPU) it is turned off and a line says so
Each run is a fresh Python process. A step's time is the wall time from the end of the previous step to the end of
this one (generation, scoring, backward, optimizer, logging; model loading excluded), CUDA synchronised. The first
step pays for warm-up (kernels, compilation, caches) and is shown apart; s/step is the mean of the others. On CUDA
the peak of torch.cuda.max_memory_allocated (and _reserved) is shown. The last line is
`ours/bare speed: X.XXx` (bare s/step / ours s/step; above 1 means ours is faster).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The seed command's shape (README "Train on a real model"), shared by both runs.
SEED_SHAPE = {"batch_size": 16, "num_generations": 4, "max_completion_length": 64, "max_prompt_length": 128,
              "learning_rate": 1e-5}
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05}  # main.py's (TRL ModelConfig's) LoRA defaults
# Qwen2.5-0.5B-Instruct's config.json, minus the weights.
QWEN25_05B = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
              "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 32768,
              "rope_theta": 1e6, "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "use_sliding_window": False,
              "max_window_layers": 21}
# The demo's model size (demo.build_base_model); its vocabulary is the tokenizer's.
TINY = {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 512, "tie_word_embeddings": True}
SEED = 42


# ----------------------------------------------------------------------------------------------------- command line

def parse_cli(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="GRPO steps per run (default 10)")
    parser.add_argument("--tiny", action="store_true", help="the demo's tiny model instead of the 0.5B architecture")
    parser.add_argument("--ours_args", "--variant", action="append",
                        help='extra flags for our run, e.g. --ours_args="--gradient_checkpointing false" (write "="); '
                             'repeat it for several runs of ours, each timed against the same bare run (the first '
                             'one gives the last line; --ours_args="" is our defaults)')
    parser.add_argument("--load_in_4bit", action="store_true", help="QLoRA: add --load_in_4bit true to our runs")
    parser.add_argument("--no_bare", action="store_true", help="run ours only (no ratio then)")
    parser.add_argument("--work_dir", default=None,
                        help="keep the model, data and run outputs here and reuse the model on the next call "
                             "(default: a temporary directory, removed at the end)")
    parser.add_argument("--run_timeout", type=float, default=None,
                        help="stop a run that takes longer than this many seconds (it counts as failed)")
    parser.add_argument("--show_output", action="store_true", help="stream each run's own output (always kept in "
                        "<work_dir>/<run>.log; its end is printed when a run fails)")
    for name, value in SEED_SHAPE.items():
        parser.add_argument(f"--{name}", type=type(value), default=value, help=f"both runs (default {value})")
    parser.add_argument("--_stage", choices=["prepare", "ours", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--_spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.batch_size % args.num_generations:
        parser.error("--batch_size must be a multiple of --num_generations")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_cli(argv)
    if args._stage:
        return run_stage(args._stage, json.loads(Path(args._spec).read_text()))

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # clean up as for Ctrl-C
    if not has_gpu():
        print("[bench_train] no NVIDIA GPU here: every run trains on the CPU"
              + ("" if args.tiny else " (minutes per step at the 0.5B size; --tiny is the CPU smoke test)"), flush=True)
    work_dir = Path(args.work_dir or tempfile.mkdtemp(prefix="bench_train_")).resolve()
    try:
        return compare(args, work_dir)
    except KeyboardInterrupt:  # launch() has already stopped the running stage's whole process group
        print("[bench_train] interrupted", file=sys.stderr)
        return 130
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)


def has_gpu() -> bool:
    """Asked of nvidia-smi, so this parent process never imports torch or touches CUDA."""
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compare(args, work_dir: Path) -> int:
    """Prepare the model and data once, then time each run in its own process and print the comparison."""
    size = "tiny" if args.tiny else "qwen2.5-0.5b-arch"
    spec = {"tiny": args.tiny, "steps": args.steps, "shape": {k: getattr(args, k) for k in SEED_SHAPE},
            "model_dir": str(work_dir / f"model-{size}"), "train_file": str(work_dir / f"data-{size}/train.jsonl")}
    start_load = os.getloadavg()[0]
    prepared = launch("prepare", "prepare", spec, work_dir, args.show_output)
    if prepared is None:
        print("ours/bare speed: n/a (could not build the model and data)")
        return 1
    print(f"model: {prepared['description']}, {prepared['parameters'] / 1e6:.1f}M parameters, random init "
          f"({spec['model_dir']})")
    print(f"data: {prepared['kept']} of {prepared['total']} synthetic prompts fit --max_prompt_length "
          f"{args.max_prompt_length} (longest kept: {prepared['longest']} tokens)")

    ours_runs = [shlex.split(a) + (["--load_in_4bit", "true"] if args.load_in_4bit else [])
                 for a in (args.ours_args or [""])]
    plan = [(f"ours{i + 1 if i else ''}", "ours", extra) for i, extra in enumerate(ours_runs)]
    if not args.no_bare:  # right after our defaults, so the main comparison is done before any variant
        plan.insert(1, ("bare", "bare", []))
    results = {}
    for name, stage, extra in plan:
        results[name] = launch(name, stage, {**spec, "extra_args": extra, "output_dir": str(work_dir / "runs" / name)},
                               work_dir, args.show_output, args.run_timeout)

    done = {name: r for name, r in results.items() if r}
    if done:
        first = next(iter(done.values()))
        print(f"\ndevice: {first['device']}; torch {first['versions']['torch']}, transformers "
              f"{first['versions']['transformers']}, trl {first['versions']['trl']}, peft {first['versions']['peft']}; "
              f"load average {start_load:.1f} at start, {os.getloadavg()[0]:.1f} now")
        print(f"shape: --batch_size {args.batch_size} --num_generations {args.num_generations} "
              f"--max_completion_length {args.max_completion_length} --max_prompt_length {args.max_prompt_length}, "
              f"{args.steps} steps")
        print_table(done)
    failed = [name for name, r in results.items() if r is None]
    if "bare" in done:
        for name, r in list(done.items())[1:]:
            if name.startswith("ours"):  # the extra runs of ours; the first one gets the last line
                print(f"{name}/bare speed: {seconds_per_step(done['bare']) / seconds_per_step(r):.2f}x")
    if failed:
        print(f"ours/bare speed: n/a ({', '.join(failed)} failed)")
        return 1
    if args.no_bare:
        print("ours/bare speed: n/a (bare run skipped with --no_bare)")
        return 0
    print(f"ours/bare speed: {seconds_per_step(done['bare']) / seconds_per_step(done['ours']):.2f}x")
    return 0


def seconds_per_step(result: dict) -> float:
    """Mean over the steps after the first (the warm-up); the first step alone if there is only one."""
    durations = result["durations"]
    timed = durations[1:] or durations
    return sum(timed) / len(timed)


def print_table(results: dict) -> None:
    print(f"{'run':<6}{'s/step':>9}{'first step':>12}{'peak GPU GiB alloc/reserved':>29}{'mean completion':>17}")
    for name, r in results.items():
        memory = (f"{r['peak_allocated_gib']:.2f} / {r['peak_reserved_gib']:.2f}"
                  if r["peak_allocated_gib"] is not None else "n/a (CPU)")
        lengths = r["completion_lengths"]
        length = f"{sum(lengths) / len(lengths):.1f} tokens" if lengths else "not logged"
        print(f"{name:<6}{seconds_per_step(r):>9.3f}{r['durations'][0]:>11.2f}s{memory:>29}{length:>17}")
    for name, r in results.items():
        flags = f" (extra flags: {shlex.join(r['extra_args'])})" if r["extra_args"] else ""
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in r["settings"].items()) + flags)
        for note in r["notes"]:
            print(f"{name}: {note}")


def launch(name: str, stage: str, spec: dict, work_dir: Path, show_output: bool,
           timeout: float | None = None) -> dict | None:
    """Run one stage in a fresh interpreter; its result dict, or None (with the end of its log printed) on failure."""
    work_dir.mkdir(parents=True, exist_ok=True)
    spec = {**spec, "result_file": str(work_dir / f"{name}.result.json")}
    Path(spec["result_file"]).unlink(missing_ok=True)
    spec_file = work_dir / f"{name}.spec.json"
    spec_file.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.setdefault("HF_HUB_OFFLINE", "1")  # everything is local: never wait on a hub
    log_file, tail = work_dir / f"{name}.log", deque(maxlen=40)
    print(f"[bench_train] {name}: running (log: {log_file})", flush=True)
    started = time.time()
    with open(log_file, "w") as log, subprocess.Popen(
            [sys.executable, __file__, "--_stage", stage, "--_spec", str(spec_file)], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            start_new_session=True) as proc:
        timed_out = threading.Event()
        # The whole process group: helpers it started (the reward worker, compile workers) hold the output pipe too.
        timer = threading.Timer(timeout or 0, lambda: (timed_out.set(), os.killpg(proc.pid, signal.SIGKILL)))
        if timeout:
            timer.start()
        try:
            for line in proc.stdout:
                log.write(line)
                tail.append(line.rstrip("\n"))
                if show_output:
                    print(f"  [{name}] {line}", end="", flush=True)
            proc.wait()
        finally:  # also when we are stopped (Ctrl-C, `timeout`): never leave a run holding the GPU
            timer.cancel()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    result_file = Path(spec["result_file"])
    if proc.returncode != 0 or not result_file.is_file():
        why = f"stopped after --run_timeout {timeout:g}s" if timed_out.is_set() else f"exit code {proc.returncode}"
        print(f"[bench_train] {name}: FAILED ({why}); last lines of {log_file}:")
        print("\n".join(f"  | {line}" for line in tail))
        return None
    result = {**json.loads(result_file.read_text()), "extra_args": spec.get("extra_args", [])}
    summary = ""
    if "durations" in result:  # one line per run as it ends, so a run cut short later leaves these figures
        memory = result["peak_allocated_gib"]
        summary = (f": {seconds_per_step(result):.3f} s/step after a {result['durations'][0]:.2f} s first step"
                   + (f", peak GPU memory {memory:.2f} GiB" if memory is not None else ""))
    print(f"[bench_train] {name}: done in {time.time() - started:.0f}s{summary}", flush=True)
    return result


# ------------------------------------------------------------------------------------ stages (each its own process)

def run_stage(stage: str, spec: dict) -> int:
    sys.path.insert(0, str(REPO))
    from errors import UsageError

    try:
        result = {"prepare": prepare, "ours": run_ours, "bare": run_bare}[stage](spec)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    Path(spec["result_file"]).write_text(json.dumps(result))
    return 0


def prepare(spec: dict) -> dict:
    """Build (or reuse) the random model + tokenizer, and write the prompts both runs train on."""
    import torch
    from datasets import Dataset
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from data_utils import SYSTEM_PROMPT, filter_by_prompt_length, make_prompt
    from demo import write_arithmetic_data

    model_dir, train_file = Path(spec["model_dir"]), Path(spec["train_file"])
    raw_dir = write_arithmetic_data(train_file.parent / "raw", seed=0)
    rows = [json.loads(line) for line in open(raw_dir / "train.jsonl")]
    if not (model_dir / "READY").is_file():  # written last: a half-built model is rebuilt, never reused
        build_model(model_dir, rows, spec["tiny"])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    # Training's own length filter, so our run keeps every prompt and the bare run (no limit in TRL) sees the same.
    prompts = Dataset.from_list([{"prompt": make_prompt(r["problem"], SYSTEM_PROMPT), "row": i}
                                 for i, r in enumerate(rows)])
    limit = spec["shape"]["max_prompt_length"]
    kept = [rows[i] for i in filter_by_prompt_length(prompts, tokenizer, limit)[0]["row"]]  # none fits: UsageError
    train_file.write_text("".join(json.dumps(row) + "\n" for row in kept))
    texts = tokenizer.apply_chat_template([make_prompt(r["problem"], SYSTEM_PROMPT) for r in kept], tokenize=False,
                                          add_generation_prompt=True)
    longest = max(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])

    config = json.loads((model_dir / "config.json").read_text())
    with torch.device("meta"):  # counting parameters needs no weights
        parameters = sum(p.numel() for p in AutoModelForCausalLM.from_config(
            AutoConfig.from_pretrained(model_dir)).parameters())
    description = ("the demo's tiny Qwen2 size" if spec["tiny"] else "Qwen2.5-0.5B-Instruct's architecture") + (
        f" (hidden {config['hidden_size']}, {config['num_hidden_layers']} layers, vocabulary {config['vocab_size']}, "
        f"weights {config.get('dtype') or config.get('torch_dtype')})")
    return {"description": description, "parameters": parameters, "kept": len(kept), "total": len(rows),
            "longest": longest}


def build_model(model_dir: Path, rows: list[dict], tiny: bool) -> None:
    """A ChatML tokenizer trained on the problems and our system prompt (so prompts are about as long as with
    Qwen's tokenizer), and a randomly initialised Qwen2 model: bf16 at full size like the hub checkpoint, fp32 tiny
    like the demo. Token ids the small tokenizer lacks decode to nothing, as the decoder skips unknown ids."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from data_utils import SYSTEM_PROMPT
    from demo import train_tokenizer

    answers = [f"<think>{r['problem']}</think><answer>{r['solution']}</answer>" for r in rows]
    tokenizer = train_tokenizer([SYSTEM_PROMPT] * 20 + [f"{r['problem']} {a}" for r, a in zip(rows, answers)])
    sizes = dict(TINY, vocab_size=len(tokenizer)) if tiny else QWEN25_05B
    config = Qwen2Config(**sizes, bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(SEED)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # initialising 494M weights is much faster on a GPU
    with torch.device(device):
        model = Qwen2ForCausalLM(config)
    model = model.to(torch.float32 if tiny else torch.bfloat16)
    model.config.dtype = model.dtype
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    shutil.rmtree(model_dir, ignore_errors=True)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (model_dir / "READY").write_text("")


def step_timer():
    """A TrainerCallback that times each step end to end and records what the run actually used."""
    import torch
    from transformers import TrainerCallback

    def now():
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # kernels are asynchronous: count a step's GPU work in that step
        return time.perf_counter()

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.durations, self.completion_lengths, self.settings = [], [], {}
            self.last = None
            self.peak = (None, None)

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            frozen = next((p for p in base.parameters() if not p.requires_grad), None)
            self.settings = {
                "weights": str(frozen.dtype).removeprefix("torch.") if frozen is not None else "?",
                "bf16": args.bf16, "fp16": args.fp16, "gradient_checkpointing": args.gradient_checkpointing,
                "cache_implementation": getattr(args, "cache_implementation", None),
                "torch_compile": args.torch_compile, "use_vllm": getattr(args, "use_vllm", False),
                "4bit": bool(getattr(base, "is_loaded_in_4bit", False)),
                "logging_steps": args.logging_steps, "report_to": ",".join(args.report_to or []) or "none",
            }
            if torch.cuda.is_available():
                torch.cuda.synchronize()

        def on_step_begin(self, args, state, control, **kwargs):
            if self.last is None:  # the first step starts here; later ones where the previous one ended
                self.last = now()

        def on_step_end(self, args, state, control, **kwargs):
            t = now()
            self.durations.append(t - self.last)
            self.last = t

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "completions/mean_length" in logs:
                self.completion_lengths.append(logs["completions/mean_length"])

        def on_train_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                self.peak = (torch.cuda.max_memory_allocated() / 2**30, torch.cuda.max_memory_reserved() / 2**30)

    return StepTimer()


def timed(train_fn, notes: list[str] = ()) -> dict:
    """Run train_fn with a StepTimer attached to every Trainer it creates; the stage's result dict."""
    import platform

    import peft
    import torch
    import transformers
    import transformers.trainer
    import trl

    timer = step_timer()
    # Trainer(...) starts from this module-level list: the same hook for our train.py and the bare script.
    transformers.trainer.DEFAULT_CALLBACKS.append(timer)
    train_fn()
    if not timer.durations:
        raise RuntimeError("no training step was timed")
    device = (torch.cuda.get_device_name(0) if torch.cuda.is_available()
              else f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"{torch.get_num_threads()} torch threads)")
    return {"durations": timer.durations, "settings": timer.settings, "completion_lengths": timer.completion_lengths,
            "peak_allocated_gib": timer.peak[0], "peak_reserved_gib": timer.peak[1], "device": device, "notes": list(notes),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "trl": trl.__version__, "peft": peft.__version__}}


def run_ours(spec: dict) -> dict:
    """Our path exactly as a user runs it: main.py's parser and defaults, then train.train."""
    from main import parse_args
    from train import train

    shape = spec["shape"]
    argv = ["--model_id", spec["model_dir"], "--dataset_id", spec["train_file"], "--output_dir", spec["output_dir"],
            "--overwrite_output_dir", "--max_steps", str(spec["steps"]),
            "--batch_size", str(shape["batch_size"]), "--num_generations", str(shape["num_generations"]),
            "--max_completion_length", str(shape["max_completion_length"]),
            "--max_prompt_length", str(shape["max_prompt_length"]), "--learning_rate", str(shape["learning_rate"]),
            *spec["extra_args"]]
    print("ours: python main.py " + shlex.join(argv), flush=True)
    return timed(lambda: train(*parse_args(argv)))


def run_bare(spec: dict) -> dict:
    """What a user writes from TRL's docs: GRPOConfig + GRPOTrainer on a model path, every other option TRL's."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    import reward
    from data_utils import SYSTEM_PROMPT, make_prompt

    shape = spec["shape"]
    dataset = load_dataset("json", data_files=spec["train_file"], split="train")
    dataset = dataset.map(lambda row: {"prompt": make_prompt(row["problem"], SYSTEM_PROMPT)},
                          remove_columns=["problem"])
    notes, overrides = [], {}
    if not torch.cuda.is_available():
        overrides["bf16"] = False
        notes.append("bf16=False: TRL's default bf16=True needs a GPU, and this machine has none")
    for note in notes:
        print(f"bare: {note}", flush=True)
    args = GRPOConfig(
        output_dir=spec["output_dir"], per_device_train_batch_size=shape["batch_size"],
        num_generations=shape["num_generations"], max_completion_length=shape["max_completion_length"],
        learning_rate=shape["learning_rate"], max_steps=spec["steps"], seed=SEED, report_to="none", **overrides)
    shutil.rmtree(spec["output_dir"], ignore_errors=True)

    def train():
        trainer = GRPOTrainer(
            model=spec["model_dir"], reward_funcs=[reward.format_reward, reward.accuracy_reward], args=args,
            train_dataset=dataset, peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA))
        trainer.train()

    return timed(train, notes)


if __name__ == "__main__":
    sys.exit(main())
