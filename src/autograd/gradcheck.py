"""Checking analytic gradients against central finite differences.

Two modes: per-element differences (every entry of every input; exact, for small inputs) and a
random projection (one directional derivative `<v, J u>` per input; for large inputs).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .engine import grad as _grad
from .errors import GradcheckError
from .grad_mode import enable_grad, no_grad
from .tensor import Tensor


def _outputs(fn, inputs) -> tuple:
    out = fn(*inputs)
    return out if isinstance(out, (tuple, list)) else (out,)


def _differentiable(inputs) -> list:
    return [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]


def _check_inputs(inputs) -> None:
    for i in _differentiable(inputs):
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need "
                            f"float64 inputs (t.double())")


def _weighted_sum(fn, inputs, weights) -> float:
    """sum_k <weights[k], outputs[k]> in float64, with no graph."""
    with no_grad():
        outs = _outputs(fn, inputs)
    return float(sum(np.sum(np.asarray(o.data, dtype=np.float64) * w) for o, w in zip(outs, weights)))


def gradcheck(fn: Callable, inputs: Sequence, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, fast_mode: bool = False, seed: int = 0) -> bool:
    """Compare the gradients of `fn` at `inputs` with central finite differences.

    Every output is reduced with fixed random weights, so one backward checks the whole Jacobian
    against the same weighted sum. `fast_mode=True` checks one random direction per input
    instead of every element (for large inputs).

    >>> import autograd as ag
    >>> x = ag.tensor([0.5, -1.0], dtype=ag.float64, requires_grad=True)
    >>> ag.gradcheck(lambda t: (t * t.sin()).sum(), [x])
    True
    """
    inputs = list(inputs)
    _check_inputs(inputs)
    rng = np.random.default_rng(seed)
    outs = _outputs(fn, inputs)
    weights = [rng.standard_normal(np.shape(o.data)) for o in outs]
    wanted = _differentiable(inputs)
    diff_outs = [(o, w) for o, w in zip(outs, weights) if isinstance(o, Tensor) and o.requires_grad]
    if diff_outs:
        analytic = _grad([o for o, _ in diff_outs], [inputs[i] for i in wanted],
                         [Tensor._make(np.asarray(w, dtype=o.dtype)) for o, w in diff_outs],
                         allow_unused=True)
    else:
        analytic = [None] * len(wanted)

    for i, a_grad in zip(wanted, analytic):
        t = inputs[i]
        a = np.zeros(t.shape) if a_grad is None else np.asarray(a_grad.data, dtype=np.float64)

        def numeric_along(direction):
            plus = list(inputs)
            minus = list(inputs)
            base = np.asarray(t.data, dtype=np.float64)
            plus[i] = Tensor._make(np.asarray(base + eps * direction)[()] if t.ndim == 0 else base + eps * direction)
            minus[i] = Tensor._make(np.asarray(base - eps * direction)[()] if t.ndim == 0 else base - eps * direction)
            return (_weighted_sum(fn, plus, weights) - _weighted_sum(fn, minus, weights)) / (2 * eps)

        if fast_mode:
            u = rng.standard_normal(t.shape)
            numeric, analytic_value = numeric_along(u), float(np.sum(a * u))
            if not np.isclose(analytic_value, numeric, atol=atol, rtol=rtol):
                return _fail(raise_exception, f"gradcheck: input {i} (shape {t.shape}), random direction: "
                             f"analytic {analytic_value!r} vs numeric {numeric!r} (atol={atol}, rtol={rtol})")
            continue
        numeric = np.zeros(t.shape)
        for k in range(t.data.size):
            e = np.zeros(t.data.size)
            e[k] = 1.0
            numeric.reshape(-1)[k] = numeric_along(e.reshape(t.shape))
        close = np.isclose(a, numeric, atol=atol, rtol=rtol)
        if not close.all():
            err = np.abs(a - numeric) - rtol * np.abs(numeric)
            worst = np.unravel_index(int(np.argmax(np.where(close, -np.inf, err))), t.shape) if t.ndim else ()
            return _fail(raise_exception,
                         f"gradcheck: input {i} (shape {t.shape}), element {tuple(int(j) for j in worst)}: "
                         f"analytic {float(a[worst])!r} vs numeric {float(numeric[worst])!r} "
                         f"(atol={atol}, rtol={rtol}); {int((~close).sum())} of {close.size} elements differ")
    return True


def _fail(raise_exception: bool, message: str) -> bool:
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradgradcheck(fn: Callable, inputs: Sequence, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  raise_exception: bool = True, fast_mode: bool = False, seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of the vector-Jacobian products <w, d fn>.

    The upstream gradients `w` are random and checked as inputs too (appended after `inputs` in
    error messages), as PyTorch does: a backward that mishandles its incoming gradient fails here
    even for ops that are linear in their inputs.

    >>> import autograd as ag
    >>> x = ag.tensor([0.3, 0.7], dtype=ag.float64, requires_grad=True)
    >>> ag.gradgradcheck(lambda t: (t ** 3).sum(), [x])
    True
    """
    inputs = list(inputs)
    _check_inputs(inputs)
    wanted = _differentiable(inputs)
    rng = np.random.default_rng(seed + 1)
    outs = [o for o in _outputs(fn, inputs) if isinstance(o, Tensor) and o.requires_grad]
    weights = [Tensor._make(rng.standard_normal(o.shape)).requires_grad_(True)
               for o in outs]
    n = len(inputs)

    def first_order(*args):
        # Fresh leaves with grad on: the numeric side calls this with perturbed plain tensors.
        xs = [x.detach().requires_grad_(True) if i in wanted and not x.requires_grad else x
              for i, x in enumerate(args[:n])]
        with enable_grad():
            diff = [o for o in _outputs(fn, xs) if isinstance(o, Tensor) and o.requires_grad]
            grads = _grad(diff, [xs[i] for i in wanted], list(args[n:]),
                          create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_order, inputs + weights, eps, atol, rtol, raise_exception, fast_mode, seed)
