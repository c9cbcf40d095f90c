"""The MR benchmark's models and data: the zoo's text classifier, a baseline built from
Keras layers alone, and the protocol's fixed split."""

import os

import keras
import numpy as np

from attention_zoo import zoo
from attention_zoo.zoo import text_data

BASELINES = ("keras_transformer",)
CLASS_FILES = {"negative": "rt-polarity.neg", "positive": "rt-polarity.pos"}
TEST_FRACTION = VALIDATION_FRACTION = 0.1


def load_split(data_dir, encoding="latin-1"):
    """MR's fixed split: `{"train" | "validation" | "test": (texts, labels)}`.

    The negative then the positive sentences (labels 0 and 1) are shuffled with
    `np.random.default_rng(0)`; the last 10 % (1,066 of 10,662) are the test
    set, as the data README says. The last 10 % of the rest (960) are the
    validation set: the shuffle has placed them at random, with the same seed.
    """
    files = {name: os.path.join(data_dir, file) for name, file in CLASS_FILES.items()}
    texts, labels, _ = text_data.load_class_files(files, encoding=encoding)
    order = np.random.default_rng(0).permutation(len(texts))
    texts, labels = [texts[i] for i in order], labels[order]
    n_test = round(TEST_FRACTION * len(texts))
    n_val = round(VALIDATION_FRACTION * (len(texts) - n_test))
    cut_val, cut_test = len(texts) - n_test - n_val, len(texts) - n_test
    return {
        "train": (texts[:cut_val], labels[:cut_val]),
        "validation": (texts[cut_val:cut_test], labels[cut_val:cut_test]),
        "test": (texts[cut_test:], labels[cut_test:]),
    }


def vectorize(split, vocab_size, sequence_length):
    """Token ids of every part, with a vocabulary of the training part (train + validation).

    The text classifier's own `adapt` makes it (lower-cased, punctuation
    stripped, at most `vocab_size` ids with padding and out-of-vocabulary).
    Returns `(ids_split, number of ids)`.
    """
    probe = zoo.create_model(
        "text_classifier", vocab_size=vocab_size, sequence_length=sequence_length
    )
    probe.adapt(split["train"][0] + split["validation"][0])
    ids = {part: (probe.vectorize(texts), labels) for part, (texts, labels) in split.items()}
    return ids, len(probe.get_vocabulary())


def build_model(name, vocab_size, settings):
    """`"encoder/pooling"` (the zoo's `TextClassifier`) or a name of `BASELINES`, compiled."""
    if name in BASELINES:
        return keras_transformer(vocab_size, settings)
    encoder, pooling = name.split("/")
    return zoo.create_model(
        "text_classifier",
        vocab_size=vocab_size,
        sequence_length=settings["sequence_length"],
        embed_dim=settings["embed_dim"],
        encoder=encoder,
        attention=pooling,
        num_heads=settings["num_heads"],
        dropout=settings["dropout"],
        learning_rate=settings["learning_rate"],
    )


class _TokenAndPosition(keras.layers.Layer):
    """Token embedding plus a learned position embedding, as in the keras.io example."""

    def __init__(self, vocab_size, sequence_length, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.tokens = keras.layers.Embedding(vocab_size, embed_dim, name="tokens")
        self.positions = keras.layers.Embedding(sequence_length, embed_dim, name="positions")

    def call(self, ids):
        length = keras.ops.shape(ids)[-1]
        return self.tokens(ids) + self.positions(keras.ops.arange(length))


def keras_transformer(vocab_size, settings):
    """The keras.io "Text classification with Transformer" model, from Keras layers alone.

    With that example's sizes (embeddings of 32, 2 heads of key size 32, a
    feed-forward of 32 units, dropout 0.1): one post-norm transformer block
    (`keras.layers.MultiHeadAttention`), the mean over all positions
    (`GlobalAveragePooling1D`, padding included, as in the example), dropout,
    `Dense(20, relu)`, dropout and the softmax. Only the sequence length,
    vocabulary, learning rate and the training protocol are the zoo models'.
    """
    dim, heads, ffn_units, rate = 32, 2, 32, 0.1
    layers = keras.layers
    ids = keras.Input((settings["sequence_length"],), dtype="int32")
    x = _TokenAndPosition(vocab_size, settings["sequence_length"], dim)(ids)
    attended = layers.MultiHeadAttention(heads, key_dim=dim)(x, x)
    x = layers.LayerNormalization(epsilon=1e-6)(x + layers.Dropout(rate)(attended))
    ffn = layers.Dense(dim)(layers.Dense(ffn_units, activation="relu")(x))
    x = layers.LayerNormalization(epsilon=1e-6)(x + layers.Dropout(rate)(ffn))
    x = layers.Dropout(rate)(layers.GlobalAveragePooling1D()(x))
    x = layers.Dropout(rate)(layers.Dense(20, activation="relu")(x))
    model = keras.Model(ids, layers.Dense(2, activation="softmax")(x))
    model.compile(
        optimizer=keras.optimizers.Adam(settings["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
