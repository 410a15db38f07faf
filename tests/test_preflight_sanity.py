"""The preflight's reward sanity line counts what really scores 1.0: a reference whose correct answer a reward does
not give full marks is counted out and shown (the line must not always say "N of N")."""


def test_reward_sanity_counts_and_shows_what_scores_below_one(capsys):
    import preflight

    def half_for_fractions(completions, solution, **kwargs):  # full marks except for references holding a fraction
        return [0.5 if "frac" in s else 1.0 for s in solution]

    data = [{"prompt": [{"role": "user", "content": f"Problem {i}"}], "solution": s}
            for i, s in enumerate(["\\boxed{16}", "\\boxed{\\frac{1}{2}}", "#### 7"])]
    answers = ["16", "\\frac{1}{2}", "7"]
    report = preflight.Report()
    preflight.report_reward_sanity(report, data, [0, 1, 2], answers, [half_for_fractions], ["half_for_fractions"])
    out = capsys.readouterr().out
    assert "half_for_fractions: 2 of 3 score 1.0" in out, out
    assert "scored 0.5: reference answer '\\\\frac{1}{2}'" in out, out
