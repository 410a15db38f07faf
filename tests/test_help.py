"""--help leads with the options users change and says where the rest is; --help_all shows every option accepted."""
import pytest

from cli import option_names


@pytest.fixture(scope="module")
def parser():
    import main

    return main.make_parser()


def help_text(parser, show_all: bool) -> str:
    parser.show_all = show_all
    try:
        return parser.format_help()
    finally:
        parser.show_all = False


def test_help_is_short_and_leads_with_the_options_users_change(parser):
    text = help_text(parser, False)
    assert len(text.splitlines()) < 250, "TRL's ~200 options stay out of --help"
    order = [text.index(heading) for heading in ["Model and data:", "Training:", "Rewards:",
                                                 "Held-out evaluation during training:", "Modes:"]]
    assert order == sorted(order)
    for flag in ["--model_id", "--dataset_id", "--max_prompt_length", "--max_completion_length", "--batch_size",
                 "--max_steps", "--output_dir", "--reward_funcs", "--eval_dataset_id", "--lora_r", "--check", "--demo"]:
        assert flag in text, flag
    assert "--adam_epsilon" not in text and "--help_all" in text.splitlines()[-1]


def test_help_all_shows_every_option_accepted(parser):
    text = help_text(parser, True)
    missing = [name for name in option_names(parser) if name not in text]
    assert not missing, missing[:5]
    assert "--adam_beta1" in text and "--loss_type" in text
