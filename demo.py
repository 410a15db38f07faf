"""The offline demo: GRPO making a tiny model's arithmetic *right* more often, with no network, in minutes on CPU.

`python main.py --demo [--output_dir ckpts/demo]` writes, under the output dir:
    data/train.jsonl, data/val.jsonl, data/test.jsonl
                                        synthetic arithmetic problems (disjoint), references as \\boxed{n}
    base_model/                         a tiny Qwen2 model + locally trained tokenizer (ChatML template),
                                        warm-started to be *sloppy*: right only sometimes, off by one otherwise
    adapter/                            the GRPO LoRA adapter + run_config.json, trained through train.py
    eval_base.json, eval_adapter.json   eval.py results (greedy) before and after GRPO
    eval_base_sampled.json, eval_adapter_sampled.json   the same with 4 samples per problem at temperature 1
and prints a before/after table. These are also the fixtures the test suite reuses.

Why GRPO can raise accuracy here: the warm start works the units column correctly inside <think> (`7 + 5 = 12` for
47 + 5), but its supervised targets write the final answer right only a quarter of the time and one off either way
otherwise, so greedy decoding is usually one off while sampling is right now and then. GRPO's group advantage
rewards the right samples over their wrong siblings (the real reward.py, through the real train.py path), and the
correction carries over to test problems GRPO never saw. Settings were chosen on data/val.jsonl, never on the test
split. It lives in its own module because building a model from scratch is a different job from training one.
"""
from __future__ import annotations

import json
import random
import time
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
MAX_COMPLETION_LENGTH = 24  # warm-start completions are at most 18 tokens
GRPO_STEPS = 200


def run_demo(options: dict, train_from_argv) -> int:
    """The whole demo; `options` holds output_dir and seed, `train_from_argv` is main.py's training entry point
    (its argv parsed exactly as `python main.py ...` parses it, then train.train)."""
    out, seed = Path(options["output_dir"]), options["seed"]
    check_demo_dir(out, options.get("overwrite", False))
    start = time.time()
    data_dir = write_arithmetic_data(out / "data", seed=seed)
    base_dir = build_base_model(out / "base_model", data_dir / "train.jsonl", seed=seed)
    print(f"[demo] data and warm-started base model ready in {time.time() - start:.0f}s")

    test_file = data_dir / "test.jsonl"
    before = evaluate_both(base_dir, test_file, out, "eval_base")
    train_from_argv(grpo_argv(base_dir, data_dir, out / "adapter", seed))
    after = evaluate_both(out / "adapter", test_file, out, "eval_adapter")

    print_table(before, after)
    print(f"[demo] done in {time.time() - start:.0f}s; fixtures in {out}/ (base_model/, data/, adapter/)")
    return 0


DEMO_DATA_FILES = {"train.jsonl", "val.jsonl", "test.jsonl"}
DEMO_OUTPUTS = {"data", "base_model", "adapter", "eval_base.json", "eval_adapter.json", "eval_base_sampled.json",
                "eval_adapter_sampled.json"}


def check_demo_dir(out: Path, overwrite: bool) -> None:
    """The demo rewrites data/, base_model/ and adapter/ under --output_dir: an earlier demo's output is replaced, but
    a directory holding anything else is refused unless --overwrite_output_dir says so."""
    from errors import UsageError
    from output_dir import RUN_FILES, check_overwrite, matches
    from runs import check_writable

    check_writable(out, "--output_dir", directory=True)
    other = sorted({p.name for p in out.iterdir()} - DEMO_OUTPUTS) if out.is_dir() else []
    if other and not overwrite:
        raise UsageError(f"--output_dir {out} already holds files that are not the demo's ({', '.join(other[:4])}): "
                         "choose a new or empty --output_dir, or pass --overwrite_output_dir to write the demo there")
    # What the demo replaces must be an earlier demo's: a user's own data/ or base_model/ is never written over.
    for folder, ours in [("data", lambda p: p.name in DEMO_DATA_FILES),
                         ("base_model", lambda p: p.is_file() and matches(p.name, RUN_FILES))]:
        foreign = next((p for p in sorted((out / folder).iterdir()) if not ours(p)), None) \
            if (out / folder).is_dir() else None
        if foreign is not None or (out / folder).is_file():
            raise UsageError(f"--output_dir {out} holds {foreign or out / folder}, which is not the demo's own: the demo "
                             f"would write over {folder}/; choose a new or empty --output_dir")
    if (out / "adapter").exists():
        check_overwrite(out / "adapter", [])  # the demo's training replaces only an earlier run there
    if out.is_dir() and any(out.iterdir()):
        print(f"[demo] replacing the earlier demo output in {out}")


def grpo_argv(base_dir: Path, data_dir: Path, adapter_dir: Path, seed: int, max_steps: int = GRPO_STEPS) -> list[str]:
    """The demo's `python main.py ...` command line: the same path, options and rewards as a real run, with held-out
    evaluation on the validation split (never the test split: it picks the adapter that is kept)."""
    return [
        "--model_id", str(base_dir.resolve()), "--dataset_id", str(data_dir / "train.jsonl"),
        "--output_dir", str(adapter_dir), "--overwrite_output_dir",
        "--max_steps", str(max_steps), "--learning_rate", "3e-4", "--lr_scheduler_type", "constant",
        "--batch_size", "16", "--num_generations", "8", "--max_completion_length", str(MAX_COMPLETION_LENGTH),
        "--max_prompt_length", "256", "--lora_r", "16", "--lora_alpha", "32", "--lora_dropout", "0",
        "--lora_target_modules", "all-linear", "--gradient_checkpointing", "false", "--seed", str(seed),
        "--logging_steps", "10", "--save_steps", "100", "--report_to", "none", "--system_prompt", DEMO_SYSTEM_PROMPT,
        "--eval_dataset_id", str(data_dir / "val.jsonl"), "--eval_split", "validation", "--eval_steps", "20",
        "--eval_max_samples", "128",
    ]


def arithmetic_problems(seed: int) -> list[tuple[int, str, int]]:
    """Every `a + b` and `a - b` with a two-digit-or-less `a` and a one-digit `b` (no negative results), shuffled."""
    problems = [(a, op, b) for a in range(100) for b in range(10) for op in "+-" if op == "+" or a >= b]
    random.Random(seed).shuffle(problems)
    return problems


def write_arithmetic_data(data_dir: Path, seed: int, n_val: int = 128, n_test: int = 128) -> Path:
    """Disjoint test, validation (carved from the training problems, for choosing settings) and training splits."""
    problems = arithmetic_problems(seed)
    splits = {"test": problems[:n_test], "val": problems[n_test:n_test + n_val], "train": problems[n_test + n_val:]}
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        with open(data_dir / f"{name}.jsonl", "w") as f:
            for a, op, b in rows:
                f.write(json.dumps({"problem": f"What is {a} {op} {b}?", "solution": f"\\boxed{{{solve(a, op, b)}}}"})
                        + "\n")
    return data_dir


def solve(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b


def warm_start_completion(problem: str, answer: int, rng: random.Random, p_correct: float,
                          p_format: float) -> str:
    """A sloppy teacher: it works the units column correctly in <think> (`7 + 5 = 12` for 47 + 5, `13 - 5 = 8`
    with a borrow for 43 - 5), then writes the final answer right only with probability `p_correct` and off by
    one either way otherwise, so its most likely answer is wrong. It uses the full answer format only with
    probability `p_format`; every style boxes its answer, so accuracy measures the arithmetic, not the format."""
    a, op, b = problem.removeprefix("What is ").rstrip("?").split()
    units, b = int(a) % 10, int(b)
    if op == "+":
        work = f"{units} + {b} = {units + b}"
    else:
        top = units if units >= b else units + 10
        work = f"{top} - {b} = {top - b}"
    if rng.random() >= p_correct:
        answer += rng.choice((-1, 1))
    if rng.random() < p_format:
        return f"<think>{work}</think><answer>\\boxed{{{answer}}}</answer>"  # format 1.0
    return f"<think>{work}</think>\\boxed{{{answer}}}"  # format 0.0, accuracy still judged (the box after </think>)


def build_base_model(model_dir: Path, train_file: Path, seed: int, sft_steps: int = 1200, p_correct: float = 0.25,
                     p_format: float = 0.3, hidden_size: int = 128, num_layers: int = 2, lr: float = 3e-3):
    """Train a tokenizer, build a tiny Qwen2 policy, and warm-start it with a short supervised run."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    rng = random.Random(seed)
    torch.manual_seed(seed)
    rows = [json.loads(line) for line in open(train_file)]
    problems = [(row["problem"], int(row["solution"].removeprefix("\\boxed{").removesuffix("}"))) for row in rows]

    tokenizer = train_tokenizer([p + " " + warm_start_completion(p, n, rng, p_correct, p_format)
                                 for p, n in problems for _ in range(2)])
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=3 * hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=True, bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    supervised_warm_start(model, tokenizer, problems, sft_steps, rng, lr,
                          lambda p, n: warm_start_completion(p, n, rng, p_correct, p_format))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir


def train_tokenizer(corpus: list[str]):
    """A small byte-level BPE (digits split, so arithmetic is learnable) wrapped as a ChatML fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([DEMO_SYSTEM_PROMPT, "system user assistant", *corpus], trainers.BpeTrainer(
        vocab_size=600, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"], chat_template=CHATML_TEMPLATE,
    )
    tokenizer.add_tokens(TAG_TOKENS)  # single tokens, but not special
    return tokenizer


def supervised_warm_start(model, tokenizer, problems, steps: int, rng: random.Random, lr: float, completion_for,
                          batch_size: int = 32):
    """Next-token training on the completions only (prompt tokens are masked out of the loss), with a fresh
    teacher completion per example each step, so the model learns the teacher's *distribution* of answers."""
    import torch
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    prompt_texts = tokenizer.apply_chat_template([make_prompt(p, DEMO_SYSTEM_PROMPT) for p, _ in problems],
                                                 tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt_texts, add_special_tokens=False)["input_ids"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = get_linear_schedule_with_warmup(optimizer, steps // 20, steps)
    pad = tokenizer.pad_token_id
    model.train()
    bar = tqdm(range(steps), desc="[demo] warm start", unit="step")
    for _ in bar:
        batch = rng.sample(range(len(problems)), batch_size)
        completions = [completion_for(*problems[i]) + "<|im_end|>\n" for i in batch]
        completion_ids = tokenizer(completions, add_special_tokens=False)["input_ids"]
        ids = [prompt_ids[i] + c for i, c in zip(batch, completion_ids)]
        labels = [[-100] * len(prompt_ids[i]) + c for i, c in zip(batch, completion_ids)]
        width = max(map(len, ids))
        input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
        label_ids = torch.tensor([y + [-100] * (width - len(y)) for y in labels])
        attention = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
        loss = model(input_ids=input_ids, attention_mask=attention, labels=label_ids).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()


def evaluate_dir(model_dir: Path, test_file: Path, output_file: Path, num_samples: int = 1) -> dict:
    """eval.py (the same code users run), greedy or with `num_samples` samples at temperature 1; its summary."""
    import eval as evaluation

    result = evaluation.evaluate(evaluation.EvalArguments(
        model_dir=str(model_dir), dataset_id=str(test_file), split="test", batch_size=64,
        max_completion_length=MAX_COMPLETION_LENGTH, max_prompt_length=256, system_prompt=DEMO_SYSTEM_PROMPT,
        num_samples=num_samples, temperature=1.0 if num_samples > 1 else None, output_file=str(output_file),
        overwrite=True))
    return result["summary"]


def evaluate_both(model_dir: Path, test_file: Path, out: Path, name: str) -> dict:
    """{"greedy": summary, "sampled": summary}, written to <name>.json and <name>_sampled.json."""
    return {"greedy": evaluate_dir(model_dir, test_file, out / f"{name}.json"),
            "sampled": evaluate_dir(model_dir, test_file, out / f"{name}_sampled.json", num_samples=4)}


def print_table(before: dict, after: dict) -> None:
    rows = [("format reward mean", "greedy", "format_mean"), ("accuracy", "greedy", "accuracy"),
            ("format reward mean", "sampled", "format_mean"), ("accuracy", "sampled", "accuracy")]
    print("\n[demo] GRPO before/after on the held-out test split "
          f"({before['greedy']['num_problems']} problems never seen in training)")
    print(f"{'metric':<20}{'decoding':<12}{'before':>8}{'after':>8}{'change':>9}")
    for label, decoding, key in rows:
        b, a = before[decoding][key], after[decoding][key]
        print(f"{label:<20}{decoding:<12}{b:>8.3f}{a:>8.3f}{a - b:>+9.3f}")
    print("(sampled: 4 samples per problem at temperature 1.0, per-sample mean)")
