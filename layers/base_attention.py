"""The base class of every attention layer: masks, softmax, dropout and the weighted sum."""

import keras
from keras import ops

from attention_zoo.layers._registry import serializable

# Logit given to masked positions before the softmax; finite so that a fully
# masked row stays finite (it is zeroed after the softmax).
_MASKED_LOGIT = -1e9


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

    Args:
        dropout: Dropout rate on the attention weights, in [0, 1); applied in
            training only.
        seed: Integer seed of the dropout, for reproducible runs.
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

    def __init__(self, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.dropout = _check_rate("dropout", dropout)
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
        if key is None:
            key = value
            key_mask = value_mask if key_mask is None else key_mask
        elif key_mask is None:
            key_mask = value_mask
        for arg, tensor in (("query", query), ("value", value), ("key", key)):
            self._check_rank(arg, tensor.shape)
        mask = self.combined_mask(query, key, query_mask, key_mask, attention_mask, use_causal_mask)
        q, k, v = self.project(query, key, value)
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

    def combined_mask(self, query, key, query_mask, key_mask, attention_mask, use_causal_mask):
        """Combines every mask into one boolean (B, 1, Tq, Tv) tensor, or None."""
        batch, q_len = query.shape[0], query.shape[1]
        k_len = key.shape[1]
        query_mask = self._check_mask("query_mask", query_mask, (batch, q_len), "(B, Tq)")
        key_mask = self._check_mask("value_mask", key_mask, (batch, k_len), "(B, Tv)")
        attention_mask = self._check_mask(
            "attention_mask", attention_mask, (batch, q_len, k_len), "(B, Tq, Tv)"
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

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout, "seed": self.seed})
        return config


def _and(a, b):
    return b if a is None else ops.logical_and(a, b)
