"""The layer registry: names, aliases, unknown names."""

import pytest

from attention_zoo import layers

# The variants the package has shipped; a new one adds to the registry, none may go.
SHIPPED = {"dot", "scaled_dot", "bilinear", "additive", "mlp", "gaussian_kernel", "multi_head"}


def test_available_lists_every_variant():
    assert SHIPPED <= set(layers.available())
    assert layers.available() == sorted(layers.available())
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
    with pytest.raises(ValueError, match="Unknown attention 'nope'.*additive.*scaled_dot"):
        layers.get("nope")
    with pytest.raises(ValueError, match="name must be a string"):
        layers.get(3)


@pytest.mark.parametrize("name", layers.available())
def test_every_layer_is_documented(name):
    doc = layers.get_class(name).__doc__
    for section in ("Args:", "Call arguments:", "Returns:", "Example:", "References:"):
        assert section in doc, f"{name} docstring lacks {section}"


@pytest.mark.parametrize("name", layers.available())
def test_what_a_variant_declares_builds_it(name):
    # The sweep, the models, the examples and the tests build a variant from these
    # class attributes alone: each must name constructor arguments it accepts.
    cls = layers.get_class(name)
    for arg, choices in cls.search_space.items():
        assert isinstance(choices, tuple) and choices, f"{name}.search_space[{arg!r}]"
        for choice in choices:
            assert getattr(layers.get(name, **{arg: choice}), arg) == choice
    for kwargs in (cls.example_kwargs, cls.test_kwargs, cls.defaults_in_model(16, 2)):
        layer = layers.get(name, **kwargs)
        assert all(getattr(layer, arg) == value for arg, value in kwargs.items())
    assert isinstance(cls.requires_same_dim, bool) and isinstance(cls.splits_heads, bool)
