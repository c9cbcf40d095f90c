"""Each score against a NumPy reference written from its formula, and against Keras built-ins."""

import math

import keras
import numpy as np
import pytest
from layer_harness import TQ, TV, lengths_mask, make_inputs, make_layer, splits_heads

from attention_zoo import layers


def _softmax(logits, mask=None):
    if mask is not None:
        logits = np.where(mask, logits, -np.inf)
    logits = logits - logits.max(-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(-1, keepdims=True)


def _weights(layer):
    return {v.name: np.asarray(v) for v in layer.weights}


# Logits (B, Tq, Tv) from each score's formula, with the layer's weights as NumPy
# arrays. A variant that is not here has its hand-computed case in its own test file.
REFERENCES = {
    "dot": lambda w, q, k: np.einsum("bqd,bkd->bqk", q, k),
    "scaled_dot": lambda w, q, k: np.einsum("bqd,bkd->bqk", q, k) / math.sqrt(q.shape[-1]),
    "bilinear": lambda w, q, k: np.einsum("bqd,de,bke->bqk", q, w["kernel"], k),
    "additive": lambda w, q, k: (
        np.tanh((q @ w["query_kernel"])[:, :, None, :] + (k @ w["key_kernel"])[:, None, :, :])
        @ w["score_vector"]
    ),
    "mlp": lambda w, q, k: np.einsum("bqd,bkd->bqk", q, np.tanh(k @ w["kernel"] + w["bias"])),
    "gaussian_kernel": lambda w, q, k: (
        -0.5 * (((q[:, :, None, :] - k[:, None, :, :]) * w["width"]) ** 2).sum(-1)
    ),
}


def _np_scores(name, layer, q, k):
    return REFERENCES[name](_weights(layer), q, k)


SINGLE_HEAD = [name for name in layers.available() if not splits_heads(name)]


def test_every_reference_is_a_registered_score():
    assert set(REFERENCES) <= set(SINGLE_HEAD)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_single_head_scores_match_numpy(name, rng):
    layer = make_layer(name)
    query, value = make_inputs(rng)
    key = rng.normal(size=value.shape).astype("float32")
    layer(query, value, key)
    # Non-trivial weights, so that a score that ignores one of them fails.
    layer.set_weights([rng.normal(size=w.shape).astype("float32") * 0.5 for w in layer.weights])
    v_mask = lengths_mask([TV, 4], TV)
    out, w = layer(query, value, key, value_mask=v_mask, return_attention_scores=True)
    expected_w = _softmax(_np_scores(name, layer, query, key), v_mask[:, None, :])
    np.testing.assert_allclose(np.asarray(w), expected_w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out), expected_w @ value, rtol=1e-5, atol=1e-5)


def test_gaussian_kernel_is_nadaraya_watson(rng):
    x_train = np.sort(rng.uniform(0, 5, size=40)).astype("float32")
    y_train = (2 * np.sin(x_train) + x_train**0.8).astype("float32")
    x_test = np.linspace(0, 5, 9, dtype="float32")
    layer = layers.GaussianKernelAttention(trainable=False)
    y_hat = layer(x_test[None, :, None], y_train[None, :, None], key=x_train[None, :, None])
    kernel = np.exp(-0.5 * (x_test[:, None] - x_train[None, :]) ** 2)
    expected = (kernel * y_train).sum(1) / kernel.sum(1)
    np.testing.assert_allclose(np.asarray(y_hat)[0, :, 0], expected, rtol=1e-5, atol=1e-5)
    assert layer.trainable_variables == []


@pytest.mark.parametrize("use_causal_mask", [False, True])
def test_dot_matches_keras_attention(rng, use_causal_mask):
    query, value = make_inputs(rng, q_len=TV)
    v_mask = lengths_mask([TV, 3], TV)
    ours = layers.DotAttention()(query, value, value_mask=v_mask, use_causal_mask=use_causal_mask)
    theirs = keras.layers.Attention()(
        [query, value], mask=[None, v_mask], use_causal_mask=use_causal_mask
    )
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-5)


def test_scaled_dot_matches_keras_attention_with_copied_scale(rng):
    query, value = make_inputs(rng)
    v_mask = lengths_mask([TV, 3], TV)
    keras_layer = keras.layers.Attention(use_scale=True)
    keras_layer([query, value])
    keras_layer.scale.assign(1.0 / math.sqrt(query.shape[-1]))
    theirs = keras_layer([query, value], mask=[None, v_mask])
    ours = layers.ScaledDotAttention()(query, value, value_mask=v_mask)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-5)


def _copy_into_keras_mha(ours, theirs):
    for part, other in (
        ("query", theirs.query_dense),
        ("key", theirs.key_dense),
        ("value", theirs.value_dense),
        ("output", theirs.output_dense),
    ):
        kernel, bias = getattr(ours, f"{part}_kernel"), getattr(ours, f"{part}_bias")
        other.set_weights([np.asarray(kernel), np.asarray(bias)])


@pytest.mark.parametrize("use_causal_mask", [False, True])
def test_multi_head_matches_keras_multi_head_attention(rng, use_causal_mask):
    query, value = make_inputs(rng, q_len=6, v_len=6, dim=12)
    v_mask = lengths_mask([6, 4], 6)
    ours = layers.MultiHeadAttention(num_heads=3)
    theirs = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4)
    out, w = ours(
        query,
        value,
        value_mask=v_mask,
        use_causal_mask=use_causal_mask,
        return_attention_scores=True,
    )
    theirs(query, value)
    _copy_into_keras_mha(ours, theirs)
    # Fresh weights in ours, then copied across, so the comparison is not of initial values.
    for var in ours.weights:
        var.assign(rng.normal(size=var.shape).astype("float32") * 0.3)
    _copy_into_keras_mha(ours, theirs)
    out, w = ours(
        query,
        value,
        value_mask=v_mask,
        use_causal_mask=use_causal_mask,
        return_attention_scores=True,
    )
    k_out, k_w = theirs(
        query,
        value,
        attention_mask=np.broadcast_to(v_mask[:, None, :], (2, 6, 6)),
        use_causal_mask=use_causal_mask,
        return_attention_scores=True,
    )
    np.testing.assert_allclose(np.asarray(w), np.asarray(k_w), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out), np.asarray(k_out), rtol=1e-5, atol=1e-5)


def test_multi_head_matches_numpy(rng):
    heads, dim = 2, 8
    query, value = make_inputs(rng, dim=dim)
    layer = layers.MultiHeadAttention(num_heads=heads)
    layer(query, value)
    for var in layer.weights:
        var.assign(rng.normal(size=var.shape).astype("float32") * 0.3)
    out, w = layer(query, value, return_attention_scores=True)

    def proj(x, part):
        kernel = np.asarray(getattr(layer, f"{part}_kernel"))
        bias = np.asarray(getattr(layer, f"{part}_bias"))
        return np.einsum("btd,dhk->bhtk", x, kernel) + bias[None, :, None, :]

    q = proj(query, "query")
    k = proj(value, "key")
    v = proj(value, "value")
    expected_w = _softmax(np.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(dim // heads))
    heads_out = expected_w @ v  # (B, H, Tq, dv)
    kernel, bias = np.asarray(layer.output_kernel), np.asarray(layer.output_bias)
    expected = np.einsum("bhqk,hkd->bqd", heads_out, kernel) + bias
    np.testing.assert_allclose(np.asarray(w), expected_w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("score", SINGLE_HEAD)
def test_multi_head_uses_its_score_per_head(score, rng):
    # Head h must weigh like the single-head score on the head's projections, with
    # head h's slice of the score's weights; that score is checked on its own above.
    query, value = make_inputs(rng, q_len=TQ, dim=8)
    kwargs = layers.get_class(score).test_kwargs
    layer = layers.MultiHeadAttention(num_heads=2, score=score, score_kwargs=kwargs)
    layer(query, value)
    # Non-trivial weights, so that a head that ignores its own slice fails.
    for v in layer.head_score.weights:
        v.assign(rng.normal(size=v.shape).astype("float32") * 0.5 + 1.0)
    _, w = layer(query, value, return_attention_scores=True)
    q, k, _ = (np.asarray(x) for x in layer.project(query, value, value))
    for h in range(2):
        head = make_layer(score)
        head(q[:, h], k[:, h])
        head.set_weights([np.asarray(v)[h] for v in layer.head_score.weights])
        _, expected = head(q[:, h], k[:, h], return_attention_scores=True)
        np.testing.assert_allclose(np.asarray(w)[:, h], expected, rtol=1e-5, atol=1e-5)
    assert np.asarray(w).shape == (2, 2, TQ, TV)
