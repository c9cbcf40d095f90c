"""The comparison sweep and the `attention-zoo` command: errors, outputs, resume after kill -9."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from attention_zoo.experiments import cli

KR = ["compare", "--model", "kernel_regression"]


def _run_cli(args, **kwargs):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-m", "attention_zoo.experiments.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (["compare", "--model", "nope"], "Unknown model 'nope'"),
        ([*KR, "--variants", "cosine"], "Unknown variant 'cosine'"),
        ([*KR, "--preset", "huge"], "--preset must be one of"),
        ([*KR, "--budget-epochs", "0"], "--budget-epochs must be positive"),
        ([*KR, "--tuner", "annealing"], "--tuner must be one of"),
        ([*KR, "--executions", "0"], "--executions must be at least 1"),
        ([*KR, "--out", "/proc/no_such_dir"], "--out must be a writable directory"),
        (["train", "--model", "kernel_regression", "--variant", "x", "--out", "m.keras"], "x"),
        ([*KR, "--data", "points.csv"], "kernel_regression has only its generated data"),
        (
            ["compare", "--model", "text_classifier", "--model", "translator", "--data", "x.csv"],
            "--data must be MODEL=PATH",
        ),
        ([*KR, "--data", "translator=pairs.txt"], "--data names a model that is not compared"),
        ([*KR, "--seed", "-1"], "--seed must be between 0 and 4294967294 for --executions 2"),
        ([*KR, "--seed", str(2**32 - 1)], "Received: --seed=4294967295"),
        (
            ["compare", "--model", "text_classifier", "--data", "reviews.csv"],
            "text_classifier data: --data needs --preset full",
        ),
        (
            [
                *["compare", "--model", "text_classifier", "--preset", "full"],
                *["--budget-epochs", "1", "--data", "/no/such/reviews.csv"],
            ],
            "text_classifier data:",
        ),
    ],
)
def test_bad_arguments_exit_2_before_training(args, message, capsys, tmp_path):
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "out")]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "trials").exists()


# One test for all of them: each would cost more in the Keras clean-up between tests.
BAD_API_ARGUMENTS = [
    ("budget_seconds", float("inf")),
    ("budget_seconds", float("nan")),
    ("budget_seconds", 0),
    ("budget_seconds", -5.0),
    ("budget_seconds", "60"),
    ("budget_epochs", 0),
    ("budget_epochs", 2.5),
    ("budget_epochs", True),
    ("executions", 0),
    ("executions", 1.5),
    ("max_trials", 0),
    ("max_trials", -1),
    ("seed", -1),
    ("seed", 2**32),
    ("seed", 0.5),
    ("models", "kernel_regression"),
    ("models", []),
    ("variants", "parametric"),
    ("tuner", "annealing"),
    ("preset", "huge"),
    ("data_paths", {"translator": "pairs.txt"}),
]


def test_the_python_api_checks_its_arguments_like_the_command(tmp_path, monkeypatch):
    from attention_zoo.experiments import compare, tasks

    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded for a bad argument")

    for task in tasks.TASKS.values():
        monkeypatch.setattr(task, "data", no_data)
    for name, value in BAD_API_ARGUMENTS:
        kwargs = {"models": ["kernel_regression"], "out": tmp_path / "out", name: value}
        with pytest.raises(ValueError) as err:
            compare.compare(**kwargs)
        message = str(err.value)
        assert len(message.splitlines()) == 1, message
        assert message.startswith((f"{name} must be", f"{name} names")), message
        assert f"Received: {name}={value!r}" in message, message
        assert not (tmp_path / "out").exists(), (name, value)


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["compare", "--budget-epochs", "many"])
    assert exc.value.code == 2


def test_every_subcommand_has_help(capsys):
    for command in ("list", "train", "compare", "export", "plot"):
        with pytest.raises(SystemExit) as exc:
            cli.main([command, "--help"])
        assert exc.value.code == 0
        assert "usage: attention-zoo" in capsys.readouterr().out


def test_list_names_variants_and_models(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "scaled_dot" in out and "kernel_regression" in out


def test_compare_writes_leaderboard_plots_models_and_logs(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert cli.main([*KR, "--budget-epochs", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "| kernel_regression | parametric | val_mse |" in printed.out
    assert "trial 1 of 2" in printed.err and "trial 2 of 2" in printed.err
    rows = json.loads((out / "leaderboard.json").read_text())
    by_variant = {r["variant"]: r for r in rows}
    assert set(by_variant) == {"parametric", "nonparametric"}
    # The learned bandwidth fits the truth better than the fixed w = 1.
    assert by_variant["parametric"]["metric_mean"] < by_variant["nonparametric"]["metric_mean"]
    assert by_variant["nonparametric"]["params"] == 0 and by_variant["parametric"]["params"] == 1
    for name in ("leaderboard.md", "leaderboard.csv"):
        assert (out / name).stat().st_size > 0
    for name in (
        "kernel_regression_metric",
        "kernel_regression_time",
        "kernel_regression_overview",
    ):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000
    for variant in by_variant:
        assert (out / "best" / "kernel_regression" / f"{variant}.keras").exists()
        assert (out / "best" / "kernel_regression" / f"{variant}.png").exists()
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))

    # The same --out with a different search space is refused, not silently reused.
    assert cli.main([*KR, "--budget-epochs", "5", "--out", str(out)]) == 2
    assert "holds a different sweep" in capsys.readouterr().err


def test_train_export_and_plot_round_trip(tmp_path, capsys):
    model_path = tmp_path / "kr.keras"
    args = ["train", "--model", "kernel_regression", "--variant", "parametric", "--epochs", "3"]
    assert cli.main([*args, "--out", str(model_path)]) == 0
    assert cli.main(["export", str(model_path), "--out", str(tmp_path / "served")]) == 0
    assert (tmp_path / "served" / "saved_model.pb").exists()
    assert cli.main(["plot", str(model_path), "--out", str(tmp_path / "kr.png")]) == 0
    assert (tmp_path / "kr.png").stat().st_size > 1000
    assert cli.main(["plot", str(tmp_path / "missing.keras"), "--out", "x.png"]) == 2


def test_resume_after_kill_gives_the_uninterrupted_leaderboard(tmp_path):
    args = [*KR, "--budget-epochs", "30", "--executions", "2"]
    reference = _run_cli([*args, "--out", str(tmp_path / "ref")])  # runs alongside

    out = tmp_path / "killed"
    first = out / "trials" / "kernel_regression" / "0000" / "record.json"
    proc = _run_cli([*args, "--out", str(out)])
    deadline = time.time() + 300
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "leaderboard.json").exists()
    kept = first.stat().st_mtime_ns

    resumed = _run_cli([*args, "--out", str(out)])
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    assert first.stat().st_mtime_ns == kept, "a completed trial was run again"
    assert "Reloading" not in stdout  # Keras Tuner's line, when it reloads, is not ours

    def essentials(path):
        rows = json.loads((path / "leaderboard.json").read_text())
        keys = ("model", "variant", "metric_mean", "metric_std", "seeds", "params", "trial_id")
        return [{k: r[k] for k in keys} for r in rows]

    assert reference.wait(timeout=600) == 0, reference.stderr.read()
    assert essentials(out) == essentials(tmp_path / "ref")


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_distributed_chief_and_two_workers_survive_a_killed_worker(tmp_path):
    out = tmp_path / "shared"
    port = str(_free_port())
    args = [*KR, "--budget-epochs", "40", "--executions", "1", "--out", str(out)]

    def start(tuner_id):
        log = open(tmp_path / f"{tuner_id}.log", "a")  # noqa: SIM115  (closed with the process)
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "KERASTUNER_TUNER_ID": tuner_id,
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": port,
        }
        cmd = [sys.executable, "-m", "attention_zoo.experiments.cli", *args]
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)

    chief = start("chief")
    worker0 = start("tuner0")
    worker1 = start("tuner1")
    log1 = tmp_path / "tuner1.log"
    deadline = time.time() + 300
    while "trial 1 of" not in log1.read_text() and time.time() < deadline:
        time.sleep(0.05)
    assert worker1.poll() is None, log1.read_text()
    worker1.send_signal(signal.SIGKILL)  # mid-trial
    worker1.wait()
    worker1 = start("tuner1")  # started again, it gets its trial back
    for proc in (worker0, worker1, chief):
        assert proc.wait(timeout=600) == 0, (tmp_path / "chief.log").read_text()[-2000:]
    rows = json.loads((out / "leaderboard.json").read_text())
    assert {r["variant"] for r in rows} == {"parametric", "nonparametric"}
    records = sorted((out / "trials" / "kernel_regression").glob("*/record.json"))
    assert len(records) == 2
    worker_logs = (tmp_path / "tuner0.log").read_text() + log1.read_text()
    assert (
        worker_logs.count("variant=parametric") + worker_logs.count("variant=nonparametric") == 3
    )  # two trials, one of them started twice because its worker was killed


@pytest.mark.parametrize("task", ["text_classifier", "translator", "vision"])
def test_every_comparison_task_runs_its_quick_preset(task, tmp_path, capsys):
    from attention_zoo.experiments.tasks import get_task

    variants = get_task(task).variants()
    chosen = ["none", variants[-1]]  # the baseline and an attention variant
    args = ["compare", "--model", task, "--variants", ",".join(chosen), "--executions", "1"]
    assert cli.main([*args, "--budget-epochs", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "leaderboard.json").read_text())
    assert {r["variant"] for r in rows} == set(chosen)
    assert all(0.0 <= r["metric_mean"] <= 1.0 for r in rows)
    assert (tmp_path / "best" / task / f"{variants[-1]}.png").exists()


def test_mirrored_strategy_builds_the_models_in_its_scope(tmp_path, monkeypatch, capsys):
    import tensorflow as tf

    scopes = []

    class CountingMirroredStrategy(tf.distribute.MirroredStrategy):
        def scope(self):
            scopes.append(self)
            return super().scope()

    monkeypatch.setattr(tf.distribute, "MirroredStrategy", CountingMirroredStrategy)
    args = [*KR, "--budget-epochs", "2", "--executions", "1"]
    assert cli.main([*args, "--strategy", "mirrored", "--out", str(tmp_path / "mirrored")]) == 0
    assert scopes  # Keras Tuner built and fitted the trials under the strategy
    assert cli.main([*args, "--out", str(tmp_path / "plain")]) == 0
    mirrored, plain = (
        {
            r["variant"]: r["metric_mean"]
            for r in json.loads((tmp_path / d / "leaderboard.json").read_text())
        }
        for d in ("mirrored", "plain")
    )
    # One replica on this machine: the same training, so the same result.
    assert mirrored == pytest.approx(plain, rel=1e-5)


FULL_MODELS = ("text_classifier", "vision", "translator")
FULL_ARGS = ["--preset", "full", "--budget-epochs", "1", "--executions", "1"]


def _check_full_sweep(out, variants=("none", "dot")):
    rows = json.loads((out / "leaderboard.json").read_text())
    assert {(r["model"], r["variant"]) for r in rows} == {
        (m, v) for m in FULL_MODELS for v in variants
    }
    assert all(0.0 <= r["metric_mean"] <= 1.0 for r in rows)
    for model in FULL_MODELS:
        assert (out / "best" / model / "dot.keras").exists()


def test_full_preset_on_a_users_files(tmp_path, rng):
    import gzip

    words = ["good", "bad", "plot", "film", "not", "great", "dull", "actor", "scene"]
    lines = ["text,label"]
    for i in range(60):
        lines.append(" ".join(rng.choice(words, size=6)) + f",{i % 2}")
    (tmp_path / "reviews.csv").write_text("\n".join(lines) + "\n")
    pairs = [f"i see {w}.\tje vois {w}." for w in words * 7]
    (tmp_path / "pairs.txt").write_text("\n".join(pairs) + "\n")
    mnist = tmp_path / "mnist"
    mnist.mkdir()

    def idx(array):
        header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
        return gzip.compress(header + array.tobytes(), mtime=0)

    images = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    labels = (np.arange(50) % 10).astype(np.uint8)
    (mnist / "t10k-images-idx3-ubyte.gz").write_bytes(idx(images))
    (mnist / "t10k-labels-idx1-ubyte.gz").write_bytes(idx(labels))

    args = ["compare", *FULL_ARGS, "--variants", "none,dot"]
    args += [x for m in FULL_MODELS for x in ("--model", m)]
    args += ["--data", f"text_classifier={tmp_path / 'reviews.csv'}"]
    args += ["--data", f"translator={tmp_path / 'pairs.txt'}", "--data", f"vision={mnist}"]
    assert cli.main([*args, "--out", str(tmp_path / "sweep")]) == 0
    _check_full_sweep(tmp_path / "sweep")


def test_full_preset_through_tensorflow_datasets_offline(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    # One variant: the data loading is what this test adds to the one above.
    args = ["compare", *FULL_ARGS, "--variants", "dot"]
    args += [x for m in FULL_MODELS for x in ("--model", m)]
    with tfds.testing.mock_data(num_examples=40):
        assert cli.main([*args, "--out", str(tmp_path / "sweep")]) == 0
    _check_full_sweep(tmp_path / "sweep", variants=("dot",))


def test_the_second_seed_reuses_the_model_and_equals_a_fresh_one(tmp_path, monkeypatch):
    # A trial's second seed trains the first seed's model object, reset to a fresh model's
    # state. RAM samples its glimpse locations from a seed generator, which must be reset
    # too: every seed's result must equal that of a sweep that builds a new model per seed.
    from attention_zoo.experiments import sweep_trial

    args = ["compare", "--model", "vision", "--variants", "ram", "--budget-epochs", "1"]
    args += ["--executions", "2"]

    def metrics(out):
        (record,) = (out / "trials" / "vision").glob("*/record.json")
        return [e["metric"] for e in json.loads(record.read_text())["executions"]]

    assert cli.main([*args, "--out", str(tmp_path / "reused")]) == 0
    monkeypatch.setattr(sweep_trial, "REUSE_MODEL", False)
    assert cli.main([*args, "--out", str(tmp_path / "fresh")]) == 0
    reused, fresh = metrics(tmp_path / "reused"), metrics(tmp_path / "fresh")
    assert reused == fresh
    assert reused[0] != reused[1]  # the seeds did train differently
