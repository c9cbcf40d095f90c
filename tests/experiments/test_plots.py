"""The comparison's pictures: every label readable, however many or close the variants."""

import numpy as np
import pytest
from figure_checks import drawn_texts, overlapping_texts

from attention_zoo.experiments import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows(points, names=None):
    names = names or [f"variant_{i}" for i in range(len(points))]
    return [
        {"variant": n, "train_seconds_per_epoch": t, "metric_mean": m, "metric_std": s}
        for n, (t, m, s) in zip(names, points, strict=True)
    ]


# The quick glimpse sweep's rows whose labels overlapped (and "none" beside them).
GLIMPSE = _rows(
    [(0.716, 0.523, 0.066), (0.755, 0.514, 0.061), (0.799, 0.573, 0.002), (0.915, 0.766, 0.008)],
    ["gaussian_kernel", "mlp", "bilinear", "none"],
)
# Kernel regression: two timings 2 ms apart gave tick labels that ran into each other.
KERNEL = _rows([(0.05574, 0.0599, 0.0), (0.05738, 0.3007, 0.0)], ["parametric", "nonparametric"])
# Thirty variants on one point: the worst case for labels beside the points.
CROWD = _rows([(0.5, 0.7, 0.01)] * 30)


@pytest.mark.parametrize("rows", [GLIMPSE, KERNEL, CROWD], ids=["glimpse", "kernel", "crowd"])
def test_metric_vs_time_labels_never_overlap(rows, tmp_path):
    fig = plots.metric_vs_time(rows, "val_accuracy", tmp_path / "time.png", title="t: cost")
    assert overlapping_texts(fig) == []
    texts = [t.get_text() for t in drawn_texts(fig)]
    assert all(r["variant"] in texts for r in rows)
    ax = fig.axes[0]
    assert ax.get_title() == "t: cost" and ax.get_xlabel() and ax.get_ylabel()
    assert (tmp_path / "time.png").read_bytes()[:8] == PNG_MAGIC


def test_spread_labels_keeps_the_gap_and_the_order():
    targets = np.array([0.5, 0.5, 0.1, 0.52, 0.98])
    placed = plots.spread_labels(targets, 0.1, low=0.05, high=0.95)
    ordered = placed[np.argsort(targets, kind="stable")]
    assert np.all(np.diff(ordered) >= 0.1 - 1e-12)
    assert placed.min() >= 0.05 and placed.max() <= 0.95 + 1e-12
    assert placed[2] == pytest.approx(0.1)  # a label with room stays at its point


@pytest.mark.parametrize("rows", [GLIMPSE, CROWD], ids=["glimpse", "crowd"])
def test_metric_per_variant_reads(rows):
    fig = plots.metric_per_variant(rows, "val_accuracy")
    assert overlapping_texts(fig) == []
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [r["variant"] for r in rows]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    has_baseline = any(r["variant"] in plots.BASELINES for r in rows)
    assert legend == ["attention variant"] + ["baseline"] * has_baseline


def test_kernel_regression_lesson_shares_one_labelled_colour_scale():
    from attention_zoo import zoo

    x_train, y_train, x_test, y_truth = zoo.make_regression_data(n_train=8, n_test=6, seed=0)
    data = {"train": (x_train, y_train[:, None]), "val": (x_test, y_truth[:, None])}
    models = {
        name: zoo.KernelRegression(x_train, y_train, learn_width=learn)
        for name, learn in (("nonparametric", False), ("parametric", True))
    }
    fig = plots.kernel_regression_lesson(models, data)
    assert overlapping_texts(fig) == []
    fit, *maps, colorbar = fig.axes
    assert [t.get_text() for t in fit.get_legend().get_texts()][:2] == ["truth", "training samples"]
    assert colorbar.get_ylabel() == "attention weight"
    assert {ax.images[0].get_clim() for ax in maps} == {maps[0].images[0].get_clim()}
