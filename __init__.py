"""attention-zoo: a Keras 3 model zoo for attention variants."""

__version__ = "0.1.0"
