"""The direct path: the (B, H, Tq, Tv) scores at once, and the softmax every path shares.

Also the direct path's form with its own backward pass for matmul scores
(`own_backward`). Every function takes the prepared query and key (B, H, T, D),
the values (B, H, Tv, Dv) and the combined boolean mask (B or 1, 1, Tq or 1, Tv)
or None; none takes the layer.
"""

import keras
import numpy as np
from keras import ops

# The lowest finite float32: the running maximum of a row with no valid logit
# yet, so that exp(logit - maximum) stays finite. Masked logits are -inf, not a
# finite stand-in that a valid logit could fall below.
FLOOR = float(np.finfo("float32").min)


def combine_masks(query, key, query_mask, key_mask, attention_mask, use_causal_mask):
    """Every mask in one boolean (B or 1, 1, Tq or 1, Tv) tensor, or None."""
    mask = attention_mask
    if query_mask is not None:
        mask = and_masks(mask, ops.expand_dims(query_mask, -1))
    if key_mask is not None:
        mask = and_masks(mask, ops.expand_dims(key_mask, -2))
    if use_causal_mask:
        q_idx = ops.expand_dims(ops.arange(ops.shape(query)[1]), -1)
        k_idx = ops.expand_dims(ops.arange(ops.shape(key)[1]), 0)
        mask = and_masks(mask, ops.expand_dims(k_idx <= q_idx, 0))
    return None if mask is None else ops.expand_dims(mask, 1)


def and_masks(a, b):
    return b if a is None else ops.logical_and(a, b)


def masked_exp(logits, mask):
    """exp(logits - row maximum) with masked entries exactly 0, the row sums and maxima.

    The maximum is taken over the valid logits only (the lowest finite float
    for a row without any), and masked logits become -inf before the
    exponential: however low the valid logits, none loses to a masked one,
    and a masked NaN or Inf never reaches the result or its gradient.
    """
    logits = ops.where(mask, logits, -np.inf)
    top = ops.maximum(ops.stop_gradient(ops.max(logits, axis=-1, keepdims=True)), FLOOR)
    probs = ops.exp(logits - top)
    return probs, ops.sum(probs, axis=-1, keepdims=True), top


def nonzero(total):
    """`total`, with 1 for rows that have no valid key: their zero weights stay zero."""
    return ops.where(total > 0, total, ops.ones_like(total))


def masked_softmax(logits, mask, dtype):
    """Softmax over the last axis in float32, cast to `dtype`; masked entries weigh exactly 0."""
    logits = ops.cast(logits, "float32")
    if mask is None:
        return ops.cast(ops.softmax(logits, axis=-1), dtype)
    probs, total, _ = masked_exp(logits, mask)
    return ops.cast(probs / nonzero(total), dtype)


def attend(q, k, v, score, mask, dropout, seed, dtype):
    """softmax(mask(score(q, k))) v: returns the output (B, H, Tq, Dv) and the weights.

    `dropout` is the rate in force (0 outside training) and `seed` the seed
    generator it draws from; the weights returned are those before dropout.
    """
    weights = masked_softmax(score(q, k), mask, dtype)
    attended = weights
    if dropout:
        attended = keras.random.dropout(weights, dropout, seed=seed)
    return ops.matmul(attended, v), weights


def own_backward(q, k, v, mask, dtype):
    """softmax(mask(q kᵀ)) v for a matmul score, with its backward pass written out.

    With W the weights, O = W V the output and G its gradient, the automatic
    gradient of the softmax computes Σ_j (G Vᵀ)_ij W_ij, a pass over the
    (B, H, Tq, Tv) tensors; the same sum is Σ_d G_id O_id (Dao et al., 2022),
    which costs (B, H, Tq, Dv). So:

        dV = Wᵀ G,   dS = W ⊙ (G Vᵀ - rowsum(G ⊙ O)),   dq = dS k,   dk = dSᵀ q

    computed in float32 where the softmax is. Masked weights are zero, so
    their dS is zero as in the automatic gradient.
    """

    @ops.custom_gradient
    def run(q, k, v):
        weights = masked_softmax(ops.matmul(q, ops.swapaxes(k, -1, -2)), mask, dtype)
        output = ops.matmul(weights, v)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            d_v = ops.einsum("bhqk,bhqd->bhkd", weights, upstream)
            d_weights = ops.cast(ops.einsum("bhqd,bhkd->bhqk", upstream, v), "float32")
            row = ops.sum(
                ops.cast(upstream, "float32") * ops.cast(output, "float32"), -1, keepdims=True
            )
            d_scores = ops.cast(ops.cast(weights, "float32") * (d_weights - row), q.dtype)
            d_q = ops.matmul(d_scores, k)
            d_k = ops.einsum("bhqk,bhqd->bhkd", d_scores, q)
            return d_q, d_k, d_v

        return output, grad

    return run(q, k, v)
