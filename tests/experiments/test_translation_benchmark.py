"""The English -> French benchmark's table of variants (no training: that is the benchmark)."""

import keras
import pytest

from attention_zoo import layers
from attention_zoo.zoo import Translator

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the benchmark uses TensorFlow"
)


def test_every_score_and_none_has_a_residual_luong_variant_that_builds():
    from attention_zoo.experiments import translation_benchmark

    table = translation_benchmark.variants()
    for score in [*layers.available(), "none"]:
        assert table[f"luong_residual_{score}"] == {
            "decoder": "luong",
            "attention": score,
            "readout": "residual",
        }
        assert "readout" not in table[f"luong_{score}"]
    translator = Translator(**table["luong_residual_additive"], units=8, embedding_dim=8)
    assert translator.get_config()["readout"] == "residual"


def _runs_csv(path, budget=None):
    header = "variant,seed,bleu,exact_match,params,train_steps,epochs_started"
    row = "luong_dot,0,12.5,0.1,100,40,1"
    if budget is not None:
        header, row = header + ",budget_seconds", row + f",{budget}"
    path.write_text(f"{header}\n{row}\n")
    return str(path)


def test_from_runs_reports_the_budget_the_runs_recorded(tmp_path, capsys):
    from attention_zoo.experiments import translation_benchmark

    new = _runs_csv(tmp_path / "new.csv", budget=60.0)
    translation_benchmark.main(["--from-runs", new, "--out", str(tmp_path / "a")])
    assert "60 s of CPU per run" in capsys.readouterr().out

    # Runs written before the budget was recorded: --budget-seconds if given, else "not recorded".
    old = _runs_csv(tmp_path / "old.csv")
    translation_benchmark.main(["--from-runs", old, "--out", str(tmp_path / "b")])
    assert "budget per run not recorded" in capsys.readouterr().out
    args = ["--from-runs", old, "--budget-seconds", "30", "--out", str(tmp_path / "c")]
    translation_benchmark.main(args)
    assert "30 s of CPU per run" in capsys.readouterr().out
    # Old and new runs merge into one runs.csv with the union of the columns.
    translation_benchmark.main(["--from-runs", old, new, "--out", str(tmp_path / "d")])
    assert "60 s of CPU per run" in capsys.readouterr().out
    assert (tmp_path / "d" / "runs.csv").read_text().splitlines()[0].endswith("budget_seconds")
