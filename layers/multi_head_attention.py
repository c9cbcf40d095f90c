"""Multi-head attention with any score of the registry in each head (Vaswani et al., 2017)."""

import keras
from keras import ops

from attention_zoo._validation import check_positive_int
from attention_zoo.layers import _registry
from attention_zoo.layers.base_attention import BaseAttention


@_registry.register("multi_head")
class MultiHeadAttention(BaseAttention):
    """Multi-head attention: H heads of any registered score on learned projections.

    Formula (per head h = 1..H, with the score picked by `score=`):

        q_h = Q W_h^Q,  k_h = K W_h^K,  v_h = V W_h^V     (projections to key_dim)
        head_h = softmax(score(q_h, k_h)) · v_h
        output = concat(head_1, ..., head_H) W^O

    The projection and output weights have the shapes of
    `keras.layers.MultiHeadAttention` ((D, H, key_dim) kernels, (H, key_dim)
    biases, a (H, value_dim, D_out) output kernel), so weights copy across.

    Args:
        num_heads: Positive integer H.
        key_dim: Size of each head for query and key; default Dq / H (then H
            must divide Dq).
        value_dim: Size of each head for the value; default `key_dim`.
        output_dim: Feature size of the output; default Dq.
        score: Registry name of the per-head score (default `"scaled_dot"`).
        score_kwargs: Dict of extra arguments of the score, e.g.
            `{"units": 16}` for `"additive"`.
        use_bias: Whether the projections have biases.
        kernel_initializer: Initializer of the projection kernels.
        bias_initializer: Initializer of the projection biases.
        dropout: Dropout rate on the attention weights, in [0, 1).
        seed: Integer seed of the dropout.
        block_size, key_block_size, implementation: The compute path and
            its blocks (see `BaseAttention`); by default chosen per call.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Call arguments:
        See `BaseAttention`.

    Returns:
        Output (B, Tq, output_dim) and, with `return_attention_scores`, the
        weights (B, H, Tq, Tv).

    Example:

    >>> import numpy as np
    >>> layer = MultiHeadAttention(num_heads=4)
    >>> x = np.random.rand(2, 6, 16).astype("float32")
    >>> out, w = layer(x, x, return_attention_scores=True)
    >>> tuple(out.shape), tuple(w.shape)
    ((2, 6, 16), (2, 4, 6, 6))

    References:
        Vaswani et al. (2017). Attention Is All You Need.
    """

    search_space = {"num_heads": (2, 4)}
    example_kwargs = {"num_heads": 4}
    test_kwargs = {"num_heads": 2}
    splits_heads = True

    @classmethod
    def defaults_in_model(cls, units, num_heads):
        return {"num_heads": num_heads, "key_dim": max(1, units // num_heads)}

    def __init__(
        self,
        num_heads=8,
        key_dim=None,
        value_dim=None,
        output_dim=None,
        score="scaled_dot",
        score_kwargs=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.key_dim = check_positive_int("key_dim", key_dim, allow_none=True)
        self.value_dim = check_positive_int("value_dim", value_dim, allow_none=True)
        self.output_dim = check_positive_int("output_dim", output_dim, allow_none=True)
        self.score_name = _registry.canonical_name(score)
        if self.score_name == self.registry_name:
            raise ValueError(f"score must be a single-head score. Received: score={score!r}")
        self.score_kwargs = dict(score_kwargs or {})
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.head_score = _registry.get(
            self.score_name, dtype=self.dtype_policy, name="head_score", **self.score_kwargs
        )

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        for arg, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            self._check_rank(arg, shape)
        query_dim = query_shape[-1]
        key_dim = self.key_dim
        if key_dim is None:
            if query_dim % self.num_heads:
                raise ValueError(
                    "num_heads must divide the query feature size when key_dim is not "
                    f"given. Received: num_heads={self.num_heads}, query.shape[-1]={query_dim}"
                )
            key_dim = query_dim // self.num_heads
        value_dim = self.value_dim or key_dim
        output_dim = self.output_dim or query_dim
        heads = self.num_heads

        def weight(name, shape, initializer):
            return self.add_weight(name=name, shape=shape, initializer=initializer)

        def projection(name, in_dim, head_dim):
            kernel = weight(f"{name}_kernel", (in_dim, heads, head_dim), self.kernel_initializer)
            bias = None
            if self.use_bias:
                bias = weight(f"{name}_bias", (heads, head_dim), self.bias_initializer)
            return kernel, bias

        self.query_kernel, self.query_bias = projection("query", query_dim, key_dim)
        self.key_kernel, self.key_bias = projection("key", key_shape[-1], key_dim)
        self.value_kernel, self.value_bias = projection("value", value_shape[-1], value_dim)
        self.output_kernel = weight(
            "output_kernel", (heads, value_dim, output_dim), self.kernel_initializer
        )
        self.output_bias = (
            weight("output_bias", (output_dim,), self.bias_initializer) if self.use_bias else None
        )
        self.head_score.build_score(key_dim, key_dim, num_heads=heads)
        self.head_score.built = True
        self.built = True

    def project(self, query, key, value):
        # Straight to the heads-first layout (B, H, T, d) in one einsum each.
        def heads_first(x, kernel, bias):
            x = ops.einsum("btd,dhk->bhtk", x, kernel)
            return x if bias is None else x + ops.expand_dims(bias, 1)

        return (
            heads_first(query, self.query_kernel, self.query_bias),
            heads_first(key, self.key_kernel, self.key_bias),
            heads_first(value, self.value_kernel, self.value_bias),
        )

    def score(self, query, key):
        return self.head_score.score(query, key)

    def prepare_score(self, query, key):
        return self.head_score.prepare_score(query, key)

    def score_prepared(self, query, key):
        return self.head_score.score_prepared(query, key)

    def score_tiles(self, rows):
        return self.head_score.score_tiles(rows)

    def score_elements_per_pair(self):
        return self.head_score.score_elements_per_pair()

    def score_is_matmul(self):
        return self.head_score.score_is_matmul()

    def merge(self, output):
        output = ops.einsum("bhqv,hvd->bqd", output, self.output_kernel)
        return output if self.output_bias is None else output + self.output_bias

    def merge_weights(self, weights):
        return weights

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "output_dim": self.output_dim,
                "score": self.score_name,
                "score_kwargs": self.score_kwargs,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
