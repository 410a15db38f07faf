"""Loading models and chat tokenizers, for training and evaluation alike: one place decides precision, placement,
quantization (QLoRA) and the LoRA config, and turns the libraries' loading errors into one-line UsageErrors."""
from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from pathlib import Path

from distributed import world_size
from errors import UsageError, first_line, offline_or_network_error
from runs import read_record


def looks_local(name: str) -> bool:
    """A path rather than a hub id ('org/name'): explicit prefix, deeper nesting, or a first part that is local."""
    return (name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).expanduser().exists()
            or ("/" in name and Path(name.split("/")[0]).is_dir()))


@functools.lru_cache(maxsize=1)
def hub_unreachable() -> str | None:
    """Why the model hub cannot be reached, or None. Asked once, with a short timeout: without it, huggingface_hub
    retries for about a minute before loading fails."""
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        urllib.request.urlopen(urllib.request.Request(constants.ENDPOINT, method="HEAD"), timeout=5)
    except urllib.error.HTTPError:
        return None  # it answered (with an error status): reachable
    except (urllib.error.URLError, OSError) as err:
        return f"{constants.ENDPOINT} unreachable: {getattr(err, 'reason', err)}"
    return None


def require_hub(name: str, what: str, flag: str) -> None:
    """Fail at once, in one line, when a hub id must be downloaded and the hub cannot be reached."""
    reason = hub_unreachable()
    if reason and not reason.startswith("HF_HUB_OFFLINE"):
        raise UsageError(f"could not download {what} {name!r} ({reason}): pass a local copy with {flag}, or set "
                         "HF_ENDPOINT / go online")


def load_pretrained(load, name: str, flag: str, **kwargs):
    """`load(name, **kwargs)` (a `from_pretrained`), turning 'missing', 'offline' and 'broken' into one-line
    UsageErrors that name the flag to fix."""
    path = Path(name).expanduser()
    if looks_local(name) and not path.exists():
        raise UsageError(f"{flag} {name} does not exist: pass a model directory or a hub id")
    if not path.exists() and not _in_hub_cache(name):
        require_hub(name, "model", flag)
    elif not path.exists() and hub_unreachable():
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = True  # use the cached copy: each library call would retry the hub for minutes
    if path.is_dir() and not (path / "config.json").is_file() and not (path / "tokenizer_config.json").is_file():
        held = ", ".join(sorted(p.name for p in path.iterdir())[:8]) or "nothing"
        # eval.py's --model_dir also takes a trained adapter, which eval.py recognises before loading anything.
        other = ("adapter_config.json (a trained adapter)" if flag == "--model_dir"
                 else "tokenizer_config.json (a tokenizer)")
        raise UsageError(f"{flag} {name} is not a model directory: expected config.json (a model) or {other}, "
                         f"found {held}")
    try:
        return load(name, **kwargs)
    except (OSError, ValueError) as err:
        if offline_or_network_error(err, name):
            raise UsageError(f"could not download model {name!r} (offline or unreachable hub): download it where "
                             f"you have network (`hf download {name}`) and pass its local directory with {flag}") from None
        raise UsageError(f"could not load {name!r} (given by {flag}): {first_line(err)}") from None


def _in_hub_cache(name: str) -> bool:
    """A hub id already downloaded loads without the network."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # an id that is not a valid repo name: let loading report it
        return False


def load_chat_tokenizer(name: str, flag: str, **kwargs):
    """The tokenizer whose chat template turns `data_utils.make_prompt` conversations into the model's prompt."""
    from transformers import AutoTokenizer

    tokenizer = load_pretrained(AutoTokenizer.from_pretrained, name, flag, **kwargs)
    if tokenizer.chat_template is None:
        raise UsageError(f"tokenizer of {name} has no chat template: use a chat/instruct model, or one whose "
                         f"tokenizer_config.json defines chat_template (given by {flag})")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def auto_dtype(bf16: bool | None = None, fp16: bool = False, explicit: str | None = None):
    """The weights' dtype: an explicit `--dtype`, else bf16/fp16 as asked, else bf16 on a GPU that supports it
    (when `bf16` is None, i.e. not decided by the caller), else fp32 (CPU)."""
    import torch

    if explicit not in (None, "auto"):
        return getattr(torch, explicit)
    if bf16 is None:
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32


def kv_cache(choice: str | None, use_vllm: bool = False) -> str | None:
    """--cache_implementation as generate() takes it. 'auto': a static KV cache on CUDA without vLLM (decoding
    launches fewer, fixed-shape kernels), transformers' dynamic cache (None) on CPU, where a static one is not
    faster; 'dynamic' is None too."""
    import torch

    if choice == "auto":
        return "static" if torch.cuda.is_available() and not use_vllm else None
    return None if choice == "dynamic" else choice


def launched_distributed() -> bool:
    """Several processes, or DeepSpeed: placement then belongs to accelerate."""
    return world_size() > 1 or os.environ.get("ACCELERATE_USE_DEEPSPEED") == "true"


def quantization_config(model_args):
    """TRL's bitsandbytes config for --load_in_4bit / --load_in_8bit (QLoRA), or None; refused where it can't run,
    and the 4-bit options refused without --load_in_4bit (they would be accepted and ignored)."""
    if not model_args.load_in_4bit:
        given = [flag for flag, value, default in [("--bnb_4bit_quant_type", model_args.bnb_4bit_quant_type, "nf4"),
                                                   ("--use_bnb_nested_quant", model_args.use_bnb_nested_quant, False),
                                                   ("--bnb_4bit_quant_storage", model_args.bnb_4bit_quant_storage, None)]
                 if value != default]
        if given:
            raise UsageError(f"{given[0]} only applies with --load_in_4bit true: add it, or drop {given[0]}")
    if not (model_args.load_in_4bit or model_args.load_in_8bit):
        return None
    flag = "--load_in_4bit" if model_args.load_in_4bit else "--load_in_8bit"
    if not model_args.use_peft:
        raise UsageError(f"{flag} trains a LoRA adapter on a frozen quantized model: drop --use_peft false")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UsageError(f"{flag} needs the bitsandbytes package: pip install bitsandbytes (or drop {flag})")
    from trl import get_quantization_config

    return get_quantization_config(model_args)


def load_policy(model_args, training_args):
    """The model to train, with the dtype, placement and quantization the run needs.

    In a single process the model goes straight to the GPU. Under `accelerate launch` (several processes or
    DeepSpeed) placement is left to accelerate: a `device_map` there triggers DeepSpeed's DeviceMesh assertion.
    A quantized model is always given a device_map (bitsandbytes places it while loading)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = auto_dtype(training_args.bf16, training_args.fp16, model_args.dtype)
    if model_args.model_revision not in (None, "main") and Path(model_args.model_name_or_path).expanduser().exists():
        raise UsageError(f"--model_revision {model_args.model_revision} picks a version of a hub model, but --model_id "
                         f"{model_args.model_name_or_path} is a local directory: drop --model_revision")
    quantization = quantization_config(model_args)
    device_map = None
    if (torch.cuda.is_available() and not launched_distributed()) or quantization is not None:
        device_map = {"": training_args.local_process_index if torch.cuda.is_available() else "cpu"}
    if quantization is not None and quantization.load_in_4bit and model_args.dtype in (None, "auto"):
        quantization.bnb_4bit_compute_dtype = dtype  # compute in the run's precision (bf16 on a GPU), not fp32
    kwargs = {"quantization_config": quantization} if quantization is not None else {}
    return load_pretrained(AutoModelForCausalLM.from_pretrained, model_args.model_name_or_path, "--model_id",
                           revision=model_args.model_revision, attn_implementation=model_args.attn_implementation,
                           dtype=dtype, device_map=device_map, **kwargs)


CHECKPOINTING_ABOVE = 3e9  # parameters: above this, activations dominate memory even with LoRA


def checkpointing_needed(params: int, use_peft: bool) -> bool:
    """The automatic --gradient_checkpointing rule (training and `--check`'s memory estimate)."""
    return not use_peft or params > CHECKPOINTING_ABOVE


def choose_gradient_checkpointing(model, model_args, training_args) -> str:
    """Settle --gradient_checkpointing when it was left to us; returns how it was chosen (for run_config.json).
    Off for LoRA on models that fit (it recomputes every layer in the backward pass, which is slower), on for full
    fine-tuning and large models, where activations are what runs out of memory."""
    if not getattr(training_args, "checkpointing_auto", False):
        return "flag"
    params = sum(p.numel() for p in model.parameters())
    chosen = checkpointing_needed(params, model_args.use_peft)
    training_args.activation_checkpointing = training_args.gradient_checkpointing = chosen
    return f"auto: {params / 1e9:.2f}B parameters, {'LoRA' if model_args.use_peft else 'full fine-tuning'}"


def lora_config(model_args):
    """TRL's LoRA config from the flags; `--lora_target_modules all-linear` means PEFT's shorthand, not a module."""
    from trl import get_peft_config

    if model_args.use_peft:
        for flag, ok, rule in [("--lora_r", model_args.lora_r >= 1, "at least 1"),
                               ("--lora_alpha", model_args.lora_alpha > 0, "positive"),
                               ("--lora_dropout", 0 <= model_args.lora_dropout < 1, "in [0, 1)")]:
            if not ok:
                raise UsageError(f"invalid LoRA options: {flag} {getattr(model_args, flag[2:])} must be {rule}")
    model_args.lora_target_modules = target_module_list(model_args.lora_target_modules)
    try:
        config = get_peft_config(model_args)
    except ValueError as err:  # PEFT's own validation, e.g. "`r` should be a positive integer value"
        raise UsageError(f"invalid LoRA options: {first_line(err)} (check --lora_r, --lora_alpha, --lora_dropout, "
                         "--lora_target_modules)") from None
    if config is not None and config.target_modules in ({"all-linear"}, ["all-linear"]):
        config.target_modules = "all-linear"
    return config


def target_module_list(modules):
    """--lora_target_modules as PEFT should read it: a list of module names, or the 'all-linear' shorthand, or None.
    A single name arrives as a string (TRL's ModelConfig unpacks a one-item list), which PEFT would treat as a
    regular expression matched against the whole module path, so `q_proj` would match nothing."""
    if isinstance(modules, str) and modules != "all-linear":
        return [modules]
    if isinstance(modules, (list, tuple)) and list(modules) == ["all-linear"]:
        return "all-linear"
    return modules


def model_skeleton(model_args):
    """The model's modules without its weights (on the meta device: no memory, no download of weights), to check
    names such as --lora_target_modules before the long load."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = load_pretrained(AutoConfig.from_pretrained, model_args.model_name_or_path, "--model_id",
                             revision=model_args.model_revision)
    with init_empty_weights():
        return AutoModelForCausalLM.from_config(config)


def adapter_base(name: str | None) -> str | None:
    """The base model that a LoRA adapter directory names (base_model_name_or_path in its adapter_config.json); None
    when `name` is not an adapter directory (a model directory or a hub id)."""
    config = Path(name).expanduser() / "adapter_config.json" if name else None
    if config is None or not config.is_file():
        return None
    base = read_record(config, "restore it from the run's final/ or best/ folder or a checkpoint-N/ copy, or "
                               "retrain").get("base_model_name_or_path")
    if not any((config.parent / weights).is_file() for weights in ADAPTER_WEIGHTS):
        raise UsageError(f"adapter {name} has adapter_config.json but no weights ({' or '.join(ADAPTER_WEIGHTS)}): it "
                         "was not saved completely or was copied without them; use the run's final/ or best/ folder "
                         "or a checkpoint-N/ copy")
    return str(base or "")


def check_adapter_base(adapter: str, base: str | None, named_by: str, fix: str) -> None:
    """The base model an adapter is loaded on must exist and be a model: an adapter directory as the base would stack
    two adapters (a wrong model, and no error). `named_by` says where `base` came from, `fix` how to give another."""
    if not base or (looks_local(base) and not Path(base).expanduser().exists()):
        raise UsageError(f"base model {base!r} of adapter {adapter} ({named_by}) cannot be found (moved, or trained "
                         f"elsewhere): {fix}")
    if adapter_base(base) is not None:
        raise UsageError(f"{named_by} {base} is itself an adapter directory, not a base model: {fix} (the "
                         f"base_model_name_or_path in {Path(base) / 'adapter_config.json'})")


ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def check_target_modules(model, target_modules) -> None:
    """LoRA --lora_target_modules that the model does not have: one line naming the modules it has (PEFT would
    raise deep inside the trainer, after the output directory was prepared)."""
    if not target_modules or isinstance(target_modules, str):  # None: PEFT's default; "all-linear": a shorthand
        return
    import torch

    keys = [name for name, _ in model.named_modules()]
    linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                     if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt")})
    # PEFT's rule for a list: a module matches when its name is the entry or ends with "." + the entry
    missing = [m for m in target_modules if not any(key == m or key.endswith("." + m) for key in keys)]
    if missing:
        raise UsageError(f"--lora_target_modules {' '.join(missing)}: the model has no such module; its linear "
                         f"modules are {' '.join(linear)} (or pass all-linear)")


def load_for_generation(base_model: str, adapter: str | None, flag: str, device: str | None = None):
    """A model ready for batched generation: the base, with the LoRA adapter merged in when one is given."""
    import torch
    from transformers import AutoModelForCausalLM

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_pretrained(AutoModelForCausalLM.from_pretrained, base_model, flag,
                            dtype=auto_dtype(None) if device != "cpu" else torch.float32)
    if adapter:
        from peft import PeftModel

        # Folding the LoRA deltas into the weights makes generation exactly as fast as the base model's.
        with warnings.catch_warnings():  # peft calls a deprecated transformers helper: noise, not news for the user
            warnings.simplefilter("ignore", FutureWarning)
            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model.to(device).eval()
