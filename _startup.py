"""Start-up settings that must be in place before TensorFlow or Keras is imported.

`import attention_zoo` runs this first. In every process it sets
`TF_CPP_MIN_LOG_LEVEL=2` unless the environment sets it, and nothing more: a
library user's stderr, warnings and loggers stay theirs.

The `attention-zoo` command (the console script, or `python -m
attention_zoo.experiments.cli`) promises our lines only, unless `--verbose` is on
its command line. TensorFlow 2.21 writes its C++ start-up lines ("All log messages
before absl::InitializeLog()", oneDNN, cuda drivers) straight to file descriptor 2
whatever `TF_CPP_MIN_LOG_LEVEL` says, so in that process only, and only while
TensorFlow is imported, descriptor 2 goes to a temporary file. What TensorFlow
wrote there is then copied to stderr except its start-up log records; when the
import fails, everything is copied and the error is raised as usual. The command
also sets `TF_CPP_MIN_LOG_LEVEL=3` (TensorFlow's C++ errors at run time, such as
grappler's, are then hidden too), the `tensorflow` and `absl` loggers to ERROR,
and shows only the Python warnings of attention_zoo's own modules, one line each.
Should TensorFlow's import kill the process outright (a crash, not an exception),
its last words are in the temporary file only: `--verbose` shows them.
"""

import importlib
import logging
import os
import re
import sys
import tempfile
import warnings

# TensorFlow's start-up log records: absl's preamble, and records of level I, W or E
# ("I0000 00:00:1795852450.049443    5174 port.cc:153] ..."). F (fatal) records are kept.
_STARTUP_LINE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+ +\d+ [\w.-]+:\d+\] "
    r"|To enable the following instructions: .* rebuild TensorFlow"
)


def quiet_command_line(argv, orig_argv=()):
    """Whether a process started as `argv` (`orig_argv`: Python's own) is the quiet command.

    That is the `attention-zoo` console script, or `python -m
    attention_zoo.experiments.cli`, without `--verbose` among its arguments.
    """
    script = os.path.basename(argv[0] if argv else "").removesuffix(".exe") == "attention-zoo"
    module = any(
        a == "-m" and b == "attention_zoo.experiments.cli"
        for a, b in zip(orig_argv, orig_argv[1:], strict=False)
    )
    return (script or module) and "--verbose" not in argv[1:]


def import_quietly(name="tensorflow"):
    """Imports module `name` with TensorFlow's start-up lines dropped from file descriptor 2.

    Every other line written to descriptor 2 meanwhile reaches stderr; when the import
    fails, every line does, and the error is raised.
    """
    sys.stderr.flush()
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        failed = True
        try:
            importlib.import_module(name)
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = [line for line in lines if failed or not _STARTUP_LINE.match(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _show_our_warnings_only():
    """Python warnings: only attention_zoo's own, each on one line."""
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=r"attention_zoo(\.|$)")

    def one_line(message, category, filename, lineno, line=None):
        return f"attention-zoo: warning: {' '.join(str(message).split())}\n"

    warnings.formatwarning = one_line


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
QUIET = quiet_command_line(sys.argv, getattr(sys, "orig_argv", ()))
"""Whether this process is the `attention-zoo` command without `--verbose`."""

if QUIET:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    _show_our_warnings_only()
    if "tensorflow" not in sys.modules:
        import_quietly("tensorflow")
    for _name in ("tensorflow", "absl"):
        logging.getLogger(_name).setLevel(logging.ERROR)
