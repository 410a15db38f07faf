r"""Throughput of this project's `accuracy_reward` against TRL's `trl.rewards.accuracy_reward`, same inputs, same run.

    python bench/bench_rewards.py [--groups 400] [--seed 0]

Completions come in groups of 8 sharing one reference, as GRPO scores them; each function is called once per
group, the two alternating group by group so that load from other work on a shared machine hits both alike.

Answer types follow roughly the mix of MATH / NuminaMath (mostly integers; then fractions, radicals, decimals,
sets, intervals). Within a group: correct answers in the reference's form and in equivalent forms (0.5 vs
\frac{1}{2}, \{2,1\} vs \{1,2\}), wrong answers, unboxed answers, answers written only while thinking, and
truncated completions. References are bare answers, worked solutions ending in \boxed{}, or GSM8K `#### n`.
Not a timed test: CPU timings on a shared machine are noisy, so run it more than once.
"""
from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import reward  # noqa: E402

GROUP = 8
ANSWER_TYPES = {"integer": 60, "fraction": 13, "radical": 10, "decimal": 7, "set": 5, "interval": 5}
COMPLETION_TYPES = {"same form": 35, "equivalent form": 15, "wrong": 25, "unboxed": 10, "think only": 5,
                    "truncated": 10}
FILLER = [
    "Let me set up the equation carefully.", "First, we simplify the expression $2x + 3 = 11$, so $x = 4$.",
    "We can check this by substituting back.", "The total is the sum of the parts, $a + b + c$.",
    "Consider the ratio $\\frac{a}{b}$ and note that $b \\neq 0$.", "Multiplying both sides by $3$ gives $3y = 12$.",
    "Wait, that is not right; let me recompute.", "So the number of ways is $\\binom{5}{2} = 10$.",
    "By the Pythagorean theorem, $c^2 = a^2 + b^2$.", "Hence the answer follows.",
]


def answer_forms(kind: str, rng: random.Random):
    """(reference form, equivalent forms, wrong forms) of a random answer of this type."""
    if kind == "integer":
        n = rng.randint(2, 5000)
        return str(n), [f"{n}.0", f"{n} \\text{{ apples}}", f"\\${n}"], [str(n + rng.randint(1, 9)), str(n * 2)]
    if kind == "fraction":
        p, q = rng.randint(1, 50), rng.choice([2, 4, 5, 8, 20, 25])
        p += p % q == 0
        return (f"\\frac{{{p}}}{{{q}}}", [f"\\dfrac{{{p}}}{{{q}}}", f"{p / q:g}", f"{p}/{q}"],
                [f"\\frac{{{p + 1}}}{{{q}}}", f"{p / q + 1:g}"])
    if kind == "decimal":
        x = rng.randint(1, 999) / 10 + 0.05
        return f"{x:.2f}", [f"\\frac{{{round(x * 100)}}}{{100}}", f"{x:.3f}"], [f"{x + 1:.2f}", f"{x * 3:.2f}"]
    if kind == "radical":
        a, b = rng.randint(2, 9), rng.choice([2, 3, 5, 7])
        return f"{a}\\sqrt{{{b}}}", [f"\\sqrt{{{a * a * b}}}", f"{a} \\sqrt{b}"], [f"{a + 1}\\sqrt{{{b}}}", f"{a * b}"]
    a, b = sorted(rng.sample(range(-20, 20), 2))
    if kind == "set":
        return f"\\{{{a}, {b}\\}}", [f"\\{{{b},{a}\\}}"], [f"\\{{{a}, {b + 1}\\}}", str(a)]
    return f"[{a}, {b})", [f"\\left[{a},{b}\\right)"], [f"({a}, {b})", f"[{a}, {b}]"]


def reasoning(rng: random.Random) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(rng.randint(5, 30)))


def pick(weights: dict, rng: random.Random) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def make_group(rng: random.Random):
    """(answer type, 8 conversational completions, 8 copies of the reference)."""
    kind = pick(ANSWER_TYPES, rng)
    ref, equivalents, wrongs = answer_forms(kind, rng)
    style = rng.choice(["bare", "worked"] + (["gsm8k"] if kind == "integer" else []))
    solution = {"bare": ref,
                "worked": f"{reasoning(rng)} Therefore the answer is $\\boxed{{{ref}}}$.",
                "gsm8k": f"{reasoning(rng)} <<{ref}={ref}>>{ref}\n#### {ref}"}[style]
    completions = []
    for _ in range(GROUP):
        shape = pick(COMPLETION_TYPES, rng)
        think = reasoning(rng)
        answer = {"same form": ref, "equivalent form": rng.choice(equivalents), "wrong": rng.choice(wrongs)}.get(shape)
        if answer is not None:
            text = f"<think>{think}</think><answer>The answer is \\boxed{{{answer}}}</answer>"
        elif shape == "unboxed":
            text = f"<think>{think}</think><answer>{ref}</answer>"
        elif shape == "think only":
            text = f"<think>{think} so it is \\boxed{{{ref}}}.</think><answer>I am not sure.</answer>"
        else:
            text = f"<think>{think} {think}"
        completions.append([{"role": "assistant", "content": text}])
    return kind, completions, [solution] * GROUP


def score(funcs, groups):
    """Each function's scores on every group, and its seconds per answer type. Calls alternate between the
    functions group by group, so load from other work on a shared machine hits both alike."""
    scores, seconds = [[] for _ in funcs], [defaultdict(float) for _ in funcs]
    for kind, completions, solutions in groups:
        for k, func in enumerate(funcs):
            start = time.perf_counter()
            scores[k] += func(completions, solution=solutions)
            seconds[k][kind] += time.perf_counter() - start
    return scores, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=400, help="groups of 8 completions (default 400 = 3200 pairs)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    from trl.rewards import accuracy_reward as trl_accuracy_reward

    rng = random.Random(args.seed)
    groups = [make_group(rng) for _ in range(args.groups)]
    funcs = (reward.accuracy_reward, trl_accuracy_reward)
    score(funcs, [make_group(random.Random(-i)) for i in range(1, 6)])  # start our worker, warm both parsers

    (ours, theirs), (ours_s, trl_s) = score(funcs, groups)
    kinds = Counter(kind for kind, _, _ in groups)
    print(f"{'answer type':<12} {'groups':>6} {'ours c/s':>9} {'TRL c/s':>9} {'ratio':>6}")
    for kind in ANSWER_TYPES:
        n = kinds[kind] * GROUP
        if n:
            print(f"{kind:<12} {kinds[kind]:>6} {n / ours_s[kind]:>9.0f} {n / trl_s[kind]:>9.0f} "
                  f"{trl_s[kind] / ours_s[kind]:>5.1f}x")
    n, ours_total, trl_total = len(ours), sum(ours_s.values()), sum(trl_s.values())
    print(f"\n{n} completions in {args.groups} groups of {GROUP}, one call per group per function")
    print(f"ours  reward.accuracy_reward        {n / ours_total:8.0f} completions/s   mean reward {sum(ours) / n:.3f}")
    print(f"TRL   trl.rewards.accuracy_reward   {n / trl_total:8.0f} completions/s   "
          f"mean reward {sum(t or 0.0 for t in theirs) / n:.3f}")
    diff = Counter(f"ours {a} / TRL {b}" for a, b in zip(ours, theirs) if a != b)
    print(f"scores agree on {n - sum(diff.values())}/{n}; differ: {dict(diff) or 'never'}")
    print(f"ratio ours/TRL: {trl_total / ours_total:.2f}x")


if __name__ == "__main__":
    main()
