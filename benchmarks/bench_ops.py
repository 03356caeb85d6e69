"""Activation kernels on 10^7 elements and fused cross-entropy forward + backward on (1024, 1000).

Same run, interleaved (ours, numpy, torch, ours, ...), medians, on one thread and on two:
  * activations: our C kernels (autograd.backend._c) vs the plain numpy reference
    (autograd.backend._numpy) vs torch.nn.functional, float32, forward and backward;
  * cross-entropy: ag.cross_entropy + backward vs a plain numpy version (max-shifted softmax,
    its gradient) vs torch's F.cross_entropy + backward, float32, class targets, mean.
Run: python benchmarks/bench_ops.py  (or python benchmarks/run.py ops)
"""
from __future__ import annotations


import numpy as np

import autograd as ag
from autograd.backend import _numpy

from _harness import environment, interleaved, optional, print_table, write_json

N_ACT = 10_000_000
XENT_SHAPE = (1024, 1000)
REPEAT = 9

ACTIVATIONS = {  # name: (our kernel arguments, torch function)
    "relu": ((), "relu"),
    "leaky_relu": ((0.01,), "leaky_relu"),
    "elu": ((1.0,), "elu"),
    "softplus": ((1.0, 20.0), "softplus"),
    "sigmoid": ((), "sigmoid"),
    "tanh": ((), "tanh"),
}


def _torch_activation(torch, name):
    F = torch.nn.functional
    if name in ("sigmoid", "tanh"):
        return getattr(torch, name)
    return getattr(F, name)


def _activation_rows(torch, threads):
    from autograd.backend import _c

    rng = np.random.default_rng(0)
    x = (rng.standard_normal(N_ACT) * 4).astype(np.float32)
    g = rng.standard_normal(N_ACT).astype(np.float32)
    y = _numpy.tanh(x)
    rows = []
    for name, (params, _) in ACTIVATIONS.items():
        tx = torch.from_numpy(x) if torch else None
        tf = _torch_activation(torch, name) if torch else None
        t_args = params[:1] if name == "leaky_relu" else params
        times = interleaved({
            "autograd": lambda: getattr(_c, name)(x, *params),
            "numpy": lambda: getattr(_numpy, name)(x, *params),
            "torch": (lambda: tf(tx, *t_args)) if torch else None,
        }, REPEAT, threads=threads)
        rows.append({"case": f"{name} fwd, {threads} thr", **times})
        # backward: relu/leaky/elu/softplus take x, sigmoid/tanh their output
        saved = y if name in ("sigmoid", "tanh") else x
        times = interleaved({
            "autograd": lambda: getattr(_c, name + "_backward")(g, saved, *params),
            "numpy": lambda: getattr(_numpy, name + "_backward")(g, saved, *params),
        }, REPEAT, threads=threads)
        rows.append({"case": f"{name} bwd, {threads} thr", **times})
    return rows


def _numpy_cross_entropy(x, target):
    """The plain numpy version: max-shifted log-softmax, the mean NLL, its gradient."""
    n = x.shape[0]
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = (np.log(s)[:, 0] - z[np.arange(n), target]).mean()
    grad = e / s
    grad[np.arange(n), target] -= 1
    grad /= n
    return loss, grad


def _cross_entropy_row(torch, threads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(XENT_SHAPE).astype(np.float32)
    target = rng.integers(0, XENT_SHAPE[1], XENT_SHAPE[0])

    def ours():
        a = ag.from_numpy(x).requires_grad_()
        ag.cross_entropy(a, target).backward()
        return a.grad

    def theirs():
        a = torch.from_numpy(x).requires_grad_()
        torch.nn.functional.cross_entropy(a, tt).backward()
        return a.grad

    tt = torch.from_numpy(target) if torch else None
    times = interleaved({"autograd": ours, "numpy": lambda: _numpy_cross_entropy(x, target),
                         "torch": theirs if torch else None}, repeat=15, number=10, threads=threads)
    return {"case": f"cross_entropy {XENT_SHAPE} fwd+bwd, {threads} thr", **times}


def main() -> None:
    torch = optional("torch")
    env = environment()
    results = {"environment": env, "rows": []}
    for threads in (1, 2):
        ag.backend.set_num_threads(threads)
        if torch:
            torch.set_num_threads(threads)
        rows = _activation_rows(torch, threads) + [_cross_entropy_row(torch, threads)]
        print_table(f"Activations (10^7 float32) and cross-entropy, {threads} thread(s)", rows,
                    ["autograd", "numpy", "torch"])
        results["rows"] += rows
    print(f"\nresults: {write_json('ops', results)}")


if __name__ == "__main__":
    main()
