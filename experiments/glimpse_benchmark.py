"""RAM, the soft-glimpse model with each attention variant, and a CNN on 60 x 60 MNIST.

The protocol of the RAM paper (Mnih et al., 2014, Table 2) on far less data: the
official MNIST test file split as the data README says (images 0-7999 train,
8000-9999 test), each digit placed at a random position on a 60 x 60 canvas
("translated"), and the same plus four 8 x 8 fragments of other digits
("cluttered"); the canvases are built once with fixed seeds, independent of
the run seeds. Every model trains with plain `model.fit` under the same CPU
time budget (process CPU seconds, all threads counted, data building and
evaluation not counted); the test error of the last weights is reported as
mean +- std over the seeds.

    python -m attention_zoo.experiments.glimpse_benchmark --budget-seconds 120 --seeds 3

Writes `glimpse_benchmark_runs.csv` (one row per run), `glimpse_benchmark.csv`
and `glimpse_benchmark.md` (the summary table) and pictures of where the
models look to `--out-dir`.
"""

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
PAPER = {  # Mnih et al. (2014), Table 2, test error in %.
    ("translated", "ram_8"): 1.20,
    ("translated", "cnn"): 1.62,
    ("cluttered", "ram_8"): 4.04,
    ("cluttered", "cnn"): 8.09,
}
TRAIN, TEST = slice(0, 8000), slice(8000, 10000)
SOFT_UNITS, SOFT_HEADS = 64, 4  # the soft-glimpse model's size, and heads where a layer splits them


def model_names():
    from attention_zoo import layers

    return ["ram_4", "ram_6", "ram_8", *(f"soft_{a}" for a in layers.available()), "cnn"]


def build_model(name, image_shape, seed):
    """The configuration of each benchmarked model on (60, 60, 1) canvases."""
    import keras

    from attention_zoo import layers
    from attention_zoo.zoo import ConvNetClassifier, RecurrentAttentionModel, SoftGlimpseClassifier

    keras.utils.set_random_seed(seed)
    if name.startswith("ram_"):
        # The paper's 60 x 60 set-up: 12 x 12 glimpses at 3 scales, 128/256 units.
        return RecurrentAttentionModel(
            image_shape=image_shape,
            num_glimpses=int(name.split("_")[1]),
            patch_size=12,
            num_scales=3,
            location_std=0.15,
            seed=seed,
        )
    if name.startswith("soft_"):
        attention = name[len("soft_") :]
        kwargs = layers.get_class(attention).defaults_in_model(SOFT_UNITS, SOFT_HEADS)
        return SoftGlimpseClassifier(
            image_shape=image_shape,
            attention=attention,
            attention_kwargs=kwargs,
            units=SOFT_UNITS,
            num_steps=3,
        )
    if name == "cnn":
        return ConvNetClassifier(image_shape=image_shape)
    raise ValueError(f"Unknown benchmark model. Received: name={name!r}")


def make_data(data_dir, num_fragments=4):
    """The translated and cluttered 60 x 60 train and test sets, built with fixed seeds."""
    from attention_zoo.zoo import image_data

    images, labels = image_data.load_mnist_idx(
        os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"),
        os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz"),
    )
    data = {}
    for kind, build in (
        ("translated", lambda d, s: image_data.translated_mnist(d, seed=s)),
        (
            "cluttered",
            lambda d, s: image_data.cluttered_mnist(d, num_fragments=num_fragments, seed=s),
        ),
    ):
        data[kind] = (
            build(images[TRAIN], 100),
            labels[TRAIN],
            build(images[TEST], 200),
            labels[TEST],
        )
    return data


def _cpu_budget_callback(budget_seconds, max_steps=None):
    import keras

    class CpuBudget(keras.callbacks.Callback):
        """Stops training once the process has used `budget_seconds` of CPU time.

        The clock starts after the first step, which traces the graph: tracing
        costs the unrolled 8-glimpse RAM far more than the CNN and is not training.
        With `max_steps` it stops after that many steps instead (the CPU time is
        still measured).
        """

        def on_train_begin(self, logs=None):
            self.start = None
            self.steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.start is None:
                self.start = time.process_time()
            if max_steps is not None:
                if self.steps >= max_steps:
                    self.model.stop_training = True
            elif time.process_time() - self.start >= budget_seconds:
                self.model.stop_training = True

    return CpuBudget()


def steps_to_match(path):
    """{(dataset, model): mean training steps} of the runs in a `glimpse_benchmark_runs.csv`.

    A CPU-second buys a different number of steps on another machine or under
    another load; new seeds stopped after these step counts get the training
    the runs in `path` got.
    """
    steps = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            steps.setdefault((row["dataset"], row["model"]), []).append(int(row["steps"]))
    return {key: round(float(np.mean(counts))) for key, counts in steps.items()}


def run_one(name, kind, data, seed, budget_seconds, batch_size, out_dir, picture, max_steps=None):
    x_train, y_train, x_test, y_test = data
    model = build_model(name, x_train.shape[1:], seed)
    budget = _cpu_budget_callback(budget_seconds, max_steps)
    wall = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=10_000,
        shuffle=True,
        callbacks=[budget],
        verbose=0,
    )
    cpu = time.process_time() - (budget.start or time.process_time())
    wall = time.perf_counter() - wall
    probs = model.predict(x_test, batch_size=500, verbose=0)
    error = float(np.mean(np.argmax(probs, -1) != y_test))
    if picture:
        from attention_zoo.zoo.vision.glimpse_plots import (
            plot_attention_maps,
            plot_glimpse_trajectory,
        )

        plot = plot_glimpse_trajectory if name.startswith("ram_") else plot_attention_maps
        if name != "cnn":
            for i in range(2):
                plot(model, x_test[i], out_dir / f"glimpse_{kind}_{name}_{i}.png", label=y_test[i])
    return {
        "dataset": kind,
        "model": name,
        "seed": seed,
        "test_error_pct": round(100 * error, 2),
        "epochs": len(history.history["loss"]),
        "steps": budget.steps,
        "train_cpu_s": round(cpu, 1),
        "train_wall_s": round(wall, 1),
        "params": model.count_params(),
    }


def summarise(rows, datasets, names):
    table = []
    for kind in datasets:
        for name in names:
            runs = [r for r in rows if r["dataset"] == kind and r["model"] == name]
            if not runs:
                continue
            errors = np.array([r["test_error_pct"] for r in runs])
            table.append(
                {
                    "dataset": kind,
                    "model": name,
                    "test_error_pct_mean": round(float(errors.mean()), 2),
                    "test_error_pct_std": round(float(errors.std(ddof=1)), 2)
                    if len(errors) > 1
                    else "",
                    "seeds": len(runs),
                    "epochs_mean": round(float(np.mean([r["epochs"] for r in runs])), 1),
                    "params": runs[0]["params"],
                    "paper_error_pct": PAPER.get((kind, name), ""),
                }
            )
    return table


def to_markdown(table):
    lines = [
        "| dataset | model | test error % (mean ± std) | seeds | epochs | params | paper % |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table:
        spread = f" ± {r['test_error_pct_std']:.2f}" if r["test_error_pct_std"] != "" else ""
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['test_error_pct_mean']:.2f}{spread} | "
            f"{r['seeds']} | {r['epochs_mean']} | {r['params']:,} | {r['paper_error_pct']} |"
        )
    return "\n".join(lines)


def _write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _write_summary(rows, datasets, names, out_dir):
    table = summarise(rows, datasets, names)
    _write_csv(out_dir / "glimpse_benchmark.csv", table)
    markdown = to_markdown(table)
    (out_dir / "glimpse_benchmark.md").write_text(markdown + "\n")
    print(markdown)


def _summarise_files(paths, out_dir):
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                for key in ("test_error_pct", "train_cpu_s", "train_wall_s"):
                    row[key] = float(row[key])
                for key in ("seed", "epochs", "steps", "params"):
                    row[key] = int(row[key])
                rows.append(row)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    names = list(dict.fromkeys(r["model"] for r in rows))
    _write_csv(out_dir / "glimpse_benchmark_runs.csv", rows)
    _write_summary(rows, datasets, names, out_dir)


def _parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA), help="MNIST IDX files")
    parser.add_argument("--budget-seconds", type=float, default=120.0, help="CPU s per run")
    parser.add_argument("--seeds", type=int, default=3, help="runs per model: seeds 0..n-1")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first run")
    parser.add_argument("--datasets", default="translated,cluttered", help="comma list")
    parser.add_argument("--models", default="all", help="comma list of " + "ram_4, ..., cnn")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per step")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow CPU threads")
    parser.add_argument("--out-dir", default="runs/glimpse_benchmark", help="CSV and pictures")
    parser.add_argument(
        "--from-runs",
        default=None,
        help="comma list of glimpse_benchmark_runs.csv files: only rebuild the summary from them",
    )
    parser.add_argument(
        "--match-steps",
        default=None,
        help="a glimpse_benchmark_runs.csv: stop each run after the mean steps its model had on "
        "its dataset there, instead of after --budget-seconds",
    )
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.from_runs:
        return _summarise_files(args.from_runs.split(","), out_dir)

    names = model_names() if args.models == "all" else args.models.split(",")
    datasets = args.datasets.split(",")
    max_steps = steps_to_match(args.match_steps) if args.match_steps else {}
    for kind in datasets:
        for name in names:
            if args.match_steps and (kind, name) not in max_steps:
                raise ValueError(
                    f"match_steps has no run of {name} on {kind}. "
                    f"Received: match_steps={args.match_steps!r}"
                )

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    data = make_data(args.data_dir)
    rows = []
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for seed in seeds:
        for kind in datasets:
            for name in names:
                row = run_one(
                    name,
                    kind,
                    data[kind],
                    seed,
                    args.budget_seconds,
                    args.batch_size,
                    out_dir,
                    picture=seed == args.first_seed,
                    max_steps=max_steps.get((kind, name)),
                )
                rows.append(row)
                print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
                _write_csv(out_dir / "glimpse_benchmark_runs.csv", rows)
                keras.backend.clear_session()
    _write_summary(rows, datasets, names, out_dir)
    budget = (
        f"steps matched to {args.match_steps}"
        if args.match_steps
        else f"CPU budget {args.budget_seconds:g} s per run"
    )
    print(
        f"\n{budget}, {args.threads} TensorFlow thread(s), "
        f"TF {tf.__version__}, Keras {keras.__version__}; 8,000 training digits."
    )


if __name__ == "__main__":
    main()
