"""Scaled dot-product attention: score(q, k) = qᵀk / √D (Vaswani et al., 2017)."""

import math

from attention_zoo.layers._registry import register
from attention_zoo.layers.dot_attention import DotAttention


@register("scaled_dot")
class ScaledDotAttention(DotAttention):
    """Scaled dot-product attention, the score of the Transformer.

    Formula:

        score(q, k) = qᵀ k / √D
        output      = softmax(score) · V

    Dividing by √D keeps the logits' variance near 1 whatever the feature
    size, so the softmax does not saturate. Query and key must have the same
    feature size D.

    Args:
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
    >>> layer = ScaledDotAttention()
    >>> x = np.random.rand(2, 6, 8).astype("float32")
    >>> out, w = layer(x, x, return_attention_scores=True)   # self-attention
    >>> tuple(w.shape)
    (2, 6, 6)

    References:
        Vaswani et al. (2017). Attention Is All You Need.
    """

    def score(self, query, key):
        return self.score_prepared(*self.prepare_score(query, key))

    def prepare_score(self, query, key):
        # Scaling q (Tq · D values) is cheaper than scaling the logits (Tq · Tv).
        return query * (1.0 / math.sqrt(query.shape[-1])), key

    def score_prepared(self, query, key):
        return super().score(query, key)
