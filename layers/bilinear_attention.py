"""Bilinear (multiplicative, Luong "general") attention: score(q, k) = qᵀ W k."""

import keras
from keras import ops

from attention_zoo.layers._registry import register
from attention_zoo.layers.base_attention import BaseAttention


@register("bilinear", aliases=("multiplicative", "general"))
class BilinearAttention(BaseAttention):
    """Bilinear attention, the "general" score of Luong et al.

    Formula:

        score(q, k) = qᵀ W k,      W ∈ R^(Dq × Dk) learned
        output      = softmax(score) · V

    Query and key may have different feature sizes.

    Args:
        kernel_initializer: Initializer of W.
        dropout: Dropout rate on the attention weights, in [0, 1).
        seed: Integer seed of the dropout.
        block_size, key_block_size, implementation: The compute path and
            its blocks (see `BaseAttention`); by default chosen per call.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        See `BaseAttention`.

    Returns:
        Output (B, Tq, Dv) and, with `return_attention_scores`, the weights
        (B, Tq, Tv).

    Example:

    >>> import numpy as np
    >>> layer = BilinearAttention()
    >>> out = layer(np.ones((2, 3, 4), "float32"), np.ones((2, 5, 6), "float32"))
    >>> tuple(out.shape)
    (2, 3, 6)

    References:
        Luong, Pham, Manning (2015). Effective Approaches to Attention-based
        Neural Machine Translation.
    """

    def __init__(self, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build_score(self, query_dim, key_dim, num_heads=None):
        heads = () if num_heads is None else (num_heads,)
        self.kernel = self.add_weight(
            name="kernel",
            shape=heads + (query_dim, key_dim),
            initializer=self.kernel_initializer,
        )

    def score(self, query, key):
        return self.score_prepared(*self.prepare_score(query, key))

    def prepare_score(self, query, key):
        # (q W) kᵀ: W is (Dq, Dk) or (H, Dq, Dk); matmul broadcasts the head axis.
        return ops.matmul(query, self.kernel), key

    def score_prepared(self, query, key):
        return ops.matmul(query, ops.swapaxes(key, -1, -2))

    def score_is_matmul(self):
        return True

    def get_config(self):
        config = super().get_config()
        config["kernel_initializer"] = keras.initializers.serialize(self.kernel_initializer)
        return config
