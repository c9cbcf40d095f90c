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
import csv
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

MODEL_DIM = 256
HEADS = 8
UNITS = 128

# name -> (what it is, the built-in it is compared with or None for a built-in). Each of
# ours is built with its `defaults_in_model(MODEL_DIM, HEADS)` (8 heads where it splits
# heads) plus PAIRED_KWARGS; any other registry name may be run (--variants), unpaired.
VARIANTS = {
    "keras.MultiHeadAttention": ("keras.layers.MultiHeadAttention(8 heads)", None),
    "multi_head": ("ours, MultiHeadAttention(8 heads, scaled_dot)", "keras.MultiHeadAttention"),
    "keras.Attention": ("keras.layers.Attention(use_scale=True)", None),
    "scaled_dot": ("ours, ScaledDotAttention", "keras.Attention"),
    "keras.ops.dot_product_attention": ("keras.ops.dot_product_attention, 8 heads", None),
    "keras.AdditiveAttention": ("keras.layers.AdditiveAttention", None),
    "additive": ("ours, AdditiveAttention(units=128)", "keras.AdditiveAttention"),
}
# What our layer of a pair needs to match the size of its built-in (the built-in
# additive score is a tanh over all D = 256 features: half of them for ours).
PAIRED_KWARGS = {"additive": {"units": UNITS}}
DOT_FAMILY = [
    "keras.MultiHeadAttention",
    "multi_head",
    "keras.Attention",
    "scaled_dot",
    "keras.ops.dot_product_attention",
]
ADDITIVE = ["keras.AdditiveAttention", "additive"]


def _plan(quick):
    """The (variant, B, T) configurations of a run."""
    if quick:
        return [(v, 8, t) for t in (128, 512) for v in DOT_FAMILY + ADDITIVE]
    plan = [(v, 8, t) for t in (256, 1024) for v in DOT_FAMILY + ADDITIVE]
    # The built-in additive layer needs ~18 GB at B = 8, T = 1024: B = 2 fits a shared machine.
    plan += [(v, 2, 1024) for v in ADDITIVE] + [(v, 8, 4096) for v in ADDITIVE]
    plan += [(v, 1, t) for t in (4096, 16384) for v in DOT_FAMILY]
    return plan


def _reference(variant):
    """The built-in `variant` is compared with; None for a built-in or an unpaired variant."""
    return VARIANTS.get(variant, (None, None))[1]


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
def _status_kb(field, path="/proc/self/status"):
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in {path}")


def _watch_memory(limit_gb):
    """Ends the process (exit 3) as soon as its resident set passes `limit_gb`."""

    def watch():
        while True:
            if _status_kb("VmRSS") > limit_gb * 2**20:
                print(f"RESULT {json.dumps({'error': f'over {limit_gb:g} GB'})}", flush=True)
                os._exit(3)
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()


def _make_layer(variant, seq_len, dtype=None, mask=None):
    """The layer (None for a plain function) and a map x -> (call args, call kwargs).

    `dtype` is a dtype policy name (None: the global one); `mask`, a (B, T)
    boolean key padding mask, is passed the way each layer takes it.
    """
    import keras

    from attention_zoo import layers

    shape = (None, seq_len, MODEL_DIM)
    policy = {} if dtype is None else {"dtype": dtype}
    if variant == "keras.ops.dot_product_attention":

        def attend(x):
            heads = keras.ops.reshape(x, (x.shape[0], seq_len, HEADS, MODEL_DIM // HEADS))
            padding = None if mask is None else mask[:, None, None, :]
            out = keras.ops.dot_product_attention(heads, heads, heads, mask=padding)
            return keras.ops.reshape(out, x.shape)

        return None, attend
    if variant == "keras.MultiHeadAttention":
        layer = keras.layers.MultiHeadAttention(HEADS, MODEL_DIM // HEADS, **policy)
        layer.build(shape, shape)
    elif variant in ("keras.Attention", "keras.AdditiveAttention"):
        layer = (
            keras.layers.Attention(use_scale=True, **policy)
            if variant == "keras.Attention"
            else keras.layers.AdditiveAttention(**policy)
        )
        layer.build([shape, shape])
        return layer, lambda x: (([x, x],), {} if mask is None else {"mask": [None, mask]})
    else:
        kwargs = layers.get_class(variant).defaults_in_model(MODEL_DIM, HEADS)
        kwargs.update(PAIRED_KWARGS.get(variant, {}))
        layer = layers.get(variant, **kwargs, **policy)
        layer.build(shape, shape)
    return layer, lambda x: ((x, x), {} if mask is None else {"value_mask": mask})


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


# ------------------------------------------------------------------ device
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


# ------------------------------------------------------------------ parent
def _run_config(spec, backend, timeout):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-m", "attention_zoo.experiments.bench", "--child", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": f"exit {proc.returncode}: {tail[0][:120]}"}


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


COLUMNS = [
    "variant",
    "B",
    "T",
    "mode",
    "ms fwd+bwd",
    "peak GB",
    "vs",
    "time ratio",
    "memory ratio",
    "paired ratio",
]


def format_markdown(rows, columns=COLUMNS):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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


def _select(plan, args, parser, batch_at, length_at):
    """The configurations of `plan` that --variants and --lengths keep, at --batch if given.

    Each configuration is a tuple whose first item is the variant, its `batch_at`-th
    the batch size and its `length_at`-th the length.
    """
    if args.variants:
        _check_variants(args.variants, parser)
        sizes = list(dict.fromkeys(p[1:] for p in plan))
        planned = {p[0] for p in plan}
        plan = [p for p in plan if p[0] in args.variants]
        plan += [(v, *size) for v in args.variants if v not in planned for size in sizes]
    if args.lengths:
        plan = [p for p in plan if p[length_at] in args.lengths]
    if args.batch is not None:
        if args.batch <= 0:
            parser.error(f"--batch must be a positive integer. Received: --batch={args.batch}")
        plan = list(dict.fromkeys((*p[:batch_at], args.batch, *p[batch_at + 1 :]) for p in plan))
    return plan


def _check_variants(names, parser):
    from attention_zoo import layers

    known = [*VARIANTS, *layers.available()]
    for name in names:
        if name not in known:
            parser.error(
                f"--variants takes names of {', '.join(dict.fromkeys(known))}. "
                f"Received: --variants {name}"
            )


def _write(stem, rows, table, columns):
    """`stem`.csv (the rows) and `stem`.md (the table)."""
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    stem.with_suffix(".md").write_text(table + "\n")
    print(f"Wrote {stem}.csv and {stem}.md")


if __name__ == "__main__":
    main()
