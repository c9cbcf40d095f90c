"""A sweep killed at any point and run again ends as an uninterrupted one would.

The kill is simulated in one process: an exception that Keras Tuner does not catch,
raised in a trial or just before the oracle saves its state, leaves the files as a
killed process would. A second tuner on the same directory then resumes.
"""

import keras_tuner
import pytest

from attention_zoo.experiments.sweep import GridOracle, Sweep, _forget_unsaved_trials
from attention_zoo.experiments.tasks import get_task

POINTS = [
    {"variant": "dot"},
    {"variant": "additive", "units": 16},
    {"variant": "additive", "units": 64},
    {"variant": "general"},
]
OBJECTIVE = keras_tuner.Objective("score", "min")
# The oracles as the sweep makes them (a seed other than 0, which Keras Tuner reads as none).
ORACLES = {
    "grid": (GridOracle, {"points": POINTS}),
    "random": (keras_tuner.oracles.RandomSearchOracle, {"max_trials": len(POINTS)}),
    "bayesian": (keras_tuner.oracles.BayesianOptimizationOracle, {"max_trials": len(POINTS)}),
    "hyperband": (keras_tuner.oracles.HyperbandOracle, {"max_epochs": 4}),
}


class Killed(BaseException):
    """Not an Exception, so Keras Tuner's trial error handling lets it through."""


def _build(hp):
    variant = hp.Choice("variant", ["dot", "additive", "general"])
    with hp.conditional_scope("variant", ["additive"]):
        hp.Choice("units", [16, 64])
    return variant


def _point(values):
    return next(p for p in POINTS if all(values.get(k) == v for k, v in p.items()))


class ToyTuner(keras_tuner.Tuner):
    """A tuner whose trials train nothing: the score is computed from the point."""

    def __init__(self, *args, runs, kill_in_run=None, **kwargs):
        self.runs = runs
        self.kill_in_run = kill_in_run
        super().__init__(*args, **kwargs)

    def run_trial(self, trial, *args, **kwargs):
        values = dict(trial.hyperparameters.values)
        if self.kill_in_run is not None and len(self.runs) == self.kill_in_run:
            self.runs.append(("killed", trial.trial_id, values))
            raise Killed
        self.runs.append(("done", trial.trial_id, values))
        return {"score": float(POINTS.index(_point(values)))}


def _dying(base, saves, kill_at_save):
    """`base`, an oracle class, made to count its saves in `saves` and to be killed just
    before save number `kill_at_save` (None: never)."""

    class Oracle(base):
        def save(self):
            saves.append(1)
            if kill_at_save is not None and len(saves) == kill_at_save:
                raise Killed
            super().save()

    return Oracle


def _search(folder, runs, oracle="grid", kill_at_save=None, kill_in_run=None):
    """Runs (or resumes) a search in `folder`; returns the tuner and its count of saves,
    or None when it was killed."""
    base, kwargs = ORACLES[oracle]
    saves = []
    tuner = _run_until_killed(
        lambda: ToyTuner(
            oracle=_dying(base, saves, kill_at_save)(objective=OBJECTIVE, seed=1, **kwargs),
            hypermodel=_build,
            directory=str(folder),
            project_name="search",
            overwrite=False,
            runs=runs,
            kill_in_run=kill_in_run,
        )
    )
    return None if tuner is None else (tuner, len(saves))


def _run_until_killed(make_tuner):
    """Makes the tuner (reloading what its directory holds) and searches as the sweep
    does; returns the tuner, or None when it was killed."""
    try:
        tuner = make_tuner()
        _forget_unsaved_trials(tuner.oracle)
        tuner.search(verbose=0)
    except Killed:
        return None
    return tuner


def _trials(tuner):
    return sorted(
        (t.trial_id, str(t.hyperparameters.values), t.status) for t in tuner.oracle.trials.values()
    )


def test_an_uninterrupted_grid_walks_every_point_once(tmp_path):
    runs = []
    tuner, _ = _search(tmp_path, runs)
    assert [_point(r[2]) for r in runs] == POINTS
    assert [t[2] for t in _trials(tuner)] == ["COMPLETED"] * len(POINTS)


@pytest.mark.parametrize("kill_in_run", range(len(POINTS)))
def test_a_grid_killed_in_a_trial_goes_on(tmp_path, kill_in_run):
    reference, _ = _search(tmp_path / "reference", [])
    runs = []
    assert _search(tmp_path / "killed", runs, kill_in_run=kill_in_run) is None
    tuner, _ = _search(tmp_path / "killed", runs)
    assert _trials(tuner) == _trials(reference)
    done = [_point(r[2]) for r in runs if r[0] == "done"]
    assert sorted(map(str, done)) == sorted(map(str, POINTS))  # each point ended once


@pytest.mark.parametrize("oracle", ORACLES)
def test_killed_before_any_save_of_the_oracle_the_search_goes_on(tmp_path, oracle):
    reference, n_saves = _search(tmp_path / "reference", [], oracle)
    assert n_saves >= 2 * len(_trials(reference))  # one as each trial starts, one as it ends
    for kill_at_save in range(1, n_saves + 1):
        runs = []
        folder = tmp_path / f"killed_at_save_{kill_at_save}"
        assert _search(folder, runs, oracle, kill_at_save=kill_at_save) is None
        tuner, _ = _search(folder, runs, oracle)
        assert _trials(tuner) == _trials(reference), kill_at_save
        done = [str(r[2]) for r in runs if r[0] == "done"]
        # Only a trial killed after it ended, before the oracle saved that, runs twice
        # (a sweep keeps its record instead: see _SweepMixin.run_trial).
        assert len(done) - len(set(done)) <= 1, (kill_at_save, runs)


@pytest.mark.parametrize("tuner", ["random", "bayesian", "hyperband"])
def test_the_sweeps_tuner_draws_the_same_points_for_the_same_seed(tmp_path, tuner):
    task = get_task("kernel_regression")
    data = task.data("quick", 0)

    def first_draws(folder):
        sweep = Sweep(
            task, data, ["nonparametric", "parametric"], folder, tuner, 1, 0, (4, None), 8
        )
        oracle = sweep.tuner().oracle
        trials = [oracle.create_trial(f"worker{i}") for i in range(4)]
        # Keras Tuner draws a seed from 1 to 10,000 when it is given none.
        return oracle.seed, [(t.status, t.hyperparameters.values) for t in trials]

    assert first_draws(tmp_path / "a") == first_draws(tmp_path / "b")


class _Bowl(keras_tuner.Tuner):
    """Trials on a 6 x 5 grid of integers whose score falls with the epochs they get."""

    def run_trial(self, trial, *args, **kwargs):
        v = trial.hyperparameters.values
        return {"score": ((v["a"] - 2) ** 2 + (v["b"] - 3) ** 2) / (1 + v["tuner/epochs"])}


def _hyperband(folder, kill_at_save=None):
    saves = []

    def build(hp):
        hp.Choice("a", list(range(6)))
        hp.Choice("b", list(range(5)))

    def make_tuner():
        oracle = _dying(keras_tuner.oracles.HyperbandOracle, saves, kill_at_save)(
            objective=OBJECTIVE, seed=1, max_epochs=9, factor=3
        )
        return _Bowl(oracle=oracle, hypermodel=build, directory=str(folder), project_name="hb")

    tuner = _run_until_killed(make_tuner)
    return None if tuner is None else (tuner, len(saves))


def test_a_hyperband_of_three_brackets_killed_before_any_save_goes_on(tmp_path):
    reference, n_saves = _hyperband(tmp_path / "reference")
    assert len(reference.oracle.trials) > 20  # rounds that carry trials on, in 3 brackets
    for kill_at_save in range(1, n_saves + 1):
        folder = tmp_path / f"killed_at_save_{kill_at_save}"
        assert _hyperband(folder, kill_at_save) is None
        tuner, _ = _hyperband(folder)
        assert _trials(tuner) == _trials(reference), kill_at_save
