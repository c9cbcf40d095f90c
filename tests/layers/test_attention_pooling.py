"""AttentionPooling: a learned query over a sequence, with any score, mask-aware."""

import keras
import numpy as np
import pytest
from layer_harness import lengths_mask, splits_heads

from attention_zoo import layers

SCORES = layers.available()


def _pool(score, **kwargs):
    return layers.AttentionPooling(
        score=score, score_kwargs=layers.get_class(score).test_kwargs, **kwargs
    )


@pytest.mark.parametrize("score", SCORES)
def test_pooling_shapes_weights_and_masks(score, rng):
    x = rng.normal(size=(3, 6, 8)).astype("float32")
    mask = lengths_mask([6, 2, 0], 6)
    pool = _pool(score)
    out, w = pool(x, mask=mask, return_attention_scores=True)
    out, w = np.asarray(out), np.asarray(w)
    assert out.shape == (3, 8)
    if splits_heads(score):
        w = w[:, 0]
    assert w.shape == (3, 6)
    np.testing.assert_allclose(w[:2].sum(-1), 1.0, atol=1e-5)
    assert np.all(w[1, 2:] == 0) and np.all(w[2] == 0)
    assert np.all(np.isfinite(out))
    if not splits_heads(score):
        np.testing.assert_allclose(out, np.einsum("bt,btd->bd", w, x), rtol=1e-5, atol=1e-5)
        assert np.all(out[2] == 0)


# Training and a .keras file go through the pooling layer the same way whatever the
# score (each score's own file round trip and fit step are in test_layer_contract):
# the default score, and one whose score_kwargs must survive the file.
@pytest.mark.parametrize("score", ["mlp", "additive"])
def test_pooling_keras_mask_save_and_fit(score, rng, tmp_path):
    ids = rng.integers(1, 30, size=(32, 9))
    ids[:, 6:] = 0
    labels = (ids[:, 0] > 15).astype("float32")
    inputs = keras.Input((9,), dtype="int32")
    x = keras.layers.Embedding(30, 8, mask_zero=True)(inputs)
    pooled = _pool(score, name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(pooled))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    before = model.evaluate(ids, labels, verbose=0)
    model.fit(ids, labels, epochs=3, batch_size=32, verbose=0)
    assert model.evaluate(ids, labels, verbose=0) < before
    expected = model.predict(ids, verbose=0)
    path = tmp_path / "pool.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert loaded.get_layer("pool").get_config() == model.get_layer("pool").get_config()


def test_default_pooling_is_the_han_context_vector(rng):
    x = rng.normal(size=(2, 5, 4)).astype("float32")
    pool = layers.AttentionPooling()
    out, w = pool(x, return_attention_scores=True)
    att = pool.attention
    u = np.asarray(pool.context)[0, 0]
    hidden = np.tanh(x @ np.asarray(att.kernel) + np.asarray(att.bias))
    logits = hidden @ u
    expected_w = np.exp(logits - logits.max(-1, keepdims=True))
    expected_w /= expected_w.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(w), expected_w, rtol=1e-5, atol=1e-6)


def test_pooling_rejects_bad_rank_and_score():
    with pytest.raises(ValueError, match=r"inputs must be a rank-3 tensor.*Received: inputs.shape"):
        layers.AttentionPooling()(np.ones((2, 5), "float32"))
    with pytest.raises(ValueError, match="Unknown attention 'nope'"):
        layers.AttentionPooling(score="nope")
