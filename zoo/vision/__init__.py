"""The vision family: soft and hard glimpse classifiers, their CNN baseline, data and pictures."""

from attention_zoo.zoo.vision import glimpse_plots, image_data
from attention_zoo.zoo.vision.conv_net_classifier import ConvNetClassifier
from attention_zoo.zoo.vision.glimpse_sensor import GlimpseSensor
from attention_zoo.zoo.vision.recurrent_attention_model import RecurrentAttentionModel
from attention_zoo.zoo.vision.soft_glimpse_classifier import SoftGlimpseClassifier

__all__ = [
    "ConvNetClassifier",
    "GlimpseSensor",
    "RecurrentAttentionModel",
    "SoftGlimpseClassifier",
    "glimpse_plots",
    "image_data",
]
