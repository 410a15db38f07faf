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
