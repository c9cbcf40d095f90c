"""RAM: each loss term trains its own part, evaluation is deterministic, it learns; bad input."""

import keras
import numpy as np
import pytest
from keras import ops

from attention_zoo.zoo import RecurrentAttentionModel
from attention_zoo.zoo.vision.image_data import load_digits_canvas

needs_tape = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="reads gradients with tf.GradientTape; fit itself is tested on every backend",
)


def _tiny(**kwargs):
    config = dict(
        image_shape=(24, 24, 1), num_glimpses=3, patch_size=6, num_scales=2, glimpse_units=16
    )
    config.update(hidden_units=32, seed=0, **kwargs)
    return RecurrentAttentionModel(**config)


def _batch(n=8, seed=0):
    return load_digits_canvas(n, canvas_size=24, seed=seed)


def test_shapes_finite_and_normalised():
    model = _tiny()
    x, _ = _batch()
    probs = np.asarray(model(x))
    assert probs.shape == (8, 10) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    locations = model.glimpse_locations(x)
    assert locations.shape == (8, 3, 2) and np.abs(locations).max() <= 1.0


def test_evaluation_uses_the_mean_and_training_samples():
    model = _tiny(location_std=0.3)
    x, _ = _batch()
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(model(x, training=False)))
    _, means, locations, _ = model.rollout(ops.convert_to_tensor(x), sample=False)
    np.testing.assert_array_equal(np.asarray(means), np.asarray(locations))
    _, means, locations, _ = model.rollout(ops.convert_to_tensor(x), sample=True)
    spread = np.asarray(locations - means).std()
    assert 0.1 < spread < 0.5  # about location_std, less the clipping at the border


def _gradients(model, term, x, y):
    """Gradient norms of one term of the hybrid loss, by variable path (None counts as 0)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        total, _, _, reinforce, baseline = model.hybrid_loss(tf.constant(x), tf.constant(y))
        value = {"ce": total - reinforce - baseline, "reinforce": reinforce, "baseline": baseline}
    grads = tape.gradient(value[term], model.trainable_variables)
    return {
        v.path: 0.0 if g is None else float(tf.norm(g))
        for v, g in zip(model.trainable_variables, grads, strict=True)
    }


@needs_tape
def test_each_part_of_the_hybrid_loss_trains_its_own_networks():
    model = _tiny()
    x, y = _batch()
    model(x)
    for term, owners in [
        ("reinforce", ("location_net",)),
        ("baseline", ("baseline_net",)),
        ("ce", None),
    ]:
        for path, norm in _gradients(model, term, x, y).items():
            owned = owners is None and not path.split("/")[1].startswith(
                ("location_net", "baseline_net")
            )
            owned = owned or (owners is not None and path.split("/")[1] in owners)
            assert (norm > 0) == owned, f"{term} gradient on {path}: {norm}"


def test_fit_moves_the_location_network_and_the_baseline_learns_the_reward():
    # A classifier that always says 0 on digits labelled 0: every reward is 1.
    model = _tiny(learning_rate=0.01)
    x, _ = _batch(32)
    y = np.zeros(32, "int32")
    model(x)
    bias = model.classifier.bias
    bias.assign(np.asarray([50.0] + [0.0] * 9, "float32"))
    location_kernel = np.array(model.location_net.kernel)
    baselines_before = np.asarray(model.rollout(ops.convert_to_tensor(x), sample=True)[3])
    seeds = np.array(model.seed_generator.state)
    model(x, training=True)
    per_episode = np.array(model.seed_generator.state) - seeds
    seeds += per_episode
    model.fit(x, y, batch_size=8, epochs=8, verbose=0)
    # Each of the 32 steps sampled one episode: the loss is that of the call `fit` made.
    np.testing.assert_array_equal(np.array(model.seed_generator.state) - seeds, 32 * per_episode)
    baselines_after = np.asarray(model.rollout(ops.convert_to_tensor(x), sample=True)[3])
    assert not np.allclose(np.asarray(model.location_net.kernel), location_kernel)
    # The baseline starts at chance (0.1) and must approach the reward, 1.
    np.testing.assert_allclose(baselines_before[:, 0], 0.1, atol=1e-6)
    error_before = np.mean((1 - baselines_before) ** 2)
    error_after = np.mean((1 - baselines_after) ** 2)
    assert error_after < 0.5 * error_before
    assert baselines_after.mean() > baselines_before.mean() + 0.2


def test_fit_on_builtin_digits_beats_chance():
    keras.utils.set_random_seed(1)
    x, y = load_digits_canvas(800, canvas_size=24, seed=1)
    model = RecurrentAttentionModel(
        image_shape=(24, 24, 1),
        num_glimpses=3,
        patch_size=8,
        num_scales=2,
        seed=1,
        learning_rate=2e-3,
    )
    model.fit(x[:600], y[:600], batch_size=32, epochs=8, verbose=0)
    accuracy = model.evaluate(x[600:], y[600:], verbose=0)[1]
    assert accuracy > 0.3, accuracy  # chance is 0.1; 200 test images


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_shape": (16, 16, 1), "patch_size": 8, "num_scales": 3}, r"largest glimpse"),
        ({"image_shape": (16, 16)}, r"image_shape must be three positive integers"),
        ({"location_std": 0}, r"location_std must be a positive finite number.*location_std=0"),
        ({"num_glimpses": 0}, r"num_glimpses must be a positive integer.*num_glimpses=0"),
        ({"patch_size": (4, 6)}, r"patch_size must be one integer or a square"),
    ],
)
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RecurrentAttentionModel(**kwargs)


def test_wrong_image_rank_raises():
    with pytest.raises(ValueError, match=r"images must be a rank-4.*images.shape=\(2, 24, 24\)"):
        _tiny()(np.zeros((2, 24, 24), "float32"))


class _TapeRAM(RecurrentAttentionModel):
    """The reference: RAM's former TensorFlow-only `train_step`, a tape over `hybrid_loss`."""

    def train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            loss, probabilities, _, _, _ = self.hybrid_loss(x, y, sample_weight)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        return self.compute_metrics(x, y, probabilities, sample_weight=sample_weight)


@needs_tape
def test_fit_takes_the_same_step_as_a_tape_over_the_hybrid_loss():
    x, y = _batch(8)
    models = [_tiny(location_std=0.3), _TapeRAM(**_tiny(location_std=0.3).get_config())]
    for model in models:
        model(x)
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="sparse_categorical_crossentropy")
    models[1].set_weights(models[0].get_weights())
    start = [np.array(v) for v in models[0].trainable_variables]
    losses = [m.fit(x, y, batch_size=8, verbose=0).history["loss"][0] for m in models]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    for ours, reference, before in zip(
        *(m.trainable_variables for m in models), start, strict=True
    ):
        assert not np.allclose(np.asarray(reference), before), f"{reference.path} did not move"
        np.testing.assert_allclose(
            np.asarray(ours), np.asarray(reference), rtol=1e-5, atol=1e-6, err_msg=ours.path
        )
