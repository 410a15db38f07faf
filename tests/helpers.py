"""Small helpers several test files share (pytest puts tests/ on the path, as for conftest)."""
import json
import shutil
from pathlib import Path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


def stacked_adapter(demo_dir, tmp_path) -> Path:
    """A copy of the demo adapter whose adapter_config.json names another adapter as its base."""
    adapter = Path(shutil.copytree(demo_dir / "adapter", tmp_path / "stacked", ignore=shutil.ignore_patterns(
        "checkpoint-*", "best", "final", "report")))
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path":
                                                             str(demo_dir / "adapter")}))
    return adapter


def peer_rows(tables: dict) -> tuple[list[tuple], list[str]]:
    """A peer's ported test tables as parametrize rows (table, index, solution, completion, peer's verdict, ours, why)
    and their ids: `ours` is the peer's verdict unless the row differs, and then says why."""
    rows = [(name, i, solution, completion, peer, *(different or [peer, ""]))
            for name, table in tables.items() for i, (solution, completion, peer, *different) in enumerate(table)]
    return rows, [f"{r[0]}-{r[1]}" for r in rows]
