"""The soft-glimpse classifier with every attention variant, and the CNN baseline."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from attention_zoo import layers
from attention_zoo.zoo import SoftGlimpseClassifier
from attention_zoo.zoo.vision.image_data import load_digits_canvas


def _tiny(attention):
    return SoftGlimpseClassifier(
        image_shape=(16, 16, 1), attention=attention, num_steps=2, filters=(4,), units=8
    )


@pytest.mark.parametrize("attention", layers.available())
def test_every_variant_runs_attends_and_trains(attention, rng):
    model = _tiny(attention)
    x = rng.random((3, 16, 16, 1)).astype("float32")
    y = np.array([0, 3, 7])
    probs = np.asarray(model(x))
    assert probs.shape == (3, 10) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    maps = model.attention_maps(x)
    assert maps.shape == (3, 2, 8, 8) and np.isfinite(maps).all()
    np.testing.assert_allclose(maps.sum(axis=(2, 3)), 1.0, rtol=1e-5)
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    for var, grad in zip(model.trainable_variables, grads, strict=True):
        assert grad is not None and np.abs(np.asarray(grad)).max() > 0, var.path


def test_fit_on_builtin_digits_beats_chance():
    x, y = load_digits_canvas(800, canvas_size=24, seed=1)
    model = SoftGlimpseClassifier(image_shape=(24, 24, 1), num_steps=2)
    model.fit(x[:600], y[:600], batch_size=32, epochs=8, verbose=0)
    accuracy = model.evaluate(x[600:], y[600:], verbose=0)[1]
    assert accuracy > 0.3, accuracy  # chance is 0.1; 200 test images


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"attention": "nope"}, r"Unknown attention 'nope'.*Received: name='nope'"),
        ({"image_shape": (2, 2, 1)}, r"image_shape is too small.*image_shape=\(2, 2, 1\)"),
        ({"filters": ()}, r"filters must be a non-empty list.*filters=\(\)"),
        ({"num_steps": 0}, r"num_steps must be a positive integer.*num_steps=0"),
    ],
)
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SoftGlimpseClassifier(**kwargs)


def test_wrong_image_shape_raises():
    with pytest.raises(ValueError, match=r"images must be a rank-4.*images.shape=\(2, 16, 16\)"):
        _tiny("dot")(np.zeros((2, 16, 16), "float32"))
    with pytest.raises(
        ValueError, match=r"images must have shape \(B, 16, 16, 1\).*\(2, 20, 20, 1\)"
    ):
        _tiny("dot")(np.zeros((2, 20, 20, 1), "float32"))
