"""Three interleaved spirals: no line separates them, two ReLU hidden layers do."""
from __future__ import annotations

import autograd as ag
from autograd import nn
from autograd.train import evaluate, fit

from ._report import reporter

TITLE = "A spiral classifier (3 arms, 2-64-64-3 ReLU network, Adam)"


def run(verbose: bool = True, epochs: int = 300) -> dict:
    say = reporter(verbose)
    X, y = ag.data.make_spirals(n_samples=300, n_classes=3, noise=0.1, seed=0)
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
    history = fit(model, nn.functional.cross_entropy, ag.optim.Adam(model.parameters(), lr=0.01),
                  (X, y), epochs, batch_size=300, progress=False)
    result = evaluate(model, (X, y), nn.functional.cross_entropy)
    say(f"after {epochs} epochs: loss {result['loss']:.4f}, training accuracy {result['accuracy']:.3f} "
        f"(epoch 1: loss {history['loss'][0]:.3f}, accuracy {history['accuracy'][0]:.3f})")
    return result


if __name__ == "__main__":
    run()
