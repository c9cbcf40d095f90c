"""The seq2seq family: the translator, its tokenizer, search, export, data and pictures."""

from attention_zoo.zoo.seq2seq import alignment_plots, export, search, translation_data
from attention_zoo.zoo.seq2seq.translator import Translator

__all__ = ["Translator", "alignment_plots", "export", "search", "translation_data"]
