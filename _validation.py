"""The argument checks shared by layers, models and experiments: one place, one wording.

Each check raises `ValueError("<name> must be ... Received: <name>=<value>")` and
returns the value, converted where that is safe (a NumPy integer to `int`).
"""

import math
import numbers


def check_int(name, value, minimum=1, allow_none=False):
    """Raises ValueError unless `value` is an integer >= `minimum` (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}. Received: {name}={value!r}")
    return int(value)


def check_positive_int(name, value, allow_none=False):
    """Raises ValueError unless `value` is a positive integer (or None when allowed)."""
    return check_int(name, value, minimum=1, allow_none=allow_none)


def check_rate(name, value):
    """Raises ValueError unless `value` is a float in [0, 1), such as a dropout rate."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_positive_number(name, value):
    """Raises ValueError unless `value` is a finite real number > 0; returns it as a float."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (math.isfinite(value) and value > 0)
    ):
        raise ValueError(f"{name} must be a positive number. Received: {name}={value!r}")
    return float(value)
