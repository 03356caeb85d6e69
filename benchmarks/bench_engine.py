"""Engine overhead on scalar graphs: recording one op, a 1-op graph, a 150,000-op chain.

Same run, same machine: autograd vs PyTorch (CPU) and micrograd when they are installed.
Run: python benchmarks/bench_engine.py  (or python -m autograd bench)
"""
from __future__ import annotations

import gc
import sys
import threading

import numpy as np

import autograd as ag

from _harness import environment, median_time, optional, print_table, write_json

CHAIN_STEPS = 50_000  # three ops per step: 150,000 nodes


def _record_add(lib, shape):
    if lib == "autograd":
        x = ag.tensor(np.ones(shape, np.float32), requires_grad=True)
        y = ag.tensor(np.ones(shape, np.float32), requires_grad=True)
    elif lib == "torch":
        torch = optional("torch")
        x = torch.ones(shape, requires_grad=True)
        y = torch.ones(shape, requires_grad=True)
    else:
        Value = optional("micrograd.engine").Value
        if shape != ():
            return None
        x, y = Value(1.0), Value(1.0)
    n = 20_000

    def record():
        # Each result is dropped at once, as timeit measures it: a live list of 20,000 results
        # would time the garbage collector's scans of that list, not the recording.
        for _ in range(n):
            x + y

    return median_time(record, repeat=9) / n


def _one_op_graph(lib):
    if lib == "autograd":
        x = ag.tensor(1.0, requires_grad=True)
        y = ag.tensor(2.0, requires_grad=True)
    elif lib == "torch":
        torch = optional("torch")
        x = torch.tensor(1.0, requires_grad=True)
        y = torch.tensor(2.0, requires_grad=True)
    else:
        Value = optional("micrograd.engine").Value
        x, y = Value(1.0), Value(2.0)

    def step():
        z = x * y
        z.backward()

    n = 5_000
    return median_time(lambda: [step() for _ in range(n)], repeat=7) / n


def _chain(lib):
    """y = relu(y * 0.999 + 0.001), built and backpropagated, garbage collector on."""
    if lib == "autograd":
        make = lambda: ag.tensor(0.5, requires_grad=True)  # noqa: E731
    elif lib == "torch":
        torch = optional("torch")
        make = lambda: torch.tensor(0.5, requires_grad=True)  # noqa: E731
    else:
        Value = optional("micrograd.engine").Value
        make = lambda: Value(0.5)  # noqa: E731

    def run():
        y = x0 = make()
        for _ in range(CHAIN_STEPS):
            y = (y * 0.999 + 0.001).relu()
        y.backward()
        return x0

    gc.collect()
    if lib != "micrograd":
        return median_time(run, repeat=5)
    # micrograd's topological sort recurses once per node: give it the depth and stack it needs.
    return _in_deep_thread(lambda: median_time(run, repeat=3))


def _in_deep_thread(fn):
    result = []
    old_limit, old_stack = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(10 * 3 * CHAIN_STEPS)
    threading.stack_size(1 << 30)
    try:
        worker = threading.Thread(target=lambda: result.append(fn()))
        worker.start()
        worker.join()
    finally:
        sys.setrecursionlimit(old_limit)
        threading.stack_size(old_stack)
    return result[0] if result else None


def main() -> dict:
    libs = ["autograd"] + [name for name, mod in (("torch", "torch"), ("micrograd", "micrograd.engine"))
                           if optional(mod) is not None]
    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(1)
    rows = [
        {"case": "record x + y, 0-d", **{lib: _record_add(lib, ()) for lib in libs}},
        {"case": "record x + y, (10,)", **{lib: _record_add(lib, (10,)) for lib in libs}},
        {"case": "1-op graph forward + backward", **{lib: _one_op_graph(lib) for lib in libs}},
        {"case": f"chain of {3 * CHAIN_STEPS:,} ops, build + backward (gc on)", **{lib: _chain(lib) for lib in libs}},
    ]
    print_table("Engine overhead on scalar graphs (median; ratio > 1 means autograd is faster)", rows, libs)
    payload = {"environment": environment(), "rows": rows}
    write_json("engine", payload)
    return payload


if __name__ == "__main__":
    main()
