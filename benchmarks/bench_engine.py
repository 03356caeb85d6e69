"""Engine overhead on scalar graphs: recording one op, a 1-op graph, a 150,000-op chain.

Same run, same machine: autograd vs PyTorch (CPU) and micrograd when they are installed.
Run: python benchmarks/bench_engine.py  (or python -m autograd bench)

The chain runs with the garbage collector on, as users run it, and so in one fresh interpreter
per library, where only that library (and numpy) is imported: a full collection scans every
object in the process, and torch's imported objects alone made our chain's full collections
about twice as slow (0.62 s alone, 0.84-0.94 s with torch imported). Each child runs
python bench_engine.py --chain LIB with the parent's environment (OPENBLAS_CORETYPE as run.py
left it) and the parent's sys.path as PYTHONPATH (the same autograd); it does one untimed
warm-up chain, gc.collect(), then one timed chain, and prints its seconds. The table gives the
median of CHAIN_RUNS children per library, the libraries alternating round by round so that
load from elsewhere hits all alike (about 55 s in all, 15 interpreters).
"""
from __future__ import annotations

import gc
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

from _harness import environment, interleaved, optional, print_table, write_json

CHAIN_STEPS = 50_000  # three ops per step: 150,000 nodes
CHAIN_RUNS = 5  # fresh interpreters per library
LIBRARIES = {"autograd": "autograd", "torch": "torch", "micrograd": "micrograd.engine"}


def _leaves(lib, values):
    """Scalar (or 1-d) leaves that require grad in each library; None where it has no such type."""
    if lib == "autograd":
        import autograd as ag  # here, not at the top: the chain's other children must not import it

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


def _chain_once(lib) -> None:
    """y = relu(y * 0.999 + 0.001), built and backpropagated, garbage collector on."""
    (y,) = _leaves(lib, [0.5])
    for _ in range(CHAIN_STEPS):
        y = (y * 0.999 + 0.001).relu()
    y.backward()


def _chain_child(lib) -> None:
    """In a fresh interpreter: a warm-up chain, gc.collect(), a timed chain; prints its seconds."""
    if lib == "torch":
        _single_threaded_torch()

    def timed():
        _chain_once(lib)  # warm-up: lazy imports, allocators, page faults
        gc.collect()  # micrograd's chain leaves reference cycles behind
        start = time.perf_counter()
        _chain_once(lib)
        return time.perf_counter() - start

    seconds = _in_deep_thread(timed)
    others = sorted((LIBRARIES.keys() - {lib}) & sys.modules.keys())
    assert not others, f"the {lib} chain's interpreter also imported {others}"
    print(seconds, flush=True)
    os._exit(0)  # no teardown: collecting micrograd's cyclic graph at exit takes another 0.8 s


def _chain(libs) -> dict:
    """Median seconds of CHAIN_RUNS children per library, alternating libraries round by round."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    samples = {lib: [] for lib in libs}
    for _ in range(CHAIN_RUNS):
        for lib in libs:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--chain", lib],
                                 env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
            samples[lib].append(float(out.split()[-1]))
    return {lib: statistics.median(s) for lib, s in samples.items()}


def _in_deep_thread(fn):
    """fn() in a thread with the recursion depth and stack micrograd's topological sort needs
    (it recurses once per node)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as error:  # re-raised in the calling thread
            outcome["error"] = error

    old_limit, old_stack = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(10 * 3 * CHAIN_STEPS)
    threading.stack_size(1 << 30)
    try:
        worker = threading.Thread(target=target)
        worker.start()
        worker.join()
    finally:
        sys.setrecursionlimit(old_limit)
        threading.stack_size(old_stack)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _single_threaded_torch():
    """torch on one thread, as ours runs (None when torch is not installed)."""
    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(1)
    return torch


def main() -> dict:
    libs = [lib for lib, module in LIBRARIES.items() if optional(module) is not None]
    _single_threaded_torch()
    record_0d, record_10, graph, chain = (_record_add(libs, ()), _record_add(libs, (10,)),
                                          _one_op_graph(libs), _chain(libs))
    rows = [
        {"case": "record x + y, 0-d", **record_0d},
        {"case": "record x + y, (10,)", **record_10},
        {"case": "1-op graph forward + backward", **graph},
        {"case": f"chain of {3 * CHAIN_STEPS:,} ops, build + backward (gc on, one process per library)",
         **chain},
    ]
    print_table("Engine overhead on scalar graphs (median; ratio > 1 means autograd is faster)", rows, libs)
    payload = {"environment": environment(), "rows": rows}
    write_json("engine", payload)
    return payload


if __name__ == "__main__":
    if sys.argv[1:2] == ["--chain"]:
        _chain_child(sys.argv[2])
    else:
        main()
