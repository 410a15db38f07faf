"""Evaluation settings: the options of `python eval.py` (`EvalArguments`) and the one builder of the settings that
define results (`build_settings` -> `EvalSettings`), which decides once what an adapter inherits from its run
(prompt, rewards, lengths, data configuration) and records where each setting came from. Held-out evaluation during
training (callbacks.py), `main.py --check` (preflight.py), `python eval.py` and the benchmarks all build their
settings here, so the four agree by construction; eval.py generates, scores and writes with them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import benchmarks
import reward
from data_utils import DEFAULT_MAX_PROMPT_LENGTH, SYSTEM_PROMPT, check_split
from errors import UsageError
from models import adapter_base, check_adapter_base, kv_cache, looks_local
from runs import absolute, model_slug, read_json, read_run_config, slug

DEFAULT_MAX_COMPLETION_LENGTH = 512  # a plain model's; an adapter is evaluated at its run's length

@dataclass
class EvalArguments:
    model_dir: str | None = field(default=None, metadata={
        "help": "Trained adapter directory (e.g. ckpts/grpo), or a plain model directory or hub id (a baseline)."})
    base_model: str | None = field(default=None, metadata={
        "help": "The adapter's base model; default: base_model_name_or_path in its adapter_config.json."})
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer; default: the base model's."})
    baseline: bool = field(default=False, metadata={
        "help": "Evaluate the adapter's base model without the adapter, with the run's prompt and rewards."})
    dataset_id: str = field(default="AI-MO/NuminaMath-TIR", metadata={
        "help": "Hub data set id, or a local .json/.jsonl/.parquet/.csv file or directory."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub data set configuration name, if any."})
    split: str | None = field(default=None, metadata={
        "help": "Split, slicing allowed: 'test', 'test[:5%%]', 'train[:20]'; default: 'test[:5%%]' of a hub data "
                "set, all of a local file or directory ('test')."})
    prompt_column: str | None = field(default=None, metadata={
        "help": "Column holding the problem; default: the run's (run_config.json), else 'problem'."})
    solution_column: str | None = field(default=None, metadata={
        "help": "Column holding the reference; default: the run's, else 'solution'."})
    system_prompt: str | None = field(default=None, metadata={
        "help": "System prompt; default: the run's, else data_utils.SYSTEM_PROMPT."})
    reward_funcs: list[str] | None = field(default=None, metadata={
        "help": "Rewards summed into each sample's 'reward'; default: the run's, else format accuracy."})
    reward_weights: list[float] | None = field(default=None, metadata={
        "help": "One weight per reward; default: the run's, else 1.0 each."})
    overlong_buffer: int | None = field(default=None, metadata={
        "help": "Tokens before the run's max_completion_length where the 'overlong' reward starts to punish; default: "
                "the run's, else a quarter of it."})
    max_samples: int | None = field(default=None, metadata={
        "help": "Evaluate only the first N problems that fit --max_prompt_length (as --eval_max_samples does in "
                "training)."})
    batch_size: int = field(default=16, metadata={"help": "Completions generated together."})
    max_prompt_length: int | None = field(default=None, metadata={
        "help": "Skip prompts longer than this many chat-formatted tokens, as training does (0 keeps all); "
                f"default: the run's, else {DEFAULT_MAX_PROMPT_LENGTH}."})
    max_completion_length: int | None = field(default=None, metadata={
        "help": "Max new tokens per completion; default: the run's (as it was trained), else "
                f"{DEFAULT_MAX_COMPLETION_LENGTH}."})
    num_samples: int = field(default=1, metadata={
        "help": "Completions per problem; above 1, sample and report pass@k and maj@k."})
    temperature: float | None = field(default=None, metadata={
        "help": "Sampling temperature; default 0 (greedy) for --num_samples 1, else 1.0."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling threshold (when sampling)."})
    seed: int = field(default=42, metadata={"help": "Seed; each batch is seeded from it, so resumed runs reproduce."})
    seeds: list[int] | None = field(default=None, metadata={
        "help": "Repeat a sampled evaluation once per seed (e.g. 0 1 2; each its own result file) and report the mean, "
                "the spread and each seed's figure; refused for greedy decoding, where seeds change nothing."})
    use_vllm: bool = field(default=False, metadata={"help": "Generate with vLLM (needs vllm and a CUDA GPU)."})
    cache_implementation: str = field(default="auto", metadata={
        "help": "KV cache: 'static' (faster decoding on a GPU), 'dynamic'; 'auto': static on CUDA, dynamic on CPU. "
                "Greedy tokens are the same either way.", "choices": ["auto", "static", "dynamic"]})
    output_file: str | None = field(default=None, metadata={
        "help": "Result JSON; default results/<model>__<adapter|baseline|model>__<data>_<split>.json. Progress goes "
                "to <output_file>.partial.jsonl until it is written."})
    overwrite: bool = field(default=False, metadata={
        "help": "Replace an existing --output_file that was made with other settings."})
    benchmarks: list[str] | None = field(default=None, metadata={
        "help": "Evaluate on these standard benchmarks and write one table (results/<model>__<style>..."
                "__benchmarks.md and .json): " + " ".join(benchmarks.BENCHMARKS) + "; see docs/benchmarks.md.",
        "choices": list(benchmarks.BENCHMARKS), "metavar": "NAME"})
    benchmark_dir: str | None = field(default=None, metadata={
        "help": "With --benchmarks: read DIR/<name>/test.jsonl (the layout of Qwen2.5-Math's evaluation/data) "
                "instead of the hub."})
    compare_baseline: bool = field(default=False, metadata={
        "help": "With --benchmarks: evaluate the adapter's base model too; the table shows both and the change."})
    prompt_style: str | None = field(default=None, metadata={
        "help": "think: the run's <think>/<answer> system prompt and rewards; boxed: 'Please reason step by step, and "
                "put your final answer within \\boxed{}.' graded on accuracy. Default with --benchmarks: think for "
                "an adapter, boxed for a plain model; without: the run's settings.", "choices": ["think", "boxed"]})
    write_pass_rates: str | None = field(default=None, metadata={
        "help": "Write each problem's pass rate (correct share of its --num_samples completions) to this .jsonl."})
    write_filtered: str | None = field(default=None, metadata={
        "help": "Write the data set's rows (all columns) whose pass rate is strictly between --pass_rate_min and "
                "--pass_rate_max to this .jsonl, for training (open-r1's pass-rate filtering)."})
    pass_rate_min: float | None = field(default=None, metadata={
        "help": "With --write_filtered: keep problems whose pass rate is above this (default 0: drop never-solved)."})
    pass_rate_max: float | None = field(default=None, metadata={
        "help": "With --write_filtered: keep problems whose pass rate is below this (default 1: drop always-solved)."})


# ----------------------------------------------------------------------------------------------------------------------
# Settings: everything that defines the results. They key the partial file (asdict() is its header), so a resume never
# mixes two settings; batch_size is part of the key because sampling is seeded per batch.

@dataclass(frozen=True)
class EvalSettings:
    model_dir: str
    adapter: str | None  # None: a plain model or --baseline
    adapter_sha256: str | None  # retraining into the same directory makes another model: the hash tells them apart
    base_model: str
    tokenizer: str
    dataset_id: str
    dataset_config: str | None
    split: str
    prompt_column: str
    solution_column: str
    system_prompt: str
    reward_funcs: tuple[str, ...]
    reward_weights: tuple[float, ...]
    max_prompt_length: int | None
    max_samples: int | None
    max_completion_length: int
    num_samples: int
    temperature: float
    top_p: float
    seed: int
    batch_size: int
    backend: str
    overlong_buffer: int | None = None  # the overlong reward as training computed it: the run's buffer ...
    overlong_length: int | None = None  # ... and the run's max_completion_length (None: this evaluation's)
    sources: dict = field(default_factory=dict, compare=False)  # where each inherited setting came from: not a key
    cache_implementation: str | None = field(default=None, compare=False)  # speed only, same tokens: not a key

    def key(self) -> dict:
        """The settings that define the results (the fields not marked compare=False), as JSON values: the partial
        file's header and the summary's first fields."""
        values = asdict(self)
        return json.loads(json.dumps({f.name: values[f.name] for f in fields(self) if f.compare}))


# What an evaluation inherits from the run that trained the adapter unless a flag overrides it, and the default for a
# plain model. One decision for eval.py, held-out evaluation during training, `--check` and the benchmarks: the
# held-out figure logged at step N is then exactly what `python eval.py --model_dir <output_dir>/checkpoint-N` reports.
INHERITED = {"system_prompt": SYSTEM_PROMPT, "prompt_column": "problem", "solution_column": "solution",
             "reward_funcs": tuple(reward.DEFAULT_REWARDS), "max_prompt_length": DEFAULT_MAX_PROMPT_LENGTH,
             "max_completion_length": DEFAULT_MAX_COMPLETION_LENGTH, "overlong_buffer": None, "dataset_config": None}


def run_record(script_args, training_args) -> dict:
    """The settings a run records in run_config.json for evaluation to inherit (train.py writes them; held-out
    evaluation and `--check` read them before the file exists)."""
    held_out = absolute(script_args.eval_dataset_id)
    eval_config = getattr(script_args, "eval_dataset_config", None)
    if eval_config is None and held_out == absolute(script_args.dataset_id):
        eval_config = script_args.dataset_config  # the training set's own held-out split: the same configuration
    return {
        "dataset_id": absolute(script_args.dataset_id), "dataset_split": script_args.dataset_split,
        "dataset_config": script_args.dataset_config,
        "eval_dataset_id": held_out, "eval_split": script_args.eval_split if held_out else None,
        "eval_dataset_config": eval_config if held_out else None,
        "eval_prompt_column": script_args.eval_prompt_column, "eval_solution_column": script_args.eval_solution_column,
        "eval_max_samples": script_args.eval_max_samples,
        "system_prompt": script_args.system_prompt, "prompt_column": script_args.prompt_column,
        "solution_column": script_args.solution_column,
        "reward_funcs": [reward.recorded_reward_spec(spec) for spec in script_args.reward_funcs],
        "reward_weights": list(training_args.reward_weights or [1.0] * len(script_args.reward_funcs)),
        "max_prompt_length": script_args.max_prompt_length,
        "max_completion_length": training_args.max_completion_length,
        "overlong_buffer": script_args.overlong_buffer,
    }


def recorded(run: dict, name: str):
    """A setting from run_config.json; runs made before it was recorded at the top level keep it in script_args."""
    return run[name] if name in run else (run.get("script_args") or {}).get(name)


def run_data(run: dict, dataset_id: str, split: str) -> str | None:
    """Which of the run's data sets an evaluation reads: 'held-out' (its --eval_dataset_id), 'training' (its
    --dataset_id) or None (other data: nothing about the data is inherited)."""
    dataset_id = absolute(dataset_id)
    held_out, training = recorded(run, "eval_dataset_id"), recorded(run, "dataset_id")
    if held_out and absolute(held_out) == dataset_id and (split == recorded(run, "eval_split") or held_out != training):
        return "held-out"
    return "training" if training and absolute(training) == dataset_id else None


def run_values(run: dict, data: str | None) -> dict:
    """The inherited settings as the run recorded them, for the data set evaluated (`run_data`)."""
    values = {name: run[name] for name in INHERITED if name in run and name != "dataset_config"}
    if data == "held-out":
        for name in ("prompt_column", "solution_column"):
            values[name] = recorded(run, f"eval_{name}") or values.get(name, INHERITED[name])
        values["dataset_config"] = recorded(run, "eval_dataset_config" if "eval_dataset_config" in run
                                            else "dataset_config")
    elif data == "training":
        values["dataset_config"] = recorded(run, "dataset_config")
    return values


def inherit(args: EvalArguments, run: dict) -> tuple[dict, dict]:
    """Each inherited setting from the flag, else the run's run_config.json, else the default; and where each came
    from ('flag', 'run' or 'default')."""
    from_run = run_values(run, run_data(run, args.dataset_id, split_of(args))) if run else {}
    values, sources = {}, {}
    for name, default in INHERITED.items():
        if getattr(args, name) is not None:
            values[name], sources[name] = getattr(args, name), "flag"
        elif name in from_run:
            values[name], sources[name] = from_run[name], "run"
        else:
            values[name], sources[name] = default, "default"
    values["reward_funcs"] = tuple(values["reward_funcs"])
    if args.reward_weights is not None:
        weights, sources["reward_weights"] = args.reward_weights, "flag"
    elif list(values["reward_funcs"]) == run.get("reward_funcs"):
        weights, sources["reward_weights"] = run.get("reward_weights"), "run"
    else:
        weights, sources["reward_weights"] = None, "default"
    values["reward_weights"] = tuple(float(w) for w in weights or [1.0] * len(values["reward_funcs"]))
    values["max_prompt_length"] = values["max_prompt_length"] or None  # 0 keeps all prompts
    return values, sources


def resolve_settings(args: EvalArguments) -> EvalSettings:
    """The settings `args` asks for on a saved model: the adapter and its base found on disk, the rest decided by
    `build_settings` from the flags and the run's run_config.json."""
    if not args.model_dir:
        raise UsageError("--model_dir is required: a trained adapter directory (e.g. ckpts/grpo), or a base model "
                         "directory or hub id for a baseline")
    check_exists(args.model_dir, "--model_dir")
    model_dir = Path(args.model_dir).expanduser()
    recorded_base = adapter_base(args.model_dir)  # None for a plain model or a hub id
    adapter_config = read_json(model_dir / "adapter_config.json") if recorded_base is not None else {}
    run = read_run_config(model_dir) if adapter_config else {}
    if adapter_config:
        base = args.base_model or recorded_base
        check_adapter_base(args.model_dir, base, "--base_model" if args.base_model else
                           f"base_model_name_or_path in {args.model_dir}",
                           "pass its location with --base_model path/to/base_model")
    elif args.base_model or args.baseline:
        raise UsageError(f"{args.model_dir} is not an adapter directory (no adapter_config.json): --base_model and "
                         "--baseline only apply to a trained adapter; to evaluate a plain model just pass --model_dir")
    else:
        base = args.model_dir
    if args.use_vllm:
        check_vllm()
    with_adapter = bool(adapter_config) and not args.baseline
    return build_settings(args, run, model_dir=absolute(args.model_dir), base_model=absolute(base),
                          adapter_sha256=weights_digest(model_dir) if with_adapter else None, with_adapter=with_adapter)


def build_settings(args: EvalArguments, run: dict, model_dir: str, base_model: str, adapter_sha256: str | None = None,
                   with_adapter: bool = False) -> EvalSettings:
    """The one builder of evaluation settings: eval.py, held-out evaluation during training (`run` made by
    `run_record` before run_config.json exists), `--check` and the benchmarks all get theirs here. Raises UsageError
    for an option out of range or a reward that cannot be resolved."""
    split = split_of(args)
    check_split(split, "--split")
    inherited, sources = inherit(args, run)
    temperature = args.temperature if args.temperature is not None else (0.0 if args.num_samples == 1 else 1.0)
    for ok, problem in [(args.batch_size >= 1, "--batch_size must be at least 1"),
                        (args.num_samples >= 1, "--num_samples must be at least 1"),
                        (inherited["max_completion_length"] >= 1, "--max_completion_length must be at least 1"),
                        ((args.max_samples or 1) >= 1, "--max_samples must be at least 1"),
                        ((args.max_prompt_length or 0) >= 0, "--max_prompt_length must be 0 (keep all) or positive"),
                        (temperature >= 0, "--temperature must be 0 (greedy) or positive"),
                        (0 < args.top_p <= 1, "--top_p must be in (0, 1]"),
                        (args.num_samples == 1 or temperature > 0,
                         "--num_samples above 1 needs sampling (greedy decoding repeats one completion): "
                         "pass --temperature 0.7")]:
        if not ok:
            raise UsageError(problem)
    # The overlong reward as training computed it: the run's length, even where this evaluation allows another.
    overlong_length = run.get("max_completion_length") or inherited["max_completion_length"]
    return EvalSettings(
        model_dir=model_dir, adapter=model_dir if with_adapter else None, adapter_sha256=adapter_sha256,
        base_model=base_model, tokenizer=absolute(args.tokenizer) or base_model,
        dataset_id=absolute(args.dataset_id), split=split, **inherited, max_samples=args.max_samples,
        num_samples=args.num_samples, temperature=temperature, top_p=args.top_p, seed=args.seed,
        batch_size=args.batch_size, backend="vllm" if args.use_vllm else "transformers",
        overlong_length=overlong_length, sources=sources,
        cache_implementation=kv_cache(args.cache_implementation, args.use_vllm))


def split_of(args: EvalArguments) -> str:
    """--split, else all of a local file or directory (it is one split), else a hub data set's first 5% of 'test'."""
    return args.split or ("test" if Path(args.dataset_id).expanduser().exists() else "test[:5%]")


def default_output_file(args: EvalArguments) -> str:
    """results/<model>__<mode>__<data>_<split>.json: a baseline, another split or another checkpoint never lands
    on the same file."""
    is_adapter = (Path(args.model_dir).expanduser() / "adapter_config.json").is_file()
    mode = "baseline" if args.baseline else "adapter" if is_adapter else "model"
    local = Path(args.dataset_id).expanduser().exists()
    data = Path(args.dataset_id).stem if local else args.dataset_id.split("/")[-1]
    return f"results/{model_slug(args.model_dir)}__{mode}__{slug(data)}_{slug(split_of(args))}.json"


def check_exists(name: str, flag: str) -> None:
    if looks_local(name) and not Path(name).expanduser().exists():
        # Name runs that do exist: an example path ("e.g. ckpts/grpo") would send the user to the path just missed.
        runs = sorted(str(p.parent) for p in Path("ckpts").glob("*/adapter_config.json"))[:4]
        found = f" (trained adapters here: {', '.join(runs)})" if runs else ""
        raise UsageError(f"{flag} {name} does not exist: pass a trained adapter directory{found}, or a base model "
                         "directory or hub id")


def weights_digest(adapter_dir: Path) -> str | None:
    for name in ("adapter_model.safetensors", "adapter_model.bin"):
        if (adapter_dir / name).is_file():
            digest = hashlib.sha256()
            with open(adapter_dir / name, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            return digest.hexdigest()[:16]
    return None


def check_vllm() -> None:
    import torch

    try:
        import vllm  # noqa: F401
    except ImportError:
        raise UsageError("--use_vllm needs vLLM (pip install vllm) on a CUDA GPU machine: drop --use_vllm to "
                         "generate with transformers") from None
    if not torch.cuda.is_available():
        raise UsageError("--use_vllm needs a CUDA GPU but none is available: drop --use_vllm")
