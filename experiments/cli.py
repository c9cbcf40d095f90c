"""The `attention-zoo` command: list, train, compare, export, plot, bench.

Exit codes: 0 success, 2 bad arguments, 1 failure; the reason goes to stderr in one line.
"""

import argparse
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PRESETS = {
    # The main job: every reference model x every variant on generated data, a few minutes.
    # No budget here: each model's quick epoch budget (Task.quick_epochs) applies.
    "quick": {"executions": 2},
    "full": {"budget_seconds": 600, "executions": 3},
}


class UsageError(Exception):
    """Bad arguments: exit code 2."""


def _parser():
    parser = argparse.ArgumentParser(
        prog="attention-zoo",
        description="Compare attention variants in Keras: layers, reference models, sweeps.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("list", help="list the attention variants, models and comparison tasks")

    train = sub.add_parser("train", help="train one model with one variant and save it")
    train.add_argument("--model", required=True, help="comparison task / model name")
    train.add_argument("--variant", required=True, help="attention variant of that model")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--data", help="a user's data file (where the model supports it)")
    train.add_argument("--out", required=True, help="where to save the model (.keras)")

    compare = sub.add_parser("compare", help="the sweep: compare variants with Keras Tuner")
    compare.add_argument(
        "--model", action="append", help="model to compare (repeatable; default: all)"
    )
    compare.add_argument("--preset", default="quick", help="quick (generated data) or full")
    compare.add_argument("--variants", help="comma-separated subset of variants")
    compare.add_argument("--tuner", default="grid", help="grid, random, bayesian or hyperband")
    compare.add_argument("--budget-epochs", type=int, help="epochs per training (all variants)")
    compare.add_argument("--budget-seconds", type=float, help="seconds per training instead")
    compare.add_argument("--executions", type=int, help="seeds per configuration")
    compare.add_argument("--max-trials", type=int, help="trials for random/bayesian tuners")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument(
        "--data",
        action="append",
        metavar="[MODEL=]PATH",
        help="a user's data for --preset full: MODEL=PATH per model (repeatable), "
        "or PATH alone with a single --model",
    )
    compare.add_argument("--strategy", choices=["none", "mirrored"], default="none")
    compare.add_argument("--overwrite", action="store_true", help="discard a previous sweep")
    compare.add_argument("--out", default="runs/compare", help="output directory")

    export = sub.add_parser("export", help="export a saved model (.keras or SavedModel)")
    export.add_argument("model_path", help="a .keras file")
    export.add_argument("--format", choices=["keras", "savedmodel"], default="savedmodel")
    export.add_argument("--out", required=True)

    plot = sub.add_parser("plot", help="draw the attention of a saved model")
    plot.add_argument("model_path", help="a .keras file")
    plot.add_argument("--task", help="comparison task of the model (default: from its class)")
    plot.add_argument(
        "--text",
        help="the text to draw: a review for a text classifier, a source sentence for a "
        "translator (default: chosen from the model's own vocabulary, printed)",
    )
    plot.add_argument("--out", required=True, help="PNG path")

    sub.add_parser("bench", help="benchmark the layers against the Keras built-ins", add_help=False)
    return parser


def _cmd_list(args):
    from attention_zoo import layers, zoo
    from attention_zoo.experiments.tasks import TASKS

    print("attention variants: " + ", ".join(layers.available()))
    print("aliases: " + ", ".join(sorted(set(layers.available(True)) - set(layers.available()))))
    print("models: " + ", ".join(zoo.list_models()))
    for name, task in sorted(TASKS.items()):
        print(f"compare --model {name}: variants " + ", ".join(task.variants()))
    return 0


def _cmd_compare(args):
    from attention_zoo.experiments import compare as compare_mod
    from attention_zoo.experiments.tasks import TASKS

    if args.preset not in PRESETS:
        raise UsageError(
            f"--preset must be one of {', '.join(PRESETS)}. Received: --preset={args.preset}"
        )
    preset = dict(PRESETS[args.preset])
    if args.budget_epochs is not None or args.budget_seconds is not None:
        preset["budget_epochs"] = args.budget_epochs
        preset["budget_seconds"] = args.budget_seconds
    executions = args.executions if args.executions is not None else preset["executions"]
    strategy = None
    if args.strategy == "mirrored":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
    variants = args.variants.split(",") if args.variants else None
    models = args.model or sorted(TASKS)
    try:
        rows = compare_mod.compare(
            models=models,
            out=args.out,
            preset=args.preset,
            tuner=args.tuner,
            budget_epochs=preset.get("budget_epochs"),
            budget_seconds=preset.get("budget_seconds"),
            executions=executions,
            max_trials=args.max_trials,
            seed=args.seed,
            data_paths=_data_paths(args.data, models),
            variants=variants,
            strategy=strategy,
            overwrite=args.overwrite,
        )
    except compare_mod.SweepError as err:
        raise UsageError(str(err)) from None
    if rows:
        print(compare_mod.format_leaderboard(rows))
        print(f"\nLeaderboard, plots, best models and TensorBoard logs in {args.out}")
    return 0


def _data_paths(values, models):
    """{model: path} from the --data arguments: MODEL=PATH each, or one PATH for one model."""
    from attention_zoo.experiments.tasks import TASKS

    paths = {}
    for value in values or []:
        model, sep, path = value.partition("=")
        if sep and model in TASKS and model not in models:
            raise UsageError(
                f"--data names a model that is not compared ({', '.join(models)}). "
                f"Received: --data={value}"
            )
        if not sep or model not in models:
            if len(models) != 1 or len(values) != 1:
                raise UsageError(
                    "--data must be MODEL=PATH for one of the compared models "
                    f"({', '.join(models)}), or a PATH alone with a single --model. "
                    f"Received: --data={value}"
                )
            model, path = models[0], value
        if model in paths:
            raise UsageError(f"--data names {model} twice. Received: --data={value}")
        paths[model] = path
    return paths


def _cmd_train(args):
    import keras_tuner

    from attention_zoo.experiments.tasks import get_task

    try:
        task = get_task(args.model)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.variant not in task.variants():
        raise UsageError(
            f"Unknown variant {args.variant!r} for {task.name}. Known: "
            f"{', '.join(task.variants())}. Received: --variant={args.variant}"
        )
    if args.epochs <= 0:
        raise UsageError(f"--epochs must be positive. Received: --epochs={args.epochs}")
    import keras

    keras.utils.set_random_seed(args.seed)
    data = task.data("quick" if args.data is None else "full", args.seed, args.data)
    hp = keras_tuner.HyperParameters()
    hp.Fixed("variant", args.variant)
    model = task.build(hp, data, [args.variant])
    x, y = data["train"]
    model.fit(
        x, y, validation_data=data["val"], epochs=args.epochs, batch_size=task.batch_size, verbose=2
    )
    print(f"{task.objective[0]} = {task.evaluate(model, data):.4f}")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    print(f"saved {out}")
    return 0


def _load(path):
    import zipfile
    import zlib

    import keras

    path = pathlib.Path(path)
    if not path.is_file():
        raise UsageError(f"model_path must be an existing .keras file. Received: {path}")
    # Keras answers "File not found" for a damaged archive: check it here, by name.
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
            members = set(archive.namelist())
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UsageError(
            f"model_path {path} is damaged (truncated or not a .keras zip archive: {reason}). "
            f"Received: {path}"
        ) from None
    if bad_member is not None or "config.json" not in members:
        what = f"{bad_member} is corrupt" if bad_member else "config.json is missing"
        raise UsageError(f"model_path {path} is damaged ({what}). Received: {path}")
    # `import attention_zoo` (done by this module's package) registers every model class.
    return keras.saving.load_model(path)


def _cmd_export(args):
    model = _load(args.model_path)
    out = pathlib.Path(args.out)
    if args.format == "keras":
        model.save(out if out.suffix == ".keras" else out.with_suffix(".keras"))
    else:
        _export_savedmodel(model, out)
    print(f"exported {out}")
    return 0


def _export_savedmodel(model, out):
    """The serving SavedModel of `model`: strings in for text models, else Keras' export."""
    import keras
    import numpy as np

    from attention_zoo import zoo

    strings = isinstance(model, zoo.Translator) or (
        isinstance(model, zoo.TextClassifier) and model.vectorizer is not None
    )
    if strings and keras.backend.backend() != "tensorflow":
        raise UsageError(
            f"a {type(model).__name__} exports a SavedModel that takes raw strings, which "
            "needs the TensorFlow backend: run with KERAS_BACKEND=tensorflow. "
            f"Received: KERAS_BACKEND={keras.backend.backend()}"
        )
    if isinstance(model, zoo.Translator):
        # translate(strings) -> strings, tokenization and greedy search inside.
        model.export_translate(out)
    elif isinstance(model, zoo.TextClassifier):
        # serve(strings) with a vocabulary, else serve(ids); it calls itself at its own shape.
        model.export(str(out), verbose=False)
    else:
        # Keras exports only a model that has been called, and one fresh from a `.keras` file
        # has not: one call on zeros of the input shape it was built with (float inputs:
        # the integer-input models are the two above).
        shape = (model.get_build_config() or {}).get("input_shape")
        if shape is None:
            raise ValueError(
                f"cannot tell the input shape of this {type(model).__name__}: it was saved "
                f"unbuilt. Received: {out}"
            )
        model(np.zeros([1 if d is None else d for d in shape], "float32"), training=False)
        model.export(str(out), verbose=False)


def _cmd_plot(args):
    from attention_zoo.experiments.tasks import TASKS, get_task

    model = _load(args.model_path)
    if args.task:
        try:
            task = get_task(args.task)
        except ValueError as err:
            raise UsageError(str(err).replace("--model=", "--task=")) from None
        if not task.owns(model):
            raise UsageError(
                f"--task {task.name} does not draw a {type(model).__name__}. "
                f"Received: --task={args.task}"
            )
    else:
        matches = [t for t in TASKS.values() if t.owns(model)]
        if not matches:
            raise UsageError(
                f"cannot tell the task of a {type(model).__name__}; pass --task. "
                f"Received: {args.model_path}"
            )
        task = matches[0]
    text = args.text
    if text is not None and not task.takes_text:
        raise UsageError(
            f"--text applies to text classifiers and translators, not to a "
            f"{type(model).__name__}. Received: --text={text!r}"
        )
    if text is not None and not text.strip():
        raise UsageError(f"--text must contain words. Received: --text={text!r}")
    if task.takes_text:
        if text is None:
            text, what = task.default_text(model)
            print(f"no --text given: drew {what}: {text!r}")
        drawn = task.picture(model, None, args.out, text=text)
    else:
        drawn = task.picture(model, task.data("quick", 0), args.out)
    if not drawn:
        raise UsageError(f"this {type(model).__name__} has no attention picture")
    print(f"wrote {args.out}")
    return 0


def _cmd_bench(argv):
    try:
        from attention_zoo.experiments import bench
    except ImportError:
        raise RuntimeError("the benchmark is not part of this version yet") from None
    return bench.main(argv) or 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        try:
            return _cmd_bench(argv[1:])
        except Exception as err:  # noqa: BLE001  (one-line reason, exit 1)
            print(f"attention-zoo bench: error: {err}", file=sys.stderr)
            return 1
    args = _parser().parse_args(argv)
    commands = {
        "list": _cmd_list,
        "train": _cmd_train,
        "compare": _cmd_compare,
        "export": _cmd_export,
        "plot": _cmd_plot,
    }
    try:
        return commands[args.command](args)
    except UsageError as err:
        print(f"attention-zoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"attention-zoo {args.command}: interrupted; run it again to resume", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001  (one-line reason, exit 1)
        print(f"attention-zoo {args.command}: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
