"""Masks, causality and the attention weights, for every registered layer."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layer_harness import TQ, TV, lengths_mask, make_inputs, make_layer, splits_heads

from attention_zoo import layers

NAMES = layers.available()


def _as_weights(w):
    """Weights as (B, H, Tq, Tv), H = 1 for single-head layers."""
    w = np.asarray(w)
    return w if w.ndim == 4 else w[:, None]


@pytest.mark.parametrize("name", NAMES)
def test_keras_mask_equals_explicit_mask(name, rng):
    vocab, dim = 20, 8
    q_ids = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 1]])
    v_ids = np.array([[1, 2, 3, 4, 0, 0, 0], [5, 6, 0, 0, 0, 0, 0]])
    q_in = keras.Input((TQ,), dtype="int32")
    v_in = keras.Input((TV,), dtype="int32")
    embed = keras.layers.Embedding(vocab, dim, mask_zero=True)
    layer = make_layer(name)
    implicit = layer(embed(q_in), embed(v_in))
    # The query's Keras mask must reach a mask-aware layer after the attention.
    pooled = keras.layers.GlobalAveragePooling1D()(implicit)
    model = keras.Model([q_in, v_in], [implicit, pooled])
    got, got_pooled = model.predict([q_ids, v_ids], verbose=0)

    q_emb = np.asarray(embed(q_ids))
    v_emb = np.asarray(embed(v_ids))
    expected = layer(q_emb, v_emb, query_mask=q_ids != 0, value_mask=v_ids != 0)
    expected = np.asarray(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    valid = (q_ids != 0)[..., None]
    mean_valid = (expected * valid).sum(1) / valid.sum(1)
    np.testing.assert_allclose(got_pooled, mean_valid, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_masked_keys_get_zero_weight_and_rows_sum_to_one(name, rng):
    layer = make_layer(name)
    query, value = make_inputs(rng)
    q_mask = lengths_mask([TQ, 3], TQ)
    v_mask = lengths_mask([4, TV], TV)
    _, w = layer(query, value, query_mask=q_mask, value_mask=v_mask, return_attention_scores=True)
    w = _as_weights(w)
    assert np.all(w[0, :, :, 4:] == 0)
    assert np.all(w[1, :, 3:, :] == 0)  # masked queries
    valid_rows = np.broadcast_to(q_mask[:, None, :], w.shape[:3])
    np.testing.assert_allclose(w.sum(-1)[valid_rows], 1.0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_fully_masked_rows_are_finite_zeros(name, rng):
    layer = make_layer(name)
    query, value = make_inputs(rng)
    attention_mask = np.ones((2, TQ, TV), bool)
    attention_mask[0, 2] = False  # one query row sees nothing
    value_mask = lengths_mask([TV, 0], TV)  # the second example has no valid key
    out, w = layer(
        query,
        value,
        value_mask=value_mask,
        attention_mask=attention_mask,
        return_attention_scores=True,
    )
    out, w = np.asarray(out), _as_weights(w)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(w))
    assert np.all(w[0, :, 2] == 0) and np.all(w[1] == 0)
    if not splits_heads(name):  # the output projection adds its bias to the zero context
        assert np.all(out[0, 2] == 0) and np.all(out[1] == 0)


@pytest.mark.parametrize("name", NAMES)
def test_causal_mask(name, rng):
    layer = make_layer(name)
    x, _ = make_inputs(rng, q_len=6, v_len=6)
    out, w = layer(x, x, use_causal_mask=True, return_attention_scores=True)
    w = _as_weights(w)
    upper = np.triu(np.ones((6, 6), bool), k=1)
    assert np.all(w[..., upper] == 0)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    changed = x.copy()
    changed[:, 4:] = rng.normal(size=changed[:, 4:].shape)
    out2 = layer(changed, changed, use_causal_mask=True)
    np.testing.assert_allclose(np.asarray(out2)[:, :4], np.asarray(out)[:, :4], atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_attention_mask_matches_value_mask(name, rng):
    layer = make_layer(name)
    query, value = make_inputs(rng)
    v_mask = lengths_mask([3, 6], TV)
    a = layer(query, value, value_mask=v_mask)
    b = layer(query, value, attention_mask=np.broadcast_to(v_mask[:, None, :], (2, TQ, TV)))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    lengths=st.lists(st.integers(1, TV), min_size=2, max_size=2),
    seed=st.integers(0, 2**16),
)
def test_padded_values_do_not_change_valid_outputs(name, lengths, seed):
    rng = np.random.default_rng(seed)
    layer = make_layer(name)
    query, value = make_inputs(rng)
    key = rng.normal(size=value.shape).astype("float32")
    v_mask = lengths_mask(lengths, TV)
    out = np.asarray(layer(query, value, key, value_mask=v_mask))
    noisy_value = np.where(v_mask[..., None], value, 100 * rng.normal(size=value.shape))
    noisy_key = np.where(v_mask[..., None], key, 100 * rng.normal(size=key.shape))
    out2 = layer(
        query, noisy_value.astype("float32"), noisy_key.astype("float32"), value_mask=v_mask
    )
    np.testing.assert_allclose(np.asarray(out2), out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_self_attention_is_permutation_equivariant(name, rng):
    layer = make_layer(name)
    x, _ = make_inputs(rng, q_len=6)
    perm = rng.permutation(6)
    out = np.asarray(layer(x, x))
    out_perm = np.asarray(layer(x[:, perm], x[:, perm]))
    np.testing.assert_allclose(out_perm, out[:, perm], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_dropout_in_training_only_and_seeded(name, rng):
    query, value = make_inputs(rng)
    plain = make_layer(name, seed=7)
    dropped = make_layer(name, dropout=0.5, seed=7)
    twin = make_layer(name, dropout=0.5, seed=7)
    reference = np.asarray(plain(query, value))
    dropped(query, value)
    twin(query, value)
    dropped.set_weights(plain.get_weights())
    twin.set_weights(plain.get_weights())
    np.testing.assert_allclose(np.asarray(dropped(query, value, training=False)), reference)
    _, w_train = dropped(query, value, training=True, return_attention_scores=True)
    out_train = np.asarray(twin(query, value, training=True))
    assert not np.allclose(out_train, reference, atol=1e-4)
    # The returned weights are the ones before dropout, so they still sum to one.
    np.testing.assert_allclose(np.asarray(w_train).sum(-1), 1.0, atol=1e-5)
    again = make_layer(name, dropout=0.5, seed=7)
    again(query, value)
    again.set_weights(plain.get_weights())
    np.testing.assert_allclose(np.asarray(again(query, value, training=True)), out_train)
