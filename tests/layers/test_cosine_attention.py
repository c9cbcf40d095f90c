"""CosineAttention: the hand-computed score, its temperature, zero vectors, bad arguments."""

import math

import keras
import numpy as np
import pytest
from layer_harness import gradients, lengths_mask

from attention_zoo import layers


def _np_cosine_logits(q, k, temperature):
    qn = q / np.linalg.norm(q, axis=-1, keepdims=True)
    kn = k / np.linalg.norm(k, axis=-1, keepdims=True)
    return temperature * np.einsum("bqd,bkd->bqk", qn, kn)


def _softmax(logits, mask=None):
    if mask is not None:
        logits = np.where(mask, logits, -np.inf)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_weights_are_the_softmax_of_the_scaled_cosine(rng):
    query = rng.normal(size=(2, 3, 4)).astype("float32")
    key = rng.normal(size=(2, 5, 4)).astype("float32")
    value = rng.normal(size=(2, 5, 6)).astype("float32")
    layer = layers.CosineAttention(temperature=3.0)
    mask = lengths_mask([5, 2], 5)
    out, w = layer(query, value, key, value_mask=mask, return_attention_scores=True)
    expected = _softmax(_np_cosine_logits(query, key, 3.0), mask[:, None, :])
    np.testing.assert_allclose(np.asarray(w), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out), expected @ value, rtol=1e-5, atol=1e-5)


def test_the_score_ignores_the_size_of_query_and_key(rng):
    query = rng.normal(size=(1, 3, 4)).astype("float32")
    key = rng.normal(size=(1, 5, 4)).astype("float32")
    layer = layers.CosineAttention()
    _, w = layer(query, key, return_attention_scores=True)
    _, scaled = layer(1e3 * query, key, 1e-3 * key, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(scaled), np.asarray(w), rtol=1e-4, atol=1e-6)


def test_the_temperature_is_learned_as_a_log_and_capped(rng):
    query = rng.normal(size=(1, 2, 4)).astype("float32")
    key = rng.normal(size=(1, 3, 4)).astype("float32")
    layer = layers.CosineAttention(temperature=2.0, max_temperature=5.0)
    layer(query, key)
    (weight,) = layer.trainable_weights
    np.testing.assert_allclose(np.asarray(weight), math.log(2.0), rtol=1e-6)
    weight.assign(math.log(50.0))  # beyond the cap: the score uses 5
    _, w = layer(query, key, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(w), _softmax(_np_cosine_logits(query, key, 5.0)), 1e-5)
    weight.assign(-3.0)  # any log gives a positive temperature
    _, w = layer(query, key, return_attention_scores=True)
    expected = _softmax(_np_cosine_logits(query, key, math.exp(-3.0)))
    np.testing.assert_allclose(np.asarray(w), expected, rtol=1e-5)


def test_a_zero_key_scores_zero_with_finite_gradients(rng):
    query = rng.normal(size=(1, 2, 4)).astype("float32")
    key = rng.normal(size=(1, 3, 4)).astype("float32")
    key[0, 1] = 0.0
    layer = layers.CosineAttention(temperature=2.0)
    _, w = layer(query, key, return_attention_scores=True)
    logits = _np_cosine_logits(query, np.where(key == 0, 1.0, key), 2.0)
    logits[..., 1] = 0.0
    np.testing.assert_allclose(np.asarray(w), _softmax(logits), rtol=1e-5, atol=1e-6)
    weight_grads, query_grad = gradients(layer, query, key)
    assert all(np.all(np.isfinite(g)) for g in [*weight_grads, query_grad])


def test_large_float16_inputs_are_normalized_in_float32(rng):
    # ‖x‖² of these rows is ~1e9, far above float16's 65504.
    keras.config.set_dtype_policy("mixed_float16")
    x = (rng.normal(size=(2, 4, 8)) * 1e4).astype("float32")
    layer = layers.CosineAttention(temperature=2.0)
    _, w = layer(x, x, return_attention_scores=True)
    expected = _softmax(_np_cosine_logits(x.astype("float64"), x.astype("float64"), 2.0))
    np.testing.assert_allclose(np.asarray(w, "float32"), expected, atol=5e-3)


def test_each_head_has_its_own_temperature(rng):
    layer = layers.MultiHeadAttention(num_heads=2, score="cosine")
    x = rng.normal(size=(2, 3, 8)).astype("float32")
    layer(x, x)
    assert tuple(layer.head_score.log_temperature.shape) == (2,)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"temperature": 0},
            r"temperature must be a positive finite number. Received: temperature=0",
        ),  # noqa: E501
        ({"temperature": -1.0}, r"Received: temperature=-1.0"),
        ({"temperature": float("inf")}, r"Received: temperature=inf"),
        ({"temperature": "10"}, r"Received: temperature='10'"),
        ({"max_temperature": True}, r"Received: max_temperature=True"),
        (
            {"temperature": 20.0, "max_temperature": 10.0},
            r"max_temperature must be at least temperature. Received: max_temperature=10.0",
        ),
    ],
)
def test_bad_temperatures_are_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.CosineAttention(**kwargs)


def test_query_and_key_must_have_the_same_size(rng):
    with pytest.raises(ValueError, match=r"query.shape\[-1\]=4, key.shape\[-1\]=6"):
        layers.CosineAttention()(np.ones((1, 2, 4), "float32"), np.ones((1, 3, 6), "float32"))
