"""Greedy tokens with a static KV cache equal those with the dynamic one? (the fast default's promise, checked on a GPU)

    python bench/gpu_identity.py MODEL_DIR DATA.jsonl [--n 32] [--max_new_tokens 64]

Prints how many of the n greedy completions are identical, the first divergence if any, and the time of each.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from data_utils import SYSTEM_PROMPT, make_prompt, tokenize_prompts  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("data")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=dtype).to(device).eval()
    problems = [json.loads(line)["problem"] for line in open(args.data)][:args.n]
    ids = tokenize_prompts([make_prompt(p, SYSTEM_PROMPT) for p in problems], tokenizer)
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=device)
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
    outputs = {}
    for cache in (None, "static", None, "static"):  # second round: warm (compiled, allocated)
        config = GenerationConfig(max_new_tokens=args.max_new_tokens, do_sample=False, pad_token_id=pad,
                                  eos_token_id=tokenizer.eos_token_id, cache_implementation=cache)
        torch.cuda.synchronize() if device == "cuda" else None
        start = time.time()
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config)
        torch.cuda.synchronize() if device == "cuda" else None
        outputs[cache or "dynamic"] = (out[:, width:].tolist(), time.time() - start)
    (dynamic, t_dyn), (static, t_sta) = outputs["dynamic"], outputs["static"]
    same = sum(a == b for a, b in zip(dynamic, static))
    print(f"device: {torch.cuda.get_device_name(0) if device == 'cuda' else 'cpu'} dtype {dtype}")
    print(f"greedy identical (static vs dynamic cache): {same}/{len(dynamic)} sequences of {args.max_new_tokens} tokens")
    for n, (a, b) in enumerate(zip(dynamic, static)):
        if a != b:
            at = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
            print(f"first divergence: sequence {n}, token {at}: {a[at]} vs {b[at]}")
            break
    print(f"time per generate (warm): dynamic {t_dyn:.3f}s, static {t_sta:.3f}s, static speed-up {t_dyn / t_sta:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
