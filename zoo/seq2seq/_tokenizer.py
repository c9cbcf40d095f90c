"""Tokenization for the translator: text <-> token ids, in TensorFlow so a SavedModel can hold it.

TensorFlow (not `keras.ops`) is used here on purpose: string handling and
lookup tables exist only there, and the same code runs in Python and inside
the exported `translate` signature, so both tokenize identically. Outside the
SavedModel it runs eagerly on NumPy-able values, whatever the Keras backend.
"""

import collections

import numpy as np
import tensorflow as tf

PAD, UNK, START, END = 0, 1, 2, 3
RESERVED = ("", "[UNK]", "[START]", "[END]")
SPLITS = ("word", "char")
# Everything that is not a letter, a digit, white space, an apostrophe or a hyphen
# becomes a token of its own in word mode ("va !" -> ["va", "!"]).
_PUNCTUATION = r"([^\p{L}\p{N}\s'\-])"


def check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}. Received: split={split!r}")
    return split


def tokenize(texts, split, lowercase):
    """Maps a 1-D string tensor to a ragged (N, None) tensor of string tokens."""
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    if lowercase:
        texts = tf.strings.lower(texts, encoding="utf-8")
    if split == "char":
        return tf.strings.unicode_split(texts, "UTF-8")
    texts = tf.strings.regex_replace(texts, _PUNCTUATION, r" \1 ")
    return tf.strings.split(texts)


def build_vocabulary(texts, split, lowercase, max_tokens=None, min_count=1):
    """The tokens of `texts`, most frequent first (ties: first seen), reserved ones excluded."""
    counts = collections.Counter()
    for row in tokenize(list(texts), split, lowercase).to_list():
        counts.update(t.decode("utf-8") for t in row)
    tokens = [t for t, c in counts.most_common() if c >= min_count and t not in RESERVED]
    if max_tokens is not None:
        tokens = tokens[: max(0, max_tokens - len(RESERVED))]
    return tokens


def teacher_forcing(target_ids, max_target_length):
    """Target ids (N, T), 0-padded -> `(target_in, target_out)`, both (N, T' + 1) int32.

    `target_in` = [START] + target, `target_out` = target + [END], the targets
    cut first to T' = `max_target_length - 1` tokens.
    """
    target_ids = np.asarray(target_ids)[:, : max_target_length - 1]
    lengths = (target_ids != PAD).sum(axis=1)
    n, width = len(target_ids), target_ids.shape[1] + 1
    target_in = np.zeros((n, width), "int32")
    target_out = np.zeros((n, width), "int32")
    target_in[:, 0] = START
    target_in[:, 1:] = target_ids
    target_out[:, :-1] = target_ids
    target_out[np.arange(n), lengths] = END
    return target_in, target_out


class TextCodec(tf.Module):
    """Owns the lookup table of one vocabulary: encodes texts to ids, decodes ids to texts."""

    def __init__(self, vocabulary, split, lowercase):
        super().__init__()
        self.split = check_split(split)
        self.lowercase = bool(lowercase)
        tokens = list(RESERVED) + list(vocabulary)
        self.tokens = tf.constant(tokens)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(self.tokens, tf.range(len(tokens), dtype=tf.int32)),
            default_value=UNK,
        )

    def encode(self, texts):
        """Dense (N, T) int32 ids, 0-padded; T = longest text (at least 1)."""
        tokens = tokenize(texts, self.split, self.lowercase)
        ids = tf.ragged.map_flat_values(self.table.lookup, tokens)
        dense = ids.to_tensor(default_value=PAD)
        return tf.pad(dense, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(dense)[1])]])

    def decode(self, ids):
        """(N, T) ids -> N strings: the tokens before the first [END], pads dropped, joined."""
        ids = tf.convert_to_tensor(ids, dtype=tf.int32)
        before_end = tf.math.cumsum(tf.cast(tf.equal(ids, END), tf.int32), axis=1) == 0
        keep = before_end & (ids != PAD)
        tokens = tf.ragged.boolean_mask(tf.gather(self.tokens, ids), keep)
        separator = "" if self.split == "char" else " "
        return tf.strings.reduce_join(tokens, axis=1, separator=separator)

    def tokens_of(self, text):
        """The list of string tokens of one text, as the model sees them."""
        row = tokenize([text], self.split, self.lowercase)[0].numpy()
        return [t.decode("utf-8") for t in row]

    def id_tokens(self, ids):
        """Token strings of a 1-D sequence of ids."""
        table = self.tokens.numpy()
        return [table[i].decode("utf-8") for i in np.asarray(ids)]
