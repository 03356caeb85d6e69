"""The lectures' examples, each a module with `run(verbose=True) -> dict` of what it learned.

`python -m autograd demo` runs them all in order (under a minute); `python -m autograd.demos.xor`
(or `python examples/xor.py` from a checkout) runs one.
"""
from __future__ import annotations

import importlib
import time

PIECES = ["line_fit", "house_prices", "perceptron", "network_332", "xor", "spirals",
          "optimizers", "regularization"]


def main() -> int:
    import autograd as ag

    start = time.perf_counter()
    print(f"autograd {ag.__version__} demo (backend: {ag.backend.name()})\n")
    for number, name in enumerate(PIECES, 1):
        module = importlib.import_module(f".{name}", __name__)
        print(f"{number}. {module.TITLE}")
        module.run()
        print()
    print(f"done in {time.perf_counter() - start:.2f} s")
    return 0
