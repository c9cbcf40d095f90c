"""The reference-model benchmark compares like with like: the adapter computes our function."""

import keras
import numpy as np
import pytest

from attention_zoo import layers
from attention_zoo.experiments import model_bench

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the reference models train on TensorFlow"
)


def _masks(rng, batch, length):
    mask = np.ones((batch, length), bool)
    mask[:, length - 2 :] = rng.random((batch, 2)) < 0.5
    return mask


def test_adapter_over_keras_attention_equals_dot():
    rng = np.random.default_rng(0)
    q, v = rng.normal(size=(3, 4, 8)), rng.normal(size=(3, 6, 8))
    q_mask, v_mask = _masks(rng, 3, 4), _masks(rng, 3, 6)
    ours = layers.get("dot")
    builtin = model_bench.BuiltinAdapter(keras.layers.Attention())
    kwargs = {"query_mask": q_mask, "value_mask": v_mask, "return_attention_scores": True}
    out, weights = ours(q, v, **kwargs)
    ref_out, ref_weights = builtin(q, v, **kwargs)
    # Padded query rows differ by design (ours are zero); the models never read them.
    np.testing.assert_allclose(np.asarray(out)[q_mask], np.asarray(ref_out)[q_mask], atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(weights)[q_mask], np.asarray(ref_weights)[q_mask], atol=1e-5
    )


def test_adapter_over_keras_multi_head_equals_multi_head():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 16)).astype("float32")
    mask = _masks(rng, 2, 5)
    ours = layers.get("multi_head", num_heads=4)
    builtin = model_bench.BuiltinAdapter(keras.layers.MultiHeadAttention(num_heads=4, key_dim=4))
    ours.build(x.shape, x.shape)
    builtin.build(x.shape, x.shape)
    inner = builtin.inner
    pairs = [
        (inner.query_dense, ours.query_kernel, ours.query_bias),
        (inner.key_dense, ours.key_kernel, ours.key_bias),
        (inner.value_dense, ours.value_kernel, ours.value_bias),
        (inner.output_dense, ours.output_kernel, ours.output_bias),
    ]
    for dense, kernel, bias in pairs:
        dense.set_weights([keras.ops.convert_to_numpy(kernel), keras.ops.convert_to_numpy(bias)])
    kwargs = {"query_mask": mask, "value_mask": mask}
    out, ref = np.asarray(ours(x, x, **kwargs)), np.asarray(builtin(x, x, **kwargs))
    np.testing.assert_allclose(out[mask], ref[mask], atol=1e-5)


def test_one_case_runs_both_models_of_equal_size(tmp_path, capsys):
    model_bench.main(
        [
            *("--cases", "soft_glimpse_dot", "--batch-size", "4"),
            *("--rounds", "1", "--steps", "1", "--warmup", "1", "--out", str(tmp_path)),
        ]
    )
    table = (tmp_path / "model_bench.md").read_text()
    assert "| soft_glimpse_dot | keras.layers.Attention | 4 |" in table
    row = (tmp_path / "model_bench.csv").read_text().splitlines()[1].split(",")
    assert float(row[4]) > 0 and float(row[5]) > 0
    assert "soft_glimpse_dot" in capsys.readouterr().out
