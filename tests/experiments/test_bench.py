"""The benchmark's plumbing: one configuration in its own subprocess, a table and its files."""

import csv

import pytest

from attention_zoo.experiments import bench, bench_device


def test_a_layer_and_its_built_in_write_csv_and_markdown_with_a_paired_ratio(tmp_path, capsys):
    bench.main(
        [
            *("--quick", "--jit", "off", "--repeats", "1", "--backend", "tensorflow"),
            *("--variants", "keras.Attention", "scaled_dot", "--lengths", "128"),
            *("--batch", "3"),  # instead of the plan's B = 8
            *("--paired", "3", "--out", str(tmp_path)),
        ]
    )
    with open(tmp_path / "bench_tensorflow_jit-off.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["variant"], r["B"], r["T"]) for r in rows] == [
        ("keras.Attention", "3", "128"),
        ("scaled_dot", "3", "128"),
    ]
    builtin, ours = rows
    assert float(ours["ms fwd+bwd"]) > 0 and float(ours["peak GB"]) >= 0
    assert ours["vs"] == "keras.Attention" and float(ours["time ratio"]) > 0
    assert builtin["paired ratio"] == ""  # a built-in is not paired with itself
    # "median (q1-q3)", the quartiles around the median
    median, quartiles = ours["paired ratio"].split(" ")
    q1, q3 = (float(q) for q in quartiles.strip("()").split("-"))
    assert 0 < q1 <= float(median) <= q3
    markdown = (tmp_path / "bench_tensorflow_jit-off.md").read_text()
    assert markdown.startswith("| variant |") and "| scaled_dot | 3 | 128 |" in markdown
    output = capsys.readouterr().out
    assert "| scaled_dot | 3 | 128 |" in output and "paired with keras.Attention" in output


def test_paired_ratio_alternates_which_step_runs_first():
    calls, now = [], [0.0]

    def timed(name, seconds):
        def step(x):
            calls.append(name)
            now[0] += seconds

        return step

    result = bench.paired_ratio(
        timed("ours", 2.0), timed("builtin", 4.0), None, rounds=4, clock=lambda: now[0]
    )
    assert calls == ["ours", "builtin", "builtin", "ours", "ours", "builtin", "builtin", "ours"]
    assert result == {"paired_ratio": 0.5, "paired_q1": 0.5, "paired_q3": 0.5}


def test_a_batch_below_one_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--quick", "--batch", "0"])
    assert exit_info.value.code == 2
    assert "--batch must be a positive integer. Received: --batch=0" in capsys.readouterr().err


def test_negative_paired_rounds_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--quick", "--paired", "-1"])
    assert exit_info.value.code == 2
    assert "--paired must be 0 or a positive integer. Received: --paired=-1" in (
        capsys.readouterr().err
    )


def test_ratios_are_against_the_built_in_of_the_same_run():
    ours = bench._row("additive", 2, 64, "tf.function", {"ms": 5.0, "peak_gb": 0.5}, "k", {})
    assert ours["time ratio"] == "" and ours["ms fwd+bwd"] == "5.0"
    ref = {"ms": 50.0, "peak_gb": 4.0}
    ours = bench._row("additive", 2, 64, "tf.function", {"ms": 5.0, "peak_gb": 0.5}, "k", ref)
    assert ours["time ratio"] == "0.10" and ours["memory ratio"] == "0.12"
    stopped = bench._row("k", 2, 64, "tf.function", {"error": "over 9 GB"}, None, {})
    assert stopped["ms fwd+bwd"] == "over 9 GB" and stopped["peak GB"] == ""
    assert ours["paired ratio"] == ""  # --paired not given
    pair_failed = {"ms": 5.0, "peak_gb": 0.5, "paired_error": "over 9 GB"}
    row = bench._row("additive", 2, 64, "tf.function", pair_failed, "k", ref)
    assert row["time ratio"] == "0.10" and row["paired ratio"] == "over 9 GB"


def test_paths_bench_times_four_paths_against_the_first():
    from attention_zoo.experiments import paths_bench

    results = paths_bench.run("scaled_dot", length=8, batch=2, dim=8, rounds=2)
    assert list(results) == [
        "tf.function, tiles",
        "tf.function, whole tensors",
        "XLA, tiles",
        "XLA, whole tensors",
    ]
    assert results["tf.function, tiles"][1] == 1.0
    assert all(ms > 0 and ratio > 0 for ms, ratio in results.values())


def test_device_mode_times_a_layer_under_jax():
    # A CPU smoke test of `--device`: one JAX subprocess, a tiny masked bfloat16 layer.
    (row,) = bench_device.run_device([("multi_head", "mixed_bfloat16", 2, 16, True)], 2, 600)
    assert row["mask"] == "value_mask" and row["dtype"] == "mixed_bfloat16"
    assert float(row["ms fwd+bwd"]) > 0 and float(row["compile s"]) > 0
    assert float(row["XLA memory GB"]) >= 0 and row["XLA memory GB"] != ""
    table = bench.format_markdown([row], bench_device.DEVICE_COLUMNS)
    assert table.startswith("| variant | dtype |") and "| multi_head | mixed_bfloat16 |" in table


def test_device_rows_compare_with_the_built_in_of_the_same_configuration():
    ref = {"ms": 2.0, "compile_s": 4.0, "memory_gb": 0.5}
    ours = {"ms": 1.0, "compile_s": 6.0, "memory_gb": 0.25}
    row = bench_device._device_row("multi_head", "float32", 8, 256, False, ours, "k", ref)
    assert (row["time ratio"], row["memory ratio"], row["compile ratio"]) == (
        "0.50",
        "0.50",
        "1.50",
    )
    failed = bench_device._device_row(
        "k", "float32", 8, 256, True, {"error": "exit 1: OOM"}, None, {}
    )
    assert failed["ms fwd+bwd"] == "exit 1: OOM" and failed["time ratio"] == ""
    assert failed["mask"] == "value_mask"


def test_device_mode_runs_under_jax_only(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--device", "--backend", "tensorflow"])
    assert exit_info.value.code == 2
    assert "--device runs under JAX. Received: --backend=tensorflow" in capsys.readouterr().err


def test_any_registry_variant_runs_unpaired_at_the_plans_sizes():
    # "dot" has no built-in of its own: it runs at every size of the plan, alone.
    import argparse

    from attention_zoo.experiments import _bench_common

    args = argparse.Namespace(variants=["scaled_dot", "dot"], lengths=[128], batch=None)
    plan = _bench_common._select(bench._plan(True), args, None, batch_at=1, length_at=2)
    assert plan == [("scaled_dot", 8, 128), ("dot", 8, 128)]
    assert bench._reference("dot") is None and bench._reference("scaled_dot") == "keras.Attention"
    layer, call_args = _bench_common._make_layer("dot", 16)
    assert type(layer).__name__ == "DotAttention" and layer.built


def test_unknown_variants_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--quick", "--variants", "scaled_dot", "nope"])
    assert exit_info.value.code == 2
    assert "Received: --variants nope" in capsys.readouterr().err


def test_paths_bench_refuses_a_score_that_is_not_a_matmul(capsys):
    from attention_zoo.experiments import paths_bench

    with pytest.raises(SystemExit) as exit_info:
        paths_bench.main(["--variant", "additive"])
    assert exit_info.value.code == 2
    assert "--variant must be a variant with a matmul score" in capsys.readouterr().err
