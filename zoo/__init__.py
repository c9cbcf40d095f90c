"""Reference models in which any attention variant plugs in by name.

`create_model(name, **kwargs)` builds one, `list_models(pattern)` lists them.
"""

from attention_zoo.zoo import translation_data
from attention_zoo.zoo._registry import create_model, list_models, register_model
from attention_zoo.zoo.conv_net_classifier import ConvNetClassifier
from attention_zoo.zoo.glimpse_sensor import GlimpseSensor
from attention_zoo.zoo.kernel_regression import KernelRegression, make_regression_data
from attention_zoo.zoo.recurrent_attention_model import RecurrentAttentionModel
from attention_zoo.zoo.soft_glimpse_classifier import SoftGlimpseClassifier
from attention_zoo.zoo.text_classifier import TextClassifier
from attention_zoo.zoo.translator import Translator

__all__ = [
    "ConvNetClassifier",
    "GlimpseSensor",
    "KernelRegression",
    "RecurrentAttentionModel",
    "SoftGlimpseClassifier",
    "TextClassifier",
    "Translator",
    "create_model",
    "list_models",
    "make_regression_data",
    "register_model",
    "translation_data",
]
