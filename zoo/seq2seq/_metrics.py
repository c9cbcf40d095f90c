"""The translator's metric: token accuracy that ignores padding."""

import keras

from attention_zoo.layers import serializable
from attention_zoo.zoo.seq2seq import _tokenizer as _text


@serializable
def masked_accuracy(y_true, y_pred):
    """Token accuracy over the non-padding (id != 0) target positions of the batch."""
    y_true = keras.ops.cast(y_true, "int32")
    valid = keras.ops.not_equal(y_true, _text.PAD)
    hit = keras.ops.equal(keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32"), y_true)
    hits = keras.ops.sum(keras.ops.cast(keras.ops.logical_and(hit, valid), "float32"))
    return hits / keras.ops.maximum(keras.ops.sum(keras.ops.cast(valid, "float32")), 1.0)
