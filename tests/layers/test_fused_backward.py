"""The direct path's own backward pass for matmul scores against the automatic gradient.

`_FUSED_BACKWARD_ELEMENTS` is set to 0 (always taken) or out of reach (never
taken), and the layer's output and gradients must agree, masks and causal
included, for every registered layer whose score is a matmul.
"""

import numpy as np
import pytest
from layer_harness import gradients, lengths_mask, make_layer

from attention_zoo import layers
from attention_zoo.layers import base_attention

B, TQ, TV, D = 2, 7, 6, 8
MATMUL = [name for name in layers.available() if make_layer(name).score_is_matmul()]


def taken(monkeypatch):
    """Counts the calls of the own-gradient path."""
    calls = []
    attention = base_attention.BaseAttention._matmul_attention

    def recording(self, *args):
        calls.append(type(self).__name__)
        return attention(self, *args)

    monkeypatch.setattr(base_attention.BaseAttention, "_matmul_attention", recording)
    return calls


def test_the_matmul_scores_are_the_dot_family_and_their_multi_head():
    assert {"dot", "scaled_dot", "bilinear", "mlp", "multi_head"} <= set(MATMUL)


@pytest.mark.parametrize("masks", ["none", "lengths-and-causal"])
@pytest.mark.parametrize("name", MATMUL)
def test_own_backward_equals_the_automatic_gradient(monkeypatch, rng, name, masks):
    query = rng.normal(size=(B, TQ, D)).astype("float32")
    value = rng.normal(size=(B, TV, D)).astype("float32")
    call = {}
    if masks != "none":
        call = {
            "query_mask": lengths_mask([TQ, 4], TQ),
            "value_mask": lengths_mask([3, TV], TV),
            "use_causal_mask": True,
        }
    layer = make_layer(name)
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
