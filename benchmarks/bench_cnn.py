"""One training step of the seeds' CNN, autograd vs PyTorch in the same run; conv and pool kernels.

Conv 3x3 32, ReLU, MaxPool 2, Conv 3x3 64, ReLU, MaxPool 2, Conv 3x3 64, ReLU, Flatten, Dense 64,
ReLU, Dense 10 as an nn.Sequential, F.cross_entropy, SGD(lr=0.01): batch 64 of 1x28x28, float32,
the same model and step in both libraries (PyTorch starts from our weights). Timed on 1 and 2
threads (ours: the kernels' thread pool, and numpy's OpenBLAS for the small products we hand
it; PyTorch: torch.set_num_threads), interleaved, medians. Then where our step's time goes (per
backend kernel, the rest being Python and the engine), and the kernels alone against their
PyTorch counterparts (unfold, fold, max_pool2d, avg_pool2d, conv2d).

Run: python benchmarks/bench_cnn.py  (or python benchmarks/run.py cnn)
"""
from __future__ import annotations

import time

import numpy as np

import autograd as ag
from autograd import backend as _backend

from _harness import (environment, format_seconds, interleaved, optional, print_table,
                      set_blas_threads, write_json)

BATCH = 64
LR = 0.01


def _model(lib):
    """The seeds' CNN built from `lib.nn` (lib: autograd or torch)."""
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))


class Trainer:
    """model, SGD and the step `zero_grad; cross_entropy(model(x), y).backward(); step`."""

    def __init__(self, lib, x, y, weights=None):
        self.model = _model(lib)
        if weights is not None:  # PyTorch starts from our weights
            with lib.no_grad():
                for p, w in zip(self.model.parameters(), weights):
                    p.copy_(lib.from_numpy(w.copy()))
        self.opt = lib.optim.SGD(self.model.parameters(), lr=LR)
        self.cross_entropy = lib.nn.functional.cross_entropy
        self.x, self.y = lib.from_numpy(x), lib.from_numpy(y)

    def step(self) -> float:
        self.opt.zero_grad()
        loss = self.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()


def _set_threads(torch, n):
    ag.backend.set_num_threads(n)
    set_blas_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def _data(seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, BATCH)


def bench_steps(torch, repeat):
    x, y = _data()
    ag.manual_seed(0)
    ours = Trainer(ag, x, y)
    fns = {"autograd": ours.step}
    if torch is not None:
        theirs = Trainer(torch, x, y, [p.detach().numpy() for p in ours.model.parameters()])
        first = ours.step(), theirs.step()
        assert abs(first[0] - first[1]) < 1e-4 * abs(first[1]), f"the two steps differ: {first}"
        fns["torch"] = theirs.step
    rows = []
    for threads in (1, 2):
        _set_threads(torch, threads)
        rows.append({"case": f"CNN train step, batch {BATCH}, {threads} thread(s)",
                     **interleaved(fns, repeat, threads=threads)})
    return rows


class _KernelTimer:
    """Wraps the active backend's functions to add up the seconds spent in each."""

    def __init__(self, names):
        self.totals = {n: 0.0 for n in names}
        self.module = _backend.active
        self.saved = {n: getattr(self.module, n) for n in names}

    def __enter__(self):
        for name, fn in self.saved.items():
            def timed(*a, _fn=fn, _name=name, **k):
                start = time.perf_counter()
                try:
                    return _fn(*a, **k)
                finally:
                    self.totals[_name] += time.perf_counter() - start
            setattr(self.module, name, timed)
        return self

    def __exit__(self, *exc):
        for name, fn in self.saved.items():
            setattr(self.module, name, fn)


def breakdown(threads, steps=30):
    """Seconds per step in each backend kernel, and the rest (Python, engine, numpy ops)."""
    _set_threads(None, threads)
    x, y = _data()
    ag.manual_seed(0)
    net = Trainer(ag, x, y)
    names = ["conv2d", "conv2d_grad_input", "conv2d_grad_weight", "matmul", "im2col", "col2im",
             "add_channel_bias", "channel_sum", "max_pool2d", "max_pool2d_backward", "relu",
             "relu_backward"]
    for _ in range(3):
        net.step()
    with _KernelTimer([n for n in names if hasattr(_backend.active, n)]) as timer:
        start = time.perf_counter()
        for _ in range(steps):
            net.step()
        total = (time.perf_counter() - start) / steps
    parts = {k: v / steps for k, v in timer.totals.items()}
    parts["other (Python, engine, numpy elementwise/reductions)"] = total - sum(parts.values())
    return total, parts


def bench_kernels(torch, repeat):
    """Each kernel alone at the CNN's sizes, vs its PyTorch counterpart, on the current threads."""
    c, threads = _backend.active, ag.backend.get_num_threads()
    rng = np.random.default_rng(2)
    rows = []
    cases = [("conv1 in", (BATCH, 1, 28, 28), 32), ("conv2 in", (BATCH, 32, 13, 13), 64),
             ("conv3 in", (BATCH, 64, 5, 5), 64)]
    for label, shape, out_c in cases:
        x = rng.standard_normal(shape).astype(np.float32)
        w = rng.standard_normal((out_c, shape[1], 3, 3)).astype(np.float32)
        cols = c.im2col(x, (3, 3), (1, 1), (0, 0))
        fns = {"autograd": lambda: c.im2col(x, (3, 3), (1, 1), (0, 0))}
        fold = {"autograd": lambda: c.col2im(cols, shape, (3, 3), (1, 1), (0, 0))}
        conv = {"autograd": lambda: ag.conv2d(x, w)}
        if torch is not None:
            F = torch.nn.functional
            tx, tw, tcols = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(cols)
            fns["torch"] = lambda: F.unfold(tx, 3)
            fold["torch"] = lambda: F.fold(tcols, shape[2:], 3)
            conv["torch"] = lambda: F.conv2d(tx, tw)
        rows.append({"case": f"im2col {label} {shape} (torch: unfold)",
                     **interleaved(fns, repeat, threads=threads)})
        rows.append({"case": f"col2im {label} {shape} (torch: fold)",
                     **interleaved(fold, repeat, threads=threads)})
        rows.append({"case": f"conv2d forward {label} {shape} -> {out_c}",
                     **interleaved(conv, repeat, threads=threads)})
    for shape in [(BATCH, 32, 26, 26), (BATCH, 64, 11, 11)]:
        x = rng.standard_normal(shape).astype(np.float32)
        out, idx = c.max_pool2d(x, (2, 2), (2, 2), (0, 0))
        g = np.ones_like(out)
        cases = {
            "max_pool2d": ({"autograd": lambda: c.max_pool2d(x, (2, 2), (2, 2), (0, 0))},
                           lambda F, tx: F.max_pool2d(tx, 2, return_indices=True)),
            "max_pool2d_backward": (
                {"autograd": lambda: c.max_pool2d_backward(g, idx, shape, (2, 2), (2, 2), (0, 0))},
                None),
            "avg_pool2d": ({"autograd": lambda: c.avg_pool2d(x, (2, 2), (2, 2), (0, 0))},
                           lambda F, tx: F.avg_pool2d(tx, 2)),
            "avg_pool2d_backward": (
                {"autograd": lambda: c.avg_pool2d_backward(g, shape, (2, 2), (2, 2), (0, 0))},
                None),
        }
        for name, (fns, theirs) in cases.items():
            if torch is not None:
                F, tx = torch.nn.functional, torch.from_numpy(x)
                if theirs is not None:
                    fns["torch"] = lambda theirs=theirs: theirs(F, tx)
                else:  # torch's backward kernel alone: forward once, then autograd.grad each time
                    tr = tx.clone().requires_grad_()
                    fwd = F.max_pool2d if name.startswith("max") else F.avg_pool2d
                    ty, tg = fwd(tr, 2), torch.from_numpy(g)
                    fns["torch"] = lambda ty=ty, tr=tr, tg=tg: torch.autograd.grad(
                        ty, tr, tg, retain_graph=True)
            rows.append({"case": f"{name} 2x2 {shape}",
                         **interleaved(fns, repeat, threads=threads)})
    return rows


def main(repeat: int = 21) -> None:
    torch = optional("torch")
    steps = bench_steps(torch, repeat)
    print_table("CNN training step (forward + backward + SGD), float32", steps,
                ["autograd", "torch"] if torch else ["autograd"])
    split = {}
    for threads in (1, 2):
        total, parts = breakdown(threads)
        split[threads] = {"total": total, **parts}
        print(f"\n## Where our step's time goes, {threads} thread(s): "
              f"{format_seconds(total)} per step\n")
        for name, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"- {name}: {format_seconds(seconds)} ({100 * seconds / total:.0f}%)")
    kernels = {}
    for threads in (1, 2):
        _set_threads(torch, threads)
        kernels[threads] = bench_kernels(torch, repeat)
        print_table(f"Conv and pool kernels alone, {threads} thread(s)", kernels[threads],
                    ["autograd", "torch"] if torch else ["autograd"])
    path = write_json("cnn", {"environment": environment(), "steps": steps, "breakdown": split,
                              "kernels": kernels})
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
