"""The pictures: a RAM glimpse trajectory and soft-attention heatmaps, written as PNG."""

import numpy as np
import pytest

from attention_zoo.zoo import RecurrentAttentionModel, SoftGlimpseClassifier
from attention_zoo.zoo.vision.glimpse_plots import plot_attention_maps, plot_glimpse_trajectory
from attention_zoo.zoo.vision.image_data import load_digits_canvas

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_glimpse_trajectory_png(tmp_path):
    model = RecurrentAttentionModel(num_glimpses=3)
    x, _ = load_digits_canvas(1, canvas_size=32, seed=0)
    path = tmp_path / "trajectory.png"
    locations = plot_glimpse_trajectory(model, x[0], path)
    assert locations.shape == (3, 2)
    np.testing.assert_array_equal(locations, model.glimpse_locations(x)[0])
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000


def test_attention_heatmap_png(tmp_path):
    model = SoftGlimpseClassifier(attention="multi_head", attention_kwargs={"num_heads": 2})
    x, _ = load_digits_canvas(1, canvas_size=32, seed=0)
    path = tmp_path / "heatmap.png"
    maps = plot_attention_maps(model, x[0], path)
    assert maps.shape == (3, 8, 8)
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000


def test_plot_rejects_a_batch():
    model = RecurrentAttentionModel()
    x, _ = load_digits_canvas(2, canvas_size=32, seed=0)
    with pytest.raises(ValueError, match=r"image must be one image.*image.shape=\(2, 32, 32, 1\)"):
        plot_glimpse_trajectory(model, x, "unused.png")
