"""--dataset_config picks a data set's configuration, in --check and in eval.py."""
import json

import pytest

import eval as evaluation
import main
from test_train import train_args


@pytest.fixture
def two_config_data(demo_dir, tmp_path):
    """A local data set with two configurations (declared in its README, as on the hub): 'easy' has 6 problems,
    'hard' 10."""
    rows = [json.loads(line) for line in open(demo_dir / "data" / "test.jsonl")]
    data = tmp_path / "two_configs"
    data.mkdir()
    (data / "easy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:6]))
    (data / "hard.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[6:16]))
    (data / "README.md").write_text("---\nconfigs:\n- config_name: easy\n  data_files:\n  - split: train\n"
                                    "    path: easy.jsonl\n- config_name: hard\n  data_files:\n  - split: train\n"
                                    "    path: hard.jsonl\n---\n")
    return data, rows


def test_dataset_config_picks_the_configuration(demo_dir, two_config_data, tmp_path, capsys):
    import eval as evaluation
    import main

    data, rows = two_config_data
    for config, count in (("easy", 6), ("hard", 10)):
        code = main.main([str(a) for a in train_args(demo_dir, tmp_path / "run", "--check", "--dataset_id", data,
                                                      "--dataset_config", config, "--batch_size", "4")[1:]])
        out = capsys.readouterr().out
        assert code == 0, out[-2000:]
        assert f"references with a parseable answer: {count} of {count}\n" in out, config
        result = evaluation.evaluate(evaluation.EvalArguments(
            model_dir=str(demo_dir / "adapter"), dataset_id=str(data), dataset_config=config, split="train",
            max_completion_length=4, output_file=str(tmp_path / f"{config}.json")))
        problems = [s["prompt"][-1]["content"] for s in result["samples"]]
        expected = [r["problem"] for r in (rows[:6] if config == "easy" else rows[6:16])]
        assert problems == expected and result["summary"]["dataset_config"] == config
