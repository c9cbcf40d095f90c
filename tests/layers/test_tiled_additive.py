"""The additive score's tiled path (loop over query-row tiles, own gradient) against the direct one.

`additive_logits(..., rows=r)` with several tiles, the last one padded (Tq = 7
is not a multiple of 3 rows per tile), and one query row per tile; layers
through `implementation="tiles"` against `implementation="direct"`.
"""

import keras
import numpy as np
import pytest
from layer_harness import gradients, lengths_mask, plans_taken

from attention_zoo import layers
from attention_zoo.layers import _dispatch, additive_attention

B, TQ, TV, D, UNITS = 2, 7, 5, 8, 6


def logits_and_grads(q, k, v, target, rows=None):
    """Logits of `additive_logits` and the gradients of Σ logits · target w.r.t. q, k and v."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(x) for x in (q, k, v)]

        @tf.function
        def run(q, k, v):
            with tf.GradientTape() as tape:
                tape.watch([q, k, v])
                logits = additive_attention.additive_logits(q, k, v, rows=rows)
                loss = tf.reduce_sum(logits * target)
            return logits, tape.gradient(loss, [q, k, v])

        logits, grads = run(*tensors)
    else:
        import jax

        def loss(q, k, v):
            logits = additive_attention.additive_logits(q, k, v, rows=rows)
            return (logits * target).sum(), logits

        grad_fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))
        (_, logits), grads = grad_fn(q, k, v)
    return [np.asarray(logits)] + [np.asarray(g) for g in grads]


@pytest.mark.parametrize("heads", [1, 3], ids=["one-vector", "vector-per-head"])
@pytest.mark.parametrize("rows", [1, 3], ids=["rows-1", "rows-3-padded"])
def test_tiled_logits_and_gradients_equal_the_direct_ones(rng, heads, rows):
    q = rng.normal(size=(B, heads, TQ, UNITS)).astype("float32")
    k = rng.normal(size=(B, heads, TV, UNITS)).astype("float32")
    v = rng.normal(size=(UNITS,) if heads == 1 else (heads, UNITS)).astype("float32")
    target = rng.normal(size=(B, heads, TQ, TV)).astype("float32")
    direct = logits_and_grads(q, k, v, target)
    tiled = logits_and_grads(q, k, v, target, rows=rows)
    for name, a, b in zip(["logits", "dq", "dk", "dv"], direct, tiled, strict=True):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5, err_msg=name)


def test_tiles_on_a_cpu_the_whole_tensor_on_a_gpu_where_it_fits():
    def plan(q_len, platform, memory=2**40):
        shape = (2, 1, q_len, 1024, 8, 8)
        return _dispatch.choose(shape, width=64, tiles=True, platform=platform, memory=memory)

    small = _dispatch.SCORE_TILE_ELEMENTS // (2 * 1024 * 64)  # query rows under one tile
    assert plan(small, "cpu").path == "direct"
    assert plan(small + 1, "cpu") == _dispatch.Plan("tiles", rows=small)
    assert plan(1024, "gpu") == _dispatch.Plan("direct")  # 0.5 GB of tanh: fits
    # Too large for the device: query blocks, each built whole (no cache to fit on a GPU).
    tight = plan(1024, "gpu", memory=2**30)
    assert tight.path == "blockwise" and tight.rows is None and tight.blocks[0] < 1024


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
    layer = layers.get(name, implementation="direct", **kwargs)
    out = np.asarray(layer(query, value, **call))
    weight_grads, query_grad = gradients(layer, query, value, **call)
    tiled = layers.get(name, implementation="tiles", **kwargs)
    tiled(query, value)
    tiled.set_weights(layer.get_weights())
    plans = plans_taken(monkeypatch)
    tiled_out = np.asarray(tiled(query, value, **call))
    tiled_weight_grads, tiled_query_grad = gradients(tiled, query, value, **call)
    assert plans[-1].path == "tiles" and plans[-1].rows == TQ
    np.testing.assert_allclose(tiled_out, out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tiled_query_grad, query_grad, rtol=1e-5, atol=1e-5)
    for a, b in zip(weight_grads, tiled_weight_grads, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_tiled_path_under_mixed_precision_returns_the_compute_dtype(monkeypatch, rng):
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    reference = np.asarray(layers.AdditiveAttention(units=UNITS)(query, value))
    keras.config.set_dtype_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    plans = plans_taken(monkeypatch)
    out = layers.AdditiveAttention(units=UNITS, implementation="tiles")(query, value)
    assert plans[-1].path == "tiles"
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
    direct = layers.AdditiveAttention(units=UNITS, implementation="direct")
    expected = np.asarray(direct(query, value))
    layer = layers.AdditiveAttention(units=UNITS, implementation="tiles")
    layer(query, value)
    layer.set_weights(direct.get_weights())
    spec = [tf.TensorSpec((None, TQ, D)), tf.TensorSpec((None, TV, D))]
    unknown_batch = tf.function(lambda q, v: layer(q, v), input_signature=spec)
    plans = plans_taken(monkeypatch)
    np.testing.assert_allclose(np.asarray(unknown_batch(query, value)), expected, rtol=1e-5)
    assert plans[-1].path == "tiles"
    xla = tf.function(lambda q, v: layer(q, v), jit_compile=True)
    np.testing.assert_allclose(np.asarray(xla(query, value)), expected, rtol=1e-5, atol=1e-6)
