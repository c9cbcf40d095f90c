"""The MR benchmark end to end on a tiny generated MR-like folder: split, runs CSV, resume."""

import csv
import math

import numpy as np
import pytest

from attention_zoo.experiments import _mr_models, mr_benchmark

N_PER_CLASS = 40
TINY = [
    "--encoders", "none", "--poolings", "additive", "--seeds", "0", "--max-epochs", "1",
    "--embed-dim", "8", "--num-heads", "2", "--vocab-size", "60", "--sequence-length", "10",
    "--batch-size", "16",
]  # fmt: skip


@pytest.fixture
def mr_folder(tmp_path):
    """rt-polarity.pos / .neg in Latin-1 (some lines are not valid UTF-8)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mr"
    folder.mkdir()
    fillers = "the a film plot caf\xe9 na\xefve scene story actor , .".split()
    for name, words in (("pos", ("good", "great")), ("neg", ("bad", "dull"))):
        lines = [
            " ".join([*rng.choice(fillers, 5), str(rng.choice(words)), *rng.choice(fillers, 3)])
            for _ in range(N_PER_CLASS)
        ]
        (folder / f"rt-polarity.{name}").write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    return folder


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_split_is_the_protocols(mr_folder):
    split = _mr_models.load_split(mr_folder)
    sizes = {part: len(labels) for part, (_, labels) in split.items()}
    assert sizes == {"train": 65, "validation": 7, "test": 8}  # 10 % test, 10 % of the rest
    neg = (mr_folder / "rt-polarity.neg").read_bytes().decode("latin-1").split("\n")[:-1]
    pos = (mr_folder / "rt-polarity.pos").read_bytes().decode("latin-1").split("\n")[:-1]
    order = np.random.default_rng(0).permutation(2 * N_PER_CLASS)
    texts, labels = split["test"]
    assert texts == [(neg + pos)[i] for i in order[-8:]]
    assert labels.tolist() == [int(i >= N_PER_CLASS) for i in order[-8:]]  # 1 = pos
    again = _mr_models.load_split(mr_folder)  # the same every time
    assert all(
        again[p][0] == t and again[p][1].tolist() == y.tolist() for p, (t, y) in split.items()
    )


def test_one_run_end_to_end_writes_its_row_and_the_table(mr_folder, tmp_path, capsys):
    out = tmp_path / "results" / "mr_runs.csv"
    mr_benchmark.main(["--data", str(mr_folder), *TINY, "--out", str(out)])
    rows = _rows(out)
    assert list(rows[0]) == list(mr_benchmark.FIELDS)
    assert [(r["model"], r["seed"]) for r in rows] == [
        ("none/additive", "0"),
        ("keras_transformer", "0"),
    ]
    zoo_row = rows[0]
    assert (zoo_row["encoder"], zoo_row["pooling"]) == ("none", "additive")
    assert zoo_row["epochs"] == zoo_row["best_epoch"] == "1"
    assert int(zoo_row["steps"]) == math.ceil(65 / 16)
    assert 0 <= float(zoo_row["test_accuracy"]) <= 1
    assert 0 <= float(zoo_row["best_val_accuracy"]) <= 1
    assert float(zoo_row["wall_s"]) > 0 and int(zoo_row["params"]) > 0
    assert (zoo_row["max_epochs"], zoo_row["patience"], zoo_row["embed_dim"]) == ("1", "3", "8")
    table = out.with_suffix(".md").read_text()
    assert "| none/additive | 1 |" in table and "| keras_transformer | 1 |" in table
    assert "Kim (2014) CNN-rand" in table
    assert "python -m attention_zoo.experiments.mr_benchmark --data" in table
    assert table.splitlines()[0] in capsys.readouterr().out


class Killed(BaseException):
    """A cut session: not an Exception, so nothing on the way catches it."""


def test_a_cut_run_keeps_its_rows_and_a_rerun_runs_only_the_missing_ones(
    mr_folder, tmp_path, monkeypatch
):
    out = tmp_path / "mr_runs.csv"
    args = ["--data", str(mr_folder), *TINY, "--baselines", "--seeds", "0", "1", "--out", str(out)]
    calls = []
    real_run_one = mr_benchmark.run_one

    def run_one(name, seed, *rest):
        calls.append((name, seed))
        if cut and len(calls) == 2:
            raise Killed
        return real_run_one(name, seed, *rest)

    monkeypatch.setattr(mr_benchmark, "run_one", run_one)
    cut = True
    with pytest.raises(Killed):
        mr_benchmark.main(args)
    first = _rows(out)
    assert [r["model"] for r in first] == ["none/additive"]
    assert "| none/additive | 1 |" in out.with_suffix(".md").read_text()  # the table so far

    cut = False
    mr_benchmark.main(args)
    assert calls[2:] == [("none/additive", 1)] and _rows(out)[0] == first[0]
    assert "| none/additive | 2 |" in out.with_suffix(".md").read_text()
    mr_benchmark.main(args)
    assert len(calls) == 3 and len(_rows(out)) == 2
    # Other settings are other runs: not skipped, and kept apart in the table.
    mr_benchmark.main([*args, "--seeds", "0", "--patience", "2"])
    assert calls[3:] == [("none/additive", 0)]
    assert [r["patience"] for r in _rows(out)] == ["3", "3", "2"]
    assert "| none/additive | 1 |" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dropout", "1"], "--dropout must be in [0, 1). Received: 1.0"),
        (["--max-epochs", "0"], "--max-epochs must be a positive integer"),
        (["--baselines", "bert"], "--baselines must be among ('keras_transformer',)"),
        (["--poolings", "nope"], "argument --poolings: invalid choice: 'nope'"),
    ],
)
def test_bad_options_exit_2_naming_the_option(mr_folder, extra, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        mr_benchmark.main(["--data", str(mr_folder), *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_folder_without_the_files_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        mr_benchmark.main(["--data", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--data must be a folder holding ['rt-polarity.neg', 'rt-polarity.pos']" in err
