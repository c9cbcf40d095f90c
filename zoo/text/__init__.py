"""The text family: an attention-pooling text classifier, its generated task and its pictures."""

from attention_zoo.zoo.text import text_data, text_plots
from attention_zoo.zoo.text.text_classifier import TextClassifier

__all__ = ["TextClassifier", "text_data", "text_plots"]
