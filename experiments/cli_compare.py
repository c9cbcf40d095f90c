"""The `attention-zoo compare` subcommand: its presets, the checks of its arguments, and the
call to `compare()`."""

import sys

from attention_zoo._validation import check_positive_float, check_positive_int
from attention_zoo.experiments.cli_base import UsageError

PRESETS = {
    # The main job: every reference model x every variant on generated data, a few minutes.
    # No budget here: each model's quick epoch budget (Task.quick_epochs) applies.
    "quick": {"executions": 2},
    "full": {"budget_seconds": 600, "executions": 3},
}


def _add_compare_parser(sub):
    """Adds the `compare` subcommand and its options to the subparsers `sub`."""
    compare = sub.add_parser("compare", help="the sweep: compare variants with Keras Tuner")
    compare.add_argument(
        "--model", action="append", help="model to compare (repeatable; default: all)"
    )
    compare.add_argument("--preset", default="quick", help="quick (generated data) or full")
    compare.add_argument(
        "--variants", help="comma-separated subset of variants (default: all of each model's)"
    )
    compare.add_argument("--tuner", default="grid", help="grid, random, bayesian or hyperband")
    quick, full = PRESETS["quick"], PRESETS["full"]
    compare.add_argument(
        "--budget-epochs",
        type=int,
        help="epochs per training, the same for all variants (default: each model's own "
        "number with --preset quick, none with full)",
    )
    compare.add_argument(
        "--budget-seconds",
        type=float,
        help="seconds per training instead (default: "
        f"{full['budget_seconds']} with --preset full, none with quick)",
    )
    compare.add_argument(
        "--executions",
        type=int,
        help=f"seeds per configuration (default: {quick['executions']} with --preset quick, "
        f"{full['executions']} with --preset full)",
    )
    compare.add_argument(
        "--max-trials",
        type=int,
        help="trials for random/bayesian tuners, where it must be given (default: the whole "
        "grid for grid, Hyperband's own count for hyperband)",
    )
    compare.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of a configuration's first training; the others take SEED+1, SEED+2, ...",
    )
    compare.add_argument(
        "--data",
        action="append",
        metavar="[MODEL=]PATH",
        help="a user's data for --preset full: MODEL=PATH per model (repeatable), "
        "or PATH alone with a single --model (default: each model's own data)",
    )
    compare.add_argument(
        "--strategy",
        choices=["none", "mirrored"],
        default="none",
        help="tf.distribute strategy of the trainings",
    )
    compare.add_argument("--overwrite", action="store_true", help="discard a previous sweep")
    compare.add_argument("--out", default="runs/compare", help="output directory")


def _check_compare_args(args):
    """Checks the numbers and the --variants list of `compare` before anything is imported."""
    if args.budget_epochs is not None and args.budget_epochs <= 0:
        raise UsageError(
            f"--budget-epochs must be positive. Received: --budget-epochs={args.budget_epochs}"
        )
    _check_option(check_positive_float, "--budget-seconds", args.budget_seconds)
    if args.executions is not None and args.executions < 1:
        raise UsageError(
            f"--executions must be at least 1. Received: --executions={args.executions}"
        )
    _check_option(check_positive_int, "--max-trials", args.max_trials)
    if args.variants is None:
        return
    names = [name.strip() for name in args.variants.split(",")]
    if not all(names):
        raise UsageError(
            "--variants must be comma-separated variant names, none of them empty. "
            f"Received: --variants={args.variants!r}"
        )
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"--variants names {twice[0]} twice. Received: --variants={args.variants}")


def _check_option(check, option, value):
    """`check(option, value)`, a check of `_validation`, with its error as a UsageError."""
    try:
        check(option, value, allow_none=True)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _compare_variants(value, models):
    """The --variants list; each name must be a variant of at least one compared model.

    With several models, a variant that only some of them have is compared for those
    (`--variants ram,dot` compares `ram` for vision only); a model left with none of
    the variants is refused by the sweep before it starts.
    """
    from attention_zoo.experiments.tasks import get_task

    if value is None:
        return None
    try:
        tasks = [get_task(m) for m in models]
    except ValueError as err:
        raise UsageError(str(err)) from None
    names = [name.strip() for name in value.split(",")]
    for name in names:
        if not any(name in task.variants() for task in tasks):
            known = sorted({v for task in tasks for v in task.variants()})
            raise UsageError(
                f"Unknown variant {name!r} for {', '.join(models)}. Known: {', '.join(known)}. "
                f"Received: --variants={value}"
            )
    return names


def _cmd_compare(args):
    _check_compare_args(args)
    from attention_zoo.experiments import compare as compare_mod

    try:
        rows = compare_mod.compare(**_compare_kwargs(args, compare_mod))
    except compare_mod.SweepError as err:
        raise UsageError(str(err)) from None
    if rows:
        print(compare_mod.format_leaderboard(rows))
        print(f"\nLeaderboard, plots, best models and TensorBoard logs in {args.out}")
    failed = compare_mod.failure_summary(rows, args.out)
    if failed:
        print(f"attention-zoo compare: error: {failed}", file=sys.stderr)
        return 1
    return 0


def _compare_kwargs(args, compare_mod):
    """The arguments of `compare()` from the command line's, checked as far as they can be
    here, so that the messages name the options."""
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
    _check_tuner_and_seed(args, executions, compare_mod)
    models = args.model or sorted(TASKS)
    variants = _compare_variants(args.variants, models)
    strategy = None
    if args.strategy == "mirrored":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
    return dict(
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


def _check_tuner_and_seed(args, executions, compare_mod):
    """Checks --tuner, --max-trials for that tuner, and --seed for `executions` seeds."""
    tuners = compare_mod.TUNERS
    if args.tuner not in tuners:
        raise UsageError(
            f"--tuner must be one of {', '.join(tuners)}. Received: --tuner={args.tuner}"
        )
    if args.tuner not in compare_mod.SELF_LIMITING and args.max_trials is None:
        raise UsageError(
            f"--max-trials must be given for --tuner {args.tuner}. Received: --max-trials=None"
        )
    if not 0 <= args.seed <= 2**32 - executions:
        # The seeds seed, ..., seed + executions - 1 all go to numpy, which takes 0 to 2**32 - 1.
        raise UsageError(
            f"--seed must be between 0 and {2**32 - executions} for --executions {executions}. "
            f"Received: --seed={args.seed}"
        )


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
