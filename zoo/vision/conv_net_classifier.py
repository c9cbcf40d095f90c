"""The no-attention baseline of the image-glimpse models: a small CNN classifier."""

import keras
from keras import ops

from attention_zoo._validation import check_positive_int
from attention_zoo.zoo._registry import register_model
from attention_zoo.zoo.vision._conv_trunk import check_filters, check_image_shape, conv_trunk
from attention_zoo.zoo.vision._image_classifier import DigitsClassifierDefaults


@register_model("conv_net_classifier")
class ConvNetClassifier(DigitsClassifierDefaults, keras.Model):
    """A small CNN without attention: the baseline of the glimpse models.

    Formula (F the same convolutional trunk as `SoftGlimpseClassifier`):

        h = relu(W_h · maxpool_{rows, cols}(F(x)))     global max-pooling over the grid
        p = softmax(W_c h)

    It sees the whole image at once: the comparison point for models that
    look at parts of it (the paper's baseline is a 2-layer convnet; this one
    has `len(filters)` convolutions and one hidden dense layer).

    Args:
        image_shape: Input image shape (H, W, C).
        num_classes: Number of classes.
        filters: Filters of the trunk's convolutions, one 3 x 3 convolution and
            2 x 2 max-pooling each.
        units: Size of the hidden dense layer.
        learning_rate: Adam learning rate used by the default compile.
        **kwargs: Standard `keras.Model` arguments (`name`, ...).

    Call arguments:
        images: Images (B, H, W, C).

    Returns:
        Class probabilities (B, num_classes).

    Example:

    >>> model = ConvNetClassifier()
    >>> x, y = ConvNetClassifier.example_batch(batch_size=2)
    >>> tuple(model.predict(x, verbose=0).shape)
    (2, 10)

    References:
        Mnih et al. (2014). Recurrent Models of Visual Attention (its convnet
        baseline). LeCun et al. (1998). Gradient-Based Learning Applied to
        Document Recognition.
    """

    def __init__(
        self,
        image_shape=(32, 32, 1),
        num_classes=10,
        filters=(16, 32),
        units=64,
        learning_rate=1e-3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_filters(filters)
        self.image_shape = check_image_shape(image_shape, self.filters)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.units = check_positive_int("units", units)
        self.learning_rate = float(learning_rate)
        self.trunk = conv_trunk(self.filters, name="trunk")
        self.hidden = keras.layers.Dense(units, activation="relu", name="hidden")
        self.classifier = keras.layers.Dense(num_classes, activation="softmax", name="classifier")
        self.compile_default()

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"images must be a rank-4 tensor (B, H, W, C). Received: images.shape={input_shape}"
            )
        if not self.trunk.built:
            self.trunk.build((None, *self.image_shape))
        if not self.hidden.built:
            self.hidden.build((None, self.filters[-1]))
        if not self.classifier.built:
            self.classifier.build((None, self.units))
        self.built = True

    def call(self, images, training=None):
        features = self.trunk(ops.cast(images, self.compute_dtype), training=training)
        return self.classifier(self.hidden(ops.max(features, axis=(1, 2))))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": self.image_shape,
                "num_classes": self.num_classes,
                "filters": self.filters,
                "units": self.units,
                "learning_rate": self.learning_rate,
            }
        )
        return config
