r"""`reward.resolve_reward_funcs`: the one place where `--reward_funcs` becomes functions, for training, evaluation and
reports. Registry names, a user's reward file, an importable module, TRL's soft overlong punishment, and a one-line
UsageError naming --reward_funcs for everything unusable. Real imports and a real probe call, no mocks, offline.
"""
import textwrap

import pytest

import reward
from errors import UsageError
from reward import recorded_reward_spec, resolve_reward_funcs

USER_REWARDS = '''
import asyncio

def brevity(completions, **kwargs):
    """1.0 for an empty completion, falling to 0.0 at 100 characters."""
    return [max(0.0, 1.0 - len(c[0]["content"]) / 100) for c in completions]

def strict_signature(prompts, completions, completion_ids, solution, trainer_state, log_extra, log_metric):
    log_metric("strict/seen", 1.0)
    return [float(len(ids) > 0) for ids in completion_ids]

async def judged_later(completions, **kwargs):
    await asyncio.sleep(0)
    return [None for _ in completions]

class Scorer:
    def __call__(self, completions, **kwargs):
        return [0.0] * len(completions)

scorer = Scorer()
NOT_A_FUNCTION = 3

def raises(completions, **kwargs):
    raise KeyError("answer")

def no_kwargs(completions):
    return [0.0] * len(completions)

def returns_a_number(completions, **kwargs):
    return 1.0

def returns_text(completions, **kwargs):
    return ["good"]

def returns_two(completions, **kwargs):
    return [1.0, 1.0]

def accuracy_reward(completions, **kwargs):
    return [0.0] * len(completions)
'''


@pytest.fixture
def reward_file(tmp_path):
    path = tmp_path / "my_rewards.py"
    path.write_text(USER_REWARDS)
    return path


def trl_batch(texts, ids=None):
    """A batch passed the way TRL 1.16's GRPOTrainer passes it to reward functions."""
    logged = {}
    return dict(prompts=[[{"role": "user", "content": "q"}]] * len(texts),
                completions=[[{"role": "assistant", "content": t}] for t in texts],
                completion_ids=ids or [[1, 2, 3]] * len(texts), solution=["5"] * len(texts), trainer_state=None,
                log_extra=lambda column, values: None, log_metric=logged.__setitem__), logged


def test_registry_names_resolve_to_the_functions_trl_logs_by_name():
    funcs = resolve_reward_funcs(["format", "accuracy"], [1.0, 2.0])
    assert funcs == [reward.format_reward, reward.accuracy_reward]
    assert [f.__name__ for f in funcs] == ["format_reward", "accuracy_reward"]
    assert reward.DEFAULT_REWARDS == ["format", "accuracy"]


def test_a_custom_reward_file_resolves_and_scores(reward_file):
    funcs = resolve_reward_funcs(["format", "accuracy", f"{reward_file}:brevity"])
    batch, _ = trl_batch([r"<think>x</think><answer>\boxed{5}</answer>", ""])
    assert [f.__name__ for f in funcs] == ["format_reward", "accuracy_reward", "brevity"]
    assert funcs[2](**batch) == [pytest.approx(1 - 42 / 100), 1.0]
    assert funcs[1](**batch) == [1.0, 0.0]


def test_a_relative_file_spec_is_recorded_absolute_and_resolves_the_same_function_elsewhere(reward_file, tmp_path,
                                                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    [func] = resolve_reward_funcs(["my_rewards.py:brevity"])
    recorded = recorded_reward_spec("my_rewards.py:brevity")
    assert recorded == f"{reward_file.resolve()}:brevity"
    monkeypatch.chdir(tmp_path.parent)  # eval.py run from another directory
    assert resolve_reward_funcs([recorded]) == [func]
    assert recorded_reward_spec("accuracy") == "accuracy"
    assert recorded_reward_spec("my_pkg.rewards.brevity") == "my_pkg.rewards.brevity"


def test_an_importable_module_resolves_by_dotted_path(reward_file, monkeypatch):
    monkeypatch.syspath_prepend(str(reward_file.parent))
    [func] = resolve_reward_funcs(["my_rewards.brevity"])
    assert func.__name__ == "brevity" and func.__module__ == "my_rewards"


def test_the_probe_passes_exactly_what_grpo_trainer_passes(reward_file):
    """A function that names every keyword GRPOTrainer passes, and no **kwargs, resolves; so do async functions and
    callable objects (named after their attribute, as TRL logs them)."""
    strict, later, scorer = resolve_reward_funcs([f"{reward_file}:{name}"
                                                  for name in ("strict_signature", "judged_later", "scorer")])
    batch, logged = trl_batch(["a", "b"], ids=[[1], []])
    assert strict(**batch) == [1.0, 0.0] and logged == {"strict/seen": 1.0}
    assert later.__name__ == "judged_later" and scorer.__name__ == "scorer"


def test_overlong_follows_trls_soft_punishment():
    [overlong] = resolve_reward_funcs(["overlong"], max_completion_length=100, overlong_buffer=20)
    assert overlong.__name__ == "soft_overlong_punishment_reward"
    lengths = [50, 80, 90, 100, 101]
    scores = overlong(completion_ids=[[7] * n for n in lengths])
    assert scores == [0.0, 0.0, pytest.approx(-0.5), -1.0, -1.0]  # 0 up to max - buffer, then linear to -1 at max


def test_overlong_buffer_defaults_to_a_quarter_of_the_completion_length():
    [overlong] = resolve_reward_funcs(["format", "overlong"], max_completion_length=100)[1:]
    assert overlong(completion_ids=[[7] * 75, [7] * 90]) == [0.0, pytest.approx(-0.6)]


ERROR_CASES = [  # (specs, keyword options, words the one line must contain)
    (["acuracy"], {}, ["unknown reward 'acuracy'", "format, accuracy, random, overlong", "path/to/file.py:function",
                       "package.module.function"]),
    (["{dir}/missing.py:brevity"], {}, ["no file", "missing.py"]),
    (["no_such_package_xyz.rewards.brevity"], {}, ["no module named 'no_such_package_xyz'", "PYTHONPATH"]),
    (["{file}:absent"], {}, ["has no 'absent'"]),
    (["{file}:NOT_A_FUNCTION"], {}, ["not a function"]),
    (["{file}:raises"], {}, ["raised KeyError", "'answer'", "as GRPOTrainer passes it"]),
    (["{file}:no_kwargs"], {}, ["raised TypeError", "**kwargs"]),
    (["{file}:returns_a_number"], {}, ["returned 1.0", "one float (or None"]),
    (["{file}:returns_text"], {}, ["returned ['good']"]),
    (["{file}:returns_two"], {}, ["returned [1.0, 1.0]"]),
    (["{file}"], {}, ["name the function too"]),
    (["{dir}/broken.py:f"], {}, ["loading", "SyntaxError"]),
    (["accuracy", "{file}:accuracy_reward"], {}, ["rewards/accuracy_reward", "give each reward once"]),
    (["overlong"], {}, ["--max_completion_length"]),
    (["overlong"], {"max_completion_length": 64, "overlong_buffer": 0}, ["--overlong_buffer 0", "between 1 and"]),
    (["overlong"], {"max_completion_length": 64, "overlong_buffer": 65}, ["--overlong_buffer 65"]),
]


@pytest.mark.parametrize("specs, options, words", ERROR_CASES, ids=lambda v: str(v)[:40])
def test_each_unusable_reward_is_one_error_line_naming_the_flag(specs, options, words, reward_file):
    (reward_file.parent / "broken.py").write_text("def f(completions, **kwargs)\n    return []\n")
    specs = [s.format(file=reward_file, dir=reward_file.parent) for s in specs]
    with pytest.raises(UsageError) as err:
        resolve_reward_funcs(specs, **options)
    message = str(err.value)
    assert "\n" not in message and "--reward_funcs" in message
    for word in words:
        assert word in message, message


def test_one_weight_per_reward():
    with pytest.raises(UsageError) as err:
        resolve_reward_funcs(["format", "accuracy"], [1.0])
    assert str(err.value) == "2 --reward_funcs but 1 --reward_weights: give one weight per reward"


def test_a_failed_file_can_be_fixed_and_resolved_again(tmp_path):
    path = tmp_path / "fixme.py"
    path.write_text("raise RuntimeError('not yet')\n")
    with pytest.raises(UsageError, match="RuntimeError: not yet"):
        resolve_reward_funcs([f"{path}:f"])
    path.write_text(textwrap.dedent("""
        def f(completions, **kwargs):
            return [0.5] * len(completions)
    """))
    [func] = resolve_reward_funcs([f"{path}:f"])
    assert func(completions=["x"]) == [0.5]


def test_a_custom_reward_is_probed_once_per_process(tmp_path):
    """Training, held-out evaluation, --check and each benchmark resolve the run's rewards: the user's function is
    imported and probed (called once on a one-sample batch) only the first time."""
    path = tmp_path / "counted.py"
    path.write_text("CALLS = []\ndef counted(completions, **kwargs):\n    CALLS.append(len(completions))\n"
                    "    return [0.0] * len(completions)\n")
    first = resolve_reward_funcs([f"{path}:counted", "accuracy"])[0]
    again = resolve_reward_funcs([f"{path}:counted"], max_completion_length=16)[0]
    assert again is first and first.__globals__["CALLS"] == [1]
