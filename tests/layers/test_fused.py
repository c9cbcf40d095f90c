"""The fused path (`keras.ops.dot_product_attention`) against the direct path.

On a CPU the op runs its XLA implementation; cuDNN's kernel, which a GPU
would take under JAX in half precision, cannot be run here.
"""

import keras
import numpy as np
import pytest
from layer_harness import gradients, lengths_mask, make_layer, plans_taken, splits_heads

from attention_zoo import layers

B, TQ, TV, D = 2, 7, 6, 8
MATMUL = [name for name in layers.available() if make_layer(name).score_is_matmul()]


def _masks():
    attention_mask = np.random.default_rng(3).random((B, TQ, TV)) < 0.7
    attention_mask[0, 4] = False  # a row that sees nothing
    return {
        "none": {},
        "causal": {"use_causal_mask": True},
        "value_mask": {"value_mask": lengths_mask([3, TV], TV)},
        "all": {
            "query_mask": lengths_mask([TQ, 5], TQ),
            "value_mask": lengths_mask([TV, 0], TV),  # the second example sees nothing
            "attention_mask": attention_mask,
            "use_causal_mask": True,
        },
    }


MASKS = _masks()


@pytest.mark.parametrize("masks", list(MASKS))
@pytest.mark.parametrize("name", MATMUL)
def test_fused_equals_direct_with_masks_and_gradients(monkeypatch, rng, name, masks):
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    direct = make_layer(name, implementation="direct")
    fused = make_layer(name, implementation="fused")
    direct(query, value)
    fused(query, value)
    direct.set_weights([rng.normal(size=w.shape).astype("float32") * 0.5 for w in direct.weights])
    fused.set_weights(direct.get_weights())
    call = MASKS[masks]
    expected = np.asarray(direct(query, value, **call))
    expected_w, expected_q = gradients(direct, query, value, **call)
    plans = plans_taken(monkeypatch)
    got = np.asarray(fused(query, value, **call))
    got_w, got_q = gradients(fused, query, value, **call)
    assert plans and {plan.path for plan in plans} == {"fused"}
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    if masks == "all" and not splits_heads(name):  # rows with no valid key: zeros
        assert np.all(got[0, 4] == 0) and np.all(got[1] == 0)
    for a, b in zip([*got_w, got_q], [*expected_w, expected_q], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_the_fused_path_calls_dot_product_attention_with_a_full_mask(monkeypatch, rng):
    seen = []
    original = keras.ops.dot_product_attention

    def recording(query, key, value, mask=None, is_causal=False, **kwargs):
        seen.append((None if mask is None else tuple(mask.shape), is_causal))
        return original(query, key, value, mask=mask, is_causal=is_causal, **kwargs)

    monkeypatch.setattr(keras.ops, "dot_product_attention", recording)
    layer = make_layer("multi_head", implementation="fused")
    x = rng.normal(size=(B, TQ, D)).astype("float32")
    layer(x, x, value_mask=lengths_mask([3, TQ], TQ))
    layer(x, x, use_causal_mask=True)
    # A padding mask goes in as (B, 1, Tq, Tv), not the broadcast (B, 1, 1, Tv) that
    # cuDNN refuses; a causal mask alone as the kernel's own causal flag.
    assert seen == [((B, 1, TQ, TQ), False), (None, True)]


def test_fused_under_mixed_bfloat16(rng):
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    reference = make_layer("multi_head", implementation="direct")
    expected = np.asarray(reference(query, query, use_causal_mask=True))
    keras.config.set_dtype_policy("mixed_bfloat16")
    layer = make_layer("multi_head", implementation="fused")
    layer(query, query)
    layer.set_weights(reference.get_weights())
    out = layer(query, query, use_causal_mask=True)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    np.testing.assert_allclose(np.asarray(keras.ops.cast(out, "float32")), expected, atol=5e-2)
