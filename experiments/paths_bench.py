"""Tiles of heads against whole tensors, with and without XLA, timed in one process.

`python -m attention_zoo.experiments.paths_bench --variant multi_head --length 1024`
builds one layer four times (tf.function or XLA; the own backward pass on
tiles of heads or on whole tensors: `implementation="tiles"` or
`"own_backward"`, see `BaseAttention`)
and times a forward + backward step of each in alternating rounds (the order
reverses every other round). It prints the median time of each and the
median of the per-round ratios against `tf.function` with tiles. TensorFlow
backend, CPU; self-attention on (B, T, D) inputs, 8 heads for a layer that
splits heads (its `defaults_in_model(D, 8)`). Any variant whose score is a
matmul (`score_is_matmul()`) can be timed.
"""

import argparse
import os
import statistics
import time

HEADS = 8


def _step(layer, x, jit):
    import tensorflow as tf

    @tf.function(jit_compile=jit)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, x) ** 2)
        return tape.gradient(loss, [x, *layer.trainable_variables])

    step(x)  # trace and warm up
    return step


def run(variant, length, batch, dim, rounds):
    """{name: (median ms, median ratio against tf.function with tiles)}."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import numpy as np
    import tensorflow as tf

    from attention_zoo import layers

    x = tf.constant(np.random.default_rng(0).standard_normal((batch, length, dim)), tf.float32)
    steps = {}
    for jit in (False, True):
        for tiles in (True, False):
            kwargs = layers.get_class(variant).defaults_in_model(dim, HEADS)
            implementation = "tiles" if tiles else "own_backward"
            layer = layers.get(variant, implementation=implementation, **kwargs)
            name = f"{'XLA' if jit else 'tf.function'}, {'tiles' if tiles else 'whole tensors'}"
            steps[name] = _step(layer, x, jit)
    names = list(steps)
    times = {name: [] for name in names}
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            for grad in steps[name](x):
                grad.numpy()
            times[name].append(time.perf_counter() - start)
    first = times[names[0]]
    return {
        name: (
            1000 * statistics.median(times[name]),
            statistics.median(t / f for t, f in zip(times[name], first, strict=True)),
        )
        for name in names
    }


def _check_variant(parser, variant):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from attention_zoo import layers

    matmul = [n for n in layers.available() if layers.get(n).score_is_matmul()]
    if variant not in matmul:
        parser.error(
            "--variant must be a variant with a matmul score, one of "
            f"{', '.join(matmul)}. Received: --variant={variant}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--variant", default="multi_head", help="a variant with a matmul score")
    parser.add_argument("--length", type=int, default=1024, help="T, query and key length")
    parser.add_argument("--batch", type=int, default=8, help="batch size B")
    parser.add_argument("--dim", type=int, default=256, help="model size D")
    parser.add_argument("--rounds", type=int, default=9, help="alternating timing rounds")
    args = parser.parse_args(argv)
    for arg in ("length", "batch", "dim", "rounds"):
        value = getattr(args, arg)
        if value <= 0:
            parser.error(f"--{arg} must be a positive integer. Received: --{arg}={value}")
    _check_variant(parser, args.variant)
    results = run(args.variant, args.length, args.batch, args.dim, args.rounds)
    print(f"{args.variant}, B = {args.batch}, T = {args.length}, D = {args.dim}")
    print("| path | ms fwd+bwd | paired ratio vs tf.function, tiles |")
    print("|---|---|---|")
    for name, (ms, ratio) in results.items():
        print(f"| {name} | {ms:.1f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
