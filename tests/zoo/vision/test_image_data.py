"""The image data: digit canvases (deterministic, cluttered), IDX files, tensorflow-datasets."""

import gzip

import numpy as np
import pytest

from attention_zoo.zoo import image_data


def test_digit_canvases_are_deterministic_by_seed():
    x1, y1 = image_data.load_digits_canvas(20, canvas_size=32, seed=3)
    x2, y2 = image_data.load_digits_canvas(20, canvas_size=32, seed=3)
    x3, _ = image_data.load_digits_canvas(20, canvas_size=32, seed=4)
    assert x1.shape == (20, 32, 32, 1) and x1.dtype == np.float32
    assert y1.shape == (20,) and set(y1) <= set(range(10))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert 0.0 <= x1.min() and x1.max() <= 1.0


def test_digits_land_at_different_places():
    x, _ = image_data.load_digits_canvas(50, canvas_size=40, seed=0)
    rows = [np.nonzero(img.any(axis=(1, 2)))[0][0] for img in x]
    cols = [np.nonzero(img.any(axis=(0, 2)))[0][0] for img in x]
    assert len(set(rows)) > 5 and len(set(cols)) > 5


def test_translation_keeps_the_digit_and_clutter_adds_fragments(rng):
    digits = (rng.random((6, 28, 28)) * 255).astype("uint8")
    plain = image_data.translated_mnist(digits, seed=1)
    assert plain.shape == (6, 60, 60, 1)
    for canvas, digit in zip(plain[..., 0], digits / 255.0, strict=True):
        # The canvas holds the digit somewhere, untouched, and nothing else.
        assert np.isclose(canvas.sum(), digit.sum(), rtol=1e-4)
    clutter = image_data.cluttered_mnist(digits, num_fragments=4, fragment_size=8, seed=1)
    assert clutter.shape == (6, 60, 60, 1)
    assert (clutter > 0).sum() > (plain > 0).sum()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"canvas_size": 20}, r"canvas_size must be at least the image side 28.*canvas_size=20"),
        ({"num_fragments": 2, "fragment_size": 30}, r"fragment_size must be at most.*=30"),
        ({"num_fragments": -1}, r"num_fragments must be an integer >= 0.*num_fragments=-1"),
    ],
)
def test_bad_canvas_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_data.place_on_canvas(np.zeros((2, 28, 28)), **kwargs)


def test_bad_digit_size_raises():
    with pytest.raises(ValueError, match=r"digit_size must be a multiple of 8.*digit_size=12"):
        image_data.load_digits_canvas(4, digit_size=12)


def _idx_bytes(array):
    dtype_code = {np.uint8: 0x08}[array.dtype.type]
    header = bytes([0, 0, dtype_code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, rng, compress):
    images = rng.integers(0, 256, (7, 28, 28)).astype("uint8")
    labels = rng.integers(0, 10, 7).astype("uint8")
    write = gzip.compress if compress else (lambda b: b)
    (tmp_path / "img").write_bytes(write(_idx_bytes(images)))
    (tmp_path / "lab").write_bytes(write(_idx_bytes(labels)))
    got_images, got_labels = image_data.load_mnist_idx(tmp_path / "img", tmp_path / "lab")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_labels.dtype == np.int32


@pytest.mark.parametrize(
    "content, match",
    [
        (b"\x00\x00\x08", r"Not an IDX file"),
        (b"\x12\x34\x08\x01\x00\x00\x00\x02ab", r"Not an IDX file"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x02ab", r"Not an IDX file"),
        (b"\x00\x00\x08\x03\x00\x00", r"Truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", r"expected 5 bytes, found 3"),
        # mtime=0: the same bytes in every pytest-xdist worker, so the test ids agree.
        (
            gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01a", mtime=0)[:-6],
            r"Corrupt gzip IDX file",
        ),
    ],
)
def test_corrupt_idx_raises_naming_the_file(tmp_path, content, match):
    path = tmp_path / "bad-idx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match + r".*path=.*bad-idx"):
        image_data.read_idx(path)


def test_idx_images_and_labels_must_match(tmp_path):
    (tmp_path / "img").write_bytes(_idx_bytes(np.zeros((3, 4, 4), "uint8")))
    (tmp_path / "lab").write_bytes(_idx_bytes(np.zeros(2, "uint8")))
    with pytest.raises(ValueError, match=r"same length.*labels.shape=\(2,\)"):
        image_data.load_mnist_idx(tmp_path / "img", tmp_path / "lab")
    with pytest.raises(FileNotFoundError, match=r"labels_path=.*missing"):
        image_data.load_mnist_idx(tmp_path / "img", tmp_path / "missing")


def test_tfds_loader_offline_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=5):
        images, labels = image_data.load_mnist_tfds("train")
    assert images.shape == (5, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5,) and labels.dtype == np.int32
    canvases = image_data.translated_mnist(images, seed=0)
    assert canvases.shape == (5, 60, 60, 1)
