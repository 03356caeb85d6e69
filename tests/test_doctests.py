"""Every docstring example in the package runs (against the installed package)."""
import doctest
import importlib
import pkgutil

import pytest

import autograd


def _modules():
    names = ["autograd"]
    for info in pkgutil.walk_packages(autograd.__path__, "autograd."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    if name == "autograd.backend._c" and "c" not in autograd.backend.available():
        pytest.skip("the compiled C backend is not built")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"


def test_examples_exist():
    """The public entry points carry runnable examples."""
    finder = doctest.DocTestFinder()
    names = [n for n in _modules() if n != "autograd.backend._c"]
    counted = sum(len(t.examples) for name in names for t in finder.find(importlib.import_module(name)))
    assert counted >= 15
