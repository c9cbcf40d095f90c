"""The `Example:` sections of the zoo docstrings run and print what they show."""

import doctest
import importlib
import pkgutil

import pytest

import attention_zoo.zoo as zoo_pkg

MODULES = [
    importlib.import_module(m.name)
    for m in pkgutil.walk_packages(zoo_pkg.__path__, prefix="attention_zoo.zoo.")
]
TESTS = [t for m in MODULES for t in doctest.DocTestFinder().find(m) if t.examples]


def test_every_public_class_has_an_example():
    documented = {t.name.rsplit(".", 1)[-1] for t in TESTS}
    public_classes = {n for n in zoo_pkg.__all__ if n[0].isupper()}
    assert public_classes <= documented


@pytest.mark.parametrize("test", TESTS, ids=[t.name for t in TESTS])
def test_docstring_example(test):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test)
    assert result.failed == 0, f"{result.failed} failing example(s) in {test.name}"
