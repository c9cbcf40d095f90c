"""The model registry: listing, patterns, unknown names."""

import pytest

from attention_zoo import zoo


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match=r"Unknown model 'no_such_model'.*Received: name="):
        zoo.create_model("no_such_model")


def test_list_models_filters_by_pattern():
    names = zoo.list_models()
    assert names == sorted(names)
    assert zoo.list_models("no_such_*") == []
    for name in names:
        assert zoo.list_models(name) == [name]
