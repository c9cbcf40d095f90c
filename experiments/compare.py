"""The comparison sweep: a Keras Tuner search over the variants, resumable, with a leaderboard.

Each reference model is one Keras Tuner project under `OUT/tuner/<model>`; the
variant is the hyperparameter `variant`. Every trial trains `executions` models
with seeds seed, seed+1, ... on the same data split, each under the same budget
(epochs or seconds), and writes its record to `OUT/trials/<model>/<trial>.json`
the moment it ends. Interrupted at any point, the same command continues: Keras
Tuner reloads its oracle, completed trials are kept, the trial that was running
is run again from its start. The grid is walked by `GridOracle`, whose place in
the grid survives a reload. The leaderboard is computed from the trial records.
A trial that fails is recorded as failed and the sweep goes on; damaged state
files are set aside on resume (`Sweep.repair`); `OUT/compare.lock` keeps a
second sweep out of a running one's folder.
"""

import contextlib
import csv
import errno
import fcntl
import io
import json
import os
import pathlib
import shutil
import sys
import time
import traceback

import keras
import keras_tuner
import numpy as np

from attention_zoo.experiments import plots
from attention_zoo.experiments.tasks import get_task

TUNERS = {
    "grid": keras_tuner.Tuner,  # with a GridOracle: see Sweep.tuner
    "random": keras_tuner.RandomSearch,
    "bayesian": keras_tuner.BayesianOptimization,
    "hyperband": keras_tuner.Hyperband,
}

SPEC_FILE = "sweep.json"
LOCK_FILE = "compare.lock"
# Where damaged state files are moved to (under --out), keeping their relative path.
DAMAGED_DIR = "damaged"

# Keras Tuner stops a search after 3 failed trials in a row; here a failed trial is a
# leaderboard row and the sweep goes on with the others.
_NO_FAILURE_LIMIT = 10**9

# The seeds of a trial after the first train the first seed's model object, reset to the
# state of a freshly built model, so that its functions are not traced again (see
# `_reset_to`). False builds a new model per seed: the same numbers, more tracing.
REUSE_MODEL = True


class SweepError(ValueError):
    """A sweep that cannot start: bad arguments, an --out that holds another sweep or that
    another `compare` is using."""


class DamagedStateError(RuntimeError):
    """A state file under --out that cannot be read; the message names it."""

    def __init__(self, path, problem):
        super().__init__(f"{path} is damaged ({problem})")
        self.path = path


def _log(message):
    print(message, file=sys.stderr, flush=True)


def _fmt_seconds(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class _Budget(keras.callbacks.Callback):
    """Stops training once `seconds` of training time have passed (checked every batch)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.epochs_done = 0
        self.epoch_seconds = []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds and time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done = epoch + 1
        self.epoch_seconds.append(time.perf_counter() - self.epoch_start)

    def seconds_per_epoch(self, total):
        """Mean seconds of the epochs after the first (which traces the functions of a new
        model), or `total` over the epochs when there is only one."""
        if len(self.epoch_seconds) > 1:
            return float(np.mean(self.epoch_seconds[1:]))
        return total / max(self.epochs_done, 1)


class AttentionHyperModel(keras_tuner.HyperModel):
    """A reference model as a Keras Tuner HyperModel; `variant` is its main hyperparameter."""

    def __init__(self, task, data, variants):
        super().__init__(name=task.name)
        self.task = task
        self.data = data
        self.variants = list(variants)

    def build(self, hp):
        return self.task.build(hp, self.data, self.variants)


class GridOracle(keras_tuner.Oracle):
    """Walks a fixed list of grid points in order, each point once.

    Keras Tuner's `GridSearch` keeps its place in the grid in memory only
    (keras-team/keras-tuner#1055, open for 1.4.8): a grid search reloaded after
    a kill either stops before the end of the grid or fails with a KeyError.
    This oracle finds the next point from the trials it has saved, so a
    reloaded walk goes on where it stopped.
    """

    def __init__(self, points, **kwargs):
        super().__init__(**kwargs)
        self.points = [dict(p) for p in points]

    def populate_space(self, trial_id):
        started = [
            self.trials[t].hyperparameters.values for t in self.start_order if t in self.trials
        ]
        for point in self.points:
            if not any(all(v.get(k) == x for k, x in point.items()) for v in started):
                return {"status": "RUNNING", "values": dict(point)}
        if self.ongoing_trials:  # a worker's trial may still fail and come back
            return {"status": "IDLE", "values": None}
        return {"status": "STOPPED", "values": None}


def _forget_unsaved_trials(oracle):
    """Drops the trials that the reloaded oracle's own state does not list.

    Keras Tuner writes a new trial's file before the oracle's state that lists
    it. A sweep killed between the two reloads a trial that no tuner will run
    but that counts towards the trial ids and `max_trials`. It never started
    training, so it is forgotten here and the oracle creates it again. Returns
    the ids forgotten.
    """
    if not isinstance(oracle, keras_tuner.Oracle):
        return []  # a worker's proxy to the chief, which holds the state
    started = set(oracle.start_order)
    unsaved = sorted(t for t in oracle.trials if t not in started)
    for trial_id in unsaved:
        del oracle.trials[trial_id]
    return unsaved


@contextlib.contextmanager
def _quiet_failures():
    """Keeps Keras Tuner from printing the traceback of a failed trial on the console.

    Keras Tuner 1.4.8 prints it whenever its module flag `config.DEBUG` is set, which it
    is by default, and offers no public switch; the sweep reports a failed trial itself,
    in one line, with the traceback in the trial's error.log.
    """
    try:
        from keras_tuner.src import config  # private: the only place of the flag
    except ImportError:  # another Keras Tuner: it may print, the sweep still works
        yield
        return
    debug = config.DEBUG
    config.DEBUG = False
    try:
        yield
    finally:
        config.DEBUG = debug


def _count_params(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


class _SweepMixin:
    """Runs each trial as `executions` seeded trainings and writes the trial's record."""

    def __init__(self, *args, sweep=None, **kwargs):
        self.sweep = sweep
        super().__init__(*args, **kwargs)

    def run_trial(self, trial, *args, **kwargs):
        try:
            return self._run_trial(trial)
        except (keras_tuner.errors.FailedTrialError, keras_tuner.errors.FatalError):
            raise
        except Exception as err:
            # Keras Tuner would take any other error for a failed trial, silently: an
            # error of the sweep's own (writing a record, say) stops the sweep instead.
            raise keras_tuner.errors.FatalError(_fatal_reason(err, trial, self.sweep)) from err

    def _run_trial(self, trial):
        sweep = self.sweep
        task = sweep.task
        hp = trial.hyperparameters
        variant = hp.get("variant")
        trial_dir = sweep.trials_dir / trial.trial_id
        hyperparameters = {k: v for k, v in hp.values.items() if not k.startswith("tuner/")}
        recorded = trial_dir / "record.json"
        if recorded.exists():
            record = _load_json(recorded)
            if _ok(record) and record["hyperparameters"] == hyperparameters:
                # Finished before an interruption that came before Keras Tuner saved it, or
                # replayed into a rebuilt tuner state (see Sweep.repair): keep it.
                _log(f"[{task.name}] trial {trial.trial_id} was already done; kept")
                return [{task.objective[0]: e["metric"]} for e in record["executions"]]
            recorded.unlink()  # another configuration's, or a failure: this trial runs again
        sweep.progress(trial, variant)
        trial_dir.mkdir(parents=True, exist_ok=True)
        try:
            executions = self._executions(trial, trial_dir)
        except Exception as err:  # noqa: BLE001  (any error of one configuration)
            if _disk_full(err):
                raise keras_tuner.errors.FatalError(_fatal_reason(err, trial, sweep)) from err
            reason = _one_line(err)
            log = trial_dir / "error.log"
            _atomic_write_text(log, traceback.format_exc())
            _atomic_write_json(
                recorded,
                _record(trial, task, variant, hyperparameters, [], status="failed", reason=reason),
            )
            sweep.trial_done(trial)
            _log(f"[{task.name}] trial {trial.trial_id} failed: {reason} (traceback in {log})")
            # FAILED, not retried: the oracle ignores it, Keras Tuner prints nothing.
            raise keras_tuner.errors.FailedTrialError(reason) from None
        finally:
            keras.backend.clear_session()
        _atomic_write_json(recorded, _record(trial, task, variant, hyperparameters, executions))
        sweep.trial_done(trial)
        return [{task.objective[0]: e["metric"]} for e in executions]

    def _executions(self, trial, trial_dir):
        """Trains the trial's `executions` seeds; returns a record of each."""
        sweep = self.sweep
        task, data = sweep.task, sweep.data
        hp = trial.hyperparameters
        executions = []
        epochs = sweep.budget_epochs or 10_000
        if "tuner/epochs" in hp.values:  # Hyperband sets its own epoch budget
            epochs = hp.values["tuner/epochs"]
        model = None
        for execution in range(sweep.executions):
            seed = sweep.seed + execution
            keras.utils.set_random_seed(seed)
            with self._strategy_scope():
                # Keras Tuner builds in the strategy's scope only in its own run_trial.
                fresh = self.hypermodel.build(hp)
                if model is None or not REUSE_MODEL:
                    model = fresh
                else:
                    # The next seed trains the same model object, set to the fresh model's
                    # initial state: its traced functions are reused, not traced again.
                    _reset_to(model, fresh, data["train"][0])
            budget = _Budget(sweep.budget_seconds)
            callbacks = [budget]
            tb_dir = sweep.out / "tensorboard" / task.name / f"trial_{trial.trial_id}_seed_{seed}"
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tb_dir)))
            x, y = data["train"]
            start = time.perf_counter()
            model.fit(
                x,
                y,
                validation_data=data["val"],
                epochs=epochs,
                batch_size=task.batch_size,
                callbacks=callbacks,
                verbose=0,
                shuffle=True,
            )
            train_seconds = time.perf_counter() - start
            metric = task.evaluate(model, data)
            x_val = data["val"][0]
            n_val = len(keras.tree.flatten(x_val)[0])
            # Timed on the second call: the first one traces the predict function.
            model.predict(x_val, batch_size=256, verbose=0)
            start = time.perf_counter()
            model.predict(x_val, batch_size=256, verbose=0)
            inference_ms = 1000 * (time.perf_counter() - start) / n_val
            record = {
                "seed": seed,
                "metric": metric,
                "epochs": budget.epochs_done,
                "train_seconds": train_seconds,
                "train_seconds_per_epoch": budget.seconds_per_epoch(train_seconds),
                "inference_ms_per_example": inference_ms,
                "params": _count_params(model),
            }
            _write_hparams(tb_dir, hp.values, seed, task.objective[0], metric)
            executions.append(record)
            if execution == 0:
                # A model file cut short by a full disk must not take the place of a good one.
                tmp = trial_dir / f"model.{os.getpid()}.tmp.keras"
                model.save(tmp)
                os.replace(tmp, trial_dir / "model.keras")
        return executions

    def _strategy_scope(self):
        strategy = self.distribution_strategy
        return contextlib.nullcontext() if strategy is None else strategy.scope()


def _record(trial, task, variant, hyperparameters, executions, status="ok", reason=None):
    return {
        "trial_id": trial.trial_id,
        "model": task.name,
        "variant": variant,
        "hyperparameters": hyperparameters,
        "executions": executions,
        "status": status,
        "reason": reason,
    }


def _ok(record):
    # Records written before trials could fail have no status.
    return record.get("status", "ok") == "ok"


def _one_line(err, limit=200):
    """`Type: first line of the message`, at most `limit` characters."""
    lines = str(err).strip().splitlines()
    text = f"{type(err).__name__}: {lines[0].strip()}" if lines else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fatal_reason(err, trial, sweep):
    where = f"trial {trial.trial_id} of {sweep.task.name}"
    if _disk_full(err):
        return (
            f"the disk is full ({where}): {_one_line(err)}; free some space and run the same "
            "command again to resume"
        )
    return f"{where}: {_one_line(err)}"


def _disk_full(err):
    """Whether `err` (or an error it was raised from) says the disk or quota is full."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(err):  # TensorFlow's own I/O errors
            return True
        err = err.__cause__ or err.__context__
    return False


def _reset_to(model, fresh, x):
    """Sets every variable of the trained `model` (weights, random-seed states, optimizer
    slots and step) to those of `fresh`, an untrained model built the same way."""
    if not fresh.built:
        fresh(keras.tree.map_structure(lambda a: a[:1], x))
    for m in (model, fresh):  # a training stopped before its first step has none yet
        if not m.optimizer.built:
            m.optimizer.build(m.trainable_variables)
    pairs = [(model.variables, fresh.variables)]
    pairs.append((model.optimizer.variables, fresh.optimizer.variables))
    for targets, sources in pairs:
        if len(targets) != len(sources):
            raise RuntimeError(
                f"cannot reuse the model: {len(sources)} variables, {len(targets)} expected"
            )
        for target, source in zip(targets, sources, strict=True):
            if tuple(target.shape) != tuple(source.shape):
                raise RuntimeError(
                    f"cannot reuse the model: {source.path} has shape {source.shape}, "
                    f"{target.path} has {target.shape}"
                )
            target.assign(source)


def _write_hparams(log_dir, values, seed, metric_name, metric):
    # TensorBoard's HParams dashboard reads these summaries; TensorFlow writes them.
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams_api

    with tf.summary.create_file_writer(str(log_dir)).as_default():
        clean = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        hparams_api.hparams({**clean, "seed": seed})
        tf.summary.scalar(metric_name, metric, step=0)


def _atomic_write_text(path, text):
    """Writes `path` whole or not at all (a full disk or a kill leaves the old file)."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_write_json(path, obj):
    _atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True))


def _load_json(path):
    """The JSON in `path`; a damaged file raises DamagedStateError naming it."""
    try:
        text = pathlib.Path(path).read_text()
    except UnicodeDecodeError as err:
        raise DamagedStateError(path, f"not text: {err.reason}") from None
    if not text.strip():
        raise DamagedStateError(path, "empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DamagedStateError(path, f"not valid JSON: {err}") from None


class Sweep:
    """One reference model's part of a comparison."""

    def __init__(self, task, data, variants, out, tuner, executions, seed, budget, max_trials):
        self.task = task
        self.data = data
        self.variants = variants
        self.out = out
        self.trials_dir = out / "trials" / task.name
        self.executions = executions
        self.seed = seed
        self.budget_epochs, self.budget_seconds = budget
        self.tuner_name = tuner
        self.max_trials = max_trials
        self.started = None
        self.done_now = 0

    def progress(self, trial, variant):
        done = len(self._records())
        total = self.total
        elapsed = time.perf_counter() - self.started
        eta = "unknown"
        if self.done_now:
            eta = _fmt_seconds(elapsed / self.done_now * max(total - done, 0))
        _log(
            f"[{self.task.name}] trial {done + 1} of {total}: variant={variant} "
            f"elapsed {_fmt_seconds(elapsed)}, left about {eta}"
        )

    def trial_done(self, trial):
        self.done_now += 1

    def _records(self):
        if not self.trials_dir.exists():
            return []
        return [_load_json(p) for p in sorted(self.trials_dir.glob("*/record.json"))]

    def repair(self):
        """Makes the state in `out` resumable; returns whether Keras Tuner's state was dropped.

        A full disk or a kill can leave a state file empty or cut short: ours are written
        whole or not at all, but Keras Tuner writes its `oracle.json`, `<tuner id>.json`
        and `trial_*/trial.json` in place. A damaged file is moved to `out/damaged/` (same
        relative path) and named on stderr. Since every trial that ended has its record,
        Keras Tuner's state of this model is then dropped and rebuilt: the new search
        meets the same trials in the same order and keeps their records without training
        (`_SweepMixin.run_trial`), and runs the rest. A damaged record is dropped, so its
        trial runs again. So are failed trials: their cause (memory, a missing package, a
        bug) may have been fixed since, and a failure that remains is recorded again.
        """
        name = self.task.name
        rebuild = False
        for path in sorted(self.trials_dir.glob("*/record.json")):
            try:
                record = _load_json(path)
            except DamagedStateError as err:
                _log(f"[{name}] {err}; moved to {self._quarantine(path)}, its trial runs again")
                rebuild = True
                continue
            if not _ok(record):
                path.unlink()
                _log(
                    f"[{name}] trial {record['trial_id']} failed last time "
                    f"({record['reason']}); it runs again"
                )
                rebuild = True
        project = self.out / "tuner" / name
        for path in sorted(project.glob("*.json")) + sorted(project.glob("trial_*/trial.json")):
            try:
                _load_json(path)
            except DamagedStateError as err:
                _log(f"[{name}] {err}; moved to {self._quarantine(path)}")
                rebuild = True
        if rebuild and project.exists():
            shutil.rmtree(project)
            _log(
                f"[{name}] Keras Tuner's state is rebuilt; the "
                f"{len(self._records())} finished trials are kept"
            )
        return rebuild

    def _quarantine(self, path):
        dest = self.out / DAMAGED_DIR / path.relative_to(self.out)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
        return dest

    def tuner(self, strategy=None):
        """The Keras Tuner tuner of this sweep, reloaded from `out` when it holds one."""
        objective = keras_tuner.Objective(self.task.objective[0], self.task.objective[1])
        kwargs = {
            "hypermodel": AttentionHyperModel(self.task, self.data, self.variants),
            "directory": str(self.out / "tuner"),
            "project_name": self.task.name,
            "overwrite": False,
            "sweep": self,
            "distribution_strategy": strategy,
        }
        # Keras Tuner takes a seed of 0 for "no seed" and draws one at random, which made
        # --seed 0 (the default) a search that no run could repeat, resumed or not.
        oracle_seed = self.seed + 1
        self.total = self.max_trials
        if self.tuner_name == "grid":
            points = grid_points(self.task, self.variants, self.data.get("preset", "quick"))
            kwargs["oracle"] = GridOracle(
                points,
                objective=objective,
                max_trials=self.max_trials,
                seed=oracle_seed,
                max_consecutive_failed_trials=_NO_FAILURE_LIMIT,
            )
            self.total = min(len(points), self.max_trials or len(points))
        else:
            kwargs.update(
                objective=objective,
                seed=oracle_seed,
                max_consecutive_failed_trials=_NO_FAILURE_LIMIT,
            )
            if self.tuner_name == "hyperband":
                kwargs["max_epochs"] = self.budget_epochs or 10
                self.total = "?"
            else:
                kwargs["max_trials"] = self.max_trials
        if _role() != "worker":  # a worker's oracle is the chief's
            self.repair()
        base = TUNERS[self.tuner_name]
        cls = type(f"{base.__name__}Sweep", (_SweepMixin, base), {})
        # Keras Tuner prints "Reloading Tuner from ..." on stdout, the leaderboard's stream;
        # the sweep says it in its own words on stderr instead.
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            tuner = cls(**kwargs)
        if "Reloading Tuner" in printed.getvalue():
            _log(f"[{self.task.name}] resuming the sweep saved in {self.out}")
        for trial_id in _forget_unsaved_trials(tuner.oracle):
            _log(f"[{self.task.name}] trial {trial_id} was created but never started; run anew")
        return tuner

    def run(self, strategy=None):
        tuner = self.tuner(strategy)
        self.started = time.perf_counter()
        with _quiet_failures():
            tuner.search(verbose=0)
        return self.leaderboard()

    def leaderboard(self):
        """Per variant: the best trial's metric as mean ± std over its seeds, and its costs;
        then a row per failed trial (status "failed", with its reason)."""
        sign = 1 if self.task.objective[1] == "min" else -1
        best = {}
        failed = []
        for record in self._records():
            if not _ok(record):
                failed.append(record)
                continue
            metrics = [e["metric"] for e in record["executions"]]
            mean = float(np.mean(metrics))
            if record["variant"] not in best or sign * mean < sign * best[record["variant"]][0]:
                best[record["variant"]] = (mean, record)
        rows = []
        for mean, record in best.values():
            ex = record["executions"]
            rows.append(
                self._row(
                    record,
                    metric_mean=mean,
                    metric_std=float(np.std([e["metric"] for e in ex])),
                    seeds=len(ex),
                    params=ex[0]["params"],
                    train_seconds_per_epoch=float(
                        np.mean([e["train_seconds_per_epoch"] for e in ex])
                    ),
                    inference_ms_per_example=float(
                        np.mean([e["inference_ms_per_example"] for e in ex])
                    ),
                )
            )
        rows.sort(key=lambda r: sign * r["metric_mean"])
        return rows + [self._row(record) for record in failed]

    def _row(self, record, **measured):
        return _row(self.task, record, **measured)


def _row(task, record, **measured):
    """A leaderboard row; every row has the same keys, None where nothing was measured."""
    return {
        "model": task.name,
        "variant": record["variant"],
        "metric": task.objective[0],
        "metric_mean": None,
        "metric_std": None,
        "seeds": 0,
        "params": None,
        "train_seconds_per_epoch": None,
        "inference_ms_per_example": None,
        **measured,
        "status": record.get("status", "ok"),
        "reason": record.get("reason"),
        "hyperparameters": record["hyperparameters"],
        "trial_id": record["trial_id"],
    }


def grid_points(task, variants, preset="quick"):
    """Every hyperparameter combination of the task's conditional space, as a grid walks it."""
    hp = keras_tuner.HyperParameters()
    task.declare(hp, variants, preset)
    points = [{}]
    for param in hp.space:
        expanded = []
        for point in points:
            active = all(point.get(c.name) in c.values for c in param.conditions)
            if active:
                expanded.extend({**point, param.name: v} for v in param.values)
            else:
                expanded.append(point)
        points = expanded
    return points


def _check_writable(out):
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise SweepError(
            f"--out must be a writable directory. Received: --out={out} ({err})"
        ) from None


def _check_spec(out, spec, overwrite):
    path = out / SPEC_FILE
    old = None
    if path.exists() and not overwrite:
        try:
            old = _load_json(path)
        except DamagedStateError as err:
            # Written before any trial starts, so it was being written when the disk
            # filled; this command's settings take its place.
            dest = out / DAMAGED_DIR / SPEC_FILE
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            _log(f"{err}; moved to {dest} and written again from this command's settings")
        if old is not None and old != spec:
            changed = sorted(k for k in set(old) | set(spec) if old.get(k) != spec.get(k))
            raise SweepError(
                f"--out {out} holds a different sweep (it differs in: {', '.join(changed)}). "
                "Use a new --out, or --overwrite to discard it."
            )
    if overwrite and out.exists():
        for child in ("tuner", "trials", "tensorboard", "best", "plots"):
            shutil.rmtree(out / child, ignore_errors=True)
    if old != spec:
        _atomic_write_json(path, spec)


@contextlib.contextmanager
def _locked(out):
    """Holds an OS lock on `out` while the block runs; a second `compare` on it is refused.

    The lock (`fcntl.flock` on `out/compare.lock`) belongs to the open file, so the OS
    releases it when the process ends, killed or not: a killed run never blocks a resume.
    The file holds the pid of the holder for the message. In Keras Tuner's distributed
    mode the chief and the workers share `out`; each locks its own file instead, so that
    only a second process with the same KERASTUNER_TUNER_ID is refused.
    """
    name = LOCK_FILE
    if _role() != "single":
        name = f"compare.{os.environ.get('KERASTUNER_TUNER_ID', 'tuner0')}.lock"
    path = out / name
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise SweepError(
                f"--out {out} is in use by another attention-zoo compare (pid {holder}, "
                f"lock {path}); wait for it to end, or use another --out. Received: --out={out}"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield


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
    if not models:
        raise SweepError("--model must name at least one model. Received: --model=")
    try:
        tasks = [get_task(m) for m in models]
    except ValueError as err:
        raise SweepError(str(err)) from None
    if tuner not in TUNERS:
        raise SweepError(f"--tuner must be one of {', '.join(TUNERS)}. Received: --tuner={tuner}")
    for task in tasks:
        if preset not in task.presets:
            raise SweepError(
                f"--preset must be one of {', '.join(task.presets)}. Received: --preset={preset}"
            )
    if budget_epochs is None and budget_seconds is None and preset != "quick":
        raise SweepError("give a budget: --budget-epochs or --budget-seconds")
    for name, value in (("--budget-epochs", budget_epochs), ("--budget-seconds", budget_seconds)):
        if value is not None and not value > 0:
            raise SweepError(f"{name} must be positive. Received: {name}={value}")
    if executions < 1:
        raise SweepError(f"--executions must be at least 1. Received: --executions={executions}")
    if not 0 <= seed <= 2**32 - executions:
        # The seeds seed, ..., seed + executions - 1 all go to numpy, which takes 0 to 2**32 - 1.
        raise SweepError(
            f"--seed must be between 0 and {2**32 - executions} for --executions {executions}. "
            f"Received: --seed={seed}"
        )
    if tuner != "grid" and tuner != "hyperband" and not max_trials:
        raise SweepError(f"--max-trials must be positive for --tuner {tuner}.")
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
    stray = sorted(set(data_paths) - set(models))
    if stray:
        raise SweepError(
            f"--data names a model that is not compared. Received: --data {stray[0]}=..., "
            f"--model {' '.join(models)}"
        )
    _check_writable(out)
    for name, reasons in skipped.items():
        for variant, reason in reasons.items():
            _log(f"[{name}] variant {variant} skipped: it {reason}")
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

        datasets = {}
        for task in tasks:
            path = data_paths.get(task.name)
            try:
                datasets[task.name] = task.data(preset, seed, path)
            except (ValueError, FileNotFoundError) as err:
                raise SweepError(f"{task.name} data: {err}") from None

        role = _role()
        all_rows = []
        for task in tasks:
            data = datasets[task.name]
            sweep = Sweep(
                task,
                data,
                chosen[task.name],
                out,
                tuner,
                executions,
                seed,
                (budget_epochs or (None if budget_seconds else task.quick_epochs), budget_seconds),
                max_trials,
            )
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


def _role():
    """'chief', 'worker' (Keras Tuner's distributed mode, from its environment) or 'single'."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def _save_best(task, data, rows, out):
    best_dir = out / "best" / task.name
    best_dir.mkdir(parents=True, exist_ok=True)
    models = {}
    for row in rows:
        if row["status"] != "ok":
            continue
        src = out / "trials" / task.name / row["trial_id"] / "model.keras"
        dst = best_dir / f"{row['variant']}.keras"
        tmp = best_dir / f".{row['variant']}.{os.getpid()}.tmp"
        shutil.copyfile(src, tmp)  # whole or absent, as every file the sweep writes
        os.replace(tmp, dst)
        model = keras.saving.load_model(dst)
        models[row["variant"]] = model
        if task.picture(model, data, best_dir / f"{row['variant']}.png"):
            row["picture"] = str(best_dir / f"{row['variant']}.png")
    (out / "plots").mkdir(parents=True, exist_ok=True)
    if models:
        task.overview(models, data, out / "plots" / f"{task.name}_overview.png")


def failure_summary(rows, out):
    """One line on the trials that failed, or None when none did."""
    failed = [r for r in rows if r["status"] == "failed"]
    if not failed:
        return None
    names = ", ".join(f"{r['model']}/{r['variant']} (trial {r['trial_id']})" for r in failed)
    return (
        f"{len(failed)} trial{'s' if len(failed) > 1 else ''} failed: {names}; the reasons are "
        f"in the leaderboard, the tracebacks in {out}/trials/<model>/<trial>/error.log"
    )


def format_leaderboard(rows):
    lines = [
        "| model | variant | metric | mean ± std | seeds | params | train s/epoch "
        "| infer ms/example |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["status"] != "ok":
            reason = r["reason"].replace("|", "\\|")
            lines.append(
                f"| {r['model']} | {r['variant']} | {r['metric']} | "
                f"{r['status']}: {reason} | {r['seeds']} | – | – | – |"
            )
            continue
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['metric']} | "
            f"{r['metric_mean']:.4f} ± {r['metric_std']:.4f} | {r['seeds']} | {r['params']:,} | "
            f"{r['train_seconds_per_epoch']:.3f} | {r['inference_ms_per_example']:.3f} |"
        )
    return "\n".join(lines)


def write_leaderboard(rows, out):
    out = pathlib.Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    _atomic_write_text(out / "leaderboard.md", format_leaderboard(rows) + "\n")
    _atomic_write_json(out / "leaderboard.json", rows)
    fields = [k for k in rows[0] if k != "hyperparameters"] + ["hyperparameters"] if rows else []
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "hyperparameters": json.dumps(r["hyperparameters"])})
    _atomic_write_text(out / "leaderboard.csv", text.getvalue())
    for model in dict.fromkeys(r["model"] for r in rows):
        model_rows = [r for r in rows if r["model"] == model and r["status"] == "ok"]
        if not model_rows:
            continue
        metric = model_rows[0]["metric"]
        plots.metric_per_variant(
            model_rows, metric, out / "plots" / f"{model}_metric.png", title=f"{model}: {metric}"
        )
        plots.metric_vs_time(
            model_rows, metric, out / "plots" / f"{model}_time.png", title=f"{model}: cost"
        )
