"""Gaussian-kernel attention: score(q, k) = −½ ((q − k) w)², Nadaraya–Watson regression."""

import keras
from keras import ops

from attention_zoo.layers._registry import register
from attention_zoo.layers.dot_attention import DotAttention


@register("gaussian_kernel")
class GaussianKernelAttention(DotAttention):
    """Attention with a Gaussian kernel score: Nadaraya–Watson kernel regression.

    Formula:

        score(q, k) = −½ ‖(q − k) w‖²,   w a learned scalar (the inverse bandwidth)
        output      = softmax(score) · V = Σ_j K(q, k_j) v_j / Σ_j K(q, k_j)

    With w = 1 held fixed (`trainable=False`) this is exactly Nadaraya–Watson
    kernel regression with a Gaussian kernel; learning w makes it parametric.
    Query and key must have the same feature size D. The squared distance is
    expanded as ‖q‖² + ‖k‖² − 2 qᵀk, so no (B, Tq, Tv, D) tensor is built.

    Args:
        width_initializer: Initializer of w (default: ones).
        dropout: Dropout rate on the attention weights, in [0, 1).
        seed: Integer seed of the dropout.
        block_size, key_block_size, implementation: The compute path and
            its blocks (see `BaseAttention`); by default chosen per call.
        **kwargs: Standard `keras.layers.Layer` arguments; `trainable=False`
            freezes w.

    Call arguments:
        See `BaseAttention`.

    Returns:
        Output (B, Tq, Dv) and, with `return_attention_scores`, the weights
        (B, Tq, Tv).

    Example:

    >>> import numpy as np
    >>> x_train = np.linspace(0, 5, 50, dtype="float32").reshape(1, 50, 1)
    >>> y_train = np.sin(x_train)
    >>> x_test = np.array([[[1.0], [2.0]]], "float32")
    >>> y_hat = GaussianKernelAttention(trainable=False)(x_test, y_train, key=x_train)
    >>> tuple(y_hat.shape)
    (1, 2, 1)

    References:
        Nadaraya (1964). On Estimating Regression. Watson (1964). Smooth
        Regression Analysis.
    """

    def __init__(self, width_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.width_initializer = keras.initializers.get(width_initializer)

    def build_score(self, query_dim, key_dim, num_heads=None):
        super().build_score(query_dim, key_dim)
        heads = () if num_heads is None else (num_heads,)
        self.width = self.add_weight(name="width", shape=heads, initializer=self.width_initializer)

    def score(self, query, key):
        q_sq = ops.sum(ops.square(query), axis=-1, keepdims=True)  # (B, H, Tq, 1)
        k_sq = ops.expand_dims(ops.sum(ops.square(key), axis=-1), -2)  # (B, H, 1, Tv)
        distance = ops.maximum(q_sq + k_sq - 2.0 * super().score(query, key), 0.0)
        # Cast by hand: the block-wise path's backward pass recomputes this
        # outside the layer call, where mixed precision does not autocast.
        width = ops.cast(self.width, distance.dtype)
        if len(width.shape) == 1:  # per head: (H,) -> (H, 1, 1)
            width = ops.reshape(width, (-1, 1, 1))
        return -0.5 * ops.square(width) * distance

    def score_is_matmul(self):
        return False  # a distance, not the dot product it inherits

    def get_config(self):
        config = super().get_config()
        config["width_initializer"] = keras.initializers.serialize(self.width_initializer)
        return config
