"""Every model's user journeys end to end, as a user chains them.

For each model of `zoo.list_models()`, and for a `compare` run's best model: create a small
one, fit one step, save `.keras`, reload it in a fresh process that imports only
`attention_zoo`, export a SavedModel through the command line and through Python, serve raw
inputs (strings for the text models) from a fresh process that imports only TensorFlow, and
get Python's answers. On JAX: create, fit, save and reload, and the string exports refuse
early. The work runs once per session in three subprocesses (each fresh Python costs seconds
of imports); the tests read its results. Run as a script, this file is the JAX chain.
"""

import contextlib
import fcntl
import json
import os
import pathlib
import pickle
import subprocess
import sys
import traceback

import keras
import numpy as np
import pytest

from attention_zoo import zoo
from attention_zoo.zoo import text_data

NAMES = zoo.list_models()
COMPARED = "compare:text_classifier"
# Short targets keep the unrolled search small.
PAIRS = [
    ("3 March 1987", "1987"),
    ("the 1st of may 2001", "2001"),
    ("12/25/1999", "1999"),
    ("Tuesday, 4 July 2023", "2023"),
]
# Another helper makes RAM train and the translator tokenize on JAX (issue 15, items 6, 7).
pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="run on TensorFlow: the journeys start their own JAX process",
)


def _kind(name):
    if name == "translator":
        return "translator"
    return "text" if name in ("text_classifier", COMPARED) else "array"


def tiny(name):
    """`(model, x, y, raw)`: a small model of `name` in a shape and vocabulary of its own.

    Not the defaults: a journey must use the model's own shape and vocabulary. `raw` is
    what its SavedModel serves: strings for the text models, `x` for the others.
    """
    rng = np.random.default_rng(0)
    image = {"image_shape": (40, 40, 1), "num_classes": 4}
    if name == "text_classifier":
        texts, labels = text_data.make_text_task(6, 12, min_length=8, negation_rate=0.3, seed=0)
        model = zoo.create_model(
            name,
            vocab_size=40,
            num_classes=3,
            sequence_length=12,
            embed_dim=8,
            class_names=["bad", "neutral", "good"],
        )
        model.adapt(texts)
        return model, model.vectorize(texts), labels, texts
    if _kind(name) == "translator":
        sources = [s for s, _ in PAIRS]
        model = zoo.create_model(
            name,
            source_vocabulary=sorted(set("".join(sources))),
            target_vocabulary=sorted(set("".join(t for _, t in PAIRS))),
            units=8,
            embedding_dim=8,
            max_target_length=5,
        )
        x, y = model.encode_pairs(PAIRS)
        return model, x, y, sources
    if name == "kernel_regression":
        x_memory, y_memory, x, y = zoo.make_regression_data(n_train=20, n_test=6, seed=0)
        model = zoo.create_model(name, x_memory=x_memory, y_memory=y_memory)
        return model, x, y[:, None], x
    kwargs = {
        "recurrent_attention_model": {
            **image,
            "num_glimpses": 2,
            "glimpse_units": 8,
            "hidden_units": 8,
        },
        "soft_glimpse_classifier": {**image, "filters": (4, 8), "units": 8, "num_steps": 2},
        "conv_net_classifier": {**image, "filters": (4, 8), "units": 8},
    }
    if name in kwargs:
        x = rng.random((4, 40, 40, 1)).astype("float32")
        return zoo.create_model(name, **kwargs[name]), x, np.arange(4), x
    # A newly registered model: its default configuration and example batch (the contract).
    model = zoo.create_model(name)
    x, y = type(model).example_batch(batch_size=4, seed=0)
    return model, x, y, x


def _arrays(outputs):
    return [np.asarray(o) for o in keras.tree.flatten(outputs)]


def _error():
    return traceback.format_exc(limit=-3)


def _answer(model, kind, raw, x):
    """What the SavedModel must serve for `raw`, computed in Python."""
    if kind == "text":
        return model.predict_texts(raw)
    if kind == "translator":
        return model.translate(raw)
    return model.predict(x, verbose=0)


def _python_export(model, kind, path):
    if kind == "translator":
        model.export_translate(path)
    else:
        model.export(str(path), verbose=False)


def _start(code, root, **env):
    """A subprocess on `root`; its output goes to a file, so that it never waits on a pipe."""
    log = root / f"{len(list(root.glob('*.log')))}.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, *code, str(root)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ.copy(), "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        )
    process.log = log
    return process


def _finish(process):
    """The output of a finished subprocess, which must have succeeded."""
    process.wait(timeout=600)
    output = process.log.read_text()
    assert process.returncode == 0, output[-3000:]
    return output


# A fresh process with the package's one import, then the command line as `python -m` runs it.
RELOAD = r"""
import pickle, runpy, sys, pathlib
import attention_zoo
import keras, numpy as np
root = pathlib.Path(sys.argv[1])
cases = pickle.loads((root / "cases.pkl").read_bytes())
out = {"imported": sorted(m for m in sys.modules if m.startswith("attention_zoo."))}
for case, info in cases.items():
    try:
        model = keras.saving.load_model(info["path"])
        out[case] = {"predict": [np.asarray(o) for o in keras.tree.flatten(
            model.predict(info["x"], verbose=0))]}
    except Exception as err:
        out[case] = {"error": f"{type(err).__name__}: {err}"}
for case, info in cases.items():
    sys.argv = ["attention-zoo", "export", info["path"], "--out", str(root / "cli" / info["slug"])]
    try:
        runpy.run_module("attention_zoo.experiments.cli", run_name="__main__")
        code = 0
    except SystemExit as exit:
        code = exit.code
    out[case]["cli_rc"] = code
(root / "reloaded.pkl").write_bytes(pickle.dumps(out))
"""

# A fresh process with TensorFlow alone serves both SavedModels of every case.
SERVE = r"""
import pickle, sys, pathlib
import tensorflow as tf
root = pathlib.Path(sys.argv[1])
cases = pickle.loads((root / "cases.pkl").read_bytes())
out = {}
for case, info in cases.items():
    for how in ("cli", "python"):
        try:
            served = tf.saved_model.load(str(root / how / info["slug"]))
            if info["kind"] == "translator":
                got = [t.decode() for t in served.translate(tf.constant(info["raw"])).numpy()]
            elif info["kind"] == "text":
                got = served.serve(tf.constant(info["raw"])).numpy()
            else:
                got = served.serve(tf.constant(info["x"])).numpy()
        except Exception as err:
            got = f"error: {type(err).__name__}: {err}"
        out[case, how] = got
out["imported"] = sorted(m for m in sys.modules if m.split(".")[0] == "attention_zoo")
(root / "served.pkl").write_bytes(pickle.dumps(out))
"""


@contextlib.contextmanager
def _once(tmp_path_factory, name):
    """A folder shared by the xdist workers; the body runs in the first worker that gets here."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / name
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder, not (folder / "done").exists()
            (folder / "done").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _tensorflow_journeys(root):
    from attention_zoo.experiments import cli

    cases, errors = {}, {}
    for name in [*NAMES, COMPARED]:
        slug = name.replace(":", "_")
        kind = _kind(name)
        try:
            if name == COMPARED:
                # A compare run's best model: the quick text task, one variant, one step (the
                # time budget is checked after every batch).
                args = ["compare", "--model", "text_classifier", "--variants", "additive"]
                args += ["--executions", "1", "--budget-seconds", "0.001"]
                args += ["--out", str(root / "sweep")]
                assert cli.main(args) == 0, "compare failed"
                path = root / "sweep" / "best" / "text_classifier" / "additive.keras"
                model = keras.saving.load_model(path)
                raw = text_data.make_text_task(5, 24, negation_rate=0.3, seed=3)[0]
                x = model.vectorize(raw)
            else:
                model, x, y, raw = tiny(name)
                model.fit(x, y, epochs=1, batch_size=len(y), verbose=0)
                path = root / f"{slug}.keras"
                model.save(path)
            expected = _arrays(model.predict(x, verbose=0))
            answer = _answer(model, kind, raw, x)
            _python_export(model, kind, root / "python" / slug)
        except Exception:
            errors[name] = _error()
            continue
        cases[name] = {"slug": slug, "kind": kind, "path": str(path), "x": x, "raw": raw}
        cases[name]["expected"], cases[name]["answer"] = expected, answer
    (root / "cases.pkl").write_bytes(pickle.dumps(cases))
    _finish(_start(["-c", RELOAD], root))
    _finish(_start(["-c", SERVE], root))
    (root / "errors.json").write_text(json.dumps(errors))


@pytest.fixture(scope="session")
def journeys(tmp_path_factory):
    with _once(tmp_path_factory, "journeys") as (root, first):
        if first:
            (root / "jax").mkdir(parents=True)
            # The JAX chain runs on the second core while this process does TensorFlow's.
            jax = _start([__file__], root / "jax", KERAS_BACKEND="jax")
            try:
                _tensorflow_journeys(root)
            finally:
                (root / "jax" / "stderr.txt").write_text(_finish(jax))
    jax = json.loads((root / "jax" / "results.json").read_text())
    jax["stderr"] = (root / "jax" / "stderr.txt").read_text()
    return {
        "errors": json.loads((root / "errors.json").read_text()),
        "cases": pickle.loads((root / "cases.pkl").read_bytes()),
        "reloaded": pickle.loads((root / "reloaded.pkl").read_bytes()),
        "served": pickle.loads((root / "served.pkl").read_bytes()),
        "jax": jax,
    }


@pytest.mark.parametrize("name", [*NAMES, COMPARED])
def test_fit_save_reload_export_and_serve(journeys, name):
    assert name not in journeys["errors"], journeys["errors"].get(name)
    case = journeys["cases"][name]
    reloaded = journeys["reloaded"][name]
    assert "error" not in reloaded, reloaded.get("error")
    for want, got in zip(case["expected"], reloaded["predict"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert reloaded["cli_rc"] == 0
    for how in ("cli", "python"):
        served = journeys["served"][name, how]
        assert not isinstance(served, str), served
        if case["kind"] == "translator":
            assert served == case["answer"], how
        else:
            np.testing.assert_allclose(served, case["answer"], rtol=1e-5, atol=1e-5)


def test_fresh_processes_import_only_what_a_user_imports(journeys):
    # `import attention_zoo` registers the models by itself: not through the experiments.
    imported = journeys["reloaded"]["imported"]
    assert "attention_zoo.zoo" in imported
    assert not any(m.startswith("attention_zoo.experiments") for m in imported)
    # The SavedModels served without this package.
    assert journeys["served"]["imported"] == []


def _jax_chain(root):
    """Create, fit, save, reload on the current backend; the string exports must refuse early."""
    from attention_zoo.experiments import cli

    results = {}
    for name in NAMES:
        try:
            model, x, y, _ = tiny(name)
            model.fit(x, y, epochs=1, batch_size=len(y), verbose=0)
            expected = _arrays(model.predict(x, verbose=0))
            path = root / f"{name}.keras"
            model.save(path)
            loaded = keras.saving.load_model(path)
            for want, got in zip(expected, _arrays(loaded.predict(x, verbose=0)), strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
            results[name] = "ok"
        except Exception:
            results[name] = _error()
    refusals = {}
    text_model = tiny("text_classifier")[0]
    translator = zoo.create_model("translator")
    for what, export in [
        ("TextClassifier.export", lambda: text_model.export(str(root / "text_sm"))),
        ("Translator.export_translate", lambda: translator.export_translate(root / "tr_sm")),
    ]:
        try:
            export()
            refusals[what] = "exported"
        except Exception as err:
            refusals[what] = f"{type(err).__name__}: {err}"
    refusals["written"] = sorted(p.name for p in root.glob("*_sm"))
    text_model.save(root / "text.keras")
    refusals["cli_rc"] = cli.main(
        ["export", str(root / "text.keras"), "--out", str(root / "cli_sm")]
    )
    (root / "results.json").write_text(json.dumps({"chain": results, "refusals": refusals}))


@pytest.mark.parametrize("name", NAMES)
def test_jax_fit_save_and_reload(journeys, name):
    assert journeys["jax"]["chain"][name] == "ok", journeys["jax"]["chain"][name]


def test_jax_string_exports_refuse_before_any_work(journeys):
    refusals = journeys["jax"]["refusals"]
    for what in ("TextClassifier.export", "Translator.export_translate"):
        assert refusals[what].startswith("RuntimeError: "), refusals[what]
        assert "KERAS_BACKEND=tensorflow" in refusals[what], refusals[what]
    assert refusals["written"] == []
    assert refusals["cli_rc"] == 2
    stderr = journeys["jax"]["stderr"]
    assert "needs the TensorFlow backend: run with KERAS_BACKEND=tensorflow" in stderr


if __name__ == "__main__":
    assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"
    _jax_chain(pathlib.Path(sys.argv[1]))


def test_a_damaged_keras_file_is_named_in_one_line(tmp_path, capsys):
    from attention_zoo.experiments import cli

    model, x, _, _ = tiny("kernel_regression")
    model.predict(x, verbose=0)
    model.save(tmp_path / "whole.keras")
    data = (tmp_path / "whole.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.keras").write_text("not a model")
    for name in ("cut.keras", "text.keras"):
        path = tmp_path / name
        for command, out in (("export", tmp_path / "sm"), ("plot", tmp_path / "p.png")):
            assert cli.main([command, str(path), "--out", str(out)]) == 2
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1, err
            assert f"model_path {path} is damaged" in err, err
    assert not (tmp_path / "sm").exists() and not (tmp_path / "p.png").exists()


@pytest.fixture
def drawn(monkeypatch):
    """What the text pictures draw: the tokens and title of a classifier, a translator's text."""
    from attention_zoo.zoo.seq2seq import alignment_plots
    from attention_zoo.zoo.text import text_plots

    calls = []
    draw_tokens = text_plots.plot_token_attention
    draw_alignment = alignment_plots.plot_alignment

    def tokens(tokens, weights, path=None, title=None, **kwargs):
        calls.append({"tokens": list(tokens), "title": title})
        return draw_tokens(tokens, weights, path=path, title=title, **kwargs)

    def alignment(translator, text, path=None, **kwargs):
        calls.append({"text": text})
        return draw_alignment(translator, text, path=path, **kwargs)

    monkeypatch.setattr(text_plots, "plot_token_attention", tokens)
    monkeypatch.setattr(alignment_plots, "plot_alignment", alignment)
    return calls


def test_plot_draws_the_users_text_with_the_models_vocabulary_and_classes(tmp_path, capsys, drawn):
    from attention_zoo.experiments import cli

    model, x, _, _ = tiny("text_classifier")
    model.predict(x, verbose=0)
    model.save(tmp_path / "text.keras")
    words = model.get_vocabulary()[2:6]
    png = tmp_path / "text.png"
    assert (
        cli.main(
            ["plot", str(tmp_path / "text.keras"), "--text", " ".join(words), "--out", str(png)]
        )
        == 0
    )
    assert png.stat().st_size > 1000
    assert drawn[-1]["tokens"] == words
    prediction = drawn[-1]["title"].split("prediction: ")[1].split(" (")[0]
    assert prediction in ("bad", "neutral", "good")

    # Without --text: words the model knows (no [UNK]), and it says what it drew.
    assert cli.main(["plot", str(tmp_path / "text.keras"), "--out", str(png)]) == 0
    assert "[UNK]" not in drawn[-1]["tokens"] and drawn[-1]["tokens"]
    assert "no --text given: drew" in capsys.readouterr().out

    translator, x, _, sources = tiny("translator")
    translator.predict(x, verbose=0)
    translator.save(tmp_path / "tr.keras")
    args = ["plot", str(tmp_path / "tr.keras"), "--out", str(tmp_path / "tr.png")]
    assert cli.main([*args, "--text", "4 May 1999"]) == 0
    assert drawn[-1] == {"text": "4 May 1999"}
    assert cli.main(args) == 0
    assert not (translator.encode_sources([drawn[-1]["text"]]) == 1).any()  # no [UNK]

    # --text for a model that reads no text is a bad argument.
    kr, x, _, _ = tiny("kernel_regression")
    kr.predict(x, verbose=0)
    kr.save(tmp_path / "kr.keras")
    assert cli.main(["plot", str(tmp_path / "kr.keras"), "--text", "hi", "--out", "k.png"]) == 2
    assert "--text applies to text classifiers and translators" in capsys.readouterr().err


def test_a_model_trained_on_a_users_csv_keeps_its_class_names(tmp_path):
    import keras_tuner

    from attention_zoo.experiments.tasks import get_task

    rows = [
        f"{'great fun' if i % 3 else 'dull'} film {i},{['bad', 'ok', 'good'][i % 3]}"
        for i in range(30)
    ]
    (tmp_path / "reviews.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    task = get_task("text_classifier")
    data = task.data("full", 0, str(tmp_path / "reviews.csv"))
    hp = keras_tuner.HyperParameters()
    hp.Fixed("variant", "dot")
    model = task.build(hp, data, ["dot"])
    assert model.num_classes == 3
    assert model.class_names == ["bad", "good", "ok"]  # the file's labels, sorted
