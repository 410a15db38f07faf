"""The best adapter so far (<output_dir>/best/best.json, callbacks.read_best): a damaged record is one error line,
never read as "no best yet" (the next held-out evaluation would then replace the best adapter whatever its
accuracy)."""
import pytest

import callbacks
import main
from errors import UsageError
from test_train import train_args


@pytest.mark.parametrize("text", ['{"step": 40, "accur', '[]', '{"step": 40}'])
def test_a_damaged_best_json_is_an_error_naming_the_file_and_the_fix(tmp_path, text):
    (tmp_path / "best.json").write_text(text)
    with pytest.raises(UsageError, match=rf"^{tmp_path / 'best.json'} is damaged .*: restore it, or delete "
                                         rf"{tmp_path} to choose the best adapter afresh"):
        callbacks.read_best(tmp_path)


def test_best_json_read_back(tmp_path):
    assert callbacks.read_best(tmp_path) == {}, "no evaluation yet"
    (tmp_path / "best.json").write_text('{"step": 40, "accuracy": 0.5}')
    assert callbacks.read_best(tmp_path) == {"step": 40, "accuracy": 0.5}


def test_resuming_a_run_with_a_damaged_best_json_stops_in_one_line(demo_dir, tmp_path, capsys):
    out = tmp_path / "run"
    (out / "best").mkdir(parents=True)
    (out / "best" / "best.json").write_text('{"step": 4')
    argv = train_args(demo_dir, out, "--eval_dataset_id", demo_dir / "data" / "val.jsonl", "--eval_max_samples", "4")
    assert main.main([str(a) for a in argv[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {out / 'best' / 'best.json'} is damaged"), err
    assert (out / "best" / "best.json").read_text() == '{"step": 4', "left as it was"
