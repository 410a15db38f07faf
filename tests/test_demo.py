"""The offline demo end to end: what `python main.py --demo` shows a user, and that what it shows is honest."""
import json

import pytest

import main
from helpers import one_error_line

EVAL_FILES = {("greedy", "before"): "eval_base.json", ("greedy", "after"): "eval_adapter.json",
              ("sampled", "before"): "eval_base_sampled.json", ("sampled", "after"): "eval_adapter_sampled.json"}
SUMMARY_KEY = {"format reward mean": "format_mean", "accuracy": "accuracy"}


def printed_table(stdout: str) -> dict:
    """{(metric, decoding): (before, after, change)} as printed, from lines such as
    `accuracy  greedy  0.117  0.914  +0.797`."""
    table = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) >= 5 and words[-4] in ("greedy", "sampled") and " ".join(words[:-4]) in SUMMARY_KEY:
            table[" ".join(words[:-4]), words[-4]] = tuple(words[-3:])
    return table


def test_demo_shows_grpo_raising_heldout_accuracy(demo):
    """The before/after table: accuracy on held-out problems up (greedy and sampled), format up to near 1.0, and
    every printed figure is the one eval.py wrote."""
    demo_dir, proc = demo
    if proc is None:
        pytest.skip("REUSE_DEMO_DIR set: the demo was not run in this session")
    table = printed_table(proc.stdout)
    assert len(table) == 4, proc.stdout[-3000:]
    for (metric, decoding), printed in table.items():
        before, after = (json.loads((demo_dir / EVAL_FILES[decoding, when]).read_text())["summary"][SUMMARY_KEY[metric]]
                         for when in ("before", "after"))
        assert printed == (f"{before:.3f}", f"{after:.3f}", f"{after - before:+.3f}"), (metric, decoding)
    change = {key: float(printed[2]) for key, printed in table.items()}
    # Measured: +0.28 to +0.80 greedy and +0.29 to +0.54 sampled over seeds 42, 1, 2; the margins absorb CPU
    # nondeterminism.
    assert change["accuracy", "greedy"] >= 0.1, proc.stdout[-2000:]
    assert change["accuracy", "sampled"] >= 0.1, proc.stdout[-2000:]
    assert change["format reward mean", "greedy"] >= 0.2, proc.stdout[-2000:]
    assert float(table["format reward mean", "greedy"][1]) >= 0.8, proc.stdout[-2000:]
    sampled = json.loads((demo_dir / "eval_adapter_sampled.json").read_text())["summary"]
    assert sampled["num_samples"] == 4 and sampled["temperature"] == 1.0


def test_demo_splits_are_disjoint_and_fixtures_are_left(demo_dir):
    """Held-out means held out: no test or validation problem is a training problem."""
    problems = {name: {json.loads(line)["problem"] for line in open(demo_dir / "data" / f"{name}.jsonl")}
                for name in ("train", "val", "test")}
    assert all(problems.values())
    assert not problems["test"] & problems["train"] and not problems["val"] & problems["train"]
    assert not problems["test"] & problems["val"]
    for path in ["base_model/config.json", "base_model/tokenizer_config.json", "adapter/adapter_config.json",
                 "adapter/adapter_model.safetensors", "adapter/run_config.json", *EVAL_FILES.values()]:
        assert (demo_dir / path).is_file(), path
    run_config = json.loads((demo_dir / "adapter" / "run_config.json").read_text())
    assert run_config["dataset_id"].endswith("train.jsonl")  # GRPO never saw the test file


def test_demo_evaluates_on_validation_during_training_and_writes_its_report(demo_dir):
    run_config = json.loads((demo_dir / "adapter" / "run_config.json").read_text())
    assert run_config["eval_dataset_id"].endswith("val.jsonl"), "the kept adapter is chosen on validation, not test"
    assert 0 <= run_config["best_step"] <= run_config["final_step"]
    history = json.loads((demo_dir / "adapter" / "trainer_state.json").read_text())["log_history"]
    curve = [e["eval/accuracy"] for e in history if "eval/accuracy" in e]
    assert len(curve) >= 5 and max(curve) > curve[0], "the held-out curve rises"
    for name in ("report/heldout.png", "report/rewards.png", "README.md", "final/adapter_model.safetensors"):
        assert (demo_dir / "adapter" / name).is_file(), name


def test_readme_shows_what_the_demo_prints(demo):
    """The demo's real output (seed 42) is one of the documented demo tables, within CPU nondeterminism: README shows
    the CI machine's, docs/demo.md another CPU's (the same seed gives other figures where floating-point kernels
    differ)."""
    from conftest import REPO

    demo_dir, proc = demo
    if proc is None:
        pytest.skip("REUSE_DEMO_DIR set: the demo was not run in this session")
    pages = [(REPO / page).read_text() for page in ("README.md", "docs/demo.md")]
    documented = [printed_table(block.split("```")[0])
                  for text in pages for block in text.split("[demo] GRPO before/after")[1:]]
    actual = printed_table(proc.stdout)
    assert all("[demo] GRPO before/after" in text for text in pages), "README and docs/demo.md each show a table"
    assert all(table.keys() == actual.keys() for table in documented)

    def matches(table):
        return all(abs(float(doc) - float(real)) <= 0.1
                   for key, figures in table.items() for doc, real in zip(figures, actual[key]))

    assert any(matches(table) for table in documented), (actual, documented)


def test_demo_refuses_a_directory_that_is_not_a_demo(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main.main(["--demo", "--output_dir", str(tmp_path)]) == 2
    assert "not the demo's (notes.txt)" in one_error_line(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_demo_labels_its_held_out_split_validation(tmp_path):
    import demo

    argv = demo.grpo_argv(tmp_path / "base", tmp_path / "data", tmp_path / "adapter", 1)
    assert argv[argv.index("--eval_dataset_id") + 1].endswith("val.jsonl")
    assert argv[argv.index("--eval_split") + 1] == "validation"
