"""The glimpse benchmark's step matching: new seeds get the training the old runs got."""

import csv

import keras
import numpy as np
import pytest

from attention_zoo.experiments import glimpse_benchmark

_FIELDS = ["dataset", "model", "seed", "test_error_pct", "epochs", "steps"]


def _write_runs(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(_FIELDS)
        writer.writerows(rows)


def test_steps_to_match_is_the_mean_per_dataset_and_model(tmp_path):
    path = tmp_path / "runs.csv"
    _write_runs(
        path,
        [
            ("translated", "cnn", 0, 5.7, 11, 1275),
            ("translated", "cnn", 1, 5.3, 11, 1311),
            ("cluttered", "cnn", 0, 20.45, 11, 1305),
            ("translated", "ram_4", 0, 9.95, 28, 3432),
            ("translated", "ram_4", 1, 10.75, 27, 3290),
            ("translated", "ram_4", 2, 10.7, 27, 3340),
        ],
    )
    assert glimpse_benchmark.steps_to_match(path) == {
        ("translated", "cnn"): 1293,
        ("cluttered", "cnn"): 1305,
        ("translated", "ram_4"): 3354,
    }


def test_budget_callback_stops_after_max_steps():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 3)).astype("float32"), rng.normal(size=(100, 1))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    budget = glimpse_benchmark._cpu_budget_callback(budget_seconds=1e9, max_steps=13)
    history = model.fit(x, y, batch_size=10, epochs=100, callbacks=[budget], verbose=0)
    assert budget.steps == 13
    assert len(history.history["loss"]) == 2  # 10 steps per epoch: stopped in the second


def test_match_steps_without_a_run_of_the_model_raises(tmp_path):
    path = tmp_path / "runs.csv"
    _write_runs(path, [("translated", "ram_4", 0, 9.95, 28, 3432)])
    args = ["--match-steps", str(path), "--models", "cnn", "--datasets", "translated"]
    with pytest.raises(ValueError, match="no run of cnn on translated"):
        glimpse_benchmark.main([*args, "--out-dir", str(tmp_path / "out")])
