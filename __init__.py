"""attention-zoo: a Keras 3 model zoo for attention variants.

`import attention_zoo` registers every layer and model with Keras, so a saved
`.keras` file loads with plain `keras.saving.load_model` after it.
"""

# First: it sets the environment that TensorFlow reads when it is imported.
from attention_zoo import _startup  # noqa: F401

# isort: split
from attention_zoo import layers, zoo

__version__ = "0.1.0"

__all__ = ["layers", "zoo"]
