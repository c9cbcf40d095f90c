"""The kernel-regression lesson: Nadaraya–Watson regression written as attention."""

import numpy as np
import pytest

from attention_zoo.zoo import KernelRegression


def test_fixed_width_is_the_nadaraya_watson_estimator_by_hand():
    x_memory, y_memory = np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 5.0])
    model = KernelRegression(x_memory, y_memory, learn_width=False)
    query = np.array([0.5, 2.0], "float32")
    got = model.predict(query, verbose=0)[:, 0]
    # f(x) = Σ_i softmax_i(−½ (x − x_i)²) y_i, with w = 1.
    kernel = np.exp(-0.5 * (query[:, None] - x_memory[None]) ** 2)
    expected = (kernel / kernel.sum(axis=1, keepdims=True)) @ y_memory
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(model.attention_weights(query).sum(axis=-1), 1.0, rtol=1e-6)


def test_memory_of_different_lengths_is_refused_with_the_shapes():
    with pytest.raises(ValueError, match=r"x_memory and y_memory.*Received: x_memory.shape=\(3,\)"):
        KernelRegression([0.0, 1.0, 2.0], [1.0, 2.0])
