"""`python -m autograd train`: the lectures' MLP and CNN on MNIST, Fashion-MNIST or Sign MNIST."""
from __future__ import annotations

import argparse
import os
import pathlib
import time

import numpy as np

DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "sign-mnist": "SignMNIST"}
DEFAULTS = {  # per model: epochs, batch size, optimizer, learning rate, lr factor per epoch
    "mlp": (10, 128, "adam", 2e-3, 0.75),
    "cnn": (6, 64, "adam", 2e-3, 0.7),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="mnist")
    parser.add_argument("--model", choices=sorted(DEFAULTS), default="mlp")
    parser.add_argument("--epochs", type=int, help="default: mlp 10, cnn 6")
    parser.add_argument("--batch-size", type=int, help="default: mlp 128, cnn 64")
    parser.add_argument("--optimizer", choices=["sgd", "momentum", "rmsprop", "adagrad", "adadelta", "adam"])
    parser.add_argument("--lr", type=float, help="learning rate (default: 2e-3 with adam, "
                                                 "else the optimizer's usual one)")
    parser.add_argument("--lr-decay", type=float, metavar="FACTOR",
                        help="multiply the learning rate by this after each epoch "
                             "(ExponentialLR; default: mlp 0.75, cnn 0.7)")
    parser.add_argument("--augment", action="store_true", help="random shifts, rotations, zooms")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None,
                        help="folder holding mnist/, fashion-mnist/, sign-mnist/ "
                             "(default: $AUTOGRAD_DATASETS, else ./datasets)")
    parser.add_argument("--download", action="store_true", help="fetch missing files (checksummed)")
    parser.add_argument("--subset", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--save", default=None, metavar="PATH", help="save the trained weights here")
    parser.add_argument("--no-progress", action="store_true")


def build_model(kind: str, n_classes: int):
    """The seeds' networks: MLP 784-512-10 (407,050 parameters) and the Keras CNN (93,322)."""
    from . import nn

    if kind == "mlp":  # dropout adds no parameters; without it test accuracy peaks, then falls
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
                             nn.Linear(512, n_classes))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, n_classes))


def make_optimizer(name: str, params, lr=None):
    from . import optim

    table = {
        "sgd": (optim.SGD, 0.1, {}),
        "momentum": (optim.SGD, 0.05, {"momentum": 0.9}),
        "rmsprop": (optim.RMSprop, 1e-3, {}),
        "adagrad": (optim.Adagrad, 1e-2, {}),
        "adadelta": (optim.Adadelta, 1.0, {}),
        "adam": (optim.Adam, 1e-3, {}),
    }
    cls, default_lr, extra = table[name]
    return cls(params, lr=default_lr if lr is None else lr, **extra)


def _images_and_labels(dataset):
    images = np.asarray(dataset.data)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    return images.reshape(len(images), 1, 28, 28).astype(np.float32, copy=False), \
        np.asarray(dataset.targets, dtype=np.int64)


class _Augmented:
    """Batches of a DataLoader with a seeded random transform applied to the images."""

    def __init__(self, loader, transform):
        self.loader, self.transform = loader, transform

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        from .tensor import Tensor

        for x, y in self.loader:
            yield Tensor(self.transform(np.asarray(x.data))), y


class _EpochPrinter:
    def __init__(self, epochs: int):
        self.epochs, self.start = epochs, time.perf_counter()

    def on_train_begin(self):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        from .train import _format_logs

        print(f"{_format_logs(epoch, self.epochs, logs)} ({time.perf_counter() - self.start:.0f} s)",
              flush=True)

    def on_train_end(self):
        pass


def run(args) -> int:
    import autograd as ag
    from . import data, nn, optim
    from .train import evaluate, fit

    epochs, batch_size, default_optimizer, default_lr, lr_decay = DEFAULTS[args.model]
    lr_decay = args.lr_decay if args.lr_decay is not None else lr_decay
    epochs = args.epochs if args.epochs is not None else epochs
    batch_size = args.batch_size or batch_size
    optimizer_name = args.optimizer or default_optimizer
    lr = args.lr if args.lr is not None else (default_lr if optimizer_name == default_optimizer else None)
    root = pathlib.Path(args.data_dir or os.environ.get("AUTOGRAD_DATASETS") or "datasets")
    dataset_cls = getattr(data.datasets, DATASETS[args.dataset])
    try:
        train_set = dataset_cls(root / args.dataset, train=True, download=args.download)
        test_set = dataset_cls(root / args.dataset, train=False, download=args.download)
    except (OSError, ValueError, ag.AutogradError) as error:
        print(f"train: cannot load {args.dataset} from {root / args.dataset}: {error}\n"
              f"Pass --data-dir (or set AUTOGRAD_DATASETS) to the folder that holds "
              f"{args.dataset}/, or add --download to fetch it.", file=__import__("sys").stderr)
        return 2
    x_train, y_train = _images_and_labels(train_set)
    x_test, y_test = _images_and_labels(test_set)
    if args.subset:
        x_train, y_train = x_train[:args.subset], y_train[:args.subset]
    n_classes = int(max(y_train.max(), y_test.max())) + 1

    ag.manual_seed(args.seed)
    model = build_model(args.model, n_classes)
    optimizer = make_optimizer(optimizer_name, model.parameters(), lr)
    print(f"{args.model} on {args.dataset}: {len(x_train)} training and {len(x_test)} test images, "
          f"{n_classes} classes; {optimizer_name} lr {optimizer.param_groups[0]['lr']:g}, "
          f"batch {batch_size}, {epochs} epochs"
          f"{f', lr x{lr_decay:g} per epoch' if lr_decay != 1 else ''}; "
          f"backend {ag.backend.name()}")
    print(model.summary((1, 1, 28, 28)))
    loader = data.DataLoader(data.TensorDataset(x_train, y_train), batch_size=batch_size,
                             shuffle=True, seed=args.seed)
    if args.augment:
        t = data.transforms
        rng = np.random.default_rng(args.seed)
        # fill="edge" (Keras's default fill_mode): no black border on bright backgrounds
        loader = _Augmented(loader, t.Compose([t.RandomRotation(10, fill="edge", seed=rng),
                                               t.RandomShift(2, fill="edge", seed=rng),
                                               t.RandomZoom(0.1, fill="edge", seed=rng)]))
    test = data.TensorDataset(x_test, y_test)
    start = time.perf_counter()
    scheduler = optim.lr_scheduler.ExponentialLR(optimizer, lr_decay) if lr_decay != 1 else None
    # Without the bar fit prints nothing; a log (CI, nohup) still wants one line per epoch.
    printer = [] if not args.no_progress else [_EpochPrinter(epochs)]
    history = fit(model, nn.functional.cross_entropy, optimizer, loader, epochs, val_data=test,
                  scheduler=scheduler, callbacks=printer, progress=not args.no_progress)
    seconds = time.perf_counter() - start
    result = evaluate(model, test, nn.functional.cross_entropy)
    best = int(np.argmax(history["val_accuracy"])) if len(history) else 0
    if len(history):
        print(f"best test accuracy {history['val_accuracy'][best]:.4f} after epoch {best + 1}")
    print(f"test accuracy {result['accuracy']:.4f}, test loss {result['loss']:.4f}; "
          f"trained in {seconds:.1f} s ({seconds / max(epochs, 1):.1f} s per epoch)")
    if args.save:
        ag.save(model.state_dict(), args.save)
        print(f"saved the weights to {args.save}")
    return 0
