"""Additive (Bahdanau, "concat") attention: score(q, k) = vᵀ tanh(W_q q + W_k k)."""

import keras
from keras import ops

from attention_zoo.layers._registry import register
from attention_zoo.layers.base_attention import BaseAttention, check_positive_int


@register("additive", aliases=("bahdanau", "concat"))
class AdditiveAttention(BaseAttention):
    """Additive attention, the score of Bahdanau et al.

    Formula:

        score(q, k) = vᵀ tanh(W_q q + W_k k)
        W_q ∈ R^(Dq × units), W_k ∈ R^(Dk × units), v ∈ R^units learned
        output      = softmax(score) · V

    Query and key may have different feature sizes. Unlike
    `keras.layers.AdditiveAttention`, which has no projections, the query and
    the key are projected to `units` features first.

    Args:
        units: Positive integer, size of the hidden layer of the score.
        kernel_initializer: Initializer of W_q, W_k and v.
        dropout: Dropout rate on the attention weights, in [0, 1).
        seed: Integer seed of the dropout.
        block_size: Query block size of the memory-bounded path (see
            `BaseAttention`); None chooses it automatically.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        See `BaseAttention`.

    Returns:
        Output (B, Tq, Dv) and, with `return_attention_scores`, the weights
        (B, Tq, Tv).

    Example:

    >>> import numpy as np
    >>> layer = AdditiveAttention(units=8)
    >>> out = layer(np.ones((2, 3, 4), "float32"), np.ones((2, 5, 6), "float32"))
    >>> tuple(out.shape)
    (2, 3, 6)

    References:
        Bahdanau, Cho, Bengio (2015). Neural Machine Translation by Jointly
        Learning to Align and Translate.
    """

    def __init__(self, units=32, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build_score(self, query_dim, key_dim, num_heads=None):
        heads = () if num_heads is None else (num_heads,)
        init = self.kernel_initializer
        self.query_kernel = self.add_weight(
            name="query_kernel", shape=heads + (query_dim, self.units), initializer=init
        )
        self.key_kernel = self.add_weight(
            name="key_kernel", shape=heads + (key_dim, self.units), initializer=init
        )
        self.score_vector = self.add_weight(
            name="score_vector", shape=heads + (self.units,), initializer=init
        )

    def score(self, query, key):
        return self.score_prepared(*self.prepare_score(query, key))

    def prepare_score(self, query, key):
        # (B, H, Tq, units) and (B, H, Tv, units), once for all query blocks.
        return ops.matmul(query, self.query_kernel), ops.matmul(key, self.key_kernel)

    def score_elements_per_pair(self):
        return self.units  # the tanh tensor is (B, H, Tq, Tv, units)

    def score_prepared(self, q, k):
        hidden = ops.tanh(ops.expand_dims(q, -2) + ops.expand_dims(k, -3))
        if len(self.score_vector.shape) == 1:
            return ops.einsum("bhqku,u->bhqk", hidden, self.score_vector)
        return ops.einsum("bhqku,hu->bhqk", hidden, self.score_vector)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
