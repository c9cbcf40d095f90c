"""The Recurrent Attention Model (Mnih et al., 2014): hard glimpses trained by the hybrid loss.

Everything is `keras.ops`: the hybrid loss is a surrogate whose gradient is the paper's, so
plain `model.fit` trains it on every Keras backend.
"""

import types

import keras
import numpy as np
from keras import ops

from attention_zoo._validation import check_positive_float, check_positive_int
from attention_zoo.zoo._registry import register_model
from attention_zoo.zoo.vision._image_classifier import DigitsClassifierDefaults
from attention_zoo.zoo.vision.glimpse_sensor import GlimpseSensor


def _check_image_shape(image_shape):
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape)
    ):
        raise ValueError(
            "image_shape must be three positive integers (H, W, C). "
            f"Received: image_shape={image_shape!r}"
        )
    return tuple(int(d) for d in shape)


@register_model("recurrent_attention_model")
class RecurrentAttentionModel(DigitsClassifierDefaults, keras.Model):
    """The Recurrent Attention Model: a recurrent agent that classifies from a few hard glimpses.

    Formula (one episode of T glimpses; ρ the `GlimpseSensor`, h_{-1} = 0):

        μ_t   = tanh(W_l h_{t-1})                  location network (input not backpropagated)
        l_t   ~ N(μ_t, σ²)  in training,  l_t = μ_t in evaluation and prediction
        b_t   = W_b h_{t-1}                        baseline network (input not backpropagated)
        g_t   = relu(W_g relu(W_ρ ρ(x, l_t)) + W_gl relu(W_ll l_t))     glimpse network
        h_t   = relu(W_hh h_{t-1} + W_hg g_t)      recurrent core
        p     = softmax(W_c h_{T-1})               classifier at the last step

    Hybrid loss (`compute_loss`, so plain `model.fit` trains it on every
    backend), with reward R = 1 when the final label is right, else 0:

        loss = CE(y, p)                                   classifier, core, glimpse networks
             − mean_B Σ_t log N(l_t; μ_t, σ²) · sg(R − b_t)  REINFORCE: location network
             + mean_B,t (R − b_t)²                         the learned baseline

    sg is `stop_gradient`: the REINFORCE term is a surrogate whose gradient is
    the policy gradient, the advantage R − b_t a constant weight, and l_t a
    sample (no gradient). The baseline's bias starts at 1 / num_classes, the
    reward of a random guess. The loss `fit` logs is the total; `evaluate`
    reports the cross-entropy of the deterministic episode.

    Args:
        image_shape: Input image shape (H, W, C).
        num_classes: Number of classes.
        num_glimpses: Number of glimpses T.
        patch_size: Side g of each glimpse patch.
        num_scales: Patches per glimpse (sides g, 2g, 4g, ...).
        glimpse_units: Size of the glimpse and location embeddings (paper: 128).
        hidden_units: Size of the glimpse feature g_t and core state h_t (paper: 256).
        location_std: Standard deviation σ of the Gaussian location policy.
        learning_rate: Adam learning rate used by the default compile.
        seed: Integer seed of the location sampling.
        **kwargs: Standard `keras.Model` arguments (`name`, ...).

    Call arguments:
        images: Images (B, H, W, C).
        training: Python bool; locations are sampled only when True.
        return_episode: If True, return what `rollout` returns.

    Returns:
        Class probabilities (B, num_classes).

    Example:

    >>> model = RecurrentAttentionModel(image_shape=(32, 32, 1), num_glimpses=3)
    >>> x, y = RecurrentAttentionModel.example_batch(batch_size=2)
    >>> tuple(model.predict(x, verbose=0).shape)
    (2, 10)

    References:
        Mnih, Heess, Graves, Kavukcuoglu (2014). Recurrent Models of Visual
        Attention. NeurIPS.
    """

    def __init__(
        self,
        image_shape=(32, 32, 1),
        num_classes=10,
        num_glimpses=4,
        patch_size=8,
        num_scales=3,
        glimpse_units=128,
        hidden_units=256,
        location_std=0.15,
        learning_rate=1e-3,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = _check_image_shape(image_shape)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.num_glimpses = check_positive_int("num_glimpses", num_glimpses)
        self.glimpse_units = check_positive_int("glimpse_units", glimpse_units)
        self.hidden_units = check_positive_int("hidden_units", hidden_units)
        self.location_std = check_positive_float("location_std", location_std)
        self.learning_rate = float(learning_rate)
        self.seed = seed
        self.sensor = GlimpseSensor(patch_size, num_scales, name="glimpse_sensor")
        self.sensor.check_image_shape((None, *self.image_shape))
        self.patch_size, self.num_scales = self.sensor.patch_size, self.sensor.num_scales

        def dense(units, name, **kw):
            return keras.layers.Dense(units, name=name, **kw)

        self.glimpse_embedding = dense(glimpse_units, "glimpse_embedding", activation="relu")
        self.location_embedding = dense(glimpse_units, "location_embedding", activation="relu")
        self.glimpse_what = dense(hidden_units, "glimpse_what")
        self.glimpse_where = dense(hidden_units, "glimpse_where", use_bias=False)
        self.core_state = dense(hidden_units, "core_state")
        self.core_input = dense(hidden_units, "core_input", use_bias=False)
        self.location_net = dense(2, "location_net", activation="tanh")
        self.baseline_net = dense(
            1,
            "baseline_net",
            bias_initializer=keras.initializers.Constant(1.0 / num_classes),
        )
        self.classifier = dense(num_classes, "classifier", activation="softmax")
        self.seed_generator = keras.random.SeedGenerator(seed, name="location_seed")
        # The sampled episode of the training call, for `compute_loss` in the same step;
        # a plain namespace, so Keras does not track the tensors.
        self._step = types.SimpleNamespace(episode=None)
        self.compile_default()

    def build(self, input_shape):
        self.sensor.check_image_shape(input_shape)
        g, c = self.patch_size, input_shape[-1]
        shapes = {
            self.sensor: None,
            self.glimpse_embedding: (None, self.num_scales * g * g * c),
            self.location_embedding: (None, 2),
            self.glimpse_what: (None, self.glimpse_units),
            self.glimpse_where: (None, self.glimpse_units),
        }
        for layer in (self.core_state, self.core_input, self.location_net, self.baseline_net):
            shapes[layer] = (None, self.hidden_units)
        shapes[self.classifier] = (None, self.hidden_units)
        # A symbolic pass may reach `rollout` (below) before the sublayers are built.
        for layer, shape in shapes.items():
            if not layer.built:
                layer.build(*((input_shape, (None, 2)) if shape is None else (shape,)))
        self.built = True

    def rollout(self, images, sample=False):
        """Runs one episode.

        Returns:
            `(probabilities, means, locations, baselines)`: (B, num_classes),
            the policy means (B, T, 2), the locations looked at (B, T, 2) and
            the baselines (B, T). Without `sample`, locations = means.
        """
        self.sensor.check_image_shape(images.shape)
        if not self.built:  # `glimpse_locations` reaches here without `__call__`, which builds.
            self.build(tuple(images.shape))
        images = ops.cast(images, self.compute_dtype)
        batch = ops.shape(images)[0]
        glimpse_size = self.num_scales * self.patch_size**2 * images.shape[-1]
        state = ops.zeros((batch, self.hidden_units), self.compute_dtype)
        means, locations, baselines = [], [], []
        for _ in range(self.num_glimpses):
            # The location and baseline networks read the state but do not train it.
            frozen = ops.stop_gradient(state)
            mean = self.location_net(frozen)
            location = mean
            if sample:
                noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
                location = mean + self.location_std * ops.cast(noise, mean.dtype)
            location = ops.clip(ops.stop_gradient(location), -1.0, 1.0)
            glimpse = self.sensor(images, location)
            what = self.glimpse_embedding(ops.reshape(glimpse, (batch, glimpse_size)))
            where = self.location_embedding(location)
            features = ops.relu(self.glimpse_what(what) + self.glimpse_where(where))
            state = ops.relu(self.core_state(state) + self.core_input(features))
            means.append(mean)
            locations.append(location)
            baselines.append(ops.squeeze(self.baseline_net(frozen), -1))
        probabilities = self.classifier(state)
        return (
            probabilities,
            ops.stack(means, axis=1),
            ops.stack(locations, axis=1),
            ops.stack(baselines, axis=1),
        )

    def call(self, images, training=False, return_episode=False):
        episode = self.rollout(images, sample=bool(training))
        if training and not return_episode:
            # `fit` calls the model, then `compute_loss` with its output, in one traced step
            # on every backend: the loss needs the episode behind that output.
            self._step.episode = episode
        return episode if return_episode else episode[0]

    def glimpse_locations(self, images):
        """The policy-mean locations of each glimpse: NumPy (B, T, 2) as (row, column)."""
        return np.asarray(self.rollout(ops.convert_to_tensor(images), sample=False)[2])

    def hybrid_loss(self, x, y, sample_weight=None):
        """The hybrid loss of one sampled episode.

        Returns:
            `(total, probabilities, reward, reinforce, baseline_loss)`: the loss
            that `fit` minimises, the episode's class probabilities, the mean
            reward and the REINFORCE and baseline terms.
        """
        # Through `__call__` (not `rollout`), so that `fit` alone readies the model for export.
        episode = self(x, training=True, return_episode=True)
        return self._episode_loss(x, y, episode, sample_weight)

    def _episode_loss(self, x, y, episode, sample_weight):
        probabilities, means, locations, baselines = episode
        cross_entropy = super().compute_loss(
            x=x, y=y, y_pred=probabilities, sample_weight=sample_weight, training=True
        )
        labels = ops.cast(ops.reshape(y, (-1,)), "int32")
        correct = ops.argmax(probabilities, axis=-1) == labels
        reward = ops.cast(correct, baselines.dtype)[:, None]
        advantage = ops.stop_gradient(reward - baselines)
        # log N(l; μ, σ²) up to a constant; the gradient reaches μ only (l is a sample).
        log_policy = -0.5 * ops.sum(ops.square((locations - means) / self.location_std), axis=-1)
        reinforce = -ops.mean(ops.sum(log_policy * advantage, axis=1))
        baseline_loss = ops.mean(ops.square(reward - baselines))
        total = cross_entropy + reinforce + baseline_loss
        return total, probabilities, ops.mean(reward), reinforce, baseline_loss

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The hybrid loss in training (of the episode behind `y_pred`), else the cross-entropy.

        Keras' own `train_step` of every backend calls the model with
        `training=True`, then this method on the same step's output, so
        `fit` differentiates the hybrid loss of the episode it sampled. A
        `y_pred` that is not the output of the last training call (a
        hand-written loop) gets a fresh episode sampled from `x`.
        """
        episode, self._step.episode = self._step.episode, None
        if not training:
            return super().compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
            )
        if episode is None or episode[0] is not y_pred:
            episode = self(x, training=True, return_episode=True)
        return self._episode_loss(x, y, episode, sample_weight)[0]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": self.image_shape,
                "num_classes": self.num_classes,
                "num_glimpses": self.num_glimpses,
                "patch_size": self.patch_size,
                "num_scales": self.num_scales,
                "glimpse_units": self.glimpse_units,
                "hidden_units": self.hidden_units,
                "location_std": self.location_std,
                "learning_rate": self.learning_rate,
                "seed": self.seed,
            }
        )
        return config
