"""Attention pooling against masked mean pooling on the generated keyword task.

For each encoder and pooling, trains `TextClassifier` on `make_token_task` with
the same data, epochs and seeds, and prints test accuracy (mean ± std over the
seeds) as a Markdown table; `--csv` also writes the rows.

    python -m attention_zoo.experiments.text_task_benchmark
"""

import csv
import time

import keras
import numpy as np

from attention_zoo import layers, zoo
from attention_zoo.experiments import cli_base
from attention_zoo.zoo import text_data

DEFAULT_ENCODERS = ("none", "bigru", "transformer")
DEFAULT_POOLINGS = ("none", *layers.available())
TARGET = 0.9  # the test accuracy whose first epoch the table reports


def run_one(encoder, pooling, data, epochs, seed, length, batch_size=64):
    """Trains one configuration; returns (test accuracy, first epoch >= TARGET, params, seconds).

    The test split is evaluated after every epoch only to report when it first
    reaches TARGET; nothing is selected on it.
    """
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    model = zoo.create_model(
        "text_classifier",
        vocab_size=len(text_data.task_vocabulary()) + 2,
        sequence_length=length,
        encoder=encoder,
        attention=pooling,
    )
    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(x_test, y_test),
        validation_batch_size=256,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    curve = history.history["val_accuracy"]
    reached = next((i + 1 for i, a in enumerate(curve) if a >= TARGET), None)
    return curve[-1], reached, model.count_params(), seconds


def run(encoders, poolings, seeds, epochs, n_train, n_test, length, negation_rate):
    rows = []
    for seed in seeds:
        data = (
            text_data.make_token_task(
                n_train, max_length=length, seed=1000 + seed, negation_rate=negation_rate
            ),
            text_data.make_token_task(
                n_test, max_length=length, seed=2000 + seed, negation_rate=negation_rate
            ),
        )
        for encoder in encoders:
            for pooling in poolings:
                accuracy, reached, params, seconds = run_one(
                    encoder, pooling, data, epochs, seed, length
                )
                print(
                    f"seed {seed} encoder {encoder:11s} pooling {pooling:10s} "
                    f"accuracy {accuracy:.3f} reached {TARGET} at epoch {reached} "
                    f"({seconds:.0f} s)",
                    flush=True,
                )
                rows.append((encoder, pooling, seed, accuracy, reached, params, seconds))
    return rows


def format_table(rows, epochs):
    lines = [
        f"| encoder | pooling | test accuracy (mean ± std) | runs reaching {TARGET} "
        f"(mean epoch) | parameters | train seconds |",
        "|---|---|---|---|---|---|",
    ]
    keys = list(dict.fromkeys((r[0], r[1]) for r in rows))
    for encoder, pooling in keys:
        sel = [r for r in rows if (r[0], r[1]) == (encoder, pooling)]
        acc = np.array([r[3] for r in sel])
        reached = [r[4] for r in sel if r[4] is not None]
        when = f" ({np.mean(reached):.1f})" if reached else ""
        name = "mean (baseline)" if pooling == "none" else pooling
        lines.append(
            f"| {encoder} | {name} | {acc.mean():.3f} ± {acc.std():.3f} "
            f"| {len(reached)}/{len(sel)}{when} | {sel[0][5]:,} "
            f"| {np.mean([r[6] for r in sel]):.0f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = cli_base._Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=list(DEFAULT_ENCODERS))
    parser.add_argument("--poolings", nargs="+", default=list(DEFAULT_POOLINGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--length", type=int, default=48)
    parser.add_argument("--negation-rate", type=float, default=0.5)
    parser.add_argument("--csv", help="also write the per-seed rows to this CSV file")
    args = parser.parse_args(argv)
    for name in ("seeds", "epochs", "n_train", "n_test"):
        if getattr(args, name) <= 0:
            parser.error(
                f"--{name.replace('_', '-')} must be positive. Received: {getattr(args, name)}"
            )
    print(
        f"Task: make_token_task, {args.n_train} train / {args.n_test} test texts of "
        f"{args.length // 2}-{args.length} words, negation rate {args.negation_rate}, "
        f"{args.epochs} epochs, seeds 0..{args.seeds - 1}, "
        f"Keras {keras.__version__} on {keras.backend.backend()}."
    )
    rows = run(
        args.encoders,
        args.poolings,
        range(args.seeds),
        args.epochs,
        args.n_train,
        args.n_test,
        args.length,
        args.negation_rate,
    )
    print(format_table(rows, args.epochs))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(
                ["encoder", "pooling", "seed", "accuracy", "epoch_reached", "parameters", "seconds"]
            )
            writer.writerows(rows)


if __name__ == "__main__":
    main()
