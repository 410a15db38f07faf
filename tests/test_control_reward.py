"""The `random` control reward (control_reward.py, in reward.py's registry): uninformative about the answer,
reproducible by seed, a fair coin over many completions, and usable by name wherever rewards are named."""
from types import SimpleNamespace

import control_reward
import reward

N = 200
PROMPTS = [[{"role": "user", "content": f"What is {n} + 1?"}] for n in range(N)]
SOLUTIONS = [f"\\boxed{{{n + 1}}}" for n in range(N)]
RIGHT = [[{"role": "assistant", "content": f"<think>easy</think><answer>\\boxed{{{n + 1}}}</answer>"}]
         for n in range(N)]
WRONG = [[{"role": "assistant", "content": f"<think>easy</think><answer>\\boxed{{{n + 2}}}</answer>"}]
         for n in range(N)]


def scores(func, completions, step=3):
    return func(prompts=PROMPTS, completions=completions, solution=SOLUTIONS,
                trainer_state=SimpleNamespace(global_step=step))


def test_the_score_says_nothing_about_the_answer():
    func = reward.resolve_reward_funcs(["random"])[0]
    assert func is control_reward.random_reward
    right, wrong = scores(func, RIGHT), scores(func, WRONG)
    assert reward.accuracy_reward(RIGHT, solution=SOLUTIONS) == [1.0] * N  # the answers really are right ...
    assert reward.accuracy_reward(WRONG, solution=SOLUTIONS) == [0.0] * N  # ... and wrong
    assert set(right) == set(wrong) == {0.0, 1.0}
    # right answers score 1.0 about as often as wrong ones: about half of each (binomial sd over 200: 3.5%)
    assert 0.4 < sum(right) / N < 0.6 and 0.4 < sum(wrong) / N < 0.6
    # and knowing a completion's score tells nothing about whether it was right: half agree
    agree = sum(r == 1.0 for r in right) + sum(w == 0.0 for w in wrong)
    assert 0.4 < agree / (2 * N) < 0.6


def test_the_scores_are_reproducible_by_seed_and_redrawn_each_step():
    seven, again, other = (control_reward.make_random_reward(s) for s in (7, 7, 8))
    assert scores(seven, RIGHT) == scores(again, RIGHT)
    assert scores(seven, RIGHT) != scores(other, RIGHT)
    assert scores(seven, RIGHT, step=3) != scores(seven, RIGHT, step=4)
    # the text and the conversational form of one completion are one completion
    text = [c[0]["content"] for c in RIGHT]
    assert seven(prompts=PROMPTS, completions=text, trainer_state=SimpleNamespace(global_step=3)) == \
        scores(seven, RIGHT)
