"""Text-classifier encoders x poolings and a Keras built-in baseline, trained to convergence on MR.

MR is the movie-review sentence polarity data (Pang & Lee, 2005), 10,662
sentences; the split is the data README's (see `_mr_models.load_split`): 8,636
training, 960 validation and 1,066 test sentences, the vocabulary from the
training and validation sentences only. Each run trains for at most
`--max-epochs` epochs, stops once validation accuracy has not improved for
`--patience` epochs, and is scored on the test set with the weights of its best
validation epoch; the test set selects nothing. The baseline `keras_transformer`
is the keras.io text-classification Transformer with that example's sizes, built
from `keras.layers` alone.

Each finished run is appended at once to the runs CSV (rewritten atomically), so
a cut session loses nothing; a rerun with the same settings skips the runs
already there. The summary (mean ± sample std over seeds, against Kim (2014)
CNN-rand, 76.1 % by 10-fold cross-validation) is printed and written as Markdown
beside the CSV, with the command.

    KERAS_BACKEND=jax python -m attention_zoo.experiments.mr_benchmark \\
        --data ../shared/data/mr --encoders bigru transformer --poolings none additive
"""

import csv
import math
import os
import shlex
import sys
import time
from pathlib import Path

import keras
import numpy as np

from attention_zoo import layers
from attention_zoo.experiments import _mr_models, cli_base
from attention_zoo.zoo.text.text_classifier import ENCODERS

KIM_CNN_RAND = 76.1  # Kim (2014), Table 2, MR, test accuracy in % (10-fold CV)
# What a run's result depends on besides its model and seed: a rerun skips a run only if equal.
SETTINGS = (
    "max_epochs",
    "patience",
    "batch_size",
    "vocab_size",
    "sequence_length",
    "embed_dim",
    "num_heads",
    "dropout",
    "learning_rate",
    "backend",
)
RESULTS = ("epochs", "best_epoch", "steps", "wall_s", "cpu_s", "best_val_accuracy")
FIELDS = ("model", "encoder", "pooling", "seed", *RESULTS, "test_accuracy", "params", *SETTINGS)


def run_one(name, seed, data, vocab_size, settings):
    """Trains one model with early stopping; returns its CSV row."""
    (x_train, y_train), validation, test = data["train"], data["validation"], data["test"]
    keras.utils.set_random_seed(seed)
    model = _mr_models.build_model(name, vocab_size, settings)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=settings["patience"], restore_best_weights=True
    )
    wall, cpu = time.perf_counter(), time.process_time()
    history = model.fit(
        x_train,
        y_train,
        batch_size=settings["batch_size"],
        epochs=settings["max_epochs"],
        validation_data=validation,
        callbacks=[stop],
        shuffle=True,
        verbose=0,
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    curve = history.history["val_accuracy"]
    probs = model.predict(test[0], batch_size=256, verbose=0)
    encoder, pooling = name.split("/") if "/" in name else ("", "")
    return {
        "model": name,
        "encoder": encoder,
        "pooling": pooling,
        "seed": seed,
        "epochs": len(curve),
        "best_epoch": int(np.argmax(curve)) + 1,
        "steps": len(curve) * math.ceil(len(y_train) / settings["batch_size"]),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "best_val_accuracy": round(float(max(curve)), 4),
        "test_accuracy": round(float(np.mean(np.argmax(probs, -1) == test[1])), 4),
        "params": model.count_params(),
        **settings,
    }


def read_runs(path):
    """The rows of a runs CSV (all values as strings); none if the file does not exist."""
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_runs(path, rows):
    """Writes the runs CSV atomically: a temporary file beside it, then `os.replace`."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _same_settings(row, settings):
    return all(str(row.get(key)) == str(value) for key, value in settings.items())


def run_all(names, seeds, data, vocab_size, settings, path, on_row=None):
    """Runs each (seed, model) not yet in the CSV at `path`; appends each row once it finishes.

    `on_row(rows)` is called after each append (the summary is rewritten there).
    """
    rows = read_runs(path)
    done = {(r["model"], r["seed"]) for r in rows if _same_settings(r, settings)}
    for seed in seeds:
        for name in names:
            if (name, str(seed)) in done:
                print(f"seed {seed} {name}: in {path} already, skipped", flush=True)
                continue
            row = run_one(name, seed, data, vocab_size, settings)
            rows.append(row)
            write_runs(path, rows)
            if on_row is not None:
                on_row(rows)
            print(
                f"seed {seed} {name}: test {row['test_accuracy']:.4f}, best val "
                f"{row['best_val_accuracy']:.4f} at epoch {row['best_epoch']}/{row['epochs']}, "
                f"{row['wall_s']:.0f} s",
                flush=True,
            )
            keras.backend.clear_session()
    return rows


def summarise(rows, settings):
    """Mean ± sample std over seeds per model, of the rows with `settings`; best test first."""
    groups = {}
    for row in rows:
        if _same_settings(row, settings):
            groups.setdefault(row["model"], []).append(row)
    table = []
    for name, runs in groups.items():
        test = 100 * np.array([float(r["test_accuracy"]) for r in runs])
        table.append(
            {
                "model": name,
                "seeds": len(runs),
                "test_mean": test.mean(),
                "test_std": test.std(ddof=1) if len(runs) > 1 else float("nan"),
                "val_mean": 100 * np.mean([float(r["best_val_accuracy"]) for r in runs]),
                "epochs": np.mean([int(r["epochs"]) for r in runs]),
                "params": int(runs[0]["params"]),
                "wall_s": np.mean([float(r["wall_s"]) for r in runs]),
            }
        )
    return sorted(table, key=lambda r: -r["test_mean"])


def to_markdown(table, settings, sizes, command):
    lines = [
        f"MR, the fixed split ({sizes} sentences), at most "
        f"{settings['max_epochs']} epochs, early stopping on validation accuracy (patience "
        f"{settings['patience']}, best weights restored), Keras {keras.__version__} on "
        f"{settings['backend']}. Test accuracy in %, mean ± sample std over seeds.",
        "",
        "| model (encoder/pooling) | seeds | test acc. % | vs CNN-rand 76.1 | best val. % "
        "| epochs | params | wall s/run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        spread = "" if r["seeds"] < 2 else f" ± {r['test_std']:.1f}"
        lines.append(
            f"| {r['model']} | {r['seeds']} | {r['test_mean']:.1f}{spread} "
            f"| {r['test_mean'] - KIM_CNN_RAND:+.1f} | {r['val_mean']:.1f} | {r['epochs']:.1f} "
            f"| {r['params']:,} | {r['wall_s']:.0f} |"
        )
    lines.append(f"| Kim (2014) CNN-rand, 10-fold CV | | {KIM_CNN_RAND} | | | | | |")
    lines += ["", "Command:", "", f"    {command}"]
    return "\n".join(lines)


def _parser():
    parser = cli_base._Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/mr", help="folder of rt-polarity.*")
    parser.add_argument("--encoding", default="latin-1", help="text encoding of the files")
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=ENCODERS)
    poolings = ["none", *layers.available()]
    parser.add_argument(
        "--poolings",
        nargs="+",
        default=["none", "additive", "mlp", "cosine", "multi_head"],
        choices=poolings,
        help="attention scores of the pooling; none = masked mean",
    )
    parser.add_argument(
        "--baselines",
        nargs="*",
        default=list(_mr_models.BASELINES),
        help="models of Keras layers alone; --baselines with no name runs none",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=3, help="epochs without improvement")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=20000, help="ids, padding included")
    parser.add_argument("--sequence-length", type=int, default=56, help="tokens kept per text")
    parser.add_argument("--embed-dim", type=int, default=128)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam")
    parser.add_argument("--out", default="experiments/results/mr_runs.csv", help="runs CSV")
    return parser


def _check_args(parser, args):
    integers = ["max_epochs", "patience", "batch_size", "vocab_size", "sequence_length"]
    cli_base.check_positive_options(parser, args, [*integers, "embed_dim", "num_heads"])
    for name in args.baselines:
        if name not in _mr_models.BASELINES:
            parser.error(f"--baselines must be among {_mr_models.BASELINES}. Received: {name!r}")
    if not 0 <= args.dropout < 1:
        parser.error(f"--dropout must be in [0, 1). Received: {args.dropout}")
    if not args.learning_rate > 0:
        parser.error(f"--learning-rate must be positive. Received: {args.learning_rate}")
    missing = [f for f in _mr_models.CLASS_FILES.values() if not Path(args.data, f).is_file()]
    if missing:
        parser.error(f"--data must be a folder holding {missing}. Received: {args.data!r}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    settings = {key: getattr(args, key, None) for key in SETTINGS}
    settings["backend"] = keras.backend.backend()
    command = f"KERAS_BACKEND={settings['backend']} python -m {__spec__.name}"
    command = f"{command} {shlex.join(argv)}".strip()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    split = _mr_models.load_split(args.data, args.encoding)
    data, vocab_size = _mr_models.vectorize(split, args.vocab_size, args.sequence_length)
    sizes = ", ".join(f"{len(y):,} {part}" for part, (_, y) in data.items())
    print(f"MR: {sizes} sentences; {vocab_size:,} token ids", flush=True)
    names = [f"{e}/{p}" for e in args.encoders for p in args.poolings] + args.baselines
    summary = Path(args.out).with_suffix(".md")

    def write_summary(rows):
        markdown = to_markdown(summarise(rows, settings), settings, sizes, command)
        Path(f"{summary}.tmp").write_text(markdown + "\n", encoding="utf-8")
        os.replace(f"{summary}.tmp", summary)
        return markdown

    rows = run_all(names, args.seeds, data, vocab_size, settings, args.out, write_summary)
    print(write_summary(rows))


if __name__ == "__main__":
    main()
