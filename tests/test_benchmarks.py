r"""eval.py --benchmarks on the demo's tiny model and local benchmark files in Qwen2.5-Math's evaluation/data layout,
built here with each benchmark's real columns and answer convention; and the pass-rate data tool."""
import contextlib
import io
import json
import os
from pathlib import Path

import pytest

import benchmarks
import eval as evaluation
import reward
from data_utils import format_dataset, load_math_dataset

FAST = ["--max_completion_length", "24", "--batch_size", "8"]  # the demo model's answers fit in 24 tokens
EVALUATED = 2  # the first rows of each file, arithmetic the demo model can solve, are the ones generated for

# Rows of each benchmark as its Qwen2.5-Math test.jsonl holds them, and the gold answer each must give: first two
# arithmetic problems (the demo model's kind), then real ones that exercise the convention's corners.
LOCAL_ROWS = {
    "gsm8k": [
        ({"question": "What is 55 + 5?", "answer": "55 + 5 = <<55+5=60>>60\n#### 60"}, r"\boxed{60}"),
        ({"question": "What is 57 - 9?", "answer": "57 - 9 = <<57-9=48>>48\n#### 48"}, r"\boxed{48}"),
        ({"question": "Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with four. "
                      "She sells the rest for $2 each. How much does she make every day?",
          "answer": "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18.\n"
                    "#### 18"},
         r"\boxed{18}"),
        ({"question": "A shop sells 40 boxes of 30 pens. How many pens is that?",
          "answer": "40 * 30 = <<40*30=1200>>1200 pens.\n#### 1,200"}, r"\boxed{1200}"),
    ],
    "math500": [
        ({"problem": "What is 85 - 9?", "solution": "$85 - 9 = \\boxed{76}$.", "answer": "76", "subject": "Prealgebra",
          "level": 1, "unique_id": "test/prealgebra/0.json"}, r"\boxed{76}"),
        ({"problem": "What is 37 + 2?", "solution": "$37 + 2 = \\boxed{39}$.", "answer": "39", "subject": "Prealgebra",
          "level": 1, "unique_id": "test/prealgebra/1.json"}, r"\boxed{39}"),
        ({"problem": "Solve for $x$: $3x = 14$.", "solution": "Divide by 3: $x = \\boxed{\\frac{14}{3}}$.",
          "answer": "\\frac{14}{3}", "subject": "Algebra", "level": 1, "unique_id": "test/algebra/1.json"},
         r"\boxed{\frac{14}{3}}"),
        ({"problem": "Which choice is right? (A) 1 (B) 2 (C) 3", "solution": "It is $\\boxed{\\text{(C)}}$.",
          "answer": "\\text{(C)}", "subject": "Prealgebra", "level": 2, "unique_id": "test/prealgebra/2.json"},
         r"\boxed{\text{(C)}}"),
    ],
    "aime24": [
        ({"id": 58, "problem": "What is 37 + 3?", "solution": "It is 40.", "answer": "40", "url": "", "year": "2024"},
         r"\boxed{40}"),
        ({"id": 59, "problem": "What is 6 + 5?", "solution": "It is 11.", "answer": "11", "url": "", "year": "2024"},
         r"\boxed{11}"),
        ({"id": 60, "problem": "Find the remainder when 2024 is divided by 1000.", "solution": "It is 24.",
          "answer": "024", "url": "https://artofproblemsolving.com/wiki", "year": "2024"}, r"\boxed{024}"),
        ({"id": 61, "problem": "Find $m+n$.", "solution": "So $m+n=204$.", "answer": "204",
          "url": "https://artofproblemsolving.com/wiki", "year": "2024"}, r"\boxed{204}"),
    ],
    "amc23": [  # answers stored as numbers
        ({"id": 38, "question": "What is 70 - 0?", "answer": 70.0, "url": ""}, r"\boxed{70.0}"),
        ({"id": 39, "question": "What is 66 + 3?", "answer": 69.0, "url": ""}, r"\boxed{69.0}"),
        ({"id": 0, "question": "Cities $A$ and $B$ are $45$ miles apart. How many miles from City $A$ will they meet?",
          "answer": 27.0, "url": "https://artofproblemsolving.com/wiki"}, r"\boxed{27.0}"),
        ({"id": 1, "question": "Positive reals satisfy $y^3=x^2$ and $(y-x)^2=4y^2$. What is $x+y$?", "answer": 36.0,
          "url": "https://artofproblemsolving.com/wiki"}, r"\boxed{36.0}"),
    ],
    "minerva_math": [  # the gold answer is the final box of a worked solution
        ({"problem": "What is 83 + 8?", "solution": "Adding, $83 + 8 = \\boxed{91}$.", "type": "Arithmetic",
          "idx": 270},
         r"\boxed{91}"),
        ({"problem": "What is 18 - 2?", "solution": "Subtracting, $18 - 2 = \\boxed{16}$.", "type": "Arithmetic",
          "idx": 271}, r"\boxed{16}"),
        ({"problem": "Each Magellan telescope has a diameter of 6.5 m. What is its angular resolution in arcsec?",
          "solution": "Using $\\theta = 1.22 \\lambda / D$ we get $\\theta = \\boxed{1.6}$ arcseconds.",
          "type": "Introduction to Astronomy (8.282J Spring 2006)", "idx": 0}, r"\boxed{1.6}"),
        ({"problem": "Find both roots of $x^2 = 4$.", "solution": "The roots are $\\boxed{2}$ and $\\boxed{-2}$.",
          "type": "Differential Equations (18.03 Spring 2010)", "idx": 1}, r"\boxed{2, -2}"),
    ],
    "olympiadbench": [  # a list of answers written $...$
        ({"id": 1, "subfield": "Algebra", "context": None, "question": "What is 55 + 5?", "solution": ["$55+5=60$"],
          "final_answer": ["$60$"], "is_multiple_answer": False, "unit": None, "answer_type": "Numerical",
          "error": None}, r"\boxed{60}"),
        ({"id": 2, "subfield": "Algebra", "context": None, "question": "What is 57 - 9?", "solution": ["$57-9=48$"],
          "final_answer": ["$48$"], "is_multiple_answer": False, "unit": None, "answer_type": "Numerical",
          "error": None}, r"\boxed{48}"),
        ({"id": 1606, "subfield": "Combinatorics", "context": None, "question": "Compute the probability.",
          "solution": ["The probability is $\\frac{1}{2}$."], "final_answer": ["$\\frac{1}{2}$"],
          "is_multiple_answer": False, "unit": None, "answer_type": "Numerical", "error": None},
         r"\boxed{\frac{1}{2}}"),
        ({"id": 1709, "subfield": "Number Theory", "context": None, "question": "Find all triples.",
          "solution": ["..."], "final_answer": ["$(1,8,19), (2,7,13), (4,5,7)$"], "is_multiple_answer": True,
          "unit": None, "answer_type": "Tuple", "error": None}, r"\boxed{(1,8,19), (2,7,13), (4,5,7)}"),
    ],
}


def write_bench_dir(root: Path) -> Path:
    for name, rows in LOCAL_ROWS.items():
        (root / name).mkdir(parents=True)
        (root / name / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row, _ in rows))
    return root


def run_main(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """eval.py's main in this process, from `cwd` (results/ lands there); returns (exit code, stdout, stderr)."""
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = evaluation.main(argv)
    finally:
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def compared(demo_dir, tmp_path_factory):
    """Every preset, the demo adapter beside its base model, from local files: (work dir, exit code, stdout, the
    models eval.py loaded as (base model, adapter) pairs)."""
    work = tmp_path_factory.mktemp("benchmarks")
    bench_dir = write_bench_dir(work / "data")
    loads, load_model = [], evaluation.load_model

    def counted(settings):  # the real loader, counted
        loads.append((settings.base_model, settings.adapter))
        return load_model(settings)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluation, "load_model", counted)
        code, stdout, _ = run_main(["--model_dir", str(demo_dir / "adapter"), "--benchmarks", *LOCAL_ROWS,
                                    "--benchmark_dir", str(bench_dir), "--compare_baseline", "--max_samples",
                                    str(EVALUATED), *FAST], work)
    return work, code, stdout, loads


def table_cells(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]  # header and rule dropped


def test_every_table_cell_is_the_per_benchmark_result_with_its_interval(compared):
    work, code, stdout, _ = compared
    assert code == 0
    report = json.loads((work / "results" / "adapter__think__benchmarks.json").read_text())
    markdown = (work / "results" / "adapter__think__benchmarks.md").read_text()
    assert markdown in stdout  # the terminal shows the same table and notes
    rows = table_cells(markdown)
    assert [row[0] for row in rows] == [*LOCAL_ROWS, "average"]
    assert report["intervals"]["resamples"] == 10000 and report["intervals"]["level"] == 0.95
    assert "bootstrap over problems" in report["intervals"]["method"]
    assert "intervals: 95% percentile bootstrap over problems" in markdown and "10000 resamples" in markdown

    accuracy = {}
    for row, entry in zip(rows, report["benchmarks"]):
        base, adapter = (json.loads((work / entry["results"][m]["result_files"][0]).read_text())["summary"]
                         for m in ("base", "adapter"))
        assert base["adapter"] is None and adapter["adapter"] and base["base_model"] == adapter["base_model"]
        assert base["system_prompt"] == adapter["system_prompt"] == report["system_prompt"]  # the run's prompt
        assert row[1] == str(adapter["num_problems"]) == str(EVALUATED)
        for cell, summary, label in [(row[2], base, "base"), (row[3], adapter, "adapter")]:
            interval = entry["results"][label]["accuracy_interval"]
            low, high = 100 * interval["low"], 100 * interval["high"]
            assert cell == f"{100 * summary['accuracy']:.1f} [{low:.1f}, {high:.1f}]"
            assert interval["low"] <= summary["accuracy"] <= interval["high"]
        change = entry["change"]["accuracy"]
        assert change["estimate"] == pytest.approx(adapter["accuracy"] - base["accuracy"])
        assert row[4].startswith(f"{100 * change['estimate']:+.1f} [{100 * change['low']:+.1f}, "
                                 f"{100 * change['high']:+.1f}], ")
        assert row[4].endswith(f"on {EVALUATED} problems")  # 2 problems: far too few to tell a change from noise
        assert entry["wall_time_s"] == pytest.approx(sum(entry["results"][m]["wall_time_s"] for m in ("base",
                                                                                                  "adapter")))
        accuracy[row[0]] = base["accuracy"], adapter["accuracy"]
    base_mean = sum(b for b, _ in accuracy.values()) / len(accuracy)
    adapter_mean = sum(a for _, a in accuracy.values()) / len(accuracy)
    assert report["average"]["base"]["accuracy"]["estimate"] == pytest.approx(base_mean)
    assert report["average"]["adapter"]["accuracy"]["estimate"] == pytest.approx(adapter_mean)
    assert report["average"]["change"]["accuracy"]["estimate"] == pytest.approx(adapter_mean - base_mean)
    assert rows[-1][:2] == ["average", str(EVALUATED * len(LOCAL_ROWS))]
    assert rows[-1][2].startswith(f"{100 * base_mean:.1f} [") and rows[-1][3].startswith(f"{100 * adapter_mean:.1f} [")
    assert "prompt style: think" in markdown


def test_each_model_is_loaded_once_for_all_benchmarks(compared, demo_dir):
    work, _, stdout, loads = compared
    (base, no_adapter), (same_base, adapter) = loads  # two loads for 6 benchmarks x 2 models
    assert no_adapter is None and same_base == base and Path(adapter) == (demo_dir / "adapter").resolve()
    assert stdout.index("gsm8k, base") < stdout.index("olympiadbench, base") < stdout.index("gsm8k, adapter")


def test_gold_answers_are_read_by_each_convention(compared):
    work, _, _, _ = compared
    for name, rows in LOCAL_ROWS.items():  # every row of every file, as eval.py will grade it
        prepared = benchmarks.prepare(benchmarks.BENCHMARKS[name], str(work / "data"))
        solutions = [json.loads(line)["solution"] for line in prepared.text.splitlines()]
        assert solutions == [gold for _, gold in rows], name
        assert None not in reward.reference_answers(solutions), name  # no unscored reference on well-formed rows
    report = json.loads((work / "results" / "adapter__think__benchmarks.json").read_text())
    for entry in report["benchmarks"]:  # and the evaluated rows' results hold exactly those references
        result = json.loads((work / entry["results"]["adapter"]["result_files"][0]).read_text())
        assert [s["solution"] for s in result["samples"]] == [g for _, g in LOCAL_ROWS[entry["name"]][:EVALUATED]]
        assert result["summary"]["unscored_references"] == 0, entry["name"]
    # a row that breaks its convention is counted as unscored, never graded against its raw text
    assert benchmarks.gold_answer("He sells 9 eggs.", "####") is None
    assert benchmarks.gold_answer("No box in this solution.", "boxed") is None
    assert benchmarks.gold_answer([], "list") is None


def test_rerun_resumes_from_the_results_and_a_plain_model_gets_the_boxed_prompt(compared, demo_dir):
    work, _, _, _ = compared
    result_file = work / "results" / "adapter__adapter__gsm8k__think.json"
    before = json.loads(result_file.read_text())["samples"]
    full_table = (work / "results" / "adapter__think__benchmarks.md").read_text()
    gsm8k = ["--benchmarks", "gsm8k", "--benchmark_dir", str(work / "data"), "--max_samples", str(EVALUATED)]
    code, stdout, _ = run_main(["--model_dir", str(demo_dir / "adapter"), *gsm8k, *FAST], work)
    assert code == 0 and json.loads(result_file.read_text())["samples"] == before
    # a run on a subset writes its own table, named for its benchmarks, and leaves the full table as it was
    assert (work / "results" / "adapter__think__benchmarks.md").read_text() == full_table
    assert table_cells((work / "results" / "adapter__think__gsm8k__benchmarks.md").read_text())[0][0] == "gsm8k"
    code, _, stderr = run_main(["--model_dir", str(demo_dir / "adapter"), *gsm8k, "--max_completion_length", "12"],
                               work)
    assert code == 2 and len(stderr.strip().splitlines()) == 1  # other settings never replace a result silently
    assert "max_completion_length" in stderr and "--overwrite" in stderr and "--output_file" not in stderr
    assert json.loads(result_file.read_text())["samples"] == before

    code, stdout, _ = run_main(["--model_dir", str(demo_dir / "base_model"), *gsm8k, *FAST], work)
    assert code == 0
    summary = json.loads((work / "results" / "base_model__model__gsm8k__boxed.json").read_text())["summary"]
    assert summary["system_prompt"] == benchmarks.BOXED_PROMPT and summary["reward_funcs"] == ["accuracy"]
    assert "prompt style: boxed" in (work / "results" / "base_model__boxed__gsm8k__benchmarks.md").read_text()


def test_a_missing_benchmark_file_is_one_line(demo_dir, tmp_path):
    (tmp_path / "data" / "gsm8k").mkdir(parents=True)
    (tmp_path / "data" / "gsm8k" / "test.jsonl").write_text(json.dumps(LOCAL_ROWS["gsm8k"][0][0]) + "\n")
    code, stdout, stderr = run_main(["--model_dir", str(demo_dir / "adapter"), "--benchmarks", "gsm8k", "aime24",
                                     "--benchmark_dir", str(tmp_path / "data")], tmp_path)
    assert code == 2 and stdout == ""
    assert stderr.startswith("error: ") and len(stderr.strip().splitlines()) == 1
    assert str(tmp_path / "data" / "aime24" / "test.jsonl") in stderr
    assert not (tmp_path / "results").exists()  # nothing evaluated, nothing written


@pytest.mark.parametrize("extra, says", [
    (["--benchmarks", "gsm8k", "--split", "train"], "--split"),
    (["--benchmarks", "gsm8k", "--output_file", "x.json"], "--output_file"),
    (["--benchmarks", "gsm8k", "--max_samples", "1", "--max_completion_length", "1"],  # bounded, should it be cached
     "--benchmark_dir"),  # the hub is offline in tests: local copies are the fix
    (["--compare_baseline"], "--benchmarks"),
    (["--benchmarks", "gsm8k", "--compare_baseline", "--model_dir", "base_model"], "adapter_config.json"),
    (["--benchmark_dir", "data"], "--benchmarks"),
    (["--write_pass_rates", "rates.jsonl"], "--num_samples"),
    (["--pass_rate_min", "0.2"], "--write_filtered"),
    (["--write_filtered", "f.jsonl", "--num_samples", "4", "--temperature", "1", "--pass_rate_min", "0.9",
      "--pass_rate_max", "0.1"], "min < max"),
    (["--prompt_style", "boxed", "--system_prompt", "Be brief."], "--system_prompt"),
    (["--benchmarks", "gsm8k", "--seeds", "0", "1"], "greedy"),  # seeds change nothing in greedy decoding
    (["--seeds", "0", "1", "--num_samples", "1"], "greedy"),
    (["--seeds", "0", "1", "--temperature", "1", "--seed", "3"], "--seed and --seeds"),
    (["--seeds", "0", "0", "--temperature", "1"], "repeats a seed"),
])
def test_options_that_would_be_ignored_are_refused_in_one_line(demo_dir, tmp_path, extra, says):
    extra = [str(demo_dir / "base_model") if arg == "base_model" else arg for arg in extra]
    code, _, stderr = run_main(["--model_dir", str(demo_dir / "adapter"), *extra], tmp_path)
    assert code == 2 and stderr.startswith("error: ") and len(stderr.strip().splitlines()) == 1 and says in stderr
    assert not (tmp_path / "results").exists()


def test_pass_rates_and_the_filtered_set_match_the_samples(demo_dir, tmp_path):
    data = demo_dir / "data" / "test.jsonl"
    rates_file, filtered_file = tmp_path / "rates.jsonl", tmp_path / "band.jsonl"
    command = ["--model_dir", str(demo_dir / "adapter"), "--dataset_id", str(data), "--split", "test[:12]",
               "--num_samples", "4", "--temperature", "1.0", "--max_completion_length", "24", "--batch_size", "16",
               "--output_file", str(tmp_path / "result.json"), "--write_pass_rates", str(rates_file)]
    code, stdout, _ = run_main([*command, "--write_filtered", str(filtered_file)], tmp_path)
    assert code == 0
    samples = json.loads((tmp_path / "result.json").read_text())["samples"]
    rates = [json.loads(line) for line in rates_file.read_text().splitlines()]
    assert [r["index"] for r in rates] == list(range(12))
    for r in rates:
        mine = [s["accuracy"] for s in samples if s["index"] == r["index"]]
        assert r["num_samples"] == len(mine) == 4 and r["pass_rate"] == sum(mine) / 4

    original = load_math_dataset(str(data), "test[:12]")
    kept = [original[r["index"]] for r in rates if 0 < r["pass_rate"] < 1]
    filtered = [json.loads(line) for line in filtered_file.read_text().splitlines()]
    assert filtered == kept and kept  # the rows themselves, every column, in order
    # training reads it with the run's columns
    assert len(format_dataset(load_math_dataset(str(filtered_file), "train"))) == len(kept)

    # another band from the same (finished, so not regenerated) result: strictly inside it
    code, _, _ = run_main([*command, "--write_filtered", str(filtered_file), "--pass_rate_min", "0.25",
                           "--pass_rate_max", "0.75"], tmp_path)
    assert code == 0
    narrow = [json.loads(line) for line in filtered_file.read_text().splitlines()]
    assert narrow == [original[r["index"]] for r in rates if r["pass_rate"] == 0.5] and len(narrow) < len(kept)


def test_prompt_style_boxed_applies_to_a_plain_evaluation_too(demo_dir, tmp_path):
    code, _, _ = run_main(["--model_dir", str(demo_dir / "adapter"), "--dataset_id",
                           str(demo_dir / "data" / "test.jsonl"), "--split", "test[:2]", "--max_completion_length",
                           "4", "--prompt_style", "boxed", "--output_file", str(tmp_path / "boxed.json")], tmp_path)
    result = json.loads((tmp_path / "boxed.json").read_text())
    assert code == 0 and result["summary"]["system_prompt"] == benchmarks.BOXED_PROMPT
    assert result["samples"][0]["prompt"][0] == {"role": "system", "content": benchmarks.BOXED_PROMPT}
    assert all(s["reward"] == s["accuracy"] for s in result["samples"])  # graded on accuracy alone


@pytest.mark.parametrize("completion, cell, convention, correct", [
    (r"Step 1 gives \boxed{3}. Wait, recheck: \boxed{18}", "9 * 2 = 18\n#### 18", "####", 1.0),  # the last box
    (r"<think>try \boxed{3}</think> The answer is \boxed{1200}.", "#### 1,200", "####", 1.0),
    ("reasoning \\boxed{60}</think>\n\nFinal: \\boxed{6}", "60", "bare", 0.0),  # only what follows </think>
    (r"<think>reasoning \boxed{60}", "60", "bare", 0.0),  # unfinished thinking gives no answer
    (r"So the answer is \boxed{27}.", 27.0, "bare", 1.0),
    (r"The roots are \boxed{2} and \boxed{-2}.", r"Hence $\boxed{-2}$ or $\boxed{2}$.", "boxed", 1.0),
    (r"\boxed{(1,8,19), (2,7,13), (4,5,7)}", ["$(1,8,19), (2,7,13), (4,5,7)$"], "list", 1.0),
])
def test_boxed_style_answers_are_graded_against_each_convention(completion, cell, convention, correct):
    """The answer rule the table names (the last group of boxes after any </think>) against each preset's gold."""
    assert reward.accuracy_reward([completion], solution=[benchmarks.gold_answer(cell, convention)]) == [correct]


def test_local_copies_of_a_problem_file_read_back_as_each_benchmark(demo_dir, tmp_path, capsys):
    """`python benchmarks.py FILE DIR` (the README's offline run): the problems dealt out to the six layouts."""
    assert benchmarks.main([str(demo_dir / "data" / "test.jsonl"), str(tmp_path), "--rows", "12"]) == 0
    source = load_math_dataset(str(demo_dir / "data" / "test.jsonl"), "test[:12]")
    for n, name in enumerate(benchmarks.BENCHMARKS):
        rows = [json.loads(line) for line in benchmarks.prepare(benchmarks.BENCHMARKS[name], str(tmp_path))
                .text.splitlines()]
        assert rows == [{"problem": row["problem"], "solution": row["solution"]} for row in source][n::6], name
    capsys.readouterr()
    assert benchmarks.main([str(tmp_path / "missing.jsonl"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------------------------------
# Each preset's column mapping, hub and local, read in-process from rows in that source's own columns: a preset that
# grades against another column (MATH-500's worked `solution` instead of its `answer`) fails here.

HUB_ROWS = {  # (row as the hub data set holds it, the problem, the gold answer eval.py must grade against)
    "gsm8k": [({"question": "Janet has 3 apples and buys 4. How many now?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
               "Janet has 3 apples and buys 4. How many now?", r"\boxed{7}")],
    "math500": [({"problem": "Solve for $x$: $2x = 9$.", "solution": "Divide by 2: $x = \\boxed{4.5}$.",
                  "answer": "\\frac{9}{2}", "subject": "Algebra", "level": 2, "unique_id": "test/algebra/1.json"},
                 "Solve for $x$: $2x = 9$.", r"\boxed{\frac{9}{2}}")],  # the answer column, not the solution's box
    "aime24": [({"id": 60, "problem": "Find the remainder when 2024 is divided by 1000.",
                 "solution": "The remainder is $\\boxed{24}$.", "answer": "024", "url": "https://aops.com",
                 "year": 2024},
                "Find the remainder when 2024 is divided by 1000.", r"\boxed{024}")],
    "amc23": [({"id": 0, "question": "How many miles from City $A$ will they meet?", "answer": 27.0,
                "url": "https://aops.com"}, "How many miles from City $A$ will they meet?", r"\boxed{27.0}")],
    "minerva_math": [({"question": "What is the angular resolution in arcsec?", "answer": "1.6"},
                      "What is the angular resolution in arcsec?", r"\boxed{1.6}")],
    "olympiadbench": [({"id": 1606, "question": "Compute the probability.", "solution": ["It is $\\frac{2}{4}$."],
                        "final_answer": ["$\\frac{1}{2}$"], "context": None, "is_multiple_answer": False,
                        "unit": None, "answer_type": "Numerical", "subfield": "Combinatorics", "language": "English"},
                       "Compute the probability.", r"\boxed{\frac{1}{2}}")],
}
LOCAL_PROBLEM = {"gsm8k": "question", "math500": "problem", "aime24": "problem", "amc23": "question",
                 "minerva_math": "problem", "olympiadbench": "question"}  # Qwen2.5-Math's parse_question


@pytest.mark.parametrize("source", ["hub", "local"])
@pytest.mark.parametrize("name", list(benchmarks.BENCHMARKS))
def test_each_preset_reads_the_problem_and_gold_answer_columns(name, source):
    from datasets import Dataset

    if source == "hub":
        cases = HUB_ROWS[name]
    else:
        cases = [(row, row[LOCAL_PROBLEM[name]], gold) for row, gold in LOCAL_ROWS[name]]
    columns = getattr(benchmarks.BENCHMARKS[name], source)
    rows = benchmarks.preset_rows(Dataset.from_list([row for row, _, _ in cases]), columns, name)
    assert rows == [{"problem": problem, "solution": gold} for _, problem, gold in cases]


def test_a_benchmark_source_without_the_presets_column_is_one_line():
    from datasets import Dataset

    with pytest.raises(benchmarks.UsageError, match="has no column.*answer.*it has: problem, solution"):
        benchmarks.preset_rows(Dataset.from_list([{"problem": "1+1?", "solution": "2"}]),
                               benchmarks.BENCHMARKS["math500"].hub, "math500: HuggingFaceH4/MATH-500")


@pytest.mark.parametrize("argv, says", [
    (["--rows", "-5"], "--rows -5"),
    (["--rows", "0"], "--rows 0"),
    (["--rows", "five"], "--rows: invalid int value"),
])
def test_local_copies_refuse_a_count_below_one_and_a_file_as_folder(demo_dir, tmp_path, capsys, argv, says):
    source = str(demo_dir / "data" / "test.jsonl")
    assert benchmarks.main([source, str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and says in err
    assert not (tmp_path / "out").exists()
    (tmp_path / "taken").write_text("a user's file\n")
    assert benchmarks.main([source, str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "is a file" in err
    assert (tmp_path / "taken").read_text() == "a user's file\n"


# ----------------------------------------------------------------------------------------------------------------------
# Seeds: they change sampled results, never greedy ones; --seeds reports each seed, the mean and the spread.

def test_seeds_change_sampled_completions_and_not_greedy_ones(demo_dir, tmp_path):
    data = ["--model_dir", str(demo_dir / "adapter"), "--dataset_id", str(demo_dir / "data" / "test.jsonl"),
            "--split", "test[:6]", "--max_completion_length", "16"]
    greedy = [json.loads((tmp_path / f"greedy{seed}.json").read_text())["samples"]
              for seed in (1, 2) if run_main([*data, "--seed", str(seed), "--output_file",
                                              str(tmp_path / f"greedy{seed}.json")], tmp_path)[0] == 0]
    assert len(greedy) == 2 and [s["completion"] for s in greedy[0]] == [s["completion"] for s in greedy[1]]

    code, stdout, _ = run_main([*data, "--temperature", "1.0", "--seeds", "0", "1", "--output_file",
                                str(tmp_path / "sampled.json")], tmp_path)
    assert code == 0
    runs = {seed: json.loads((tmp_path / f"sampled__seed{seed}.json").read_text()) for seed in (0, 1)}
    assert [s["completion"] for s in runs[0]["samples"]] != [s["completion"] for s in runs[1]["samples"]]
    assert runs[1]["summary"]["seed"] == 1
    spread = json.loads((tmp_path / "sampled__seeds.json").read_text())
    per_seed = {str(seed): run["summary"]["accuracy"] for seed, run in runs.items()}
    assert spread["accuracy"]["per_seed"] == per_seed
    assert spread["accuracy"]["mean"] == pytest.approx(sum(per_seed.values()) / 2)
    assert spread["accuracy"]["range"] == pytest.approx(abs(per_seed["0"] - per_seed["1"]))
    assert "accuracy over seeds: mean" in stdout and "over seeds 0 1" in stdout


def test_benchmarks_with_seeds_pool_them_and_report_each(compared, demo_dir):
    work, _, _, _ = compared
    code, stdout, _ = run_main(["--model_dir", str(demo_dir / "adapter"), "--benchmarks", "gsm8k",
                                "--benchmark_dir", str(work / "data"), "--compare_baseline", "--max_samples",
                                str(EVALUATED), "--num_samples", "2", "--temperature", "1.0", "--seeds", "0", "1",
                                *FAST], work)
    assert code == 0
    stem = work / "results" / "adapter__think__k2__seeds0-1__gsm8k__benchmarks"
    report, markdown = json.loads(Path(f"{stem}.json").read_text()), Path(f"{stem}.md").read_text()
    assert report["settings"]["seeds"] == [0, 1]
    entry = report["benchmarks"][0]["results"]["adapter"]
    per_seed = [json.loads((work / f).read_text())["summary"] for f in entry["result_files"]]
    assert [s["seed"] for s in per_seed] == [0, 1]
    assert entry["seeds"]["per_seed"] == {"0": per_seed[0]["accuracy"], "1": per_seed[1]["accuracy"]}
    # the cell pools both seeds' samples: their mean, with the interval over problems and all 4 samples each
    pooled = (per_seed[0]["accuracy"] + per_seed[1]["accuracy"]) / 2
    assert entry["accuracy_interval"]["estimate"] == pytest.approx(pooled)
    assert table_cells(markdown)[0][3].startswith(f"{100 * pooled:.1f} [")
    assert "- seeds, gsm8k adapter avg@2: mean " in markdown and "over seeds 0 1 (" in markdown
    assert "the 4 samples (2 per seed x 2 seeds) within each drawn problem" in report["intervals"]["method"]
