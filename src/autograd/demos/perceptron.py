"""Rosenblatt's perceptron on linearly separable points: the perceptron criterion
max(0, -t (w.x + b)) gives exactly the classic update, and sign() makes the decision."""
from __future__ import annotations

import numpy as np

import autograd as ag
from autograd import nn

from ._report import reporter

TITLE = "A perceptron on linearly separable data (sign activation)"


def run(verbose: bool = True, max_epochs: int = 100) -> dict:
    say = reporter(verbose)
    X, labels = ag.data.make_blobs(n_samples=100, centers=np.array([[-2.0, -1.0], [2.0, 1.5]]),
                                   cluster_std=0.7, seed=3)
    x = ag.tensor(X)
    t = ag.tensor(2.0 * labels - 1.0, dtype=ag.float32)  # targets -1 / +1
    ag.manual_seed(0)
    # Not zeros: at w = 0 every score is exactly 0, where relu'(0) = 0 gives no update.
    w = (0.01 * ag.randn(2)).requires_grad_()
    b = ag.zeros((), requires_grad=True)
    sign = nn.Sign()
    optimizer = ag.optim.SGD([w, b], lr=0.1)
    for epoch in range(1, max_epochs + 1):
        scores = x @ w + b
        loss = (-t * scores).relu().mean()
        errors = int((sign(scores).detach().numpy() != t.numpy()).sum())
        if errors == 0:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    accuracy = float((sign(x @ w + b).detach().numpy() == t.numpy()).mean())
    say(f"separated after {epoch} epochs: w = [{', '.join(f'{v:.3f}' for v in w.detach().numpy())}], "
        f"b = {b.item():.3f}, training accuracy {accuracy:.3f}")
    return {"epochs": epoch, "accuracy": accuracy}


if __name__ == "__main__":
    run()
