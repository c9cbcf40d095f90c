"""The translator's transformer decoder: blocks of the zoo's `TransformerBlock` over the memory."""

import types

import keras
from keras import ops

from attention_zoo import layers as attention_layers
from attention_zoo.zoo._transformer_block import TransformerBlock


class TransformerDecoder(keras.layers.Layer):
    """A transformer decoder on our `MultiHeadAttention`, over the recurrent encoder's memory.

    Each of `num_layers` blocks (post-norm, as in Vaswani et al. 2017):
        x = LayerNorm(x + SelfAttention(x, causal));  x = LayerNorm(x + CrossAttention(x, memory))
        x = LayerNorm(x + FFN(x))
    (the zoo's `TransformerBlock`). Token plus learned position embeddings in,
    logits out. The cross-attention heads use the registry score `attention`.
    The encoder's final state is not used.
    """

    def __init__(
        self,
        vocab_size,
        units,
        max_length,
        num_layers,
        num_heads,
        attention,
        attention_kwargs,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.max_length = max_length
        self.embedding = keras.layers.Embedding(
            vocab_size, units, dtype=self.dtype_policy, name="target_embedding"
        )
        self.positions = keras.layers.Embedding(
            max_length, units, dtype=self.dtype_policy, name="position_embedding"
        )
        # A score that splits heads itself (a multi-head layer) stands for the default one.
        splits = attention_layers.get_class(attention).splits_heads
        blocks = [
            TransformerBlock(
                units,
                num_heads,
                cross_attention=True,
                cross_score="scaled_dot" if splits else attention,
                cross_score_kwargs=attention_kwargs,
                dtype=self.dtype_policy,
                name=f"block_{i}",
                name_suffix=f"_{i}",
            )
            for i in range(num_layers)
        ]
        self._shared = types.SimpleNamespace(blocks=blocks)  # untracked: see below
        # One list per sublayer kind (index = block), under the names of before the block
        # was shared: the weight paths of `.keras` files are these names, and old files load.
        self.self_attention = [b.self_attention for b in blocks]
        self.norm_self = [b.norm_self for b in blocks]
        self.cross_attention = [b.cross_attention for b in blocks]
        self.norm_cross = [b.norm_cross for b in blocks]
        self.ffn_in = [b.ffn_in for b in blocks]
        self.ffn_out = [b.ffn_out for b in blocks]
        self.norm_ffn = [b.norm_ffn for b in blocks]
        self.output_layer = keras.layers.Dense(
            vocab_size, dtype=self.dtype_policy, name="output_logits"
        )

    def build(self, *args, **kwargs):
        self.embedding.build((None, None))
        self.positions.build((None, None))
        seq = (None, None, self.units)
        for block in self._shared.blocks:
            block.build(seq, seq)
        self.output_layer.build(seq)
        self.built = True

    def call(self, target_in, memory, memory_mask, state=None):
        length = ops.shape(target_in)[1]
        x = self.embedding(target_in) + self.positions(ops.arange(length))[None]
        weights = None
        for block in self._shared.blocks:
            x, weights = block(
                x,
                memory=memory,
                memory_mask=memory_mask,
                use_causal_mask=True,
                return_attention_scores=True,
            )
        return self.output_layer(x), ops.mean(weights, axis=1)

    def start_state(self, encoder_state, memory):
        # The state of a search is the prefix of tokens fed so far, (B, 0) at the start.
        return [ops.zeros((ops.shape(memory)[0], 0), dtype="int32")]

    def step(self, token, state, memory, memory_mask):
        prefix = ops.concatenate([state[0], ops.expand_dims(ops.cast(token, "int32"), 1)], 1)
        logits, weights = self.call(prefix, memory, memory_mask)
        return logits[:, -1], [prefix], weights[:, -1]
