"""Dot-product attention: score(q, k) = qᵀk (Luong et al., 2015, "dot")."""

from keras import ops

from attention_zoo.layers._registry import register
from attention_zoo.layers.base_attention import BaseAttention


@register("dot")
class DotAttention(BaseAttention):
    """Dot-product attention, the parameter-free score of Luong et al.

    Formula:

        score(q, k) = qᵀ k
        output      = softmax(score) · V

    Query and key must have the same feature size D.

    Args:
        dropout: Dropout rate on the attention weights, in [0, 1).
        seed: Integer seed of the dropout.
        block_size, key_block_size, implementation: The compute path and
            its blocks (see `BaseAttention`); by default chosen per call.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        See `BaseAttention`: `query` (B, Tq, D), `value` (B, Tv, Dv), optional
        `key` (B, Tv, D), the masks, `use_causal_mask`,
        `return_attention_scores` and `training`.

    Returns:
        Output (B, Tq, Dv) and, with `return_attention_scores`, the weights
        (B, Tq, Tv).

    Example:

    >>> import numpy as np
    >>> layer = DotAttention()
    >>> out = layer(np.ones((2, 3, 4), "float32"), np.ones((2, 5, 4), "float32"))
    >>> tuple(out.shape)
    (2, 3, 4)

    References:
        Luong, Pham, Manning (2015). Effective Approaches to Attention-based
        Neural Machine Translation.
    """

    requires_same_dim = True

    def build_score(self, query_dim, key_dim, num_heads=None):
        if query_dim is not None and key_dim is not None and query_dim != key_dim:
            raise ValueError(
                f"{self.registry_name} attention needs query and key of the same feature "
                f"size D. Received: query.shape[-1]={query_dim}, key.shape[-1]={key_dim}"
            )
        self._key_dim = key_dim

    def score(self, query, key):
        return ops.matmul(query, ops.swapaxes(key, -1, -2))

    def score_is_matmul(self):
        return True
