"""A grid sweep killed at any point and run again walks the whole grid, each point once.

The kill is simulated in one process: an exception that Keras Tuner does not catch,
raised in a trial or just before the oracle saves its state, leaves the files as a
killed process would. A second tuner on the same directory then resumes.
"""

import keras_tuner
import pytest

from attention_zoo.experiments.compare import GridOracle, _forget_unsaved_trials

POINTS = [
    {"variant": "dot"},
    {"variant": "additive", "units": 16},
    {"variant": "additive", "units": 64},
    {"variant": "general"},
]


class Killed(BaseException):
    """Not an Exception, so Keras Tuner's trial error handling lets it through."""


def _build(hp):
    variant = hp.Choice("variant", ["dot", "additive", "general"])
    with hp.conditional_scope("variant", ["additive"]):
        hp.Choice("units", [16, 64])
    return variant


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


def _point(values):
    return next(p for p in POINTS if all(values.get(k) == v for k, v in p.items()))


def _tuner(tmp_path, runs, kill_at_save=None, kill_in_run=None):
    saves = []

    class Oracle(GridOracle):
        def save(self):
            saves.append(1)
            if kill_at_save is not None and len(saves) == kill_at_save:
                raise Killed
            super().save()

    oracle = Oracle(POINTS, objective=keras_tuner.Objective("score", "min"), seed=0)
    tuner = ToyTuner(
        oracle=oracle,
        hypermodel=_build,
        directory=str(tmp_path),
        project_name="grid",
        overwrite=False,
        runs=runs,
        kill_in_run=kill_in_run,
    )
    return tuner, saves


def _search(tmp_path, runs, **kill):
    try:
        tuner, saves = _tuner(tmp_path, runs, **kill)
        _forget_unsaved_trials(tuner.oracle)
        tuner.search(verbose=0)
    except Killed:
        return None
    return tuner, saves


def _check_whole_grid(tuner, runs):
    done = [r for r in runs if r[0] == "done"]
    assert {str(_point(r[2])) for r in done} == {str(p) for p in POINTS}
    completed = {
        t.trial_id: _point(t.hyperparameters.values)
        for t in tuner.oracle.trials.values()
        if t.status == "COMPLETED"
    }
    assert sorted(completed) == ["0000", "0001", "0002", "0003"]
    assert sorted(map(str, completed.values())) == sorted(map(str, POINTS))
    assert len(tuner.oracle.trials) == len(POINTS)


def test_an_uninterrupted_grid_walks_every_point_once(tmp_path):
    runs = []
    tuner, _ = _search(tmp_path, runs)
    assert [_point(r[2]) for r in runs] == POINTS


@pytest.mark.parametrize("kill_in_run", range(len(POINTS)))
def test_killed_in_a_trial_the_grid_goes_on(tmp_path, kill_in_run):
    runs = []
    assert _search(tmp_path, runs, kill_in_run=kill_in_run) is None
    tuner, _ = _search(tmp_path, runs)
    _check_whole_grid(tuner, runs)
    assert len([r for r in runs if r[0] == "done"]) == len(POINTS)


def test_killed_before_any_oracle_save_the_grid_goes_on(tmp_path):
    _, saves = _search(tmp_path / "whole", [])
    n_saves = len(saves)
    assert n_saves >= 2 * len(POINTS)  # at least one as each trial starts and one as it ends
    for kill_at_save in range(1, n_saves + 1):
        runs = []
        folder = tmp_path / f"killed_at_save_{kill_at_save}"
        assert _search(folder, runs, kill_at_save=kill_at_save) is None
        tuner, _ = _search(folder, runs)
        _check_whole_grid(tuner, runs)
        done = [str(_point(r[2])) for r in runs if r[0] == "done"]
        # At most the one trial cut short by the kill runs twice.
        assert len(done) - len(set(done)) <= 1, (kill_at_save, runs)
