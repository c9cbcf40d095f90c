"""`.keras` files saved by earlier versions keep loading and computing the same outputs.

The fixtures in `fixtures/` were written by `fixtures/make_fixtures.py` before the zoo
was split into families; a moved module or a renamed layer or weight breaks them.
"""

import importlib.util
import json
import pathlib

import keras
import numpy as np
import pytest

import attention_zoo  # noqa: F401  (registers every class a `.keras` file names)

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
KINDS = sorted(p.stem for p in FIXTURES.glob("*.keras"))
EXPECTED = json.loads((FIXTURES / "expected_outputs.json").read_text(encoding="utf-8"))


def _make_fixtures():
    # The script that wrote the files also rebuilds each kind's seeded, generated input.
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_model_kind_has_a_fixture():
    assert len(KINDS) == 9, KINDS


# The fixtures were saved before any training: the optimizer has no state to restore.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
@pytest.mark.parametrize("kind", KINDS)
def test_old_keras_file_loads_and_predicts_the_same(kind):
    _, inputs = _make_fixtures().KINDS[kind]()
    model = keras.saving.load_model(FIXTURES / f"{kind}.keras", safe_mode=True)
    outputs = keras.tree.flatten(model.predict(inputs, verbose=0))
    expected = [np.reshape(y["values"], y["shape"]) for y in EXPECTED[kind]]
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected, strict=True):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
