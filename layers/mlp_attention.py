"""The one-hidden-layer score: score(q, k) = qᵀ tanh(W k + b)."""

import keras
from keras import ops

from attention_zoo.layers._registry import register
from attention_zoo.layers.base_attention import BaseAttention


@register("mlp")
class MLPAttention(BaseAttention):
    """Attention whose score passes the key through one hidden layer.

    Formula:

        score(q, k) = qᵀ tanh(W k + b),   W ∈ R^(Dk × Dq), b ∈ R^Dq learned
        output      = softmax(score) · V

    With a learned query this is the word attention of Hierarchical Attention
    Networks (u_itᵀ u_w with u_it = tanh(W h_it + b)); see `AttentionPooling`.

    Args:
        kernel_initializer: Initializer of W.
        bias_initializer: Initializer of b.
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
    >>> layer = MLPAttention()
    >>> out = layer(np.ones((2, 3, 4), "float32"), np.ones((2, 5, 6), "float32"))
    >>> tuple(out.shape)
    (2, 3, 6)

    References:
        Yang et al. (2016). Hierarchical Attention Networks for Document
        Classification.
    """

    def __init__(self, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build_score(self, query_dim, key_dim, num_heads=None):
        heads = () if num_heads is None else (num_heads,)
        self.kernel = self.add_weight(
            name="kernel", shape=heads + (key_dim, query_dim), initializer=self.kernel_initializer
        )
        self.bias = self.add_weight(
            name="bias", shape=heads + (query_dim,), initializer=self.bias_initializer
        )

    def score(self, query, key):
        return self.score_prepared(*self.prepare_score(query, key))

    def prepare_score(self, query, key):
        # The hidden layer acts on the keys alone: once for all query blocks.
        bias = self.bias
        if len(bias.shape) == 2:  # per head: (H, Dq) -> (H, 1, Dq)
            bias = ops.expand_dims(bias, -2)
        return query, ops.tanh(ops.matmul(key, self.kernel) + bias)  # (B, H, Tv, Dq)

    def score_prepared(self, query, hidden):
        return ops.matmul(query, ops.swapaxes(hidden, -1, -2))

    def score_is_matmul(self):
        return True

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
