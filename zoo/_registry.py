"""The model registry: `register_model`, `list_models(pattern)`, `create_model(name, **kwargs)`."""

import fnmatch

from attention_zoo.layers import serializable

_MODELS = {}


def register_model(name):
    """Decorator: registers a model builder (a class or a function) under `name`.

    A class is also made Keras-serializable under the `attention_zoo` package.
    """

    def wrap(builder):
        if name in _MODELS:
            raise ValueError(f"Model name already registered. Received: name={name!r}")
        if isinstance(builder, type):
            builder = serializable(builder)
        _MODELS[name] = builder
        return builder

    return wrap


def list_models(pattern="*"):
    """Returns the sorted registered model names matching the shell-style `pattern`."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def create_model(name, **kwargs):
    """Builds the model registered under `name` with `kwargs`."""
    if name not in _MODELS:
        raise ValueError(
            f"Unknown model {name!r}. Known models: {', '.join(list_models()) or '(none)'}. "
            f"Received: name={name!r}"
        )
    return _MODELS[name](**kwargs)
