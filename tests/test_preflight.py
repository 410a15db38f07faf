"""`python main.py --check`: the preflight report on good and on deliberately broken data, and its figures."""
import json
import re
import shutil

import pytest

from conftest import run_cli
from test_train import train_args


def test_check_on_demo_data_reports_everything_and_writes_nothing(demo_dir, tmp_path):
    out = tmp_path / "run"
    proc = run_cli(*train_args(demo_dir, out, "--check", "--max_steps", "10"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    for heading in ["first training prompt", "prompt lengths", "references", "reward sanity", "batch arithmetic",
                    "memory estimate", "environment", "verdict"]:
        assert f"== {heading}" in text, heading
    assert "<|im_start|>assistant" in text, "the prompt as the policy reads it, generation prompt included"
    rows = sum(1 for _ in open(demo_dir / "data" / "train.jsonl"))
    assert f"references with a parseable answer: {rows} of {rows}" in text
    # Every demo reference is parseable, so a correct, well-formatted answer must score 1.0 under each reward, for
    # every one of the (at most 200) references tried.
    tried = min(rows, 200)
    for name in ("format", "accuracy"):
        assert f"\n{name}: {tried} of {tried} score 1.0\n" in text, text[text.index("== reward sanity"):][:600]
    assert "generation batch = 8 per device x 1 process(es) x 1 accumulation = 8 completions; / G=4 = 2" in text
    assert "total steps: 10 (--max_steps)" in text and "torch " in text and "trl " in text
    assert text.strip().endswith("drop --check to train")
    assert not out.exists(), "--check writes nothing"


def test_check_on_broken_data_lists_every_fatal_problem(demo_dir, tmp_path):
    data = tmp_path / "broken.csv"
    data.write_text("problem,solution\nWhat is 1 + 1?,\nWhat is 2 + 2?,four\nWhat is 3 + 3?,Answer is six.\n")
    out = tmp_path / "run"
    proc = run_cli(*train_args(demo_dir, out, "--check", "--dataset_id", data, "--batch_size", "6",
                               "--max_prompt_length", "5"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("error: ")]
    assert any("not divisible by --num_generations" in e for e in errors), errors
    assert any("no training prompt fits --max_prompt_length 5: the shortest has" in e for e in errors), errors
    assert any("no reference has a parseable answer" in e for e in errors), errors
    assert "references with a parseable answer: 0 of 3" in proc.stdout
    assert "not parseable: (empty cell)" in proc.stdout and "'None'" not in proc.stdout
    assert "3 problem(s) above" in proc.stdout
    assert not out.exists()


def test_check_warns_when_the_template_opens_think_itself(demo_dir, tmp_path):
    """A 'thinking' chat template that pre-fills <think> makes the format reward unreachable: say so."""
    import shutil

    model = tmp_path / "thinking_model"
    shutil.copytree(demo_dir / "base_model", model)
    jinja = model / "chat_template.jinja"
    assert "<|im_start|>assistant\n" in jinja.read_text()
    jinja.write_text(jinja.read_text().replace("<|im_start|>assistant\n", "<|im_start|>assistant\n<think>"))
    proc = run_cli(*train_args(demo_dir, tmp_path / "run", "--check", "--model_id", model))
    warning = [line for line in proc.stdout.splitlines() if line.startswith("warning: ")]
    assert warning and "already contains <think>" in warning[0] and "format reward" in warning[0], proc.stdout[:3000]


# A 1.5B-parameter model's shape (Qwen2.5-1.5B's config) with the demo's tokenizer: --check reads only the config, never
# weights, so the memory section's figures are real-sized here without a download.
BIG_CONFIG = {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12,
              "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 32768,
              "layer_types": ["full_attention"] * 28, "max_window_layers": 28}


@pytest.fixture
def big_model(demo_dir, tmp_path):
    model = tmp_path / "big_model"
    model.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(demo_dir / "base_model" / name, model / name)
    config = json.loads((demo_dir / "base_model" / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, **BIG_CONFIG}))
    return model


def check_in_process(demo_dir, tmp_path, capsys, *extra):
    import main

    # --check_samples 0: these checks are about the report's figures, and a config-only model has no weights to sample
    code = main.main([str(a) for a in train_args(demo_dir, tmp_path / "run", "--check", "--check_samples", "0",
                                                  *extra)[1:]])
    return code, capsys.readouterr().out


def gib(figure: str) -> float:
    return float(figure) * 2**30


def test_memory_estimate_figures_match_the_model(demo_dir, big_model, tmp_path, capsys):
    """Parameters as the model has them, LoRA's trainable ones as PEFT counts them, fp32 weights (CPU), the KV cache of
    the generation batch at the longest kept prompt plus a full completion, and a total that adds up."""
    import psutil
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from data_utils import format_dataset, load_math_dataset, tokenize_prompts
    from demo import DEMO_SYSTEM_PROMPT

    code, out = check_in_process(demo_dir, tmp_path, capsys, "--model_id", big_model, "--lora_r", "16")
    assert code == 0, out
    section = out[out.index("== memory estimate"):out.index("== environment")]
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(big_model))
    params = sum(p.numel() for p in model.parameters())
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
    trainable, _ = peft_model.get_nb_trainable_parameters()
    figures = re.search(r"model: ([\d.]+)M parameters, ([\d.]+)M trainable; weights ([\d.]+) GiB \(float32\); "
                        r"optimizer state and gradients ([\d.]+) GiB", section)
    assert figures, section
    assert float(figures[1]) == round(params / 1e6, 1)
    assert float(figures[2]) == round(trainable / 1e6, 2), "trainable parameters are what PEFT trains"
    assert gib(figures[3]) == pytest.approx(params * 4, rel=0.01, abs=0.006 * 2**30)
    assert gib(figures[4]) == pytest.approx(trainable * 16, abs=0.006 * 2**30)  # fp32 weight, grad, 2 Adam moments

    data = format_dataset(load_math_dataset(str(demo_dir / "data" / "train.jsonl"), "train"), DEMO_SYSTEM_PROMPT)
    longest = max(map(len, tokenize_prompts(data["prompt"], AutoTokenizer.from_pretrained(big_model))))
    kv = re.search(r"KV cache for (\d+) completions x (\d+) tokens: ([\d.]+) GiB", section)
    assert kv and (int(kv[1]), int(kv[2])) == (8, longest + 16), section  # --batch_size 8, --max_completion_length 16
    # Qwen2.5-1.5B keeps 28 KiB of K and V per token in bf16 (28 layers x 2 KV heads x 128 dims x K,V x 2 bytes):
    # 56 KiB in fp32, for each of the 8 completions' tokens.
    assert gib(kv[3]) == pytest.approx(56 * 1024 * int(kv[2]) * 8, abs=0.006 * 2**30)
    total = re.search(r"total about ([\d.]+) GiB; available: ([\d.]+) GiB \(free RAM; no GPU\)", section)
    assert total, section
    parts = [float(figures[3]), float(figures[4]), float(kv[3])]
    assert float(total[1]) >= sum(parts) - 0.02, "the total includes weights, optimizer state and the KV cache"
    assert gib(total[2]) == pytest.approx(psutil.virtual_memory().available, rel=0.25)


def test_memory_exceeding_what_is_available_is_an_error(demo_dir, big_model, tmp_path, capsys):
    import psutil

    code, out = check_in_process(demo_dir, tmp_path, capsys, "--model_id", big_model, "--batch_size", "4096",
                                 "--max_completion_length", "32768")
    assert code == 2, out[-2000:]
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, errors
    found = re.fullmatch(r"error: the estimated ([\d.]+) GiB per device exceeds the ([\d.]+) GiB available "
                         r"\(free RAM; no GPU\): lower --max_completion_length or --batch_size .*", errors[0])
    assert found, errors[0]
    estimated, available = float(found[1]), float(found[2])
    assert estimated > available and f"total about {found[1]} GiB" in out
    assert gib(found[2]) == pytest.approx(psutil.virtual_memory().available, rel=0.25)
    assert out.rstrip().splitlines()[-1].startswith("1 problem(s) above")
    assert not (tmp_path / "run").exists()
