"""The layer registry: names, aliases, unknown names."""

import pytest

from attention_zoo import layers

EXPECTED = {"dot", "scaled_dot", "bilinear", "additive", "mlp", "gaussian_kernel", "multi_head"}


def test_available_lists_every_variant():
    assert set(layers.available()) == EXPECTED
    assert {"multiplicative", "general", "bahdanau", "concat"} <= set(layers.available(True))


@pytest.mark.parametrize(
    "alias,cls",
    [
        ("multiplicative", layers.BilinearAttention),
        ("general", layers.BilinearAttention),
        ("bahdanau", layers.AdditiveAttention),
        ("concat", layers.AdditiveAttention),
        ("Scaled-Dot", layers.ScaledDotAttention),
    ],
)
def test_aliases(alias, cls):
    assert type(layers.get(alias)) is cls


def test_get_passes_kwargs_including_name():
    layer = layers.get("additive", units=5, name="my_attention")
    assert layer.units == 5 and layer.name == "my_attention"


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="Unknown attention 'cosine'.*additive.*scaled_dot"):
        layers.get("cosine")
    with pytest.raises(ValueError, match="name must be a string"):
        layers.get(3)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_layer_is_documented(name):
    doc = layers.get_class(name).__doc__
    for section in ("Args:", "Call arguments:", "Returns:", "Example:", "References:"):
        assert section in doc, f"{name} docstring lacks {section}"
