"""The layer benchmark's `--device` mode: our layers and the Keras built-ins under JAX.

See `bench` (its docstring describes the mode): each configuration runs in its own
JAX subprocess that reports compile time, the median step time and XLA's compiled
memory.
"""

import json
import statistics
import time
from pathlib import Path

from attention_zoo.experiments._bench_common import (
    ADDITIVE,
    HEADS,
    MODEL_DIM,
    _make_layer,
    _reference,
    _run_config,
    _select,
    _write,
    format_markdown,
)


def _device_plan(quick):
    """(variant, dtype policy, B, T, masked) of `--device`: the table of issue 14."""
    if quick:
        pair = ("keras.MultiHeadAttention", "multi_head")
        return [
            (v, d, 2, 128, m)
            for d in ("float32", "mixed_bfloat16")
            for m in (False, True)
            for v in pair
        ]
    plan, pair = [], ("keras.MultiHeadAttention", "multi_head")
    for dtype in ("float32", "mixed_bfloat16"):
        for batch, length in ((8, 256), (8, 1024), (8, 4096), (1, 16384)):
            plan += [(v, dtype, batch, length, False) for v in pair]
    plan += [(v, "mixed_bfloat16", 8, 1024, True) for v in pair]
    plan += [(v, "float32", 8, 1024, False) for v in ("keras.Attention", "scaled_dot")]
    plan += [(v, "float32", 8, t, False) for t in (1024, 4096) for v in ADDITIVE]
    return plan


def _device_child(spec):
    """One configuration under JAX: compile time, median step time, XLA's compiled memory."""
    import jax
    import jax.numpy as jnp
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    batch, length = spec["batch"], spec["length"]
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(batch, length, MODEL_DIM)).astype("float32"))
    mask = None
    if spec["masked"]:  # each example keeps a random 50 to 100 % of its keys
        lengths = rng.integers(length // 2, length + 1, size=batch)
        mask = jnp.asarray(np.arange(length)[None, :] < lengths[:, None])
    layer, call_args = _make_layer(spec["variant"], length, spec["dtype"], mask)
    if layer is None:
        weights, non_trainable = [], []

        def loss(weights, x):
            return jnp.sum(jnp.square(call_args(x).astype("float32")))
    else:
        weights = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss(weights, x):
            args, kwargs = call_args(x)
            out, _ = layer.stateless_call(weights, non_trainable, *args, **kwargs)
            return jnp.sum(jnp.square(out.astype("float32")))

    start = time.perf_counter()
    compiled = jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(weights, x).compile()
    compile_s = time.perf_counter() - start
    memory = compiled.memory_analysis()
    memory_gb = None
    if memory is not None:
        memory_gb = (memory.temp_size_in_bytes + memory.output_size_in_bytes) / 2**30
    jax.block_until_ready(compiled(weights, x))  # warm-up
    times = []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        jax.block_until_ready(compiled(weights, x))
        times.append(1000 * (time.perf_counter() - start))
    result = {
        "ms": statistics.median(times),
        "compile_s": compile_s,
        "memory_gb": memory_gb,
        "device": jax.devices()[0].device_kind,
    }
    print(f"RESULT {json.dumps(result)}", flush=True)


DEVICE_COLUMNS = [
    "variant",
    "dtype",
    "B",
    "T",
    "mask",
    "ms fwd+bwd",
    "compile s",
    "XLA memory GB",
    "vs",
    "time ratio",
    "memory ratio",
    "compile ratio",
]


def run_device(plan, repeats, timeout):
    """Every configuration of `plan` in its own JAX subprocess; one row dict each."""
    rows, results = [], {}
    for index, (variant, dtype, batch, length, masked) in enumerate(plan, 1):
        label = f"[{index}/{len(plan)}] {variant} {dtype} B={batch} T={length}"
        print(label + (" masked" if masked else "") + " ...", end=" ", flush=True)
        spec = {
            "device": True,
            "variant": variant,
            "dtype": dtype,
            "batch": batch,
            "length": length,
            "masked": masked,
            "repeats": repeats,
        }
        result = _run_config(spec, "jax", timeout)
        results[(variant, dtype, batch, length, masked)] = result
        print(result.get("error") or f"{result['ms']:.2f} ms on {result['device']}")
        reference = _reference(variant)
        ref = results.get((reference, dtype, batch, length, masked), {}) if reference else {}
        rows.append(_device_row(variant, dtype, batch, length, masked, result, reference, ref))
    return rows


def _device_row(variant, dtype, batch, length, masked, result, reference, ref):
    ok = "error" not in result
    memory = result.get("memory_gb")
    both = ok and ref and "error" not in ref

    def ratio(key):
        if not (reference and both) or result.get(key) is None or not ref.get(key):
            return ""
        return f"{result[key] / ref[key]:.2f}"

    return {
        "variant": variant,
        "dtype": dtype,
        "B": batch,
        "T": length,
        "mask": "value_mask" if masked else "",
        "ms fwd+bwd": f"{result['ms']:.2f}" if ok else result["error"],
        "compile s": f"{result['compile_s']:.1f}" if ok else "",
        "XLA memory GB": "" if memory is None else f"{memory:.3f}",
        "vs": reference or "",
        "time ratio": ratio("ms"),
        "memory ratio": ratio("memory_gb"),
        "compile ratio": ratio("compile_s"),
    }


def _main_device(args, parser):
    if args.backend not in (None, "jax"):
        parser.error(f"--device runs under JAX. Received: --backend={args.backend}")
    plan = _select(_device_plan(args.quick), args, parser, batch_at=2, length_at=3)
    print(f"device mode (JAX), model size {MODEL_DIM}, {HEADS} heads")
    rows = run_device(plan, args.repeats, args.timeout)
    table = format_markdown(rows, DEVICE_COLUMNS)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "bench_device", rows, table, DEVICE_COLUMNS)
