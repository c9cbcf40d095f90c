"""The English -> French benchmark's table of variants (no training: that is the benchmark)."""

import keras
import pytest

from attention_zoo import layers
from attention_zoo.zoo import Translator

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the benchmark uses TensorFlow"
)


def test_every_score_and_none_has_a_residual_luong_variant_that_builds():
    from attention_zoo.experiments import translation_benchmark

    table = translation_benchmark.variants()
    for score in [*layers.available(), "none"]:
        assert table[f"luong_residual_{score}"] == {
            "decoder": "luong",
            "attention": score,
            "readout": "residual",
        }
        assert "readout" not in table[f"luong_{score}"]
    translator = Translator(**table["luong_residual_additive"], units=8, embedding_dim=8)
    assert translator.get_config()["readout"] == "residual"
