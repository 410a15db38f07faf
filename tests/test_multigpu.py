"""Multi-process training through `accelerate launch` + DeepSpeed, proven with 2 real processes on CPU.

The *_cpu.yaml configs run the same DeepSpeed ZeRO-2/ZeRO-3 code path as the GPU configs (gloo instead of NCCL,
fp32 instead of bf16). Each run trains a few steps on the demo fixtures with the demo's LoRA flags, so its adapter
can be compared tensor by tensor with the single-process demo adapter. The GPU configs cannot run here; they are
parsed the way `accelerate launch` parses them and their DeepSpeed section is validated by DeepSpeed itself.
"""
import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from conftest import REPO
from demo import DEMO_SYSTEM_PROMPT as SYSTEM_PROMPT

CONFIGS = REPO / "deepspeed_configs"
# DeepSpeed on a machine without GPU: pick its CPU accelerator explicitly (otherwise it warns and falls back).
LAUNCH_ENV = {"DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TIMEOUT = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_cmd(config: str, demo_dir: Path, output_dir: Path, *extra: str) -> list[str]:
    """`accelerate launch --config_file deepspeed_configs/<config> main.py ...` with the demo's model, data and LoRA."""
    return [
        sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch",
        "--config_file", str(CONFIGS / config), "--main_process_port", str(free_port()),
        "main.py",
        "--model_id", str(demo_dir / "base_model"), "--dataset_id", str(demo_dir / "data" / "train.jsonl"),
        "--output_dir", str(output_dir),
        "--learning_rate", "3e-4", "--lr_scheduler_type", "constant",
        "--batch_size", "2", "--num_generations", "4", "--max_completion_length", "16",
        "--lora_r", "16", "--lora_alpha", "32", "--lora_dropout", "0", "--lora_target_modules", "all-linear",
        "--gradient_checkpointing", "false", "--logging_steps", "1", "--report_to", "none",
        "--system_prompt", SYSTEM_PROMPT,
        *extra,
    ]


def launch(cmd: list[str]) -> subprocess.CompletedProcess:
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **LAUNCH_ENV}, capture_output=True, text=True,
                          timeout=TIMEOUT)
    proc.wall_s = time.monotonic() - start
    return proc


def output(proc) -> str:
    return f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"


def global_step(checkpoint: Path) -> int:
    return json.loads((checkpoint / "trainer_state.json").read_text())["global_step"]


def adapter_tensors(adapter_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(adapter_dir / "adapter_model.safetensors"))


def check_adapter(adapter_dir: Path, demo_dir: Path, same_as: Path | None = None) -> dict:
    """The checks a user cares about after a multi-process run; returns a small size summary.

    What must be equal, and what cannot be:
    * against the single-process demo adapter: the same tensor names and shapes only (the same model and LoRA
      settings). Its values differ by design: another number of steps, another batch (each process samples its own
      prompts), so another trajectory; no process count reproduces another one's numbers.
    * against `same_as` (the same run's last checkpoint, or an uninterrupted run of the same command): every tensor
      equal, value for value. Saving the final adapter must not change it (ZeRO-3 gathers shards to save it), and a
      resumed run restores each rank's optimizer shard, RNG state and data position, so it continues exactly.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    got, ref = adapter_tensors(adapter_dir), adapter_tensors(demo_dir / "adapter")
    assert got, f"empty adapter in {adapter_dir}"
    assert {k: tuple(v.shape) for k, v in got.items()} == {k: tuple(v.shape) for k, v in ref.items()}, \
        "adapter tensor names/shapes differ from the single-process adapter"
    assert all(t.numel() > 0 for t in got.values()), "a zero-size (still sharded) tensor was saved"
    lora_b = [t for k, t in got.items() if "lora_B" in k]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b), "lora_B is all zeros: the adapter did not train"
    if same_as is not None:
        expected = adapter_tensors(same_as)
        assert got.keys() == expected.keys()
        differ = [k for k in got if not torch.equal(got[k], expected[k])]
        assert not differ, f"{len(differ)} of {len(got)} tensors of {adapter_dir} differ from {same_as}: {differ[:3]}"

    # Reload on one process, as evaluation does, and check it changes the model's outputs (LoRA B starts at 0).
    base_dir = demo_dir / "base_model"
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    ids = tokenizer("What is 12 + 7?", return_tensors="pt").input_ids
    with torch.no_grad():
        base_logits = model(ids).logits.clone()
        tuned = PeftModel.from_pretrained(model, str(adapter_dir))
        tuned_logits = tuned(ids).logits
    assert (base_logits - tuned_logits).abs().max() > 1e-4, "the adapter does not change the model's outputs"
    size = lambda d: (d / "adapter_model.safetensors").stat().st_size  # noqa: E731
    return {"bytes": size(adapter_dir), "tensors": len(got), "ref_bytes": size(demo_dir / "adapter"),
            "ref_tensors": len(ref), "numel": sum(t.numel() for t in got.values())}


def check_main_process_only_output(proc, output_dir: Path, accumulation: int = 8) -> None:
    """Our own lines, the end-of-run summary and run_config.json come from the main process only."""
    assert proc.stdout.count("max_prompt_length=") == 1, output(proc)
    adopted = "gradient_accumulation_steps=8 (from deepspeed_config"
    assert proc.stdout.count(adopted) == (1 if accumulation == 8 else 0), output(proc)
    assert proc.stdout.count("Training finished after") == 1, output(proc)
    config = json.loads((output_dir / "run_config.json").read_text())
    assert config["finished"] is True
    assert config["training_args"]["gradient_accumulation_steps"] == accumulation


# ---------------------------------------------------------------------------------------------------------------
# Config files: parsed as `accelerate launch` parses them; DeepSpeed sections validated by DeepSpeed (fast).

ACCELERATE_CONFIGS = ["zero3.yaml", "zero2.yaml", "ddp.yaml", "zero2_cpu.yaml", "zero3_cpu.yaml"]


def parse_launch(*launch_args: str):
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    args = launch_command_parser().parse_args([*launch_args, "--main_process_port", str(free_port()), "main.py"])
    return _validate_launch_command(args)


def deepspeed_env(args, defaults) -> dict:
    """The environment `accelerate launch` gives each process for a DeepSpeed config."""
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    fields = list(defaults.deepspeed_config) if defaults is not None else []
    args.deepspeed_fields_from_accelerate_config = ",".join(fields)
    return prepare_deepspeed_cmd_env(args)[1]


def validate_with_deepspeed(config: dict, micro_batch: int = 2) -> None:
    """Fill what the trainer fills at run time, then let DeepSpeed's own config parser check every field."""
    from deepspeed.runtime.config import DeepSpeedConfig

    cfg = copy.deepcopy(config)
    gas = cfg.get("gradient_accumulation_steps")
    gas = 1 if gas in (None, "auto") else gas
    cfg.update(gradient_accumulation_steps=gas, train_micro_batch_size_per_gpu=micro_batch,
               train_batch_size=micro_batch * gas)  # DeepSpeed sees one process here
    cfg["gradient_clipping"] = 1.0
    cfg.pop("steps_per_print", None)
    for section in ("bf16", "fp16"):
        if cfg.get(section, {}).get("enabled") == "auto":
            cfg[section]["enabled"] = False
    zero = cfg["zero_optimization"]
    for key, value in list(zero.items()):
        if value == "auto":
            zero[key] = 64 * 64
    DeepSpeedConfig(cfg)


@pytest.mark.parametrize("name", ACCELERATE_CONFIGS)
def test_accelerate_config_parses(name):
    from accelerate.commands.launch import launch_command_parser
    from accelerate.utils import DeepSpeedPlugin, DistributedType

    args, defaults, _ = parse_launch("--config_file", str(CONFIGS / name))  # unknown top-level keys raise here
    assert args.num_processes == 2 and args.num_machines == 1
    if name.endswith("_cpu.yaml"):
        assert defaults.use_cpu is True and args.mixed_precision == "no"
    else:
        assert defaults.use_cpu is False and args.mixed_precision == "bf16"
    if name == "ddp.yaml":
        assert defaults.distributed_type == DistributedType.MULTI_GPU and args.multi_gpu
        return
    assert defaults.distributed_type == DistributedType.DEEPSPEED and args.use_deepspeed
    # accelerate copies each deepspeed_config key onto a launch option of the same name: a typo is silently ignored.
    options = {action.dest for action in launch_command_parser()._actions}
    assert set(defaults.deepspeed_config) <= options, set(defaults.deepspeed_config) - options
    stage = int(name[len("zero")])
    assert defaults.deepspeed_config["zero_stage"] == stage
    env = deepspeed_env(args, defaults)
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true" and env["ACCELERATE_GRADIENT_ACCUMULATION_STEPS"] == "8"
    with mock.patch.dict(os.environ, env, clear=True):
        plugin = DeepSpeedPlugin()
        plugin.set_mixed_precision(args.mixed_precision)
    config = plugin.deepspeed_config
    assert config["zero_optimization"]["stage"] == stage and config["gradient_accumulation_steps"] == 8
    assert config["bf16"]["enabled"] is (args.mixed_precision == "bf16")
    if stage == 3:
        assert plugin.zero3_init_flag and config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]
    validate_with_deepspeed(config)


def test_deepspeed_json_config_parses():
    """`accelerate launch --use_deepspeed --deepspeed_config_file ds_config_zero2.json --num_processes 2 main.py`"""
    from accelerate.utils import DeepSpeedPlugin

    path = CONFIGS / "ds_config_zero2.json"
    raw = json.loads(path.read_text())
    assert raw["zero_optimization"]["stage"] == 2
    # Every batch-size field is "auto", so the trainer's --batch_size / --gradient_accumulation_steps decide.
    for key in ("gradient_accumulation_steps", "train_batch_size", "train_micro_batch_size_per_gpu"):
        assert raw[key] == "auto", key
    args, defaults, _ = parse_launch("--use_deepspeed", "--deepspeed_config_file", str(path), "--num_processes", "2")
    env = deepspeed_env(args, defaults)
    assert env["ACCELERATE_DEEPSPEED_CONFIG_FILE"] == str(path)
    with mock.patch.dict(os.environ, env, clear=True):
        plugin = DeepSpeedPlugin()
    assert plugin.zero_stage == 2
    validate_with_deepspeed(plugin.deepspeed_config)


# ---------------------------------------------------------------------------------------------------------------
# The trainer/launcher agreement, as a unit (fast).

def fake_args(**kw):
    base = dict(gradient_accumulation_steps=1, per_device_train_batch_size=4, ddp_backend=None, use_cpu=False,
                deepspeed=None)
    return SimpleNamespace(**{**base, **kw})


def test_reconcile_adopts_or_refuses_the_launchers_accumulation(monkeypatch, tmp_path):
    from errors import UsageError
    from distributed import reconcile_with_launcher

    for var in ("ACCELERATE_DEEPSPEED_CONFIG_FILE", "LOCAL_RANK", "RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "8")
    args = fake_args()
    reconcile_with_launcher(args)  # left at the default: adopt the yaml's value
    assert args.gradient_accumulation_steps == 8
    args = fake_args(gradient_accumulation_steps=8)
    reconcile_with_launcher(args)
    assert args.gradient_accumulation_steps == 8
    with pytest.raises(UsageError, match=r"--gradient_accumulation_steps 2 disagrees with 8 from deepspeed_config"):
        reconcile_with_launcher(fake_args(gradient_accumulation_steps=2))

    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "auto")  # e.g. a --deepspeed_config_file run
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"gradient_accumulation_steps": 4, "train_micro_batch_size_per_gpu": 2,
                              "zero_optimization": {"stage": 2}}))
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_CONFIG_FILE", str(ds))
    with pytest.raises(UsageError, match=r"--gradient_accumulation_steps 2 disagrees with 4 from .*ds.json"):
        reconcile_with_launcher(fake_args(gradient_accumulation_steps=2, per_device_train_batch_size=2))
    with pytest.raises(UsageError, match=r"--per_device_train_batch_size 4 disagrees with train_micro_batch_size"):
        reconcile_with_launcher(fake_args(gradient_accumulation_steps=4))

    # DeepSpeed without CUDA: gloo, so that accelerate counts the real processes.
    monkeypatch.delenv("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    monkeypatch.setenv("LOCAL_RANK", "0")
    args = fake_args()
    with mock.patch("distributed.cuda_available", return_value=False):
        reconcile_with_launcher(args)
    assert args.ddp_backend == "gloo"


def test_no_launcher_changes_nothing(monkeypatch):
    from distributed import reconcile_with_launcher

    for var in ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_GRADIENT_ACCUMULATION_STEPS",
                "ACCELERATE_DEEPSPEED_CONFIG_FILE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    args = fake_args(gradient_accumulation_steps=3)
    reconcile_with_launcher(args)
    assert args.gradient_accumulation_steps == 3 and args.ddp_backend is None


# ---------------------------------------------------------------------------------------------------------------
# Real 2-process runs on CPU (slow).

@pytest.fixture(scope="module")
def zero3_run(demo_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("zero3") / "run"
    proc = launch(launch_cmd("zero3_cpu.yaml", demo_dir, out, "--max_steps", "4", "--save_steps", "2"))
    assert proc.returncode == 0, output(proc)
    return out, proc


@pytest.mark.slow
def test_zero2_two_processes(demo_dir, tmp_path):
    out = tmp_path / "run"
    proc = launch(launch_cmd("zero2_cpu.yaml", demo_dir, out, "--max_steps", "3", "--save_steps", "3"))
    assert proc.returncode == 0, output(proc)
    check_main_process_only_output(proc, out)
    assert global_step(out / "checkpoint-3") == 3
    assert sorted(p.name for p in (out / "checkpoint-3").glob("rng_state_*.pth")) == ["rng_state_0.pth",
                                                                                      "rng_state_1.pth"]
    sizes = check_adapter(out, demo_dir, same_as=out / "checkpoint-3")
    print(f"\nZeRO-2, 2 processes: {proc.wall_s:.1f} s wall; adapter {sizes}")


@pytest.mark.slow
def test_zero3_two_processes(zero3_run, demo_dir):
    out, proc = zero3_run
    check_main_process_only_output(proc, out)
    assert global_step(out / "checkpoint-4") == 4
    # Both ranks held a ZeRO-3 shard of the optimizer state in the checkpoint.
    shards = sorted(p.name for p in (out / "checkpoint-4").glob("global_step4/*optim_states.pt"))
    assert len(shards) == 2, shards
    sizes = check_adapter(out, demo_dir, same_as=out / "checkpoint-4")
    print(f"\nZeRO-3, 2 processes: {proc.wall_s:.1f} s wall; adapter {sizes}")


@pytest.mark.slow
def test_zero3_resume_after_interrupt(demo_dir, tmp_path, zero3_run):
    """Interrupt a ZeRO-3 run after its first checkpoint; the very same command then continues from there and ends
    with the adapter of the uninterrupted run (zero3_run: the same command, never stopped)."""
    out = tmp_path / "run"
    cmd = launch_cmd("zero3_cpu.yaml", demo_dir, out, "--max_steps", "4", "--save_steps", "2")
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **LAUNCH_ENV}, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out / "checkpoint-2" / "trainer_state.json").is_file():
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-5000:]
            assert time.monotonic() < deadline, "no checkpoint-2 in time"
            time.sleep(0.2)
        first.send_signal(signal.SIGINT)  # Ctrl-C: the launcher stops both ranks
        first.wait(timeout=120)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        log.close()
    assert first.returncode != 0
    steps = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if (p / "trainer_state.json").is_file())
    assert steps and steps[-1] < 4, f"the first run was not interrupted before its end: {steps}"

    # Re-run the same command with a fresh rendezvous port (the interrupted one may linger in TIME_WAIT).
    cmd[cmd.index("--main_process_port") + 1] = str(free_port())
    second = launch(cmd)
    assert second.returncode == 0, output(second)
    assert second.stdout.count(f"Resuming from checkpoint-{steps[-1]}") == 1, output(second)
    assert global_step(out / "checkpoint-4") == 4
    first_logged = [e["step"] for e in json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
                    ["log_history"] if "loss" in e]
    assert first_logged == list(range(1, 5)), first_logged  # steps 1..N from the first run, N+1..4 from the second
    assert re.search(rf"\b{steps[-1] + 1}/4\b", second.stderr), "the resumed run did not continue at the next step"
    check_adapter(out, demo_dir, same_as=zero3_run[0])


def the_one_error_line(proc) -> str:
    """A failed launch must say why in exactly one `error:` line, however many ranks ran."""
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output(proc)
    return errors[0]


@pytest.mark.slow
def test_accumulation_mismatch_is_one_line_error(demo_dir, tmp_path):
    """zero3_cpu.yaml says gradient_accumulation_steps: 8; an explicit other value must fail before DeepSpeed does."""
    proc = launch(launch_cmd("zero3_cpu.yaml", demo_dir, tmp_path / "run", "--max_steps", "2",
                             "--gradient_accumulation_steps", "2"))
    error = the_one_error_line(proc)
    assert "--gradient_accumulation_steps 2 disagrees with 8" in error, output(proc)
    assert "Please correct the following DeepSpeed config values" not in proc.stderr + proc.stdout
    assert "[rank0]: Traceback" not in proc.stderr and "[rank1]: Traceback" not in proc.stderr


@pytest.mark.slow
def test_generation_batch_counts_processes_and_adopted_accumulation(demo_dir, tmp_path):
    """2 per device x 2 processes x 8 accumulation (from the yaml) = 32 completions: not a multiple of 5."""
    proc = launch(launch_cmd("zero2_cpu.yaml", demo_dir, tmp_path / "run", "--max_steps", "2",
                             "--num_generations", "5"))
    error = the_one_error_line(proc)
    assert "generation batch 32 (= --per_device_train_batch_size 2 x 2 process(es) x 8 accumulation steps)" \
        in error, error
    assert "Traceback" not in proc.stderr.split("error: ")[0]


def with_json(cmd: list[str], json_name: str = "ds_config_zero2.json") -> list[str]:
    """The seed's form: `accelerate launch --config_file X --deepspeed_config_file <json> main.py ...`."""
    at = cmd.index("main.py")
    return cmd[:at] + ["--deepspeed_config_file", str(CONFIGS / json_name)] + cmd[at:]


@pytest.mark.slow
def test_deepspeed_json_yaml_runs_a_json_config(demo_dir, tmp_path):
    """deepspeed_json_cpu.yaml + --deepspeed_config_file: every DeepSpeed setting from the JSON, 2 real processes."""
    out = tmp_path / "run"
    proc = launch(with_json(launch_cmd("deepspeed_json_cpu.yaml", demo_dir, out, "--max_steps", "2",
                                       "--save_steps", "2")))
    assert proc.returncode == 0, output(proc)
    check_main_process_only_output(proc, out, accumulation=1)  # the JSON says "auto": the trainer's value
    assert global_step(out / "checkpoint-2") == 2
    check_adapter(out, demo_dir, same_as=out / "checkpoint-2")


@pytest.mark.slow
def test_json_with_a_yaml_that_has_deepspeed_settings_names_the_yaml_to_use(demo_dir, tmp_path):
    proc = launch(with_json(launch_cmd("zero2_cpu.yaml", demo_dir, tmp_path / "run", "--max_steps", "2")))
    error = the_one_error_line(proc)
    assert "deepspeed_configs/deepspeed_json_cpu.yaml" in error and "conflicts" in error, error
    assert not (tmp_path / "run").exists()
