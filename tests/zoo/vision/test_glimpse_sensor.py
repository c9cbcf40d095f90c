"""The glimpse sensor: hand-computed crops, zero padding, gradients in the image, bad input."""

import numpy as np
import pytest
import tensorflow as tf

from attention_zoo.zoo import GlimpseSensor

# A 4 x 4 image holding 1 .. 16 row by row.
IMAGE = np.arange(1, 17, dtype="float32").reshape(1, 4, 4, 1)


def _glimpse(sensor, image, location):
    return np.asarray(sensor(image, np.asarray([location], "float32")))


def test_centre_glimpse_matches_hand_computed_crops():
    out = _glimpse(GlimpseSensor(patch_size=2, num_scales=2), IMAGE, (0.0, 0.0))
    assert out.shape == (1, 2, 2, 2, 1)
    # Centre (2, 2): the 2 x 2 crop is rows 1-2, columns 1-2.
    np.testing.assert_array_equal(out[0, 0, ..., 0], [[6, 7], [10, 11]])
    # The 4 x 4 patch is the whole image, averaged over 2 x 2 blocks.
    np.testing.assert_allclose(out[0, 1, ..., 0], [[3.5, 5.5], [11.5, 13.5]])


def test_corner_glimpse_reads_zeros_outside_the_image():
    out = _glimpse(GlimpseSensor(patch_size=2), IMAGE, (-1.0, -1.0))
    # Centre (0, 0): the crop covers rows -1..0 and columns -1..0.
    np.testing.assert_array_equal(out[0, 0, ..., 0], [[0, 0], [0, 1]])
    out = _glimpse(GlimpseSensor(patch_size=2), IMAGE, (1.0, -1.0))
    np.testing.assert_array_equal(out[0, 0, ..., 0], [[0, 13], [0, 0]])


def _reference(image, location, patch_size, num_scales):
    """Zero-pad, slice, average blocks: an independent way to compute the same glimpse."""
    height, width, _ = image.shape
    pad = patch_size * 2**num_scales
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    cy, cx = (location[0] + 1) / 2 * height, (location[1] + 1) / 2 * width
    out = []
    for s in range(num_scales):
        side, f = patch_size * 2**s, 2**s
        top = int(np.floor(cy - side / 2 + 0.5)) + pad
        left = int(np.floor(cx - side / 2 + 0.5)) + pad
        crop = padded[top : top + side, left : left + side]
        out.append(crop.reshape(patch_size, f, patch_size, f, -1).mean(axis=(1, 3)))
    return np.stack(out)


def test_batch_matches_reference_at_random_locations(rng):
    images = rng.random((5, 20, 24, 2)).astype("float32")
    locations = rng.uniform(-1, 1, (5, 2)).astype("float32")
    out = np.asarray(GlimpseSensor(patch_size=3, num_scales=3)(images, locations))
    assert out.shape == (5, 3, 3, 3, 2)
    for b in range(5):
        np.testing.assert_allclose(out[b], _reference(images[b], locations[b], 3, 3), atol=1e-6)


def test_gradient_reaches_exactly_the_pixels_read():
    image = tf.Variable(IMAGE)
    sensor = GlimpseSensor(patch_size=2)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(sensor(image, tf.zeros((1, 2))))
    grad = tape.gradient(total, image).numpy()[0, ..., 0]
    expected = np.zeros((4, 4))
    expected[1:3, 1:3] = 1.0
    np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"patch_size": (2, 3)},
            r"patch_size must be one integer or a square.*patch_size=\(2, 3\)",
        ),
        ({"patch_size": 0}, r"patch_size must be a positive integer.*patch_size=0"),
        ({"num_scales": 0}, r"num_scales must be a positive integer.*num_scales=0"),
        ({"scale_factor": 1}, r"scale_factor must be an integer >= 2.*scale_factor=1"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GlimpseSensor(**kwargs)


def test_wrong_image_rank_raises():
    with pytest.raises(ValueError, match=r"images must be a rank-4.*images.shape=\(4, 4\)"):
        GlimpseSensor(patch_size=2)(IMAGE[0, ..., 0], np.zeros((1, 2), "float32"))


def test_glimpse_larger_than_the_canvas_raises():
    with pytest.raises(ValueError, match=r"largest glimpse.*8 pixels.*images.shape=\(1, 4, 4, 1\)"):
        GlimpseSensor(patch_size=2, num_scales=3)(IMAGE, np.zeros((1, 2), "float32"))
