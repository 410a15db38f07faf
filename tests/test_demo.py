"""The offline demo end to end: what `python main.py --demo` shows a user."""
import pytest


def test_demo_shows_grpo_learning(demo):
    """The demo's before/after table: format reward up by at least 0.2, fixtures left for reuse."""
    demo_dir, proc = demo
    if proc is None:
        pytest.skip("REUSE_DEMO_DIR set: the demo was not run in this session")
    table = {line.split()[0]: line.split() for line in proc.stdout.splitlines()
             if line.startswith(("format reward mean", "accuracy"))}
    fmt = table["format"]  # "format reward mean <before> <after> <change>"
    before, after = float(fmt[3]), float(fmt[4])
    assert after - before >= 0.2, proc.stdout[-2000:]
    accuracy = table["accuracy"]  # "accuracy <before> <after> <change>"
    assert float(accuracy[2]) >= float(accuracy[1]), "GRPO must not cost accuracy"
    for path in ["base_model/config.json", "base_model/tokenizer_config.json", "data/train.jsonl",
                 "data/test.jsonl", "adapter/adapter_config.json", "adapter/adapter_model.safetensors",
                 "adapter/run_config.json"]:
        assert (demo_dir / path).is_file(), path
