"""The `attention-zoo` command: list, train, compare, export, plot, bench.

Exit codes: 0 success, 2 bad arguments, 1 failure; the reason goes to stderr in one line.
"""

import os
import pathlib
import sys
import tempfile

from attention_zoo import _startup  # noqa: F401  (first: it prepares the TensorFlow import)
from attention_zoo.experiments.cli_base import UsageError, _one_line, _Parser
from attention_zoo.experiments.cli_compare import _add_compare_parser, _cmd_compare


def _parser():
    parser = _Parser(
        prog="attention-zoo",
        description="Compare attention variants in Keras: layers, reference models, sweeps.",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show what TensorFlow, Keras and absl print (hidden by default); "
        "may stand anywhere on the command line",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("list", help="list the attention variants, models and comparison tasks")

    train = sub.add_parser("train", help="train one model with one variant and save it")
    train.add_argument("--model", required=True, help="comparison task / model name")
    train.add_argument("--variant", required=True, help="attention variant of that model")
    train.add_argument("--epochs", type=int, default=10, help="training epochs")
    train.add_argument("--seed", type=int, default=0, help="random seed")
    train.add_argument(
        "--data",
        help="a user's data file (where the model supports it; default: the generated data)",
    )
    train.add_argument("--out", required=True, help="where to save the model (.keras)")

    _add_compare_parser(sub)

    export = sub.add_parser("export", help="export a saved model (.keras or SavedModel)")
    export.add_argument("model_path", help="a .keras file")
    export.add_argument(
        "--format", choices=["keras", "savedmodel"], default="savedmodel", help="what to write"
    )
    export.add_argument("--out", required=True, help="where to write it")

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
        summary = " ".join(task.__doc__.split("\n\n")[0].split())
        print(f"compare --model {name}: {summary} Variants: " + ", ".join(task.variants()))
    return 0


def _check_train_args(args):
    """Checks `train`'s arguments, and that --out can be written, before anything is imported."""
    if args.epochs <= 0:
        raise UsageError(f"--epochs must be positive. Received: --epochs={args.epochs}")
    if not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed must be between 0 and {2**32 - 1}. Received: --seed={args.seed}")
    if args.data is not None and not pathlib.Path(args.data).exists():
        raise UsageError(f"--data must be an existing file or folder. Received: --data={args.data}")
    out = pathlib.Path(args.out)
    if out.suffix != ".keras":
        raise UsageError(f"--out must be a file name ending in .keras. Received: --out={args.out}")
    if out.is_dir():
        raise UsageError(f"--out must be a file, not a directory. Received: --out={args.out}")
    # The save creates the missing folders; here the deepest existing one must take a file.
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UsageError(
            f"--out must be in a writable directory. Received: --out={args.out} "
            f"({err.strerror or err})"
        ) from None


def _save_atomically(model, out):
    """Saves `model` to `out` through a temporary file, so a failed save leaves `out` as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _cmd_train(args):
    _check_train_args(args)
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
    import keras

    keras.utils.set_random_seed(args.seed)
    try:
        data = task.data("quick" if args.data is None else "full", args.seed, args.data)
    except (ValueError, OSError) as err:
        raise UsageError(f"{task.name} data: {err}") from None
    hp = keras_tuner.HyperParameters()
    hp.Fixed("variant", args.variant)
    model = task.build(hp, data, [args.variant])
    x, y = data["train"]
    model.fit(
        x, y, validation_data=data["val"], epochs=args.epochs, batch_size=task.batch_size, verbose=2
    )
    print(f"{task.objective[0]} = {task.evaluate(model, data):.4f}")
    out = pathlib.Path(args.out)
    _save_atomically(model, out)
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
    # --verbose may stand anywhere on the line; `_startup` has read it already (it decides
    # what TensorFlow may print while it is imported, before this function runs).
    argv = [arg for arg in argv if arg != "--verbose"]
    if argv and argv[0] == "bench":
        try:
            return _cmd_bench(argv[1:])
        except Exception as err:  # noqa: BLE001  (one-line reason, exit 1)
            print(f"attention-zoo bench: error: {_one_line(err)}", file=sys.stderr)
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
        print(f"attention-zoo {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"attention-zoo {args.command}: interrupted; run it again to resume", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001  (one-line reason, exit 1)
        reason = _one_line(f"{type(err).__name__}: {err}")
        print(f"attention-zoo {args.command}: error: {reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
