"""The README's Python examples run as written."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), namespace)
    if "model" in namespace:
        history = namespace["model"].history.history
        assert history["accuracy"][-1] > 0.9, history


def test_readme_has_examples():
    assert len(BLOCKS) >= 2
