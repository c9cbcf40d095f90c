"""Attention pictures of the text classifier are written as readable PNG files."""

import numpy as np
import pytest
from figure_checks import overlapping_texts

from attention_zoo import zoo
from attention_zoo.zoo.text import text_data, text_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    return path.exists() and path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000


def test_model_plots_token_weights_and_self_attention_maps(tmp_path):
    texts, _ = text_data.make_text_task(32, max_length=16, seed=0)
    model = zoo.create_model(
        "text_classifier", sequence_length=16, embed_dim=8, encoder="transformer", attention="mlp"
    ).adapt(texts)
    fig = model.plot_attention(texts[0], tmp_path / "weights.png", class_names=["neg", "pos"])
    assert _is_png(tmp_path / "weights.png")
    words = texts[0].split()
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == words
    fig = model.plot_self_attention(texts[0], tmp_path / "maps" / "self.png")
    assert _is_png(tmp_path / "maps" / "self.png")
    assert len([ax for ax in fig.axes if ax.get_title().startswith("head")]) == 2


def test_plot_functions_check_their_shapes(tmp_path):
    with pytest.raises(
        ValueError, match=r"same length. Received: len\(tokens\)=2, len\(weights\)=3"
    ):
        text_plots.plot_token_attention(["a", "b"], np.ones(3) / 3)
    with pytest.raises(ValueError, match=r"maps must have shape \(H, T, T\)"):
        text_plots.plot_self_attention(["a", "b"], np.ones((2, 3, 3)))
    fig = text_plots.plot_self_attention(["a", "b"], np.eye(2), path=tmp_path / "one.png")
    assert _is_png(tmp_path / "one.png") and fig.axes[0].get_title() == "head 1"


def test_mean_pooling_reads_as_uniform_not_as_strong_attention(tmp_path):
    texts, _ = text_data.make_text_task(8, max_length=16, seed=0)
    model = zoo.create_model("text_classifier", sequence_length=16, embed_dim=4, attention="none")
    model.adapt(texts)
    fig = model.plot_attention(texts[0], tmp_path / "none.png", class_names=["neg", "pos"])
    assert fig.texts[0].get_text().startswith("mean pooling (no attention)")
    text_ax, bar_ax, colorbar_ax = fig.axes
    # Uniform weights sit at the colour scale's neutral centre: white bars and words.
    faces = {tuple(np.round(bar.get_facecolor(), 2)) for bar in bar_ax.patches}
    assert len(faces) == 1 and min(faces.pop()[:3]) > 0.9
    assert colorbar_ax.get_ylabel() == "weight (white: 1/T)"
    assert overlapping_texts(fig) == []


def test_long_words_wrap_without_overlapping(tmp_path):
    words = ["extraordinarily", "incomprehensible", "a", "unbelievably", "magnificent"] * 4
    weights = np.random.default_rng(0).dirichlet(np.ones(len(words)))
    fig = text_plots.plot_token_attention(words, weights, tmp_path / "long.png", title="t")
    assert overlapping_texts(fig) == []
    assert len(fig.axes[0].texts) == len(words)
    assert _is_png(tmp_path / "long.png")


def test_self_attention_maps_read():
    words = ["the", "plot", "was", "not", "good"]
    maps = np.random.default_rng(0).dirichlet(np.ones(5), size=(2, 5))
    fig = text_plots.plot_self_attention(words, maps)
    assert overlapping_texts(fig) == []
    assert fig.axes[-1].get_ylabel() == "attention weight"  # the colorbar
    assert all(ax.get_xlabel() for ax in fig.axes[:2]) and fig.axes[0].get_ylabel()
