"""TextClassifier behaviour: encoders x attention variants, masks, weights, raw-string export."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from attention_zoo import layers, zoo
from attention_zoo.zoo import text_data

VOCAB = len(text_data.task_vocabulary()) + 2


def _tiny(encoder="none", attention="additive", length=16, **kwargs):
    kwargs.setdefault("embed_dim", 8)
    return zoo.create_model(
        "text_classifier",
        vocab_size=VOCAB,
        sequence_length=length,
        encoder=encoder,
        attention=attention,
        **kwargs,
    )


def _padded_batch(length=16, n=6, seed=0):
    """Token ids (n, length) with rows of different lengths, the tail padded with 0."""
    ids, labels = text_data.make_token_task(n, max_length=length, seed=seed)
    return ids, labels


COMBINATIONS = [
    ("none", "none"),
    ("none", "dot"),
    ("none", "gaussian_kernel"),
    ("bigru", "none"),
    ("bigru", "additive"),
    ("bigru", "bilinear"),
    ("transformer", "mlp"),
    ("transformer", "scaled_dot"),
    ("transformer", "multi_head"),
]


@pytest.mark.parametrize("encoder, attention", COMBINATIONS)
def test_encoders_and_attention_variants_build_and_fit(encoder, attention):
    model = _tiny(encoder, attention)
    x, y = _padded_batch(n=16)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    probs = model.predict(x, verbose=0)
    assert probs.shape == (16, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_every_registry_variant_plugs_in():
    x, _ = _padded_batch(n=3)
    for name in layers.available():
        probs = _tiny("none", name).predict(x, verbose=0)
        assert probs.shape == (3, 2) and np.isfinite(probs).all(), name


@pytest.mark.parametrize(
    "encoder, attention",
    [("none", "none"), ("none", "mlp"), ("bigru", "none"), ("bigru", "additive"),
     ("transformer", "multi_head"), ("transformer", "none")],
)  # fmt: skip
def test_padding_does_not_change_predictions(encoder, attention):
    model = _tiny(encoder, attention, length=24)
    ids, _ = _padded_batch(length=16)
    longer = np.pad(ids, ((0, 0), (0, 8)))
    short = model.predict(ids, verbose=0)
    np.testing.assert_allclose(model.predict(longer, verbose=0), short, rtol=1e-5, atol=1e-6)
    # A padded token really is ignored: a real token in its place changes the prediction.
    changed = ids.copy()
    row, col = np.argwhere(ids == 0)[0]
    changed[row, col] = 5
    assert not np.allclose(model.predict(changed, verbose=0)[row], short[row], atol=1e-7)


@pytest.mark.parametrize("attention", ["none", "additive", "mlp", "gaussian_kernel", "multi_head"])
def test_token_weights_sum_to_one_over_valid_tokens(attention):
    model = _tiny("bigru", attention)
    ids, _ = _padded_batch()
    weights = model.token_attention(ids)
    assert weights.shape == ids.shape
    valid = ids != 0
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(weights[~valid] == 0.0)
    assert np.all(weights[valid] > 0.0)


def test_self_attention_maps_per_head():
    model = _tiny("transformer", "mlp", num_heads=2)
    ids, _ = _padded_batch()
    maps = model.self_attention_maps(ids)
    assert maps.shape == (ids.shape[0], 2, ids.shape[1], ids.shape[1])
    valid = ids != 0
    for b in range(ids.shape[0]):
        rows = maps[b][:, valid[b]]  # (H, valid queries, T)
        np.testing.assert_allclose(rows.sum(axis=-1), 1.0, rtol=1e-5)
        assert np.all(maps[b][:, :, ~valid[b]] == 0.0)
        assert np.all(maps[b][:, ~valid[b]] == 0.0)
    with pytest.raises(
        ValueError, match="needs the transformer encoder. Received: encoder='bigru'"
    ):
        _tiny("bigru").self_attention_maps(ids)


def test_raw_text_adapt_vectorize_tokens_and_keras_round_trip(tmp_path):
    texts, labels = text_data.make_text_task(64, max_length=16, seed=0)
    model = _tiny("transformer", "additive", num_heads=2).adapt(texts)
    vocab = model.get_vocabulary()
    assert vocab[:2] == ["", "[UNK]"] and set(vocab[2:]) <= set(text_data.task_vocabulary())
    ids = model.vectorize(["Not GOOD, the plot!", "zzz unseen"])
    assert ids.shape == (2, 16)
    assert model.tokens(["Not GOOD, the plot!", "zzz unseen"]) == [
        ["not", "good", "the", "plot"],
        ["[UNK]", "[UNK]"],
    ]
    model.fit(model.vectorize(texts), labels, epochs=1, verbose=0)
    path = tmp_path / "classifier.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_vocabulary() == vocab
    np.testing.assert_allclose(
        loaded.predict_texts(texts[:5]), model.predict_texts(texts[:5]), rtol=1e-5, atol=1e-6
    )


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="needs TensorFlow")
def test_export_serves_raw_strings_in_a_fresh_process(tmp_path):
    import tensorflow as tf

    texts, labels = text_data.make_text_task(64, max_length=16, seed=0)
    model = _tiny("bigru", "additive").adapt(texts)
    model.fit(model.vectorize(texts), labels, epochs=1, verbose=0)
    queries = ["not good at all", "the movie was GREAT", "unseen words only", texts[3]]
    expected = model.predict_texts(queries)
    model.export(str(tmp_path / "export"), verbose=False)

    served = tf.saved_model.load(str(tmp_path / "export"))
    np.testing.assert_allclose(served.serve(tf.constant(queries)).numpy(), expected, rtol=1e-5)
    ids = model.vectorize(queries)
    np.testing.assert_allclose(served.serve_ids(ids).numpy(), expected, rtol=1e-5)

    # A fresh interpreter with TensorFlow only (no attention_zoo, no Keras import).
    script = textwrap.dedent(
        f"""
        import json, tensorflow as tf
        m = tf.saved_model.load({str(tmp_path / "export")!r})
        out = m.signatures["serving_default"](texts=tf.constant({queries!r}))
        print(json.dumps(next(iter(out.values())).numpy().tolist()))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    fresh = np.array(__import__("json").loads(result.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(fresh, expected, rtol=1e-5)


def test_export_without_vectorizer_is_keras_export(tmp_path):
    import tensorflow as tf

    model = _tiny()
    ids, _ = _padded_batch()
    expected = model.predict(ids, verbose=0)
    model.export(str(tmp_path / "ids"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "ids"))
    np.testing.assert_allclose(reloaded.serve(ids).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"encoder": "lstm"}, r"encoder must be one of .* Received: encoder='lstm'"),
        ({"attention": "nope"}, r"Unknown attention 'nope'"),
        ({"num_classes": 1}, r"num_classes must be at least 2. Received: num_classes=1"),
        ({"embed_dim": 0}, r"embed_dim must be a positive integer. Received: embed_dim=0"),
        ({"dropout": 1.0}, r"dropout must be a float in \[0, 1\). Received: dropout=1.0"),
        (
            {"encoder": "transformer", "embed_dim": 10, "num_heads": 3},
            r"num_heads must divide embed_dim .* num_heads=3, embed_dim=10",
        ),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**kwargs)


def test_text_methods_need_a_vocabulary_and_inputs_fit_the_positions():
    model = _tiny(length=8)
    with pytest.raises(ValueError, match="call model.adapt"):
        model.vectorize(["good"])
    with pytest.raises(ValueError, match=r"at most sequence_length=8 tokens"):
        model.predict(np.ones((2, 12), dtype="int32"), verbose=0)


def test_training_on_the_generated_task_beats_the_untrained_model():
    length = 24
    # With 30% of the key words negated the task is learnt in seconds (at 50%, later).
    x_train, y_train = text_data.make_token_task(2000, length, seed=10, negation_rate=0.3)
    x_test, y_test = text_data.make_token_task(500, length, seed=11, negation_rate=0.3)
    model = _tiny("bigru", "additive", length=length, learning_rate=1e-2)
    # Key words alone give about 0.7 (30% are negated); above 0.85 needs the negations.
    threshold = 0.85

    def accuracy():
        return float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test))

    assert accuracy() < threshold
    model.fit(x_train, y_train, epochs=3, batch_size=32, verbose=0)
    assert accuracy() > threshold


def test_docstring_example_runs():
    import doctest

    from attention_zoo.zoo.text import text_classifier

    result = doctest.testmod(text_classifier, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="string export needs TF")
def test_a_reloaded_model_exports_raw_strings_before_any_call(tmp_path):
    import tensorflow as tf

    texts, labels = text_data.make_text_task(16, max_length=16, seed=0)
    model = _tiny("none", "dot").adapt(texts)
    model.fit(model.vectorize(texts), labels, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    expected = model.predict_texts(texts[:3])

    loaded = keras.saving.load_model(tmp_path / "m.keras")
    loaded.export(str(tmp_path / "export"), verbose=False)  # no predict_texts first
    served = tf.saved_model.load(str(tmp_path / "export"))
    np.testing.assert_allclose(served.serve(tf.constant(texts[:3])).numpy(), expected, rtol=1e-5)


def test_class_names_are_saved_and_name_the_prediction(tmp_path):
    names = ["bad", "neutral", "good"]
    model = _tiny(num_classes=3, class_names=names)
    assert model.get_config()["class_names"] == names
    ids, _ = _padded_batch()
    model.predict(ids, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.class_names == names
    figure = loaded.plot_attention(ids[0])
    probs = loaded.predict(ids[:1], verbose=0)[0]
    assert f"prediction: {names[int(np.argmax(probs))]}" in figure.texts[0].get_text()


@pytest.mark.parametrize(
    "class_names, match",
    [
        ("good", r"class_names must be a list of strings. Received: class_names='good'"),
        (["a", "b", "c"], r"class_names must be 2 strings \(num_classes=2\)"),
        (["a", 1], r"class_names must be 2 strings .* Received: class_names=\['a', 1\]"),
    ],
)
def test_bad_class_names_raise(class_names, match):
    with pytest.raises(ValueError, match=match):
        _tiny(class_names=class_names)


# ------------------------------------------------- bad ids and labels (issue 15, item 16)
def _bad_input_cases():
    ids = np.ones((4, 8), "int32")
    labels = np.array([0, 1, 0, 1])
    too_big = ids.copy()
    too_big[2, 5] = VOCAB
    return [
        (
            "fit",
            (too_big, labels),
            {},
            rf"x must hold token ids in \[0, vocab_size={VOCAB}\)\. "
            rf"Received: x\[2, 5\]={VOCAB}",
        ),
        ("fit", (-ids, labels), {}, r"Received: x\[0, 0\]=-1"),
        (
            "fit",
            (np.ones((4, 9), "int32"), labels),
            {},
            r"x must have at most sequence_length=8 tokens\. Received: x\.shape=\(4, 9\)",
        ),
        (
            "fit",
            (ids, np.array([0, 1, 2, 1])),
            {},
            r"y must hold class ids in \[0, num_classes=2\)\. Received: y\[2\]=2",
        ),
        ("fit", (ids, np.array([0, 1, -1, 1])), {}, r"Received: y\[2\]=-1"),
        (
            "fit",
            (ids, np.array([0, 0.5, 0, 1])),
            {},
            r"y must hold integer class ids; floats are accepted only when they are whole "
            r"numbers\. Received: y\[1\]=0\.5",
        ),
        ("fit", (ids, np.array([0, 1])), {}, r"one label per example \(4\).*y\.shape=\(2,\)"),
        (
            "fit",
            (ids, labels),
            {"validation_data": (ids, np.array([3, 0, 0, 0]))},
            r"Received: validation_data\[1\]\[0\]=3",
        ),
        ("evaluate", (too_big, labels), {}, r"Received: x\[2, 5\]="),
        ("evaluate", (ids, np.array([0, 7, 0, 1])), {}, r"Received: y\[1\]=7"),
        ("predict", (too_big,), {}, r"Received: x\[2, 5\]="),
        ("predict", (np.ones((4, 9), "int32"),), {}, r"Received: x\.shape=\(4, 9\)"),
        ("predict", (np.full((4, 8), 0.5),), {}, r"x must hold integer token ids.*x\[0, 0\]=0\.5"),
        ("__call__", (too_big,), {}, r"inputs must hold token ids .* Received: inputs\[2, 5\]="),
        ("__call__", (np.ones((4, 9), "int32"),), {}, r"Received: inputs\.shape=\(4, 9\)"),
    ]


@pytest.mark.parametrize("method, args, kwargs, match", _bad_input_cases())
def test_bad_ids_and_labels_raise_one_value_error_naming_them(method, args, kwargs, match):
    model = _tiny(length=8)
    model(np.ones((1, 8), "int32"))
    before = [np.array(v) for v in model.weights]
    kwargs = {"verbose": 0, **kwargs} if method != "__call__" else kwargs
    with pytest.raises(ValueError, match=match) as error:
        getattr(model, method)(*args, **kwargs)
    assert "\n" not in str(error.value)
    for weight, old in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(np.asarray(weight), old)


def test_whole_float_labels_train_like_integers_and_empty_predict_is_empty():
    ids, labels = _padded_batch(length=16, n=4)
    outputs = []
    for y in (labels.astype("int32"), labels.astype("float32")):
        keras.utils.set_random_seed(0)
        model = _tiny(length=16)
        outputs.append(model.fit(ids, y, epochs=1, verbose=0).history["loss"])
    assert outputs[0] == pytest.approx(outputs[1])
    empty = model.predict(np.zeros((0, 16), "int32"), verbose=0)
    assert empty.shape == (0, 2) and empty.dtype == np.float32


def test_tf_data_input_is_passed_through_unchecked():
    import tensorflow as tf

    ids, labels = _padded_batch(length=16, n=4)
    model = _tiny(length=16)
    data = tf.data.Dataset.from_tensor_slices((ids, labels)).batch(2)
    assert np.isfinite(model.fit(data, shuffle=False, verbose=0).history["loss"][0])
    assert model.predict(data.map(lambda x, y: x), verbose=0).shape == (4, 2)
