"""Nadaraya–Watson kernel regression as attention pooling over a memory of training pairs."""

import keras
import numpy as np
from keras import ops

from attention_zoo import layers
from attention_zoo.zoo._registry import register_model


def make_regression_data(n_train=50, n_test=50, noise=0.5, seed=0):
    """The 1-D toy task y = 2 sin x + x^0.8 + noise, x in [0, 5).

    Returns (x_train, y_train, x_test, y_truth), float32 arrays of shape (n,);
    x_train is sorted, y_truth is the noiseless function at x_test.
    """
    rng = np.random.default_rng(seed)
    x_train = np.sort(rng.uniform(0, 5, size=n_train)).astype("float32")

    def f(x):
        return 2 * np.sin(x) + x**0.8

    y_train = (f(x_train) + rng.normal(0.0, noise, size=n_train)).astype("float32")
    x_test = np.linspace(0, 5, n_test, endpoint=False).astype("float32")
    return x_train, y_train, x_test, f(x_test).astype("float32")


@register_model("kernel_regression")
class KernelRegression(keras.Model):
    """Kernel regression as attention: queries attend to a memory of (x, y) training pairs.

    Formula (Gaussian kernel, w the inverse bandwidth):

        f(x) = Σ_i softmax_i(−½ ((x − x_i) w)²) y_i

    With `learn_width=False`, w = 1 stays fixed and this is the non-parametric
    Nadaraya–Watson estimator; with `learn_width=True`, w is trained. While
    training, each query leaves out the memory pairs at its own x (leave-one-out),
    otherwise the best fit would be w → ∞, which just returns the noisy targets.

    Args:
        x_memory: 1-D array of training inputs (the keys).
        y_memory: 1-D array of training targets (the values), same length.
        learn_width: Whether w is trained.
        attention: Registry name of the score; `gaussian_kernel` is the lesson,
            any score with 1-D query and key works.

    Call arguments:
        inputs: Query inputs x of shape (B,) or (B, 1).

    Returns:
        Predictions (B, 1); `attention_weights(x)` gives the weights (B, N).

    Example:

    >>> x_train, y_train, x_test, _ = make_regression_data(n_train=20)
    >>> model = KernelRegression(x_train, y_train, learn_width=False)
    >>> tuple(model.predict(x_test, verbose=0).shape)
    (50, 1)

    References:
        Nadaraya (1964). On Estimating Regression. Watson (1964). Smooth
        Regression Analysis.
    """

    def __init__(
        self,
        x_memory=None,
        y_memory=None,
        learn_width=True,
        attention="gaussian_kernel",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if x_memory is None and y_memory is None:
            x_memory, y_memory, _, _ = make_regression_data()
        x_memory = np.asarray(x_memory, "float32").reshape(-1)
        y_memory = np.asarray(y_memory, "float32").reshape(-1)
        if x_memory.shape != y_memory.shape or x_memory.size == 0:
            raise ValueError(
                "x_memory and y_memory must be non-empty 1-D arrays of the same length. "
                f"Received: x_memory.shape={x_memory.shape}, y_memory.shape={y_memory.shape}"
            )
        self.learn_width = bool(learn_width)
        self.attention_name = layers.canonical_name(attention)
        self.attention = layers.get(self.attention_name, trainable=self.learn_width)
        self.x_memory = self.add_weight(
            name="x_memory",
            shape=x_memory.shape,
            initializer=keras.initializers.Constant(x_memory),
            trainable=False,
        )
        self.y_memory = self.add_weight(
            name="y_memory",
            shape=y_memory.shape,
            initializer=keras.initializers.Constant(y_memory),
            trainable=False,
        )
        self.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")

    def _attend(self, inputs, training=False, return_attention_scores=False):
        queries = ops.reshape(ops.cast(inputs, "float32"), (1, -1, 1))
        keys = ops.reshape(self.x_memory, (1, -1, 1))
        values = ops.reshape(self.y_memory, (1, -1, 1))
        mask = None
        if training:
            mask = ops.not_equal(queries, ops.swapaxes(keys, 1, 2))
        return self.attention(
            queries,
            values,
            keys,
            attention_mask=mask,
            return_attention_scores=return_attention_scores,
        )

    def call(self, inputs, training=False):
        return ops.reshape(self._attend(inputs, training=training), (-1, 1))

    def attention_weights(self, inputs):
        """The attention weights (B, N) of queries `inputs` over the memory."""
        _, weights = self._attend(inputs, return_attention_scores=True)
        return ops.convert_to_numpy(weights)[0]

    @classmethod
    def example_batch(cls, batch_size=4, seed=0):
        x_train, y_train, _, _ = make_regression_data(seed=seed)
        rng = np.random.default_rng(seed)
        idx = rng.choice(x_train.size, size=batch_size, replace=False)
        return x_train[idx], y_train[idx, None]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "x_memory": ops.convert_to_numpy(self.x_memory).tolist(),
                "y_memory": ops.convert_to_numpy(self.y_memory).tolist(),
                "learn_width": self.learn_width,
                "attention": self.attention_name,
            }
        )
        return config
