"""Seed 003's optimizer comparison: one hidden layer of 32 ReLU units on the same problem and the
same initial weights, trained by each optimizer for the same number of full-batch epochs."""
from __future__ import annotations

import time

import autograd as ag
from autograd import nn, optim
from autograd.train import evaluate, fit

from ._report import reporter, table

TITLE = "Optimizers compared: two moons, 2-32-2 ReLU network, same start, 1000 full-batch epochs"


SETTINGS = [  # name, optimizer factory, scheduler factory or None
    ("SGD lr 0.3", lambda p: optim.SGD(p, lr=0.3), None),
    ("SGD lr 0.05", lambda p: optim.SGD(p, lr=0.05), None),
    # the lecture's schedule: 0.3, then 0.05 from epoch 500, then 0.01 from epoch 900
    ("SGD 0.3/0.05/0.01", lambda p: optim.SGD(p, lr=0.3),
     lambda o: optim.lr_scheduler.MultiStepLR(o, milestones=[500, 900], gamma=[1 / 6, 1 / 5])),
    ("momentum 0.9, lr 0.05", lambda p: optim.SGD(p, lr=0.05, momentum=0.9), None),
    ("RMSprop lr 0.01", lambda p: optim.RMSprop(p, lr=0.01), None),
    ("Adagrad lr 0.1", lambda p: optim.Adagrad(p, lr=0.1), None),
    ("Adadelta lr 1", lambda p: optim.Adadelta(p, lr=1.0), None),
    ("Adam lr 0.03", lambda p: optim.Adam(p, lr=0.03), None),
]


def run(verbose: bool = True, epochs: int = 1000) -> dict:
    say = reporter(verbose)
    X, y = ag.data.make_moons(n_samples=200, noise=0.2, seed=0)
    rows = []
    for name, make_optimizer, make_scheduler in SETTINGS:
        ag.manual_seed(0)  # the same initial weights for every optimizer
        model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
        optimizer = make_optimizer(model.parameters())
        scheduler = make_scheduler(optimizer) if make_scheduler else None
        start = time.perf_counter()
        fit(model, nn.functional.cross_entropy, optimizer, (X, y), epochs, batch_size=len(X),
            metrics=(), scheduler=scheduler, progress=False)
        seconds = time.perf_counter() - start
        result = evaluate(model, (X, y), nn.functional.cross_entropy)
        rows.append({"optimizer": name, "loss": result["loss"], "accuracy": result["accuracy"],
                     "seconds": seconds})
    table(rows, ["optimizer", "loss", "accuracy", "seconds"], say)
    return {r["optimizer"]: r for r in rows}


if __name__ == "__main__":
    run()
