"""The post-norm transformer block the text classifier (encoder) and translator (decoder) share.

Its hosts keep the block itself out of Keras' tracking and track its sublayers under
the attribute names they had before the block was shared, so that the weight paths of
a `.keras` file (attribute names) are those of before, and files saved then still load.
"""

import keras

from attention_zoo import layers as attention_layers
from attention_zoo._validation import check_positive_int, check_rate
from attention_zoo.layers import serializable


@serializable
class TransformerBlock(keras.layers.Layer):
    """One post-norm transformer block (Vaswani et al., 2017) on our `MultiHeadAttention`.

    Formula (x (B, T, D), m its optional memory (B, Tv, D)):

        x = LN(x + Dropout(SelfAttention(x, x)))          causal if asked
        x = LN(x + CrossAttention(x, m))                  only with `cross_attention=True`
        x = LN(x + Dropout(W_2 relu(W_1 x + b_1) + b_2))

    The attention layers have H = `num_heads` heads of size max(1, D // H)
    and the scaled dot-product score; the cross-attention heads use
    `cross_score` (a registry name) with `cross_score_kwargs`.

    Args:
        units: Feature size D of the input and output.
        num_heads: Heads of the attention layers.
        ffn_units: Hidden size of the feed-forward part; default 2 D.
        cross_attention: Whether the block attends to a memory (a decoder).
        cross_score: Registry name of the cross-attention score.
        cross_score_kwargs: Dict of extra arguments of that score.
        dropout: Rate of the attention dropout and of the residual branches.
        name_suffix: Appended to each sublayer's name (`"self_attention_0"`).
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        x: (B, T, D) features.
        mask: Optional (B, T) bool mask of the real positions of `x`.
        memory: (B, Tv, D) memory, with `cross_attention=True`.
        memory_mask: Optional (B, Tv) bool mask of the memory.
        use_causal_mask: Whether position i attends only to positions <= i.
        return_attention_scores: Also return the weights of the last
            attention: the cross-attention's with a memory, else the
            self-attention's, (B, H, T, Tv) resp. (B, H, T, T).
        training: Python bool, enables dropout.

    Returns:
        (B, T, D) features, and the weights with `return_attention_scores`.

    Example:

    >>> import numpy as np
    >>> block = TransformerBlock(units=8, num_heads=2)
    >>> tuple(block(np.zeros((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        units,
        num_heads,
        ffn_units=None,
        cross_attention=False,
        cross_score="scaled_dot",
        cross_score_kwargs=None,
        dropout=0.0,
        name_suffix="",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True  # `mask` is an argument of `call`
        self.units = check_positive_int("units", units)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.ffn_units = check_positive_int("ffn_units", ffn_units, allow_none=True)
        self.cross_attention_enabled = bool(cross_attention)
        self.cross_score = cross_score
        self.cross_score_kwargs = dict(cross_score_kwargs or {})
        self.dropout_rate = check_rate("dropout", dropout)
        self.name_suffix = name_suffix
        policy = self.dtype_policy

        def mha(name, score, score_kwargs, rate):
            return attention_layers.MultiHeadAttention(
                num_heads=self.num_heads,
                key_dim=max(1, self.units // self.num_heads),
                score=score,
                score_kwargs=score_kwargs,
                dropout=rate,
                dtype=policy,
                name=name + name_suffix,
            )

        def norm(name):
            return keras.layers.LayerNormalization(dtype=policy, name=name + name_suffix)

        self.self_attention = mha("self_attention", "scaled_dot", {}, self.dropout_rate)
        self.norm_self = norm("norm_self")
        self.cross_attention = None
        if self.cross_attention_enabled:
            self.cross_attention = mha("cross_attention", cross_score, self.cross_score_kwargs, 0.0)
            self.norm_cross = norm("norm_cross")
        hidden = self.ffn_units or 2 * self.units
        self.ffn_in = keras.layers.Dense(
            hidden, activation="relu", dtype=policy, name="ffn_in" + name_suffix
        )
        self.ffn_out = keras.layers.Dense(self.units, dtype=policy, name="ffn_out" + name_suffix)
        self.norm_ffn = norm("norm_ffn")
        self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout" + name_suffix)

    def build(self, x_shape, memory_shape=None):
        seq = (None, None, self.units)
        self.self_attention.build(seq, seq)
        if self.cross_attention is not None:
            self.cross_attention.build(seq, seq)
            self.norm_cross.build(seq)
        for layer in (self.norm_self, self.norm_ffn, self.ffn_in):
            layer.build(seq)
        self.ffn_out.build((None, None, self.ffn_in.units))
        self.built = True

    def call(
        self,
        x,
        mask=None,
        memory=None,
        memory_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
    ):
        with_scores = return_attention_scores and self.cross_attention is None
        attended = self.self_attention(
            x,
            x,
            query_mask=mask,
            value_mask=mask,
            use_causal_mask=use_causal_mask,
            return_attention_scores=with_scores,
            training=training,
        )
        if with_scores:
            attended, scores = attended
        x = self.norm_self(x + self.dropout(attended, training=training))
        if self.cross_attention is not None:
            attended, scores = self.cross_attention(
                x, memory, value_mask=memory_mask, return_attention_scores=True, training=training
            )
            x = self.norm_cross(x + attended)
        ffn = self.ffn_out(self.ffn_in(x))
        x = self.norm_ffn(x + self.dropout(ffn, training=training))
        return (x, scores) if return_attention_scores else x

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "num_heads": self.num_heads,
            "ffn_units": self.ffn_units,
            "cross_attention": self.cross_attention_enabled,
            "cross_score": self.cross_score,
            "cross_score_kwargs": self.cross_score_kwargs,
            "dropout": self.dropout_rate,
            "name_suffix": self.name_suffix,
        }
