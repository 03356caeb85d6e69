"""ag.train: the fit loop, evaluate, metrics, callbacks, schedulers; a short real MNIST run."""
import numpy as np
import pytest

import autograd as ag
from autograd import nn, optim
from autograd.train import EarlyStopping, History, ModelCheckpoint, evaluate, fit

F = nn.functional


def _blobs(n=200, seed=0):
    return ag.data.make_blobs(n_samples=n, centers=np.array([[-3.0, 0.0], [3.0, 0.0]]),
                              cluster_std=1.0, seed=seed)


def _model(seed=0):
    ag.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))


def test_fit_learns_and_records_one_entry_per_epoch():
    X, y = _blobs()
    model = _model()
    history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), (X, y), 5,
                  val_data=(X, y), progress=False)
    assert isinstance(history, History) and history.epoch == [0, 1, 2, 3, 4]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert history["loss"][-1] < history["loss"][0] and history["val_accuracy"][-1] > 0.97
    assert history["lr"] == [0.1] * 5


def test_fit_is_reproducible_with_manual_seed():
    X, y = _blobs()
    weights = []
    for _ in range(2):
        model = _model(seed=3)
        ag.manual_seed(7)  # drives the DataLoader's shuffling
        fit(model, F.cross_entropy, optim.Adam(model.parameters(), lr=0.01),
            ag.data.TensorDataset(X, y), 2, batch_size=16, progress=False)
        weights.append(model.state_dict()["0.weight"].copy() if isinstance(
            model.state_dict()["0.weight"], np.ndarray) else np.asarray(model.state_dict()["0.weight"]))
    np.testing.assert_array_equal(weights[0], weights[1])


def test_logged_loss_is_the_sample_weighted_mean_over_the_epoch():
    X = np.arange(10, dtype=np.float32).reshape(-1, 1)
    y = np.zeros((10, 1), np.float32)
    model = nn.Linear(1, 1)
    with ag.no_grad():
        model.weight.data[...] = 1.0
        model.bias.data[...] = 0.0
    # lr 0: nothing moves, so the epoch loss is exactly mean(x^2) whatever the batching (3+3+3+1).
    history = fit(model, F.mse_loss, optim.SGD(model.parameters(), lr=0.0), (X, y), 1,
                  batch_size=3, metrics=("mse", "mae"), progress=False)
    assert history["loss"][0] == pytest.approx(np.mean(X ** 2))
    assert history["mse"][0] == pytest.approx(np.mean(X ** 2))
    assert history["mae"][0] == pytest.approx(np.mean(X))


def test_evaluate_runs_in_eval_mode_without_a_graph_and_restores_training_mode():
    X, y = _blobs(50)
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.9))
    model.train()
    first = evaluate(model, (X, y), F.cross_entropy)
    second = evaluate(model, (X, y), F.cross_entropy)
    assert first == second  # dropout is off in eval mode, so two passes agree exactly
    assert model.training and all(p.grad is None for p in model.parameters())


def test_accuracy_metric_for_classes_binary_and_one_hot():
    from autograd.train import METRICS

    acc = METRICS["accuracy"]
    assert acc(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), np.array([1, 1, 1])) == 2.0
    assert acc(np.array([[0.7], [0.2], [0.6]]), np.array([1, 0, 0])) == 2.0
    assert acc(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([[0.0, 1.0], [0.0, 1.0]])) == 1.0


def test_unknown_metric_and_empty_data_give_clear_errors():
    X, y = _blobs(10)
    model = _model()
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), (X, y), 1, metrics=("f1",))
    loader = ag.data.DataLoader(ag.data.TensorDataset(X, y), batch_size=32, drop_last=True)
    with pytest.raises(ag.AutogradError, match="no batches"):
        fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), loader, 1, progress=False)


def test_early_stopping_stops_and_restores_the_best_weights():
    X, y = _blobs(60)
    model = _model()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    stopper = EarlyStopping("val_loss", patience=2)
    # A validation set with flipped labels: val_loss gets worse as training goes on.
    history = fit(model, F.cross_entropy, optimizer, (X, y), 50, val_data=(X, 1 - y),
                  callbacks=[stopper], progress=False)
    best = int(np.argmin(history["val_loss"]))
    assert len(history) == best + 3 < 50 and stopper.best_epoch == best
    restored = evaluate(model, (X, 1 - y), F.cross_entropy, metrics=())
    assert restored["loss"] == pytest.approx(history["val_loss"][best], rel=1e-6)


def test_early_stopping_names_a_missing_quantity():
    X, y = _blobs(20)
    model = _model()
    with pytest.raises(ag.AutogradError, match="'val_loss' is not in the logs"):
        fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), (X, y), 2,
            callbacks=[EarlyStopping()], progress=False)


def test_model_checkpoint_saves_loadable_state_dicts(tmp_path):
    X, y = _blobs(40)
    model = _model()
    checkpoint = ModelCheckpoint(tmp_path / "model-{epoch}.agz", monitor="loss", save_best_only=True)
    fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), (X, y), 3,
        callbacks=[checkpoint], progress=False)
    assert len(checkpoint.saved) >= 1
    state = ag.load(checkpoint.saved[-1])
    fresh = _model(seed=5)
    fresh.load_state_dict(state)
    for a, b in zip(fresh.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_schedulers_step_once_per_epoch():
    X, y = _blobs(20)
    model = _model()
    optimizer = optim.SGD(model.parameters(), lr=0.3)
    scheduler = optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 4], gamma=0.1)
    history = fit(model, F.cross_entropy, optimizer, (X, y), 5, scheduler=scheduler, progress=False)
    assert history["lr"] == pytest.approx([0.3, 0.3, 0.03, 0.03, 0.003])
    plateau = optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
    fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.0), (X, y), 1,
        scheduler=plateau, progress=False)  # lr 0 in a fresh optimizer: the loss cannot improve


def test_mnist_subset_trains_past_90_percent(datasets_dir):
    if not (datasets_dir / "mnist").is_dir():
        pytest.skip(f"MNIST not found under {datasets_dir}")
    train = ag.data.datasets.MNIST(datasets_dir / "mnist", train=True)
    test = ag.data.datasets.MNIST(datasets_dir / "mnist", train=False)
    from autograd._train_cli import _images_and_labels, build_model

    x, y = _images_and_labels(train)
    xt, yt = _images_and_labels(test)
    ag.manual_seed(0)
    model = build_model("mlp", 10)
    fit(model, F.cross_entropy, optim.Adam(model.parameters(), lr=1e-3), (x[:15000], y[:15000]), 3,
        batch_size=64, metrics=(), progress=False)
    result = evaluate(model, (xt[:2000], yt[:2000]), F.cross_entropy)
    assert result["accuracy"] > 0.90, result
