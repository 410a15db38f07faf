"""W&B, offline: the run file holds the metrics the documentation names."""
import json
import re
from pathlib import Path

import pytest

import reward
from conftest import REPO, wandb_installed


BLOCK = 32768  # the .wandb file is a LevelDB-style log: 32 KiB blocks of checksummed chunks holding protobuf records


def wandb_history(run_file: Path) -> dict[str, list]:
    """{metric: values} from an offline run's .wandb file, read the way `wandb sync` reads it."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    history, pos, pending = {}, 7, b""
    while pos + 7 <= len(data):
        room = BLOCK - pos % BLOCK
        if room < 7:  # a block's tail too short for a chunk header is padding
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            pos += room
            continue
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            if record.WhichOneof("record_type") == "history":
                for item in record.history.item:
                    key = item.key or "/".join(item.nested_key)
                    history.setdefault(key, []).append(json.loads(item.value_json))
    return history


def readme_wandb_names() -> list[str]:
    readme = (REPO / "docs" / "training.md").read_text()  # the W&B section moved there from README.md
    section = readme[readme.index("### Weights & Biases"):]
    section = section[:section.index("\n#")]
    return re.findall(r"`(train/[\w/<>]+)`", section)


@pytest.mark.slow
@pytest.mark.skipif(not wandb_installed(), reason="wandb is not installed (requirements-test.txt has it)")
def test_wandb_offline_run_holds_the_metrics_the_readme_names(shared_run):
    runs = list((shared_run.work / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, runs
    history = wandb_history(runs[0])
    names = readme_wandb_names()
    assert names, "README's W&B section names no metric"
    concrete = [name.replace("<reward>", reward) for name in names for reward in ("format_reward", "accuracy_reward")]
    for name in dict.fromkeys(concrete):
        assert name in history, f"{name} (README) not in the W&B run: {sorted(history)}"
    # One value per logged training step (1..4) and one held-out figure per evaluation (steps 0, 2, 4), equal to
    # trainer_state.json's.
    means = [e["rewards/accuracy_reward/mean"] for e in shared_run.history if "rewards/accuracy_reward/mean" in e]
    assert history["train/rewards/accuracy_reward/mean"] == pytest.approx(means)
    held_out = [e["eval/accuracy"] for e in shared_run.history if "eval/accuracy" in e]
    assert history["train/eval/accuracy"] == pytest.approx(held_out) and len(held_out) == 3
    assert re.fullmatch(r"offline-run-\d{8}_\d{6}-\w+", runs[0].parent.name), "what README's wandb sync command names"
