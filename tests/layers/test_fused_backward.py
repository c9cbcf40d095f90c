"""The direct path's own backward pass for matmul scores against the automatic gradient.

`_FUSED_BACKWARD_ELEMENTS` is set to 0 (always taken) or out of reach (never
taken), and the layer's output and gradients must agree, masks and causal
included, for every registered layer whose score is a matmul. The own pass
has two forms, each tested: on whole tensors, and on a CPU in tiles of heads
(`_tiled_matmul_attention`), with one head or several per tile.
"""

import numpy as np
import pytest
from layer_harness import gradients, lengths_mask, make_layer

from attention_zoo import layers
from attention_zoo.layers import base_attention

B, TQ, TV, D = 2, 7, 6, 8
MATMUL = [name for name in layers.available() if make_layer(name).score_is_matmul()]


# How the own pass computes: `_MAX_HEAD_TILE` and `_HEAD_TILE_ELEMENTS` values.
PATHS = {
    "whole_tensors": (0, 2**20),
    "tiles_of_one_head": (2**22, 1),
    "tiles_of_two_heads": (2**22, 2 * TQ * TV),
}


def use_path(monkeypatch, path):
    max_tile, tile = PATHS[path]
    monkeypatch.setattr(base_attention, "_MAX_HEAD_TILE", max_tile)
    monkeypatch.setattr(base_attention, "_HEAD_TILE_ELEMENTS", tile)


def taken(monkeypatch, method="_matmul_attention"):
    """Records the layers that call `method`: by default the own-gradient path."""
    calls = []
    original = getattr(base_attention.BaseAttention, method)

    def recording(self, *args):
        calls.append(type(self).__name__)
        return original(self, *args)

    monkeypatch.setattr(base_attention.BaseAttention, method, recording)
    return calls


def test_the_matmul_scores_are_the_dot_family_and_their_multi_head():
    assert {"dot", "scaled_dot", "bilinear", "mlp", "multi_head"} <= set(MATMUL)


MASKS = {
    "none": {},
    "lengths-and-causal": {
        "query_mask": lengths_mask([TQ, 4], TQ),
        "value_mask": lengths_mask([3, TV], TV),
        "use_causal_mask": True,
    },
    # A row with no valid key, from an attention mask alone.
    "mask_shape-empty-row": {"attention_mask": np.tril(np.ones((B, TQ, TV), bool), -1)},
    # A (B, 1, Tv) mask.
    "mask_shape-keys-only": {"value_mask": lengths_mask([2, TV], TV)},
}


# Every layer with every mask on the tiles (the path a CPU takes; the mask
# shapes other than the first two are `tile_mask`'s cases, named `mask_shape`
# so that the JAX pass of `make test` can leave them to TensorFlow); whole
# tensors (a GPU's path) with a single-head and the multi-head layer; tiles
# of several heads need heads.
CASES = (
    [(name, masks, "tiles_of_one_head") for name in MATMUL for masks in MASKS]
    + [
        (name, masks, "whole_tensors")
        for name in ("dot", "multi_head")
        for masks in ("none", "lengths-and-causal")
    ]
    + [("multi_head", masks, "tiles_of_two_heads") for masks in MASKS]
)


@pytest.mark.parametrize(("name", "masks", "path"), CASES)
def test_own_backward_equals_the_automatic_gradient(monkeypatch, rng, name, masks, path):
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    call = MASKS[masks]
    layer = make_layer(name)
    use_path(monkeypatch, path)
    calls = taken(monkeypatch)
    monkeypatch.setattr(base_attention, "_FUSED_BACKWARD_ELEMENTS", 2**62)
    out = np.asarray(layer(query, value, **call))
    weight_grads, query_grad = gradients(layer, query, value, **call)
    assert calls == []
    monkeypatch.setattr(base_attention, "_FUSED_BACKWARD_ELEMENTS", 0)
    fused_out = np.asarray(layer(query, value, **call))
    fused_weight_grads, fused_query_grad = gradients(layer, query, value, **call)
    assert calls, "the own-gradient path was not taken"
    np.testing.assert_allclose(fused_out, out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fused_query_grad, query_grad, rtol=1e-5, atol=1e-5)
    assert len(fused_weight_grads) == len(weight_grads)
    for fused, auto in zip(fused_weight_grads, weight_grads, strict=True):
        if auto is None:
            assert fused is None
        else:
            np.testing.assert_allclose(fused, auto, rtol=1e-5, atol=1e-5)


def test_dropout_in_training_and_weights_returned_keep_the_automatic_gradient(monkeypatch, rng):
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    monkeypatch.setattr(base_attention, "_FUSED_BACKWARD_ELEMENTS", 0)
    calls = taken(monkeypatch)
    layers.get("scaled_dot", dropout=0.5)(query, query, training=True)
    layers.get("scaled_dot")(query, query, return_attention_scores=True)
    layers.get("additive")(query, query)  # not a matmul score
    assert calls == []
    layers.get("scaled_dot", dropout=0.5)(query, query, training=False)
    assert calls == ["ScaledDotAttention"]


def test_the_threshold_counts_batch_heads_and_both_lengths(monkeypatch):
    import keras

    monkeypatch.setattr(base_attention, "_FUSED_BACKWARD_ELEMENTS", 2 * 3 * 5 * 7)
    layer = layers.get("dot")
    q = keras.ops.zeros((2, 3, 5, 4))
    assert layer._fused_backward(q, keras.ops.zeros((2, 3, 7, 4)), training=True)
    assert not layer._fused_backward(q, keras.ops.zeros((2, 3, 6, 4)), training=True)
    unknown = keras.KerasTensor((None, 3, None, 4))
    assert not layer._fused_backward(unknown, keras.ops.zeros((2, 3, 7, 4)), training=True)


def test_heads_per_tile():
    group = base_attention._head_group
    assert group(8, 1024, 1024, 32) == 1  # a 4 MB head fills a tile
    assert group(8, 256, 256, 32) == 8  # 8 heads of 256 KB
    assert group(12, 512, 512, 32) == 4  # the largest divisor that fits
    assert group(1, 2048, 2048, 128) == 1  # one 16 MB head: still tiled
    assert group(1, 2048, 4096, 32) is None  # too large for a tile
    assert group(1, 1024, 1024, 256) is None  # recomputing the scores costs too much
    assert group(8, None, 1024, 32) is None  # lengths unknown at trace time


def test_the_tiles_are_taken_on_a_cpu_only(monkeypatch):
    """The tiled form runs on a CPU only, where it was measured to pay off."""
    import keras

    calls = taken(monkeypatch, "_tiled_matmul_attention")
    monkeypatch.setattr(base_attention, "_FUSED_BACKWARD_ELEMENTS", 0)
    query = keras.ops.ones((B, TQ, D))
    monkeypatch.setattr(base_attention, "_on_cpu", lambda: False)
    layers.get("dot")(query, query)
    assert calls == []
    monkeypatch.setattr(base_attention, "_on_cpu", lambda: True)
    layers.get("dot")(query, query)
    assert calls == ["DotAttention"]


@pytest.mark.skipif(
    __import__("keras").backend.backend() != "tensorflow",
    reason="a batch size unknown at trace time (tf.function's input_signature) is TensorFlow's",
)
@pytest.mark.parametrize("jit_compile", [False, True])
def test_tiles_with_a_batch_size_unknown_at_trace_time(monkeypatch, rng, jit_compile):
    import tensorflow as tf

    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    mask = lengths_mask([3, TV], TV)
    layer = make_layer("multi_head")
    use_path(monkeypatch, "tiles_of_one_head")
    monkeypatch.setattr(base_attention, "_FUSED_BACKWARD_ELEMENTS", 0)
    expected = np.asarray(layer(query, value, value_mask=mask))
    spec = [
        tf.TensorSpec((None, TQ, D)),
        tf.TensorSpec((None, TV, D)),
        tf.TensorSpec((None, TV), tf.bool),
    ]

    @tf.function(input_signature=spec, jit_compile=jit_compile)
    def step(q, v, m):
        with tf.GradientTape() as tape:
            tape.watch(q)
            out = layer(q, v, value_mask=m)
            total = tf.reduce_sum(out)
        return out, tape.gradient(total, q)

    calls = taken(monkeypatch)
    out, grad = step(query, value, mask)
    assert calls, "the own-gradient path was not taken"
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(base_attention, "_FUSED_BACKWARD_ELEMENTS", 2**62)
    q = tf.constant(query)
    with tf.GradientTape() as tape:
        tape.watch(q)
        total = tf.reduce_sum(layer(q, value, value_mask=mask))
    reference = tape.gradient(total, q)
    np.testing.assert_allclose(grad.numpy(), reference.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", ["whole_tensors", "tiles_of_one_head"])
def test_own_backward_under_mixed_precision(monkeypatch, rng, path):
    import keras

    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    keras.utils.set_random_seed(0)
    reference = make_layer("multi_head")
    expected = np.asarray(reference(query, value))
    weight_grads, query_grad = gradients(reference, query, value)
    keras.config.set_dtype_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    layer = make_layer("multi_head")
    use_path(monkeypatch, path)
    monkeypatch.setattr(base_attention, "_FUSED_BACKWARD_ELEMENTS", 0)
    calls = taken(monkeypatch)
    out = layer(query, value)
    assert calls, "the own-gradient path was not taken"
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(np.asarray(out, "float32"), expected, atol=1e-2)
    mixed_weight_grads, mixed_query_grad = gradients(layer, query, value)
    np.testing.assert_allclose(mixed_query_grad, query_grad, atol=2e-2)
    for mixed, auto in zip(mixed_weight_grads, weight_grads, strict=True):
        np.testing.assert_allclose(np.asarray(mixed, "float32"), auto, atol=5e-2)
