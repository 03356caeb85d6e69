"""dtypes are numpy dtypes, so `t.dtype == np.float32` and `t.dtype == ag.float32` both hold."""
import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
bool_ = np.dtype(np.bool_)

_default_float = float32


def get_default_dtype() -> np.dtype:
    return _default_float


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def as_dtype(dtype) -> np.dtype:
    """Accepts ag/numpy dtypes, numpy scalar types and names ("float32")."""
    if dtype is float:
        return _default_float
    return np.dtype(dtype)
