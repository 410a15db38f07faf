"""eval.py's command line and eval.sh: one-line errors that leave nothing, a local file taken whole, --help,
every option from the environment (eval.sh), --tokenizer."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import eval as evaluation
from conftest import REPO, run_cli
from helpers import one_error_line, stacked_adapter


def damaged_run(demo_dir, tmp_path) -> Path:
    adapter = Path(shutil.copytree(demo_dir / "adapter", tmp_path / "damaged", ignore=shutil.ignore_patterns(
        "checkpoint-*", "best", "final", "report")))
    (adapter / "run_config.json").write_text('{"system_prompt": "Think')
    return adapter


EVAL_ERRORS = [
    ("adapter as base model", ["--base_model", "ADAPTER"], "is itself an adapter directory"),
    ("adapter on an adapter", ["--model_dir", "STACKED"], "is itself an adapter directory"),
    ("damaged run_config", ["--model_dir", "DAMAGED"], "run_config.json is damaged"),
    ("split syntax", ["--split", "test[:abc]"], "'test[:abc]' is not a valid split"),
    ("output is a directory", ["--output_file", "TMP", "--overwrite"], "is a directory"),
    ("output below a file", ["--output_file", "A_FILE/out.json"], "is a file, not a directory"),
    ("typo", ["--num_sample", "3"], "did you mean --num_samples?"),
    ("no prefix matching", ["--num_s", "3"], "unknown option --num_s"),
    ("missing default run", ["--model_dir", "./ckpts/grpo"], "does not exist"),
]


@pytest.mark.parametrize("case, flags, message", EVAL_ERRORS)
def test_eval_errors_are_one_line_and_leave_nothing(case, flags, message, demo_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ./ckpts/grpo does not exist here
    (tmp_path / "a_file").write_text("x")
    places = {"ADAPTER": str(demo_dir / "adapter"), "STACKED": str(stacked_adapter(demo_dir, tmp_path)),
              "DAMAGED": str(damaged_run(demo_dir, tmp_path)), "TMP": str(tmp_path),
              "A_FILE/out.json": str(tmp_path / "a_file" / "out.json")}
    defaults = {"--model_dir": str(demo_dir / "adapter"), "--dataset_id": str(demo_dir / "data" / "test.jsonl"),
                "--output_file": str(tmp_path / "out.json"), "--split": "test[:4]"}
    flags = [places.get(f, f) for f in flags]
    argv = [x for k, v in defaults.items() if k not in flags for x in (k, v)] + flags
    before = sorted(p.name for p in tmp_path.iterdir())
    assert evaluation.main(argv) == 2
    err = one_error_line(capsys)
    assert message in err, err
    if case == "missing default run":
        assert "e.g. ckpts/grpo" not in err  # never suggests the very path that is missing
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing written"


def test_eval_on_a_local_file_takes_all_of_it_unless_a_split_is_given(demo_dir):
    local = evaluation.resolve_settings(evaluation.EvalArguments(model_dir=str(demo_dir / "base_model"),
                                                                 dataset_id=str(demo_dir / "data" / "test.jsonl")))
    assert local.split == "test"
    hub = evaluation.EvalArguments(model_dir=str(demo_dir / "base_model"), dataset_id="AI-MO/NuminaMath-TIR")
    assert evaluation.resolve_settings(hub).split == "test[:5%]"
    assert evaluation.default_output_file(hub).endswith("_test_5pct.json")


def test_eval_help_has_a_description_and_examples():
    help_text = run_cli("eval.py", "--help").stdout
    assert help_text.index("Evaluate a GRPO run") < help_text.index("--model_dir MODEL_DIR")
    assert "python eval.py --model_dir ckpts/grpo --baseline" in help_text


def test_every_eval_option_maps_from_the_environment():
    parser = evaluation.make_parser()
    for action in parser._actions:
        if action.dest == "help":
            continue
        name = action.option_strings[0]
        argv = evaluation.environment_options(parser, {name[2:].upper(): "a b"})
        assert argv[0] == name and argv[1:] == (["a", "b"] if action.nargs in ("+", "*") else ["a b"]), name


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_eval_sh_passes_sampling_variables_under_sh_and_bash(shell, demo_dir, tmp_path):
    out = tmp_path / "from_sh.json"
    env = {"MODEL_DIR": str(demo_dir / "adapter"), "DATASET_ID": str(demo_dir / "data" / "test.jsonl"),
           "MAX_SAMPLES": "2", "NUM_SAMPLES": "2", "TEMPERATURE": "0.7", "MAX_COMPLETION_LENGTH": "6",
           "OUTPUT_FILE": str(out), "PYTHON": sys.executable}
    proc = subprocess.run([shell, str(REPO / "eval.sh"), "--seed", "7"], cwd=tmp_path, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "eval.sh: --model_dir" in proc.stdout and "--num_samples 2" in proc.stdout
    summary = json.loads(out.read_text())["summary"]
    assert (summary["num_problems"], summary["num_samples"], summary["temperature"]) == (2, 2, 0.7)
    assert (summary["max_samples"], summary["seed"], summary["split"]) == (2, 7, "test")


def test_eval_sh_without_a_run_says_what_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MODEL_DIR"}
    proc = subprocess.run(["sh", str(REPO / "eval.sh")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: MODEL_DIR is not set"), proc.stderr
    assert "hf download" not in proc.stderr  # not mistaken for a hub id to download


def test_eval_tokenizer_option_is_the_tokenizer_used(demo_dir, tmp_path):
    """A tokenizer whose chat template adds a preamble makes every prompt longer: at a limit where every prompt fits
    under the base model's tokenizer, the given one must skip exactly those its own template makes too long."""
    import eval as evaluation
    from transformers import AutoTokenizer

    from data_utils import make_prompt
    from demo import DEMO_SYSTEM_PROMPT

    tokenizer = tmp_path / "preamble_tokenizer"
    tokenizer.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(demo_dir / "base_model" / name, tokenizer / name)
    template = tokenizer / "chat_template.jinja"
    template.write_text("Be brief.\n" + template.read_text())
    rows = [json.loads(line) for line in open(demo_dir / "data" / "test.jsonl")][:16]
    rows = [{**row, "problem": "Please " * i + row["problem"]} for i, row in enumerate(rows)]  # lengths differ
    data = tmp_path / "varied.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    problems = [row["problem"] for row in rows]

    def lengths(path):
        tok = AutoTokenizer.from_pretrained(path)
        texts = [tok.apply_chat_template(make_prompt(p, DEMO_SYSTEM_PROMPT), tokenize=False, add_generation_prompt=True)
                 for p in problems]
        return [len(tok(text, add_special_tokens=False)["input_ids"]) for text in texts]

    limit = max(lengths(demo_dir / "base_model"))  # every prompt fits the base model's tokenizer
    expected_skips = sum(n > limit for n in lengths(tokenizer))
    assert 0 < expected_skips < len(problems), "the preamble should push some prompts over the limit, not all"

    def run(name, **kwargs):
        return evaluation.evaluate(evaluation.EvalArguments(
            model_dir=str(demo_dir / "adapter"), dataset_id=str(data), split="test",
            max_completion_length=4, max_prompt_length=limit, output_file=str(tmp_path / name), **kwargs))["summary"]

    assert run("default.json")["skipped_prompts"] == 0
    given = run("given.json", tokenizer=str(tokenizer))
    assert given["tokenizer"] == str(tokenizer.resolve())
    assert given["skipped_prompts"] == expected_skips, "--tokenizer was not the tokenizer used"
