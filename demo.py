"""The offline demo: GRPO visibly teaching a tiny model the answer format, with no network, in a few minutes on CPU.

`python main.py --demo [--output_dir ckpts/demo]` writes, under the output dir:
    data/train.jsonl, data/test.jsonl   synthetic arithmetic problems, references as \\boxed{n}
    base_model/                         a tiny Qwen2 model + locally trained tokenizer (ChatML template),
                                        warm-started so it *sometimes* answers in the required format
    adapter/                            the GRPO LoRA adapter + run_config.json, trained through train.py
    eval_base.json, eval_adapter.json   eval.py results before and after GRPO
and prints a before/after table. These are also the fixtures the test suite reuses.

It lives in its own module because building a model from scratch is a different job from training one.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from data_utils import make_prompt

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Ordinary (not special) tokens: decoding with skip_special_tokens=True must keep them, or every format reward is 0.
TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>", "\\boxed{"]
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# A short system prompt (passed to training with --system_prompt, read back by eval from run_config.json) keeps the
# tiny model's sequences short, which is most of the demo's CPU time.
DEMO_SYSTEM_PROMPT = "Think in <think></think>, then answer in <answer>\\boxed{}</answer>."


@dataclass
class DemoArguments:
    output_dir: str = field(default="ckpts/demo", metadata={"help": "Where data, base_model/ and adapter/ go."})
    seed: int = field(default=42, metadata={"help": "Seed for data, warm start and GRPO."})
    max_steps: int = field(default=120, metadata={"help": "GRPO steps."})
    demo: bool = field(default=True, metadata={"help": "Run the offline demo."})


def run_demo(argv: list[str]) -> int:
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(DemoArguments).parse_args_into_dataclasses(argv)
    out = Path(args.output_dir)
    start = time.time()
    data_dir = write_arithmetic_data(out / "data", seed=args.seed)
    base_dir = build_base_model(out / "base_model", data_dir / "train.jsonl", seed=args.seed)
    print(f"[demo] data and warm-started base model ready in {time.time() - start:.0f}s")

    before = evaluate_dir(base_dir, data_dir / "test.jsonl", out / "eval_base.json")
    adapter_dir = out / "adapter"
    from main import parse_args
    from train import train

    train(*parse_args([
        "--model_id", str(base_dir.resolve()), "--dataset_id", str(data_dir / "train.jsonl"),
        "--output_dir", str(adapter_dir), "--overwrite_output_dir",
        "--max_steps", str(args.max_steps), "--learning_rate", "3e-4", "--lr_scheduler_type", "constant",
        "--batch_size", "16", "--num_generations", "8", "--max_completion_length", "24",
        "--max_prompt_length", "256", "--lora_r", "16", "--lora_alpha", "32", "--lora_dropout", "0",
        "--lora_target_modules", "all-linear", "--gradient_checkpointing", "false", "--seed", str(args.seed),
        "--logging_steps", "10", "--save_steps", "60", "--report_to", "none", "--system_prompt", DEMO_SYSTEM_PROMPT,
    ]))
    after = evaluate_dir(adapter_dir, data_dir / "test.jsonl", out / "eval_adapter.json")

    print_table(before, after)
    print(f"[demo] done in {time.time() - start:.0f}s; fixtures in {out}/ (base_model/, data/, adapter/)")
    return 0


def write_arithmetic_data(data_dir: Path, seed: int, n_train: int = 400, n_test: int = 64) -> Path:
    """Addition/subtraction problems with references as `\\boxed{n}` (train and test never share a problem)."""
    rng = random.Random(seed)
    problems = [(a, op, b) for a in range(20) for b in range(20) for op in "+-"]
    rng.shuffle(problems)
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", problems[:n_train]), ("test", problems[n_train:n_train + n_test])):
        with open(data_dir / f"{name}.jsonl", "w") as f:
            for a, op, b in rows:
                answer = a + b if op == "+" else a - b
                f.write(json.dumps({"problem": f"What is {a} {op} {b}?", "solution": f"\\boxed{{{answer}}}"}) + "\n")
    return data_dir


def warm_start_completion(problem: str, answer: str, rng: random.Random) -> str:
    """A mix of answer styles, mostly wrong-format, so GRPO has something to learn: greedy decoding starts
    off-format, while sampling hits the full format often enough for the reward to tell groups apart."""
    work = f"{problem.removeprefix('What is ').rstrip('?')} = {answer}"
    return rng.choices(
        [f"<think>{work}</think><answer>\\boxed{{{answer}}}</answer>",  # format 1.0
         f"<think>{work}</think><answer>{answer}</answer>",             # format 0.5
         f"{work}",                                                     # format 0.0
         f"The answer is {answer}."],                                   # format 0.0
        weights=[0.25, 0.05, 0.35, 0.35],
    )[0]


def build_base_model(model_dir: Path, train_file: Path, seed: int, sft_steps: int = 600):
    """Train a tokenizer, build a tiny Qwen2 policy, and warm-start it with a short supervised run."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    rng = random.Random(seed)
    torch.manual_seed(seed)
    rows = [json.loads(line) for line in open(train_file)]
    examples = []
    for _ in range(4):  # several completions per problem, in varied styles
        for row in rows:
            answer = row["solution"].removeprefix("\\boxed{").removesuffix("}")
            examples.append((row["problem"], warm_start_completion(row["problem"], answer, rng)))

    tokenizer = train_tokenizer(examples)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=384, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"), eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    supervised_warm_start(model, tokenizer, examples, steps=sft_steps, rng=rng)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir


def chat_text(tokenizer, problem: str, completion: str | None = None) -> str:
    prompt = tokenizer.apply_chat_template(make_prompt(problem, DEMO_SYSTEM_PROMPT), tokenize=False,
                                           add_generation_prompt=True)
    return prompt if completion is None else prompt + completion + "<|im_end|>\n"


def train_tokenizer(examples):
    """A small byte-level BPE (digits split, so arithmetic is learnable) wrapped as a ChatML fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    bpe.decoder = decoders.ByteLevel()
    corpus = [DEMO_SYSTEM_PROMPT, "system user assistant"] + [p + " " + c for p, c in examples]
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"], chat_template=CHATML_TEMPLATE,
    )
    tokenizer.add_tokens(TAG_TOKENS)  # single tokens, but not special
    return tokenizer


def supervised_warm_start(model, tokenizer, examples, steps: int, rng: random.Random, batch_size: int = 32):
    """Plain next-token training on the completions only (prompt tokens are masked out of the loss)."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        batch = rng.sample(examples, batch_size)
        ids, labels = [], []
        for problem, completion in batch:
            prompt_ids = tokenizer(chat_text(tokenizer, problem), add_special_tokens=False)["input_ids"]
            full_ids = tokenizer(chat_text(tokenizer, problem, completion), add_special_tokens=False)["input_ids"]
            ids.append(full_ids)
            labels.append([-100] * len(prompt_ids) + full_ids[len(prompt_ids):])
        width = max(map(len, ids))
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
        label_ids = torch.tensor([y + [-100] * (width - len(y)) for y in labels])
        attention = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
        loss = model(input_ids=input_ids, attention_mask=attention, labels=label_ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 100 == 0 or step == steps - 1:
            print(f"[demo] warm start step {step:3d}/{steps}: loss {loss.item():.3f}")
    model.eval()


def evaluate_dir(model_dir: Path, test_file: Path, output_file: Path) -> dict:
    """Greedy evaluation with eval.py (the same code users run); returns its summary."""
    import eval as evaluation

    output_file.unlink(missing_ok=True)
    result = evaluation.evaluate(evaluation.EvalArguments(
        model_dir=str(model_dir), dataset_id=str(test_file), split="test", batch_size=32,
        max_completion_length=24, max_prompt_length=256, system_prompt=DEMO_SYSTEM_PROMPT,
        output_file=str(output_file)))
    return result["summary"]


def print_table(before: dict, after: dict) -> None:
    rows = [("format reward mean", "format_mean"), ("accuracy", "accuracy")]
    print("\n[demo] GRPO before/after on the held-out test split (greedy decoding)")
    print(f"{'metric':<20}{'before':>10}{'after':>10}{'change':>10}")
    for label, key in rows:
        b, a = before[key], after[key]
        print(f"{label:<20}{b:>10.3f}{a:>10.3f}{a - b:>+10.3f}")
