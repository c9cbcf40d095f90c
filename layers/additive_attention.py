"""Additive (Bahdanau, "concat") attention: score(q, k) = vᵀ tanh(W_q q + W_k k)."""

import keras
from keras import ops

from attention_zoo._validation import check_positive_int
from attention_zoo.layers._registry import register
from attention_zoo.layers.base_attention import BaseAttention


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

    Speed and memory: on a CPU the score's (B, Tq, Tv, units) tanh tensor is
    never built whole when it would exceed 2**20 floats. The logits are
    computed in tiles of query rows that fit in cache, under a custom
    gradient that recomputes each tile's tanh (see `additive_logits`), so the
    layer holds (B, Tq, Tv) tensors like the dot-product layers do. On a GPU
    the whole tensor is built where it fits (`implementation="tiles"` forces
    the tiles).

    Args:
        units: Positive integer, size of the hidden layer of the score.
        kernel_initializer: Initializer of W_q, W_k and v.
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
    >>> layer = AdditiveAttention(units=8)
    >>> out = layer(np.ones((2, 3, 4), "float32"), np.ones((2, 5, 6), "float32"))
    >>> tuple(out.shape)
    (2, 3, 6)

    References:
        Bahdanau, Cho, Bengio (2015). Neural Machine Translation by Jointly
        Learning to Align and Translate.
    """

    search_space = {"units": (16, 64)}
    example_kwargs = {"units": 16}
    test_kwargs = {"units": 6}

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

    def score_prepared(self, q, k):
        return additive_logits(q, k, self.score_vector)

    def score_tiles(self, rows):
        return lambda q, k: additive_logits(q, k, self.score_vector, rows=rows)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config


def additive_logits(q, k, v, rows=None):
    """vᵀ tanh(q_i + k_j) for every query i and key j, whole or in tiles of query rows.

    Args:
        q: Projected queries (B, H, Tq, units).
        k: Projected keys (B, H, Tv, units).
        v: Score vector (units,), or (H, units) with one per head.
        rows: None: build the whole (B, H, Tq, Tv, units) tanh tensor. A
            positive integer (with static Tq, Tv and units): loop over tiles
            of this many query rows (the dispatcher sizes them to stay in
            cache), under a custom gradient that recomputes each tile's tanh
            in its own loop, so that no tensor of the full (Tq, Tv, units)
            size exists in the forward or the backward pass.

    Returns:
        Logits (B, H, Tq, Tv) in the dtype of `q`.
    """
    if rows is None:
        hidden = ops.tanh(ops.expand_dims(q, -2) + ops.expand_dims(k, -3))
        if len(v.shape) == 1:
            return ops.einsum("bhqku,u->bhqk", hidden, v)
        return ops.einsum("bhqku,hu->bhqk", hidden, v)
    vector = ops.cast(v, "float32")
    if len(v.shape) == 1:
        vector = ops.expand_dims(vector, 0)  # (1, units): the one head of H = 1
    rows = max(min(rows, q.shape[2]), 1)
    logits = _tiled_additive(rows)(ops.cast(q, "float32"), ops.cast(k, "float32"), vector)
    return ops.cast(logits, q.dtype)


def _tiled_additive(rows):
    """`additive_logits` over tiles of `rows` query rows, with its own gradient (float32)."""

    @ops.custom_gradient
    def logits(q, k, v):
        shape = ops.shape(q)
        batch, heads, q_len, units = shape[0], shape[1], q.shape[2], q.shape[3]
        k_len = k.shape[2]
        tiles = -(-q_len // rows)
        pad = tiles * rows - q_len  # zero query rows: sliced off, zero gradient
        padded = ops.pad(q, [(0, 0), (0, 0), (0, pad), (0, 0)]) if pad else q
        weights = v[None, :, None, :, None]  # (1, H, 1, units, 1)

        def hidden(q_tile):  # (B, H, rows, units) -> tanh tensor (B, H, rows, Tv, units)
            return ops.tanh(ops.expand_dims(q_tile, 3) + ops.expand_dims(k, 2))

        def forward(q_tile):
            return ops.squeeze(ops.matmul(hidden(q_tile), weights), -1)  # (B, H, rows, Tv)

        stacked = ops.reshape(padded, (batch, heads, tiles, rows, units))
        out = ops.map(forward, ops.transpose(stacked, (2, 0, 1, 3, 4)))  # (tiles, B, H, rows, Tv)
        out = ops.reshape(ops.transpose(out, (1, 2, 0, 3, 4)), (batch, heads, tiles * rows, k_len))
        out = out[:, :, :q_len] if pad else out

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            g = ops.pad(upstream, [(0, 0), (0, 0), (0, pad), (0, 0)]) if pad else upstream
            scale = v[None, :, None, :]  # (1, H, 1, units)

            # With t = tanh(q_i + k_j) and g the logits' gradient:
            #   dq_i = v ⊙ Σ_j g_ij (1 - t²),  dk_j = v ⊙ Σ_i g_ij (1 - t²),  dv = Σ_ij g_ij t.
            def body(index, carry):
                dq, dk, dv = carry
                start = index * rows
                q_tile = ops.slice(padded, (0, 0, start, 0), (batch, heads, rows, units))
                g_tile = ops.slice(g, (0, 0, start, 0), (batch, heads, rows, k_len))
                t = hidden(q_tile)
                g_row = ops.expand_dims(g_tile, 3)  # (B, H, rows, 1, Tv)
                dv = dv + ops.sum(ops.matmul(g_row, t), axis=(0, 2, 3))
                t2 = t * t
                dq_tile = ops.sum(g_tile, -1, keepdims=True) - ops.squeeze(ops.matmul(g_row, t2), 3)
                g_col = ops.expand_dims(g_tile, -1)  # (B, H, rows, Tv, 1)
                dk_tile = ops.sum(g_col, 2) - ops.sum(g_col * t2, 2)
                dq = ops.slice_update(dq, (0, 0, start, 0), dq_tile * scale)
                return dq, dk + dk_tile * scale, dv

            init = (ops.zeros_like(padded), ops.zeros_like(k), ops.zeros_like(v))
            dq, dk, dv = ops.fori_loop(0, tiles, body, init)
            return (dq[:, :, :q_len] if pad else dq), dk, dv

        return out, grad

    return logits
