"""The attention-layer registry and the serialization decorator shared by the package."""

import keras

PACKAGE = "attention_zoo"

_LAYERS = {}
_ALIASES = {}


def serializable(cls=None, *, name=None):
    """Registers a class with Keras serialization under the `attention_zoo` package.

    Every layer and model of the package goes through this one decorator, so a
    saved `.keras` file loads with plain `keras.saving.load_model` in safe mode.
    """

    def wrap(c):
        return keras.saving.register_keras_serializable(package=PACKAGE, name=name)(c)

    return wrap if cls is None else wrap(cls)


def register(name, aliases=()):
    """Class decorator: adds an attention layer to the registry under `name`.

    The class is also made Keras-serializable. `aliases` are other names that
    `get` accepts for the same class.
    """

    def wrap(cls):
        for key in (name, *aliases):
            if key in _LAYERS or key in _ALIASES:
                raise ValueError(f"Attention name already registered. Received: name={key!r}")
        _LAYERS[name] = serializable(cls)
        for alias in aliases:
            _ALIASES[alias] = name
        cls.registry_name = name
        return cls

    return wrap


def available(include_aliases=False):
    """Returns the sorted registry names of the attention layers."""
    names = list(_LAYERS)
    if include_aliases:
        names += list(_ALIASES)
    return sorted(names)


def canonical_name(name):
    """Resolves an alias to its registry name; raises ValueError for unknown names."""
    if not isinstance(name, str):
        raise ValueError(f"name must be a string. Received: name={name!r}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in _LAYERS:
        raise ValueError(
            f"Unknown attention {name!r}. Known names: {', '.join(available(True))}. "
            f"Received: name={name!r}"
        )
    return key


def get_class(name):
    """Returns the layer class registered under `name` (or one of its aliases)."""
    return _LAYERS[canonical_name(name)]


def get(name, /, **kwargs):
    """Creates the attention layer registered under `name` with `kwargs`.

    Example:

    >>> from attention_zoo import layers
    >>> layer = layers.get("additive", units=16)
    >>> type(layer).__name__
    'AdditiveAttention'
    """
    return get_class(name)(**kwargs)
