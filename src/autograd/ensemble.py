"""Bagging: train several models on bootstrap samples and average their predictions.

>>> import numpy as np, autograd as ag
>>> from autograd import nn
>>> X, y = ag.data.make_blobs(n_samples=120, centers=2, seed=0)
>>> bag = Bagging(lambda: nn.Sequential(nn.Linear(2, 2)), n_models=3, seed=0)
>>> _ = bag.fit(X, y, nn.functional.cross_entropy,
...             lambda params: ag.optim.SGD(params, lr=0.1), epochs=5)
>>> bag.predict(X).shape
(120, 2)
>>> float((bag.predict(X).argmax(1) == y).mean()) > 0.9
True
"""
from __future__ import annotations

from typing import Callable, List, Optional

import numpy as np

from .grad_mode import no_grad
from .tensor import Tensor


class Bagging:
    """`n_models` models from `make_model()`, each fitted on a bootstrap sample (drawn with
    replacement, as many rows as the data) of the training set; `predict` averages their outputs
    after `output_transform` (e.g. softmax, to average probabilities rather than logits)."""

    def __init__(self, make_model: Callable, n_models: int = 10, seed: Optional[int] = None,
                 output_transform: Optional[Callable] = None) -> None:
        if n_models < 1:
            raise ValueError(f"Bagging: n_models must be at least 1, got {n_models}")
        self.make_model, self.n_models = make_model, n_models
        self.rng = np.random.default_rng(seed)
        self.output_transform = output_transform
        self.models: List = []
        self.histories: List = []

    def fit(self, X, y, loss_fn: Callable, make_optimizer: Callable, epochs: int,
            batch_size: int = 32, **fit_kwargs) -> "Bagging":
        """Train every model with `ag.train.fit` on its own bootstrap sample; returns self."""
        from .data import TensorDataset
        from .train import fit

        X, y = np.asarray(X), np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"Bagging.fit: X and y differ in length: {X.shape} and {y.shape}")
        fit_kwargs.setdefault("progress", False)
        fit_kwargs.setdefault("metrics", ())
        self.models, self.histories = [], []
        for _ in range(self.n_models):
            rows = self.rng.integers(0, len(X), size=len(X))
            model = self.make_model()
            history = fit(model, loss_fn, make_optimizer(model.parameters()),
                          TensorDataset(X[rows], y[rows]), epochs, batch_size=batch_size,
                          **fit_kwargs)
            self.models.append(model)
            self.histories.append(history)
        return self

    def predict(self, X) -> np.ndarray:
        """The mean over the models of `output_transform(model(X))`, as a numpy array."""
        if not self.models:
            raise RuntimeError("Bagging.predict: call fit first")
        X = X if isinstance(X, Tensor) else Tensor(np.asarray(X))
        outputs = []
        with no_grad():
            for model in self.models:
                model.eval()
                out = model(X)
                if self.output_transform is not None:
                    out = self.output_transform(out)
                outputs.append(np.asarray(out.data, dtype=np.float64))
        return np.mean(outputs, axis=0)
