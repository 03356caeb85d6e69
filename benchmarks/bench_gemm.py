"""GEMM speed: autograd's C GEMM (through the backend's matmul) against numpy's OpenBLAS and
PyTorch, float32, on one thread and on two, in GFLOPS with same-run ratios.

    python benchmarks/bench_gemm.py [--threads N] [--quick]     (or python -m autograd bench gemm)
    python benchmarks/bench_gemm.py --crossover                 (where C starts beating numpy)

Each case times ours, OpenBLAS, torch, ours, OpenBLAS, ... interleaved (medians), so load from
elsewhere on the machine hits all alike; on two threads each round starts after a pause, so the
previous library's spinning thread pool does not share the cores with the one being timed.
OpenBLAS's thread count is set with threadpoolctl when it is installed; otherwise each thread
count runs in a subprocess with OPENBLAS_NUM_THREADS set before numpy loads. OPENBLAS_CORETYPE is removed (it forces slower kernels).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys

os.environ.pop("OPENBLAS_CORETYPE", None)

import numpy as np  # noqa: E402

import autograd as ag  # noqa: E402

from _harness import environment, interleaved, optional, write_json  # noqa: E402

# (m, k, n): op(A) is m x k, op(B) is k x n.
SQUARES = [(s, s, s) for s in (256, 512, 1024, 2048)]
MLP = [(128, 784, 512), (784, 128, 512), (128, 512, 784)]  # forward and backward products
ODD = [(333, 777, 555), (97, 1001, 203)]
# A 10-class head x @ W^T and its backward: g @ W, and the weight gradient both ways round
# (g^T @ x is the one Linear's backward computes; x^T @ g is its transpose), g^T once as a
# copy and once as Linear's backward passes it, the transposed view g.T.
THIN = [(128, 512, 10), (128, 10, 512), (10, 128, 512), (512, 128, 10)]
CASES = [("square", c, False) for c in SQUARES] + [("mlp", c, False) for c in MLP] + \
        [("odd", c, False) for c in ODD] + [("thin", c, False) for c in THIN] + \
        [("thin", (10, 128, 512), True)]
TARGET = {"square": 0.95, "mlp": 0.95, "odd": 0.95, "thin": 1.5}


# Operands start on a cache line. Where an array lands is otherwise up to the allocator (16, 32
# or 48 bytes past a line, and a different offset when torch has been imported), and OpenBLAS is
# sensitive to it: 10x128 @ 128x512 on one thread took 6.9 us with a line-aligned B and 8.6 us
# with B 16 bytes past a line. Aligned is every library's best case, and the same in every run.
def _aligned(x: np.ndarray) -> np.ndarray:
    """A copy of x whose data starts on a 64-byte boundary."""
    buf = np.empty(x.nbytes + 64, np.uint8)
    start = -buf.ctypes.data % 64
    out = buf[start:start + x.nbytes].view(x.dtype).reshape(x.shape)
    out[...] = x
    return out


def _measure(fns: dict, flops: float, repeat: int, threads: int) -> dict:
    """GFLOPS per competitor: medians over `repeat` interleaved rounds of ~20 ms each."""
    number = max(1, int(2e-2 / max(flops / 50e9, 1e-7)))
    seconds = interleaved(fns, repeat, number=number, threads=threads)
    return {name: flops / s / 1e9 for name, s in seconds.items()}


def table(threads: int, quick: bool = False) -> list[dict]:
    from autograd.backend import _c

    torch = optional("torch")
    ag.backend.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    for group, (m, k, n), a_view in CASES:
        if quick and m * n * k > 512 ** 3:
            continue
        a = _aligned(rng.standard_normal((k, m) if a_view else (m, k), dtype=np.float32))
        a = a.T if a_view else a
        b = _aligned(rng.standard_normal((k, n), dtype=np.float32))
        np.testing.assert_allclose(_c.matmul(a, b), a @ b, rtol=1e-3, atol=1e-3 * np.sqrt(k))
        fns = {"autograd": lambda: _c.matmul(a, b), "openblas": lambda: np.matmul(a, b)}
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            fns["torch"] = lambda: torch.matmul(ta, tb)
        gflops = _measure(fns, 2.0 * m * n * k, repeat=5 if quick else 9, threads=threads)
        path = "numpy" if _c._small(m, n, k) else "C"  # the backend's own routing
        view = ", A = g.T, a view" if a_view else ""
        rows.append({"group": group, "case": f"{m}x{k} @ {k}x{n} ({path}{view})", "threads": threads,
                     **gflops})
    return rows


def print_rows(rows: list[dict]) -> None:
    threads = rows[0]["threads"]
    names = [c for c in ("autograd", "openblas", "torch") if c in rows[0]]
    print(f"\n## GEMM float32, {threads} thread(s): GFLOPS (ratio autograd / other; target "
          f">= 0.95x OpenBLAS, thin >= 1.5x)\n")
    head = ["case"] + names + [f"autograd/{c}" for c in names[1:]] + ["target"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        ratios = [r["autograd"] / r[c] for c in names[1:]]
        met = "met" if ratios[0] >= TARGET[r["group"]] else "MISSED"
        print("| " + " | ".join([r["case"]] + [f"{r[c]:.1f}" for c in names] +
                                [f"{x:.2f}x" for x in ratios] + [f"{TARGET[r['group']]}x {met}"]) + " |")


def _openblas_threads(threads: int):
    """A threadpoolctl context limiting OpenBLAS to `threads`, or None when it is not installed."""
    threadpoolctl = optional("threadpoolctl")
    return None if threadpoolctl is None else threadpoolctl.threadpool_limits(threads, "blas")


def _in_subprocess(threads: int, quick: bool) -> list[dict]:
    """The table for `threads` in a fresh interpreter whose OpenBLAS was started with that many."""
    import json

    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), PYTHONPATH=os.pathsep.join(sys.path))
    args = [sys.executable, os.path.abspath(__file__), "--threads", str(threads), "--json"]
    out = subprocess.run(args + (["--quick"] if quick else []), env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def crossover(threads: int = 1, repeat: int = 15) -> None:
    """numpy time / C time for small squares and thin shapes (> 1: C is faster), C forced: where
    the backend's routing (autograd.backend._c._small) should send a product."""
    from autograd.backend import _c

    ag.backend.set_num_threads(threads)
    _c.MATMUL_MIN_MNK = 0
    small, _c._small = _c._small, lambda m, n, k: False
    rng = np.random.default_rng(0)
    try:
        for m, k, n in [(s, s, s) for s in (4, 8, 16, 24, 32, 40, 48, 56, 64, 96)] + \
                       [(32, 16, 10), (64, 32, 10), (16, 64, 64)] + \
                       [(b, 512, 10) for b in (8, 16, 24, 32)] + \
                       [(10, b, 512) for b in (8, 16, 24, 32)] + \
                       [(b, 10, 512) for b in (8, 16, 24, 32)]:  # the MLP head's products
            a = _aligned(rng.standard_normal((m, k), dtype=np.float32))
            b = _aligned(rng.standard_normal((k, n), dtype=np.float32))
            s = interleaved({"C": lambda: _c.matmul(a, b), "numpy": lambda: np.matmul(a, b)},
                            repeat, number=2000, threads=threads)
            print(f"{m}x{k}@{k}x{n} (mnk {m * n * k}): numpy/C {s['numpy'] / s['C']:.2f}")
    finally:
        _c._small = small


def main(argv=()) -> None:
    argv = list(argv)
    quick = "--quick" in argv
    if "--crossover" in argv:
        return crossover()
    if "--threads" in argv:  # one table, in this process (the subprocess mode)
        threads = int(argv[argv.index("--threads") + 1])
        rows = table(threads, quick)
        if "--json" in argv:
            import json
            print(json.dumps(rows))
        else:
            print_rows(rows)
        return
    results = []
    for threads in (1, 2):
        limit = _openblas_threads(threads)
        if limit is None:
            rows = _in_subprocess(threads, quick)
        else:
            with limit:
                rows = table(threads, quick)
        print_rows(rows)
        results += rows
    path = write_json("gemm", {"environment": environment(), "rows": results})
    print(f"\nresults: {path}")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main(sys.argv[1:])
