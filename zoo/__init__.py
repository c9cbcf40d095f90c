"""Reference models in which any attention variant plugs in by name.

`create_model(name, **kwargs)` builds one, `list_models(pattern)` lists them.
"""

from attention_zoo.zoo._registry import create_model, list_models, register_model
from attention_zoo.zoo.kernel_regression import KernelRegression, make_regression_data
from attention_zoo.zoo.text_classifier import TextClassifier

__all__ = [
    "KernelRegression",
    "TextClassifier",
    "create_model",
    "list_models",
    "make_regression_data",
    "register_model",
]
