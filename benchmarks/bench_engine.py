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

from _harness import environment, interleaved, optional, print_table, write_json

CHAIN_STEPS = 50_000  # three ops per step: 150,000 nodes


def _leaves(lib, values):
    """Scalar (or 1-d) leaves that require grad in each library; None where it has no such type."""
    if lib == "autograd":
        return [ag.tensor(np.asarray(v, np.float32), requires_grad=True) for v in values]
    if lib == "torch":
        torch = optional("torch")
        return [torch.tensor(np.asarray(v, np.float32), requires_grad=True) for v in values]
    if any(np.ndim(v) for v in values):
        return None  # micrograd has scalars only
    Value = optional("micrograd.engine").Value
    return [Value(float(v)) for v in values]


def _record_add(libs, shape) -> dict:
    n = 20_000

    def timer(lib):
        leaves = _leaves(lib, [np.ones(shape), np.ones(shape)])
        if leaves is None:
            return None
        x, y = leaves

        def record():
            # Each result is dropped at once, as timeit measures it: a live list of 20,000
            # results would time the garbage collector's scans of that list, not the recording.
            for _ in range(n):
                x + y
        return record

    return {lib: t / n for lib, t in interleaved({lib: timer(lib) for lib in libs}, repeat=9).items()}


def _one_op_graph(libs) -> dict:
    n = 5_000

    def timer(lib):
        x, y = _leaves(lib, [1.0, 2.0])

        def steps():
            for _ in range(n):
                z = x * y
                z.backward()
        return steps

    fns = {lib: timer(lib) for lib in libs}
    return {lib: t / n for lib, t in interleaved(fns, repeat=7, before=gc.collect).items()}


def _chain(libs) -> dict:
    """y = relu(y * 0.999 + 0.001), built and backpropagated, garbage collector on."""

    def timer(lib):
        def run():
            (y,) = _leaves(lib, [0.5])
            for _ in range(CHAIN_STEPS):
                y = (y * 0.999 + 0.001).relu()
            y.backward()
        return run

    # micrograd's topological sort recurses once per node: every library runs in a thread with
    # the depth and stack that needs, in turn, so that load from elsewhere hits all alike. Each
    # run starts from a collected heap: micrograd's chain leaves reference cycles behind, which
    # would otherwise be collected in the time of whichever library runs next.
    fns = {lib: timer(lib) for lib in libs}
    return _in_deep_thread(lambda: interleaved(fns, repeat=5, before=gc.collect))


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
    record_0d, record_10, graph, chain = (_record_add(libs, ()), _record_add(libs, (10,)),
                                          _one_op_graph(libs), _chain(libs))
    rows = [
        {"case": "record x + y, 0-d", **record_0d},
        {"case": "record x + y, (10,)", **record_10},
        {"case": "1-op graph forward + backward", **graph},
        {"case": f"chain of {3 * CHAIN_STEPS:,} ops, build + backward (gc on)", **(chain or {})},
    ]
    print_table("Engine overhead on scalar graphs (median; ratio > 1 means autograd is faster)", rows, libs)
    payload = {"environment": environment(), "rows": rows}
    write_json("engine", payload)
    return payload


if __name__ == "__main__":
    main()
