"""Command-line plumbing shared by the entry points (main.py, eval.py, report.py, benchmarks.py): the help layout,
one-line parse errors with "did you mean", and whether an option was given."""
from __future__ import annotations

import argparse
import difflib
from dataclasses import MISSING, fields

from errors import UsageError


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option; the examples in the description keep their lines."""


def option_names(parser: argparse.ArgumentParser) -> list[str]:
    return [opt for action in parser._actions for opt in action.option_strings if opt.startswith("--")]


def suggest(parser: argparse.ArgumentParser, flag: str) -> str:
    """' (did you mean --close_option?)' for a misspelled option, '' when nothing is close."""
    close = difflib.get_close_matches("--" + flag.lstrip("-").split("=")[0], option_names(parser), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_option(parser: argparse.ArgumentParser, words: list[str], command: str) -> UsageError:
    """The one-line error for arguments the parser did not take: the first option, with a suggestion."""
    flag = next((w for w in words if w.startswith("-")), words[0])
    if not flag.startswith("-"):
        return UsageError(f"unexpected argument {flag!r} (see python {command} --help)")
    return UsageError(f"unknown option {flag}{suggest(parser, flag)} (see python {command} --help)")


def one_line_errors(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """argparse prints the usage and exits on a parse error; ours raise one UsageError line instead."""

    def error(message):
        if message.startswith("unrecognized arguments: "):
            raise unknown_option(parser, message.split(": ", 1)[1].split(), command)
        raise UsageError(f"{message} (see python {command} --help)")

    parser.error = error
    return parser


def flags_given(argv: list[str]) -> set[str]:
    """The options on a command line, as `--name` with underscores (`--check-samples=2` -> `--check_samples`)."""
    return {"--" + a[2:].split("=")[0].replace("-", "_") for a in argv if a.startswith("--")}


def given(args, name: str, argv: list[str] | None = None) -> bool:
    """Whether the user set option `name` of the arguments dataclass `args`: on the command line `argv` when known
    (even at its default value), or to a value other than the field's default (a --config file, a caller)."""
    if argv is not None and f"--{name}" in flags_given(argv):
        return True
    field = next(f for f in fields(args) if f.name == name)
    default = field.default_factory() if field.default_factory is not MISSING else field.default
    return getattr(args, name) != default
