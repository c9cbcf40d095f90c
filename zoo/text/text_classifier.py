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
from attention_zoo.zoo import _input_checks
from attention_zoo.zoo._registry import register_model
from attention_zoo.zoo._transformer_block import TransformerBlock
from attention_zoo.zoo.text import _raw_text, text_data

ENCODERS = ("none", "bigru", "transformer")


@register_model("text_classifier")
class TextClassifier(_raw_text.RawTextMixin, _input_checks.CheckedInputs, keras.Model):
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
            `{"units": 16}` for `"additive"`; the layer's
            `defaults_in_model` fill in the rest (`num_heads` heads for
            `"multi_head"`).
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
        self.class_names = _raw_text.check_class_names(class_names, self.num_classes)

        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(
            self.vocab_size, self.embed_dim, mask_zero=True, dtype=policy, name="embedding"
        )
        self.embedding_dropout = keras.layers.Dropout(self.dropout, name="embedding_dropout")
        self.feature_dim = self._make_encoder(policy)
        dim = self.feature_dim
        if self.attention != "none":
            self.pooling = self._make_pooling(policy, dim)
        self.head_dropout = keras.layers.Dropout(self.dropout, name="head_dropout")
        self.head = keras.layers.Dense(
            self.num_classes, activation="softmax", dtype=policy, name="head"
        )

        self._init_vectorizer(vocabulary)

        self.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )

    def _make_encoder(self, policy):
        """Creates the encoder's layers; returns the feature size of its output."""
        dim = self.embed_dim
        if self.encoder == "bigru":
            units = self.encoder_units or self.embed_dim
            self.rnn = keras.layers.Bidirectional(
                keras.layers.GRU(units, return_sequences=True, dropout=self.dropout),
                dtype=policy,
                name="bigru",
            )
            dim = 2 * units
        elif self.encoder == "transformer":
            if self.embed_dim % self.num_heads:
                raise ValueError(
                    "num_heads must divide embed_dim for the transformer encoder. Received: "
                    f"num_heads={self.num_heads}, embed_dim={self.embed_dim}"
                )
            block = TransformerBlock(
                self.embed_dim,
                self.num_heads,
                ffn_units=self.encoder_units,
                dropout=self.dropout,
                dtype=policy,
                name="encoder_block",
            )
            self._shared = types.SimpleNamespace(block=block)  # untracked: see below
            # Tracked under the names they had before the block was shared: the weight
            # paths of `.keras` files are attribute names, and old files must load.
            self.self_attention, self.attention_norm = block.self_attention, block.norm_self
            self.ffn_in, self.ffn_out, self.ffn_norm = block.ffn_in, block.ffn_out, block.norm_ffn
            self.encoder_dropout = block.dropout
        return dim

    def _make_pooling(self, policy, dim):
        """The attention pooling over `dim` features, the variant's in-model defaults filled in."""
        # What the variant needs inside a model (heads for a multi-head score).
        defaults = layers.get_class(self.attention).defaults_in_model(dim, self.num_heads)
        return layers.AttentionPooling(
            score=self.attention,
            score_kwargs={**defaults, **self.attention_kwargs},
            dropout=0.0,
            dtype=policy,
            name="pooling",
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
            self._shared.block.build(seq_shape)
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
            x, maps = self._shared.block(
                x, mask=mask, return_attention_scores=True, training=training
            )
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

    def plot_attention(self, text, path=None, class_names=None):
        """Bar plot of the pooling weights over the words of one text; see `text_plots`."""
        from attention_zoo.zoo.text import text_plots

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
        from attention_zoo.zoo.text import text_plots

        tokens = self.tokens(text)[0]
        n = len(tokens)
        maps = self.self_attention_maps(text)[0][:, :n, :n]
        return text_plots.plot_self_attention(tokens, maps, path=path)

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
