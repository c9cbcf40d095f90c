"""The small convolutional trunk shared by the soft-glimpse classifier and the CNN baseline."""

import keras

from attention_zoo._validation import check_positive_int


def check_filters(filters):
    """Returns `filters` as a tuple of positive integers; raises ValueError otherwise."""
    if isinstance(filters, int) and not isinstance(filters, bool):
        filters = (filters,)
    if not isinstance(filters, (tuple, list)) or not filters:
        raise ValueError(
            f"filters must be a non-empty list of positive integers. Received: filters={filters!r}"
        )
    for f in filters:
        check_positive_int("filters", f)
    return tuple(int(f) for f in filters)


def conv_trunk(filters, name):
    """One 3 x 3 ReLU convolution and one 2 x 2 max-pooling per entry of `filters`."""
    stack = []
    for i, f in enumerate(filters):
        stack.append(keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i}"))
        stack.append(keras.layers.MaxPooling2D(2, name=f"pool_{i}"))
    return keras.Sequential(stack, name=name)


def check_image_shape(image_shape, filters):
    """Returns `image_shape` as (H, W, C); raises ValueError if it is not one or is too small."""
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise ValueError(
            "image_shape must be three positive integers (H, W, C). "
            f"Received: image_shape={image_shape!r}"
        )
    if min(shape[:2]) < 2 ** len(filters):
        raise ValueError(
            f"image_shape is too small for {len(filters)} poolings by 2 (filters={filters}). "
            f"Received: image_shape={image_shape!r}"
        )
    return shape
