"""The decoding benchmark: cached and uncached searches timed, same tokens, runs appended."""

import csv

import pytest

from attention_zoo.experiments import decode_bench


def test_one_run_each_is_timed_compared_and_appended(tmp_path, capsys):
    path = tmp_path / "results" / "decode_bench.csv"
    argv = [
        "--tasks",
        "dates",
        "--sentences",
        "4",
        "--runs",
        "1",
        "--units",
        "8",
        "--max-length",
        "3",
    ]
    rows = decode_bench.main([*argv, "--csv", str(path)])
    decode_bench.append_rows(path, rows)  # a second run appends under the same header
    with open(path, newline="") as f:
        written = list(csv.DictReader(f))
    assert [(r["use_cache"], r["run"]) for r in written] == [("False", "0"), ("True", "0")] * 2
    assert all(float(r["sentences_per_second"]) > 0 and r["sentences"] == "4" for r in written)
    table = capsys.readouterr().out
    assert "| dates |" in table and "| yes |" in table and "CPUs" in table


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--runs", "0"], "--runs must be a positive integer"),
        (["--tasks", "x"], "--tasks=x"),
        (["--max-length", "0"], "--max-length=0"),
    ],
)
def test_bad_options_exit_2_naming_them(argv, match, capsys):
    with pytest.raises(SystemExit) as exit_info:
        decode_bench.main(argv)
    assert exit_info.value.code == 2 and match in capsys.readouterr().err


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        decode_bench.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: dates,long_dates)", "(default: 256)", "(default: 3)"):
        assert default in text
