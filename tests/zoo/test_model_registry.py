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


def test_each_model_is_registered_under_the_snake_case_of_its_class():
    # One name per model: `create_model("soft_glimpse_classifier")` is a SoftGlimpseClassifier.
    from attention_zoo.zoo import _registry

    for name in zoo.list_models():
        cls = _registry._MODELS[name]
        assert isinstance(cls, type), name
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in cls.__name__).lstrip("_")
        assert name == snake, (name, cls.__name__)


def test_keras_registered_names_are_the_class_names():
    # Saved `.keras` files name their classes so: renaming a model must not change it.
    import keras

    from attention_zoo.zoo import _registry

    for name in zoo.list_models():
        cls = _registry._MODELS[name]
        assert keras.saving.get_registered_name(cls) == f"attention_zoo>{cls.__name__}"
