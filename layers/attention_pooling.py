"""Attention pooling: a sequence to one vector through a learned query (HAN context vector)."""

import keras
from keras import ops

from attention_zoo.layers import _registry


@_registry.serializable
class AttentionPooling(keras.layers.Layer):
    """Pools a sequence into one vector by attending to it with a learned query.

    Formula (u a learned context vector of size D, score any registry name):

        a      = softmax_j(score(u, x_j))     over the valid positions j
        output = Σ_j a_j x_j

    With the default `score="mlp"`, score(u, x) = uᵀ tanh(W x + b): the word
    attention of Hierarchical Attention Networks. Padded positions (from a
    Keras mask or `mask=`) get zero weight; an all-padded sequence pools to
    zeros.

    Args:
        score: Registry name of the score (see `attention_zoo.layers.available()`).
        score_kwargs: Dict of extra arguments of the score layer, e.g.
            `{"units": 16}` for `"additive"` or `{"num_heads": 4}` for
            `"multi_head"`.
        context_initializer: Initializer of the context vector u.
        dropout: Dropout rate on the attention weights, in [0, 1).
        seed: Integer seed of the dropout.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: Sequence (B, T, D).
        mask: Optional boolean (B, T); filled from the Keras mask of `inputs`.
        return_attention_scores: If True, also return the weights (B, T), or
            (B, H, T) with a multi-head score.
        training: Python bool; dropout is applied only when True.

    Returns:
        The pooled vectors (B, D_out), D_out = D except for a multi-head score
        with its own `output_dim`.

    Example:

    >>> import numpy as np
    >>> pool = AttentionPooling(score="additive", score_kwargs={"units": 8})
    >>> x = np.random.rand(2, 7, 5).astype("float32")
    >>> tuple(pool(x).shape)
    (2, 5)

    References:
        Yang et al. (2016). Hierarchical Attention Networks for Document
        Classification.
    """

    def __init__(
        self,
        score="mlp",
        score_kwargs=None,
        context_initializer="glorot_uniform",
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.score = _registry.canonical_name(score)
        self.score_kwargs = dict(score_kwargs or {})
        self.context_initializer = keras.initializers.get(context_initializer)
        self.attention = _registry.get(
            self.score,
            dropout=dropout,
            seed=seed,
            dtype=self.dtype_policy,
            name="attention",
            **self.score_kwargs,
        )
        self.dropout = self.attention.dropout
        self.seed = seed
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "inputs must be a rank-3 tensor (B, T, D). "
                f"Received: inputs.shape={tuple(input_shape)}"
            )
        dim = input_shape[-1]
        self.context = self.add_weight(
            name="context", shape=(1, 1, dim), initializer=self.context_initializer
        )
        self.attention.build((input_shape[0], 1, dim), input_shape)
        self.built = True

    def call(self, inputs, mask=None, return_attention_scores=False, training=None):
        batch = ops.shape(inputs)[0]
        query = ops.broadcast_to(
            ops.cast(self.context, inputs.dtype), (batch, 1, ops.shape(self.context)[-1])
        )
        output, weights = self.attention(
            query,
            inputs,
            value_mask=mask,
            return_attention_scores=True,
            training=training,
        )
        output = ops.squeeze(output, 1)
        if return_attention_scores:
            return output, ops.squeeze(weights, -2)
        return output

    def compute_mask(self, inputs, previous_mask=None):
        # The time axis is pooled away, and the mask with it.
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "score": self.score,
                "score_kwargs": self.score_kwargs,
                "context_initializer": keras.initializers.serialize(self.context_initializer),
                "dropout": self.dropout,
                "seed": self.seed,
            }
        )
        return config
