"""Cosine attention: score(q, k) = s · qᵀk / (‖q‖ ‖k‖), s a learned temperature."""

import math

import keras
from keras import ops

from attention_zoo._validation import check_positive_float
from attention_zoo.layers._registry import register
from attention_zoo.layers.dot_attention import DotAttention

# Added to ‖x‖² before the square root: a zero vector (a masked or padded position)
# normalizes to zero with a finite gradient instead of 0 / 0.
_EPSILON = 1e-12


@register("cosine")
class CosineAttention(DotAttention):
    """Cosine-similarity attention with a learned temperature.

    Formula:

        score(q, k) = s · qᵀ k / (‖q‖ ‖k‖),   s = exp(min(log_s, log max_temperature))
        output      = softmax(score) · V

    The cosine lies in [-1, 1] whatever the size of q and k, so the softmax
    never saturates on large activations; the learned temperature s sets how
    sharp it may get. s is learned as its logarithm, so it stays positive and
    a step changes it by a factor, and it is capped at `max_temperature`
    (Swin V2 caps it at 100) so that a run cannot blow the logits up. The
    norms are computed in float32 (‖q‖² overflows float16 from |q| ≈ 256),
    with a small epsilon so that a zero vector gets a zero score, not NaN.
    The temperature multiplies the normalized query once per position, and
    the score is then the matmul of the two normalized tensors, so the
    block-wise, own-backward, tiled and fused paths serve it. Query and key
    must have the same feature size D; in a multi-head layer each head has
    its own temperature.

    Args:
        temperature: Initial temperature s, a positive number (default 10,
            as in Swin V2: at 1 the softmax of a cosine is close to uniform).
        max_temperature: Cap of s, a number >= `temperature`.
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
    >>> layer = CosineAttention(temperature=5.0)
    >>> q = np.array([[[1.0, 0.0]]], "float32")
    >>> k = np.array([[[2.0, 0.0], [0.0, 3.0]]], "float32")   # cosines 1 and 0
    >>> _, w = layer(q, k, return_attention_scores=True)
    >>> print(np.round(np.asarray(w)[0, 0], 4))                # softmax([5, 0])
    [0.9933 0.0067]

    References:
        Luo et al. (2018). Cosine Normalization: Using Cosine Similarity
        Instead of Dot Product in Neural Networks.
        Liu et al. (2022). Swin Transformer V2: Scaling Up Capacity and
        Resolution (scaled cosine attention).
    """

    search_space = {"temperature": (10.0, 30.0)}
    example_kwargs = {"temperature": 10.0}
    test_kwargs = {"temperature": 4.0}

    def __init__(self, temperature=10.0, max_temperature=100.0, **kwargs):
        super().__init__(**kwargs)
        self.temperature = check_positive_float("temperature", temperature)
        self.max_temperature = check_positive_float("max_temperature", max_temperature)
        if self.max_temperature < self.temperature:
            raise ValueError(
                "max_temperature must be at least temperature. Received: "
                f"max_temperature={max_temperature}, temperature={temperature}"
            )

    def build_score(self, query_dim, key_dim, num_heads=None):
        super().build_score(query_dim, key_dim, num_heads)  # checks Dq == Dk
        heads = () if num_heads is None else (num_heads,)
        self.log_temperature = self.add_weight(
            name="log_temperature",
            shape=heads,
            initializer=keras.initializers.Constant(math.log(self.temperature)),
        )

    def score(self, query, key):
        return self.score_prepared(*self.prepare_score(query, key))

    def prepare_score(self, query, key):
        # Per position, once for all blocks: s · q / ‖q‖ and k / ‖k‖ (B, H, T, D).
        log_s = ops.minimum(
            ops.cast(self.log_temperature, "float32"), math.log(self.max_temperature)
        )
        if len(log_s.shape) == 1:  # per head: (H,) -> (H, 1, 1)
            log_s = ops.reshape(log_s, (-1, 1, 1))
        return (
            ops.cast(_normalize(query) * ops.exp(log_s), query.dtype),
            ops.cast(_normalize(key), key.dtype),
        )

    def score_prepared(self, query, key):
        return super().score(query, key)

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature, "max_temperature": self.max_temperature})
        return config


def _normalize(x):
    """x / ‖x‖ over the last axis, in float32; a zero vector stays zero."""
    x = ops.cast(x, "float32")
    return x * ops.rsqrt(ops.sum(ops.square(x), axis=-1, keepdims=True) + _EPSILON)
