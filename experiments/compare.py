"""The comparison sweep: a Keras Tuner search over the variants, resumable, with a leaderboard.

Each reference model is one Keras Tuner project under `OUT/tuner/<model>`; the
variant is the hyperparameter `variant`. Every trial trains `executions` models
with seeds seed, seed+1, ... on the same data split, each under the same budget
(epochs or seconds), and writes its record to
`OUT/trials/<model>/<trial>/record.json` the moment it ends. Interrupted at any
point, the same command continues: Keras Tuner reloads its oracle, completed
trials are kept, the trial that was running is run again from its start. The
grid is walked by `GridOracle`, whose place in the grid survives a reload. The
leaderboard is computed from the trial records. A trial that fails is recorded
as failed and the sweep goes on; damaged state files are set aside on resume
(`Sweep.repair`); `OUT/compare.lock` keeps a second sweep out of a running
one's folder.

This module holds `compare()`, which checks its arguments (a bad one raises a
one-line ValueError that names it) and runs a `Sweep` per model. The rest:
`sweep.py` (the search of one model), `sweep_trial.py` (one trial),
`sweep_state.py` (the files under --out, the lock), `leaderboard.py` (the
results).
"""

import pathlib

import keras

from attention_zoo._validation import check_int, check_positive_float, check_positive_int
from attention_zoo.experiments.leaderboard import (
    _row,
    _save_best,
    failure_summary,
    format_leaderboard,
    write_leaderboard,
)
from attention_zoo.experiments.sweep import SELF_LIMITING, TUNERS, Sweep
from attention_zoo.experiments.sweep_state import (
    DamagedStateError,
    SweepError,
    _check_spec,
    _check_writable,
    _locked,
    _log,
    _role,
)
from attention_zoo.experiments.tasks import get_task

__all__ = [
    "SELF_LIMITING",
    "TUNERS",
    "DamagedStateError",
    "SweepError",
    "compare",
    "failure_summary",
    "format_leaderboard",
    "unsupported_variants",
    "write_leaderboard",
]


def unsupported_variants(task, variants, backend):
    """{variant: reason} for the `variants` of `task` that cannot run on `backend`.

    A task lists such variants in its attribute `variant_backends`, {variant: the Keras
    backends it runs on}; a variant it does not list runs on every backend.
    """
    needs = getattr(task, "variant_backends", {})
    return {
        v: f"runs only on the {' or '.join(needs[v])} backend, not on {backend} (KERAS_BACKEND)"
        for v in variants
        if v in needs and backend not in needs[v]
    }


def compare(
    models,
    out,
    preset="quick",
    tuner="grid",
    budget_epochs=None,
    budget_seconds=None,
    executions=2,
    max_trials=None,
    seed=0,
    data_paths=None,
    variants=None,
    strategy=None,
    overwrite=False,
):
    """Runs (or resumes) the comparison and returns the leaderboard rows.

    `data_paths` maps a model to a user's data (a file or folder) for the full
    preset; models without an entry use their default data. Every argument is
    checked, and every model's data loaded, before any training starts; a bad
    one raises SweepError.
    """
    data_paths = dict(data_paths or {})
    out = pathlib.Path(out)
    budget = (budget_epochs, budget_seconds)
    tasks, chosen, skipped = _check_arguments(
        models, preset, tuner, budget, executions, max_trials, seed, variants, data_paths, out
    )
    with _locked(out):
        spec = {
            "models": list(models),
            "variants": chosen,
            "preset": preset,
            "tuner": tuner,
            "budget_epochs": budget_epochs or {t.name: t.quick_epochs for t in tasks},
            "budget_seconds": budget_seconds,
            "executions": executions,
            "max_trials": max_trials,
            "seed": seed,
            "data": {m: str(p) for m, p in sorted(data_paths.items())} or None,
        }
        _check_spec(out, spec, overwrite)
        datasets = _load_data(tasks, preset, seed, data_paths)
        sweeps = [
            Sweep(
                task,
                datasets[task.name],
                chosen[task.name],
                out,
                tuner,
                executions,
                seed,
                (budget_epochs or (None if budget_seconds else task.quick_epochs), budget_seconds),
                max_trials,
            )
            for task in tasks
        ]
        return _run(sweeps, skipped, out, strategy)


def _check_arguments(
    models, preset, tuner, budget, executions, max_trials, seed, variants, data_paths, out
):
    """(tasks, chosen variants, skipped variants) of `compare`'s arguments, found good.

    Says on stderr which variants are skipped, as they cannot run on this backend.
    """
    budget_epochs, budget_seconds = budget
    if isinstance(models, str) or not models:
        raise SweepError(f"models must be a list of model names. Received: models={models!r}")
    if isinstance(variants, str):
        raise SweepError(f"variants must be a list of names. Received: variants={variants!r}")
    _check_numbers(budget_epochs, budget_seconds, executions, max_trials, seed)
    try:
        tasks = [get_task(m) for m in models]
    except ValueError as err:
        raise SweepError(str(err)) from None
    if tuner not in TUNERS:
        raise SweepError(f"tuner must be one of {', '.join(TUNERS)}. Received: tuner={tuner!r}")
    if tuner not in SELF_LIMITING and max_trials is None:
        raise SweepError(f"max_trials must be given for tuner={tuner!r}. Received: max_trials=None")
    for task in tasks:
        if preset not in task.presets:
            raise SweepError(
                f"preset must be one of {', '.join(task.presets)}. Received: preset={preset!r}"
            )
    if budget_epochs is None and budget_seconds is None and preset != "quick":
        raise SweepError(
            f"budget_epochs or budget_seconds must be given for preset={preset!r}. "
            "Received: budget_epochs=None, budget_seconds=None"
        )
    chosen, skipped = _choose_variants(tasks, variants)
    stray = sorted(set(data_paths) - set(models))
    if stray:
        raise SweepError(
            f"data_paths names {stray[0]}, which is not in models. "
            f"Received: data_paths={data_paths!r}"
        )
    _check_writable(out)
    for name, reasons in skipped.items():
        for variant, reason in reasons.items():
            _log(f"[{name}] variant {variant} skipped: it {reason}")
    return tasks, chosen, skipped


def _check_numbers(budget_epochs, budget_seconds, executions, max_trials, seed):
    """Raises ValueError naming the first of `compare`'s numbers that is bad."""
    check_positive_int("budget_epochs", budget_epochs, allow_none=True)
    check_positive_float("budget_seconds", budget_seconds, allow_none=True)
    check_positive_int("executions", executions)
    check_positive_int("max_trials", max_trials, allow_none=True)
    check_int("seed", seed, minimum=0)
    if seed > 2**32 - executions:
        # The seeds seed, ..., seed + executions - 1 all go to numpy, which takes 0 to 2**32 - 1.
        raise SweepError(
            f"seed must be at most {2**32 - executions} for executions={executions}. "
            f"Received: seed={seed!r}"
        )


def _choose_variants(tasks, variants):
    """({model: its variants to compare}, {model: {variant: why it is skipped}})."""
    chosen = {}
    skipped = {}
    backend = keras.backend.backend()
    for task in tasks:
        known = task.variants()
        wanted = [v for v in (variants or known) if v in known or len(tasks) == 1]
        unknown = [v for v in wanted if v not in known]
        if unknown:
            raise SweepError(
                f"Unknown variant {unknown[0]!r} for {task.name}. Known: {', '.join(known)}. "
                f"Received: --variants={','.join(variants)}"
            )
        skipped[task.name] = unsupported_variants(task, wanted, backend)
        for variant, reason in skipped[task.name].items():
            if variants:  # asked for by name: a bad argument
                raise SweepError(
                    f"--variants: {variant} of {task.name} {reason}. "
                    f"Received: --variants={','.join(variants)}"
                )
        runnable = [v for v in wanted if v not in skipped[task.name]]
        if wanted and not runnable:
            raise SweepError(
                f"--model {task.name}: none of its variants runs on the {backend} backend "
                f"(KERAS_BACKEND). Received: --model={task.name}"
            )
        wanted = runnable
        if not wanted:
            raise SweepError(f"No variant of {task.name} selected. Known: {', '.join(known)}")
        chosen[task.name] = wanted
    return chosen, skipped


def _load_data(tasks, preset, seed, data_paths):
    """{model: its data}, every model's loaded before any training starts."""
    datasets = {}
    for task in tasks:
        path = data_paths.get(task.name)
        try:
            datasets[task.name] = task.data(preset, seed, path)
        except (ValueError, FileNotFoundError) as err:
            raise SweepError(f"{task.name} data: {err}") from None
    return datasets


def _run(sweeps, skipped, out, strategy):
    """Runs the sweeps one after the other; writes and returns the leaderboard rows."""
    role = _role()
    all_rows = []
    for sweep in sweeps:
        task, data = sweep.task, sweep.data
        rows = sweep.run(strategy=strategy)
        if role == "worker":
            continue  # the chief writes the results once every trial has ended
        _save_best(task, data, rows, out)
        all_rows.extend(rows)
        for variant, reason in skipped[task.name].items():
            record = {"variant": variant, "hyperparameters": {"variant": variant}}
            record.update(status="skipped", reason=f"it {reason}", trial_id=None)
            all_rows.append(_row(task, record))
    if role == "worker":
        _log("worker: no trial left; the chief writes the leaderboard")
        return []
    write_leaderboard(all_rows, out)
    return all_rows
