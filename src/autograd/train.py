"""Training: one fit loop with metrics, callbacks, a learning-rate scheduler and a progress bar.

>>> import numpy as np, autograd as ag
>>> from autograd import nn
>>> _ = ag.manual_seed(0)
>>> X = np.linspace(-1, 1, 64, dtype=np.float32).reshape(-1, 1)
>>> data = ag.data.TensorDataset(X, 3 * X - 1)
>>> model = nn.Linear(1, 1)
>>> history = fit(model, nn.functional.mse_loss, ag.optim.SGD(model.parameters(), lr=0.5),
...               ag.data.DataLoader(data, batch_size=16, shuffle=True), epochs=40, metrics=(),
...               progress=False)
>>> round(history["loss"][-1], 4), np.round(model.weight.detach().numpy(), 2).item()
(0.0, 3.0)
"""
from __future__ import annotations

import copy
import math
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from .errors import AutogradError
from .grad_mode import no_grad
from .tensor import Tensor


class History:
    """Per-epoch logs of a `fit` run: `history["val_loss"]` is a list with one value per epoch."""

    def __init__(self) -> None:
        self.epoch: List[int] = []
        self.history: Dict[str, List[float]] = {}

    def append(self, epoch: int, logs: Dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> List[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items()}
        return f"History(epochs={len(self)}, last={last})"


# ---- metrics: (output array, target array) -> per-batch sum, averaged over samples by the loop --
def _accuracy(output: np.ndarray, target: np.ndarray) -> float:
    """Classification accuracy: argmax over classes, or a 0.5 threshold for one output (the model
    then outputs probabilities, as Keras's binary accuracy assumes)."""
    if output.ndim >= 2 and output.shape[1] > 1:
        predicted = output.argmax(axis=1)
        if target.shape == output.shape:  # one-hot or probability targets
            target = target.argmax(axis=1)
    else:
        predicted = (output.reshape(len(output), -1)[:, 0] > 0.5).astype(np.int64)
    return float(np.sum(predicted == target.reshape(predicted.shape)))


def _squared_error(output, target):
    return float(np.sum(np.mean((output - target.reshape(output.shape)) ** 2,
                                axis=tuple(range(1, output.ndim)))))


def _absolute_error(output, target):
    return float(np.sum(np.mean(np.abs(output - target.reshape(output.shape)),
                                axis=tuple(range(1, output.ndim)))))


METRICS: Dict[str, Callable] = {"accuracy": _accuracy, "mse": _squared_error, "mae": _absolute_error}


def _metric(name_or_fn) -> tuple:
    if callable(name_or_fn):
        return getattr(name_or_fn, "__name__", "metric"), name_or_fn
    if name_or_fn not in METRICS:
        raise ValueError(f"fit: unknown metric {name_or_fn!r}; known: {', '.join(METRICS)} or a "
                         f"callable (output, target) -> sum over the batch")
    return name_or_fn, METRICS[name_or_fn]


# ---- callbacks ----------------------------------------------------------------------------------
class Callback:
    """Hooks into `fit`. `on_epoch_end` returning True stops training after that epoch."""

    model = None
    optimizer = None

    def on_train_begin(self) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: Dict[str, float]) -> Optional[bool]:
        return None

    def on_train_end(self) -> None:
        pass


def _improved(mode: str, value: float, best: float, min_delta: float) -> bool:
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _mode(monitor: str, mode: str) -> str:
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def _monitored(logs, monitor, who):
    if monitor not in logs:
        raise AutogradError(f"{who}: monitored quantity {monitor!r} is not in the logs "
                            f"({', '.join(logs)}); pass val_data to fit for 'val_*' quantities")
    return logs[monitor]


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs; with
    `restore_best`, put back the weights of the best epoch at the end."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best: bool = True) -> None:
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode, self.restore_best = _mode(monitor, mode), restore_best

    def on_train_begin(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.wait, self.stopped_epoch, self._best_state = None, 0, None, None

    def on_epoch_end(self, epoch, logs):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if _improved(self.mode, value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self._best_state = copy.deepcopy(self.model.state_dict())
            return None
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return None

    def on_train_end(self) -> None:
        if self.restore_best and self._best_state is not None:
            self.model.load_state_dict(self._best_state)


class ModelCheckpoint(Callback):
    """Save the model's state_dict with `ag.save` after each epoch (or only on improvement of
    `monitor` with `save_best_only`); `path` may contain `{epoch}` and any log key."""

    def __init__(self, path: str, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto") -> None:
        self.path, self.monitor, self.save_best_only = str(path), monitor, save_best_only
        self.mode = _mode(monitor, mode)

    def on_train_begin(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.saved: List[str] = []

    def on_epoch_end(self, epoch, logs):
        from .serialization import save

        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not _improved(self.mode, value, self.best, 0.0):
                return None
            self.best = value
        path = self.path.format(epoch=epoch, **logs)
        save(self.model.state_dict(), path)
        self.saved.append(path)
        return None


# ---- the loop -----------------------------------------------------------------------------------
def _loader(data, shuffle: bool, batch_size: int):
    from .data import DataLoader, Dataset, TensorDataset

    if data is None or isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)):
        data = TensorDataset(*data)
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle)
    if hasattr(data, "__iter__") and hasattr(data, "__len__"):  # any re-iterable batch source
        return data
    raise TypeError(f"fit: data must be a DataLoader, a Dataset, a tuple of arrays or a "
                    f"re-iterable of batches with a length, got {type(data).__name__}")


def _run_epoch(model, loss_fn, optimizer, loader, metrics, bar=None) -> Dict[str, float]:
    """One pass over `loader`; trains when `optimizer` is given. Returns sample-averaged logs."""
    totals = dict.fromkeys(["loss"] + [name for name, _ in metrics], 0.0)
    seen = 0
    for batch in loader:
        *inputs, target = batch
        started = time.perf_counter()
        output = model(*inputs)
        loss = loss_fn(output, target)
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        n = len(target)
        seen += n
        totals["loss"] += loss.item() * n
        if metrics:
            out, tgt = np.asarray(output.data), np.asarray(target.data if isinstance(target, Tensor) else target)
            for name, fn in metrics:
                totals[name] += fn(out, tgt)
        if bar is not None:
            bar.set_postfix({k: f"{v / seen:.4f}" for k, v in totals.items()}
                            | {"ms/step": f"{1e3 * (time.perf_counter() - started):.2f}"}, refresh=False)
            bar.update(1)
    if seen == 0:
        raise AutogradError("fit: the data yielded no batches (empty dataset, or drop_last with "
                            "fewer samples than one batch)")
    return {k: v / seen for k, v in totals.items()}


def evaluate(model, data, loss_fn: Callable, metrics: Sequence = ("accuracy",),
             batch_size: int = 256) -> Dict[str, float]:
    """Loss and metrics over `data` in eval mode without recording a graph."""
    return _evaluate(model, _loader(data, False, batch_size), loss_fn, [_metric(m) for m in metrics])


def _evaluate(model, loader, loss_fn, metrics) -> Dict[str, float]:
    was_training = getattr(model, "training", True)
    model.eval()
    try:
        with no_grad():
            return _run_epoch(model, loss_fn, None, loader, metrics)
    finally:
        model.train(was_training)


def fit(model, loss_fn: Callable, optimizer, train_data, epochs: int, val_data=None,
        metrics: Sequence[Union[str, Callable]] = ("accuracy",), callbacks: Iterable[Callback] = (),
        scheduler=None, progress: bool = True, batch_size: int = 32) -> History:
    """Train `model` for `epochs` passes over `train_data` and return the per-epoch `History`.

    `train_data`/`val_data`: a DataLoader, a Dataset (batched by `batch_size`, shuffled for
    training) or a tuple of arrays. Metrics: "accuracy", "mse", "mae" or callables. After each
    epoch the scheduler steps (ReduceLROnPlateau with `val_loss`, else `loss`) and callbacks run;
    one returning True stops training. The progress bar (tqdm) shows loss, metrics and time per
    step, and stays silent when `progress=False` or when the output is not a terminal.
    """
    if epochs < 0:
        raise ValueError(f"fit: epochs must be >= 0, got {epochs}")
    metrics = [_metric(m) for m in metrics]
    train_loader = _loader(train_data, True, batch_size)
    val_loader = _loader(val_data, False, max(batch_size, 256))
    callbacks = list(callbacks)
    for cb in callbacks:
        cb.model, cb.optimizer = model, optimizer
        cb.on_train_begin()
    history = History()
    for epoch in range(epochs):
        model.train()
        bar = _progress_bar(progress, train_loader, f"epoch {epoch + 1}/{epochs}")
        try:
            logs = _run_epoch(model, loss_fn, optimizer, train_loader, metrics, bar)
        finally:
            if bar is not None:
                bar.close()
        if val_loader is not None:
            val = _evaluate(model, val_loader, loss_fn, metrics)
            logs.update({f"val_{k}": v for k, v in val.items()})
        if optimizer is not None and getattr(optimizer, "param_groups", None):
            logs["lr"] = optimizer.param_groups[0]["lr"]
        history.append(epoch, logs)
        if bar is not None:
            bar.write(_format_logs(epoch, epochs, logs))
        if scheduler is not None:
            _step_scheduler(scheduler, logs)
        stop = [cb.on_epoch_end(epoch, logs) for cb in callbacks]
        if any(stop):
            break
    for cb in callbacks:
        cb.on_train_end()
    return history


def _step_scheduler(scheduler, logs) -> None:
    from .optim.lr_scheduler import ReduceLROnPlateau

    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(logs.get("val_loss", logs["loss"]))
    else:
        scheduler.step()


def _format_logs(epoch, epochs, logs) -> str:
    return f"epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k} {v:.4g}" for k, v in logs.items())


def _progress_bar(progress: bool, loader, description: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    # disable=None: tqdm stays quiet when the output is not a terminal (CI logs, pipes).
    return tqdm(total=len(loader), desc=description, unit="step", leave=False, disable=None,
                dynamic_ncols=True)
