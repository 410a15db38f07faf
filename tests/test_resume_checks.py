"""Resume compares what a checkpoint depends on: a run resumed with another data selection (split, columns, length
filter, held-out set, ...) or another completion length is refused in one line, each setting changed alone."""
from pathlib import Path

import pytest

from errors import UsageError


def write_data(tmp_path: Path) -> Path:
    data = tmp_path / "train.jsonl"
    data.write_text('{"problem": "What is 1 + 1?", "solution": "\\\\boxed{2}", "question": "1+1", "answer": "2"}\n')
    return data


def parsed(tmp_path: Path, *extra: str):
    import main

    data = write_data(tmp_path)
    return main.parse_args(["--output_dir", str(tmp_path / "run"), "--dataset_id", str(data), "--use_peft", "false",
                            "--max_steps", "2", "--report_to", "none", "--eval_dataset_id", str(data), *extra])


# (the option changed alone, its value at resume)
CHANGED = [
    ("--dataset_split", "train[:1]"),
    ("--dataset_config", "default"),
    ("--prompt_column", "question"),
    ("--solution_column", "answer"),
    ("--max_prompt_length", "64"),
    ("--system_prompt", "Answer briefly."),
    ("--eval_split", "test[:1]"),
    ("--eval_prompt_column", "question"),
    ("--eval_max_samples", "1"),
    ("--max_completion_length", "64"),  # alone: the one the test never changed by itself
    ("--num_generations", "2"),
]


@pytest.mark.parametrize("flag, value", CHANGED)
def test_resume_refuses_a_checkpoint_trained_on_other_data(tmp_path, flag, value):
    import train

    first = parsed(tmp_path)
    train.save_run_config(*first, finished=False)  # the record a run leaves before its first step
    checkpoint = tmp_path / "run" / "checkpoint-1"
    checkpoint.mkdir()
    train.check_checkpoint_belongs(checkpoint, None, None, *parsed(tmp_path))  # the same settings resume
    with pytest.raises(UsageError) as err:
        train.check_checkpoint_belongs(checkpoint, None, None, *parsed(tmp_path, flag, value))
    message = str(err.value)
    assert f"{flag} " in message and "checkpoint vs now" in message and "\n" not in message, message


def test_eval_resume_starts_over_when_the_data_file_was_rewritten(demo_dir, tmp_path, capsys):
    """The reported case: a partial file from one data file, the file rewritten at the same path (other answers), and
    eval.py resumed: the old records (graded against the old answers) must not be reused."""
    import json

    import eval as evaluation

    rows = (demo_dir / "data" / "test.jsonl").read_text().splitlines()[:4]
    data = tmp_path / "test.jsonl"
    data.write_text("\n".join(rows) + "\n")
    args = evaluation.EvalArguments(model_dir=str(demo_dir / "adapter"), dataset_id=str(data),
                                    output_file=str(tmp_path / "out.json"), batch_size=4, max_completion_length=24)
    first = evaluation.evaluate(args)
    partial = evaluation.partial_path(args.output_file)
    settings = evaluation.resolve_settings(args)
    assert first["summary"]["accuracy"] > 0
    # The partial file of a run killed after its last batch, as that run wrote it.
    partial.write_text(evaluation.partial_header(settings, evaluation.data_fingerprint(
        settings, [{"index": s["index"], "prompt": s["prompt"], "solution": s["solution"]} for s in first["samples"]]))
        + "".join(json.dumps(s) + "\n" for s in first["samples"]))
    # The same path, every reference changed to an answer no completion gives.
    data.write_text("".join(json.dumps({**json.loads(r), "solution": "\\boxed{-12345}"}) + "\n" for r in rows))
    capsys.readouterr()
    again = evaluation.evaluate(args)
    out = capsys.readouterr().out
    assert "starting over: the data" in out and "rows_sha256" in out, out
    assert again["summary"]["accuracy"] == 0.0  # graded against the file as it is now
    assert all(s["solution"] == "\\boxed{-12345}" for s in again["samples"])


def test_eval_resume_reuses_records_when_the_data_is_unchanged(demo_dir, tmp_path, capsys):
    import json

    import eval as evaluation

    args = evaluation.EvalArguments(model_dir=str(demo_dir / "adapter"), dataset_id=str(demo_dir / "data" / "test.jsonl"),
                                    split="test[:2]", output_file=str(tmp_path / "out.json"), batch_size=2,
                                    max_completion_length=24)
    settings = evaluation.resolve_settings(args)
    rows, _ = evaluation.load_prompts(settings, evaluation.load_tokenizer(settings))
    partial = evaluation.partial_path(args.output_file)
    record = {"index": 0, "sample": 0, "completion": "kept"}
    partial.write_text(evaluation.partial_header(settings, evaluation.data_fingerprint(settings, rows))
                       + json.dumps(record) + "\n")
    done = evaluation.read_partial(partial, settings, evaluation.data_fingerprint(settings, rows))
    assert done == {(0, 0): record} and "starting over" not in capsys.readouterr().out
