"""The `random` reward: the control run that "Spurious Rewards" (arXiv 2506.10947) recommends.

Each completion scores 1.0 or 0.0 by a seeded coin: a hash of the seed, the training step, the prompt and the
completion's text, so no completion can steer it and it carries no information about whether the answer is right
(right and wrong answers score 1.0 equally often, about half the time). Training with `--reward_funcs random` and
otherwise the same command as a real run shows how much a model gains without any signal about correctness
(Qwen2.5-Math-7B gains +21 points on MATH-500 that way); docs/benchmark-statistics.md says how to read the two runs
side by side. Reproducible: the same seed, step, prompt and completion give the same score, in a resumed run too.
"""
from __future__ import annotations

import hashlib
from typing import Callable

DEFAULT_SEED = 0


def _text(value) -> str:
    """A prompt or completion as text (TRL's conversational form: the messages' contents), for hashing only."""
    if isinstance(value, list):
        return "\x1e".join(_text(v) for v in value)
    if isinstance(value, dict):
        return _text(value.get("content", ""))
    return value if isinstance(value, str) else "" if value is None else str(value)


def _coin(*parts) -> float:
    """1.0 or 0.0 from a SHA-256 of `parts`: a fair coin, fixed by its inputs."""
    key = "\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")
    return float(hashlib.sha256(key).digest()[0] & 1)


def make_random_reward(seed: int = DEFAULT_SEED) -> Callable:
    """A reward function scoring each completion by a seeded coin (see the module's docstring)."""

    def random_reward(completions, prompts=None, trainer_state=None, **kwargs) -> list[float]:
        """Control reward: 1.0 or 0.0 by a seeded coin, about half of each, whatever the answer says."""
        step = getattr(trainer_state, "global_step", None)
        prompts = list(prompts or [])
        return [_coin(seed, step, _text(prompts[n]) if n < len(prompts) else "", _text(completion))
                for n, completion in enumerate(completions)]

    random_reward.seed = seed
    return random_reward


random_reward = make_random_reward()
