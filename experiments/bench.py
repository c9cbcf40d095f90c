"""`make bench`: forward + backward time and peak memory of our layers against the Keras built-ins.

Each configuration (layer, sequence length T, batch B, jit on or off) runs in a
fresh Python subprocess, so that its peak memory is its own: the child reads
its resident-set high-water mark (`VmHWM` in /proc/self/status) and subtracts
the resident set measured just before the first call (the interpreter,
TensorFlow or JAX, the built layer and its inputs). One step is
`loss = sum(out²)` and the gradients with respect to the input and every
trainable weight, inside `tf.function` (optionally `jit_compile=True`) or
`jax.jit`. After one warm-up (tracing, compiling) call, the step is timed
`--repeats` times and the median is reported. Each of our layers is compared
with a Keras built-in measured in the same run, as a ratio of medians.

A child whose resident set passes `--max-gb` is stopped and reported as such;
a built-in configuration whose estimated need exceeds it is not started.

Timings on a shared or virtual machine drift between processes by 10 to 20 %,
which a ratio of two children's medians inherits. `--paired N` adds a steadier
time ratio: where both ran, one more child builds our layer and its built-in
together and times them in N alternating rounds (the first of a round
alternates too); the column "paired ratio" is the median of the rounds'
ratios, with their interquartile range.

`--device` measures where the layers are meant to run, an accelerator (or the
CPU, as a smoke test), under JAX: our layers and the built-ins in float32 and
mixed bfloat16, T = 256 ... 16,384 and a key padding mask row. Each step is
`jax.jit(value_and_grad)`, compiled ahead (its compile time is a column),
timed with `jax.block_until_ready`, median of `--repeats` after a warm-up;
memory is XLA's compiled temp + output bytes (`compiled.memory_analysis()`),
not the process's resident set, which says nothing about a GPU's memory.
"""

import argparse
import json
import os
import statistics
import threading
import time
from pathlib import Path

from attention_zoo.experiments import cli_base
from attention_zoo.experiments._bench_common import (
    ADDITIVE,
    COLUMNS,
    DOT_FAMILY,
    HEADS,
    MODEL_DIM,
    VARIANTS,
    _make_layer,
    _reference,
    _run_config,
    _select,
    _status_kb,
    _write,
    format_markdown,
)
from attention_zoo.experiments.bench_device import _device_child, _main_device


def _plan(quick):
    """The (variant, B, T) configurations of a run."""
    if quick:
        return [(v, 8, t) for t in (128, 512) for v in DOT_FAMILY + ADDITIVE]
    plan = [(v, 8, t) for t in (256, 1024) for v in DOT_FAMILY + ADDITIVE]
    # The built-in additive layer needs ~18 GB at B = 8, T = 1024: B = 2 fits a shared machine.
    plan += [(v, 2, 1024) for v in ADDITIVE] + [(v, 8, 4096) for v in ADDITIVE]
    plan += [(v, 1, t) for t in (4096, 16384) for v in DOT_FAMILY]
    return plan


def _estimated_gb(variant, batch, length):
    """A rough lower bound of a built-in's peak memory: the tensors it must hold at once."""
    pairs = batch * length * length
    if variant == "keras.AdditiveAttention":
        return 2 * pairs * MODEL_DIM * 4 / 2**30  # the (B, Tq, Tv, D) tanh input and output
    if variant in ("keras.MultiHeadAttention", "keras.ops.dot_product_attention"):
        return 3 * pairs * HEADS * 4 / 2**30
    if variant == "keras.Attention":
        return 3 * pairs * 4 / 2**30
    return 0.0


# ------------------------------------------------------------------- child
def _watch_memory(limit_gb):
    """Ends the process (exit 3) as soon as its resident set passes `limit_gb`."""

    def watch():
        while True:
            if _status_kb("VmRSS") > limit_gb * 2**20:
                print(f"RESULT {json.dumps({'error': f'over {limit_gb:g} GB'})}", flush=True)
                os._exit(3)
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()


def _tf_step(layer, call_args, jit):
    import tensorflow as tf

    if layer is None:
        weights, apply = [], call_args
    else:
        weights = list(layer.trainable_variables)

        def apply(x):
            args, kwargs = call_args(x)
            return layer(*args, **kwargs)

    @tf.function(jit_compile=jit)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(apply(x)))
        return loss, tape.gradient(loss, [x, *weights])

    return lambda x: float(step(x)[0])


def _jax_step(layer, call_args):
    import jax
    import jax.numpy as jnp

    if layer is None:
        grad = jax.jit(jax.value_and_grad(lambda x: jnp.sum(jnp.square(call_args(x)))))
        return lambda x: float(grad(x)[0])
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def loss(weights, x):
        args, kwargs = call_args(x)
        out, _ = layer.stateless_call(weights, non_trainable, *args, **kwargs)
        return jnp.sum(jnp.square(out))

    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    return lambda x: float(grad(trainable, x)[0])


def _steps(variants, spec):
    """One compiled step per variant, and the input they take."""
    import keras
    import numpy as np

    backend = keras.backend.backend()
    batch, seq_len = spec["batch"], spec["length"]
    x = np.random.default_rng(0).normal(size=(batch, seq_len, MODEL_DIM)).astype("float32")
    steps = []
    for variant in variants:
        keras.utils.set_random_seed(0)
        layer, call_args = _make_layer(variant, seq_len)
        if backend == "tensorflow":
            steps.append(_tf_step(layer, call_args, spec["jit"]))
        elif backend == "jax":
            steps.append(_jax_step(layer, call_args))
        else:
            raise ValueError(f"backend must be tensorflow or jax. Received: backend={backend!r}")
    if backend == "tensorflow":
        import tensorflow as tf

        return steps, tf.constant(x)
    import jax.numpy as jnp

    return steps, jnp.asarray(x)


def paired_ratio(step, reference, x, rounds, clock=time.perf_counter):
    """Times `step` and `reference` in `rounds` alternating rounds.

    Returns the median and the quartiles of the per-round time ratios
    step / reference; the one that runs first alternates between rounds.
    """
    ratios = []
    for index in range(rounds):
        times = {}
        order = ("step", "reference") if index % 2 == 0 else ("reference", "step")
        for name in order:
            start = clock()
            (step if name == "step" else reference)(x)
            times[name] = clock() - start
        ratios.append(times["step"] / times["reference"])
    q1, median, q3 = (
        statistics.quantiles(ratios, n=4, method="inclusive") if rounds > 1 else [ratios[0]] * 3
    )
    return {"paired_ratio": median, "paired_q1": q1, "paired_q3": q3}


def _child(spec):
    _watch_memory(spec["max_gb"])
    if "paired" in spec:
        (step, reference), x = _steps(spec["paired"], spec)
        for _ in range(2):  # trace, compile and warm both
            step(x)
            reference(x)
        result = paired_ratio(step, reference, x, spec["rounds"])
        print(f"RESULT {json.dumps(result)}", flush=True)
        return
    (step,), x = _steps([spec["variant"]], spec)
    baseline_kb = _status_kb("VmRSS")
    step(x)  # trace and compile
    times = []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        step(x)
        times.append(1000 * (time.perf_counter() - start))
    peak_gb = (_status_kb("VmHWM") - baseline_kb) / 2**20
    result = {"ms": statistics.median(times), "peak_gb": peak_gb, "times_ms": times}
    print(f"RESULT {json.dumps(result)}", flush=True)


# ------------------------------------------------------------------ parent
def run(plan, backend, jit_modes, repeats, max_gb, timeout, paired=0):
    """Runs every configuration in its own subprocess; returns one row dict per run.

    With `paired` > 0, each of our layers whose built-in also ran is timed
    against it in one more subprocess, `paired` alternating rounds.
    """
    rows = []
    total = len(plan) * len(jit_modes)
    done = 0
    for jit in jit_modes:
        results = {}
        for variant, batch, length in plan:
            done += 1
            mode = "jax.jit" if backend == "jax" else ("tf.function+XLA" if jit else "tf.function")
            label = f"[{done}/{total}] {variant} B={batch} T={length} {mode}"
            print(label + " ...", end=" ", flush=True)
            need = _estimated_gb(variant, batch, length)
            if need > max_gb:
                result = {"error": f"needs > {need:.0f} GB, not started"}
            else:
                spec = {
                    "variant": variant,
                    "batch": batch,
                    "length": length,
                    "jit": jit,
                    "repeats": repeats,
                    "max_gb": max_gb,
                }
                result = _run_config(spec, backend, timeout)
            results[(variant, batch, length)] = result
            print(result.get("error") or f"{result['ms']:.1f} ms, {result['peak_gb']:.2f} GB")
            reference = _reference(variant)
            ref = results.get((reference, batch, length), {}) if reference else {}
            if paired and ref and "error" not in ref and "error" not in result:
                print(f"    paired with {reference}, {paired} rounds ...", end=" ", flush=True)
                pair = _run_config(
                    {**spec, "paired": [variant, reference], "rounds": paired}, backend, timeout
                )
                print(pair.get("error") or f"{pair['paired_ratio']:.2f}")
                if "error" in pair:
                    pair = {"paired_error": pair["error"]}
                result = {**result, **pair}
            rows.append(_row(variant, batch, length, mode, result, reference, ref))
        if backend == "jax":
            break  # jax.jit is the only mode there
    return rows


def _ratio(ours, ref, key):
    if "error" in ours or not ref or "error" in ref:
        return ""
    return f"{ours[key] / ref[key]:.2f}"


def _row(variant, batch, length, mode, result, reference, ref):
    ok = "error" not in result
    return {
        "variant": variant,
        "B": batch,
        "T": length,
        "mode": mode,
        "ms fwd+bwd": f"{result['ms']:.1f}" if ok else result["error"],
        "peak GB": f"{result['peak_gb']:.2f}" if ok else "",
        "vs": reference or "",
        "time ratio": _ratio(result, ref, "ms") if reference else "",
        "memory ratio": _ratio(result, ref, "peak_gb") if reference else "",
        "paired ratio": _paired(result),
    }


def _paired(result):
    if "paired_ratio" not in result:
        return result.get("paired_error", "")
    return f"{result['paired_ratio']:.2f} ({result['paired_q1']:.2f}-{result['paired_q3']:.2f})"


def main(argv=None):
    parser = cli_base._Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T = 128 and 512 only")
    parser.add_argument("--backend", choices=["tensorflow", "jax"], default=None)
    parser.add_argument("--jit", choices=["off", "on", "both"], default="both")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-gb", type=float, default=None, help="stop a child above this RSS")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per configuration")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=None,
        help=f"of {', '.join(VARIANTS)} or any registry name (run at the plan's sizes, unpaired)",
    )
    parser.add_argument("--lengths", nargs="+", type=int, default=None)
    parser.add_argument(
        "--batch", type=int, default=None, help="run the chosen configurations at this batch size"
    )
    parser.add_argument("--out", default="runs/bench", help="folder of the CSV and Markdown")
    parser.add_argument(
        "--paired",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="also time each layer against its built-in in one process, ROUNDS alternating rounds",
    )
    parser.add_argument(
        "--device",
        action="store_true",
        help="under JAX on its default device (a GPU where there is one): compile time, "
        "block_until_ready timing and XLA compiled memory; with --quick a CPU smoke test",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        _device_child(spec) if spec.get("device") else _child(spec)
        return
    if args.repeats <= 0:
        parser.error(f"--repeats must be a positive integer. Received: --repeats={args.repeats}")
    if args.paired < 0:
        parser.error(f"--paired must be 0 or a positive integer. Received: --paired={args.paired}")
    if args.device:
        _main_device(args, parser)
        return
    backend = args.backend or os.environ.get("KERAS_BACKEND", "tensorflow")
    max_gb = args.max_gb or 0.8 * _status_kb("MemAvailable", "/proc/meminfo") / 2**20
    plan = _select(_plan(args.quick), args, parser, batch_at=1, length_at=2)
    jit_modes = {"off": [False], "on": [True], "both": [False, True]}[args.jit]
    print(f"backend {backend}, model size {MODEL_DIM}, {HEADS} heads, limit {max_gb:.1f} GB")
    rows = run(plan, backend, jit_modes, args.repeats, max_gb, args.timeout, args.paired)
    table = format_markdown(rows)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"bench_{backend}" if backend == "jax" else out / f"bench_{backend}_jit-{args.jit}"
    _write(stem, rows, table, COLUMNS)


if __name__ == "__main__":
    main()
