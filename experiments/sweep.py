"""One reference model's part of the comparison: a resumable Keras Tuner search over its
variants, the grid it walks, and its leaderboard rows."""

import contextlib
import io
import os
import shutil
import time

import keras_tuner
import numpy as np

from attention_zoo.experiments.leaderboard import _row
from attention_zoo.experiments.sweep_state import (
    DAMAGED_DIR,
    DamagedStateError,
    _load_json,
    _log,
    _role,
)
from attention_zoo.experiments.sweep_trial import _ok, _SweepMixin

TUNERS = {
    "grid": keras_tuner.Tuner,  # with a GridOracle: see Sweep.tuner
    "random": keras_tuner.RandomSearch,
    "bayesian": keras_tuner.BayesianOptimization,
    "hyperband": keras_tuner.Hyperband,
}

# The tuners that end on their own (after the whole grid, after Hyperband's brackets); the
# others need max_trials.
SELF_LIMITING = ("grid", "hyperband")

# Keras Tuner stops a search after 3 failed trials in a row; here a failed trial is a
# leaderboard row and the sweep goes on with the others.
_NO_FAILURE_LIMIT = 10**9


def _fmt_seconds(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


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
