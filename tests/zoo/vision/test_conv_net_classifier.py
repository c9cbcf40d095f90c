"""The no-attention CNN baseline: it learns the built-in digits; bad input."""

import numpy as np
import pytest

from attention_zoo.zoo import ConvNetClassifier
from attention_zoo.zoo.vision.image_data import load_digits_canvas


def test_fit_on_builtin_digits_beats_chance():
    x, y = load_digits_canvas(800, canvas_size=24, seed=1)
    model = ConvNetClassifier(image_shape=(24, 24, 1))
    model.fit(x[:600], y[:600], batch_size=32, epochs=8, verbose=0)
    accuracy = model.evaluate(x[600:], y[600:], verbose=0)[1]
    assert accuracy > 0.3, accuracy  # chance is 0.1; 200 test images


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_shape": (32, 32)}, r"image_shape must be three positive integers"),
        ({"filters": (8, 0)}, r"filters must be a positive integer.*filters=0"),
        ({"units": -1}, r"units must be a positive integer.*units=-1"),
    ],
)
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvNetClassifier(**kwargs)


def test_wrong_image_rank_raises():
    with pytest.raises(ValueError, match=r"images must be a rank-4"):
        ConvNetClassifier()(np.zeros((2, 32, 32), "float32"))
