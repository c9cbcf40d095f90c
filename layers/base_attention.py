"""The base class of every attention layer: masks, softmax, dropout and the weighted sum."""

import functools
import math

import keras
import numpy as np
from keras import ops

from attention_zoo.layers._registry import serializable

# Logit given to masked positions before the softmax; finite so that a fully
# masked row stays finite (it is zeroed after the softmax).
_MASKED_LOGIT = -1e9

# The automatic choice of the block-wise path. Above _AUTO_BLOCK_ELEMENTS score
# elements (B · H · Tq · Tv · score width) the direct path's (B, H, Tq, Tv)
# tensors cost more in memory traffic than the blocks cost in extra work (see
# README, "Performance"); each query block then holds about _BLOCK_ELEMENTS of
# them, or, for matmul scores split along the keys too, each (query block, key
# block) step about _KEY_BLOCK_ELEMENTS. Blocks are unrolled at trace time, so
# their number is capped: _MAX_BLOCKS query blocks, _MAX_PAIRS steps.
_AUTO_BLOCK_ELEMENTS = 2**26
_BLOCK_ELEMENTS = 2**23
_KEY_BLOCK_ELEMENTS = 2**21
_MAX_BLOCKS = 64
_MAX_PAIRS = 256
# From this many (B · H · Tq · Tv) scores on, the direct path of a matmul score
# takes its own backward pass (see `_matmul_attention`); smaller inputs, where
# it saves little, keep the automatic gradient.
_FUSED_BACKWARD_ELEMENTS = 2**20
# On a CPU, that path computes one tile of heads at a time when a head's
# (Tq, Tv) scores are at most _MAX_HEAD_TILE floats (16 MB): whole heads, with
# as many heads per tile as fit in _HEAD_TILE_ELEMENTS (4 MB), so that a tile's
# scores stay in cache between the ops that use them (see `_tiled_matmul_attention`).
# The tiles recompute the scores' matmul in the backward pass, which costs in
# proportion to the query's feature size: from _MAX_TILED_DIM + 1 on it was
# measured to cost more than the tiles save under XLA (README, "Performance").
_MAX_HEAD_TILE = 2**22
_HEAD_TILE_ELEMENTS = 2**20
_MAX_TILED_DIM = 128


def _check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_positive_int(name, value, allow_none=False):
    """Raises ValueError unless `value` is a positive integer (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return value


def _shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


@serializable
class BaseAttention(keras.layers.Layer):
    """Base class of the attention family: owns masking, softmax, dropout and the weighted sum.

    A variant subclasses it and implements two methods only:

    - `build_score(query_dim, key_dim, num_heads=None)` creates the score's
      weights (with a leading head axis of size `num_heads` when given);
    - `score(query, key)` maps a query block (B, H, Tq, Dq) and the keys
      (B, H, Tv, Dk) to logits (B, H, Tq, Tv). Single-head layers use H = 1.

    Everything else is done here, for every variant alike:

        weights = softmax(mask(score(q, k)))      (in float32)
        output  = dropout(weights) @ v

    Masks: a position (i, j) takes part when `query_mask[b, i]`,
    `key_mask[b, j]` (default: `value_mask`), `attention_mask[b, i, j]` and,
    with `use_causal_mask`, j <= i all hold. Keras masks carried by the inputs
    (from `Embedding(mask_zero=True)` or `Masking`) fill `query_mask`,
    `value_mask` and `key_mask` when those are not given, and the query's Keras
    mask is propagated to the output. A row with no valid position gets zero
    weights and a zero output, never NaN.

    Long sequences: above a size threshold (or always, with `block_size`) the
    queries are processed in blocks of `block_size` rows, each under
    `keras.remat`, so that neither the forward nor the backward pass holds
    more than one block's (B, H, block, Tv) tensors (a score may bound its
    own intermediates further, as the additive score's tiles do). Scores that
    are a matmul of the prepared query and key (`score_is_matmul`) also split
    the keys when Tv is long: each query block runs an online softmax over key
    blocks (a running maximum, sum and output, each key block under
    `keras.remat` too), so it holds (B, H, block, key block) scores at a
    time. The result equals the direct path's to float rounding; dropout
    still acts on each row's normalised weights. With
    `return_attention_scores=True`, or lengths unknown at trace time, the
    direct path builds the full matrix. A variant can split its score into
    `prepare_score` (per position, done once) and `score_prepared` (per
    block) so the blocks do not repeat per-position work. From 2**20 scores
    on, the direct path of a matmul score without dropout at work computes
    its own backward pass, which skips one pass over the weights (see
    `_matmul_attention`); on a CPU it runs one tile of heads at a time, so
    that each tile's scores stay in cache (`_tiled_matmul_attention`).

    Args:
        dropout: Dropout rate on the attention weights, in [0, 1); applied in
            training only.
        seed: Integer seed of the dropout, for reproducible runs.
        block_size: Positive integer: always use the block-wise path with
            query blocks of this many rows. None (default): choose the
            block-wise path and its block size automatically when the score
            tensors would hold more than 2**26 floats.
        **kwargs: Standard `keras.layers.Layer` arguments (`name`, `dtype`,
            `trainable`, ...).

    Call arguments:
        query: Query tensor (B, Tq, Dq).
        value: Value tensor (B, Tv, Dv).
        key: Optional key tensor (B, Tv, Dk); defaults to `value`.
        query_mask: Optional boolean (B, Tq); False marks padded queries.
        value_mask: Optional boolean (B, Tv); False marks padded values.
        key_mask: Optional boolean (B, Tv); defaults to `value_mask`.
        attention_mask: Optional boolean (B, Tq, Tv); False forbids a pair.
        use_causal_mask: If True, query i attends only to positions j <= i.
        return_attention_scores: If True, also return the attention weights.
        training: Python bool; dropout is applied only when True.

    Returns:
        The attended output (B, Tq, D_out) and, with `return_attention_scores`,
        the weights (B, Tq, Tv), or (B, H, Tq, Tv) for multi-head layers.
    """

    def __init__(self, dropout=0.0, seed=None, block_size=None, **kwargs):
        super().__init__(**kwargs)
        self.dropout = _check_rate("dropout", dropout)
        self.block_size = check_positive_int("block_size", block_size, allow_none=True)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an integer or None. Received: seed={seed!r}")
        self.seed = seed
        self.supports_masking = True
        self._dropout_layer = (
            keras.layers.Dropout(self.dropout, seed=seed) if self.dropout else None
        )

    # ----------------------------------------------------------------- hooks
    def build_score(self, query_dim, key_dim, num_heads=None):
        """Creates the score's weights. Variants without weights keep this no-op."""

    def score(self, query, key):
        """Maps query (B, H, Tq, Dq) and key (B, H, Tv, Dk) to logits (B, H, Tq, Tv)."""
        raise NotImplementedError(f"{type(self).__name__} must implement score().")

    def prepare_score(self, query, key):
        """Optional: the per-position part of the score, done once for all query blocks.

        Returns the (query, key) pair that `score_prepared` takes; the
        block-wise path slices the prepared query into blocks. By default
        nothing is prepared.
        """
        return query, key

    def score_prepared(self, query, key):
        """Logits from a `prepare_score` output; `score(q, k)` must equal
        `score_prepared(*prepare_score(q, k))`."""
        return self.score(query, key)

    def score_elements_per_pair(self):
        """Floats the score builds per (query, key) pair: sizes the blocks (e.g. `units`)."""
        return 1

    def score_is_matmul(self):
        """Whether `score_prepared(q, k)` is the matmul q · kᵀ of the prepared tensors.

        Such a score costs no more on a key block than on all keys, so the
        block-wise path may split the keys too and run an online softmax.
        Default: False (queries are split only).
        """
        return False

    def project(self, query, key, value):
        """Maps the 3-D inputs to per-head tensors (B, H, T, D); H = 1 here."""
        return ops.expand_dims(query, 1), ops.expand_dims(key, 1), ops.expand_dims(value, 1)

    def merge(self, output):
        """Maps the per-head output (B, H, Tq, Dv) to the layer output (B, Tq, D_out)."""
        return ops.squeeze(output, 1)

    def merge_weights(self, weights):
        """Maps the weights (B, H, Tq, Tv) to what the layer returns."""
        return ops.squeeze(weights, 1)

    # ----------------------------------------------------------------- build
    @staticmethod
    def _check_rank(name, shape):
        if shape is None or len(shape) != 3:
            received = None if shape is None else _shape_str(shape)
            raise ValueError(
                f"{name} must be a rank-3 tensor (B, T, D). Received: {name}.shape={received}"
            )

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        for arg, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            self._check_rank(arg, shape)
        if key_shape[1] is not None and value_shape[1] is not None:
            if key_shape[1] != value_shape[1]:
                raise ValueError(
                    "key and value must have the same length Tv. Received: "
                    f"key.shape={_shape_str(key_shape)}, value.shape={_shape_str(value_shape)}"
                )
        self.build_score(query_shape[-1], key_shape[-1])
        self.built = True

    # ------------------------------------------------------------------ call
    def call(
        self,
        query,
        value,
        key=None,
        *,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
    ):
        key = value if key is None else key
        for arg, tensor in (("query", query), ("value", value), ("key", key)):
            self._check_rank(arg, tensor.shape)
        # The keys' mask is key_mask, else value_mask (keys and values share positions);
        # errors name the argument the mask came from.
        key_mask_name = "value_mask" if key_mask is None else "key_mask"
        if key_mask is None:
            key_mask = value_mask
        elif value_mask is not None:  # unused then, but a wrong shape is still an error
            self._check_mask("value_mask", value_mask, tuple(key.shape[:2]), "(B, Tv)")
        q, k, v = self.project(query, key, value)
        blocks = None if return_attention_scores else self.block_sizes(q, k)
        if blocks is not None:
            masks = self._check_masks(
                query, key, query_mask, key_mask, attention_mask, key_mask_name
            )
            output = self._blockwise(q, k, v, masks, use_causal_mask, blocks, training)
            return self.merge(output)
        mask = self.combined_mask(
            query, key, query_mask, key_mask, attention_mask, use_causal_mask, key_mask_name
        )
        if not return_attention_scores and self._fused_backward(q, k, training):
            return self.merge(self._matmul_attention(q, k, v, mask))
        logits = self.score(q, k)
        weights = self.masked_softmax(logits, mask)
        attended = weights
        if self._dropout_layer is not None:
            attended = self._dropout_layer(weights, training=training)
        output = self.merge(ops.matmul(attended, v))
        if return_attention_scores:
            return output, self.merge_weights(weights)
        return output

    def compute_mask(self, query, previous_mask=None):
        # The output has the query's time axis, so it keeps the query's mask.
        return previous_mask

    # --------------------------------------------------------------- helpers
    @staticmethod
    def _check_mask(name, mask, expected, expected_str):
        if mask is None:
            return None
        shape = tuple(mask.shape)
        ok = len(shape) == len(expected) and all(
            a is None or b is None or a == b for a, b in zip(shape, expected, strict=True)
        )
        if not ok:
            raise ValueError(
                f"{name} must have shape {expected_str}={_shape_str(expected)}. "
                f"Received: {name}.shape={_shape_str(shape)}"
            )
        return ops.cast(mask, "bool")

    def _check_masks(
        self, query, key, query_mask, key_mask, attention_mask, key_mask_name="value_mask"
    ):
        batch, q_len = query.shape[0], query.shape[1]
        k_len = key.shape[1]
        return (
            self._check_mask("query_mask", query_mask, (batch, q_len), "(B, Tq)"),
            self._check_mask(key_mask_name, key_mask, (batch, k_len), "(B, Tv)"),
            self._check_mask(
                "attention_mask", attention_mask, (batch, q_len, k_len), "(B, Tq, Tv)"
            ),
        )

    def combined_mask(
        self,
        query,
        key,
        query_mask,
        key_mask,
        attention_mask,
        use_causal_mask,
        key_mask_name="value_mask",
    ):
        """Combines every mask into one boolean (B, 1, Tq, Tv) tensor, or None."""
        query_mask, key_mask, attention_mask = self._check_masks(
            query, key, query_mask, key_mask, attention_mask, key_mask_name
        )
        mask = attention_mask
        if query_mask is not None:
            mask = _and(mask, ops.expand_dims(query_mask, -1))
        if key_mask is not None:
            mask = _and(mask, ops.expand_dims(key_mask, -2))
        if use_causal_mask:
            q_idx = ops.expand_dims(ops.arange(ops.shape(query)[1]), -1)
            k_idx = ops.expand_dims(ops.arange(ops.shape(key)[1]), 0)
            mask = _and(mask, ops.expand_dims(k_idx <= q_idx, 0))
        if mask is None:
            return None
        return ops.expand_dims(mask, 1)

    def masked_softmax(self, logits, mask):
        """Softmax over the last axis in float32; masked entries get exactly zero weight."""
        logits = ops.cast(logits, "float32")
        if mask is None:
            return ops.cast(ops.softmax(logits, axis=-1), self.compute_dtype)
        weights = ops.softmax(ops.where(mask, logits, _MASKED_LOGIT), axis=-1)
        weights = ops.where(mask, weights, 0.0)
        return ops.cast(weights, self.compute_dtype)

    # ------------------------------------------------- direct path, own gradient
    def _fused_backward(self, query, key, training):
        """Whether the direct path uses `_matmul_attention`: a matmul score, no
        dropout at work, and at least `_FUSED_BACKWARD_ELEMENTS` scores."""
        if not self.score_is_matmul():
            return False
        if self._dropout_layer is not None and bool(training):
            return False
        dims = (query.shape[0], query.shape[1], query.shape[2], key.shape[2])
        batch, heads, q_len, k_len = (d if isinstance(d, int) else None for d in dims)
        if q_len is None or k_len is None:
            return False
        return (batch or 1) * (heads or 1) * q_len * k_len >= _FUSED_BACKWARD_ELEMENTS

    def _matmul_attention(self, q, k, v, mask):
        """softmax(mask(q' k'ᵀ)) v for a matmul score, with its backward pass written out.

        With W the weights, O = W V the output and G its gradient, the
        automatic gradient of the softmax computes Σ_j (G Vᵀ)_ij W_ij, a pass
        over the (B, H, Tq, Tv) tensors; the same sum is Σ_d G_id O_id
        (Dao et al., 2022), which costs (B, H, Tq, Dv). So:

            dV = Wᵀ G,   dS = W ⊙ (G Vᵀ - rowsum(G ⊙ O)),   dq' = dS k',   dk' = dSᵀ q'

        computed in float32 where the softmax is. Masked weights are zero, so
        their dS is zero as in the automatic gradient. The prepared q' and k'
        come from `prepare_score`, differentiated as usual. On a CPU, heads
        small enough go through `_tiled_matmul_attention` instead.
        """
        q, k = self.prepare_score(q, k)
        group = _head_group(q.shape[1], q.shape[2], k.shape[2], q.shape[3])
        if group is not None and _on_cpu():
            return self._tiled_matmul_attention(q, k, v, mask, group)
        dtype = self.compute_dtype

        @ops.custom_gradient
        def attend(q, k, v):
            weights = self.masked_softmax(self.score_prepared(q, k), mask)
            output = ops.matmul(weights, v)

            def grad(*args, upstream=None):
                upstream = args[0] if upstream is None else upstream
                d_v = ops.einsum("bhqk,bhqd->bhkd", weights, upstream)
                d_weights = ops.cast(ops.einsum("bhqd,bhkd->bhqk", upstream, v), "float32")
                row = ops.sum(
                    ops.cast(upstream, "float32") * ops.cast(output, "float32"), -1, keepdims=True
                )
                d_scores = ops.cast(ops.cast(weights, "float32") * (d_weights - row), dtype)
                d_q = ops.matmul(d_scores, k)
                d_k = ops.einsum("bhqk,bhqd->bhkd", d_scores, q)
                return d_q, d_k, d_v

            return output, grad

        return attend(q, k, v)

    def _tiled_matmul_attention(self, q, k, v, mask, group):
        """`_matmul_attention` one tile of `group` heads of one batch row at a time.

        The whole-tensor path writes each (B, H, Tq, Tv) tensor to memory and
        reads it back in the next op; here a loop (`keras.ops.map`) takes one
        tile of heads at a time, whose scores stay in cache from the matmul
        that makes them to the one that uses them. The forward pass keeps only
        the output and each row's log-sum-exp L; the backward pass, a second
        loop, recomputes the tile's weights as W = exp(q' k'ᵀ - L) (one more
        matmul) and then applies the formulas of `_matmul_attention`. All in
        float32; a fully masked row has zero weights and output.
        """
        batch, heads = ops.shape(q)[0], q.shape[1]
        q_len = q.shape[2]
        per_row = heads // group  # tiles per batch row
        tiles = batch * per_row
        if mask is not None:
            mask = mask[:, 0]  # (B or 1, Tq or 1, Tv or 1)
        # The batch row of each tile, for the mask.
        rows = () if mask is None else (ops.arange(tiles) // per_row,)

        def flat(x):
            return ops.reshape(ops.cast(x, "float32"), (tiles, group, x.shape[2], x.shape[3]))

        def tile_mask(row=None):
            if mask is None:
                return None
            if mask.shape[0] == 1:
                return mask[:1]
            return ops.expand_dims(ops.take(mask, row, axis=0), 0)

        # Products with a transposed factor are einsums, which fold the
        # transpose into the matmul (a transposed (Tq, Tv) copy costs a pass).
        def scores(q_tile, k_tile):
            return ops.einsum("gqd,gkd->gqk", q_tile, k_tile)

        @ops.custom_gradient
        def attend(q, k, v):
            def forward(item):
                *row, q_tile, k_tile, v_tile = item
                logits, valid = scores(q_tile, k_tile), tile_mask(*row)
                if valid is not None:
                    logits = ops.where(valid, logits, _MASKED_LOGIT)
                top = ops.max(logits, axis=-1, keepdims=True)
                probs = ops.exp(logits - top)
                if valid is not None:  # a fully masked row: all its logits equal `top`
                    probs = ops.where(valid, probs, 0.0)
                total = ops.sum(probs, axis=-1, keepdims=True)
                total = ops.where(total > 0, total, ops.ones_like(total))
                return ops.matmul(probs, v_tile) / total, top + ops.log(total)

            output, log_total = ops.map(forward, (*rows, q, k, v))

            def grad(*args, upstream=None):
                upstream = args[0] if upstream is None else upstream

                def backward(item):
                    *row, q_tile, k_tile, v_tile, out_tile, log_tile, up_tile = item
                    weights = ops.exp(scores(q_tile, k_tile) - log_tile)
                    valid = tile_mask(*row)
                    if valid is not None:
                        weights = ops.where(valid, weights, 0.0)
                    d_v = ops.einsum("gqk,gqd->gkd", weights, up_tile)
                    row_sum = ops.sum(up_tile * out_tile, axis=-1, keepdims=True)
                    d_scores = weights * (ops.einsum("gqd,gkd->gqk", up_tile, v_tile) - row_sum)
                    d_q = ops.matmul(d_scores, k_tile)
                    d_k = ops.einsum("gqk,gqd->gkd", d_scores, q_tile)
                    return d_q, d_k, d_v

                items = (*rows, q, k, v, output, log_total, upstream)
                return ops.map(backward, items)

            return output, grad

        output = attend(flat(q), flat(k), flat(v))
        output = ops.reshape(output, (batch, heads, q_len, v.shape[3]))
        return ops.cast(output, self.compute_dtype)

    # ------------------------------------------------------- block-wise path
    def block_sizes(self, query, key):
        """(query block, key block) sizes of the block-wise path, or None for the direct path.

        `query` (B, H, Tq, D) and `key` (B, H, Tv, D) are the projected
        tensors. With `block_size` set the block-wise path is used whenever
        the lengths are static; otherwise when the score tensors would exceed
        `_AUTO_BLOCK_ELEMENTS` floats. A key block of Tv means the keys are
        not split (the only choice unless `score_is_matmul()`).
        """
        # JAX traces shapes with symbolic dimensions: anything but an int is unknown.
        batch, heads, q_len, k_len = (
            d if isinstance(d, int) else None
            for d in (query.shape[0], query.shape[1], query.shape[2], key.shape[2])
        )
        if q_len is None or k_len is None:
            return None  # the blocks are unrolled at trace time: they need static lengths
        per_pair = (batch or 1) * (heads or 1) * self.score_elements_per_pair()
        if self.block_size is None and per_pair * q_len * k_len <= _AUTO_BLOCK_ELEMENTS:
            return None
        if not self.score_is_matmul():
            block = self.block_size
            if block is None:
                block = max(_BLOCK_ELEMENTS // (per_pair * k_len), -(-q_len // _MAX_BLOCKS), 1)
                block = _even(q_len, block)
            return block, k_len
        # About _KEY_BLOCK_ELEMENTS scores per step, near-square blocks, at
        # most _MAX_PAIRS steps: sqrt(_MAX_PAIRS) query blocks, the rest in keys.
        area = max(_KEY_BLOCK_ELEMENTS // per_pair, 1)
        block = self.block_size
        if block is None:
            side = max(math.isqrt(area), area // k_len, -(-q_len // math.isqrt(_MAX_PAIRS)))
            block = _even(q_len, min(side, q_len))
        key_blocks = max(_MAX_PAIRS // -(-q_len // block), 1)
        key_block = max(area // block, -(-k_len // key_blocks), 1)
        return block, _even(k_len, min(key_block, k_len))

    def _blockwise(self, q, k, v, masks, use_causal_mask, blocks, training):
        """Attention one query block at a time; (B, H, Tq, Dv) like `matmul(weights, v)`.

        With keys unsplit, each block sees every key, so its softmax is exact
        and the blocks need no rescaling; with a causal mask the keys after
        the block's last query (zero weight) are left out. Each block runs
        under `keras.remat`: the backward pass recomputes its (B, H, block,
        Tv) tensors instead of keeping them, so memory stays O(block · Tv) in
        training as well. With split keys see `_online_attention`. Dropout
        draws one seed per block before the block runs, so the recomputation
        drops exactly what the forward pass dropped.
        """
        block, key_block = blocks
        query_mask, key_mask, attention_mask = masks
        q, k = self.prepare_score(q, k)
        q_len, k_len = q.shape[2], k.shape[2]
        online = key_block < k_len
        use_dropout = self._dropout_layer is not None and bool(training)
        if online:
            # Key blocks split once: the gradient of a split is a concatenation, where that of
            # a slice in every step would be a zero-padded (B, H, Tv, D) tensor per key block.
            edges = list(range(key_block, k_len, key_block))
            k_blocks = ops.split(k, edges, axis=2) if edges else [k]
            v_blocks = ops.split(v, edges, axis=2) if edges else [v]
        outputs = []
        for start in range(0, q_len, block):
            stop = min(start + block, q_len)
            k_stop = min(stop, k_len) if use_causal_mask else k_len
            seed = self._dropout_layer.seed_generator.next() if use_dropout else None
            q_block = q[:, :, start:stop]
            if online:
                count = -(-k_stop // key_block)  # the key blocks before k_stop
                keys, values = list(k_blocks[:count]), list(v_blocks[:count])
                cut = k_stop - (count - 1) * key_block
                if cut < keys[-1].shape[2]:  # causal: the last block ends at k_stop
                    keys[-1], values[-1] = keys[-1][:, :, :cut], values[-1][:, :, :cut]
                attend = self._online_attention(
                    start, stop, masks, use_causal_mask, key_block, seed
                )
                blocks_kv = (*keys, *values)
                if outputs:  # one query block after the other, forward and backward
                    q_block = _after(q_block, outputs[-1])
            else:
                mask = None
                if attention_mask is not None:
                    mask = attention_mask[:, start:stop, :k_stop]
                if query_mask is not None:
                    mask = _and(mask, ops.expand_dims(query_mask[:, start:stop], -1))
                if key_mask is not None:
                    mask = _and(mask, ops.expand_dims(key_mask[:, :k_stop], -2))
                if use_causal_mask:
                    q_idx = ops.expand_dims(ops.arange(start, stop), -1)
                    mask = _and(mask, ops.expand_dims(ops.arange(k_stop) <= q_idx, 0))
                if mask is not None:
                    mask = ops.expand_dims(mask, 1)
                attend = self._block_attention(mask, seed)
                blocks_kv = (k[:, :, :k_stop], v[:, :, :k_stop])
            outputs.append(keras.remat(attend)(q_block, *blocks_kv))
        output = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=2)
        if online and query_mask is not None:
            # Masked queries get zero weights; cheaper here than in every step.
            output = ops.where(query_mask[:, None, :, None], output, ops.zeros_like(output))
        return output

    def _block_attention(self, mask, seed):
        # Masks and seeds are closed over: they take no gradient.
        def attend(q, k, v):
            weights = self.masked_softmax(self.score_prepared(q, k), mask)
            if seed is not None:
                weights = keras.random.dropout(weights, self.dropout, seed=_FixedSeed(seed))
            return ops.matmul(weights, v)

        return attend

    def _online_attention(self, start, stop, masks, use_causal_mask, key_block, seed):
        """Queries start:stop over key blocks with an online softmax (Milakov & Gimelshein, 2018).

        Each step takes one key block and updates, per query row, the running
        maximum m of the logits, the running sum l of exp(logit - m) and the
        running output o = Σ exp(logit - m) · v, rescaling l and o by
        exp(m_old - m_new) when the maximum grows; the output is o / l.
        Dropout drops the unnormalised exp(logit - m) before they enter o but
        not l, which is dropout(exp / l) since dropout is elementwise. Each
        step runs under `keras.remat`, so the backward pass keeps only the
        (B, H, block, Dv + 2) running state per step, not the step's scores.
        With a causal mask the key blocks end at the block's last query and
        key blocks wholly before its first query need no causal mask.
        """
        _, key_mask, attention_mask = masks
        q_idx = ops.expand_dims(ops.arange(start, stop), -1)

        def attend(q, *blocks):
            keys, values = blocks[: len(blocks) // 2], blocks[len(blocks) // 2 :]
            state = ()
            for index, (k, v) in enumerate(zip(keys, values, strict=True)):
                k_start = index * key_block
                k_stop = k_start + k.shape[2]
                mask = None
                if attention_mask is not None:
                    mask = attention_mask[:, start:stop, k_start:k_stop]
                if key_mask is not None:
                    mask = _and(mask, ops.expand_dims(key_mask[:, k_start:k_stop], -2))
                if use_causal_mask and k_stop - 1 > start:
                    causal = ops.arange(k_start, k_stop) <= q_idx
                    mask = _and(mask, ops.expand_dims(causal, 0))
                if mask is not None:
                    mask = ops.expand_dims(mask, 1)
                step_seed = None
                if seed is not None:  # a seed per key block, derived from the query block's
                    dtype = keras.backend.standardize_dtype(seed.dtype)
                    step_seed = seed + ops.convert_to_tensor(np.array([index, 0]), dtype=dtype)
                step = keras.remat(self._online_step(mask, step_seed))
                state = step(q, k, v, *state)
            output, total, _ = state
            total = ops.where(total > 0, total, ops.ones_like(total))  # a fully masked row: o = 0
            return ops.cast(output / ops.expand_dims(total, -1), self.compute_dtype)

        return attend

    def _online_step(self, mask, seed):
        # The running maximum only shifts the exponent: the result does not
        # depend on it, so it takes no gradient. The running output comes
        # first: TensorFlow's remat makes the recomputation wait for the
        # gradient of the first output, which must be a real one, else every
        # step is recomputed at once and its scores are held until used.
        def step(q, k, v, *state):
            if state:  # one key block after the other
                q = _after(q, ops.stop_gradient(state[1]))
            logits = ops.cast(self.score_prepared(q, k), "float32")
            if mask is not None:
                logits = ops.where(mask, logits, _MASKED_LOGIT)
            maximum = ops.stop_gradient(ops.max(logits, axis=-1))
            if state:
                output, total, running_max = state
                running_max = ops.stop_gradient(running_max)
                maximum = ops.maximum(running_max, maximum)
                rescale = ops.exp(running_max - maximum)
            probs = ops.exp(logits - ops.expand_dims(maximum, -1))
            if mask is not None:  # rows masked so far have maximum = _MASKED_LOGIT
                probs = ops.where(mask, probs, 0.0)
            block_total = ops.sum(probs, axis=-1)
            if seed is not None:
                probs = keras.random.dropout(probs, self.dropout, seed=_FixedSeed(seed))
            values = ops.matmul(ops.cast(probs, self.compute_dtype), v)
            block_output = ops.cast(values, "float32")
            if not state:
                return block_output, block_total, maximum
            return (
                ops.expand_dims(rescale, -1) * output + block_output,
                rescale * total + block_total,
                maximum,
            )

        return step

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout, "seed": self.seed, "block_size": self.block_size})
        return config


def _head_group(heads, q_len, k_len, dim):
    """Heads per tile of `_tiled_matmul_attention`, or None where it does not pay off.

    `dim` is the feature size of the prepared query; a head's (q_len, k_len)
    scores larger than `_MAX_HEAD_TILE`, or `dim` above `_MAX_TILED_DIM`,
    keep the whole-tensor path.
    """
    if not all(isinstance(d, int) for d in (heads, q_len, k_len, dim)):
        return None
    if q_len * k_len > _MAX_HEAD_TILE or dim > _MAX_TILED_DIM:
        return None
    fits = max(_HEAD_TILE_ELEMENTS // (q_len * k_len), 1)
    return max(g for g in range(1, heads + 1) if heads % g == 0 and g <= fits)


@functools.cache
def _on_cpu():
    """Whether the backend computes on the CPU, where `_tiled_matmul_attention` pays off."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.config.list_logical_devices("GPU")
    if backend == "jax":
        import jax

        return jax.default_backend() == "cpu"
    return False


def _and(a, b):
    return b if a is None else ops.logical_and(a, b)


def _after(x, previous):
    """`x`, computed after `previous`: adds a zero taken from `previous`.

    The blocks are independent except for this: without it TensorFlow's
    executor may compute the scores of many blocks before it consumes them,
    which holds many tiles of scores at a time.
    """
    zero = ops.sum(previous[:, :1, :1] * 0)
    return x + ops.cast(zero, x.dtype)


def _even(length, block):
    """The size of equal blocks covering `length`, none larger than `block`."""
    return -(-length // -(-length // block))


class _FixedSeed(keras.random.SeedGenerator):
    """A seed generator that always yields one given seed tensor.

    `keras.random` takes seeds as integers or generators; this hands it a seed
    drawn earlier, so a recomputed block draws the same dropout mask.
    """

    def __init__(self, seed):  # no state variable, on purpose
        self._seed = seed

    def next(self, ordered=True):
        return self._seed
