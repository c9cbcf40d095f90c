"""What the three image models (RAM, soft glimpses, CNN baseline) share."""

import keras


class DigitsClassifierDefaults:
    """Mixin for a `keras.Model` over images: the default compile and the example batch."""

    def compile_default(self):
        """Adam at `self.learning_rate`, sparse cross-entropy on probabilities, accuracy."""
        self.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )

    @classmethod
    def example_batch(cls, batch_size=4, seed=0):
        """A small deterministic batch of built-in digits on a 32 x 32 canvas: (x, y)."""
        from attention_zoo.zoo.vision.image_data import load_digits_canvas

        return load_digits_canvas(batch_size, canvas_size=32, seed=seed)
