"""Reference models in which any attention variant plugs in by name, one folder per family.

`create_model(name, **kwargs)` builds one, `list_models(pattern)` lists them. The
families: `text` (classifier), `seq2seq` (translator), `vision` (glimpse models),
`regression` (kernel regression); their classes and data modules are re-exported here.
"""

from attention_zoo.zoo._registry import create_model, list_models, register_model
from attention_zoo.zoo.regression import KernelRegression, make_regression_data
from attention_zoo.zoo.seq2seq import Translator, translation_data
from attention_zoo.zoo.text import TextClassifier, text_data
from attention_zoo.zoo.vision import (
    ConvNetClassifier,
    GlimpseSensor,
    RecurrentAttentionModel,
    SoftGlimpseClassifier,
    image_data,
)

__all__ = [
    "ConvNetClassifier",
    "GlimpseSensor",
    "KernelRegression",
    "RecurrentAttentionModel",
    "SoftGlimpseClassifier",
    "TextClassifier",
    "Translator",
    "create_model",
    "image_data",
    "list_models",
    "make_regression_data",
    "register_model",
    "text_data",
    "translation_data",
]
