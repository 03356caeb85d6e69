"""`Module.summary`: a Keras-style table from one forward pass on zeros."""
from __future__ import annotations

import numpy as np

from ..grad_mode import no_grad
from ..tensor import Tensor
from . import module as _module


class Summary:
    """The result of `Module.summary`: rows of (layer, output shape, parameters) and totals.
    `str()` and `repr()` give the table."""

    def __init__(self, title: str, rows: list, total: int, trainable: int):
        self.title = title
        self.rows = rows
        self.total_params = total
        self.trainable_params = trainable
        self.non_trainable_params = total - trainable

    def __str__(self) -> str:
        header = ("Layer (type)", "Output Shape", "Param #")
        cells = [(name, shape, f"{count:,}") for name, shape, count in self.rows]
        widths = [max(len(r[i]) for r in cells + [header]) + 3 for i in range(3)]
        width = sum(widths)

        def line(r):
            return f"{r[0]:<{widths[0]}}{r[1]:<{widths[1]}}{r[2]:>{widths[2] - 3}}"

        out = [f'Model: "{self.title}"', "_" * width, line(header), "=" * width]
        out += [line(r) for r in cells]
        out += ["=" * width,
                f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.non_trainable_params:,}",
                "_" * width]
        return "\n".join(out)

    __repr__ = __str__


def _shape_text(out) -> str:
    if isinstance(out, (tuple, list)):
        return ", ".join(_shape_text(o) for o in out)
    shape = tuple(getattr(out, "shape", ()))
    # The batch axis is shown as None, as Keras does: the table holds for any batch size.
    return str((None,) + shape[1:]) if shape else "()"


def summarize(model, input_shape: tuple, dtype) -> Summary:
    names = {id(m): name for name, m in model.named_modules()}
    rows = []

    def record(module, out):
        count = sum(p.numel() for p in module._parameters.values() if p is not None)
        if count == 0 and next(module.children(), None) is not None:
            return  # a pure container: its leaves have rows already
        name = names.get(id(module)) or type(module).__name__.lower()
        rows.append((f"{name} ({type(module).__name__})", _shape_text(out), count))

    was_training = model.training
    model.eval()  # dropout and batch norm must not change state on the zeros
    _module._recorders.append(record)
    try:
        with no_grad():
            model(Tensor._make(np.zeros(input_shape, dtype=dtype)))
    finally:
        _module._recorders.pop()
        model.train(was_training)
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return Summary(type(model).__name__, rows, total, trainable)
