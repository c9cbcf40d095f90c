"""The retina-like glimpse sensor of the Recurrent Attention Model: multi-scale patches."""

import keras
from keras import ops

from attention_zoo._validation import check_int
from attention_zoo.layers import serializable


def _check_patch_size(patch_size):
    size = patch_size
    if isinstance(size, (tuple, list)):
        if len(size) != 2 or size[0] != size[1]:
            raise ValueError(
                "patch_size must be one integer or a square (g, g) pair. "
                f"Received: patch_size={patch_size!r}"
            )
        size = size[0]
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"patch_size must be a positive integer. Received: patch_size={size!r}")
    return size


@serializable
class GlimpseSensor(keras.layers.Layer):
    """Extracts k square patches of growing size around a location and resizes them to g x g.

    Formula (image H x W, location l = (l_y, l_x) in [-1, 1]², patch size g,
    scale factor f, k = `num_scales`):

        centre  = ((l_y + 1) / 2 · H, (l_x + 1) / 2 · W)       in pixel units
        patch_s = the (g fˢ) x (g fˢ) square around the centre,   s = 0 .. k-1
        out_s   = patch_s averaged over f^s x f^s blocks   ->  g x g

    Location (-1, -1) is the top-left corner of the image, (0, 0) its centre,
    (1, 1) its bottom-right corner; the top-left pixel of a patch of side P is
    `floor(centre - P / 2 + 1/2)` (halves round up). Pixels outside the image
    read as zero, as in the paper. The resize is an exact block average (no interpolation), so the
    finest patch is a plain crop. The crop is done with one-hot selection
    matrices (`R · image · Cᵀ`) in `keras.ops`: it is differentiable in the
    image and runs on every backend; the location is rounded to whole pixels
    (RAM trains its locations by REINFORCE, not by gradients).

    Args:
        patch_size: Side g of every output patch: an integer, or a square
            `(g, g)` pair.
        num_scales: Number k of patches; patch s has side g · fˢ.
        scale_factor: Integer f >= 2 by which each patch grows (the paper: 2).
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        images: Images (B, H, W, C); the largest patch g · f^(k-1) must fit in
            min(H, W).
        locations: Centres (B, 2) as (row, column) in [-1, 1]; values outside
            are clipped.

    Returns:
        The glimpses (B, k, g, g, C), finest scale first.

    Example:

    >>> import numpy as np
    >>> sensor = GlimpseSensor(patch_size=4, num_scales=3)
    >>> images = np.random.rand(2, 28, 28, 1).astype("float32")
    >>> tuple(sensor(images, np.zeros((2, 2), "float32")).shape)
    (2, 3, 4, 4, 1)

    References:
        Mnih, Heess, Graves, Kavukcuoglu (2014). Recurrent Models of Visual
        Attention. NeurIPS.
    """

    def __init__(self, patch_size=8, num_scales=1, scale_factor=2, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = _check_patch_size(patch_size)
        self.num_scales = check_int("num_scales", num_scales, 1)
        self.scale_factor = check_int("scale_factor", scale_factor, 2)

    @property
    def largest_patch(self):
        """The side in pixels of the coarsest patch, g · f^(k-1)."""
        return self.patch_size * self.scale_factor ** (self.num_scales - 1)

    def check_image_shape(self, shape):
        """Raises ValueError unless `shape` is (B, H, W, C) with room for the largest patch."""
        if shape is None or len(shape) != 4:
            received = None if shape is None else tuple(shape)
            raise ValueError(
                f"images must be a rank-4 tensor (B, H, W, C). Received: images.shape={received}"
            )
        sides = [d for d in shape[1:3] if d is not None]
        if sides and self.largest_patch > min(sides):
            raise ValueError(
                f"The largest glimpse (patch_size={self.patch_size} x "
                f"scale_factor={self.scale_factor}^(num_scales-1) = {self.largest_patch} pixels) "
                f"must fit in the image. Received: patch_size={self.patch_size}, "
                f"num_scales={self.num_scales}, images.shape={tuple(shape)}"
            )

    def build(self, images_shape, locations_shape=None):
        self.check_image_shape(images_shape)
        if locations_shape is not None and (
            len(locations_shape) != 2 or locations_shape[-1] not in (None, 2)
        ):
            raise ValueError(
                "locations must have shape (B, 2). "
                f"Received: locations.shape={tuple(locations_shape)}"
            )
        self.built = True

    def _selection(self, centre, side, image_side, dtype):
        """The (B, g, image_side) matrix that averages the rows (or columns) of one patch."""
        block = side // self.patch_size
        top = ops.floor(centre - side / 2.0 + 0.5)
        # Pixel p belongs to output row i when top + i·block <= p < top + (i+1)·block.
        pixels = ops.cast(ops.arange(image_side), dtype)[None, None, :]
        starts = (
            top[:, None, None] + ops.cast(ops.arange(self.patch_size) * block, dtype)[None, :, None]
        )
        inside = ops.logical_and(pixels >= starts, pixels < starts + block)
        return ops.cast(inside, dtype) / float(block)

    def call(self, images, locations):
        self.check_image_shape(images.shape)
        dtype = images.dtype
        height, width = ops.shape(images)[1], ops.shape(images)[2]
        locations = ops.clip(ops.cast(locations, dtype), -1.0, 1.0)
        centre_y = (locations[:, 0] + 1.0) / 2.0 * ops.cast(height, dtype)
        centre_x = (locations[:, 1] + 1.0) / 2.0 * ops.cast(width, dtype)
        patches = []
        for s in range(self.num_scales):
            side = self.patch_size * self.scale_factor**s
            rows = self._selection(centre_y, side, height, dtype)  # (B, g, H)
            cols = self._selection(centre_x, side, width, dtype)  # (B, g, W)
            # (B, g, H) x (B, H, W, C) -> (B, g, W, C), then the columns -> (B, g, g, C).
            patch = ops.einsum("bih,bhwc->biwc", rows, images)
            patches.append(ops.einsum("biwc,bjw->bijc", patch, cols))
        return ops.stack(patches, axis=1)

    def compute_output_shape(self, images_shape, locations_shape=None):
        g = self.patch_size
        return (images_shape[0], self.num_scales, g, g, images_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patch_size": self.patch_size,
                "num_scales": self.num_scales,
                "scale_factor": self.scale_factor,
            }
        )
        return config
