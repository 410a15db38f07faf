"""The `random` control reward (control_reward.py, in reward.py's registry): independent of the answer, reproducible
by seed, a fair coin over many completions, and usable by name wherever rewards are named."""
from types import SimpleNamespace

import control_reward
import reward

PROMPTS = [[{"role": "user", "content": f"What is {n} + 1?"}] for n in range(64)]
RIGHT = [[{"role": "assistant", "content": f"<think>easy</think><answer>\\boxed{{{n + 1}}}</answer>"}]
         for n in range(64)]
WRONG = [[{"role": "assistant", "content": "no idea"}] for _ in range(64)]


def scores(func, completions, step=3):
    return func(prompts=PROMPTS, completions=completions, solution=[f"\\boxed{{{n + 1}}}" for n in range(64)],
                trainer_state=SimpleNamespace(global_step=step))


def test_the_score_does_not_depend_on_the_answer():
    func = reward.resolve_reward_funcs(["random"])[0]
    assert func is control_reward.random_reward
    assert scores(func, RIGHT) == scores(func, WRONG)  # right and wrong answers, the same scores
    assert set(scores(func, RIGHT)) == {0.0, 1.0}
    assert 16 < sum(scores(func, RIGHT)) < 48  # about half of 64 score 1 (a fair coin: this holds for seed 0)


def test_the_scores_are_reproducible_by_seed_and_redrawn_each_step():
    seven, again, other = (control_reward.make_random_reward(s) for s in (7, 7, 8))
    assert scores(seven, RIGHT) == scores(again, RIGHT)
    assert scores(seven, RIGHT) != scores(other, RIGHT)
    assert scores(seven, RIGHT, step=3) != scores(seven, RIGHT, step=4)
    # outside training (no trainer state) it is still a fixed function of the seed and the batch
    assert seven(completions=RIGHT[:5]) == again(completions=WRONG[:5])
