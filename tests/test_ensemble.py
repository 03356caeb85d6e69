"""ag.ensemble.Bagging: bootstrap samples, averaged predictions."""
import numpy as np
import pytest

import autograd as ag
from autograd import nn
from autograd.ensemble import Bagging


def test_bagging_trains_each_model_on_its_own_bootstrap_and_averages():
    X, y = ag.data.make_blobs(n_samples=120, centers=np.array([[-2.0, 0.0], [2.0, 0.0]]), seed=0)
    ag.manual_seed(0)
    bag = Bagging(lambda: nn.Sequential(nn.Linear(2, 2)), n_models=3, seed=0,
                  output_transform=lambda t: ag.softmax(t, axis=1))
    bag.fit(X, y, nn.functional.cross_entropy, lambda p: ag.optim.SGD(p, lr=0.1), epochs=5)
    assert len(bag.models) == 3 and len({id(m) for m in bag.models}) == 3
    weights = [m[0].weight.detach().numpy() for m in bag.models]
    assert not np.allclose(weights[0], weights[1])  # different samples, different fits
    probs = bag.predict(X)
    with ag.no_grad():
        each = [ag.softmax(m(ag.tensor(X)), axis=1).numpy() for m in bag.models]
    np.testing.assert_allclose(probs, np.mean(each, axis=0), rtol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert (probs.argmax(1) == y).mean() > 0.95


def test_bagging_errors():
    with pytest.raises(ValueError, match="n_models"):
        Bagging(lambda: None, n_models=0)
    with pytest.raises(RuntimeError, match="call fit first"):
        Bagging(lambda: None).predict(np.zeros((1, 2)))
