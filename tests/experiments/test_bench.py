"""The benchmark's plumbing: one configuration in its own subprocess, a table and its files."""

import csv

import pytest

from attention_zoo.experiments import bench


def test_one_configuration_writes_csv_and_markdown(tmp_path, capsys):
    bench.main(
        [
            *("--quick", "--jit", "off", "--repeats", "1", "--backend", "tensorflow"),
            *("--variants", "scaled_dot", "--lengths", "128", "--out", str(tmp_path)),
            *("--batch", "3"),  # instead of the plan's B = 8
        ]
    )
    with open(tmp_path / "bench_tensorflow_jit-off.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["variant"], r["B"], r["T"]) for r in rows] == [("scaled_dot", "3", "128")]
    assert float(rows[0]["ms fwd+bwd"]) > 0 and float(rows[0]["peak GB"]) >= 0
    markdown = (tmp_path / "bench_tensorflow_jit-off.md").read_text()
    assert markdown.startswith("| variant |") and "| scaled_dot | 3 | 128 |" in markdown
    assert "| scaled_dot | 3 | 128 |" in capsys.readouterr().out


def test_a_batch_below_one_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--quick", "--batch", "0"])
    assert exit_info.value.code == 2
    assert "--batch must be a positive integer. Received: --batch=0" in capsys.readouterr().err


def test_ratios_are_against_the_built_in_of_the_same_run():
    ours = bench._row("additive", 2, 64, "tf.function", {"ms": 5.0, "peak_gb": 0.5}, "k", {})
    assert ours["time ratio"] == "" and ours["ms fwd+bwd"] == "5.0"
    ref = {"ms": 50.0, "peak_gb": 4.0}
    ours = bench._row("additive", 2, 64, "tf.function", {"ms": 5.0, "peak_gb": 0.5}, "k", ref)
    assert ours["time ratio"] == "0.10" and ours["memory ratio"] == "0.12"
    stopped = bench._row("k", 2, 64, "tf.function", {"error": "over 9 GB"}, None, {})
    assert stopped["ms fwd+bwd"] == "over 9 GB" and stopped["peak GB"] == ""
