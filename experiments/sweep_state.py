"""The saved state of a sweep under --out: whole-or-nothing writes, damaged files, the lock.

Every file the sweep writes is written whole or not at all. A state file that cannot
be read raises DamagedStateError, which names it, and is set aside under
OUT/damaged/. `OUT/compare.lock` keeps a second sweep out of a running one's folder.
"""

import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import sys

SPEC_FILE = "sweep.json"

LOCK_FILE = "compare.lock"

# Where damaged state files are moved to (under --out), keeping their relative path.
DAMAGED_DIR = "damaged"


class SweepError(ValueError):
    """A sweep that cannot start: bad arguments, an --out that holds another sweep or that
    another `compare` is using."""


class DamagedStateError(RuntimeError):
    """A state file under --out that cannot be read; the message names it."""

    def __init__(self, path, problem):
        super().__init__(f"{path} is damaged ({problem})")
        self.path = path


def _log(message):
    print(message, file=sys.stderr, flush=True)


def _atomic_write_text(path, text):
    """Writes `path` whole or not at all (a full disk or a kill leaves the old file)."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_write_json(path, obj):
    _atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True))


def _load_json(path):
    """The JSON in `path`; a damaged file raises DamagedStateError naming it."""
    try:
        text = pathlib.Path(path).read_text()
    except UnicodeDecodeError as err:
        raise DamagedStateError(path, f"not text: {err.reason}") from None
    if not text.strip():
        raise DamagedStateError(path, "empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DamagedStateError(path, f"not valid JSON: {err}") from None


def _check_writable(out):
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise SweepError(
            f"--out must be a writable directory. Received: --out={out} ({err})"
        ) from None


def _check_spec(out, spec, overwrite):
    path = out / SPEC_FILE
    old = None
    if path.exists() and not overwrite:
        try:
            old = _load_json(path)
        except DamagedStateError as err:
            # Written before any trial starts, so it was being written when the disk
            # filled; this command's settings take its place.
            dest = out / DAMAGED_DIR / SPEC_FILE
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            _log(f"{err}; moved to {dest} and written again from this command's settings")
        if old is not None and old != spec:
            changed = sorted(k for k in set(old) | set(spec) if old.get(k) != spec.get(k))
            raise SweepError(
                f"--out {out} holds a different sweep (it differs in: {', '.join(changed)}). "
                "Use a new --out, or --overwrite to discard it."
            )
    if overwrite and out.exists():
        for child in ("tuner", "trials", "tensorboard", "best", "plots"):
            shutil.rmtree(out / child, ignore_errors=True)
    if old != spec:
        _atomic_write_json(path, spec)


@contextlib.contextmanager
def _locked(out):
    """Holds an OS lock on `out` while the block runs; a second `compare` on it is refused.

    The lock (`fcntl.flock` on `out/compare.lock`) belongs to the open file, so the OS
    releases it when the process ends, killed or not: a killed run never blocks a resume.
    The file holds the pid of the holder for the message. In Keras Tuner's distributed
    mode the chief and the workers share `out`; each locks its own file instead, so that
    only a second process with the same KERASTUNER_TUNER_ID is refused.
    """
    name = LOCK_FILE
    if _role() != "single":
        name = f"compare.{os.environ.get('KERASTUNER_TUNER_ID', 'tuner0')}.lock"
    path = out / name
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise SweepError(
                f"--out {out} is in use by another attention-zoo compare (pid {holder}, "
                f"lock {path}); wait for it to end, or use another --out. Received: --out={out}"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield


def _role():
    """'chief', 'worker' (Keras Tuner's distributed mode, from its environment) or 'single'."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"
