"""The `random` reward: the control run that "Spurious Rewards" (arXiv 2506.10947) recommends.

Each completion scores 1.0 or 0.0 with probability 1/2, whatever it says: the score depends only on the seed, the
training step, the prompt and the completion's position in the batch, never on the completion's text. Training with
`--reward_funcs random` and otherwise the same command as a real run shows how much of a gain the model makes without
any signal about correctness (Qwen2.5-Math-7B gains +21 points on MATH-500 that way); docs/benchmark-statistics.md
says how to read the two side by side. Reproducible: the same seed, step and batch give the same scores.
"""
from __future__ import annotations

import hashlib
from typing import Callable

DEFAULT_SEED = 0


def _coin(*parts) -> float:
    """1.0 or 0.0 from a hash of `parts` (a fair coin that no completion can influence)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return float(digest[0] & 1)


def make_random_reward(seed: int = DEFAULT_SEED) -> Callable:
    """A reward function scoring each completion by a seeded coin flip; keyed on the step and the prompt so that
    each step draws afresh and a resumed run redraws exactly the same scores."""

    def random_reward(completions, prompts=None, trainer_state=None, **kwargs) -> list[float]:
        step = getattr(trainer_state, "global_step", None)
        prompts = list(prompts or [])
        return [_coin(seed, step, prompts[n] if n < len(prompts) else None, n) for n in range(len(completions))]

    random_reward.seed = seed
    return random_reward


random_reward = make_random_reward()
