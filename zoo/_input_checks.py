"""Checks of token ids and class ids handed to `fit`, `predict`, `evaluate` and `call`.

They read concrete values only (NumPy arrays, lists, eager tensors) and return
quietly for anything else: a `tf.data.Dataset`, a generator, a `PyDataset`, or a
symbolic tensor while Keras traces a step. Those reach the model unchecked.
"""

import keras
import numpy as np


def concrete(value):
    """`value` as a NumPy array when it holds numbers now, else None (datasets, tracers)."""
    if value is None or isinstance(value, (dict, str, bytes)):
        return None
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        try:
            array = np.asarray(value)
        except ValueError:  # ragged nesting: leave it to Keras
            return None
        return array if array.dtype != object else None
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        return None
    try:
        return np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:  # a symbolic tensor or a tracer: no value yet
        return None


def _integral(name, array, what):
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(f"{name} must hold integer {what}. Received: {name}.dtype={array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        # Whole floats (a pandas column, np.zeros) are what Keras' own sparse losses accept;
        # a fraction or NaN would be cut to an id silently, so it is refused.
        bad = ~np.isfinite(array) | (array != np.round(array))
        if bad.any():
            position = np.argwhere(bad)[0]
            raise ValueError(
                f"{name} must hold integer {what}; floats are accepted only when they are "
                f"whole numbers. Received: {name}{_index(position)}={array[tuple(position)].item()}"
            )


def _index(position):
    return "[" + ", ".join(str(int(i)) for i in position) + "]"


def _check_range(name, array, size, size_name, what):
    bad = (array < 0) | (array >= size)
    if bad.any():
        position = np.argwhere(bad)[0]
        value = array[tuple(position)]
        value = int(value) if np.isfinite(value) else value
        raise ValueError(
            f"{name} must hold {what} in [0, {size_name}={size}). "
            f"Received: {name}{_index(position)}={value}"
        )


def check_token_ids(name, ids, vocab_size, max_length=None, size_name="vocab_size"):
    """Token ids (B, T): integers in [0, vocab_size), T <= max_length. Returns the array or None."""
    array = concrete(ids)
    if array is None:
        return None
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be token ids of rank 2 (B, T). Received: {name}.shape={array.shape}"
        )
    if max_length is not None and array.shape[1] > max_length:
        raise ValueError(
            f"{name} must have at most {max_length} tokens per row (the position table). "
            f"Received: {name}.shape={array.shape}"
        )
    _integral(name, array, "token ids")
    _check_range(name, array, vocab_size, size_name, "token ids")
    return array


def check_class_ids(name, labels, num_classes, batch=None):
    """Class ids (B,) or (B, 1): integers in [0, num_classes). Returns the array or None."""
    array = concrete(labels)
    if array is None:
        return None
    if array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[1] != 1):
        raise ValueError(
            f"{name} must be class ids of shape (B,) or (B, 1). "
            f"Received: {name}.shape={array.shape}"
        )
    if batch is not None and array.shape[0] != batch:
        raise ValueError(
            f"{name} must have one label per example ({batch}). "
            f"Received: {name}.shape={array.shape}"
        )
    _integral(name, array, "class ids")
    _check_range(name, array, num_classes, "num_classes", "class ids")
    return array


def check_not_empty(name, array):
    if array is not None and array.shape[0] == 0:
        raise ValueError(
            f"{name} must hold at least one example. Received: {name}.shape={array.shape}"
        )


class CheckedInputs:
    """A `keras.Model` mix-in: `fit` and `evaluate` check NumPy / eager inputs first.

    The model defines `_check_data(x, y, x_name, y_name, allow_empty=False)`,
    which raises a ValueError naming the bad input; `validation_data` given as a
    tuple is checked the same way. A `tf.data.Dataset`, generator or `PyDataset`
    is passed on unchecked: its values exist only inside the compiled step.
    """

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, after `_check_data` on `x`, `y` and a tuple `validation_data`."""
        self._check_data(x, y)
        self._check_data(*validation_pair(kwargs), "validation_data[0]", "validation_data[1]")
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.evaluate`, after `_check_data` on `x` and `y`."""
        self._check_data(x, y)
        return super().evaluate(x, y, *args, **kwargs)


def validation_pair(kwargs):
    """`(x, y)` of `fit`'s `validation_data` when given as a tuple, else `(None, None)`."""
    data = kwargs.get("validation_data")
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        return data[0], data[1]
    return None, None
