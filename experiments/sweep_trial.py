"""One trial of the sweep: its seeded trainings under the budget, its record, its failure."""

import contextlib
import errno
import os
import time
import traceback

import keras
import keras_tuner
import numpy as np

from attention_zoo.experiments.sweep_state import (
    _atomic_write_json,
    _atomic_write_text,
    _load_json,
    _log,
)

# The seeds of a trial after the first train the first seed's model object, reset to the
# state of a freshly built model, so that its functions are not traced again (see
# `_reset_to`). False builds a new model per seed: the same numbers, more tracing.
REUSE_MODEL = True


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
            inference_ms = _inference_ms(model, data["val"][0])
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


def _inference_ms(model, x_val):
    """Milliseconds per example of `model.predict` on `x_val`."""
    n_val = len(keras.tree.flatten(x_val)[0])
    # Timed on the second call: the first one traces the predict function.
    model.predict(x_val, batch_size=256, verbose=0)
    start = time.perf_counter()
    model.predict(x_val, batch_size=256, verbose=0)
    return 1000 * (time.perf_counter() - start) / n_val


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
