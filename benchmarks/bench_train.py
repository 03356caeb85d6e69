"""One nn-level training step of the seeds' MLP, against the same step in plain numpy (no
autograd) and in PyTorch, plus the peak memory of 100 steps.

The step: Sequential(Linear(784, 512), ReLU(), Linear(512, 10)), F.cross_entropy, SGD(lr=0.1),
float32, batches of 32, 128 and 1024; timings are medians of interleaved repeats (ours, numpy,
torch, ours, ...) so load on the machine hits all three alike. Each step's row is followed by
the row of its matrix products alone in each library (the floor under any implementation of it).
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from _harness import interleaved, optional, print_table, set_blas_threads, write_json

BATCHES = (32, 128, 1024)
THREADS = (1, 2)


def _data(batch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)


def ours_step(batch):
    import autograd as ag
    from autograd import nn
    import autograd.nn.functional as F

    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = ag.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data(batch)
    x, y = ag.from_numpy(x), ag.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return step


def numpy_step(batch):
    rng = np.random.default_rng(0)
    w1 = rng.uniform(-0.035, 0.035, (512, 784)).astype(np.float32)
    b1 = np.zeros(512, np.float32)
    w2 = rng.uniform(-0.044, 0.044, (10, 512)).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    x, y = _data(batch)
    rows = np.arange(batch)

    def step():
        h = x @ w1.T + b1
        a = np.maximum(h, 0)
        z = a @ w2.T + b2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p[rows, y] -= 1
        g = p / batch
        ga = g @ w2
        ga[h <= 0] = 0
        np.subtract(w2, 0.1 * (g.T @ a), out=w2)
        np.subtract(b2, 0.1 * g.sum(0), out=b2)
        np.subtract(w1, 0.1 * (ga.T @ x), out=w1)
        np.subtract(b1, 0.1 * ga.sum(0), out=b1)
    return step


def torch_step(torch, batch):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = _data(batch)
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return step


def _set_threads(n, torch):
    import autograd as ag

    ag.backend.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    set_blas_threads(n)  # the numpy step's OpenBLAS too, or its "1 thread" rows run on all cores


def products(matmul, convert, batch):
    """The step's matrix products alone, with one library's matmul on its own arrays (convert:
    numpy array -> that library's): x @ W1^T, a @ W2^T, then the backward's g2^T @ a, g2 @ W2 and
    g1^T @ x (no gradient for the input). The floor under any implementation's step."""
    rng = np.random.default_rng(1)
    x, _ = _data(batch)
    w1, w2, a, g1, g2 = (convert(rng.random(shape, dtype=np.float32)) for shape in
                         ((512, 784), (10, 512), (batch, 512), (batch, 512), (batch, 10)))
    x = convert(x)

    def run():
        matmul(x, w1.T), matmul(a, w2.T), matmul(g2.T, a), matmul(g2, w2), matmul(g1.T, x)
    return run


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child of this (torch-sized)
# process would report the parent's peak.
_PEAK = """
import sys
sys.path.insert(0, {here!r})
import bench_train as b
step = getattr(b, {which!r})(128)
for _ in range(100):
    step()
with open("/proc/self/status") as f:
    print(next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024)
"""


def peak_rss_mib(which: str) -> float:
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", _PEAK.format(here=here, which=which)],
                         capture_output=True, text=True, check=True, env=os.environ.copy())
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from autograd.backend import _c

    torch = optional("torch")
    rows = []
    for threads in THREADS:
        _set_threads(threads, torch)
        for batch in BATCHES:
            fns = {"autograd": ours_step(batch), "numpy": numpy_step(batch)}
            if torch is not None:
                fns["torch"] = torch_step(torch, batch)
            number = max(1, 4096 // batch)
            times = interleaved(fns, repeat=9, number=number, threads=threads)
            rows.append({"case": f"batch {batch}, {threads} thread(s)", **times})
            fns = {"autograd": products(_c.matmul, np.asarray, batch),
                   "numpy": products(np.matmul, np.asarray, batch)}
            if torch is not None:
                fns["torch"] = products(torch.matmul, torch.from_numpy, batch)
            times = interleaved(fns, repeat=9, number=number, threads=threads)
            rows.append({"case": f"batch {batch}, {threads} thread(s): its products alone",
                         **times})
    print_table("training step: Linear-ReLU-Linear, cross-entropy, SGD (float32)", rows,
                ["autograd", "numpy", "torch"])
    memory = {"autograd": peak_rss_mib("ours_step"), "numpy": peak_rss_mib("numpy_step")}
    print(f"\npeak RSS of 100 steps at batch 128: autograd {memory['autograd']:.1f} MiB, "
          f"numpy {memory['numpy']:.1f} MiB")
    print("results:", write_json("train", {"rows": rows, "peak_rss_mib": memory}))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
