"""The choice of compute path: `implementation=`, and `_dispatch.choose` for a CPU and a GPU.

The platform, the device memory and the backend are arguments of `choose`,
so the GPU's choices are tested here on a CPU.
"""

import keras
import numpy as np
import pytest
from layer_harness import make_layer

from attention_zoo import layers
from attention_zoo.layers import _dispatch

NAMES = layers.available()
GB = 2**30


def gpu(shape, **kwargs):
    kwargs.setdefault("memory", 80 * GB)
    kwargs.setdefault("backend", "jax")
    return _dispatch.choose(shape, platform="gpu", **kwargs)


def test_the_fused_kernel_on_a_gpu_in_half_precision_only():
    shape = (8, 8, 1024, 1024, 64, 64)
    assert gpu(shape, matmul=True, dtype="bfloat16").path == "fused"
    assert gpu(shape, matmul=True, dtype="float16") == _dispatch.Plan("fused", upcast=False)
    assert gpu(shape, matmul=True, dtype="float32").path == "own_backward"
    assert gpu(shape, matmul=True, dtype="bfloat16", backend="tensorflow").path != "fused"
    cpu = _dispatch.choose(shape, matmul=True, dtype="bfloat16", platform="cpu")
    assert cpu.path != "fused"


@pytest.mark.parametrize(
    "reason, change",
    [
        ("weights requested", {"weights": True}),
        ("dropout at work", {"dropout": True}),
        ("not a matmul", {"matmul": False}),
    ],
)
def test_the_fused_kernel_is_not_chosen_where_it_cannot_serve(reason, change):
    kwargs = {"matmul": True, "dtype": "bfloat16", **change}
    assert gpu((8, 8, 1024, 1024, 64, 64), **kwargs).path != "fused", reason


@pytest.mark.parametrize(
    "dim, v_dim",
    [(12, 12), (256, 256), (64, 32)],
    ids=["not-a-multiple-of-8", "above-128", "value-size-differs"],
)
def test_head_sizes_outside_cudnn_limits_quietly_take_another_path(dim, v_dim):
    plan = gpu((8, 8, 1024, 1024, dim, v_dim), matmul=True, dtype="bfloat16")
    assert plan.path == "own_backward"


def test_on_a_gpu_the_direct_path_while_it_fits_in_memory():
    shape = (8, 8, 4096, 4096, 64, 64)  # 2**30 scores: 4 GB a copy
    assert gpu(shape, matmul=True, memory=141 * GB).path == "own_backward"
    plan = gpu(shape, matmul=True, memory=16 * GB)
    assert plan.path == "blockwise" and plan.blocks[1] < 4096
    # The same shape on a CPU is far above its cache-sized threshold.
    assert _dispatch.choose(shape, matmul=True, platform="cpu").path == "blockwise"


def test_the_memory_is_read_on_a_gpu_only_and_may_be_a_function():
    def no_memory():
        raise AssertionError("the CPU's choice read the device memory")

    shape = (1, 8, 16384, 16384, 64, 64)
    _dispatch.choose(shape, matmul=True, platform="cpu", memory=no_memory)
    assert gpu(shape, matmul=True, memory=lambda: 141 * GB).path == "own_backward"
    assert gpu(shape, matmul=True, memory=lambda: 8 * GB).path == "blockwise"


def test_block_size_still_forces_blocks_under_auto():
    plan = _dispatch.choose((2, 1, 16, 16, 8, 8), block_size=4, platform="cpu")
    assert plan.path == "blockwise" and plan.blocks == (4, 16)
    plan = _dispatch.choose((2, 1, 16, 16, 8, 8), matmul=True, key_block_size=4, platform="cpu")
    assert plan.path == "blockwise" and plan.blocks[1] == 4


def test_float16_scores_are_computed_in_float32_except_in_cudnn():
    shape = (8, 8, 256, 256, 64, 64)
    assert _dispatch.choose(shape, dtype="float16", platform="cpu").upcast
    assert not _dispatch.choose(shape, dtype="bfloat16", platform="cpu").upcast
    assert not gpu(shape, matmul=True, dtype="float16").upcast  # cuDNN: float32 inside
    forced = _dispatch.choose(shape, implementation="fused", matmul=True, dtype="float16")
    assert forced.upcast  # XLA's implementation computes the logits in float16


@pytest.mark.parametrize(
    "name, implementation, call, reason",
    [
        ("additive", "fused", {}, "a score that is a matmul"),
        ("gaussian_kernel", "own_backward", {}, "a score that is a matmul"),
        ("gaussian_kernel", "tiles", {}, "a score that is a matmul"),
        ("dot", "fused", {"return_attention_scores": True}, "return_attention_scores=False"),
        ("dot", "blockwise", {"return_attention_scores": True}, "return_attention_scores=False"),
        ("scaled_dot", "own_backward", {"training": True}, "no dropout at work"),
    ],
)
def test_a_forced_path_that_cannot_serve_the_call_says_why(name, implementation, call, reason):
    layer = make_layer(name, implementation=implementation, dropout=0.5)
    x = np.ones((2, 3, 8), "float32")
    with pytest.raises(ValueError, match=f"implementation='{implementation}'.*{reason}"):
        layer(x, x, **call)


def test_a_forced_block_path_needs_lengths_known_at_trace_time():
    layer = make_layer("dot", implementation="blockwise")
    with pytest.raises(ValueError, match="lengths Tq and Tv known at trace time"):
        layer(keras.Input((None, 8)), keras.Input((None, 8)))


@pytest.mark.parametrize("value", ["flash", "", None, "Direct"])
def test_unknown_implementation_is_rejected(value):
    with pytest.raises(ValueError, match=rf"implementation must be one of.*={value!r}"):
        make_layer("dot", implementation=value)


@pytest.mark.parametrize("arg", ["block_size", "key_block_size"])
def test_block_sizes_need_the_block_path(arg):
    with pytest.raises(ValueError, match=rf"{arg} sets the blocks.*implementation='direct'"):
        make_layer("dot", implementation="direct", **{arg: 4})
    make_layer("dot", implementation="blockwise", **{arg: 4})


@pytest.mark.parametrize("name", NAMES)
def test_implementation_is_in_the_config_and_old_configs_load(name):
    layer = make_layer(name, implementation="direct")
    config = layer.get_config()
    assert config["implementation"] == "direct"
    assert type(layer).from_config(config).implementation == "direct"
    old = {k: v for k, v in config.items() if k not in ("implementation", "key_block_size")}
    assert type(layer).from_config(old).implementation == "auto"


def test_the_platform_and_memory_of_this_machine():
    assert _dispatch.current_platform() in ("cpu", "gpu", "tpu")
    assert _dispatch.device_memory() > 0


def test_automatic_long_keys_loop_on_a_gpu_and_unroll_on_a_cpu():
    # Long enough that the direct path does not fit (CPU: above AUTO_BLOCK_ELEMENTS),
    # and the keys are split; a CPU keeps the unrolled steps for their memory.
    shape = (1, 8, 16384, 16384, 32, 32)
    on_cpu = _dispatch.choose(shape, matmul=True, platform="cpu")
    on_gpu = _dispatch.choose(shape, matmul=True, platform="gpu", memory=2**30)
    assert on_cpu.path == on_gpu.path == "blockwise"
    assert on_cpu.blocks[1] < shape[3] and on_gpu.blocks[1] < shape[3]
    assert not on_cpu.loop and on_gpu.loop


def test_split_keys_run_in_loops_unless_dropout_needs_the_unrolled_steps():
    shape = (2, 1, 16, 16, 8, 8)
    split = _dispatch.choose(shape, matmul=True, block_size=4, key_block_size=4, platform="cpu")
    assert split.blocks == (4, 4) and split.loop
    kwargs = {"matmul": True, "block_size": 4, "key_block_size": 4, "platform": "cpu"}
    assert not _dispatch.choose(shape, dropout=True, **kwargs).loop
    assert not _dispatch.choose(shape, block_size=4, platform="cpu").loop  # keys whole
