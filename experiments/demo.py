"""`make demo`: a tiny model per attention variant on a generated task, and a table of results.

The task needs attention: each sequence of distractor tokens holds one signal
token at a random position, and the label is which signal token it is. Mean
pooling dilutes the signal among up to 40 distractors; attention pooling with
a learned query can pick it out.
"""

import argparse
import time

import keras
import numpy as np

from attention_zoo import layers

CLASSES = 10
DISTRACTORS = 40
VOCAB = 1 + CLASSES + DISTRACTORS  # 0 = padding, then the signal tokens, then distractors
LENGTH = 40


def make_task(n, length=LENGTH, seed=0):
    """Token ids (n, length), padded at the end, and the class of the one signal token."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1 + CLASSES, VOCAB, size=(n, length))
    lengths = rng.integers(length // 2, length + 1, size=n)
    labels = rng.integers(0, CLASSES, size=n)
    ids[np.arange(n), rng.integers(0, lengths)] = 1 + labels
    ids[np.arange(length)[None, :] >= lengths[:, None]] = 0
    return ids.astype("int32"), labels.astype("int32")


def build_model(variant, length=LENGTH, dim=16, seed=0):
    """Embedding, then attention pooling with `variant` (or masked mean pooling), then softmax."""
    keras.utils.set_random_seed(seed)
    ids = keras.Input((length,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, dim, mask_zero=True)(ids)
    if variant == "none":
        pooled = keras.layers.GlobalAveragePooling1D()(x)
    else:
        kwargs = {"num_heads": 4} if variant == "multi_head" else {}
        pooled = layers.AttentionPooling(score=variant, score_kwargs=kwargs)(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax")(pooled)
    model = keras.Model(ids, outputs, name=f"demo_{variant}")
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def run(epochs=5, n_train=3000, n_test=1000, seed=0):
    x_train, y_train = make_task(n_train, seed=seed)
    x_test, y_test = make_task(n_test, seed=seed + 1)
    rows = []
    variants = ["none", *layers.available()]
    for i, variant in enumerate(variants, 1):
        print(f"[{i}/{len(variants)}] training {variant} ...", flush=True)
        model = build_model(variant, seed=seed)
        start = time.perf_counter()
        model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
        seconds = time.perf_counter() - start
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        rows.append((variant, accuracy, model.count_params(), seconds))
    return rows


def format_table(rows):
    lines = [
        "| variant | test accuracy | parameters | seconds |",
        "|---|---|---|---|",
    ]
    for variant, accuracy, params, seconds in rows:
        lines.append(f"| {variant} | {accuracy:.3f} | {params:,} | {seconds:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs <= 0:
        parser.error(f"--epochs must be a positive integer. Received: --epochs={args.epochs}")
    print(
        f"Task: name the one signal token among up to {LENGTH} distractors "
        f"({CLASSES} classes, chance = {1 / CLASSES:.2f})."
    )
    print(format_table(run(epochs=args.epochs, seed=args.seed)))


if __name__ == "__main__":
    main()
