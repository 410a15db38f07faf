"""`python main.py --check`: the preflight report on good and on deliberately broken data."""
from conftest import run_cli
from test_train import train_args


def test_check_on_demo_data_reports_everything_and_writes_nothing(demo_dir, tmp_path):
    out = tmp_path / "run"
    proc = run_cli(*train_args(demo_dir, out, "--check", "--max_steps", "10"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    for heading in ["first training prompt", "prompt lengths", "references", "reward sanity", "batch arithmetic",
                    "memory estimate", "environment", "verdict"]:
        assert f"== {heading}" in text, heading
    assert "<|im_start|>assistant" in text, "the prompt as the policy reads it, generation prompt included"
    rows = sum(1 for _ in open(demo_dir / "data" / "train.jsonl"))
    assert f"references with a parseable answer: {rows} of {rows}" in text
    assert "format: " in text and "accuracy: " in text and "score 1.0" in text
    assert "generation batch = 8 per device x 1 process(es) x 1 accumulation = 8 completions; / G=4 = 2" in text
    assert "total steps: 10 (--max_steps)" in text and "torch " in text and "trl " in text
    assert text.strip().endswith("drop --check to train")
    assert not out.exists(), "--check writes nothing"


def test_check_on_broken_data_lists_every_fatal_problem(demo_dir, tmp_path):
    data = tmp_path / "broken.csv"
    data.write_text("problem,solution\nWhat is 1 + 1?,\nWhat is 2 + 2?,four\nWhat is 3 + 3?,Answer is six.\n")
    out = tmp_path / "run"
    proc = run_cli(*train_args(demo_dir, out, "--check", "--dataset_id", data, "--batch_size", "6",
                               "--max_prompt_length", "5"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("error: ")]
    assert any("not divisible by --num_generations" in e for e in errors), errors
    assert any("no training prompt fits --max_prompt_length 5: the shortest has" in e for e in errors), errors
    assert any("no reference has a parseable answer" in e for e in errors), errors
    assert "references with a parseable answer: 0 of 3" in proc.stdout
    assert "not parseable: (empty cell)" in proc.stdout and "'None'" not in proc.stdout
    assert "3 problem(s) above" in proc.stdout
    assert not out.exists()


def test_check_warns_when_the_template_opens_think_itself(demo_dir, tmp_path):
    """A 'thinking' chat template that pre-fills <think> makes the format reward unreachable: say so."""
    import shutil

    model = tmp_path / "thinking_model"
    shutil.copytree(demo_dir / "base_model", model)
    jinja = model / "chat_template.jinja"
    assert "<|im_start|>assistant\n" in jinja.read_text()
    jinja.write_text(jinja.read_text().replace("<|im_start|>assistant\n", "<|im_start|>assistant\n<think>"))
    proc = run_cli(*train_args(demo_dir, tmp_path / "run", "--check", "--model_id", model))
    warning = [line for line in proc.stdout.splitlines() if line.startswith("warning: ")]
    assert warning and "already contains <think>" in warning[0] and "format reward" in warning[0], proc.stdout[:3000]
