"""The additive score's tiled path (loop over query-row tiles, own gradient) against the direct one.

`_TILE_ELEMENTS` is lowered so that the small shapes here take the tiled path:
several tiles, the last one padded (Tq = 7 is not a multiple of the rows per
tile), and, at one element, one query row per tile.
"""

import keras
import numpy as np
import pytest
from layer_harness import gradients, lengths_mask

from attention_zoo import layers
from attention_zoo.layers import additive_attention

B, TQ, TV, D, UNITS = 2, 7, 5, 8, 6
# Floats per query row of the tanh tensor: B · H · Tv · units (H = 1).
ROW = B * TV * UNITS


def logits_and_grads(q, k, v, target):
    """Logits of `additive_logits` and the gradients of Σ logits · target w.r.t. q, k and v."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(x) for x in (q, k, v)]

        @tf.function
        def run(q, k, v):
            with tf.GradientTape() as tape:
                tape.watch([q, k, v])
                logits = additive_attention.additive_logits(q, k, v)
                loss = tf.reduce_sum(logits * target)
            return logits, tape.gradient(loss, [q, k, v])

        logits, grads = run(*tensors)
    else:
        import jax

        def loss(q, k, v):
            logits = additive_attention.additive_logits(q, k, v)
            return (logits * target).sum(), logits

        grad_fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))
        (_, logits), grads = grad_fn(q, k, v)
    return [np.asarray(logits)] + [np.asarray(g) for g in grads]


def tiles_taken(monkeypatch):
    """Records the rows per tile of every tiled call."""
    taken = []
    tiled = additive_attention._tiled_additive

    def recording(rows):
        taken.append(rows)
        return tiled(rows)

    monkeypatch.setattr(additive_attention, "_tiled_additive", recording)
    return taken


@pytest.mark.parametrize("heads", [1, 3], ids=["one-vector", "vector-per-head"])
@pytest.mark.parametrize("rows", [1, 3], ids=["rows-1", "rows-3-padded"])
def test_tiled_logits_and_gradients_equal_the_direct_ones(monkeypatch, rng, heads, rows):
    q = rng.normal(size=(B, heads, TQ, UNITS)).astype("float32")
    k = rng.normal(size=(B, heads, TV, UNITS)).astype("float32")
    v = rng.normal(size=(UNITS,) if heads == 1 else (heads, UNITS)).astype("float32")
    target = rng.normal(size=(B, heads, TQ, TV)).astype("float32")
    direct = logits_and_grads(q, k, v, target)
    taken = tiles_taken(monkeypatch)
    monkeypatch.setattr(additive_attention, "_TILE_ELEMENTS", rows * ROW * heads)
    tiled = logits_and_grads(q, k, v, target)
    assert taken == [rows]
    for name, a, b in zip(["logits", "dq", "dk", "dv"], direct, tiled, strict=True):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5, err_msg=name)


def test_small_inputs_take_the_direct_path(monkeypatch, rng):
    taken = tiles_taken(monkeypatch)
    q = rng.normal(size=(B, 1, TQ, UNITS)).astype("float32")
    k = rng.normal(size=(B, 1, TV, UNITS)).astype("float32")
    additive_attention.additive_logits(q, k, np.ones(UNITS, "float32"))
    assert taken == []  # B · Tq · Tv · units = 420 floats, far below the tile


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("additive", {"units": UNITS}),
        ("multi_head", {"num_heads": 2, "score": "additive", "score_kwargs": {"units": UNITS}}),
    ],
    ids=["additive", "multi_head-additive"],
)
def test_layer_with_masks_on_the_tiled_path_equals_the_direct_path(monkeypatch, rng, name, kwargs):
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    call = {
        "query_mask": lengths_mask([TQ, 4], TQ),
        "value_mask": lengths_mask([3, TV], TV),
        "use_causal_mask": True,
    }
    layer = layers.get(name, **kwargs)
    out = np.asarray(layer(query, value, **call))
    weight_grads, query_grad = gradients(layer, query, value, **call)
    taken = tiles_taken(monkeypatch)
    monkeypatch.setattr(additive_attention, "_TILE_ELEMENTS", 2 * ROW)
    tiled_out = np.asarray(layer(query, value, **call))
    tiled_weight_grads, tiled_query_grad = gradients(layer, query, value, **call)
    assert taken, "the tiled path was not taken"
    np.testing.assert_allclose(tiled_out, out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tiled_query_grad, query_grad, rtol=1e-5, atol=1e-5)
    for a, b in zip(weight_grads, tiled_weight_grads, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_tiled_path_under_mixed_precision_returns_the_compute_dtype(monkeypatch, rng):
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    reference = np.asarray(layers.AdditiveAttention(units=UNITS)(query, value))
    keras.config.set_dtype_policy("mixed_float16")
    monkeypatch.setattr(additive_attention, "_TILE_ELEMENTS", ROW)
    keras.utils.set_random_seed(0)
    out = layers.AdditiveAttention(units=UNITS)(query, value)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(np.asarray(out, "float32"), reference, atol=1e-2)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="jit_compile and an unknown batch size at trace time are TensorFlow's",
)
def test_tiled_path_under_jit_compile_and_an_unknown_batch_size(monkeypatch, rng):
    import tensorflow as tf

    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    layer = layers.AdditiveAttention(units=UNITS)
    expected = np.asarray(layer(query, value))
    taken = tiles_taken(monkeypatch)
    monkeypatch.setattr(additive_attention, "_TILE_ELEMENTS", 2 * TV * UNITS)
    spec = [tf.TensorSpec((None, TQ, D)), tf.TensorSpec((None, TV, D))]
    unknown_batch = tf.function(lambda q, v: layer(q, v), input_signature=spec)
    np.testing.assert_allclose(np.asarray(unknown_batch(query, value)), expected, rtol=1e-5)
    assert taken == [2]  # the batch size counts as 1: two rows of 1 · Tv · units per tile
    xla = tf.function(lambda q, v: layer(q, v), jit_compile=True)
    np.testing.assert_allclose(np.asarray(xla(query, value)), expected, rtol=1e-5, atol=1e-6)
