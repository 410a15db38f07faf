"""main.py's errors that used to be tracebacks or silent wrong results: one `error:` line, exit status 2, nothing
left on disk. In-process (seconds)."""
import pytest

import main
from helpers import one_error_line, stacked_adapter
from test_train import train_args


MAIN_ERRORS = {
    "zero steps": (["--max_steps", "-1", "--num_train_epochs", "0"], "trains nothing"),
    "split syntax": (["--dataset_split", "train[:abc]"], "'train[:abc]' is not a valid split"),
    "eval split syntax": (["--eval_dataset_id", "VAL", "--eval_split", "test[x]"], "--eval_split"),
    "missing LoRA module": (["--lora_target_modules", "q_proj", "nonsense"], "nonsense: the model has no such module"),
    "output_dir is a file": (["--output_dir", "A_FILE"], "is a file, not a directory"),
    "output_dir below a file": (["--output_dir", "A_FILE/run"], "is a file, not a directory"),
    "adapter on an adapter": (["--model_id", "STACKED"], "is itself an adapter directory"),
    "other run's checkpoint": (["--resume_from_checkpoint", "DEMO_CHECKPOINT", "--lora_target_modules", "q_proj"],
                               "was trained with other settings (--lora_target_modules"),
    "other run's rewards": (["--resume_from_checkpoint", "DEMO_CHECKPOINT", "--lora_r", "16", "--lora_alpha", "32"],
                            "--num_generations 8 vs 4"),
}


@pytest.mark.parametrize("case", list(MAIN_ERRORS))
def test_main_errors_are_one_line_and_leave_nothing(case, demo_dir, tmp_path, capsys):
    extra, expected = MAIN_ERRORS[case]
    (tmp_path / "a_file").write_text("not a directory")
    places = {"VAL": demo_dir / "data" / "val.jsonl", "A_FILE": tmp_path / "a_file",
              "A_FILE/run": tmp_path / "a_file" / "run", "STACKED": stacked_adapter(demo_dir, tmp_path),
              "DEMO_CHECKPOINT": demo_dir / "adapter" / "checkpoint-100"}
    out = tmp_path / "run"
    argv = [str(places.get(str(a), a)) for a in train_args(demo_dir, out, *extra)[1:]]
    assert main.main(argv) == 2
    err = one_error_line(capsys)
    assert expected in err, err
    if case == "missing LoRA module":
        assert "q_proj" in err.split("its linear modules are")[1]
    assert not out.exists(), "nothing half-written on error"


def test_damaged_run_config_is_named_not_taken_for_a_fresh_run(demo_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run_config.json").write_text('{"finished": true, "model_id"')  # cut off
    assert main.main([str(a) for a in train_args(demo_dir, out)[1:]]) == 2
    err = one_error_line(capsys)
    assert str(out / "run_config.json") in err and "damaged" in err and "--overwrite_output_dir" in err
    assert sorted(p.name for p in out.iterdir()) == ["run_config.json"]
