"""Image data for the glimpse models: digits placed on a larger canvas, with or without clutter.

The built-in default needs no network: the 8 x 8 handwritten digits that scikit-learn ships,
upscaled and placed at random positions. MNIST loads through tensorflow-datasets or from IDX
files at a user's path; `translated_mnist` and `cluttered_mnist` build the 60 x 60 sets of the
RAM paper (Mnih et al., 2014) from any digits. Every generator is deterministic by `seed`.
"""

import gzip
import os

import numpy as np

from attention_zoo._validation import check_int

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _as_float_images(images):
    images = np.asarray(images)
    is_bytes = images.dtype == np.uint8
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(
            "images must have shape (N, H, W) or (N, H, W, 1). "
            f"Received: images.shape={images.shape}"
        )
    images = images.astype("float32")
    if is_bytes:
        return images / 255.0
    top = float(images.max()) if images.size else 0.0
    return images / top if top > 1.0 else images


def place_on_canvas(
    images, canvas_size=60, num_fragments=0, fragment_size=8, fragment_images=None, seed=0
):
    """Places each image at a uniformly random position on an empty square canvas.

    With `num_fragments > 0`, that many `fragment_size` x `fragment_size`
    crops of other images (random ones of `fragment_images`, default `images`)
    are first scattered over the canvas at random positions: the clutter of
    the RAM paper. Pixels combine by maximum, so values stay in [0, 1].

    Args:
        images: Array (N, h, w) or (N, h, w, 1); uint8 (0..255) or float in
            [0, 1] (anything above 1 is rescaled by the maximum).
        canvas_size: Side of the square canvas; at least max(h, w).
        num_fragments: Number of clutter fragments per canvas (0: none).
        fragment_size: Side of each fragment; at most min(h, w).
        fragment_images: Where the fragments are cut from (default `images`).
        seed: Integer seed; the same seed gives the same canvases.

    Returns:
        float32 array (N, canvas_size, canvas_size, 1).
    """
    images = _as_float_images(images)
    count, height, width = images.shape
    canvas_size = check_int("canvas_size", canvas_size)
    if canvas_size < max(height, width):
        raise ValueError(
            f"canvas_size must be at least the image side {max(height, width)}. "
            f"Received: canvas_size={canvas_size}"
        )
    num_fragments = check_int("num_fragments", num_fragments, 0)
    source = images if fragment_images is None else _as_float_images(fragment_images)
    if num_fragments:
        fragment_size = check_int("fragment_size", fragment_size)
        if fragment_size > min(source.shape[1:]):
            raise ValueError(
                f"fragment_size must be at most the fragment images' side {min(source.shape[1:])}"
                f". Received: fragment_size={fragment_size}"
            )
    rng = np.random.default_rng(seed)
    canvas = np.zeros((count, canvas_size, canvas_size), "float32")
    for i in range(count):
        for _ in range(num_fragments):
            j = int(rng.integers(len(source)))
            if fragment_images is None and len(source) > 1 and j == i:
                j = (j + 1) % len(source)
            r, c = rng.integers(0, np.array(source.shape[1:]) - fragment_size + 1)
            piece = source[j, r : r + fragment_size, c : c + fragment_size]
            y, x = rng.integers(0, canvas_size - fragment_size + 1, size=2)
            region = canvas[i, y : y + fragment_size, x : x + fragment_size]
            np.maximum(region, piece, out=region)
        y = int(rng.integers(0, canvas_size - height + 1))
        x = int(rng.integers(0, canvas_size - width + 1))
        region = canvas[i, y : y + height, x : x + width]
        np.maximum(region, images[i], out=region)
    return canvas[..., None]


def translated_mnist(images, canvas_size=60, seed=0):
    """The paper's translated MNIST: each 28 x 28 digit at a random place on a 60 x 60 canvas."""
    return place_on_canvas(images, canvas_size=canvas_size, seed=seed)


def cluttered_mnist(images, canvas_size=60, num_fragments=4, fragment_size=8, seed=0):
    """The paper's cluttered translated MNIST: a translated digit plus 8 x 8 fragments of others.

    The paper's 60 x 60 set has 4 fragments per image (its 100 x 100 set, 8).
    """
    return place_on_canvas(
        images,
        canvas_size=canvas_size,
        num_fragments=num_fragments,
        fragment_size=fragment_size,
        seed=seed,
    )


def load_digits_canvas(
    num_examples=None, canvas_size=32, digit_size=16, num_fragments=0, fragment_size=8, seed=0
):
    """The built-in offline data set: scikit-learn's 8 x 8 digits upscaled on a larger canvas.

    Args:
        num_examples: How many canvases (default: one per digit, 1,797). More
            than 1,797 reuse digits at new positions.
        canvas_size: Side of the square canvas.
        digit_size: Side of the upscaled digit: a multiple of 8 (nearest-pixel
            upscaling).
        num_fragments: Clutter fragments per canvas (cut from other digits).
        fragment_size: Side of each fragment, at most `digit_size`.
        seed: Integer seed of the digit order, positions and clutter.

    Returns:
        `(x, y)`: float32 canvases (N, canvas_size, canvas_size, 1) in [0, 1]
        and int32 labels (N,).
    """
    from sklearn.datasets import load_digits

    digit_size = check_int("digit_size", digit_size)
    if digit_size % 8:
        raise ValueError(f"digit_size must be a multiple of 8. Received: digit_size={digit_size}")
    digits = load_digits()
    images = digits.images.astype("float32") / 16.0
    scale = digit_size // 8
    images = np.kron(images, np.ones((1, scale, scale), "float32"))
    rng = np.random.default_rng(seed)
    if num_examples is None:
        order = rng.permutation(len(images))
    else:
        num_examples = check_int("num_examples", num_examples)
        order = rng.permutation(max(num_examples, len(images)))[:num_examples] % len(images)
    x = place_on_canvas(
        images[order],
        canvas_size=canvas_size,
        num_fragments=num_fragments,
        fragment_size=fragment_size,
        fragment_images=images if num_fragments else None,
        seed=int(rng.integers(2**31)),
    )
    return x, digits.target[order].astype("int32")


def read_idx(path):
    """Reads one IDX file (the MNIST format), gzip-compressed or not, into a NumPy array.

    Raises:
        ValueError: naming the file when it is not a valid IDX file (bad magic
            number, unknown type code, truncated or oversized data).
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"Corrupt gzip IDX file ({err}). Received: path={path!r}") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise ValueError(
            "Not an IDX file: the header must be 0x00 0x00, a type code and the rank. "
            f"Received: path={path!r} starting with {raw[:4]!r}"
        )
    dtype, rank = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * rank
    if len(raw) < header:
        raise ValueError(f"Truncated IDX header. Received: path={path!r}")
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], ">u4"))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"IDX data size does not match its header shape {shape}: expected {expected} bytes, "
            f"found {len(raw) - header}. Received: path={path!r}"
        )
    return np.frombuffer(raw[header:], dtype).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist_idx(images_path, labels_path):
    """Loads MNIST (or any digits in its format) from IDX files at a user's path.

    Args:
        images_path: The images file, e.g. `t10k-images-idx3-ubyte.gz` (gzip or not).
        labels_path: The matching labels file.

    Returns:
        `(images, labels)`: uint8 (N, 28, 28) and int32 (N,).
    """
    for name, path in (("images_path", images_path), ("labels_path", labels_path)):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{name} is not a file. Received: {name}={path!r}")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            "Expected images (N, H, W) and labels (N,) of the same length. Received: "
            f"images.shape={images.shape} from {images_path!r}, labels.shape={labels.shape} "
            f"from {labels_path!r}"
        )
    return images, labels.astype("int32")


def load_mnist_tfds(split="train", data_dir=None):
    """Loads MNIST through tensorflow-datasets (downloads on first use, when online).

    Args:
        split: A tfds split string, e.g. `"train"`, `"test"`, `"train[:10%]"`.
        data_dir: Where tfds keeps its data (default: its own default).

    Returns:
        `(images, labels)`: uint8 (N, 28, 28) and int32 (N,).
    """
    import tensorflow_datasets as tfds

    dataset = tfds.load("mnist", split=split, data_dir=data_dir, as_supervised=True)
    # Batches, not `batch_size=-1`: one giant element is slow and aborts under `mock_data`.
    batches = list(tfds.as_numpy(dataset.batch(4096)))
    images = np.concatenate([b[0] for b in batches]) if batches else np.zeros((0, 28, 28, 1))
    labels = np.concatenate([b[1] for b in batches]) if batches else np.zeros((0,))
    return images[..., 0].astype("uint8"), labels.astype("int32")
