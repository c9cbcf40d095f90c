"""The direct path's own backward pass for matmul scores against the automatic gradient.

`implementation="own_backward"` (whole tensors, a GPU's form) and
`implementation="tiles"` (tiles of heads, a CPU's form) against
`implementation="direct"`: the layer's output and gradients must agree, masks
and causal included, for every registered layer whose score is a matmul.
Single-head layers have one head per tile, `multi_head` (2 heads) two; tiles
of one head out of several are tested on `_tiles.attend` directly.
"""

import keras
import numpy as np
import pytest
from layer_harness import gradients, lengths_mask, make_layer, plans_taken, splits_heads

from attention_zoo import layers
from attention_zoo.layers import _direct, _dispatch, _tiles

B, TQ, TV, D = 2, 7, 6, 8
MATMUL = [name for name in layers.available() if make_layer(name).score_is_matmul()]
SINGLE = [name for name in MATMUL if not splits_heads(name)]


def paired(name, path, **kwargs):
    """A layer forced onto `path` and one on the direct path, with the same weights."""
    direct = make_layer(name, implementation="direct", **kwargs)
    other = make_layer(name, implementation=path, **kwargs)
    x = np.zeros((B, TQ, D), "float32")
    direct(x, x[:, :TV])
    other(x, x[:, :TV])
    other.set_weights(direct.get_weights())
    return direct, other


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
    [
        (name, masks, "tiles_of_one_head")
        for name in MATMUL
        if not splits_heads(name)
        for masks in MASKS
    ]
    + [
        (name, masks, "whole_tensors")
        for name in ("dot", "multi_head")
        for masks in ("none", "lengths-and-causal")
    ]
    + [("multi_head", masks, "tiles_of_two_heads") for masks in MASKS]
)
IMPLEMENTATION = {
    "tiles_of_one_head": "tiles",
    "tiles_of_two_heads": "tiles",
    "whole_tensors": "own_backward",
}


@pytest.mark.parametrize(("name", "masks", "path"), CASES)
def test_own_backward_equals_the_automatic_gradient(monkeypatch, rng, name, masks, path):
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    call = MASKS[masks]
    direct, layer = paired(name, IMPLEMENTATION[path])
    out = np.asarray(direct(query, value, **call))
    weight_grads, query_grad = gradients(direct, query, value, **call)
    plans = plans_taken(monkeypatch)
    fused_out = np.asarray(layer(query, value, **call))
    fused_weight_grads, fused_query_grad = gradients(layer, query, value, **call)
    heads = 2 if splits_heads(name) else 1
    assert plans[-1].path == IMPLEMENTATION[path]
    assert plans[-1].group == (heads if path != "whole_tensors" else None)
    np.testing.assert_allclose(fused_out, out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fused_query_grad, query_grad, rtol=1e-5, atol=1e-5)
    assert len(fused_weight_grads) == len(weight_grads)
    for fused, auto in zip(fused_weight_grads, weight_grads, strict=True):
        if auto is None:
            assert fused is None
        else:
            np.testing.assert_allclose(fused, auto, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("masks", ["none", "lengths-and-causal"])
def test_tiles_of_one_head_out_of_several(rng, masks):
    heads = 3
    q, k, v = (rng.normal(size=(B, heads, n, 4)).astype("float32") for n in (TQ, TV, TV))
    call = MASKS[masks]
    mask = None
    if call:
        query, key = np.zeros((B, TQ, 1)), np.zeros((B, TV, 1))
        mask = _direct.combine_masks(query, key, call["query_mask"], call["value_mask"], None, True)
    target = rng.normal(size=(B, heads, TQ, 4)).astype("float32")

    def run(attend):
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tensors = [tf.constant(x) for x in (q, k, v)]
            with tf.GradientTape() as tape:
                tape.watch(tensors)
                out = attend(*tensors)
                loss = tf.reduce_sum(out * target)
            return [np.asarray(out)] + [np.asarray(g) for g in tape.gradient(loss, tensors)]
        import jax

        def loss(q, k, v):
            out = attend(q, k, v)
            return (out * target).sum(), out

        (_, out), grads = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(q, k, v)
        return [np.asarray(out)] + [np.asarray(g) for g in grads]

    def whole(q, k, v):
        return _direct.attend(q, k, v, _dot, mask, 0.0, None, "float32")[0]

    expected = run(whole)
    got = run(lambda q, k, v: _tiles.attend(q, k, v, mask, 1, "float32"))
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _dot(q, k):
    return keras.ops.matmul(q, keras.ops.swapaxes(k, -1, -2))


def test_dropout_in_training_and_weights_returned_keep_the_automatic_gradient():
    def plan(**kwargs):
        kwargs = {"matmul": True, **kwargs}
        shape = (2, 4, 1024, 1024, 8, 8)
        return _dispatch.choose(shape, platform="gpu", memory=2**40, **kwargs).path

    assert plan() == "own_backward"
    assert plan(dropout=True) == "direct"
    assert plan(weights=True) == "direct"
    assert plan(matmul=False) == "direct"


def test_the_threshold_counts_batch_heads_and_both_lengths():
    def plan(q_len, k_len):
        shape = (2, 3, q_len, k_len, 4, 4)
        return _dispatch.choose(shape, matmul=True, platform="gpu", memory=2**40).path

    rows = -(-_dispatch.OWN_BACKWARD_ELEMENTS // (2 * 3 * 512))  # the fewest that reach it
    assert plan(rows, 512) == "own_backward"
    assert plan(rows - 1, 512) == "direct"
    assert _dispatch.choose((2, 3, None, 512, 4, 4), matmul=True, platform="gpu").path == "direct"


def test_heads_per_tile():
    group = _dispatch._head_group
    assert group(8, 1024, 1024, 32) == 1  # a 4 MB head fills a tile
    assert group(8, 256, 256, 32) == 8  # 8 heads of 256 KB
    assert group(12, 512, 512, 32) == 4  # the largest divisor that fits
    assert group(1, 2048, 2048, 128) == 1  # one 16 MB head: still tiled
    assert group(1, 2048, 4096, 32) is None  # too large for a tile
    assert group(1, 1024, 1024, 256) is None  # recomputing the scores costs too much
    assert group(8, None, 1024, 32) is None  # lengths unknown at trace time
    assert group(1, 2048, 4096, 32, forced=True) == 1  # implementation="tiles"


def test_the_tiles_are_taken_on_a_cpu_only():
    """The tiled form runs on a CPU only, where it was measured to pay off."""
    shape = (2, 8, 1024, 1024, 32, 32)
    cpu = _dispatch.choose(shape, matmul=True, platform="cpu")
    gpu = _dispatch.choose(shape, matmul=True, platform="gpu", memory=2**40, backend="tensorflow")
    assert (cpu.path, cpu.group) == ("tiles", 1)
    assert gpu.path == "own_backward"


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="a batch size unknown at trace time (tf.function's input_signature) is TensorFlow's",
)
@pytest.mark.parametrize("jit_compile", [False, True])
def test_tiles_with_a_batch_size_unknown_at_trace_time(monkeypatch, rng, jit_compile):
    import tensorflow as tf

    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    mask = lengths_mask([3, TV], TV)
    direct, layer = paired("multi_head", "tiles")
    expected = np.asarray(direct(query, value, value_mask=mask))
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

    plans = plans_taken(monkeypatch)
    out, grad = step(query, value, mask)
    assert plans[-1].path == "tiles" and plans[-1].group
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
    q = tf.constant(query)
    with tf.GradientTape() as tape:
        tape.watch(q)
        total = tf.reduce_sum(direct(q, value, value_mask=mask))
    reference = tape.gradient(total, q)
    np.testing.assert_allclose(grad.numpy(), reference.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", ["own_backward", "tiles"])
def test_own_backward_under_mixed_precision(monkeypatch, rng, path):
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    keras.utils.set_random_seed(0)
    reference = make_layer("multi_head", implementation="direct")
    expected = np.asarray(reference(query, value))
    weight_grads, query_grad = gradients(reference, query, value)
    keras.config.set_dtype_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    layer = make_layer("multi_head", implementation=path)
    plans = plans_taken(monkeypatch)
    out = layer(query, value)
    assert plans[-1].path == path
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(np.asarray(out, "float32"), expected, atol=1e-2)
    mixed_weight_grads, mixed_query_grad = gradients(layer, query, value)
    np.testing.assert_allclose(mixed_query_grad, query_grad, atol=2e-2)
    for mixed, auto in zip(mixed_weight_grads, weight_grads, strict=True):
        np.testing.assert_allclose(np.asarray(mixed, "float32"), auto, atol=5e-2)
