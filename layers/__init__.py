"""The attention layer family and its registry.

`get(name, **kwargs)` builds a layer by registry name, `available()` lists the names.
"""

from attention_zoo.layers._registry import available, canonical_name, get, get_class, serializable
from attention_zoo.layers.additive_attention import AdditiveAttention
from attention_zoo.layers.attention_pooling import AttentionPooling
from attention_zoo.layers.base_attention import BaseAttention
from attention_zoo.layers.bilinear_attention import BilinearAttention
from attention_zoo.layers.cosine_attention import CosineAttention
from attention_zoo.layers.dot_attention import DotAttention
from attention_zoo.layers.gaussian_kernel_attention import GaussianKernelAttention
from attention_zoo.layers.mlp_attention import MLPAttention
from attention_zoo.layers.multi_head_attention import MultiHeadAttention
from attention_zoo.layers.scaled_dot_attention import ScaledDotAttention

__all__ = [
    "AdditiveAttention",
    "AttentionPooling",
    "BaseAttention",
    "BilinearAttention",
    "CosineAttention",
    "DotAttention",
    "GaussianKernelAttention",
    "MLPAttention",
    "MultiHeadAttention",
    "ScaledDotAttention",
    "available",
    "canonical_name",
    "get",
    "get_class",
    "serializable",
]
