"""The reward diagnostics a run logs (diagnostics/*) are what its completions imply."""
import json

import pytest

import reward
from conftest import GENERATION_BATCH


@pytest.mark.slow
def test_diagnostics_equal_what_the_completions_imply(shared_run):
    """Demo references are all parseable and simple: 0 unparseable, 0 timeouts; the extracted fraction at each
    step is the share of that step's completions reward.extract_answer reads an answer from (one reward call per step
    here; what the extractor reads is checked against hand-written cases in test_rewards.py)."""
    recorded = {}
    for line in (shared_run.work / "completions.jsonl").read_text().splitlines():
        entry = json.loads(line)
        # not the one-sample probe at start-up; the shared run's own call for each step comes first (other tests
        # train again beside it, with the same recording reward)
        if len(entry["completions"]) == GENERATION_BATCH:
            recorded.setdefault(entry["step"], entry["completions"])
    logged = {e["step"]: e for e in shared_run.history if "diagnostics/answer_extracted_fraction" in e}
    assert sorted(logged) == [1, 2, 3, 4] and sorted(recorded) == [1, 2, 3, 4], (sorted(logged), sorted(recorded))
    for step, entry in logged.items():
        completions = recorded[step]
        assert len(completions) == GENERATION_BATCH
        assert entry["diagnostics/unparseable_references"] == 0.0, step
        assert entry["diagnostics/reward_timeouts"] == 0.0, step
        share = sum(reward.extract_answer(c) is not None for c in completions) / len(completions)
        assert entry["diagnostics/answer_extracted_fraction"] == pytest.approx(share), (step, completions)
