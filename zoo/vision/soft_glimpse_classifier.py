"""The soft-glimpse image classifier: a recurrent core that queries a CNN feature grid."""

import keras
from keras import ops

from attention_zoo import layers as attention_layers
from attention_zoo._validation import check_positive_int
from attention_zoo.zoo._registry import register_model
from attention_zoo.zoo.vision._conv_trunk import check_filters, check_image_shape, conv_trunk
from attention_zoo.zoo.vision._image_classifier import DigitsClassifierDefaults


@register_model("soft_glimpse_classifier")
class SoftGlimpseClassifier(DigitsClassifierDefaults, keras.Model):
    """Classifies an image from N soft glimpses: attention over a grid of CNN features.

    Formula (F the convolutional trunk, P a learned position embedding):

        V     = F(x) W_v + P                  the grid of feature vectors (B, Tv, D)
        s_0   = tanh(W_0 mean_j V_j)          a first glance at the whole grid
        q_t   = W_q s_{t-1}                   the query of step t (B, 1, D)
        c_t   = attention(q_t, V)             any variant of the registry, by name
        s_t   = GRU(c_t, s_{t-1})             the recurrent core, t = 1 .. N
        p     = softmax(W_c s_N)

    The glimpse is soft: the attention weights over the Tv = (H / 2^L) x
    (W / 2^L) grid cells (L = len(filters)) are the "where", differentiable, so
    plain backpropagation trains everything. `attention_maps` returns them per
    step for pictures.

    Args:
        image_shape: Input image shape (H, W, C).
        num_classes: Number of classes.
        attention: Registry name of the attention variant (any key of
            `attention_zoo.layers.available()`, or an alias).
        attention_kwargs: Dict of extra arguments of the attention layer, e.g.
            `{"units": 32}` for `"additive"`, `{"num_heads": 4}` for `"multi_head"`.
        num_steps: Number N of glimpses.
        filters: Filters of the trunk's convolutions, one 3 x 3 convolution and
            2 x 2 max-pooling each.
        units: Size D of the grid vectors, queries and core state.
        learning_rate: Adam learning rate used by the default compile.
        **kwargs: Standard `keras.Model` arguments (`name`, ...).

    Call arguments:
        images: Images (B, H, W, C).
        training: Python bool (dropout in the attention, when configured).

    Returns:
        Class probabilities (B, num_classes).

    Example:

    >>> model = SoftGlimpseClassifier(attention="additive", num_steps=2)
    >>> x, y = SoftGlimpseClassifier.example_batch(batch_size=2)
    >>> tuple(model.predict(x, verbose=0).shape)
    (2, 10)

    References:
        Xu et al. (2015). Show, Attend and Tell: Neural Image Caption Generation
        with Visual Attention (soft attention over a CNN grid).
        Mnih et al. (2014). Recurrent Models of Visual Attention (the glimpse
        loop this model softens).
    """

    def __init__(
        self,
        image_shape=(32, 32, 1),
        num_classes=10,
        attention="scaled_dot",
        attention_kwargs=None,
        num_steps=3,
        filters=(16, 32),
        units=64,
        learning_rate=3e-3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_filters(filters)
        self.image_shape = check_image_shape(image_shape, self.filters)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.num_steps = check_positive_int("num_steps", num_steps)
        self.units = check_positive_int("units", units)
        self.attention_name = attention_layers.canonical_name(attention)
        self.attention_kwargs = dict(attention_kwargs or {})
        self.learning_rate = float(learning_rate)
        self.trunk = conv_trunk(self.filters, name="trunk")
        self.value_projection = keras.layers.Dense(units, name="value_projection")
        self.query_projection = keras.layers.Dense(units, name="query_projection")
        self.attention = attention_layers.get(
            self.attention_name, name="attention", **self.attention_kwargs
        )
        self.initial_state = keras.layers.Dense(units, activation="tanh", name="initial_state")
        self.core = keras.layers.GRUCell(units, name="core")
        self.classifier = keras.layers.Dense(num_classes, activation="softmax", name="classifier")
        self.compile_default()

    @property
    def grid_shape(self):
        """(rows, columns) of the feature grid the core attends over."""
        factor = 2 ** len(self.filters)
        return self.image_shape[0] // factor, self.image_shape[1] // factor

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"images must be a rank-4 tensor (B, H, W, C). Received: images.shape={input_shape}"
            )
        rows, cols = self.grid_shape
        cells = rows * cols
        if not self.trunk.built:
            self.trunk.build((None, *self.image_shape))
        if not self.value_projection.built:
            self.value_projection.build((None, cells, self.filters[-1]))
        if not self.query_projection.built:
            self.query_projection.build((None, self.units))
        self.position_embedding = self.add_weight(
            name="position_embedding",
            shape=(cells, self.units),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )
        if not self.attention.built:
            self.attention.build((None, 1, self.units), (None, cells, self.units))
        if not self.initial_state.built:
            self.initial_state.build((None, self.units))
        if not self.core.built:
            self.core.build((None, self.units))
        if not self.classifier.built:
            self.classifier.build((None, self.units))
        self.built = True

    def _check_images(self, images):
        shape = tuple(images.shape)
        if len(shape) != 4 or any(
            d is not None and d != e for d, e in zip(shape[1:], self.image_shape, strict=True)
        ):
            raise ValueError(
                f"images must have shape (B, {', '.join(map(str, self.image_shape))}) "
                f"(image_shape={self.image_shape}). Received: images.shape={shape}"
            )

    def _glimpses(self, images, training=None):
        self._check_images(images)
        if not self.built:  # `attention_maps` may come before any `__call__`, which builds.
            self.build(tuple(images.shape))
        images = ops.cast(images, self.compute_dtype)
        features = self.trunk(images, training=training)
        batch = ops.shape(features)[0]
        rows, cols = self.grid_shape
        grid = ops.reshape(features, (batch, rows * cols, self.filters[-1]))
        values = self.value_projection(grid) + ops.cast(self.position_embedding, grid.dtype)
        state = self.initial_state(ops.mean(values, axis=1))
        maps = []
        for _ in range(self.num_steps):
            query = ops.expand_dims(self.query_projection(state), 1)
            context, weights = self.attention(
                query, values, return_attention_scores=True, training=training
            )
            state = self.core(ops.squeeze(context, 1), [state], training=training)[0]
            if len(weights.shape) == 4:  # multi-head (B, H, 1, Tv): the mean over heads
                weights = ops.mean(weights, axis=1)
            maps.append(ops.reshape(weights, (batch, rows, cols)))
        return self.classifier(state), ops.stack(maps, axis=1)

    def call(self, images, training=None):
        return self._glimpses(images, training=training)[0]

    def attention_maps(self, images):
        """The attention weights of each step over the grid: NumPy (B, N, rows, cols)."""
        import numpy as np

        return np.asarray(self._glimpses(ops.convert_to_tensor(images), training=False)[1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": self.image_shape,
                "num_classes": self.num_classes,
                "attention": self.attention_name,
                "attention_kwargs": self.attention_kwargs,
                "num_steps": self.num_steps,
                "filters": self.filters,
                "units": self.units,
                "learning_rate": self.learning_rate,
            }
        )
        return config
