"""Bad input gives a ValueError that names the argument and the received value."""

import numpy as np
import pytest
from layer_harness import SAME_DIM, make_inputs, make_layer, splits_heads

from attention_zoo import layers

NAMES = layers.available()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("arg", ["query", "value"])
def test_rank_not_three(name, arg, rng):
    query, value = make_inputs(rng)
    inputs = {"query": query, "value": value}
    inputs[arg] = inputs[arg][:, :, 0]
    with pytest.raises(ValueError, match=rf"{arg} must be a rank-3 tensor.*Received: {arg}.shape"):
        make_layer(name)(inputs["query"], inputs["value"])


@pytest.mark.parametrize("name", SAME_DIM)
def test_feature_sizes_must_match(name, rng):
    query, _ = make_inputs(rng, dim=8)
    _, value = make_inputs(rng, dim=6)
    with pytest.raises(ValueError, match=r"Received: query.shape\[-1\]=8, key.shape\[-1\]=6"):
        make_layer(name)(query, value)


@pytest.mark.parametrize("name", [name for name in NAMES if name not in SAME_DIM])
def test_scores_with_weights_accept_different_feature_sizes(name, rng):
    query, _ = make_inputs(rng, dim=8)
    _, value = make_inputs(rng, dim=6)
    out = make_layer(name)(query, value)
    assert out.shape[-1] == (8 if splits_heads(name) else 6)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "arg,bad_shape",
    [
        ("query_mask", (2, 4)),
        ("value_mask", (2, 5)),
        ("key_mask", (2, 5)),
        ("attention_mask", (2, 5, 5)),
    ],
)
def test_mask_shape_mismatch(name, arg, bad_shape, rng):
    query, value = make_inputs(rng)  # Tq = 5, Tv = 7
    with pytest.raises(ValueError, match=rf"{arg} must have shape.*Received: {arg}.shape"):
        make_layer(name)(query, value, **{arg: np.ones(bad_shape, bool)})


@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_value_mask_is_an_error_even_beside_a_key_mask(name, rng):
    query, value = make_inputs(rng)  # Tv = 7
    good, bad = np.ones((2, 7), bool), np.ones((2, 5), bool)
    with pytest.raises(ValueError, match=r"value_mask must have shape.*value_mask.shape=\(2, 5\)"):
        make_layer(name)(query, value, key_mask=good, value_mask=bad)


def test_heads_must_divide_feature_size(rng):
    query, value = make_inputs(rng, dim=8)
    with pytest.raises(ValueError, match="num_heads=3, query.shape"):
        layers.MultiHeadAttention(num_heads=3)(query, value)
    # With an explicit head size, any number of heads works.
    out = layers.MultiHeadAttention(num_heads=3, key_dim=4)(query, value)
    assert tuple(out.shape) == query.shape


@pytest.mark.parametrize("value", [0, -2, 2.5, None, True])
def test_units_must_be_positive(value):
    with pytest.raises(
        ValueError, match=rf"units must be a positive integer. Received: units={value}"
    ):
        layers.AdditiveAttention(units=value)


@pytest.mark.parametrize("value", [0, -1, 1.5])
def test_heads_must_be_positive(value):
    with pytest.raises(ValueError, match=rf"num_heads must be a positive integer.*={value}"):
        layers.MultiHeadAttention(num_heads=value)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.1"])
def test_dropout_outside_unit_interval(name, rate):
    with pytest.raises(
        ValueError, match=r"dropout must be a float in \[0, 1\). Received: dropout="
    ):
        make_layer(name, dropout=rate)


def test_multi_head_cannot_nest_itself():
    with pytest.raises(ValueError, match="score='multi_head'"):
        layers.MultiHeadAttention(num_heads=2, score="multi_head")
