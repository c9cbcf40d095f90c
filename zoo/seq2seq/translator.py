"""The seq2seq translator: bidirectional RNN encoder, attentive decoder, search and export.

Registered as `translator`; `decoder=` picks the Bahdanau, Luong or transformer decoder.
The model, `fit`, `predict` and the greedy and beam searches are Keras layers and
`keras.ops`, on every backend. Tokenization uses TensorFlow strings and lookup
tables eagerly, outside the model (TensorFlow is a dependency), so it too works
with any Keras backend and gives the ids the SavedModel computes. Only the
string-in `translate` SavedModel needs the TensorFlow backend.
"""

import string
import warnings

import keras
import numpy as np

from attention_zoo.zoo import _input_checks
from attention_zoo.zoo._registry import register_model
from attention_zoo.zoo.seq2seq import _checks, export, search
from attention_zoo.zoo.seq2seq import _tokenizer as _text
from attention_zoo.zoo.seq2seq._layers import make_layers
from attention_zoo.zoo.seq2seq._metrics import masked_accuracy

DECODERS, CELLS = _checks.DECODERS, _checks.CELLS
# The default vocabularies cover the generated date tasks of `translation_data`.
_DATE_SOURCE = sorted(set(string.ascii_letters + string.digits + " ,./';-"))
_DATE_TARGET = sorted(set(string.digits + "- "))


@register_model("translator")
class Translator(_input_checks.CheckedInputs, keras.Model):
    """A sequence-to-sequence translator with attention at every decoder step.

    Encoder: token embedding, then a bidirectional GRU or LSTM whose two
    directions are summed into the memory h_1..h_Tv (B, Tv, units); its final
    states, through tanh(W [forward; backward]), start the decoder.

    Decoders (`decoder=`), with c_t the attention context over the memory:

        bahdanau:    c_t = attn(s_(t-1), h);  s_t = cell([E y_(t-1); c_t], s_(t-1));
                     logits = W_o [s_t; c_t]
        luong:       s_t = cell(E y_(t-1), s_(t-1));  c_t = attn(s_t, h);
                     logits = W_o r_t, with the readout r_t (`readout=`)
                       "attentional": r_t = tanh(W_c [c_t; s_t])  (Luong et al.)
                       "residual":    r_t = LayerNorm(s_t + c_t)  (TF NMT tutorial)
        transformer: causal self-attention, cross-attention over h, feed-forward
                     (`num_layers` post-norm blocks of our `MultiHeadAttention`)

    `attention=` is any key of `attention_zoo.layers.available()`; for the
    transformer it is the score of the cross-attention heads (a layer that
    splits heads itself, such as `"multi_head"`, means the default
    `"scaled_dot"`). `attention="none"` (recurrent decoders only) is the
    encoder-decoder without attention: the context is the fixed mean of the
    memory at every step (uniform weights).

    Inputs are dicts `{"source": (B, Tv) ids, "target_in": (B, Tt) ids}` with
    0 = padding and `target_in` = [START] + target; the output is logits
    (B, Tt, V) for target + [END], trained by `fit` with teacher forcing. The
    constructor compiles with Adam, a cross-entropy that ignores padding, and
    `masked_accuracy`. Token ids: 0 pad, 1 [UNK], 2 [START], 3 [END], then the
    vocabulary.

    Args:
        source_vocabulary: List of source tokens (reserved ones excluded);
            default: the characters of the generated date tasks.
        target_vocabulary: List of target tokens; default: ISO-date characters.
        decoder: `"bahdanau"`, `"luong"` or `"transformer"`.
        attention: Registry name of the attention score, or `"none"`;
            default by decoder: `additive`, `bilinear`, `scaled_dot`.
        attention_kwargs: Dict of extra arguments of the attention layer;
            the layer's `defaults_in_model(units, num_heads)` fill in the rest
            (heads and head size for `"multi_head"`).
        readout: Luong decoder only: `"attentional"` (default, the paper's
            tanh(W_c [c_t; s_t])) or `"residual"` (LayerNorm(s_t + c_t), which
            keeps the features at unit scale from the first step). Must be
            None with the other decoders, which have one readout each.
        cell: `"gru"` or `"lstm"`, for the encoder and recurrent decoders.
        units: Positive integer, size of the memory and decoder state.
        embedding_dim: Positive integer, size of the token embeddings.
        num_layers: Transformer decoder blocks.
        num_heads: Heads of the transformer decoder (and of `"multi_head"`).
        source_split, target_split: `"char"` or `"word"` tokenization; word
            mode splits punctuation off as tokens of its own.
        lowercase: Whether texts are lowercased before tokenization.
        max_target_length: Positive integer, most output tokens (with [END]);
            longer training targets are cut; searches stop there.
        learning_rate: Adam learning rate of the default compile.
        **kwargs: `name`, `trainable`.

    Example:

    >>> from attention_zoo.zoo import Translator, translation_data
    >>> pairs = translation_data.dates(64, seed=0)
    >>> translator = Translator.from_pairs(pairs, decoder="luong", attention="dot")
    >>> x, y = translator.encode_pairs(pairs)
    >>> _ = translator.fit(x, y, epochs=1, verbose=0)
    >>> len(translator.translate(["3 March 1987"], beam_width=2))
    1

    References:
        Bahdanau, Cho, Bengio (2015). Neural Machine Translation by Jointly
        Learning to Align and Translate. Luong, Pham, Manning (2015). Effective
        Approaches to Attention-based Neural Machine Translation. Vaswani et
        al. (2017). Attention Is All You Need.
    """

    # Over 60 lines: 16 documented arguments, one line each in the signature, each stored
    # under its own name; the checks and the layers live in `_checks` and `_layers`.
    def __init__(
        self,
        source_vocabulary=None,
        target_vocabulary=None,
        decoder="luong",
        attention=None,
        attention_kwargs=None,
        readout=None,
        cell="gru",
        units=32,
        embedding_dim=32,
        num_layers=1,
        num_heads=2,
        source_split="char",
        target_split="char",
        lowercase=False,
        max_target_length=11,
        learning_rate=1e-2,
        **kwargs,
    ):
        readout, attention = _checks.check_config(
            decoder, cell, readout, attention, source_split, target_split
        )
        _checks.check_sizes(units, embedding_dim, num_layers, num_heads, max_target_length)
        source_vocabulary = list(_DATE_SOURCE if source_vocabulary is None else source_vocabulary)
        target_vocabulary = list(_DATE_TARGET if target_vocabulary is None else target_vocabulary)
        attention_kwargs = dict(attention_kwargs or {})
        source_size = len(source_vocabulary) + len(_text.RESERVED)
        target_size = len(target_vocabulary) + len(_text.RESERVED)
        encoder, decoder_layer = make_layers(
            decoder,
            source_size,
            target_size,
            embedding_dim,
            units,
            cell,
            attention,
            attention_kwargs,
            readout=readout,
            max_length=max_target_length,
            num_layers=num_layers,
            num_heads=num_heads,
        )
        source = keras.Input((None,), dtype="int32", name="source")
        target_in = keras.Input((None,), dtype="int32", name="target_in")
        memory, memory_mask, state = encoder(source)
        logits, _ = decoder_layer(target_in, memory, memory_mask, state)
        super().__init__(
            inputs={"source": source, "target_in": target_in}, outputs=logits, **kwargs
        )

        self.encoder = encoder
        self.decoder = decoder_layer
        self.source_vocabulary = source_vocabulary
        self.target_vocabulary = target_vocabulary
        self.decoder_type = decoder
        self.attention_name = attention
        self.attention_kwargs = attention_kwargs
        self.readout = readout
        self.cell_type = cell
        self.units = units
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.source_split = source_split
        self.target_split = target_split
        self.lowercase = bool(lowercase)
        self.max_target_length = max_target_length
        self.learning_rate = float(learning_rate)
        # A plain object, so that Keras and the SavedModel export do not track the caches.
        self._cache = _Cache()
        self._compile_default()

    def _compile_default(self):
        """Adam with gradient clipping, a cross-entropy that ignores padding, `masked_accuracy`."""
        self.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate, global_clipnorm=1.0),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
            metrics=[masked_accuracy],
        )

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "source_vocabulary": self.source_vocabulary,
            "target_vocabulary": self.target_vocabulary,
            "decoder": self.decoder_type,
            "attention": self.attention_name,
            "attention_kwargs": self.attention_kwargs,
            "readout": self.readout,
            "cell": self.cell_type,
            "units": self.units,
            "embedding_dim": self.embedding_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "source_split": self.source_split,
            "target_split": self.target_split,
            "lowercase": self.lowercase,
            "max_target_length": self.max_target_length,
            "learning_rate": self.learning_rate,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ------------------------------------------------------------- data in
    @classmethod
    def from_pairs(
        cls,
        pairs,
        split="word",
        lowercase=None,
        max_tokens=None,
        min_count=1,
        source_split=None,
        target_split=None,
        **kwargs,
    ):
        """Builds a translator whose vocabularies and output length fit `pairs`.

        Args:
            pairs: Sequence of `(source, target)` strings.
            split: `"word"` or `"char"` for both sides, unless `source_split` /
                `target_split` say otherwise.
            lowercase: Lowercase before tokenizing; default True for words,
                False for characters.
            max_tokens: Optional cap on each vocabulary size (most frequent
                tokens kept, reserved ones included); the rest map to [UNK].
            min_count: Keep tokens seen at least this often.
            **kwargs: The other `Translator` arguments (`decoder`, `attention`...).
        """
        pairs = _checks.check_pairs(pairs)
        source_split = source_split or split
        target_split = target_split or split
        if lowercase is None:
            lowercase = split == "word"
        sources = [s for s, _ in pairs]
        targets = [t for _, t in pairs]
        source_vocabulary = _text.build_vocabulary(
            sources, source_split, lowercase, max_tokens, min_count
        )
        target_vocabulary = _text.build_vocabulary(
            targets, target_split, lowercase, max_tokens, min_count
        )
        lengths = _text.tokenize(targets, target_split, lowercase).row_lengths().numpy()
        kwargs.setdefault("max_target_length", int(lengths.max()) + 1)
        return cls(
            source_vocabulary=source_vocabulary,
            target_vocabulary=target_vocabulary,
            source_split=source_split,
            target_split=target_split,
            lowercase=lowercase,
            **kwargs,
        )

    def _get_codecs(self):
        if self._cache.codecs is None:
            self._cache.codecs = (
                _text.TextCodec(self.source_vocabulary, self.source_split, self.lowercase),
                _text.TextCodec(self.target_vocabulary, self.target_split, self.lowercase),
            )
        return self._cache.codecs

    def encode_sources(self, texts):
        """Source texts -> (N, Tv) int32 ids, 0-padded."""
        return self._get_codecs()[0].encode(list(texts)).numpy()

    def encode_pairs(self, pairs):
        """`(source, target)` pairs -> `(x, y)` for `fit` with teacher forcing.

        Returns:
            x: `{"source": (N, Tv), "target_in": (N, Tt)}` int32 ids, with
            `target_in` = [START] + target; y: (N, Tt) ids of target + [END].
            Targets are cut to `max_target_length - 1` tokens.
        """
        pairs = _checks.check_pairs(pairs)
        sources = [s for s, _ in pairs]
        targets = [t for _, t in pairs]
        source_ids = self.encode_sources(sources)
        target_ids = self._get_codecs()[1].encode(targets).numpy()
        target_in, target_out = _text.teacher_forcing(target_ids, self.max_target_length)
        return {"source": source_ids, "target_in": target_in}, target_out

    # ----------------------------------------------------------- bad input
    def _check_data(self, x, y, x_name="x", y_name="y", allow_empty=False):
        """Checks concrete `x` and `y` (`_checks.check_data`); returns the batch size or None."""
        return _checks.check_data(self, x, y, x_name, y_name, allow_empty)

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`, after the checks of `fit`; no rows give (0, Tt, V) logits."""
        if self._check_data(x, None, allow_empty=True) == 0:
            vocab = len(self.target_vocabulary) + len(_text.RESERVED)
            length = np.shape(x["target_in"])[1]
            return np.zeros((0, length, vocab), self.compute_dtype)
        return super().predict(x, *args, **kwargs)

    @classmethod
    def example_batch(cls, batch_size=4, seed=0):
        """A small deterministic date batch `(x, y)` for the default vocabularies."""
        from attention_zoo.zoo.seq2seq import translation_data

        pairs = translation_data.dates(batch_size, seed=seed)
        return cls().encode_pairs(pairs)

    # -------------------------------------------------------------- search
    @property
    def target_vocabulary_size(self):
        """Number of output ids: the target vocabulary plus the reserved tokens."""
        return len(self.target_vocabulary) + len(_text.RESERVED)

    def _search(self, beam_width, length_penalty, max_length):
        """The compiled search of `search.compiled_search`, built once per argument set."""
        key = (beam_width, length_penalty, max_length)
        if key not in self._cache.searches:
            self._cache.searches[key] = search.compiled_search(
                self, beam_width, length_penalty, max_length
            )
        return self._cache.searches[key]

    def translate(
        self, texts, beam_width=1, length_penalty=None, max_length=None, return_alignment=False
    ):
        """Translates source texts by greedy search (`beam_width=1`) or beam search.

        Args:
            texts: A string or a list of strings.
            beam_width: Positive integer; 1 is greedy search.
            length_penalty: alpha of the GNMT penalty ((5 + |y|) / 6)^alpha that
                divides the beam scores (log-probabilities) when the final
                hypothesis is chosen; 0 or None = none. Setting it runs the beam
                code even with `beam_width=1`.
            max_length: Most output tokens (default `max_target_length`).
            return_alignment: Also return one alignment per text.

        Returns:
            The list of translations; with `return_alignment`, also a list of
            dicts `{"source_tokens", "output_tokens", "weights"}`, `weights` a
            (len(output_tokens), len(source_tokens)) array whose row i is the
            attention over the source when output token i was produced
            (`output_tokens` ends with "[END]" when the search produced it).
        """
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        beam_width, length_penalty, max_length = search.check_search_args(
            self, beam_width, length_penalty, max_length
        )
        source_codec, target_codec = self._get_codecs()
        source_ids = source_codec.encode(texts).numpy()
        with warnings.catch_warnings():
            # The first step of a transformer search attends over one token.
            warnings.filterwarnings("ignore", message="You are using a softmax over axis")
            tokens, weights = self._search(beam_width, length_penalty, max_length)(source_ids)
        tokens = keras.ops.convert_to_numpy(tokens)
        translations = [t.decode("utf-8") for t in target_codec.decode(tokens).numpy()]
        if single:
            translations = translations[0]
        if not return_alignment:
            return translations
        weights = keras.ops.convert_to_numpy(weights)
        alignments = []
        for i, text in enumerate(texts):
            source_tokens = source_codec.tokens_of(text)
            ends = np.flatnonzero(tokens[i] == _text.END)
            count = ends[0] + 1 if len(ends) else len(tokens[i])
            alignments.append(
                {
                    "source_tokens": source_tokens,
                    "output_tokens": target_codec.id_tokens(tokens[i, :count]),
                    "weights": weights[i, :count, : len(source_tokens)],
                }
            )
        return (translations, alignments[0] if single else alignments)

    # -------------------------------------------------------------- export
    def export_translate(self, path, beam_width=1, length_penalty=None, max_length=None):
        """Writes a string-to-string SavedModel (`translate` signature); see `export`."""
        export.export_translate(self, path, beam_width, length_penalty, max_length)


class _Cache:
    """The tokenizers and compiled searches of one translator, built on first use."""

    def __init__(self):
        self.codecs = None
        self.searches = {}
