"""The contract every registered model must satisfy, parametrized over `zoo.list_models()`.

Each model class provides `example_batch(batch_size, seed)` -> (x, y), a small batch that its
default configuration (`create_model(name)`, compiled by its constructor) fits and predicts on.
"""

import keras
import numpy as np
import pytest

from attention_zoo import zoo

NAMES = zoo.list_models()


def _build(name):
    model = zoo.create_model(name)
    x, y = type(model).example_batch(batch_size=4, seed=0)
    return model, x, y


def _flat(outputs):
    return [np.asarray(o) for o in keras.tree.flatten(outputs)]


@pytest.mark.parametrize("name", NAMES)
def test_forward_is_finite_and_deterministic(name):
    model, x, _ = _build(name)
    first = _flat(model.predict(x, verbose=0))
    second = _flat(model.predict(x, verbose=0))
    for a, b in zip(first, second, strict=True):
        assert np.all(np.isfinite(a))
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_one_fit_step_updates_every_trainable_weight(name):
    model, x, y = _build(name)
    model.predict(x, verbose=0)
    before = [np.array(v) for v in model.trainable_variables]
    assert before, f"{name} has no trainable weights"
    history = model.fit(x, y, epochs=1, batch_size=len(keras.tree.flatten(x)[0]), verbose=0)
    assert all(np.isfinite(v).all() for v in history.history.values())
    for var, old in zip(model.trainable_variables, before, strict=True):
        assert not np.array_equal(np.asarray(var), old), f"{var.path} got no update"


@pytest.mark.parametrize("name", NAMES)
def test_keras_file_round_trip_in_safe_mode(name, tmp_path):
    model, x, _ = _build(name)
    expected = _flat(model.predict(x, verbose=0))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for e, g in zip(expected, _flat(loaded.predict(x, verbose=0)), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="SavedModel export needs TensorFlow"
)
@pytest.mark.parametrize("name", NAMES)
def test_saved_model_export_matches(name, tmp_path):
    import tensorflow as tf

    model, x, _ = _build(name)
    expected = _flat(model.predict(x, verbose=0))
    model.export(str(tmp_path / "export"), verbose=False)
    # Keep the loaded object alive while serving: it owns the variables.
    reloaded = tf.saved_model.load(str(tmp_path / "export"))
    served = reloaded.serve(x)
    for e, g in zip(expected, _flat(served), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
