"""Kernels: compiled C through cffi ("c"), or the numpy reference ("numpy").

Ops call `backend.active.<kernel>(...)` with numpy arrays in and out and never import cffi. The C
module is chosen when it imports; otherwise the numpy reference is used and one warning says so.
"""
import os
import warnings

from . import _numpy

_modules = {"numpy": _numpy}
try:
    from . import _c

    _modules["c"] = _c
    active = _c
except ImportError as _error:  # the extension was not built: stay usable, say so once
    active = _numpy
    if os.environ.get("AUTOGRAD_BACKEND", "") != "numpy":
        warnings.warn(f"autograd: compiled kernels unavailable ({_error}); using the numpy backend",
                      RuntimeWarning, stacklevel=2)


def name() -> str:
    """"c" when the compiled kernels are in use, else "numpy"."""
    return active.NAME


def available() -> tuple:
    return tuple(_modules)


class use:
    """Switch backends: `ag.backend.use("numpy")` sets it; `with ag.backend.use("numpy"):` restores."""

    def __init__(self, backend_name: str):
        global active
        if backend_name not in _modules:
            raise ValueError(f"backend.use: unknown or unavailable backend {backend_name!r}; "
                             f"available: {', '.join(_modules)}")
        self._previous = active
        active = _modules[backend_name]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global active
        active = self._previous
        return False


def info() -> dict:
    """Backend name, instruction set in use, thread count and build flags."""
    return active.info()


def owns_memory(a) -> bool:
    """Whether nothing but the array `a` (and views of it) refers to its memory: memory numpy
    allocated for it, or a block the C backend keeps for large outputs."""
    c = _modules.get("c")
    return c.owns_memory(a) if c is not None else a.base is None


def empty_cache() -> None:
    """Let go of the memory the C backend keeps for reuse by large outputs (arrays of 32 MiB or
    more, whose new memory would be page-faulted in each time); as torch.cuda.empty_cache."""
    c = _modules.get("c")
    if c is not None:
        c.empty_cache()


def set_num_threads(n: int) -> None:
    for module in _modules.values():
        module.set_num_threads(n)


def get_num_threads() -> int:
    return active.get_num_threads()


if os.environ.get("AUTOGRAD_BACKEND") in _modules:
    active = _modules[os.environ["AUTOGRAD_BACKEND"]]
