"""The `attention-zoo` command's argument checks, error lines and console output."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from attention_zoo.experiments import cli, cli_compare

KR = ["compare", "--model", "kernel_regression"]
TWO = ["compare", "--model", "text_classifier", "--model", "translator"]
TRAIN = ["train", "--model", "kernel_regression", "--variant", "parametric", "--epochs", "1"]


def _fail_if_called(*args, **kwargs):
    raise AssertionError("data was loaded or training started for bad arguments")


@pytest.fixture
def no_data(monkeypatch):
    """Makes loading any task's data (the step before training) fail the test."""
    from attention_zoo.experiments import tasks

    for task in tasks.TASKS.values():
        monkeypatch.setattr(task, "data", _fail_if_called)


def _one_error_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "\x1b" not in captured.err
    return lines[0]


# One test for all of them: each would cost more in the Keras clean-up between tests.
BAD_ARGUMENTS = [
    ([*KR, "--budget-seconds", "inf"], "--budget-seconds=inf"),
    ([*KR, "--budget-seconds", "nan"], "--budget-seconds=nan"),
    ([*KR, "--budget-seconds", "0"], "--budget-seconds=0.0"),
    ([*KR, "--budget-seconds", "-5"], "--budget-seconds=-5.0"),
    ([*KR, "--max-trials", "-1"], "--max-trials=-1"),
    ([*KR, "--max-trials", "0", "--tuner", "random"], "--max-trials=0"),
    ([*KR, "--variants", ""], "--variants=''"),
    ([*KR, "--variants", ",,"], "--variants=',,'"),
    ([*KR, "--variants", "parametric,"], "--variants='parametric,'"),
    ([*KR, "--variants", "parametric,parametric"], "--variants=parametric,parametric"),
    ([*KR, "--variants", "parametrc"], "--variants=parametrc"),
    ([*TWO, "--variants", "dot,addtive"], "--variants=dot,addtive"),
    ([*KR, "--executions", "0"], "--executions=0"),
    ([*KR, "--budget-epochs", "0"], "--budget-epochs=0"),
    (["train", "--model", "text_classifier", "--variant", "dot", "--out", "m.h5"], "--out=m.h5"),
]


def test_bad_numbers_and_variants_exit_2_before_any_data(no_data, capsys, tmp_path):
    for args, received in BAD_ARGUMENTS:
        if "--out" not in args:
            args = [*args, "--out", str(tmp_path / "out")]
        assert cli.main(args) == 2, args
        line = _one_error_line(capsys)
        assert f"Received: {received}" in line, (args, line)
        assert not (tmp_path / "out").exists(), args


def test_a_typo_among_two_models_names_the_variant(no_data, capsys, tmp_path):
    assert cli.main([*TWO, "--variants", "dot,addtive", "--out", str(tmp_path)]) == 2
    line = _one_error_line(capsys)
    assert "Unknown variant 'addtive' for text_classifier, translator" in line


def test_a_variant_of_one_model_only_is_compared_for_that_model(monkeypatch):
    # `ram` is a vision variant, not a translator one: it is kept for vision alone.
    assert cli_compare._compare_variants("ram,dot", ["vision", "translator"]) == ["ram", "dot"]
    with pytest.raises(cli.UsageError, match="Unknown variant 'rma'"):
        cli_compare._compare_variants("rma,dot", ["vision", "translator"])


def test_train_out_is_checked_before_training(no_data, capsys, tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    if os.access(read_only, os.W_OK):  # root writes there; /proc takes no file from anyone
        read_only = pathlib.Path("/proc")
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder.keras").mkdir()
    for out in (
        read_only / "m.keras",
        tmp_path / "folder.keras",
        tmp_path / "m.h5",
        tmp_path / "file" / "m.keras",
    ):
        assert cli.main([*TRAIN, "--out", str(out)]) == 2, out
        assert f"Received: --out={out}" in _one_error_line(capsys)


def test_train_data_missing_exits_2_naming_the_file(no_data, capsys, tmp_path):
    missing = tmp_path / "reviews.csv"
    args = ["train", "--model", "text_classifier", "--variant", "dot"]
    assert cli.main([*args, "--data", str(missing), "--out", str(tmp_path / "m.keras")]) == 2
    assert f"Received: --data={missing}" in _one_error_line(capsys)


def test_train_data_the_task_refuses_exits_2(capsys, tmp_path):
    (tmp_path / "points.csv").write_text("x,y\n1,2\n")
    args = [*TRAIN, "--data", str(tmp_path / "points.csv"), "--out", str(tmp_path / "m.keras")]
    assert cli.main(args) == 2
    assert "kernel_regression has only its generated data" in _one_error_line(capsys)


def test_a_failed_save_keeps_the_previous_model_file(tmp_path, monkeypatch, capsys):
    import keras

    out = tmp_path / "m.keras"
    out.write_text("the model saved yesterday")

    def save_half(self, filepath, *args, **kwargs):
        pathlib.Path(filepath).write_text("half a model")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", save_half)
    assert cli.main([*TRAIN, "--out", str(out)]) == 1
    assert "No space left on device" in _one_error_line(capsys)
    assert out.read_text() == "the model saved yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_error_lines_are_one_line_without_terminal_codes(monkeypatch, capsys):
    def failing(args):
        raise RuntimeError("\x1b[1mException encountered\x1b[0m\n  when calling\n\n  layer 'x'")

    monkeypatch.setattr(cli, "_cmd_list", failing)
    assert cli.main(["list"]) == 1
    line = _one_error_line(capsys)
    assert (
        line
        == "attention-zoo list: error: RuntimeError: Exception encountered when calling layer 'x'"
    )


def test_list_names_the_models_as_the_zoo_does(capsys):
    # One name per model: a comparison task is a model of `zoo.list_models()`, or a family.
    from attention_zoo import zoo

    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (models,) = [line for line in lines if line.startswith("models: ")]
    assert models == "models: " + ", ".join(zoo.list_models())
    tasks = [line.split()[2].rstrip(":") for line in lines if line.startswith("compare --model ")]
    families = {"vision"}
    assert tasks and all(t in zoo.list_models() or t in families for t in tasks), tasks


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["compare", "--budget-epochs", "many"])
    assert exc.value.code == 2
    line = _one_error_line(capsys)
    assert line.startswith("attention-zoo compare: error: argument --budget-epochs")


def _help_options(command, capsys, main=cli.main):
    """{option: its help, on one line} from `attention-zoo COMMAND --help` (or `main`'s)."""
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    section = capsys.readouterr().out.split("\noptions:\n", 1)[1]
    blocks = re.split(r"\n(?=  -)", section)
    return {block.split()[0].rstrip(","): " ".join(block.split()) for block in blocks}


@pytest.mark.parametrize("command", [[], ["list"], ["train"], ["compare"], ["export"], ["plot"]])
def test_help_shows_the_default_of_every_option(command, capsys):
    options = _help_options(command, capsys)
    assert "-h" in options
    for name, text in options.items():
        if name != "-h":
            assert "default: " in text or text.endswith("(required)"), text


def test_help_shows_the_defaults_that_the_command_uses(capsys):
    compare = _help_options(["compare"], capsys)
    assert compare["--tuner"].endswith("(default: grid)")
    assert compare["--out"].endswith("(default: runs/compare)")
    assert compare["--overwrite"].endswith("(default: off)")
    full = cli_compare.PRESETS["full"]
    assert f"default: {full['budget_seconds']} with --preset full" in compare["--budget-seconds"]
    assert f"{full['executions']} with --preset full" in compare["--executions"]
    train = _help_options(["train"], capsys)
    assert train["--epochs"].endswith("(default: 10)")
    assert train["--out"].endswith("(required)")


@pytest.mark.parametrize(
    "script,bad", [("model_bench", "--rounds"), ("long_dates", "--dates-per-example")]
)
def test_the_experiment_scripts_show_their_defaults_and_refuse_bad_counts(script, bad, capsys):
    import importlib

    main = importlib.import_module(f"attention_zoo.experiments.{script}").main
    for name, text in _help_options([], capsys, main).items():
        if name != "-h":
            assert "(default: " in text, text
    with pytest.raises(SystemExit) as exc:
        main([bad, "0"])
    assert exc.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after argparse's usage lines
    assert last.endswith(f"error: {bad} must be a positive integer. Received: {bad}=0"), last


def test_the_command_prints_our_lines_only(tmp_path):
    """`attention-zoo list`, then an error, in a fresh process: no TensorFlow start-up lines.

    The process starts as the console script does: `sys.argv[0]` names `attention-zoo`
    before `attention_zoo` is imported.
    """
    env = os.environ.copy()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # what a user has: nothing set
    out = str(tmp_path / "m.keras")
    script = (
        "import sys; sys.argv = ['/venv/bin/attention-zoo', 'list'];"
        "from attention_zoo.experiments.cli import main; main();"
        f"main(['train', '--model', 'nope', '--variant', 'dot', '--out', {out!r}])"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("attention variants: ")
    assert all(
        line.startswith(("attention variants: ", "aliases: ", "models: ", "compare --model "))
        for line in lines
    ), proc.stdout
    assert proc.stderr.startswith("attention-zoo train: error: Unknown model 'nope'")
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_quiet_is_for_the_command_without_verbose_only():
    from attention_zoo import _startup

    assert _startup.quiet_command_line(["/venv/bin/attention-zoo", "list"])
    assert not _startup.quiet_command_line(["/venv/bin/attention-zoo", "list", "--verbose"])
    module = ["python", "-m", "attention_zoo.experiments.cli", "list"]
    assert _startup.quiet_command_line(["-m", "list"], module)
    assert not _startup.quiet_command_line(["-m", "--verbose", "list"], [*module, "--verbose"])
    # A library user's script, or pytest: their stderr is left alone.
    assert not _startup.quiet_command_line(["train.py"], ["python", "train.py"])
    assert not _startup.quiet_command_line(["pytest"], ["python", "-m", "pytest"])


def test_compare_data_on_a_binary_file_exits_2_naming_it(capsys, tmp_path):
    binary = tmp_path / "reviews.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    args = ["compare", "--model", "text_classifier", "--preset", "full", "--budget-epochs", "1"]
    assert cli.main([*args, "--data", str(binary), "--out", str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys)
    assert f"text_classifier data: {binary}, line 1: " in line and "binary" in line


def test_full_preset_offline_without_data_fails_at_once_with_a_hint(monkeypatch, capsys, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    from attention_zoo.experiments import _task_data

    if tfds.builder("imdb_reviews").is_prepared():
        pytest.skip("imdb_reviews is prepared on this machine: there is nothing to download")
    monkeypatch.setattr(_task_data, "_online", lambda: False)
    args = ["compare", "--model", "text_classifier", "--preset", "full", "--budget-epochs", "1"]
    assert cli.main([*args, "--out", str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys)
    assert "has not prepared imdb_reviews" in line and "offline" in line
    assert "tfds build imdb_reviews" in line and "--data text_classifier=PATH" in line


def test_online_probe_tells_an_open_port_from_a_closed_one(monkeypatch):
    import socket

    from attention_zoo.experiments import _task_data

    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert _task_data._online([("127.0.0.1", port)], timeout=5.0)
    assert not _task_data._online([("127.0.0.1", port)], timeout=0.5)  # closed now


def test_the_quiet_import_drops_tensorflows_start_up_lines_only(tmp_path, monkeypatch, capfd):
    from attention_zoo import _startup

    start_up = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795852450.049443    5174 port.cc:153] oneDNN custom operations are on.\n"
        "I0000 00:00:1795852450.049795    5174 cudart_stub.cc:31] Could not find cuda drivers\n"
    )
    for name, tail in (("fake_tf_ok", ""), ("fake_tf_broken", "raise ImportError('no libcuda')")):
        (tmp_path / f"{name}.py").write_text(
            f"import os\nos.write(2, {start_up!r}.encode())\n"
            f"os.write(2, b'F0000 00:00:1.0 1 main.cc:1] a fatal record\\nthe user sees this\\n')\n"
            f"{tail}\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    _startup.import_quietly("fake_tf_ok")
    assert (
        capfd.readouterr().err
        == "F0000 00:00:1.0 1 main.cc:1] a fatal record\nthe user sees this\n"
    )
    with pytest.raises(ImportError, match="no libcuda"):
        _startup.import_quietly("fake_tf_broken")
    err = capfd.readouterr().err
    assert err.startswith(start_up) and err.endswith("the user sees this\n")
