"""Does attention matter on long inputs? The long-dates task, with and without attention.

Each input holds several dates in assorted formats (about 60 characters for
four), the output their ISO dates (44 characters). The same translator is
trained with attention and with `attention="none"` (a fixed summary of the
input at every step), for the same number of epochs, and both are scored on
held-out pairs: exact match of the whole output, and per-character accuracy
of the greedy output against the target.

    python -m attention_zoo.experiments.long_dates --epochs 6 --seeds 0
"""

import argparse
import csv
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from attention_zoo.experiments.cli_base import check_positive_options  # noqa: E402
from attention_zoo.zoo import Translator, translation_data  # noqa: E402


def char_accuracy(outputs, targets):
    """Mean over pairs of the share of target positions whose character the output matches."""
    scores = []
    for out, target in zip(outputs, targets, strict=True):
        hits = sum(a == b for a, b in zip(out, target, strict=False))
        scores.append(hits / max(len(target), len(out)))
    return float(np.mean(scores))


def run(attention, decoder, train, test, args, seed):
    keras.utils.set_random_seed(seed)
    translator = Translator.from_pairs(
        train, split="char", decoder=decoder, attention=attention, units=args.units
    )
    x, y = translator.encode_pairs(train)
    start = time.process_time()
    translator.fit(x, y, batch_size=64, epochs=args.epochs, verbose=0)
    cpu = time.process_time() - start
    outputs = translator.translate([s for s, _ in test])
    targets = [t for _, t in test]
    exact = float(np.mean([o == t for o, t in zip(outputs, targets, strict=True)]))
    return {
        "decoder": decoder,
        "attention": attention,
        "seed": seed,
        "exact_match": exact,
        "char_accuracy": char_accuracy(outputs, targets),
        "train_cpu_seconds": round(cpu, 1),
        "example": f"{test[0][0]} => {outputs[0]}",
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--train", type=int, default=4000, help="training pairs")
    parser.add_argument("--test", type=int, default=300, help="held-out pairs")
    parser.add_argument("--dates-per-example", type=int, default=4, help="dates in an input")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs")
    parser.add_argument("--units", type=int, default=48, help="the translator's units")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed")
    parser.add_argument("--decoder", default="luong", help="the translator's decoder")
    parser.add_argument(
        "--attentions", nargs="+", default=["bilinear", "none"], help="the variants compared"
    )
    parser.add_argument("--out", default="runs/long_dates", help="folder of the tables")
    args = parser.parse_args(argv)
    check_positive_options(parser, args, ("train", "test", "dates_per_example", "epochs", "units"))

    train = translation_data.long_dates(args.train, 0, args.dates_per_example)
    test = translation_data.long_dates(args.test, 1, args.dates_per_example)
    rows = []
    for seed in args.seeds:
        for attention in args.attentions:
            row = run(attention, args.decoder, train, test, args, seed)
            rows.append(row)
            print(
                f"{args.decoder} attention={attention:>10} seed {seed}: exact "
                f"{100 * row['exact_match']:5.1f}%  chars {100 * row['char_accuracy']:5.1f}%  "
                f"({row['train_cpu_seconds']} s CPU) | {row['example']}",
                flush=True,
            )
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "| decoder | attention | seeds | exact match | char accuracy |",
        "|---|---|---|---|---|",
    ]
    for attention in args.attentions:
        runs = [r for r in rows if r["attention"] == attention]
        exact = np.array([r["exact_match"] for r in runs])
        chars = np.array([r["char_accuracy"] for r in runs])
        lines.append(
            f"| {args.decoder} | {attention} | {len(runs)} | {100 * exact.mean():.1f}% ± "
            f"{100 * exact.std():.1f} | {100 * chars.mean():.1f}% ± {100 * chars.std():.1f} |"
        )
    table = "\n".join(lines) + "\n"
    (out / "results.md").write_text(table, encoding="utf-8")
    print()
    print(table)


if __name__ == "__main__":
    main()
