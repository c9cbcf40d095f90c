"""The attention text classifier: token ids -> embedding -> encoder -> attention pooling -> classes.

TensorFlow is used here (and only here in the model) for raw strings: the Keras
`TextVectorization` layer and the string-in SavedModel signature of `export()`.
"""

import types

import keras
import numpy as np
from keras import ops

from attention_zoo import layers
from attention_zoo._validation import check_positive_int, check_rate
from attention_zoo.zoo import _input_checks, text_data
from attention_zoo.zoo._registry import register_model

ENCODERS = ("none", "bigru", "transformer")


@register_model("text_classifier")
class TextClassifier(_input_checks.CheckedInputs, keras.Model):
    """Text classifier with any attention variant of the registry as its pooling.

    Formula (ids x_1..x_T, 0 = padding; m_t = [x_t != 0]):

        e_t = E[x_t] + P[t]                         token embedding + learned position
        h   = encoder(e, m)                         none | BiGRU | transformer block
        a_t = softmax_t(score(u, h_t)) over m_t     `AttentionPooling(score=attention)`
        p   = softmax(W Σ_t a_t h_t + b)            class probabilities

    With `attention="none"` the pooling is the masked mean Σ_t m_t h_t / Σ_t m_t
    (the baseline). The transformer block is post-norm (Vaswani et al., 2017):
    h = LN(e + MHA(e, e)), h = LN(h + FFN(h)), with our `MultiHeadAttention`.
    Padding never changes a prediction: every layer gets the mask m.

    Raw text: `adapt(texts)` fits a Keras `TextVectorization` (lower-case,
    punctuation stripped, split on whitespace, at most `vocab_size` ids, padded
    or cut to `sequence_length`); then `vectorize(texts)` gives the ids,
    `predict_texts(texts)` the probabilities, and `export(path)` writes a
    SavedModel whose `serve` signature takes raw strings.

    Args:
        vocab_size: Number of token ids (0 = padding, 1 = out of vocabulary
            once adapted).
        num_classes: Number of classes, at least 2.
        sequence_length: Maximum number of tokens (size of the position table).
        embed_dim: Feature size D of the embeddings.
        encoder: `"none"`, `"bigru"` or `"transformer"`.
        attention: Registry name of the pooling score (see
            `attention_zoo.layers.available()`), or `"none"` for masked mean
            pooling.
        attention_kwargs: Dict of extra arguments of the score, e.g.
            `{"units": 16}` for `"additive"`; `"multi_head"` defaults to
            `num_heads` heads.
        num_heads: Heads of the transformer block (and of a multi-head pooling).
        encoder_units: GRU units per direction, or the transformer's
            feed-forward size; default `embed_dim`, resp. `2 * embed_dim`.
        dropout: Dropout rate after the embedding, in the encoder and before
            the head, in [0, 1).
        vocabulary: Optional list of words (without the padding and OOV
            tokens) for the text vectorizer; `adapt(texts)` sets it.
        class_names: Optional list of `num_classes` label strings, in
            class-id order (saved in the config; pictures name the
            prediction with them).
        learning_rate: Adam learning rate of the default compilation.
        **kwargs: Standard `keras.Model` arguments (`name`, ...).

    Call arguments:
        inputs: int token ids (B, T), T <= `sequence_length`, 0 = padding.
        training: Python bool, enables dropout.

    Returns:
        Class probabilities (B, num_classes).

    Example:

    >>> from attention_zoo import zoo
    >>> model = zoo.create_model("text_classifier", encoder="bigru", attention="additive")
    >>> x, y = model.example_batch(batch_size=4)
    >>> tuple(model.predict(x, verbose=0).shape)
    (4, 2)

    References:
        Yang et al. (2016). Hierarchical Attention Networks for Document
        Classification. Vaswani et al. (2017). Attention Is All You Need.
    """

    def __init__(
        self,
        vocab_size=100,
        num_classes=2,
        sequence_length=48,
        embed_dim=16,
        encoder="bigru",
        attention="additive",
        attention_kwargs=None,
        num_heads=2,
        encoder_units=None,
        dropout=0.0,
        vocabulary=None,
        class_names=None,
        learning_rate=3e-3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.num_classes = check_positive_int("num_classes", num_classes)
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2. Received: num_classes={num_classes}")
        self.sequence_length = check_positive_int("sequence_length", sequence_length)
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}. Received: encoder={encoder!r}")
        self.encoder = encoder
        self.attention = "none" if attention == "none" else layers.canonical_name(attention)
        self.attention_kwargs = dict(attention_kwargs or {})
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.encoder_units = check_positive_int("encoder_units", encoder_units, allow_none=True)
        self.dropout = check_rate("dropout", dropout)
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
            raise ValueError(f"learning_rate must be a number. Received: {learning_rate=}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be positive. Received: {learning_rate=}")
        self.learning_rate = float(learning_rate)
        self.class_names = _check_class_names(class_names, self.num_classes)

        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(
            self.vocab_size, self.embed_dim, mask_zero=True, dtype=policy, name="embedding"
        )
        self.embedding_dropout = keras.layers.Dropout(self.dropout, name="embedding_dropout")
        dim = self.embed_dim
        if encoder == "bigru":
            units = self.encoder_units or self.embed_dim
            self.rnn = keras.layers.Bidirectional(
                keras.layers.GRU(units, return_sequences=True, dropout=self.dropout),
                dtype=policy,
                name="bigru",
            )
            dim = 2 * units
        elif encoder == "transformer":
            if self.embed_dim % self.num_heads:
                raise ValueError(
                    "num_heads must divide embed_dim for the transformer encoder. Received: "
                    f"num_heads={self.num_heads}, embed_dim={self.embed_dim}"
                )
            self.self_attention = layers.MultiHeadAttention(
                num_heads=self.num_heads, dropout=self.dropout, dtype=policy, name="self_attention"
            )
            self.attention_norm = keras.layers.LayerNormalization(dtype=policy, name="attn_norm")
            self.ffn_in = keras.layers.Dense(
                self.encoder_units or 2 * self.embed_dim,
                activation="relu",
                dtype=policy,
                name="ffn_in",
            )
            self.ffn_out = keras.layers.Dense(self.embed_dim, dtype=policy, name="ffn_out")
            self.ffn_norm = keras.layers.LayerNormalization(dtype=policy, name="ffn_norm")
            self.encoder_dropout = keras.layers.Dropout(self.dropout, name="encoder_dropout")
        self.feature_dim = dim
        if self.attention != "none":
            score_kwargs = dict(self.attention_kwargs)
            if self.attention == "multi_head":
                score_kwargs.setdefault("num_heads", self.num_heads)
            self.pooling = layers.AttentionPooling(
                score=self.attention,
                score_kwargs=score_kwargs,
                dropout=0.0,
                dtype=policy,
                name="pooling",
            )
        self.head_dropout = keras.layers.Dropout(self.dropout, name="head_dropout")
        self.head = keras.layers.Dense(
            self.num_classes, activation="softmax", dtype=policy, name="head"
        )

        # The vectorizer is kept out of Keras' state tracking: its vocabulary lives in the
        # config, so a `.keras` file restores it, and an unadapted one is never saved.
        self._text = types.SimpleNamespace(vectorizer=None)
        if vocabulary is not None:
            self._text.vectorizer = self._make_vectorizer(vocabulary=list(vocabulary))

        self.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )

    # ----------------------------------------------------------------- build
    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"inputs must be token ids of rank 2 (B, T). Received: inputs.shape={input_shape}"
            )
        length = input_shape[1]
        if length is not None and length > self.sequence_length:
            raise ValueError(
                f"inputs must have at most sequence_length={self.sequence_length} tokens. "
                f"Received: inputs.shape={tuple(input_shape)}"
            )
        batch = input_shape[0]
        self.embedding.build(input_shape)
        self.positions = self.add_weight(
            name="positions",
            shape=(self.sequence_length, self.embed_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )
        seq_shape = (batch, length, self.embed_dim)
        if self.encoder == "bigru":
            self.rnn.build(seq_shape)
        elif self.encoder == "transformer":
            self.self_attention.build(seq_shape, seq_shape)
            self.attention_norm.build(seq_shape)
            self.ffn_in.build(seq_shape)
            self.ffn_out.build((batch, length, self.ffn_in.units))
            self.ffn_norm.build(seq_shape)
        if self.attention != "none":
            self.pooling.build((batch, length, self.feature_dim))
        self.head.build((batch, self.feature_dim))
        self.built = True

    # ------------------------------------------------------------------ call
    def _forward(self, ids, training=None):
        """Returns probabilities, pooling weights (B, T) or (B, H, T), self-attention maps."""
        ids = ops.cast(ids, "int32")
        mask = ops.not_equal(ids, 0)
        length = ops.shape(ids)[1]
        x = self.embedding(ids) + ops.cast(self.positions[:length], self.compute_dtype)
        x = self.embedding_dropout(x, training=training)
        maps = None
        if self.encoder == "bigru":
            x = self.rnn(x, mask=mask, training=training)
        elif self.encoder == "transformer":
            attended, maps = self.self_attention(
                x,
                x,
                query_mask=mask,
                value_mask=mask,
                return_attention_scores=True,
                training=training,
            )
            x = self.attention_norm(x + self.encoder_dropout(attended, training=training))
            ffn = self.ffn_out(self.ffn_in(x))
            x = self.ffn_norm(x + self.encoder_dropout(ffn, training=training))
        if self.attention == "none":
            weights = ops.cast(mask, x.dtype)
            weights = weights / ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)
            pooled = ops.einsum("bt,btd->bd", weights, x)
        else:
            pooled, weights = self.pooling(
                x, mask=mask, return_attention_scores=True, training=training
            )
        pooled = self.head_dropout(pooled, training=training)
        return self.head(pooled), weights, maps

    def __call__(self, *args, **kwargs):
        # Checked here, not in `call`, so that the error is ours alone, not wrapped by Keras.
        if args:
            self._check_ids("inputs", args[0])
        return super().__call__(*args, **kwargs)

    def call(self, inputs, training=None):
        self._check_length("inputs", inputs)  # a symbolic input has its length already
        return self._forward(inputs, training=training)[0]

    # ------------------------------------------------------------ bad input
    def _check_length(self, name, ids):
        shape = tuple(getattr(ids, "shape", ()))
        if len(shape) == 2 and shape[1] is not None and shape[1] > self.sequence_length:
            # The position table has sequence_length rows.
            raise ValueError(
                f"{name} must have at most sequence_length={self.sequence_length} tokens. "
                f"Received: {name}.shape={shape}"
            )

    def _check_ids(self, name, ids):
        self._check_length(name, ids)
        return _input_checks.check_token_ids(name, ids, self.vocab_size)

    def _check_data(self, x, y, x_name="x", y_name="y", allow_empty=False):
        """Checks concrete ids `x` and labels `y` (`fit`, `evaluate`, `predict`); returns the ids.

        Token ids must lie in [0, vocab_size) with at most `sequence_length`
        per row, labels in [0, num_classes) (whole numbers; a float label
        such as 0.5 is refused).
        """
        ids = self._check_ids(x_name, x)
        if ids is not None and not allow_empty:
            _input_checks.check_not_empty(x_name, ids)
        batch = None if ids is None else ids.shape[0]
        _input_checks.check_class_ids(y_name, y, self.num_classes, batch)
        return ids

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`, after the checks of `fit`; empty ids give (0, num_classes)."""
        ids = self._check_data(x, None, allow_empty=True)
        if ids is not None and ids.shape[0] == 0:
            return np.zeros((0, self.num_classes), self.compute_dtype)
        return super().predict(x, *args, **kwargs)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    # ------------------------------------------------------------- raw text
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
        texts = _as_text_list(texts)
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
        ids = vectorizer(np.asarray(_as_text_list(texts), dtype=object))
        return np.asarray(keras.ops.convert_to_numpy(ids), dtype="int32")

    def get_vocabulary(self):
        """The id -> token list of the vectorizer (id 0 = "", id 1 = "[UNK]")."""
        return [str(word) for word in self._require_vectorizer().get_vocabulary()]

    def predict_texts(self, texts, batch_size=64):
        """Class probabilities (B, num_classes) of raw strings."""
        return self.predict(self.vectorize(texts), batch_size=batch_size, verbose=0)

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

    # ------------------------------------------------------- interpretation
    def token_attention(self, inputs):
        """Attention weight of each token: (B, T), summing to 1 over the non-padded tokens.

        `inputs` are strings (with an adapted vectorizer) or token ids (B, T).
        A multi-head pooling gives the mean over its heads; `attention="none"`
        gives the uniform weights of the mean.
        """
        _, weights, _ = self._forward(self._ids(inputs), training=False)
        weights = np.asarray(keras.ops.convert_to_numpy(weights), dtype="float32")
        return weights.mean(axis=1) if weights.ndim == 3 else weights

    def self_attention_maps(self, inputs):
        """Token x token weights of the transformer encoder per head: (B, H, T, T).

        Row i holds what token i attends to; padded rows and columns are zero.
        """
        if self.encoder != "transformer":
            raise ValueError(
                "self_attention_maps needs the transformer encoder. "
                f"Received: encoder={self.encoder!r}"
            )
        _, _, maps = self._forward(self._ids(inputs), training=False)
        return np.asarray(keras.ops.convert_to_numpy(maps), dtype="float32")

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

    def plot_attention(self, text, path=None, class_names=None):
        """Bar plot of the pooling weights over the words of one text; see `text_plots`."""
        from attention_zoo.zoo import text_plots

        tokens = self.tokens(text)[0]
        weights = self.token_attention(text)[0][: len(tokens)]
        probs = self.predict(self._ids(text), verbose=0)[0]
        names = class_names or self.class_names or [str(i) for i in range(self.num_classes)]
        pooling = f"{self.attention} attention"
        if self.attention == "none":
            pooling = "mean pooling (no attention)"
        title = f"{pooling}, prediction: {names[int(np.argmax(probs))]}"
        title += f" ({probs.max():.2f})"
        return text_plots.plot_token_attention(tokens, weights, path=path, title=title)

    def plot_self_attention(self, text, path=None):
        """Heatmaps of the transformer's token x token weights, one per head; see `text_plots`."""
        from attention_zoo.zoo import text_plots

        tokens = self.tokens(text)[0]
        n = len(tokens)
        maps = self.self_attention_maps(text)[0][:, :n, :n]
        return text_plots.plot_self_attention(tokens, maps, path=path)

    # --------------------------------------------------------------- export
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

    # --------------------------------------------------------------- config
    @classmethod
    def example_batch(cls, batch_size=4, seed=0):
        """A batch of the generated task for the default model: ids (B, 48) and labels (B,)."""
        return text_data.make_token_task(batch_size, max_length=48, seed=seed)

    def get_config(self):
        vocabulary = None
        if self.vectorizer is not None:
            vocabulary = self.get_vocabulary()[2:]
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocab_size": self.vocab_size,
            "num_classes": self.num_classes,
            "sequence_length": self.sequence_length,
            "embed_dim": self.embed_dim,
            "encoder": self.encoder,
            "attention": self.attention,
            "attention_kwargs": self.attention_kwargs,
            "num_heads": self.num_heads,
            "encoder_units": self.encoder_units,
            "dropout": self.dropout,
            "vocabulary": vocabulary,
            "class_names": self.class_names,
            "learning_rate": self.learning_rate,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def _check_class_names(class_names, num_classes):
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


def _as_text_list(texts):
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    texts = [t.decode("utf-8") if isinstance(t, bytes) else t for t in texts]
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts must be strings. Received: texts[{i}]={text!r}")
    return texts
