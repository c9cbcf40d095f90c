"""The building blocks of `Translator`: the encoder and the three decoders.

Each decoder has two entry points that compute the same thing:
`call(target_in, memory, memory_mask, state)` runs a whole teacher-forced
sequence (training), `step(token, state, memory, memory_mask)` one token
(search). Their sublayers are all built in `build()` from the sizes given to
the constructor, so that nothing is created inside a loop.
"""

import keras
from keras import ops

from attention_zoo import layers as attention_layers
from attention_zoo.zoo.seq2seq._transformer_decoder import TransformerDecoder

LUONG_READOUTS = ("attentional", "residual")


def _rnn_class(cell):
    return {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell]


def _cell_class(cell):
    return {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell}[cell]


def _embedding(vocab_size, dim, dtype, name):
    # Unit-variance embeddings, not Keras's U(-0.05, 0.05): with tiny inputs the recurrent
    # states start tiny too, and the Luong readout W_o tanh(W_c [c; s]) then sits on a
    # plateau (predicting only the token frequencies) for hundreds of steps.
    return keras.layers.Embedding(
        vocab_size,
        dim,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
        dtype=dtype,
        name=name,
    )


def uniform_context(memory, memory_mask):
    """The no-attention context: the masked mean of the memory, and its (uniform) weights."""
    weights = ops.cast(memory_mask, memory.dtype)
    weights = weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1.0)
    return ops.einsum("bt,btd->bd", weights, memory), weights


class Encoder(keras.layers.Layer):
    """Embedding, then a bidirectional GRU/LSTM (directions summed); bridges its final states.

    Returns the memory (B, Tv, units), its mask (B, Tv) and the decoder's initial
    state: one (B, units) tensor per state of the cell, tanh(W [forward; backward]).
    """

    def __init__(self, vocab_size, embedding_dim, units, cell, bridge=True, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.cell = cell
        self.embedding = _embedding(
            vocab_size, embedding_dim, self.dtype_policy, "source_embedding"
        )
        self.rnn = keras.layers.Bidirectional(
            _rnn_class(cell)(units, return_sequences=True, return_state=True),
            merge_mode="sum",
            dtype=self.dtype_policy,
            name=f"bi{cell}",
        )
        self.bridges = [
            keras.layers.Dense(
                units, activation="tanh", dtype=self.dtype_policy, name=f"bridge_{i}"
            )
            for i in range((2 if cell == "lstm" else 1) if bridge else 0)
        ]
        self.embedding_dim = embedding_dim

    def build(self, source_shape):
        self.embedding.build(source_shape)
        self.rnn.build((None, None, self.embedding_dim))
        for bridge in self.bridges:
            bridge.build((None, 2 * self.units))
        self.built = True

    def call(self, source_ids):
        mask = ops.not_equal(source_ids, 0)
        outputs = self.rnn(self.embedding(source_ids), mask=mask)
        memory, finals = outputs[0], outputs[1:]
        half = len(finals) // 2
        state = [
            bridge(ops.concatenate([finals[i], finals[half + i]], axis=-1))
            for i, bridge in enumerate(self.bridges)
        ]
        return memory, mask, state


class _RNNDecoderBase(keras.layers.Layer):
    """What the Bahdanau and Luong decoders share: embedding, cell, attention, output layer."""

    def __init__(
        self, vocab_size, embedding_dim, units, cell, attention, attention_kwargs, **kwargs
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.embedding = _embedding(
            vocab_size, embedding_dim, self.dtype_policy, "target_embedding"
        )
        self.cell = _cell_class(cell)(units, dtype=self.dtype_policy, name=f"{cell}_cell")
        self.attention = None
        if attention != "none":
            self.attention = attention_layers.get(
                attention, dtype=self.dtype_policy, name="attention", **attention_kwargs
            )
        self.output_layer = keras.layers.Dense(
            vocab_size, dtype=self.dtype_policy, name="output_logits"
        )

    def context(self, query, memory, memory_mask):
        """Context (B, Tq, units) and weights (B, Tq, Tv) for queries (B, Tq, units)."""
        if self.attention is None:
            context, weights = uniform_context(memory, memory_mask)
            steps = ops.shape(query)[1]
            context = ops.repeat(ops.expand_dims(context, 1), steps, axis=1)
            return context, ops.repeat(ops.expand_dims(weights, 1), steps, axis=1)
        context, weights = self.attention(
            query, memory, value_mask=memory_mask, return_attention_scores=True
        )
        if len(weights.shape) == 4:  # multi-head: average the heads for the alignment
            weights = ops.mean(weights, axis=1)
        return context, weights

    def start_state(self, encoder_state, memory):
        return list(encoder_state)

    def build_common(self, cell_input_dim, output_input_dim):
        self.embedding.build((None, None))
        self.cell.build((None, cell_input_dim))
        if self.attention is not None:
            self.attention.build((None, None, self.units), (None, None, self.units))
        self.output_layer.build((None, None, output_input_dim))


class BahdanauDecoder(_RNNDecoderBase):
    """Bahdanau et al. (2015): query = previous state s_(t-1); context fed into the cell.

    c_t = attention(s_(t-1), memory);  s_t = cell([E y_(t-1); c_t], s_(t-1))
    logits_t = W_o [s_t; c_t]
    """

    def build(self, *args, **kwargs):
        self.build_common(self.embedding_dim + self.units, 2 * self.units)
        self.built = True

    def _one_step(self, embedded, state, memory, memory_mask):
        context, weights = self.context(ops.expand_dims(state[0], 1), memory, memory_mask)
        context, weights = context[:, 0], weights[:, 0]
        output, new_state = self.cell(ops.concatenate([embedded, context], axis=-1), state)
        if not isinstance(new_state, (list, tuple)):
            new_state = [new_state]
        return output, list(new_state), context, weights

    def call(self, target_in, memory, memory_mask, state):
        embedded = ops.transpose(self.embedding(target_in), (1, 0, 2))  # time-major for scan
        batch, source_len = ops.shape(memory)[0], ops.shape(memory)[1]
        zeros_context = ops.zeros((batch, self.units), dtype=memory.dtype)
        zeros_weights = ops.zeros((batch, source_len), dtype=memory.dtype)

        # keras.ops.scan on TensorFlow needs the per-step outputs to match the carry.
        def body(carry, x_t):
            step_state = list(carry[0])
            output, new_state, context, weights = self._one_step(
                x_t, step_state, memory, memory_mask
            )
            out = (tuple(new_state), output, context, weights)
            return out, out

        init = (tuple(state), state[0], zeros_context, zeros_weights)
        _, (_, outputs, contexts, weights) = ops.scan(body, init, embedded)
        features = ops.concatenate([outputs, contexts], axis=-1)
        logits = self.output_layer(ops.transpose(features, (1, 0, 2)))
        return logits, ops.transpose(weights, (1, 0, 2))

    def step(self, token, state, memory, memory_mask):
        output, new_state, context, weights = self._one_step(
            self.embedding(token), state, memory, memory_mask
        )
        return self.output_layer(ops.concatenate([output, context], axis=-1)), new_state, weights


class LuongDecoder(_RNNDecoderBase):
    """Luong et al. (2015), global attention: query = current state s_t; then a readout.

        s_t = cell(E y_(t-1), s_(t-1));  c_t = attention(s_t, memory);  logits_t = W_o r_t

    with the readout r_t (`readout=`):

        "attentional": r_t = tanh(W_c [c_t; s_t])      (Luong's attentional state)
        "residual":    r_t = LayerNorm(s_t + c_t)      (TensorFlow's NMT tutorial)

    Without input feeding, so training runs the cell over the whole sequence
    and attends for all steps at once.
    """

    def __init__(self, *args, readout="attentional", **kwargs):
        super().__init__(*args, **kwargs)
        if readout not in LUONG_READOUTS:
            raise ValueError(
                f"readout must be one of {LUONG_READOUTS}. Received: readout={readout!r}"
            )
        self.readout = readout
        self.rnn = keras.layers.RNN(
            self.cell, return_sequences=True, dtype=self.dtype_policy, name="decoder_rnn"
        )
        # Only the readout's own layer is created, so that an "attentional" decoder has
        # exactly the weights (and .keras files) it had before `readout` existed.
        if readout == "attentional":
            self.combine = keras.layers.Dense(
                self.units,
                activation="tanh",
                use_bias=False,
                dtype=self.dtype_policy,
                name="combine",
            )
        else:
            self.readout_norm = keras.layers.LayerNormalization(
                dtype=self.dtype_policy, name="readout_norm"
            )

    def build(self, *args, **kwargs):
        self.build_common(self.embedding_dim, self.units)
        self.rnn.build((None, None, self.embedding_dim))
        if self.readout == "attentional":
            self.combine.build((None, None, 2 * self.units))
        else:
            self.readout_norm.build((None, None, self.units))
        self.built = True

    def _readout(self, states, memory, memory_mask):
        context, weights = self.context(states, memory, memory_mask)
        if self.readout == "attentional":
            features = self.combine(ops.concatenate([context, states], axis=-1))
        else:
            features = self.readout_norm(states + context)
        return self.output_layer(features), weights

    def call(self, target_in, memory, memory_mask, state):
        states = self.rnn(self.embedding(target_in), initial_state=list(state))
        return self._readout(states, memory, memory_mask)

    def step(self, token, state, memory, memory_mask):
        output, new_state = self.cell(self.embedding(token), state)
        if not isinstance(new_state, (list, tuple)):
            new_state = [new_state]
        logits, weights = self._readout(ops.expand_dims(output, 1), memory, memory_mask)
        return logits[:, 0], list(new_state), weights[:, 0]


def make_layers(
    kind,
    source_size,
    vocab_size,
    embedding_dim,
    units,
    cell,
    attention,
    attention_kwargs,
    readout=None,
    max_length=None,
    num_layers=1,
    num_heads=2,
):
    """The translator's encoder and its decoder `kind` ("bahdanau", "luong" or "transformer")."""
    # The transformer decoder does not start from the encoder's final state: no bridge.
    bridge = kind != "transformer"
    encoder = Encoder(source_size, embedding_dim, units, cell, bridge, name="encoder")
    return encoder, _make_decoder(
        kind,
        vocab_size,
        embedding_dim,
        units,
        cell,
        attention,
        attention_kwargs,
        readout,
        max_length,
        num_layers,
        num_heads,
    )


def _make_decoder(
    kind,
    vocab_size,
    embedding_dim,
    units,
    cell,
    attention,
    attention_kwargs,
    readout,
    max_length,
    num_layers,
    num_heads,
):
    if kind == "transformer":
        return TransformerDecoder(
            vocab_size,
            units,
            max_length,
            num_layers,
            num_heads,
            attention,
            attention_kwargs,
            name="decoder",
        )
    layer_kwargs = dict(attention_kwargs)
    if attention != "none":
        # What the variant needs inside a model of this size (heads for a multi-head score).
        heads = attention_kwargs.get("num_heads", num_heads)
        for key, value in (
            attention_layers.get_class(attention).defaults_in_model(units, heads).items()
        ):
            layer_kwargs.setdefault(key, value)
    args = (vocab_size, embedding_dim, units, cell, attention, layer_kwargs)
    if kind == "bahdanau":
        return BahdanauDecoder(*args, name="decoder")
    return LuongDecoder(*args, readout=readout, name="decoder")
