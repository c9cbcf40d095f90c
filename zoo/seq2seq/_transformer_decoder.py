"""The translator's transformer decoder: blocks of the zoo's `TransformerBlock` over the memory."""

import functools
import types

import keras
import numpy as np
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

    A search decodes with a key/value cache (`step`): each block keeps the
    projected self-attention keys and values of the tokens fed so far and
    appends those of the new token, and the cross-attention keys and values
    of the memory are projected once per sentence, so a step costs O(T + Tv)
    instead of re-running the whole prefix. Set `use_cache = False` before a
    search is built to get the uncached reference decoding (the benchmark's
    baseline); both give the same tokens.
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
        self.use_cache = True  # read when a search is traced
        # The cached step runs the attention layers' pieces outside their own call; run
        # inside this (weightless, untracked) layer's call, mixed precision still casts
        # their weights, which Keras does only within a layer call.
        self._shared.in_call = _InCall(dtype=self.dtype_policy, name="cached_step")

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
        """The state of a search: with the cache, per block the self-attention keys and
        values so far ((B, H, 0, d) at the start), then the memory's cross-attention keys
        and values; without it, the prefix of tokens fed so far, (B, 0) at the start."""
        batch = ops.shape(memory)[0]
        if not self.use_cache:
            return [ops.zeros((batch, 0), dtype="int32")]
        self_cache, cross_cache = [], []
        for block in self._shared.blocks:
            attention = block.self_attention
            for kernel in (attention.key_kernel, attention.value_kernel):
                heads, size = kernel.shape[1:]
                self_cache.append(ops.zeros((batch, heads, 0, size), dtype=self.compute_dtype))
            cross_cache += self._shared.in_call(
                memory, function=functools.partial(_memory_keys_values, block)
            )
        return self_cache + cross_cache

    def step(self, token, state, memory, memory_mask):
        """Logits (B, V) of the next token after `token` (B,), the new state, and the
        last block's cross-attention weights (B, Tv), averaged over the heads."""
        if not self.use_cache:
            prefix = ops.concatenate([state[0], ops.expand_dims(ops.cast(token, "int32"), 1)], 1)
            logits, weights = self.call(prefix, memory, memory_mask)
            return logits[:, -1], [prefix], weights[:, -1]
        position = ops.shape(state[0])[2]  # tokens fed so far
        token = ops.expand_dims(ops.cast(token, "int32"), 1)
        x = self.embedding(token) + self.positions(ops.arange(position, position + 1))[None]
        mask = ops.expand_dims(ops.expand_dims(ops.cast(memory_mask, "bool"), 1), 1)
        count = len(self._shared.blocks)
        new_state = []
        for i, block in enumerate(self._shared.blocks):
            keys, values = state[2 * i], state[2 * i + 1]
            cross = state[2 * count + 2 * i], state[2 * count + 2 * i + 1]
            x, weights, keys, values = self._shared.in_call(
                x,
                function=functools.partial(_cached_block, block),
                tensors=(keys, values, cross, mask),
            )
            new_state += [keys, values]
        new_state += state[2 * count :]
        return self.output_layer(x)[:, 0], new_state, ops.mean(weights, axis=1)[:, 0]


class _InCall(keras.layers.Layer):
    """Runs `function(x, *tensors)` within a layer call of this layer's dtype policy."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # the token embedding's mask means nothing to one step

    def compute_mask(self, x, mask=None):
        return None

    def call(self, x, function=None, tensors=()):
        return function(x, *tensors)


def _memory_keys_values(block, memory):
    """The cross-attention keys (prepared for the score) and values of the memory."""
    attention = block.cross_attention
    _, keys, values = attention.project(memory[:, :1], memory, memory)
    _, keys = attention.prepare_score(keys, keys)  # per position: q and k apart
    return [keys, values]


def _cached_block(block, x, keys, values, cross, mask):
    """One `TransformerBlock` at inference on the new token x (B, 1, D), from the caches.

    Calls the pieces the attention layer's own `call` runs (`project`,
    `prepare_score`, `score_prepared`, `merge`) on the new token only; the
    cross-attention reads the memory's keys and values `cross` projected once.
    Returns x, the cross-attention weights (B, H, 1, Tv) and the caches with
    the new token's self-attention key and value appended.
    """
    attention = block.self_attention
    query, key, value = attention.project(x, x, x)
    query, key = attention.prepare_score(query, key)
    keys = ops.concatenate([keys, key], axis=2)
    values = ops.concatenate([values, value], axis=2)
    attended, _ = _attend(attention, query, keys, values, None)
    x = block.norm_self(x + attended)
    attention = block.cross_attention
    query, _, _ = attention.project(x, x, x)
    query, _ = attention.prepare_score(query, query)
    attended, weights = _attend(attention, query, *cross, mask)
    x = block.norm_cross(x + attended)
    x = block.norm_ffn(x + block.ffn_out(block.ffn_in(x)))
    return x, weights, keys, values


def _attend(attention, query, keys, values, mask):
    """softmax(mask(score(q, k))) v merged by `attention`, and the weights (B, H, 1, Tv).

    The softmax is the layers' own: in float32, masked logits -inf before the
    exponential, and a row without any valid key weighs zero everywhere.
    """
    if query.dtype == "float16":  # as the layers do: q · k overflows float16 from 65504 on
        query, keys = ops.cast(query, "float32"), ops.cast(keys, "float32")
    logits = ops.cast(attention.score_prepared(query, keys), "float32")
    if mask is not None:
        logits = ops.where(mask, logits, -np.inf)
    top = ops.maximum(ops.max(logits, axis=-1, keepdims=True), float(np.finfo("float32").min))
    probs = ops.exp(logits - top)
    total = ops.sum(probs, axis=-1, keepdims=True)
    weights = ops.cast(probs / ops.where(total > 0, total, ops.ones_like(total)), values.dtype)
    return attention.merge(ops.matmul(weights, values)), weights
