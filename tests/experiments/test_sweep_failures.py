"""The sweep when things go wrong: a failed trial, a backend a variant cannot run on,
damaged state files, a full disk, and a second `compare` on the same --out."""

import errno
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from attention_zoo.experiments import cli, compare, leaderboard, sweep_state, sweep_trial
from attention_zoo.experiments.tasks import get_task

KR = ["compare", "--model", "kernel_regression", "--budget-epochs", "2", "--executions", "1"]
ESSENTIALS = ("model", "variant", "metric_mean", "metric_std", "seeds", "params", "trial_id")


def _essentials(out):
    rows = json.loads((out / "leaderboard.json").read_text())
    return [{k: r[k] for k in (*ESSENTIALS, "status")} for r in rows]


def _failing_fit(task, monkeypatch, variants):
    """Makes `fit` of the task's models of `variants` raise, as RAM's did on JAX."""
    build = task.build

    def build_then_break(hp, data, chosen):
        model = build(hp, data, chosen)
        if hp.get("variant") in variants:

            def fit(*args, **kwargs):
                raise TypeError(
                    "train_step() takes 2 positional arguments but 3 were given\nsecond line"
                )

            model.fit = fit
        return model

    monkeypatch.setattr(task, "build", build_then_break)


def test_a_failed_trial_is_a_row_the_sweep_goes_on_and_a_resume_runs_it_again(
    tmp_path, capsys, monkeypatch
):
    task = get_task("kernel_regression")
    out = tmp_path / "sweep"
    with monkeypatch.context() as patch:
        _failing_fit(task, patch, ["nonparametric"])  # the first trial of the grid
        assert cli.main([*KR, "--out", str(out)]) == 1
    printed = capsys.readouterr()
    assert re.findall(r"trial (\d+) of (\d+)", printed.err) == [("1", "2"), ("2", "2")]
    assert "Traceback" not in printed.err + printed.out
    last = printed.err.strip().splitlines()[-1]
    assert last.startswith("attention-zoo compare: error: 1 trial failed: ")
    assert "kernel_regression/nonparametric (trial 0000)" in last
    reason = "TypeError: train_step() takes 2 positional arguments but 3 were given"
    rows = {r["variant"]: r for r in json.loads((out / "leaderboard.json").read_text())}
    assert rows["parametric"]["status"] == "ok" and rows["parametric"]["metric_mean"] > 0
    assert rows["nonparametric"]["status"] == "failed"
    assert rows["nonparametric"]["reason"] == reason
    assert rows["nonparametric"]["metric_mean"] is None
    assert f"| kernel_regression | nonparametric | val_mse | failed: {reason} |" in printed.out
    assert f"failed: {reason} |" in (out / "leaderboard.md").read_text()
    assert reason in (out / "leaderboard.csv").read_text()
    log = out / "trials" / "kernel_regression" / "0000" / "error.log"
    assert "Traceback" in log.read_text() and str(log) in printed.err
    assert (out / "best" / "kernel_regression" / "parametric.keras").exists()
    assert not (out / "best" / "kernel_regression" / "nonparametric.keras").exists()
    done = out / "trials" / "kernel_regression" / "0001" / "record.json"
    kept = done.stat().st_mtime_ns

    # Fixed, the same command runs the failed trial again and keeps the other one.
    assert cli.main([*KR, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "trial 0000 failed last time (TypeError: train_step()" in printed.err
    assert re.findall(r"trial (\d+) of (\d+)", printed.err) == [("2", "2")]
    assert done.stat().st_mtime_ns == kept
    assert [r["status"] for r in json.loads((out / "leaderboard.json").read_text())] == ["ok"] * 2


def test_failed_trials_in_a_row_do_not_stop_the_sweep(tmp_path, capsys, monkeypatch):
    # Keras Tuner alone gives up after 3 failed trials in a row.
    task = get_task("text_classifier")
    variants = ["none", "dot", "bilinear"]
    _failing_fit(task, monkeypatch, variants)
    args = ["compare", "--model", "text_classifier", "--variants", ",".join(variants)]
    args += ["--budget-epochs", "1", "--executions", "1", "--out", str(tmp_path)]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert re.findall(r"trial (\d+) of 3", err) == ["1", "2", "3"]
    assert "3 trials failed" in err.strip().splitlines()[-1]
    rows = json.loads((tmp_path / "leaderboard.json").read_text())
    assert [(r["variant"], r["status"]) for r in rows] == [(v, "failed") for v in variants]
    assert "| text_classifier | bilinear | val_accuracy | failed: TypeError:" in (
        (tmp_path / "leaderboard.md").read_text()
    )


def test_a_variant_the_backend_cannot_run_is_found_before_the_sweep(tmp_path, capsys, monkeypatch):
    task = get_task("kernel_regression")
    monkeypatch.setattr(task, "variant_backends", {"parametric": ("elsewhere",)}, raising=False)
    assert compare.unsupported_variants(task, task.variants(), "elsewhere") == {}

    # Asked for by name: a bad argument, before anything is written.
    args = [*KR, "--variants", "parametric", "--out", str(tmp_path / "named")]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "parametric of kernel_regression runs only on the elsewhere backend, not on" in err
    assert not (tmp_path / "named" / "sweep.json").exists()

    # A model none of whose variants runs: a bad argument too.
    everything = {v: ("elsewhere",) for v in task.variants()}
    monkeypatch.setattr(task, "variant_backends", everything, raising=False)
    assert cli.main([*KR, "--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "--model kernel_regression: none of its variants runs on the" in err
    monkeypatch.setattr(task, "variant_backends", {"parametric": ("elsewhere",)}, raising=False)

    # Among all variants: skipped with one line, and a leaderboard row that says why.
    out = tmp_path / "all"
    assert cli.main([*KR, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "[kernel_regression] variant parametric skipped: it runs only on the elsewhere" in (
        printed.err
    )
    assert re.findall(r"trial (\d+) of (\d+)", printed.err) == [("1", "1")]
    rows = json.loads((out / "leaderboard.json").read_text())
    assert [(r["variant"], r["status"]) for r in rows] == [
        ("nonparametric", "ok"),
        ("parametric", "skipped"),
    ]
    assert "| parametric | val_mse | skipped: it runs only on the elsewhere" in printed.out


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-trial sweep, and its leaderboard."""
    out = tmp_path_factory.mktemp("reference") / "sweep"
    assert cli.main([*KR, "--out", str(out)]) == 0
    return out, _essentials(out)


def test_a_resume_says_so_on_stderr_and_leaves_stdout_to_the_leaderboard(
    finished, tmp_path, capsys
):
    reference, leaderboard = finished
    out = tmp_path / "sweep"
    shutil.copytree(reference, out)  # Keras Tuner's own state is there: it reloads
    capsys.readouterr()
    assert cli.main([*KR, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert f"resuming the sweep saved in {out}" in printed.err
    assert "Reloading" not in printed.out + printed.err  # Keras Tuner's own line
    assert _essentials(out) == leaderboard


TUNER = "tuner/kernel_regression"
DAMAGES = [  # a half-written trial.json: see test_keras_tuner_cut_short_by_a_full_disk...
    ("sweep.json", "empty"),
    (f"{TUNER}/oracle.json", "half"),
    (f"{TUNER}/tuner0.json", "empty"),
    (f"{TUNER}/trial_0001/trial.json", "empty"),
    ("trials/kernel_regression/0001/record.json", "half"),
]


@pytest.mark.parametrize("name,damage", DAMAGES)
def test_a_damaged_state_file_is_named_dropped_and_its_trial_run_again(
    finished, tmp_path, capsys, name, damage
):
    reference, leaderboard = finished
    out = tmp_path / "sweep"
    shutil.copytree(reference, out)
    (out / "leaderboard.json").unlink()
    path = out / name
    text = path.read_text()
    damaged = "" if damage == "empty" else text[: len(text) // 2]
    path.write_text(damaged)
    records = {
        p: p.stat().st_mtime_ns for p in (out / "trials").glob("*/*/record.json") if p != path
    }
    capsys.readouterr()

    assert cli.main([*KR, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"{path} is damaged" in err
    assert (out / "damaged" / name).read_text() == damaged  # kept aside, for a look
    assert _essentials(out) == leaderboard
    # Only the trial whose record was damaged trained again.
    assert {p: p.stat().st_mtime_ns for p in records} == records
    assert len(re.findall(r"trial \d+ of 2", err)) == (1 if name.endswith("record.json") else 0)


def test_an_undecodable_state_file_is_named(tmp_path):
    path = tmp_path / "record.json"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(compare.DamagedStateError, match=re.escape(str(path))):
        sweep_state._load_json(path)


def test_a_write_cut_short_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "record.json"
    sweep_state._atomic_write_json(path, {"old": 1})

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        sweep_state._atomic_write_json(path, {"new": 2})
    assert json.loads(path.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]  # no temporary left


def _mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    cmd = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        pytest.skip("no mount command to make a small file system with")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")


def test_a_disk_full_in_a_sweep_does_not_block_the_resume(finished, tmp_path, capsys):
    reference, leaderboard = finished
    used = sum(p.stat().st_size for p in reference.rglob("*") if p.is_file())
    disk = tmp_path / "small"
    _mount_tmpfs(disk, f"{used // 3 // 1024}k")  # fills up in the middle of the sweep
    try:
        out = disk / "sweep"
        assert cli.main([*KR, "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert "No space left on device" in err and "Traceback" not in err
        assert not (out / "leaderboard.json").exists()
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        assert cli.main([*KR, "--out", str(out)]) == 0
        assert _essentials(out) == leaderboard
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_keras_tuner_cut_short_by_a_full_disk_resumes(finished, tmp_path, monkeypatch):
    # Keras Tuner writes its files in place: the disk fills as it writes the last trial's
    # trial.json for the third time (the trial has ended), leaving half of it.
    from keras_tuner.src.backend import io as kt_io  # private: where Keras Tuner opens files

    reference, leaderboard = finished
    target = os.path.join("trial_0001", "trial.json")
    opened = []
    real_file = kt_io.File

    def file(name, mode):
        if mode == "w" and str(name).endswith(target):
            opened.append(name)
            if len(opened) == 3:
                with real_file(name, mode) as f:
                    f.write('{"trial_id": "00')
                raise OSError(errno.ENOSPC, "No space left on device", str(name))
        return real_file(name, mode)

    out = tmp_path / "sweep"
    with monkeypatch.context() as patch:
        patch.setattr(kt_io, "File", file)
        assert cli.main([*KR, "--out", str(out)]) == 1
    assert len(opened) == 3 and not (out / "leaderboard.json").exists()
    records = {p: p.stat().st_mtime_ns for p in (out / "trials").glob("*/*/record.json")}
    assert len(records) == 2  # both trials had ended
    assert cli.main([*KR, "--out", str(out)]) == 0
    assert _essentials(out) == leaderboard
    assert {p: p.stat().st_mtime_ns for p in records} == records  # kept, not trained again


def test_a_full_disk_as_a_trial_record_is_written_stops_the_sweep(
    finished, tmp_path, capsys, monkeypatch
):
    # Not a failed trial (the next would fail the same way), and never a silent one.
    reference, leaderboard = finished
    write = sweep_state._atomic_write_json

    def full(path, obj):
        if path.name == "record.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        write(path, obj)

    out = tmp_path / "sweep"
    with monkeypatch.context() as patch:
        patch.setattr(sweep_trial, "_atomic_write_json", full)
        assert cli.main([*KR, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "the disk is full (trial 0000 of kernel_regression)" in err
    assert re.findall(r"trial (\d+) of 2", err) == ["1"]
    assert cli.main([*KR, "--out", str(out)]) == 0
    assert _essentials(out) == leaderboard


def test_a_best_model_cut_short_by_a_full_disk_keeps_the_old_one(finished, tmp_path, monkeypatch):
    reference, _ = finished
    out = tmp_path / "sweep"
    shutil.copytree(reference, out)
    before = {p: p.read_bytes() for p in (out / "best").rglob("*.keras")}
    assert len(before) == 2

    def copy_half(src, dst):
        with open(dst, "wb") as f:
            f.write(pathlib.Path(src).read_bytes()[:100])
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(leaderboard.shutil, "copyfile", copy_half)
    assert cli.main([*KR, "--out", str(out)]) == 1
    assert {p: p.read_bytes() for p in (out / "best").rglob("*.keras")} == before


def _hold_lock(out):
    """A process that holds the lock on `out` as a running compare does, until killed
    (without importing TensorFlow, to start fast)."""
    code = (
        "import fcntl, os, sys, time\n"
        "f = open(sys.argv[1], 'a+')\n"
        "fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "f.truncate(0); f.write(f'{os.getpid()}\\n'); f.flush()\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(out / sweep_state.LOCK_FILE)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_compare_on_the_same_out_exits_2_and_a_killed_ones_lock_is_gone(tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    holder = _hold_lock(out)
    try:
        assert cli.main([*KR, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert f"--out {out} is in use by another attention-zoo compare (pid {holder.pid}" in err
        assert not (out / "sweep.json").exists()
    finally:
        holder.kill()  # SIGKILL: the lock file stays, with the dead process's pid in it
        holder.wait()
    assert (out / sweep_state.LOCK_FILE).read_text().strip() == str(holder.pid)
    with sweep_state._locked(out):  # what the resume does first
        assert (out / sweep_state.LOCK_FILE).read_text().strip() == str(os.getpid())


def test_distributed_processes_lock_by_tuner_id(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    with sweep_state._locked(tmp_path):
        monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
        with sweep_state._locked(tmp_path):  # a worker shares --out with its chief
            with pytest.raises(compare.SweepError, match="in use by another"):
                with sweep_state._locked(tmp_path):  # but not with a second tuner0
                    pass
