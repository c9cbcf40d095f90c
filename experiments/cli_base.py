"""What the `attention-zoo` subcommands and the experiment scripts share: the usage error,
one-line messages, the parser, the check of integer options."""

import argparse
import re

from attention_zoo._validation import check_positive_int


class UsageError(Exception):
    """Bad arguments: exit code 2."""


# Terminal control sequences (colours, cursor moves) that framework messages may carry.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")


def _one_line(text):
    """`text` without terminal escape codes, its lines and runs of spaces joined by one space."""
    return " ".join(_ANSI.sub("", str(text)).split())


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is in --help), exit code 2, and
    every option's default in --help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")

    def add_argument(self, *args, **kwargs):
        """Adds an argument; an option's help ends with its default, or says it is required.

        An option whose default is None says in its own help what it defaults to (such
        as "default: all"); so may one whose default needs words.
        """
        action = super().add_argument(*args, **kwargs)
        help_text = action.help or ""
        if not action.option_strings or action.default is argparse.SUPPRESS:
            return action  # a positional argument, or --help
        if action.required:
            action.help = f"{help_text} (required)".strip()
        elif "default:" not in help_text and action.default is not None:
            default = "off" if action.default is False else "%(default)s"
            action.help = f"{help_text} (default: {default})".strip()
        return action


def check_positive_options(parser, args, names):
    """Exits through `parser.error` (code 2) unless each option in `names` is a positive
    integer; the message names the option as typed and its value."""
    for name in names:
        try:
            check_positive_int(f"--{name.replace('_', '-')}", getattr(args, name))
        except ValueError as err:
            parser.error(str(err))
