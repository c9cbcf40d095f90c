"""`.keras` files saved by earlier versions keep loading and computing the same outputs.

The fixtures in `fixtures/` were written by `fixtures/make_fixtures.py` before the zoo
was split into families; a moved module or a renamed layer or weight breaks them.
"""

import pathlib

import keras
import numpy as np
import pytest

import attention_zoo  # noqa: F401  (registers every class a `.keras` file names)

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
KINDS = sorted(p.stem for p in FIXTURES.glob("*.keras"))


def _inputs(data):
    keys = sorted(k for k in data.files if k == "x" or k.startswith("x_"))
    if keys == ["x"]:
        return data["x"]
    return {k[2:]: data[k] for k in keys}


def test_every_model_kind_has_a_fixture():
    assert len(KINDS) == 9, KINDS


# The fixtures were saved before any training: the optimizer has no state to restore.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
@pytest.mark.parametrize("kind", KINDS)
def test_old_keras_file_loads_and_predicts_the_same(kind):
    data = np.load(FIXTURES / f"{kind}.npz")
    model = keras.saving.load_model(FIXTURES / f"{kind}.keras", safe_mode=True)
    outputs = keras.tree.flatten(model.predict(_inputs(data), verbose=0))
    expected = [data[f"y_{i}"] for i in range(len([k for k in data.files if k[:2] == "y_"]))]
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected, strict=True):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
