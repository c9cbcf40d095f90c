"""The pictures: a RAM glimpse trajectory and soft-attention heatmaps, written as PNG."""

import numpy as np
import pytest
from figure_checks import drawn_texts, overlapping_texts

from attention_zoo.zoo import RecurrentAttentionModel, SoftGlimpseClassifier
from attention_zoo.zoo.vision.glimpse_plots import plot_attention_maps, plot_glimpse_trajectory
from attention_zoo.zoo.vision.image_data import load_digits_canvas

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_glimpse_trajectory_reads(tmp_path):
    # Six glimpses of an untrained model land close together: their step
    # numbers used to be drawn over each other at the centres.
    model = RecurrentAttentionModel(num_glimpses=6, num_scales=3)
    x, y = load_digits_canvas(1, canvas_size=32, seed=0)
    path = tmp_path / "trajectory.png"
    fig = plot_glimpse_trajectory(model, x[0], path, label=y[0])
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000
    assert overlapping_texts(fig) == []
    assert fig.get_suptitle().startswith(f"RAM: true {y[0]}, predicted ")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [f"glimpse {t}" for t in range(1, 7)]
    assert all(ax.get_xlabel() for ax in panels) and panels[0].get_ylabel()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["scale 1: 8 px", "scale 2: 16 px", "scale 3: 32 px", "centres so far"]
    # The cross of panel t sits at glimpse t's centre, in pixels.
    rows, cols = (model.glimpse_locations(x)[0].T + 1.0) / 2.0 * 32 - 0.5
    crosses = [ax.lines[-1].get_xydata()[0] for ax in panels]
    np.testing.assert_allclose(crosses, np.stack([cols, rows], axis=1), atol=1e-4)


def test_attention_heatmap_has_a_colour_scale_and_the_true_label():
    model = SoftGlimpseClassifier(attention="multi_head", attention_kwargs={"num_heads": 2})
    x, y = load_digits_canvas(1, canvas_size=32, seed=0)
    fig = plot_attention_maps(model, x[0], label=np.eye(10)[y[0]])
    assert overlapping_texts(fig) == []
    assert fig.get_suptitle().startswith(f"multi_head attention: true {y[0]}, predicted ")
    colorbars = [ax for ax in fig.axes if ax.get_ylabel() == "attention weight"]
    assert len(colorbars) == 1
    steps = [ax for ax in fig.axes if ax.get_title().startswith("step")]
    assert len(steps) == model.num_steps == 3
    # One colour scale for every step, from 0 to the largest weight drawn.
    maps = model.attention_maps(x)[0]
    for ax in steps:
        assert ax.images[-1].get_clim() == (0.0, pytest.approx(maps.max()))
    assert "image outline (half the brightest pixel)" in [t.get_text() for t in drawn_texts(fig)]


def test_without_a_label_the_title_has_no_truth(tmp_path):
    model = SoftGlimpseClassifier(attention="dot")
    x, _ = load_digits_canvas(1, canvas_size=32, seed=0)
    fig = plot_attention_maps(model, x[0], tmp_path / "heatmap.png")
    assert fig.get_suptitle().startswith("dot attention: predicted ")
    assert (tmp_path / "heatmap.png").read_bytes()[:8] == PNG_MAGIC


def test_plot_rejects_a_batch():
    model = RecurrentAttentionModel()
    x, _ = load_digits_canvas(2, canvas_size=32, seed=0)
    with pytest.raises(ValueError, match=r"image must be one image.*image.shape=\(2, 32, 32, 1\)"):
        plot_glimpse_trajectory(model, x, "unused.png")
