"""The exception hierarchy: one base, each subclass also a matching builtin."""


class AutogradError(Exception):
    """Base class of every error this package raises on purpose."""


class ShapeError(AutogradError, ValueError):
    """Operands whose shapes do not fit the operation."""


class DTypeError(AutogradError, TypeError):
    """Operands whose dtypes the operation does not accept."""


class GraphError(AutogradError, RuntimeError):
    """Misuse of the graph: freed graph, stale saved tensors, backward without a gradient."""


class AnomalyError(AutogradError, FloatingPointError):
    """A NaN or inf produced by an op while anomaly detection is on."""


class GradcheckError(AutogradError, AssertionError):
    """Analytic and numeric gradients disagree."""


class StateDictError(AutogradError, KeyError, RuntimeError):
    """A state dict whose keys do not match the module's (strict loading). torch raises
    RuntimeError here; KeyError says what is wrong."""


class StateDictShapeError(ShapeError, RuntimeError):
    """A state dict value whose shape differs from the module's (torch: RuntimeError)."""


def describe(*values) -> str:
    """`(3, 4) float32, (5,) float64` for error messages."""
    parts = []
    for v in values:
        shape = getattr(v, "shape", None)
        dtype = getattr(v, "dtype", None)
        if shape is None:
            parts.append(type(v).__name__)
        else:
            parts.append(f"{tuple(shape)} {dtype}")
    return ", ".join(parts)
