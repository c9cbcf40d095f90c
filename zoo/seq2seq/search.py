"""Decoding strategies of the translator: greedy search and beam search, in `keras.ops`.

Both take a `Translator` (its `encoder` and `decoder` layers) and source ids
(B, Tv), and return the output ids (B, L) and the attention weights (B, L, Tv)
of the chosen hypotheses. `compiled_search` wraps one of them for repeated use:
one `tf.function` on TensorFlow (which the SavedModel export traces), `jax.jit`
on JAX, plain eager code elsewhere.
"""

import keras
import numpy as np

from attention_zoo._validation import check_positive_int
from attention_zoo.zoo.seq2seq import _tokenizer as _text


def check_search_args(translator, beam_width, length_penalty, max_length):
    """Checks the search arguments; returns `(beam_width, length_penalty, max_length)`.

    `max_length` defaults to the translator's `max_target_length`; a
    `length_penalty` of None becomes 0.0 for beams wider than one.
    """
    check_positive_int("beam_width", beam_width)
    max_length = translator.max_target_length if max_length is None else max_length
    check_positive_int("max_length", max_length)
    if translator.decoder_type == "transformer" and max_length > translator.max_target_length:
        raise ValueError(
            "max_length can not exceed max_target_length with the transformer decoder "
            f"(its position table). Received: max_length={max_length}, "
            f"max_target_length={translator.max_target_length}"
        )
    if length_penalty is not None:
        if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)):
            raise ValueError(
                f"length_penalty must be a number. Received: length_penalty={length_penalty!r}"
            )
        length_penalty = float(length_penalty)
    elif beam_width > 1:
        length_penalty = 0.0
    return beam_width, length_penalty, max_length


def compiled_search(translator, beam_width, length_penalty, max_length):
    """A function source ids (B, Tv) -> (tokens (B, L), weights (B, L, Tv)), compiled once.

    Greedy search when `beam_width == 1` and `length_penalty is None`, beam
    search otherwise. The weights are read at call time, so later training counts.
    """

    def run(source_ids):
        if beam_width == 1 and length_penalty is None:
            return greedy_search(translator, source_ids, max_length)
        return beam_search(translator, source_ids, max_length, beam_width, length_penalty or 0.0)

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(run, reduce_retracing=True)
    if keras.backend.backend() == "jax":
        return _jax_jit(translator, run)
    return run


def _jax_jit(translator, run):
    """`run` compiled by `jax.jit`, the weights passed in (so later training is seen)."""
    import jax

    variables = list(translator.variables)

    def stateless(values, source_ids):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return run(source_ids)

    compiled = jax.jit(stateless)
    return lambda source_ids: compiled([v.value for v in variables], source_ids)


def _start(translator, source_ids):
    memory, memory_mask, state = translator.encoder(source_ids)
    return memory, memory_mask, translator.decoder.start_state(state, memory)


def _never_emitted(vocab):
    # Padding and [START] are never produced; a search ends a sequence with [END].
    ids = np.arange(vocab)
    return np.where((ids == _text.PAD) | (ids == _text.START), -1e9, 0.0).astype("float32")


def greedy_search(translator, source_ids, max_length):
    """The most likely token at each step, `max_length` steps; padding after [END]."""
    ops = keras.ops
    memory, memory_mask, state = _start(translator, source_ids)
    batch = ops.shape(source_ids)[0]
    never = _never_emitted(translator.target_vocabulary_size)
    token = ops.full((batch,), _text.START, dtype="int32")
    finished = ops.zeros((batch,), dtype="bool")
    tokens, weights = [], []
    for _ in range(max_length):
        logits, state, step_weights = translator.decoder.step(token, state, memory, memory_mask)
        token = ops.cast(ops.argmax(logits + never, axis=-1), "int32")
        token = ops.where(finished, ops.zeros_like(token), token)
        finished = ops.logical_or(finished, ops.equal(token, _text.END))
        tokens.append(token)
        weights.append(step_weights)
    return ops.stack(tokens, axis=1), ops.stack(weights, axis=1)


class _Beams:
    """The `width` hypotheses of each example, flattened to (B * width, ...) rows."""

    def __init__(self, batch, width):
        self.batch, self.width = batch, width
        self.offsets = keras.ops.expand_dims(keras.ops.arange(batch, dtype="int32") * width, 1)

    def tile(self, t):  # (B, ...) -> (B * width, ...), the beams of an example adjacent
        return keras.ops.repeat(t, self.width, axis=0)

    def take(self, t, flat_index):  # t (B, width, ...) at rows b * width + w
        rest = keras.ops.shape(t)[2:]  # (batch * width), not -1: history starts empty
        return keras.ops.take(
            keras.ops.reshape(t, (self.batch * self.width, *rest)), flat_index, axis=0
        )


def beam_search(translator, source_ids, max_length, width, alpha):
    """Beam search of `width` hypotheses; the final choice divides by the GNMT length penalty.

    The penalty is ((5 + |y|) / 6)^alpha (Wu et al., 2016); alpha = 0 is none.
    """
    ops = keras.ops
    memory, memory_mask, state = _start(translator, source_ids)
    batch, source_len = ops.shape(source_ids)[0], ops.shape(memory)[1]
    vocab = translator.target_vocabulary_size
    beams = _Beams(batch, width)
    memory, memory_mask = beams.tile(memory), beams.tile(memory_mask)
    state = [beams.tile(s) for s in state]
    first = np.array([0.0] + [-np.inf] * (width - 1), "float32")
    scores = ops.zeros((batch, width)) + first[None]  # only beam 0 is alive at the start
    finished = ops.zeros((batch, width), dtype="bool")
    lengths = ops.zeros((batch, width))
    history = ops.zeros((batch, width, 0), dtype="int32")
    alignment = ops.zeros((batch, width, 0, source_len), dtype=memory.dtype)
    token = ops.full((batch * width,), _text.START, dtype="int32")
    pad_only = np.where(np.arange(vocab) == _text.PAD, 0.0, -np.inf).astype("float32")
    never = _never_emitted(vocab)
    for _ in range(max_length):
        logits, state, step_weights = translator.decoder.step(token, state, memory, memory_mask)
        log_probs = ops.reshape(ops.log_softmax(logits + never, axis=-1), (batch, width, vocab))
        # A finished beam continues with padding only, at no cost.
        log_probs = ops.where(ops.expand_dims(finished, -1), pad_only, log_probs)
        total = ops.reshape(ops.expand_dims(scores, -1) + log_probs, (batch, width * vocab))
        scores, best = ops.top_k(total, k=width)
        best = ops.cast(best, "int32")
        token_2d = best % vocab
        flat_parent = best // vocab + beams.offsets
        step_weights = ops.reshape(step_weights, (batch, width, 1, source_len))
        history = ops.concatenate(
            [beams.take(history, flat_parent), ops.expand_dims(token_2d, -1)], axis=-1
        )
        alignment = ops.concatenate(
            [beams.take(alignment, flat_parent), beams.take(step_weights, flat_parent)], axis=2
        )
        was_finished = beams.take(finished, flat_parent)
        alive = ops.cast(ops.logical_not(was_finished), "float32")
        lengths = beams.take(lengths, flat_parent) + alive
        finished = ops.logical_or(was_finished, ops.equal(token_2d, _text.END))
        state = [ops.take(s, ops.reshape(flat_parent, (-1,)), axis=0) for s in state]
        token = ops.reshape(token_2d, (-1,))
    # GNMT length penalty, applied to the final hypotheses.
    penalty = ops.power((5.0 + lengths) / 6.0, alpha)
    chosen = ops.cast(ops.argmax(scores / penalty, axis=1), "int32") + beams.offsets[:, 0]
    return beams.take(history, chosen), beams.take(alignment, chosen)
