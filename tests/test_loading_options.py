"""Every option that matters for loading the model (ours and TRL's ModelConfig) takes effect or is refused in one
line: none is accepted and then ignored. Loads the demo's tiny model in-process (seconds)."""
import json
import shutil
import time
from pathlib import Path

import pytest
import torch

import main
import models
from conftest import run_cli
from errors import UsageError
from test_train import train_args


def parsed(demo_dir, *extra):
    return main.parse_args(["--model_id", str(demo_dir / "base_model"), "--output_dir", "/tmp/unused", *map(str, extra)])


def policy(demo_dir, *extra):
    _, training_args, model_args = parsed(demo_dir, *extra)
    return models.load_policy(model_args, training_args), models.lora_config(model_args)


def linear(model):
    return model.model.layers[0].self_attn.q_proj


EFFECTS = {
    "dtype": (["--dtype", "float16"], lambda m, lora: m.dtype == torch.float16),
    "attn_implementation": (["--attn_implementation", "eager"], lambda m, lora: m.config._attn_implementation == "eager"),
    "use_peft false": (["--use_peft", "false"], lambda m, lora: lora is None),
    "lora_r/alpha/dropout": (["--lora_r", "4", "--lora_alpha", "8", "--lora_dropout", "0.1"],
                             lambda m, lora: (lora.r, lora.lora_alpha, lora.lora_dropout) == (4, 8, 0.1)),
    "lora_target_modules": (["--lora_target_modules", "q_proj", "k_proj"],
                            lambda m, lora: set(lora.target_modules) == {"q_proj", "k_proj"}),
    "all-linear": (["--lora_target_modules", "all-linear"], lambda m, lora: lora.target_modules == "all-linear"),
    "lora_modules_to_save": (["--lora_modules_to_save", "lm_head"], lambda m, lora: lora.modules_to_save == ["lm_head"]),
    "use_rslora": (["--use_rslora", "true"], lambda m, lora: lora.use_rslora),
    "use_dora": (["--use_dora", "true"], lambda m, lora: lora.use_dora),
    "load_in_4bit": (["--load_in_4bit", "true"], lambda m, lora: type(linear(m)).__name__ == "Linear4bit"),
    "4-bit options": (["--load_in_4bit", "true", "--bnb_4bit_quant_type", "fp4", "--use_bnb_nested_quant", "true"],
                      lambda m, lora: m.config.quantization_config.bnb_4bit_quant_type == "fp4"
                      and m.config.quantization_config.bnb_4bit_use_double_quant),
    "load_in_8bit": (["--load_in_8bit", "true"], lambda m, lora: type(linear(m)).__name__ == "Linear8bitLt"),
}


@pytest.mark.parametrize("case", list(EFFECTS))
def test_loading_option_takes_effect(case, demo_dir):
    if "bit" in case:
        pytest.importorskip("bitsandbytes")
    extra, effect = EFFECTS[case]
    model, lora = policy(demo_dir, *extra)
    assert effect(model, lora), case


REFUSED = {
    "4-bit option without 4-bit": (["--bnb_4bit_quant_type", "fp4"], "only applies with --load_in_4bit true"),
    "revision of a local model": (["--model_revision", "v2"], "drop --model_revision"),
    "quantized full fine-tuning": (["--load_in_4bit", "true", "--use_peft", "false"], "drop --use_peft false"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_loading_option_refused_in_one_line(case, demo_dir):
    extra, message = REFUSED[case]
    with pytest.raises(UsageError, match=message) as err:
        policy(demo_dir, *extra)
    assert "\n" not in str(err.value)


def test_4bit_and_8bit_together_is_one_line_error(demo_dir):
    with pytest.raises(UsageError, match="8 bit and 4 bit"):
        parsed(demo_dir, "--load_in_4bit", "true", "--load_in_8bit", "true")


def hub_cache_with(model_dir: Path, home: Path, repo_id: str) -> None:
    """The layout `hf download` leaves under HF_HOME: refs/main names a snapshot holding the files."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = home / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(model_dir, repo / "snapshots" / commit)


def test_a_model_in_the_local_hub_cache_loads_without_the_network(demo_dir, tmp_path):
    """Downloaded once, later no network: the hub id loads from the cache, also when the hub is unreachable (not only
    with HF_HUB_OFFLINE=1), and quickly (the unreachable-hub check must not stand in its way)."""
    home = tmp_path / "hf"
    hub_cache_with(demo_dir / "base_model", home, "demo-org/tiny-math")
    env = {"HF_HOME": str(home), "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
           "HF_ENDPOINT": "http://127.0.0.1:9"}
    started = time.monotonic()
    proc = run_cli("eval.py", "--model_dir", "demo-org/tiny-math", "--dataset_id", demo_dir / "data" / "test.jsonl",
                   "--split", "test[:2]", "--max_completion_length", "4", "--output_file", tmp_path / "out.json",
                   env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "out.json").read_text())["summary"]
    assert summary["base_model"] == "demo-org/tiny-math" and summary["num_problems"] == 2
    took = time.monotonic() - started
    assert took < 90, f"{took:.0f} s: the libraries retried the unreachable hub instead of using the cache"


@pytest.mark.slow
def test_qlora_trains_a_few_steps(demo_dir, tmp_path):
    """--load_in_4bit true: GRPO trains a LoRA adapter on the frozen 4-bit model (bitsandbytes, CPU here), and the
    adapter reloads onto the 4-bit base and changes its outputs."""
    pytest.importorskip("bitsandbytes")
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    out = tmp_path / "qlora"
    proc = run_cli(*train_args(demo_dir, out, "--load_in_4bit", "true", "--max_steps", "2", "--save_steps", "2"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    config = json.loads((out / "run_config.json").read_text())
    assert config["finished"] is True and config["model_args"]["load_in_4bit"] is True
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert [e["step"] for e in history if "loss" in e] == [1, 2]
    # The same command in full precision: its first step's policy entropy differs, since 4-bit weights give other
    # logits (a silently ignored --load_in_4bit would give the very same figure: CPU runs are deterministic).
    twin = run_cli(*train_args(demo_dir, tmp_path / "fp32", "--max_steps", "2", "--save_steps", "2"))
    assert twin.returncode == 0, twin.stderr[-2000:]
    twin_history = json.loads((tmp_path / "fp32" / "trainer_state.json").read_text())["log_history"]
    first = lambda h: next(e for e in h if e.get("step") == 1 and "entropy" in e)  # noqa: E731
    assert first(history)["entropy"] != first(twin_history)["entropy"], "the 4-bit run trained the fp32 model"
    tensors = load_file(str(out / "adapter_model.safetensors"))
    assert any(t.abs().sum() > 0 for k, t in tensors.items() if "lora_B" in k), "lora_B is all zeros: no training"

    tokenizer = AutoTokenizer.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(demo_dir / "base_model", device_map={"": "cpu"},
                                                quantization_config=BitsAndBytesConfig(load_in_4bit=True))
    assert type(base.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"
    ids = tokenizer("What is 3 + 4?", return_tensors="pt")
    with torch.no_grad():
        before = base(**ids).logits.clone()
        after = PeftModel.from_pretrained(base, str(out))(**ids).logits
    assert not torch.allclose(before, after, atol=1e-5), "the adapter must change the 4-bit model's outputs"
