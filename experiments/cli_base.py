"""What the `attention-zoo` subcommands share: the usage error, one-line messages, the parser."""

import argparse
import re


class UsageError(Exception):
    """Bad arguments: exit code 2."""


# Terminal control sequences (colours, cursor moves) that framework messages may carry.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")


def _one_line(text):
    """`text` without terminal escape codes, its lines and runs of spaces joined by one space."""
    return " ".join(_ANSI.sub("", str(text)).split())


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is in --help), exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")
