"""The fused path: `keras.ops.dot_product_attention`, which takes cuDNN's flash kernel on JAX
with a GPU in float16 / bfloat16 and runs its XLA implementation elsewhere.
"""

from keras import ops


def attend(q, k, v, mask, use_causal_mask, only_causal, dtype):
    """softmax(mask(q kᵀ)) v through the fused kernel, for a matmul score; (B, H, Tq, Dv).

    `q`, `k` are the prepared query and key, so the kernel's scale is 1.
    The mask goes in whole, (B, 1, Tq, Tv): the broadcast (B, 1, 1, Tv) of a
    padding mask makes cuDNN refuse the call ("Bias must have same seq length
    as QKV", jax issue 28974) and Keras fall back to XLA. That the full mask
    passes cuDNN's layout check is reported, not verified here (no GPU). A
    causal mask alone goes in as `is_causal`, which the kernel does natively.
    The kernel gives a row with no valid key the mean of the values; our
    contract is a zero output there, so such rows are zeroed afterwards.
    """
    batch, q_len, k_len = ops.shape(q)[0], q.shape[2], k.shape[2]
    full = None
    if mask is not None and not only_causal:
        full = ops.broadcast_to(mask, (batch, 1, q_len, k_len))
    out = ops.dot_product_attention(
        ops.transpose(q, (0, 2, 1, 3)),
        ops.transpose(k, (0, 2, 1, 3)),
        ops.transpose(v, (0, 2, 1, 3)),
        mask=full,
        scale=1.0,
        is_causal=bool(use_causal_mask and only_causal),
    )
    out = ops.transpose(out, (0, 2, 1, 3))  # (B, H, Tq, Dv)
    if full is not None:
        seen = ops.any(full, axis=-1, keepdims=True)  # (B, 1, Tq, 1)
        out = ops.where(seen, out, ops.zeros_like(out))
    return ops.cast(out, dtype)
