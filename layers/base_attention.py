"""The base class of every attention layer: masks, softmax, dropout and the weighted sum."""

import keras
import numpy as np
from keras import ops

from attention_zoo._validation import check_positive_int, check_rate
from attention_zoo.layers import _blockwise, _direct, _dispatch, _fused, _tiles
from attention_zoo.layers._registry import serializable


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

    Compute paths (`implementation=`): "direct" builds the (B, H, Tq, Tv)
    weights at once; "blockwise" takes the queries a block of rows at a time
    (and, for a score that is a matmul of the prepared query and key,
    `score_is_matmul`, the keys in blocks with an online softmax, in loops
    with their own backward pass when no dropout is at work), each block
    recomputed in the backward pass, so memory grows with a block; "own_backward"
    is the direct path of a matmul score with its backward pass written out;
    "tiles" is that pass one tile of heads at a time (matmul scores), or the
    score computed in tiles of query rows (a score with `score_tiles`, the
    additive one); "fused" calls `keras.ops.dot_product_attention`, cuDNN's
    flash kernel on JAX with a GPU. All give the direct path's result to
    float rounding, masks and gradients included. "auto" (default) lets
    `layers._dispatch.choose` pick by size, platform and dtype (README,
    "Performance"); a forced path that cannot serve a call raises a
    ValueError saying why. A variant can split its score into
    `prepare_score` (per position, done once) and `score_prepared` (per
    block) so the blocks do not repeat per-position work.

    Args:
        dropout: Dropout rate on the attention weights, in [0, 1); applied in
            training only.
        seed: Integer seed of the dropout, for reproducible runs.
        block_size: Positive integer: always use the block-wise path with
            query blocks of this many rows. None (default): choose the
            block-wise path and its block size automatically where the
            direct path would not fit (on a CPU: above 2**26 score floats).
        key_block_size: Positive integer: key blocks of this many keys in the
            block-wise path of a matmul score (implies it, like `block_size`).
            None: chosen automatically.
        implementation: "auto" (default), "direct", "own_backward", "tiles",
            "blockwise" or "fused": the compute path, see above.
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

    # What the rest of the package needs to know about a variant (STYLE.md rule 12):
    # models, sweeps, benches and the shared tests read these and never test a name.
    #: Tuner search space: constructor argument -> choices (the quick preset takes the first).
    search_space = {}
    #: Constructor arguments of the variant's example in the docs and `attention-zoo list`.
    example_kwargs = {}
    #: Small constructor arguments for the shared layer tests.
    test_kwargs = {}
    #: Whether the score needs query and key of the same feature size.
    requires_same_dim = False
    #: Whether the layer projects and splits heads itself; a model that builds its own
    #: heads (a transformer block) then uses its default per-head score in its place.
    splits_heads = False

    @classmethod
    def defaults_in_model(cls, units, num_heads):
        """Constructor arguments a model fills in where its user gives none.

        `units` is the host model's feature size and `num_heads` its number of heads.
        """
        return {}

    def __init__(
        self,
        dropout=0.0,
        seed=None,
        block_size=None,
        key_block_size=None,
        implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dropout = check_rate("dropout", dropout)
        self.block_size = check_positive_int("block_size", block_size, allow_none=True)
        self.key_block_size = check_positive_int("key_block_size", key_block_size, allow_none=True)
        self.implementation = _dispatch.check_implementation(
            implementation, self.block_size, self.key_block_size
        )
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

    def score_tiles(self, rows):
        """Optional: a score function like `score_prepared` that computes in tiles of
        `rows` query rows (for scores with a large per-pair tensor); None: no tiled form."""
        return None

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
        _check_batch(query, value, key)
        # The keys' mask is key_mask, else value_mask (keys and values share positions);
        # errors name the argument the mask came from.
        key_mask_name = "value_mask" if key_mask is None else "key_mask"
        if key_mask is None:
            key_mask = value_mask
        elif value_mask is not None:  # unused then, but a wrong shape is still an error
            self._check_mask("value_mask", value_mask, tuple(key.shape[:2]), "(B, Tv)")
        batch, q_len, k_len = query.shape[0], query.shape[1], key.shape[1]
        masks = (
            self._check_mask("query_mask", query_mask, (batch, q_len), "(B, Tq)"),
            self._check_mask(key_mask_name, key_mask, (batch, k_len), "(B, Tv)"),
            self._check_mask(
                "attention_mask", attention_mask, (batch, q_len, k_len), "(B, Tq, Tv)"
            ),
        )
        query, key, value = _zero_masked(query, key, value, masks)
        q, k, v = self.project(query, key, value)
        q, k = self.prepare_score(q, k)
        dropout = self.dropout if self._dropout_layer is not None and bool(training) else 0.0
        plan = _dispatch.choose(
            (*q.shape[:3], k.shape[2], q.shape[3], v.shape[3]),
            implementation=self.implementation,
            matmul=self.score_is_matmul(),
            width=self.score_elements_per_pair(),
            tiles=self.score_tiles(1) is not None,
            weights=bool(return_attention_scores),
            dropout=bool(dropout),
            dtype=self.compute_dtype,
            block_size=self.block_size,
            key_block_size=self.key_block_size,
        )
        if plan.upcast:  # q · k overflows float16 from 65504 on
            q, k = ops.cast(q, "float32"), ops.cast(k, "float32")
        score = self.score_prepared if plan.rows is None else self.score_tiles(plan.rows)
        seed = self._dropout_layer.seed_generator if dropout else None
        dtype = self.compute_dtype
        if plan.path == "blockwise":
            output = _blockwise.attend(
                q, k, v, score, masks, use_causal_mask, plan.blocks, dropout, seed, dtype, plan.loop
            )
            return self.merge(output)
        mask = _direct.combine_masks(query, key, *masks, use_causal_mask)
        if plan.path == "fused":
            only_causal = all(m is None for m in masks)
            output = _fused.attend(q, k, v, mask, use_causal_mask, only_causal, dtype)
        elif plan.path == "own_backward":
            output = _direct.own_backward(q, k, v, mask, dtype)
        elif plan.group is not None:
            output = _tiles.attend(q, k, v, mask, plan.group, dtype)
        else:
            output, weights = _direct.attend(q, k, v, score, mask, dropout, seed, dtype)
            if return_attention_scores:
                return self.merge(output), self.merge_weights(weights)
        return self.merge(output)

    def compute_mask(self, query, previous_mask=None):
        # The output has the query's time axis, so it keeps the query's mask.
        return previous_mask

    @staticmethod
    def _check_mask(name, mask, expected, expected_str):
        if mask is None:
            return None
        if not hasattr(mask, "shape"):  # a list, or nested lists
            try:
                mask = np.asarray(mask, dtype=bool)
            except ValueError:
                raise ValueError(
                    f"{name} must have shape {expected_str}={_shape_str(expected)}. "
                    f"Received: {name}={mask!r}"
                ) from None
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

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dropout": self.dropout,
                "seed": self.seed,
                "block_size": self.block_size,
                "key_block_size": self.key_block_size,
                "implementation": self.implementation,
            }
        )
        return config


def _check_batch(query, value, key):
    sizes = {x.shape[0] for x in (query, value, key) if isinstance(x.shape[0], int)}
    if len(sizes) > 1:
        raise ValueError(
            "query, value and key must have the same batch size B. Received: "
            f"query.shape={_shape_str(query.shape)}, value.shape={_shape_str(value.shape)}, "
            f"key.shape={_shape_str(key.shape)}"
        )


def _zero_masked(query, key, value, masks):
    """The inputs with zeros at masked queries and keys: their NaN or Inf must not
    reach the output or the gradients through 0 · NaN."""
    query_mask, key_mask, _ = masks
    if query_mask is not None:
        query = ops.where(query_mask[..., None], query, ops.zeros_like(query))
    if key_mask is not None:
        key = ops.where(key_mask[..., None], key, ops.zeros_like(key))
        value = ops.where(key_mask[..., None], value, ops.zeros_like(value))
    return query, key, value
