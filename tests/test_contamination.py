"""contamination.py: a planted exact copy of a benchmark problem and a copy with changed spacing and punctuation are
found; clean data finds nothing; --write_clean keeps every other row; `main.py --check` warns on an overlap."""
import json

import pytest

import contamination

AIME = "Find the remainder when $2^{2024} + 3$ is divided by 1000, and give your answer as an integer."
MATH = "What is the smallest positive integer n such that 17n is congruent to 1234 modulo 7?"
TRAIN = [
    "Tom has 5 apples and buys 3 more bags of 4 apples each. How many apples does he have?",
    AIME,  # an exact copy
    "A train leaves at noon and travels at 60 miles per hour. How far has it gone by 3 pm?",
    "what is the SMALLEST positive integer n, such that 17 n is congruent to 1234 (modulo 7)",  # respaced, repunctuated
    "Compute the sum of the first 20 odd numbers.",
]


def test_a_planted_copy_and_a_respaced_repunctuated_copy_are_found():
    found = contamination.find_overlaps(TRAIN, {"aime24": ["Some other problem about primes.", AIME],
                                                "math500": [MATH]})
    assert sorted({(o.train_row, o.benchmark, o.benchmark_row) for o in found}) == [(1, "aime24", 1),
                                                                                      (3, "math500", 0)]
    assert all(len(o.shared.split()) == contamination.NGRAM for o in found)


def test_clean_data_finds_nothing_and_short_problems_match_only_whole():
    clean = [TRAIN[0], TRAIN[2], TRAIN[4]]
    assert contamination.find_overlaps(clean, {"aime24": [AIME], "math500": [MATH]}) == []
    # a problem shorter than 8 tokens matches a training problem with the same tokens, never a mere part of one
    short = {"gsm8k": ["What is 55 + 5?"]}
    assert [o.train_row for o in contamination.find_overlaps(["what is 55+5", "What is 55 - 5?",
                                                              "What is 55 + 5? Then add 7."], short)] == [0]
    # math operators are tokens, so 55 + 5 and 55 - 5 differ; punctuation and spacing are not
    assert contamination.tokens("What is 55+5?") == ("what", "is", "55", "+", "5")


def test_the_command_reports_rows_and_writes_the_clean_set(tmp_path, capsys):
    bench = tmp_path / "bench"
    (bench / "aime24").mkdir(parents=True)
    (bench / "aime24" / "test.jsonl").write_text(json.dumps({"problem": AIME, "answer": "7"}) + "\n")
    (bench / "math500").mkdir()
    (bench / "math500" / "test.jsonl").write_text(json.dumps({"problem": MATH, "answer": "3"}) + "\n")
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"problem": p, "solution": f"\\boxed{{{i}}}", "id": i}) + "\n"
                             for i, p in enumerate(TRAIN)))
    clean = tmp_path / "clean.jsonl"
    assert contamination.main(["--train", str(train), "--benchmark_dir", str(bench)]) == 1  # found: a failing check
    out = capsys.readouterr().out
    assert out.startswith("2 of 5 training problems share an 8-gram with aime24, math500")
    assert "training row 1 ~ aime24 row 0" in out and "training row 3 ~ math500 row 0" in out
    assert contamination.main(["--train", str(train), "--benchmarks", "aime24", "--benchmark_dir", str(bench),
                               "--write_clean", str(clean)]) == 0
    kept = [json.loads(line) for line in clean.read_text().splitlines()]
    assert [row["id"] for row in kept] == [0, 2, 3, 4]  # all columns kept, only the aime24 copy dropped
    assert contamination.main(["--train", str(clean), "--benchmark_dir", str(bench), "--benchmarks", "aime24"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("no overlap: none of 4 training problems")


@pytest.mark.parametrize("argv, says", [
    (["--benchmark_dir", "bench", "--ngram", "0"], "--ngram 0"),
    (["--benchmarks", "nope"], "unknown benchmark"),
    (["--benchmark_dir", "bench", "--write_clean", "train.jsonl"], "training file itself"),
    (["--benchmark_dir", "bench", "--prompt_column", "question"], "no column 'question'"),
    ([], "--benchmarks NAME"),
])
def test_mistakes_are_one_line(tmp_path, capsys, monkeypatch, argv, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bench" / "aime24").mkdir(parents=True)
    (tmp_path / "bench" / "aime24" / "test.jsonl").write_text(json.dumps({"problem": AIME, "answer": "7"}) + "\n")
    (tmp_path / "train.jsonl").write_text(json.dumps({"problem": AIME, "solution": "7"}) + "\n")
    assert contamination.main(["--train", "train.jsonl", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and says in err
    assert (tmp_path / "train.jsonl").read_text().count("\n") == 1


def test_check_warns_when_the_training_data_holds_a_benchmark_problem(demo_dir, tmp_path, capsys):
    import main
    from test_train import train_args

    train = [json.loads(line)["problem"] for line in (demo_dir / "data" / "train.jsonl").read_text().splitlines()]
    bench = tmp_path / "bench"
    (bench / "math500").mkdir(parents=True)
    rows = [{"problem": "An unrelated problem about the area of a circle of radius 3.", "answer": "9\\pi"},
            {"problem": train[5].replace(" ", "  ").rstrip("?"), "answer": "1"}]  # respaced, question mark dropped
    (bench / "math500" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = [str(a) for a in train_args(demo_dir, tmp_path / "run", "--check", "--check_samples", "0")[1:]]
    assert main.main([*argv, "--benchmark_dir", str(bench)]) == 0  # a warning, not a fatal problem
    out = capsys.readouterr().out
    assert "== contamination (8-gram overlap with benchmarks)" in out
    warning = next(line for line in out.splitlines() if line.startswith("warning: ") and "math500" in line)
    assert f"training problems share an 8-gram with math500 (first: training row {train.index(train[5])} ~ math500 " \
           "row 1" in warning
    assert "python contamination.py --train" in out and "--write_clean" in out
    assert not (tmp_path / "run").exists()

    assert main.main([*argv[:-3], "--benchmark_dir", str(bench)]) == 2  # without --check: refused in one line
    err = capsys.readouterr().err
    assert err.startswith("error: --benchmarks / --benchmark_dir only apply with --check")
    assert len(err.splitlines()) == 1
