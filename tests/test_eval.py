"""eval.py on the demo fixtures: the tiny base model, its GRPO adapter and the local test split, all real."""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import eval as evaluation
import reward
from conftest import REPO, run_cli

FAST = {"split": "test[:16]", "batch_size": 4, "max_completion_length": 32}  # seconds on 2 CPU cores
SAMPLE_FIELDS = {"prompt", "completion", "solution", "reward", "accuracy", "format", "extracted_answer",
                 "completion_tokens", "truncated"}
SUMMARY_FIELDS = {"model_dir", "adapter", "base_model", "dataset_id", "split", "temperature", "top_p", "num_samples",
                  "seed", "num_completions", "accuracy", "format_mean", "truncated_fraction", "wall_time_s",
                  "tokens_per_second"}


def run_eval(demo_dir, output_file, model="adapter", **overrides):
    args = evaluation.EvalArguments(model_dir=str(demo_dir / model), output_file=str(output_file),
                                    **{"dataset_id": str(demo_dir / "data" / "test.jsonl"), **FAST, **overrides})
    return evaluation.evaluate(args)


def without_timing(result):
    return {**result, "summary": {k: v for k, v in result["summary"].items() if k not in evaluation.TIMING_KEYS}}


@pytest.fixture(scope="module")
def adapter_result(demo_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "adapter.json"
    return run_eval(demo_dir, out), out


def test_output_has_every_field_and_scores_are_reward_py(adapter_result):
    result, out = adapter_result
    assert json.loads(out.read_text()) == result
    assert not Path(str(out) + ".partial.jsonl").exists()
    summary, samples = result["summary"], result["samples"]
    assert SUMMARY_FIELDS <= summary.keys()
    assert summary["adapter"] and summary["num_completions"] == len(samples) == 16
    for s in samples:
        assert SAMPLE_FIELDS <= s.keys()
        assert s["accuracy"] == reward.accuracy_reward([s["completion"]], solution=[s["solution"]])[0]
        assert s["format"] == reward.format_reward([s["completion"]])[0]
        assert s["extracted_answer"] == reward.extract_answer(s["completion"])
        assert s["reward"] == pytest.approx(s["format"] + s["accuracy"])  # the run's rewards, weights 1.0 each
        assert 1 <= s["completion_tokens"] <= FAST["max_completion_length"]
        assert not s["truncated"] or s["completion_tokens"] == FAST["max_completion_length"]
    accuracies = [s["accuracy"] for s in samples]
    assert summary["accuracy"] == pytest.approx(sum(accuracies) / len(accuracies))
    assert summary["format_mean"] == pytest.approx(sum(s["format"] for s in samples) / len(samples))
    assert summary["truncated_fraction"] == pytest.approx(sum(s["truncated"] for s in samples) / len(samples))
    # The prompt is training's, with the system prompt read back from the run's run_config.json.
    run_config = json.loads((Path(summary["adapter"]) / "run_config.json").read_text())
    assert samples[0]["prompt"][0] == {"role": "system", "content": run_config["system_prompt"]}


def test_adapter_results_differ_from_baseline(demo_dir, adapter_result, tmp_path):
    adapter = adapter_result[0]
    # --baseline: the run's base model with the run's prompt and rewards; a plain model dir works too.
    baseline = run_eval(demo_dir, tmp_path / "baseline.json", baseline=True)
    # A plain model has no run_config.json: the run's system prompt is passed explicitly for a fair comparison.
    plain = run_eval(demo_dir, tmp_path / "plain.json", model="base_model",
                     system_prompt=adapter["summary"]["system_prompt"])
    assert baseline["summary"]["adapter"] is None and plain["summary"]["adapter"] is None
    assert baseline["summary"]["base_model"] == plain["summary"]["base_model"] == adapter["summary"]["base_model"]
    assert [s["prompt"] for s in baseline["samples"]] == [s["prompt"] for s in adapter["samples"]]
    assert [s["completion"] for s in baseline["samples"]] == [s["completion"] for s in plain["samples"]]
    assert [s["completion"] for s in baseline["samples"]] != [s["completion"] for s in adapter["samples"]]


def test_sampling_reports_pass_and_maj_at_k_reproducibly(demo_dir, tmp_path):
    kwargs = {"split": "test[:4]", "num_samples": 4, "temperature": 1.0, "max_completion_length": 16}
    first = run_eval(demo_dir, tmp_path / "a.json", **kwargs)
    again = run_eval(demo_dir, tmp_path / "b.json", **kwargs)
    summary = first["summary"]
    assert summary["num_completions"] == 16 and summary["num_problems"] == 4
    assert len({s["completion"] for s in first["samples"]}) > 1  # sampled, not greedy
    assert first["samples"] == again["samples"]  # seeded
    assert 0 <= summary["maj@4"] <= summary["pass@4"] <= 1


def sample(index, answer, accuracy, number=0):
    return {"index": index, "sample": number, "extracted_answer": answer, "accuracy": accuracy, "format": 1.0,
            "reward": accuracy, "truncated": False, "completion_tokens": 10}


# Four problems x four samples, (extracted answer, accuracy) each, and what pass@4 and maj@4 count for each by hand.
GROUPS = [
    ([("2", 1.0), ("3", 0.0), ("3", 0.0), (None, 0.0)], 1, 0),  # one right: passes; "3" wins the vote, wrong
    ([("5", 1.0), ("7", 0.0), ("5", 1.0), ("7", 0.0)], 1, 1),  # a 2-2 tie: the answer seen first ("5") wins
    ([(None, 0.0)] * 4, 0, 0),  # no answer at all: neither
    ([("9", 1.0), ("9", 1.0), ("1", 0.0), ("9", 1.0)], 1, 1),
]


def test_pass_and_maj_at_k_count_as_computed_by_hand():
    run = {"reward_funcs": ["accuracy"], "max_completion_length": 16}
    settings = evaluation.build_settings(evaluation.EvalArguments(
        model_dir="m", dataset_id="d", split="test", num_samples=4, temperature=1.0), run, "m", "m")
    samples = [sample(i, answer, accuracy, j) for i, (group, _, _) in enumerate(GROUPS)
               for j, (answer, accuracy) in enumerate(group)]
    summary = evaluation.summarize(settings, samples, len(GROUPS), 0, {})
    assert [evaluation.majority_correct(samples[4 * i:4 * i + 4]) for i in range(4)] == [g[2] for g in GROUPS]
    assert (summary["pass@4"], summary["maj@4"]) == (0.75, 0.5)  # 3 of 4 problems pass, 2 of 4 majorities right
    assert (summary["accuracy"], summary["correct"], summary["scored"]) == (6 / 16, 6, 16)  # 1 + 2 + 0 + 3 right


def varied_lengths_file(demo_dir, tmp_path, n=16):
    """Test problems padded with a varying number of words, so their prompts differ in length."""
    rows = [json.loads(line) for line in open(demo_dir / "data" / "test.jsonl")][:n]
    path = tmp_path / "varied.jsonl"
    path.write_text("".join(json.dumps({**r, "problem": "Please " * i + r["problem"]}) + "\n" for i, r in enumerate(rows)))
    return path


def test_long_prompts_are_skipped_and_counted(demo_dir, tmp_path, capsys):
    data = varied_lengths_file(demo_dir, tmp_path)
    settings = evaluation.resolve_settings(evaluation.EvalArguments(
        model_dir=str(demo_dir / "adapter"), dataset_id=str(data), split="test", max_prompt_length=0))
    rows, _ = evaluation.load_prompts(settings, evaluation.load_tokenizer(settings))
    lengths = sorted(len(r["prompt_ids"]) for r in rows)
    limit = lengths[len(lengths) // 2]
    assert lengths[0] <= limit < lengths[-1], "prompts should differ in length"
    result = run_eval(demo_dir, tmp_path / "short.json", dataset_id=str(data), split="test", max_prompt_length=limit,
                      max_completion_length=4)
    skipped = sum(n > limit for n in lengths)
    assert result["summary"]["skipped_prompts"] == skipped
    assert result["summary"]["num_problems"] == 16 - skipped
    assert f"skipped {skipped} of 16 prompts" in capsys.readouterr().out


def test_prompt_settings_are_inherited_from_the_run(demo_dir, tmp_path):
    """max_prompt_length, system prompt, columns and rewards come from run_config.json unless a flag overrides them
    (eval.py used to default to 256 tokens while training kept prompts up to the run's 512)."""
    run = json.loads((demo_dir / "adapter" / "run_config.json").read_text())
    data = varied_lengths_file(demo_dir, tmp_path)
    settings = evaluation.resolve_settings(evaluation.EvalArguments(
        model_dir=str(demo_dir / "adapter"), dataset_id=str(data), split="test"))
    assert settings.max_prompt_length == run["max_prompt_length"] and settings.system_prompt == run["system_prompt"]
    assert list(settings.reward_funcs) == run["reward_funcs"]
    assert settings.sources["max_prompt_length"] == "run" and settings.sources["system_prompt"] == "run"
    flagged = evaluation.resolve_settings(evaluation.EvalArguments(
        model_dir=str(demo_dir / "adapter"), dataset_id=str(data), split="test", max_prompt_length=40))
    assert flagged.max_prompt_length == 40 and flagged.sources["max_prompt_length"] == "flag"
    # Every prompt training kept is evaluated: the parity the old 256-token default broke.
    tokenizer = evaluation.load_tokenizer(settings)
    rows, skipped = evaluation.load_prompts(settings, tokenizer)
    assert skipped == 0 and len(rows) == 16
    # A plain model has no run: the error names the default it used and the flag to change.
    plain = evaluation.resolve_settings(evaluation.EvalArguments(
        model_dir=str(demo_dir / "base_model"), dataset_id=str(data), split="test", system_prompt="x " * 600))
    assert plain.sources["max_prompt_length"] == "default"
    with pytest.raises(evaluation.UsageError, match=r"--max_prompt_length 512 \(the default\).*pass --max_prompt_length"):
        evaluation.load_prompts(plain, tokenizer)


@pytest.mark.slow
def test_resume_after_kill_equals_uninterrupted_run(demo_dir, tmp_path):
    # Sampled, so the per-batch seeding is tested too; 64 batches leave plenty of time to kill it after the first.
    flags = {"split": "test", "batch_size": 2, "max_completion_length": 32, "num_samples": 2, "temperature": 1.0}
    argv = ["eval.py", "--model_dir", demo_dir / "adapter", "--dataset_id", demo_dir / "data" / "test.jsonl",
            "--output_file", tmp_path / "resumed.json", *[x for k, v in flags.items() for x in (f"--{k}", v)]]
    partial = tmp_path / "resumed.json.partial.jsonl"
    proc = subprocess.Popen([sys.executable, *map(str, argv)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not (partial.exists() and len(partial.read_text().splitlines()) >= 3):  # header + one batch
            assert proc.poll() is None and time.time() < deadline, "eval.py ended before it could be killed"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert not (tmp_path / "resumed.json").exists()
    finished = len(partial.read_text().splitlines()) - 1
    assert 2 <= finished < 128

    resumed = run_cli(*argv)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stdout
    assert resumed.stdout.strip().splitlines()[-1].startswith("accuracy: ")
    assert not partial.exists()
    uninterrupted = run_eval(demo_dir, tmp_path / "uninterrupted.json", **flags)
    assert without_timing(json.loads((tmp_path / "resumed.json").read_text())) == without_timing(uninterrupted)


def test_refuses_to_mix_results_from_different_settings(demo_dir, tmp_path, capsys):
    args = evaluation.EvalArguments(model_dir=str(demo_dir / "adapter"), output_file=str(tmp_path / "out.json"),
                                    dataset_id=str(demo_dir / "data" / "test.jsonl"), **FAST)
    settings = {**evaluation.resolve_settings(args).key(), "split": "test[:8]"}
    partial = tmp_path / "out.json.partial.jsonl"
    partial.write_text(json.dumps({"settings": settings}) + "\n")
    argv = ["--model_dir", args.model_dir, "--dataset_id", args.dataset_id, "--output_file", args.output_file,
            "--split", FAST["split"], "--max_completion_length", str(FAST["max_completion_length"]),
            "--batch_size", str(FAST["batch_size"])]
    assert evaluation.main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "different settings (split)" in err and "delete it" in err
    assert partial.read_text() == json.dumps({"settings": settings}) + "\n"
    assert not (tmp_path / "out.json").exists()


def test_partial_reader_counts_the_lines_it_drops(demo_dir, tmp_path, capsys):
    """A torn last line (a killed run) and a damaged line in the middle are both dropped, said in one line with
    their count, and the file is rewritten with the readable records only, so that appends stay valid."""
    settings = evaluation.resolve_settings(evaluation.EvalArguments(
        model_dir=str(demo_dir / "adapter"), dataset_id=str(demo_dir / "data" / "test.jsonl"), **FAST))
    header = json.dumps({"settings": settings.key()})
    records = [json.dumps({"index": i, "sample": 0, "completion": "x"}) for i in range(2)]
    partial = tmp_path / "out.json.partial.jsonl"
    partial.write_text("\n".join([header, records[0], "not json", records[1], '{"index": 2, "sam']) + "\n")
    done = evaluation.read_partial(partial, settings)
    assert sorted(done) == [(0, 0), (1, 0)]
    assert "dropped 2 unreadable line(s)" in capsys.readouterr().out
    assert partial.read_text().splitlines() == [header, *records]


@pytest.fixture
def moved_adapter(demo_dir, tmp_path):
    """The demo adapter, copied, as if its base model had been moved away."""
    adapter = Path(shutil.copytree(demo_dir / "adapter", tmp_path / "moved_adapter"))
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "/gone/base"}))
    return adapter


@pytest.mark.parametrize("case, flags, message", [
    ("no model", [], "--model_dir is required"),
    ("missing dir", ["--model_dir", "./ckpts/no_such_run"], "does not exist"),
    ("base moved", ["--model_dir", "MOVED"], "pass its location with --base_model"),
    ("offline hub id", ["--model_dir", "Qwen/Qwen2.5-0.5B-Instruct"], "could not download model"),
    ("unknown split", ["--dataset_id", "DATA_DIR", "--split", "tset"], "split 'tset' does not exist"),
    ("missing column", ["--prompt_column", "question"], "no column(s) question"),
    ("greedy pass@k", ["--num_samples", "4", "--temperature", "0"], "--temperature"),
    ("no vllm", ["--use_vllm"], "--use_vllm needs"),
    ("bad flag", ["--batch_size", "many"], "invalid int value"),
    ("empty split", ["--split", "test[:0]"], "selects no rows"),
    ("not a model", ["--model_dir", "DATA_DIR"], "expected config.json (a model) or adapter_config.json"),
    ("corrupt data", ["--dataset_id", "CORRUPT"], "could not read data set"),
    ("negative limit", ["--max_prompt_length", "-5"], "--max_prompt_length must be"),
])
def test_clear_one_line_errors(case, flags, message, demo_dir, moved_adapter, tmp_path, capsys):
    defaults = {"--model_dir": str(demo_dir / "adapter"), "--dataset_id": str(demo_dir / "data" / "test.jsonl"),
                "--output_file": str(tmp_path / "out.json"), "--split": "test[:4]"}
    if case == "no model":
        defaults.pop("--model_dir")
    if case == "no vllm" and importlib.util.find_spec("vllm"):
        pytest.skip("vLLM is installed here")
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text('{"problem": "What is 1 + 1?", "solution": "2"}\n{"problem": "What is')  # cut off mid-line
    flags = [{"MOVED": str(moved_adapter), "DATA_DIR": str(demo_dir / "data"), "CORRUPT": str(corrupt)}.get(f, f)
             for f in flags]
    argv = [x for k, v in defaults.items() if k not in flags for x in (k, v)] + flags
    assert evaluation.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert list(tmp_path.glob("out.json*")) == []  # nothing half-written


def test_moved_base_model_is_found_with_base_model_flag(demo_dir, moved_adapter, tmp_path):
    result = run_eval(demo_dir, tmp_path / "out.json", model=moved_adapter, base_model=str(demo_dir / "base_model"),
                      split="test[:2]", max_completion_length=4)
    assert result["summary"]["adapter"] == str(moved_adapter.resolve())


def test_cli_error_has_no_traceback_and_help_lists_options():
    proc = run_cli("eval.py", "--output_file", "results/never.json")
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --model_dir is required")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    help_proc = run_cli("eval.py", "--help")
    assert help_proc.returncode == 0, help_proc.stderr
    help_text = help_proc.stdout
    for option in ("--model_dir", "--base_model", "--tokenizer", "--baseline", "--dataset_id", "--split",
                   "--batch_size", "--max_completion_length", "--max_prompt_length", "--num_samples", "--temperature",
                   "--top_p", "--use_vllm", "--output_file", "--prompt_column", "--solution_column"):
        assert option in help_text


def test_eval_sh_takes_environment_overrides_and_extra_args(demo_dir, tmp_path):
    out = tmp_path / "from_sh.json"
    env = {"MODEL_DIR": str(demo_dir / "adapter"), "DATASET_ID": str(demo_dir / "data" / "test.jsonl"),
           "SPLIT": "test[:4]", "BATCH_SIZE": "2", "MAX_COMPLETION_LENGTH": "8", "MAX_PROMPT_LENGTH": "200",
           "OUTPUT_FILE": str(out), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(REPO / "eval.sh"), "--seed", "7"], cwd=tmp_path,  # runs from any directory
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("accuracy: ")
    summary = json.loads(out.read_text())["summary"]
    assert (summary["split"], summary["num_problems"], summary["max_completion_length"]) == ("test[:4]", 4, 8)
    assert (summary["max_prompt_length"], summary["seed"]) == (200, 7)


def test_default_result_files_never_collide_and_are_never_silently_replaced(demo_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    common = ["--dataset_id", str(demo_dir / "data" / "test.jsonl"), "--split", "test[:2]", "--max_completion_length", "4"]
    assert evaluation.main(["--model_dir", str(demo_dir / "adapter"), *common]) == 0
    assert evaluation.main(["--model_dir", str(demo_dir / "adapter"), "--baseline", *common]) == 0
    files = sorted(p.name for p in (tmp_path / "results").glob("*.json"))
    assert files == ["adapter__adapter__test_test_2.json", "adapter__baseline__test_test_2.json"], files
    # The same file with other settings is refused in one line unless --overwrite; the same settings may rerun.
    target = ["--output_file", "results/mine.json"]
    assert evaluation.main(["--model_dir", str(demo_dir / "adapter"), *common, *target]) == 0
    before = (tmp_path / "results" / "mine.json").read_text()
    capsys.readouterr()
    assert evaluation.main(["--model_dir", str(demo_dir / "adapter"), "--baseline", *common, *target]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other settings" in err and "--overwrite" in err, err
    assert (tmp_path / "results" / "mine.json").read_text() == before
    assert evaluation.main(["--model_dir", str(demo_dir / "adapter"), "--baseline", *common, *target,
                            "--overwrite"]) == 0
    assert json.loads((tmp_path / "results" / "mine.json").read_text())["summary"]["adapter"] is None


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_empty_references_are_skipped_and_counted_not_graded(demo_dir, tmp_path, fmt):
    """An empty, null or NaN solution cell is no reference: accuracy None, counted, never graded as the text 'None';
    numbers stored as numbers are answers."""
    import pandas as pd

    frame = pd.DataFrame({"problem": ["What is 1 + 1?", "What is 2 + 2?", "What is 3 + 3?"],
                          "solution": [None, 4, float("nan")] if fmt != "csv" else [None, "4", None]})
    path = tmp_path / f"cells.{fmt}"
    {"csv": lambda: frame.to_csv(path, index=False), "jsonl": lambda: frame.to_json(path, orient="records", lines=True),
     "parquet": lambda: frame.to_parquet(path)}[fmt]()
    result = run_eval(demo_dir, tmp_path / "out.json", dataset_id=str(path), split="test", max_completion_length=4)
    by_index = {s["index"]: s for s in result["samples"]}
    assert by_index[0]["solution"] is None and by_index[0]["accuracy"] is None
    assert by_index[2]["accuracy"] is None
    assert by_index[1]["accuracy"] is not None
    assert result["summary"]["unscored_references"] == 2 and result["summary"]["scored"] == 1


def test_static_kv_cache_gives_the_same_greedy_tokens(demo_dir, tmp_path, monkeypatch):
    """The fast path (a static KV cache, eval.py's default on CUDA) must not change what greedy decoding says:
    bit-identical completions on CPU in fp32, left padding and EOS included. And it must really be taken: every
    batch builds a transformers StaticCache (counted as generate() builds them), the dynamic run builds none."""
    from transformers.cache_utils import StaticCache

    built = []
    real_init = StaticCache.__init__

    def counting_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(StaticCache, "__init__", counting_init)
    data = varied_lengths_file(demo_dir, tmp_path)  # prompts of different lengths: real left padding
    static = run_eval(demo_dir, tmp_path / "static.json", dataset_id=str(data), split="test",
                      cache_implementation="static")
    batches = -(-len(static["samples"]) // FAST["batch_size"])
    assert len(built) == batches, f"{len(built)} static caches for {batches} batches"
    layers = [layer for cache in built for layer in cache.layers]
    assert layers and all(type(layer).__name__ == "StaticLayer" and layer.is_initialized for layer in layers)
    assert all(layer.max_cache_len >= FAST["max_completion_length"] for layer in layers)
    built.clear()
    dynamic = run_eval(demo_dir, tmp_path / "dynamic.json", dataset_id=str(data), split="test",
                       cache_implementation="dynamic")
    assert built == [], "the dynamic run built a static cache"
    assert static["summary"]["cache_implementation"] == "static"
    assert dynamic["summary"]["cache_implementation"] == "dynamic"
    assert [s["completion"] for s in static["samples"]] == [s["completion"] for s in dynamic["samples"]]
    assert [s["completion_tokens"] for s in static["samples"]] == [s["completion_tokens"] for s in dynamic["samples"]]
