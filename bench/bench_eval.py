"""How fast eval.py generates, on the demo's tiny model (a benchmark, not a test: figures depend on the machine).

    python bench/bench_eval.py [--model_dir ckpts/demo/adapter] [--batch_size 16] [--max_completion_length 64]

Same prompts, same batches, same process, greedy decoding; prints generated tokens/s for
  eval.py     evaluate(): batching, generate, decode, reward scoring, partial-file writes (its summary's tokens/s)
  bare        a plain model.generate loop over exactly the same batches, nothing else
  batch 1     evaluate() with --batch_size 1
and the ratios eval/bare (target >= 0.95: bookkeeping costs under 5%) and eval/batch-1 (target >= 3).
Each figure is the best of --repeats runs, since a shared machine adds noise. On a busy 2-core machine torch's
default of 2 threads can be many times slower than 1 (threads spin while waiting for a core): compare runs made with
the same OMP_NUM_THREADS.

The same figures per CPU-second (the process's CPU time over the generation loop: torch's threads and eval.py's
scoring thread included) follow: other processes on a loaded machine stretch wall time many-fold but barely move CPU
time, so eval/bare per CPU-second is the cost of eval.py's bookkeeping even where the wall-time ratio is noise (run it
with OMP_NUM_THREADS=1: waiting threads that spin count as CPU time).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

import eval as evaluation  # noqa: E402


def eval_throughput(args, batch_size: int, workdir: str) -> tuple[float, float, int]:
    """eval.py's own tokens/s and tokens per CPU-second (its generation loop, model loading excluded) and the tokens
    it generated."""
    result = evaluation.evaluate(evaluation.EvalArguments(
        model_dir=args.model_dir, dataset_id=args.dataset_id, split=args.split, batch_size=batch_size,
        max_completion_length=args.max_completion_length, output_file=f"{workdir}/bs{batch_size}_{time.time()}.json"))
    tokens = sum(s["completion_tokens"] for s in result["samples"])
    return result["summary"]["tokens_per_second"], tokens / result["summary"]["generation_cpu_s"], tokens


def bare_throughput(args) -> tuple[float, float, int]:
    """model.generate over the batches eval.py builds (same prompts, order, padding and generation config)."""
    settings = evaluation.resolve_settings(evaluation.EvalArguments(
        model_dir=args.model_dir, dataset_id=args.dataset_id, split=args.split, batch_size=args.batch_size,
        max_completion_length=args.max_completion_length))
    tokenizer = evaluation.load_tokenizer(settings)
    rows, _ = evaluation.load_prompts(settings, tokenizer)
    model = evaluation.load_model(settings)
    config = evaluation.generation_config(settings, model.generation_config, tokenizer)
    prompts = [r["prompt_ids"] for r in sorted(rows, key=lambda r: -len(r["prompt_ids"]))]  # eval.py's order
    batches = [prompts[b:b + args.batch_size] for b in range(0, len(prompts), args.batch_size)]
    pad = config.pad_token_id
    tokens, start, cpu = 0, time.time(), time.process_time()
    for batch in batches:
        width = max(map(len, batch))
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in batch], device=model.device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in batch], device=model.device)
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config)
        tokens += sum(len(evaluation.cut_at_eos(ids, config.eos_token_id)) for ids in out[:, width:].tolist())
    return tokens / (time.time() - start), tokens / (time.process_time() - cpu), tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", default=str(REPO / "ckpts/demo/adapter"))
    parser.add_argument("--dataset_id", default=None, help="default: data/train.jsonl next to the demo's adapter")
    parser.add_argument("--split", default="train[:192]", help="more prompts than the 64 test ones: steadier figures")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_completion_length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.dataset_id = args.dataset_id or str(Path(args.model_dir).parent / "data" / "train.jsonl")
    if not (Path(args.model_dir).is_dir() and Path(args.dataset_id).exists()):
        print(f"error: no demo fixtures at {args.model_dir} / {args.dataset_id}: create them with "
              "`python main.py --demo` (or pass --model_dir and --dataset_id)", file=sys.stderr)
        return 1

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        eval_throughput(args, args.batch_size, workdir)  # warm-up: kernels, caches, the reward worker process
        best = {"eval.py": 0.0, "bare generate": 0.0, "batch size 1": 0.0}
        best_cpu, tokens = dict(best), {}
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits every variant alike
            for name, run in [("eval.py", lambda: eval_throughput(args, args.batch_size, workdir)),
                              ("bare generate", lambda: bare_throughput(args)),
                              ("batch size 1", lambda: eval_throughput(args, 1, workdir))]:
                rate, cpu_rate, tokens[name] = run()
                best[name], best_cpu[name] = max(best[name], rate), max(best_cpu[name], cpu_rate)

    print(f"\n{args.model_dir}, split {args.split}, batch size {args.batch_size}, "
          f"max {args.max_completion_length} new tokens, {torch.get_num_threads()} CPU threads, best of {args.repeats}")
    for name, rate in best.items():
        print(f"  {name:<14} {rate:9.1f} generated tokens/s  ({tokens[name]} tokens)")
    print(f"  eval.py / bare generate: {best['eval.py'] / best['bare generate']:.2f}x  (target >= 0.95)")
    print(f"  eval.py / batch size 1:  {best['eval.py'] / best['batch size 1']:.2f}x  (target >= 3)")
    print("per CPU-second of the generation loop (load-independent; compare with OMP_NUM_THREADS=1):")
    for name, rate in best_cpu.items():
        print(f"  {name:<14} {rate:9.1f} generated tokens per CPU-second")
    print(f"  eval.py / bare generate: {best_cpu['eval.py'] / best_cpu['bare generate']:.2f}x  (target >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
