"""Every option that matters for loading the model (ours and TRL's ModelConfig) takes effect or is refused in one
line: none is accepted and then ignored. Loads the demo's tiny model in-process (seconds)."""
import pytest
import torch

import main
import models
from errors import UsageError


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
