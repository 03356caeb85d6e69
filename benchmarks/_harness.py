"""Shared by the benchmarks: timing (medians), optional competitors, the table and JSON."""
from __future__ import annotations

import ctypes
import gc
import glob
import importlib
import itertools
import json
import os
import statistics
import time


def median_time(fn, repeat: int = 7, number: int = 1, setup=None) -> float:
    """Median seconds per call of fn over `repeat` runs of `number` calls (garbage collector on)."""
    samples = []
    for _ in range(repeat):
        state = setup() if setup else None
        start = time.perf_counter()
        for _ in range(number):
            fn() if state is None else fn(state)
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


# With two threads a library's pool keeps spinning after its call (OpenBLAS's for ~0.1 s, an
# OpenMP pool for a while, ours for 1 ms); timed right after another library, a competitor shares both cores
# with those spinners and reads 2-5x slow (our MLP step at batch 32: 1.4 ms alone, 3.2 ms right
# after numpy's). A pause before each timed run lets them park: 0.15 s was enough on the
# Cascade Lake host, not on the Zen 5 one (ours right after OpenBLAS's 333x777x555 at 206 GFLOPS
# with 0.15 s, 337 with 0.4 s, 365 with 1 s; 386 alone). The pause parks the pool being
# timed too, and on a virtual machine its idle core can take milliseconds to come back (seen on
# the Zen 5 host: our first 333x777x555 product after the pause at 58 GFLOPS, the next ones at
# 340), so each library then runs untimed for WARM_SECONDS, as it would in a loop.
SETTLE_SECONDS = 0.4
WARM_SECONDS = 0.02


def interleaved(fns: dict, repeat: int, number: int = 1, threads: int = 1, before=None) -> dict:
    """Median seconds per call of each function (None values are skipped) over `repeat` rounds
    that run them in turn, so load from elsewhere on the machine hits all alike. With threads > 1
    each timed run starts after SETTLE_SECONDS and WARM_SECONDS of untimed calls (at least one);
    `before`, when given, runs untimed before each timed run."""
    fns = {name: fn for name, fn in fns.items() if fn is not None}
    for fn in fns.values():  # warm-up: page faults, allocators, thread pools, lazy imports
        fn()
    samples = {name: [] for name in fns}
    # Each round runs them in another order (every permutation in turn): whoever runs right
    # after a given library pays for the state it leaves (its freed memory, its caches). In one
    # fixed order, 10^7-element tanh read 0.95x numpy's, and both were the same numpy call.
    orders = list(itertools.permutations(fns))
    for r in range(repeat):
        for name in orders[r % len(orders)]:
            fn = fns[name]
            if threads > 1:
                time.sleep(SETTLE_SECONDS)
                warm_until = time.perf_counter() + WARM_SECONDS
                fn()
                while time.perf_counter() < warm_until:
                    fn()
            if before is not None:
                before()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(s) for name, s in samples.items()}


def optional(module: str):
    """The module if installed, else None (benchmarks skip what is missing)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def environment() -> dict:
    import numpy as np

    import autograd as ag

    torch = optional("torch")
    return {
        "autograd_backend": ag.backend.name(),
        "autograd_info": ag.backend.info(),
        "numpy": np.__version__,
        "torch": getattr(torch, "__version__", None),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "cpus": os.cpu_count(),
    }


def format_seconds(s) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.2f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.3f} s"


def print_table(title: str, rows: list[dict], columns: list[str], baseline: str = "autograd") -> None:
    """rows: {"case": ..., "<column>": seconds or None}; ratios are column / baseline (>1: we win)."""
    print(f"\n## {title}\n")
    head = ["case"] + columns + [f"{c}/{baseline}" for c in columns if c != baseline]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        cells = [row["case"]] + [format_seconds(row.get(c)) for c in columns]
        for c in columns:
            if c != baseline:
                ours, theirs = row.get(baseline), row.get(c)
                cells.append(f"{theirs / ours:.2f}x" if ours and theirs else "-")
        print("| " + " | ".join(cells) + " |")


def write_json(name: str, payload: dict) -> str:
    out_dir = os.environ.get("AUTOGRAD_BENCH_OUT", os.path.join(os.path.dirname(__file__), "results"))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=str)
    return path


def collect_garbage():
    gc.collect()


def set_blas_threads(n: int) -> bool:
    """Set numpy's OpenBLAS thread count through its C API (no threadpoolctl needed)."""
    import numpy as np

    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                     "openblas_set_num_threads"):
            if hasattr(lib, name):
                getattr(lib, name)(ctypes.c_int(n))
                return True
    return False
