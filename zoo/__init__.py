"""Reference models in which any attention variant plugs in by name.

`create_model(name, **kwargs)` builds one, `list_models(pattern)` lists them.
"""

from attention_zoo.zoo import translation_data
from attention_zoo.zoo._registry import create_model, list_models, register_model
from attention_zoo.zoo.translator import Translator

__all__ = ["Translator", "create_model", "list_models", "register_model", "translation_data"]
