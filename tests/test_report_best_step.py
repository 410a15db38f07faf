"""The model card's Steps line and samples.md's "best" completions come from the best step, not from step 0 or the
last step: checked on the demo run, whose best held-out step is neither (read from best/best.json, independently)."""
import json
import re
import shutil

import pytest


@pytest.fixture(scope="module")
def reported(demo_dir, tmp_path_factory):
    import report

    run = tmp_path_factory.mktemp("card") / "adapter"
    shutil.copytree(demo_dir / "adapter", run, ignore=shutil.ignore_patterns("checkpoint-*", "report", "README.md"))
    best = json.loads((run / "best" / "best.json").read_text())["step"]
    final = json.loads((run / "trainer_state.json").read_text())["global_step"]
    if best in (0, final):
        pytest.skip(f"this demo run's best step is {best}: the test needs one between step 0 and the last")
    report.write_report(run)
    return run, best, final


def test_model_card_steps_line_names_the_best_step(reported):
    run, best, final = reported
    card = (run / "README.md").read_text()
    steps = next(line for line in card.splitlines() if line.startswith("- **Steps:**"))
    assert f"best step {best};" in steps and f"final step {final}" in steps, steps


def test_samples_show_the_best_steps_own_completions(reported):
    run, best, final = reported
    samples = (run / "report" / "samples.md").read_text()
    records = {r["index"]: r for r in map(json.loads, (run / "heldout" / f"step-{best}.jsonl").read_text().splitlines())
               if r.get("sample", 0) == 0}
    start = {r["index"]: r for r in map(json.loads, (run / "heldout" / "step-0.jsonl").read_text().splitlines())
             if r.get("sample", 0) == 0}
    blocks = re.findall(r"### Problem \d+ \(held-out row (\d+)\).*?\*\*Step " + str(best) + r" \(best\)\*\*[^\n]*\n\n"
                        r"```text\n(.*?)\n```", samples, flags=re.S)
    assert blocks, samples[:2000]
    for index, shown in blocks:
        assert shown == records[int(index)]["completion"]
    assert any(shown != start[int(index)]["completion"] for index, shown in blocks), \
        "at least one shown problem changed after step 0, so step 0's completion under 'best' would be caught"
