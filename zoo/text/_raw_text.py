"""The text classifier's raw-text side: its `TextVectorization`, and the string-in export.

TensorFlow is used here on purpose: the Keras `TextVectorization` layer runs on
`tf.strings`, and the exported `serve` signature takes a string tensor.
"""

import types

import keras
import numpy as np


class RawTextMixin:
    """For a `keras.Model` over token ids with `vocab_size`, `sequence_length` and `_text`.

    `_text.vectorizer` holds the vectorizer (None before `adapt`), out of
    Keras' tracking: its vocabulary lives in the model's config.
    """

    def _init_vectorizer(self, vocabulary):
        # The vectorizer is kept out of Keras' state tracking: its vocabulary lives in the
        # config, so a `.keras` file restores it, and an unadapted one is never saved.
        self._text = types.SimpleNamespace(vectorizer=None)
        if vocabulary is not None:
            self._text.vectorizer = self._make_vectorizer(vocabulary=list(vocabulary))

    def _make_vectorizer(self, vocabulary=None):
        # TextVectorization runs on TensorFlow (tf.strings) whatever the Keras backend.
        vectorizer = keras.layers.TextVectorization(
            max_tokens=self.vocab_size,
            output_mode="int",
            output_sequence_length=self.sequence_length,
            vocabulary=vocabulary,
            name="vectorizer",
        )
        if vocabulary is not None:
            # Its table is complete once the vocabulary is set; marking it built lets a
            # model fresh from a `.keras` file export before it has seen any text.
            vectorizer.build()
        return vectorizer

    def adapt(self, texts):
        """Builds the vocabulary (at most `vocab_size` ids) from an iterable of strings."""
        texts = as_text_list(texts)
        vectorizer = self._make_vectorizer()
        vectorizer.adapt(np.asarray(texts, dtype=object))
        # Keep the vocabulary as plain words (without "" and "[UNK]") so get_config can hold it.
        self._text.vectorizer = self._make_vectorizer(
            vocabulary=[str(w) for w in vectorizer.get_vocabulary()[2:]]
        )
        return self

    @property
    def vectorizer(self):
        """The adapted `keras.layers.TextVectorization`, or None before `adapt`."""
        return self._text.vectorizer

    def _require_vectorizer(self):
        if self.vectorizer is None:
            raise ValueError(
                "This model has no text vectorizer: call model.adapt(texts) or pass "
                "vocabulary=[...] first. Received: vocabulary=None"
            )
        return self.vectorizer

    def vectorize(self, texts):
        """Token ids (B, sequence_length) of a string or a list of strings."""
        vectorizer = self._require_vectorizer()
        ids = vectorizer(np.asarray(as_text_list(texts), dtype=object))
        return np.asarray(keras.ops.convert_to_numpy(ids), dtype="int32")

    def get_vocabulary(self):
        """The id -> token list of the vectorizer (id 0 = "", id 1 = "[UNK]")."""
        return [str(word) for word in self._require_vectorizer().get_vocabulary()]

    def predict_texts(self, texts, batch_size=64):
        """Class probabilities (B, num_classes) of raw strings."""
        return self.predict(self.vectorize(texts), batch_size=batch_size, verbose=0)

    def export(
        self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs
    ):
        """Exports for inference; with a vectorizer, the SavedModel takes raw strings.

        Without a vectorizer (or with `input_signature` or another `format`)
        this is `keras.Model.export`: `serve(ids)` gives the probabilities.
        With one, the SavedModel has `serve(texts)` (a string tensor (B,),
        also the `serving_default` signature) and `serve_ids(ids)`, both
        returning the probabilities (B, num_classes). Loaded with
        `tf.saved_model.load`, it needs neither this package nor Keras (keep
        the loaded object in a variable while serving: it owns the variables).

        Raises:
            RuntimeError: for the string export on a backend other than
                TensorFlow, before any work.
        """
        strings = (
            self.vectorizer is not None and format == "tf_saved_model" and input_signature is None
        )
        if strings and keras.backend.backend() != "tensorflow":
            raise RuntimeError(
                "TextClassifier.export with a vocabulary writes a SavedModel that takes raw "
                "strings, which needs the TensorFlow backend: run with "
                "KERAS_BACKEND=tensorflow. "
                f"Received: backend={keras.backend.backend()!r}"
            )
        # Keras exports only a model that has been called; one fresh from a `.keras`
        # file has not. A padding-only batch of the model's own length is enough.
        self(np.zeros((1, self.sequence_length), "int32"), training=False)
        if not strings:
            return super().export(
                filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs
            )
        # The string signature needs TensorFlow: tf.string specs in a SavedModel.
        import tensorflow as tf

        vectorizer = self.vectorizer
        archive = keras.export.ExportArchive()
        archive.track(self)
        archive.track(vectorizer)
        archive.add_endpoint(
            "serve",
            lambda texts: self(vectorizer(texts), training=False),
            input_signature=[tf.TensorSpec((None,), tf.string, name="texts")],
        )
        archive.add_endpoint(
            "serve_ids",
            lambda ids: self(ids, training=False),
            input_signature=[tf.TensorSpec((None, self.sequence_length), tf.int32, name="ids")],
        )
        archive.write_out(filepath, verbose=bool(verbose))
        return None

    def _ids(self, inputs):
        if isinstance(inputs, str) or (
            isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str)
        ):
            inputs = self.vectorize(inputs)
        ids = np.asarray(inputs)
        if ids.ndim == 1:
            ids = ids[None]
        if not self.built:
            self.build(ids.shape)
        return ids.astype("int32")

    def tokens(self, inputs):
        """The tokens of each input, padding removed: a list of lists of strings.

        With a vectorizer they are its words (`"[UNK]"` for unknown ones);
        without one, the ids as strings.
        """
        ids = self._ids(inputs)
        vocab = self.get_vocabulary() if self.vectorizer is not None else None
        return [
            [vocab[i] if vocab is not None and i < len(vocab) else str(i) for i in row if i != 0]
            for row in ids.tolist()
        ]


def check_class_names(class_names, num_classes):
    if class_names is None:
        return None
    if isinstance(class_names, str) or not isinstance(class_names, (list, tuple)):
        raise ValueError(
            f"class_names must be a list of strings. Received: class_names={class_names!r}"
        )
    names = list(class_names)
    if len(names) != num_classes or not all(isinstance(n, str) for n in names):
        raise ValueError(
            f"class_names must be {num_classes} strings (num_classes={num_classes}). "
            f"Received: class_names={class_names!r}"
        )
    return names


def as_text_list(texts):
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    texts = [t.decode("utf-8") if isinstance(t, bytes) else t for t in texts]
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts must be strings. Received: texts[{i}]={text!r}")
    return texts
