"""The contract every registered attention layer must satisfy, parametrized over the registry."""

import keras
import numpy as np
import pytest
from layer_harness import (
    MULTI_HEAD_SCORES,
    TQ,
    TV,
    functional_model,
    gradients,
    lengths_mask,
    make_inputs,
    make_layer,
    splits_heads,
)

from attention_zoo import layers

NAMES = layers.available()

# Every registry entry, plus multi-head with each single-head score inside.
# (The multi-head layer's own default score is already its plain entry.)
CASES = [(name, {}) for name in NAMES] + [
    (name, {"score": s, "score_kwargs": layers.get_class(s).test_kwargs})
    for name in NAMES
    if splits_heads(name)
    for s in MULTI_HEAD_SCORES
    if s != make_layer(name).score_name
]
CASE_IDS = [name if not kw else f"{name}-{kw['score']}" for name, kw in CASES]


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_config_round_trip(name, kwargs):
    layer = make_layer(name, dropout=0.25, seed=3, **kwargs)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(again) is type(layer)
    assert again.get_config() == config


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_keras_file_round_trip_in_safe_mode(name, kwargs, rng, tmp_path):
    model = functional_model(make_layer(name, **kwargs), return_scores=True)
    query, value = make_inputs(rng)
    expected = model.predict([query, value], verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    got = loaded.predict([query, value], verbose=0)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_symbolic_and_eager_shapes_cross_attention(name, kwargs, rng):
    layer = make_layer(name, **kwargs)
    heads = (layer.num_heads,) if splits_heads(name) else ()
    query, value = make_inputs(rng)  # Tq = 5 != Tv = 7
    out, weights = layer(query, value, return_attention_scores=True)
    assert tuple(out.shape) == (2, TQ, 8)
    assert tuple(weights.shape) == (2, *heads, TQ, TV)

    sym_q = keras.Input((None, 8))
    sym_v = keras.Input((TV, 8))
    sym_out, sym_w = make_layer(name, **kwargs)(sym_q, sym_v, return_attention_scores=True)
    assert tuple(sym_out.shape) == (None, None, 8)
    assert tuple(sym_w.shape) == (None, *heads, None, TV)
    sym_only = make_layer(name, **kwargs)(keras.Input((TQ, 8)), sym_v)
    assert tuple(sym_only.shape) == (None, TQ, 8)


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_every_weight_gets_a_gradient(name, kwargs, rng):
    layer = make_layer(name, **kwargs)
    query, value = make_inputs(rng)
    weight_grads, query_grad = gradients(layer, query, value)
    assert len(weight_grads) == len(layer.trainable_variables)
    for var, grad in zip(layer.trainable_variables, weight_grads, strict=True):
        assert grad is not None, f"no gradient for {var.path}"
        assert np.all(np.isfinite(grad))
        assert np.abs(grad).max() > 0, f"zero gradient for {var.path}"
    assert np.abs(query_grad).max() > 0


@pytest.mark.parametrize("name", NAMES)
def test_one_fit_step_lowers_the_loss(name, rng):
    query_in = keras.Input((TQ, 8))
    value_in = keras.Input((TV, 8))
    hidden = keras.layers.Dense(8)(query_in)
    attended = make_layer(name)(hidden, value_in)
    model = keras.Model([query_in, value_in], keras.layers.Dense(1)(attended))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    query, value = make_inputs(rng, batch=16)
    target = rng.normal(size=(16, TQ, 1)).astype("float32")
    before = model.evaluate([query, value], target, verbose=0)
    model.fit([query, value], target, epochs=1, batch_size=16, verbose=0)
    after = model.evaluate([query, value], target, verbose=0)
    assert after < before


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_mixed_precision(name, kwargs, policy, rng, monkeypatch):
    softmax_dtypes = []  # a masked softmax is computed from its exponentials
    softmax, exp = keras.ops.softmax, keras.ops.exp

    def recording_softmax(x, axis=-1):
        softmax_dtypes.append(keras.backend.standardize_dtype(x.dtype))
        return softmax(x, axis=axis)

    def recording_exp(x):
        softmax_dtypes.append(keras.backend.standardize_dtype(x.dtype))
        return exp(x)

    monkeypatch.setattr(keras.ops, "softmax", recording_softmax)
    monkeypatch.setattr(keras.ops, "exp", recording_exp)
    layer32 = make_layer(name, **kwargs)
    layer16 = make_layer(name, dtype=policy, **kwargs)
    query, value = make_inputs(rng)
    layer32(query, value)
    layer16(query, value)
    layer16.set_weights(layer32.get_weights())
    # The second row of the batch has no valid key: its softmax sees only
    # masked logits, which overflow to -inf (then NaN) unless it runs in float32.
    value_mask = lengths_mask([TV, 0], TV)
    out16, w16 = layer16(query, value, value_mask=value_mask, return_attention_scores=True)
    out32, w32 = layer32(query, value, value_mask=value_mask, return_attention_scores=True)
    compute = keras.backend.standardize_dtype(policy.split("_")[1])
    assert softmax_dtypes and set(softmax_dtypes) == {"float32"}
    assert keras.backend.standardize_dtype(out16.dtype) == compute
    assert keras.backend.standardize_dtype(w16.dtype) == compute
    out16 = np.asarray(keras.ops.cast(out16, "float32"))
    w16 = np.asarray(keras.ops.cast(w16, "float32"))
    assert np.all(np.isfinite(out16)) and np.all(np.isfinite(w16))
    assert np.all(out16[1] == 0) and np.all(w16[1] == 0)
    tol = 5e-2 if policy == "mixed_bfloat16" else 1e-2
    np.testing.assert_allclose(w16, np.asarray(w32), atol=tol)
    np.testing.assert_allclose(out16, np.asarray(out32), atol=5 * tol)
    # Training on a padded batch must not produce NaN gradients either.
    weight_grads, query_grad = gradients(layer16, query, value, value_mask=value_mask)
    for grad in [*weight_grads, query_grad]:
        assert np.all(np.isfinite(np.asarray(grad, "float32")))


@pytest.mark.parametrize("name", NAMES)
def test_jit_compile(name, rng):
    layer = make_layer(name)
    model = functional_model(layer)
    query, value = make_inputs(rng, batch=4)
    eager = np.asarray(model([query, value]))
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    compiled = model.predict([query, value], verbose=0)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-5)
    history = model.fit([query, value], np.zeros_like(eager), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
