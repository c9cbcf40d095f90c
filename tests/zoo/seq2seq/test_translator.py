"""The seq2seq translator: learning the date task, search, alignment, plot, string export."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from attention_zoo import layers, zoo
from attention_zoo.zoo import Translator, translation_data
from attention_zoo.zoo.seq2seq.alignment_plots import plot_alignment

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="string SavedModels need TensorFlow; test_translator_inputs.py covers JAX",
)

DECODERS = ["bahdanau", "luong", "transformer"]
SOURCES = ["3 March 1987", "Tuesday, 14 August 2001", "the 1st of may 2019", "09.11.1989"]


def _exact_match(translator, pairs):
    outputs = translator.translate([s for s, _ in pairs])
    return float(np.mean([o == t for o, (_, t) in zip(outputs, pairs, strict=True)]))


@pytest.mark.parametrize("decoder", DECODERS)
def test_fit_on_dates_passes_a_threshold_the_untrained_model_fails(decoder):
    train = translation_data.dates(3000, seed=1)
    test = translation_data.dates(200, seed=2)
    translator = Translator(decoder=decoder)
    x, y = translator.encode_pairs(train)
    x_test, y_test = translator.encode_pairs(test)

    def token_accuracy():
        return translator.evaluate(x_test, y_test, verbose=0, return_dict=True)["masked_accuracy"]

    untrained_accuracy, untrained_exact = token_accuracy(), _exact_match(translator, test)
    translator.fit(x, y, batch_size=64, epochs=2, verbose=0)
    accuracy, exact = token_accuracy(), _exact_match(translator, test)
    assert untrained_accuracy < 0.5 and untrained_exact == 0.0
    assert accuracy > 0.85, (decoder, accuracy)
    assert exact > 0.2, (decoder, exact)

    # Beam search of width 1 is greedy search, on a model that now emits [END].
    greedy = translator.translate([s for s, _ in test[:40]])
    assert greedy == translator.translate([s for s, _ in test[:40]], beam_width=1, length_penalty=0)
    wider = translator.translate(SOURCES, beam_width=3, length_penalty=0.6)
    assert len(wider) == len(SOURCES) and all(isinstance(w, str) for w in wider)


@pytest.mark.parametrize("beam_width", [1, 3])
@pytest.mark.parametrize("decoder", DECODERS)
def test_alignment_has_one_row_per_output_token_and_one_column_per_source_token(
    decoder, beam_width
):
    translator = Translator(decoder=decoder, max_target_length=6)
    translations, alignments = translator.translate(
        SOURCES, beam_width=beam_width, return_alignment=True
    )
    for text, translation, alignment in zip(SOURCES, translations, alignments, strict=True):
        weights = alignment["weights"]
        assert alignment["source_tokens"] == list(text)
        assert weights.shape == (len(alignment["output_tokens"]), len(text))
        assert "".join(alignment["output_tokens"]).replace("[END]", "") == translation
        assert 1 <= weights.shape[0] <= 6
        # Each row is a distribution over the real source tokens (padding gets nothing).
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)


def test_alignment_plot_is_a_png_with_readable_labels(tmp_path):
    translator = Translator(decoder="luong")
    path = tmp_path / "alignment.png"
    figure = plot_alignment(translator, "3 March 1987", path=path, expected="1987-03-03")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    axes = figure.axes[0]
    labels = [t.get_text() for t in axes.get_xticklabels()]
    # A space is spelled out: the "␣" of before read as the letter u.
    assert labels == ["3", "space", "M", "a", "r", "c", "h", "space", "1", "9", "8", "7"]
    assert axes.get_xlabel() and axes.get_ylabel()
    # The untrained model's output is not the reference: the title says so.
    assert "wrong, expected '1987-03-03'" in axes.get_title()
    colorbar = figure.axes[1]
    assert colorbar.get_ylabel() == "attention weight"


_LOAD_AND_TRANSLATE = """
import json, sys
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
texts = tf.constant(json.loads(sys.argv[2]))
by_method = [t.decode("utf-8") for t in loaded.translate(texts).numpy()]
by_signature = loaded.signatures["translate"](texts)
(output,) = by_signature.values()
print(json.dumps([by_method, [t.decode("utf-8") for t in output.numpy()]]))
"""


@pytest.mark.parametrize(
    "kwargs, beam_width",
    [
        # Greedy search's SavedModel is served for every decoder in tests/test_journeys.py.
        ({"decoder": "transformer"}, 2),
        ({"decoder": "luong", "readout": "residual"}, 2),
    ],
)
def test_string_savedmodel_translates_raw_strings_like_python(kwargs, beam_width, tmp_path):
    # Untrained is enough: the artifact must reproduce whatever the Python model says.
    train = translation_data.dates(400, seed=5)
    translator = Translator.from_pairs(train, split="char", units=16, **kwargs)
    texts = [*SOURCES, "", "unknown ✓ tokens"]
    expected = translator.translate(texts, beam_width=beam_width)
    translator.export_translate(tmp_path / "translator", beam_width=beam_width)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOAD_AND_TRANSLATE,
            str(tmp_path / "translator"),
            json.dumps(texts),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=240,
    )
    by_method, by_signature = json.loads(result.stdout.strip().splitlines()[-1])
    assert by_method == expected
    assert by_signature == expected


def test_keras_file_round_trip_keeps_vocabularies_and_translations(tmp_path):
    pairs = [("hello world !", "bonjour le monde !"), ("good night", "bonne nuit")]
    translator = Translator.from_pairs(pairs, decoder="bahdanau", cell="lstm", units=8)
    assert "!" in translator.target_vocabulary and "bonjour" in translator.target_vocabulary
    path = tmp_path / "translator.keras"
    translator.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.target_vocabulary == translator.target_vocabulary
    assert loaded.translate(["hello world"], beam_width=2) == translator.translate(
        ["hello world"], beam_width=2
    )


ATTENTIONS = ["none", *layers.available()]


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_every_decoder_builds_with_every_attention(decoder, attention):
    cell = ("gru", "lstm")[ATTENTIONS.index(attention) % 2]  # both cells, half the builds
    if decoder == "transformer" and attention == "none":
        with pytest.raises(ValueError, match=r"attention='none' needs a recurrent decoder"):
            Translator(decoder=decoder, attention=attention)
        return
    translator = zoo.create_model(
        "translator", decoder=decoder, attention=attention, cell=cell, units=8, embedding_dim=4
    )
    x, _ = Translator.example_batch(batch_size=2)
    logits = translator(x)
    assert tuple(logits.shape) == (
        2,
        x["target_in"].shape[1],
        4 + len(translator.target_vocabulary),
    )
    assert np.all(np.isfinite(np.asarray(logits)))


def test_residual_readout_learns_and_round_trips_through_a_keras_file(tmp_path):
    x, y = Translator.example_batch(batch_size=16, seed=3)
    translator = Translator(decoder="luong", readout="residual", units=16, embedding_dim=16)
    weights = {v.path for v in translator.trainable_variables}
    # LayerNorm(s_t + c_t) replaces tanh(W_c [c_t; s_t]): a norm, and no combine matrix.
    assert {"decoder/readout_norm/gamma", "decoder/readout_norm/beta"} <= weights
    assert not any("combine" in w for w in weights)
    before = [np.array(v) for v in translator.trainable_variables]
    losses = translator.fit(x, y, batch_size=16, epochs=15, verbose=0).history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses
    for var, old in zip(translator.trainable_variables, before, strict=True):
        assert not np.array_equal(np.asarray(var), old), f"{var.path} got no update"

    path = tmp_path / "residual.keras"
    translator.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_config()["readout"] == "residual"
    np.testing.assert_allclose(
        np.asarray(loaded.predict(x, verbose=0)), np.asarray(translator.predict(x, verbose=0))
    )
    # The search steps one token at a time through the readout; 4 steps are enough to compare.
    for beam_width in (1, 3):
        assert loaded.translate(SOURCES, beam_width=beam_width, max_length=4) == (
            translator.translate(SOURCES, beam_width=beam_width, max_length=4)
        )


def test_readout_choice_changes_the_luong_model_and_is_none_elsewhere():
    x, _ = Translator.example_batch(batch_size=2)
    keras.utils.set_random_seed(0)
    attentional = Translator(decoder="luong", units=8, embedding_dim=8)
    keras.utils.set_random_seed(0)
    residual = Translator(decoder="luong", readout="residual", units=8, embedding_dim=8)
    assert attentional.get_config()["readout"] == "attentional"
    assert residual.get_config()["readout"] == "residual"
    assert Translator(decoder="bahdanau", units=8).get_config()["readout"] is None
    assert not np.allclose(np.asarray(attentional(x)), np.asarray(residual(x)))


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_residual_readout_builds_with_every_attention(attention):
    translator = Translator(
        decoder="luong", readout="residual", attention=attention, units=8, embedding_dim=4
    )
    x, _ = Translator.example_batch(batch_size=2)
    logits = np.asarray(translator(x))
    assert logits.shape == (2, x["target_in"].shape[1], 4 + len(translator.target_vocabulary))
    assert np.all(np.isfinite(logits))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"decoder": "gru"}, r"decoder must be one of .* Received: decoder='gru'"),
        (
            {"readout": "concat"},
            r"readout must be one of \('attentional', 'residual'\). Received: readout='concat'",
        ),
        (
            {"decoder": "bahdanau", "readout": "residual"},
            r"readout applies to the Luong decoder only .* Received: readout='residual', "
            r"decoder='bahdanau'",
        ),
        (
            {"decoder": "transformer", "readout": "attentional"},
            r"Received: readout='attentional', decoder='transformer'",
        ),
        ({"cell": "rnn"}, r"Received: cell='rnn'"),
        ({"attention": "nope"}, r"Unknown attention 'nope'"),
        ({"units": 0}, r"units must be a positive integer. Received: units=0"),
        ({"source_split": "bpe"}, r"Received: split='bpe'"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Translator(**kwargs)


def test_bad_search_arguments_name_the_argument():
    translator = Translator(decoder="transformer", max_target_length=5)
    with pytest.raises(ValueError, match=r"Received: beam_width=0"):
        translator.translate("3 March 1987", beam_width=0)
    with pytest.raises(ValueError, match=r"Received: max_length=9, max_target_length=5"):
        translator.translate("3 March 1987", max_length=9)
