"""Grad mode and anomaly mode: context variables, usable as context managers and decorators."""
import contextvars
import functools
import traceback

_grad_enabled = contextvars.ContextVar("autograd_grad_enabled", default=True)
_anomaly = contextvars.ContextVar("autograd_anomaly", default=False)


def is_grad_enabled() -> bool:
    return _grad_enabled.get()


class _ModeContext:
    """Sets a context variable on enter, restores it on exit; as a decorator, per call."""

    _var = _grad_enabled

    def __init__(self, value: bool):
        self._value = value
        self._tokens = []

    def __enter__(self):
        self._tokens.append(self._var.set(self._value))
        return self

    def __exit__(self, *exc):
        self._var.reset(self._tokens.pop())
        return False

    def __call__(self, fn):
        var, value = self._var, self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            token = var.set(value)
            try:
                return fn(*args, **kwargs)
            finally:
                var.reset(token)

        return wrapper


class no_grad(_ModeContext):
    """Operations inside record no graph.

    >>> import autograd as ag
    >>> x = ag.tensor(2.0, requires_grad=True)
    >>> with ag.no_grad():
    ...     y = x * 3
    >>> y.requires_grad
    False
    """

    def __init__(self):
        super().__init__(False)


class enable_grad(_ModeContext):
    """Turns recording back on inside a `no_grad` region."""

    def __init__(self):
        super().__init__(True)


class set_grad_enabled(_ModeContext):
    """Sets grad mode at once (as PyTorch does); as a context manager it restores on exit.

    >>> import autograd as ag
    >>> with ag.set_grad_enabled(False):
    ...     ag.is_grad_enabled()
    False
    >>> ag.is_grad_enabled()
    True
    """

    def __init__(self, mode: bool):
        super().__init__(bool(mode))
        self._tokens.append(_grad_enabled.set(self._value))

    def __enter__(self):
        return self

    def __call__(self, fn):
        # As a decorator the mode applies to calls only: undo what construction set.
        if self._tokens:
            _grad_enabled.reset(self._tokens.pop())
        return super().__call__(fn)


def is_anomaly_enabled() -> bool:
    return _anomaly.get()


class detect_anomaly(_ModeContext):
    """Inside, every op checks its forward and backward outputs for NaN/inf and names the op.

    The error also shows where the failing op was created in the forward pass.
    """

    _var = _anomaly

    def __init__(self, check_nan: bool = True):
        super().__init__(bool(check_nan))


def creation_stack() -> str:
    """The Python stack of the forward call, kept by nodes when anomaly mode is on."""
    return "".join(traceback.format_stack()[:-3])
