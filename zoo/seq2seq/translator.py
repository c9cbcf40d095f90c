"""The seq2seq translator: bidirectional RNN encoder, attentive decoder, search and export.

Registered as `seq2seq_bahdanau`, `seq2seq_luong` and `seq2seq_transformer`.
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

from attention_zoo._validation import check_positive_int
from attention_zoo.layers import canonical_name, serializable
from attention_zoo.zoo import _input_checks
from attention_zoo.zoo._registry import register_model
from attention_zoo.zoo.seq2seq import _tokenizer as _text
from attention_zoo.zoo.seq2seq._layers import (
    LUONG_READOUTS,
    BahdanauDecoder,
    Encoder,
    LuongDecoder,
    TransformerDecoder,
)

DECODERS = ("bahdanau", "luong", "transformer")
CELLS = ("gru", "lstm")
_DEFAULT_ATTENTION = {"bahdanau": "additive", "luong": "bilinear", "transformer": "scaled_dot"}
# The default vocabularies cover the generated date tasks of `translation_data`.
_DATE_SOURCE = sorted(set(string.ascii_letters + string.digits + " ,./';-"))
_DATE_TARGET = sorted(set(string.digits + "- "))


@serializable
def masked_accuracy(y_true, y_pred):
    """Token accuracy over the non-padding (id != 0) target positions of the batch."""
    y_true = keras.ops.cast(y_true, "int32")
    valid = keras.ops.not_equal(y_true, _text.PAD)
    hit = keras.ops.equal(keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32"), y_true)
    hits = keras.ops.sum(keras.ops.cast(keras.ops.logical_and(hit, valid), "float32"))
    return hits / keras.ops.maximum(keras.ops.sum(keras.ops.cast(valid, "float32")), 1.0)


def _require_tensorflow(what):
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"{what} uses TensorFlow strings and tf.function; it needs the TensorFlow backend. "
            f"Received: backend={keras.backend.backend()!r}"
        )
    import tensorflow as tf

    return tf


@serializable
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
    transformer it is the score of the cross-attention heads (`"multi_head"`
    means the default, `"scaled_dot"`). `attention="none"` (recurrent decoders
    only) is the encoder-decoder without attention: the context is the fixed
    mean of the memory at every step (uniform weights).

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
            `"multi_head"` gets `num_heads=num_heads` unless given.
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
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}. Received: decoder={decoder!r}")
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}. Received: cell={cell!r}")
        if decoder == "luong":
            readout = "attentional" if readout is None else readout
            if readout not in LUONG_READOUTS:
                raise ValueError(
                    f"readout must be one of {LUONG_READOUTS}. Received: readout={readout!r}"
                )
        elif readout is not None:
            raise ValueError(
                "readout applies to the Luong decoder only (the Bahdanau and transformer "
                f"decoders have one readout each). Received: readout={readout!r}, "
                f"decoder={decoder!r}"
            )
        attention = _DEFAULT_ATTENTION[decoder] if attention is None else attention
        if attention != "none":
            attention = canonical_name(attention)
        elif decoder == "transformer":
            raise ValueError(
                "attention='none' needs a recurrent decoder ('bahdanau' or 'luong'); the "
                f"transformer decoder attends by construction. Received: decoder={decoder!r}"
            )
        for arg, value in (
            ("units", units),
            ("embedding_dim", embedding_dim),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("max_target_length", max_target_length),
        ):
            check_positive_int(arg, value)
        source_vocabulary = list(_DATE_SOURCE if source_vocabulary is None else source_vocabulary)
        target_vocabulary = list(_DATE_TARGET if target_vocabulary is None else target_vocabulary)
        _text.check_split(source_split)
        _text.check_split(target_split)
        attention_kwargs = dict(attention_kwargs or {})
        layer_kwargs = dict(attention_kwargs)
        if attention == "multi_head" and decoder != "transformer":
            layer_kwargs.setdefault("num_heads", num_heads)
            layer_kwargs.setdefault("key_dim", max(1, units // layer_kwargs["num_heads"]))
        source_size = len(source_vocabulary) + len(_text.RESERVED)
        target_size = len(target_vocabulary) + len(_text.RESERVED)

        # The transformer decoder does not start from the encoder's final state: no bridge.
        encoder = Encoder(
            source_size,
            embedding_dim,
            units,
            cell,
            bridge=decoder != "transformer",
            name="encoder",
        )
        if decoder == "transformer":
            decoder_layer = TransformerDecoder(
                target_size,
                units,
                max_target_length,
                num_layers,
                num_heads,
                attention,
                layer_kwargs,
                name="decoder",
            )
        elif decoder == "bahdanau":
            decoder_layer = BahdanauDecoder(
                target_size, embedding_dim, units, cell, attention, layer_kwargs, name="decoder"
            )
        else:
            decoder_layer = LuongDecoder(
                target_size,
                embedding_dim,
                units,
                cell,
                attention,
                layer_kwargs,
                readout=readout,
                name="decoder",
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
        self.compile(
            optimizer=keras.optimizers.Adam(learning_rate, global_clipnorm=1.0),
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
        pairs = _check_pairs(pairs)
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
        pairs = _check_pairs(pairs)
        sources = [s for s, _ in pairs]
        targets = [t for _, t in pairs]
        source_ids = self.encode_sources(sources)
        target_ids = self._get_codecs()[1].encode(targets).numpy()
        target_ids = target_ids[:, : self.max_target_length - 1]
        lengths = (target_ids != _text.PAD).sum(axis=1)
        n, width = len(pairs), target_ids.shape[1] + 1
        target_in = np.zeros((n, width), "int32")
        target_out = np.zeros((n, width), "int32")
        target_in[:, 0] = _text.START
        target_in[:, 1:] = target_ids
        target_out[:, :-1] = target_ids
        target_out[np.arange(n), lengths] = _text.END
        return {"source": source_ids, "target_in": target_in}, target_out

    # ----------------------------------------------------------- bad input
    def _check_data(self, x, y, x_name="x", y_name="y", allow_empty=False):
        """Checks concrete `x` (the dict of ids) and `y`; returns the batch size or None.

        `x["source"]` and `x["target_in"]` must hold ids of their vocabularies
        (`target_in` at most `max_target_length` long with the transformer
        decoder), `y` target ids (whole numbers) of the shape of `target_in`.
        """
        if not isinstance(x, dict):
            if _input_checks.concrete(x) is not None:  # an array where the dict belongs
                raise ValueError(
                    f"{x_name} must be a dict {{'source': ids, 'target_in': ids}}. "
                    f"Received: {x_name}={_short(x)}"
                )
            return None  # a dataset, a generator, or nothing (`validation_data` not given)
        missing = {"source", "target_in"} - set(x)
        if missing:
            raise ValueError(
                f"{x_name} must be a dict {{'source': ids, 'target_in': ids}}; "
                f"{sorted(missing)} missing. Received: {x_name}.keys()={sorted(x)}"
            )
        # Only the transformer has a position table; the recurrent decoders take any length.
        max_length = self.max_target_length if self.decoder_type == "transformer" else None
        source = _input_checks.check_token_ids(
            f"{x_name}['source']",
            x["source"],
            len(self.source_vocabulary) + len(_text.RESERVED),
            size_name="source vocabulary size",
        )
        target_size = len(self.target_vocabulary) + len(_text.RESERVED)
        target_in = _input_checks.check_token_ids(
            f"{x_name}['target_in']",
            x["target_in"],
            target_size,
            max_length=max_length,
            size_name="target vocabulary size",
        )
        if source is not None and target_in is not None and len(source) != len(target_in):
            raise ValueError(
                f"{x_name}['source'] and {x_name}['target_in'] must have one row per example. "
                f"Received: shapes {source.shape} and {target_in.shape}"
            )
        if source is not None and not allow_empty:
            _input_checks.check_not_empty(f"{x_name}['source']", source)
        labels = _input_checks.concrete(y)
        if labels is not None:
            if target_in is not None and labels.shape != target_in.shape:
                raise ValueError(
                    f"{y_name} must be target ids of the shape of {x_name}['target_in'] "
                    f"{target_in.shape}. Received: {y_name}.shape={labels.shape}"
                )
            _input_checks.check_token_ids(
                y_name, labels, target_size, size_name="target vocabulary size"
            )
        return None if source is None else len(source)

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
    def _search(self, beam_width, length_penalty, max_length):
        """A function source ids (B, Tv) -> (tokens (B, L), weights (B, L, Tv)).

        The search is `keras.ops`, so it runs on every backend; on TensorFlow it is
        wrapped in one `tf.function` (compiled once, and traced into the export).
        """
        key = (beam_width, length_penalty, max_length)
        if key not in self._cache.searches:

            def run(source_ids):
                if beam_width == 1 and length_penalty is None:
                    return self._greedy(source_ids, max_length)
                return self._beam(source_ids, max_length, beam_width, length_penalty or 0.0)

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                run = tf.function(run, reduce_retracing=True)
            elif keras.backend.backend() == "jax":
                run = self._jax_jit(run)
            self._cache.searches[key] = run
        return self._cache.searches[key]

    def _jax_jit(self, run):
        """`run` compiled by `jax.jit`, the weights passed in (so later training is seen)."""
        import jax

        variables = list(self.variables)

        def stateless(values, source_ids):
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return run(source_ids)

        compiled = jax.jit(stateless)
        return lambda source_ids: compiled([v.value for v in variables], source_ids)

    def _start(self, source_ids):
        memory, memory_mask, state = self.encoder(source_ids)
        return memory, memory_mask, self.decoder.start_state(state, memory)

    def _never_emitted(self):
        # Padding and [START] are never produced; a search ends a sequence with [END].
        ids = np.arange(len(self.target_vocabulary) + len(_text.RESERVED))
        return np.where((ids == _text.PAD) | (ids == _text.START), -1e9, 0.0).astype("float32")

    def _greedy(self, source_ids, max_length):
        ops = keras.ops
        memory, memory_mask, state = self._start(source_ids)
        batch = ops.shape(source_ids)[0]
        never = self._never_emitted()
        token = ops.full((batch,), _text.START, dtype="int32")
        finished = ops.zeros((batch,), dtype="bool")
        tokens, weights = [], []
        for _ in range(max_length):
            logits, state, step_weights = self.decoder.step(token, state, memory, memory_mask)
            token = ops.cast(ops.argmax(logits + never, axis=-1), "int32")
            token = ops.where(finished, ops.zeros_like(token), token)
            finished = ops.logical_or(finished, ops.equal(token, _text.END))
            tokens.append(token)
            weights.append(step_weights)
        return ops.stack(tokens, axis=1), ops.stack(weights, axis=1)

    def _beam(self, source_ids, max_length, width, alpha):
        ops = keras.ops
        memory, memory_mask, state = self._start(source_ids)
        batch = ops.shape(source_ids)[0]
        source_len = ops.shape(memory)[1]
        vocab = len(self.target_vocabulary) + len(_text.RESERVED)

        def tile(t):  # (B, ...) -> (B * width, ...), the beams of an example adjacent
            return ops.repeat(t, width, axis=0)

        def take_beams(t, flat_index):  # t (B, width, ...) at beams b * width + w
            rest = ops.shape(t)[2:]  # (batch * width), not -1: history starts empty
            return ops.take(ops.reshape(t, (batch * width, *rest)), flat_index, axis=0)

        memory, memory_mask, state = tile(memory), tile(memory_mask), [tile(s) for s in state]
        first = np.array([0.0] + [-np.inf] * (width - 1), "float32")
        scores = ops.zeros((batch, width)) + first[None]  # only beam 0 is alive at the start
        finished = ops.zeros((batch, width), dtype="bool")
        lengths = ops.zeros((batch, width))
        history = ops.zeros((batch, width, 0), dtype="int32")
        alignment = ops.zeros((batch, width, 0, source_len), dtype=memory.dtype)
        token = ops.full((batch * width,), _text.START, dtype="int32")
        pad_only = np.where(np.arange(vocab) == _text.PAD, 0.0, -np.inf).astype("float32")
        never = self._never_emitted()
        offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * width, 1)
        for _ in range(max_length):
            logits, state, step_weights = self.decoder.step(token, state, memory, memory_mask)
            log_probs = ops.log_softmax(logits + never, axis=-1)
            log_probs = ops.reshape(log_probs, (batch, width, vocab))
            # A finished beam continues with padding only, at no cost.
            log_probs = ops.where(ops.expand_dims(finished, -1), pad_only, log_probs)
            total = ops.reshape(ops.expand_dims(scores, -1) + log_probs, (batch, width * vocab))
            scores, best = ops.top_k(total, k=width)
            best = ops.cast(best, "int32")
            parent = best // vocab
            token_2d = best % vocab
            flat_parent = parent + offsets
            step_weights = ops.reshape(step_weights, (batch, width, 1, source_len))
            history = ops.concatenate(
                [take_beams(history, flat_parent), ops.expand_dims(token_2d, -1)], axis=-1
            )
            alignment = ops.concatenate(
                [take_beams(alignment, flat_parent), take_beams(step_weights, flat_parent)],
                axis=2,
            )
            was_finished = take_beams(finished, flat_parent)
            lengths = take_beams(lengths, flat_parent) + ops.cast(
                ops.logical_not(was_finished), "float32"
            )
            finished = ops.logical_or(was_finished, ops.equal(token_2d, _text.END))
            flat_parent = ops.reshape(flat_parent, (-1,))
            state = [ops.take(s, flat_parent, axis=0) for s in state]
            token = ops.reshape(token_2d, (-1,))
        # GNMT length penalty, applied to the final hypotheses.
        penalty = ops.power((5.0 + lengths) / 6.0, alpha)
        chosen = ops.cast(ops.argmax(scores / penalty, axis=1), "int32") + offsets[:, 0]
        return take_beams(history, chosen), take_beams(alignment, chosen)

    def _check_search_args(self, beam_width, length_penalty, max_length):
        check_positive_int("beam_width", beam_width)
        max_length = self.max_target_length if max_length is None else max_length
        check_positive_int("max_length", max_length)
        if self.decoder_type == "transformer" and max_length > self.max_target_length:
            raise ValueError(
                "max_length can not exceed max_target_length with the transformer decoder "
                f"(its position table). Received: max_length={max_length}, "
                f"max_target_length={self.max_target_length}"
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
        beam_width, length_penalty, max_length = self._check_search_args(
            beam_width, length_penalty, max_length
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

    def plot_alignment(self, text, path=None, beam_width=1, length_penalty=None):
        """Draws the alignment of one translation: source tokens x output tokens.

        As in Bahdanau et al.'s figure: column j is source token j, row i is
        output token i, the shade its attention weight. Uses matplotlib's Agg
        canvas (no display, no global backend change).

        Returns:
            The matplotlib `Figure`; written as PNG to `path` when given.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        translation, alignment = self.translate(
            text, beam_width=beam_width, length_penalty=length_penalty, return_alignment=True
        )
        weights = alignment["weights"]
        rows, cols = weights.shape
        figure = Figure(figsize=(max(3.0, 0.3 * cols + 1.5), max(2.5, 0.3 * rows + 1.5)))
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        image = axes.imshow(weights, cmap="gray", vmin=0.0, vmax=1.0, aspect="auto")
        axes.set_xticks(range(cols), [_visible(t) for t in alignment["source_tokens"]])
        axes.set_yticks(range(rows), [_visible(t) for t in alignment["output_tokens"]])
        axes.tick_params(axis="x", labelrotation=90)
        axes.set_xlabel("source")
        axes.set_ylabel("output")
        axes.set_title(f"{text!r} -> {translation!r}", fontsize=9)
        figure.colorbar(image, ax=axes, fraction=0.04)
        figure.tight_layout()
        if path is not None:
            figure.savefig(path, format="png", dpi=100)
        return figure

    # -------------------------------------------------------------- export
    def export_translate(self, path, beam_width=1, length_penalty=None, max_length=None):
        """Writes a SavedModel whose `translate` signature maps strings to strings.

        Tokenization, the search and detokenization are all inside, so the
        artifact needs only TensorFlow: `served = tf.saved_model.load(path)`, then
        `served.translate(tf.constant(["3 March 1987"]))`
        returns a string tensor with the same translations as `translate`.
        Keep the loaded object in a variable while calling it: it owns the
        variables, and a function of a discarded object fails.

        Raises:
            RuntimeError: on a backend other than TensorFlow, before any work
                (the string signature is TensorFlow's).
        """
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(
                "Translator.export_translate writes a SavedModel that takes and returns "
                "strings, which needs the TensorFlow backend: run with KERAS_BACKEND=tensorflow. "
                f"Received: backend={keras.backend.backend()!r}"
            )
        import tensorflow as tf

        beam_width, length_penalty, max_length = self._check_search_args(
            beam_width, length_penalty, max_length
        )
        source_codec = _text.TextCodec(self.source_vocabulary, self.source_split, self.lowercase)
        target_codec = _text.TextCodec(self.target_vocabulary, self.target_split, self.lowercase)
        search = self._search(beam_width, length_penalty, max_length)

        def translate(texts):
            tokens, _ = search(source_codec.encode(texts))
            return target_codec.decode(tokens)

        archive = keras.export.ExportArchive()
        archive.track(self)
        archive.track(source_codec.table)
        archive.track(target_codec.table)
        archive.add_endpoint(
            "translate", translate, input_signature=[tf.TensorSpec([None], tf.string)]
        )
        archive.write_out(str(path), verbose=False)


def _check_pairs(pairs):
    """`pairs` as a list of `(source, target)` tuples of non-empty strings, or a ValueError."""
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__iter__"):
        raise ValueError(
            f"pairs must be a non-empty list of (source, target) strings. Received: pairs={pairs!r}"
        )
    pairs = list(pairs)
    if not pairs:
        raise ValueError(
            f"pairs must be a non-empty list of (source, target) strings. Received: pairs={pairs!r}"
        )
    checked = []
    for i, pair in enumerate(pairs):
        if (
            isinstance(pair, (str, bytes))
            or not isinstance(pair, (tuple, list, np.ndarray))
            or len(pair) != 2
            or not all(isinstance(text, str) for text in pair)
        ):
            raise ValueError(
                f"pairs[{i}] must be a (source, target) pair of strings. "
                f"Received: pairs[{i}]={_short(pair)}"
            )
        if not (pair[0].strip() and pair[1].strip()):
            raise ValueError(
                f"pairs[{i}] has an empty source or target; both need at least one "
                f"non-blank character. Received: pairs[{i}]={_short(pair)}"
            )
        checked.append((str(pair[0]), str(pair[1])))
    return checked


def _short(value, limit=80):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{type(value).__name__}(shape={tuple(value.shape)}, dtype={value.dtype})"
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Cache:
    """The tokenizers and compiled searches of one translator, built on first use."""

    def __init__(self):
        self.codecs = None
        self.searches = {}


def _visible(token):
    return "␣" if token == " " else token


@register_model("seq2seq_bahdanau")
def seq2seq_bahdanau(**kwargs):
    """A `Translator` with the Bahdanau decoder (default score `additive`)."""
    return Translator(decoder="bahdanau", **kwargs)


@register_model("seq2seq_luong")
def seq2seq_luong(**kwargs):
    """A `Translator` with the Luong decoder (default score `bilinear`, Luong's "general")."""
    return Translator(decoder="luong", **kwargs)


@register_model("seq2seq_transformer")
def seq2seq_transformer(**kwargs):
    """A `Translator` with the transformer decoder (default score `scaled_dot`)."""
    return Translator(decoder="transformer", **kwargs)
