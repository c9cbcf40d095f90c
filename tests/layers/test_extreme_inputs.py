"""Inputs at the edges, on every compute path: huge logits, NaN in masked values, empty axes.

Each case once caused a silently wrong answer, a NaN or a framework error:
a masked logit of -1e9 above every valid one, 0 x NaN in the weighted sum, a
float16 score that overflows, a batch mismatch or a list mask reaching the
backend, a division by a zero length in the block sizes.
"""

import keras
import numpy as np
import pytest
from layer_harness import gradients, lengths_mask, make_layer, plans_taken, splits_heads

from attention_zoo import layers

NAMES = layers.available()
MATMUL = [name for name in NAMES if make_layer(name).score_is_matmul()]


def path_layer(monkeypatch, name, path, **kwargs):
    """`name` built so that its calls take `path` (blocks of two queries, two keys)."""
    if path == "blockwise":
        kwargs["block_size"] = 2
        if name in MATMUL:
            kwargs["key_block_size"] = 2
    layer = make_layer(name, implementation=path, **kwargs)
    plans = plans_taken(monkeypatch)
    call = layer.call

    def checked(*args, **kwargs):
        out = call(*args, **kwargs)
        assert plans and plans[-1].path == path
        return out

    layer.call = checked
    return layer


TILED = [name for name in NAMES if make_layer(name).score_tiles(1) is not None]
PATHS = [(name, path) for path in ("direct", "blockwise") for name in NAMES]
PATHS += [(name, path) for path in ("own_backward", "fused") for name in MATMUL]
PATHS += [(name, "tiles") for name in MATMUL + TILED]
PATH_IDS = [f"{name}-{path}" for name, path in PATHS]


@pytest.mark.parametrize("path", ["direct", "blockwise"])
def test_valid_logits_below_minus_1e9_are_not_beaten_by_masked_ones(monkeypatch, path):
    # Logits -1.25e9 and -1.8e9 for the valid keys: the first must take all the weight.
    layer = path_layer(monkeypatch, "gaussian_kernel", path)
    q = np.zeros((1, 1, 1), "float32")
    k = np.array([[[5e4], [6e4], [0.0]]], "float32")
    out = layer(q, k, k, value_mask=[[True, True, False]])
    np.testing.assert_allclose(np.asarray(out), [[[5e4]]], rtol=1e-6)


@pytest.mark.parametrize("path", ["direct", "blockwise", "own_backward", "tiles", "fused"])
def test_dot_logits_below_minus_1e9_keep_their_softmax(monkeypatch, path):
    layer = path_layer(monkeypatch, "dot", path)
    q = np.full((1, 2, 1), -1e5, "float32")
    k = np.array([[[2e4], [1e5], [-1.0]]], "float32")  # logits -2e9, -1e10, masked 1e5
    v = np.array([[[1.0], [2.0], [3.0]]], "float32")
    out = layer(q, v, k, value_mask=np.array([[True, True, False]]))
    np.testing.assert_allclose(np.asarray(out), np.ones((1, 2, 1)), rtol=1e-6)


@pytest.mark.parametrize("name,path", PATHS, ids=PATH_IDS)
def test_nan_and_inf_in_masked_positions_do_not_reach_the_output(monkeypatch, rng, name, path):
    layer = path_layer(monkeypatch, name, path)
    query = rng.normal(size=(2, 5, 8)).astype("float32")
    value = rng.normal(size=(2, 6, 8)).astype("float32")
    value_mask = lengths_mask([4, 6], 6)
    query_mask = lengths_mask([5, 3], 5)
    kwargs = {"value_mask": value_mask, "query_mask": query_mask}
    expected = np.asarray(layer(query, value, **kwargs))
    expected_grads = gradients(layer, query, value, **kwargs)
    bad_value, bad_query = value.copy(), query.copy()
    bad_value[0, 4], bad_value[0, 5, :3] = np.nan, np.inf
    bad_query[1, 4] = np.nan
    out = np.asarray(layer(bad_query, bad_value, **kwargs))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    weight_grads, _ = gradients(layer, bad_query, bad_value, **kwargs)
    for got, want in zip(weight_grads, expected_grads[0], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,path", PATHS, ids=PATH_IDS)
def test_mixed_float16_with_large_inputs_gives_no_nan(monkeypatch, rng, name, path):
    keras.config.set_dtype_policy("mixed_float16")
    layer = path_layer(monkeypatch, name, path)
    x = (rng.normal(size=(2, 5, 8)) * 1e4).astype("float32")
    out = np.asarray(keras.ops.cast(layer(x, x, use_causal_mask=True), "float32"))
    assert np.all(np.isfinite(out))


def test_batch_mismatch_is_a_value_error(rng):
    for name in NAMES:
        layer = make_layer(name)
        query = rng.normal(size=(2, 5, 8)).astype("float32")
        value = rng.normal(size=(3, 6, 8)).astype("float32")
        with pytest.raises(ValueError, match=r"batch size.*query.shape=\(2, 5, 8\)"):
            layer(query, value)
        with pytest.raises(ValueError, match=r"batch size.*key.shape=\(3, 6, 8\)"):
            layer(query, value[:2], value)


@pytest.mark.parametrize("name", NAMES)
def test_a_mask_given_as_a_list_works_like_an_array(name, rng):
    layer = make_layer(name)
    query = rng.normal(size=(2, 5, 8)).astype("float32")
    value = rng.normal(size=(2, 6, 8)).astype("float32")
    mask = lengths_mask([4, 6], 6)
    expected = np.asarray(layer(query, value, value_mask=mask))
    got = np.asarray(layer(query, value, value_mask=mask.tolist()))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"value_mask must have shape.*Received: value_mask"):
        layer(query, value, value_mask=[[True, False], [True]])


@pytest.mark.parametrize("block_size", [None, 2])
@pytest.mark.parametrize("name", NAMES)
def test_empty_queries_or_values(name, block_size, rng):
    layer = make_layer(name, block_size=block_size, implementation="auto")
    query = rng.normal(size=(2, 5, 8)).astype("float32")
    value = rng.normal(size=(2, 6, 8)).astype("float32")
    layer(query, value)
    out = np.asarray(layer(query[:, :0], value))
    assert out.shape == (2, 0, 8)
    out = np.asarray(layer(query, value[:, :0]))
    assert out.shape == (2, 5, 8) and np.all(np.isfinite(out))
    if not splits_heads(name):  # no key to attend to: a zero output, like a fully masked row
        assert np.all(out == 0)
