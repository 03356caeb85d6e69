"""Transforms: plain callables on numpy arrays (or Tensors, returned as Tensors).

Images are (C, H, W) or a batch (N, C, H, W); a (H, W) array is one single-channel image. The
random ones draw one set of parameters per image, vectorised over the batch, from a generator
seeded by `seed` (an int or a numpy Generator), or from the global generator of
`ag.manual_seed` when `seed` is None. Geometric transforms map each output pixel back into the
input (inverse mapping) and sample it bilinearly or at the nearest pixel; points that fall
outside the image take the value `fill` (a number, or "edge" for the nearest edge pixel).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np

from ..creation import default_generator
from ..errors import ShapeError
from ..tensor import Tensor
from .dataset import NotFittedError
from .pca import PCA  # noqa: F401  (re-exported: PCA is a fitted transform too)

Seed = Union[None, int, np.random.Generator]


def _unwrap(x) -> Tuple[np.ndarray, bool]:
    if isinstance(x, Tensor):
        return np.asarray(x.data), True
    return np.asarray(x), False


def _wrap(a: np.ndarray, as_tensor: bool):
    return Tensor._make(a) if as_tensor else a


def _floating(a: np.ndarray) -> np.ndarray:
    return a if a.dtype.kind == "f" else a.astype(np.float32)


class Compose:
    """Apply transforms in order.

    >>> t = Compose([Normalize(0.5, 0.5), lambda x: x * 2])
    >>> t(np.ones((1, 2, 2), np.float32)).tolist()
    [[[2.0, 2.0], [2.0, 2.0]]]
    """

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class Normalize:
    """(x - mean) / std, per channel when mean and std are sequences (channel axis -3 for
    images, the last axis for 1-d and 2-d data).

    >>> Normalize([0.0, 1.0], [1.0, 2.0])(np.ones((2, 1, 1))).ravel().tolist()
    [1.0, 0.0]
    """

    def __init__(self, mean, std) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {std!r}")

    def __call__(self, x):
        a, as_tensor = _unwrap(x)
        a = _floating(a)
        mean, std = self.mean, self.std
        if a.ndim >= 3 and (mean.ndim == 1 or std.ndim == 1):
            mean, std = mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)
        try:
            out = ((a - mean) / std).astype(a.dtype, copy=False)
        except ValueError:
            raise ShapeError(f"Normalize: mean {self.mean.shape} and std {self.std.shape} do not "
                             f"fit an input of shape {a.shape}") from None
        return _wrap(out, as_tensor)


class _Fitted:
    """Base of the scalers: fit on training data (statistics over axis 0), apply to any data."""

    def fit(self, X) -> "_Fitted":
        a, _ = _unwrap(X)
        if a.ndim == 0 or a.shape[0] == 0:
            raise ShapeError(f"{type(self).__name__}.fit: need at least one sample, "
                             f"got shape {a.shape}")
        self._fit(_floating(a))
        return self

    def _check(self, a: np.ndarray) -> None:
        if not hasattr(self, "scale_"):
            raise NotFittedError(f"{type(self).__name__}: call fit(training data) before transform")
        if a.shape[1:] != self.scale_.shape and a.shape != self.scale_.shape:
            raise ShapeError(f"{type(self).__name__}: fitted on samples of shape "
                             f"{self.scale_.shape}, "
                             f"got input of shape {a.shape}")

    def transform(self, X):
        a, as_tensor = _unwrap(X)
        a = _floating(a)
        self._check(a)
        return _wrap(((a - self.offset_) * self.scale_ + self.shift_).astype(a.dtype), as_tensor)

    def inverse_transform(self, X):
        a, as_tensor = _unwrap(X)
        a = _floating(a)
        self._check(a)
        return _wrap(((a - self.shift_) / self.scale_ + self.offset_).astype(a.dtype), as_tensor)

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    __call__ = transform


class Standardize(_Fitted):
    """Zero mean and unit variance per feature, with the statistics of the data given to `fit`
    (population std; constant features are only centred).

    >>> s = Standardize().fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
    >>> s.mean_.tolist(), s(np.array([[4.0, 6.0]])).tolist()
    ([1.0, 5.0], [[3.0, 1.0]])
    """

    def _fit(self, a: np.ndarray) -> None:
        self.mean_ = a.mean(axis=0, dtype=np.float64)
        self.std_ = a.std(axis=0, dtype=np.float64)
        # A constant feature's mean can be off by an ulp, leaving a std of rounding noise that
        # would blow up on division: treat stds at that level as zero.
        noise = 64 * np.finfo(np.float64).eps * np.abs(a).max(axis=0)
        self.offset_ = self.mean_
        self.scale_ = 1.0 / np.where(self.std_ > noise, self.std_, 1.0)
        self.shift_ = np.zeros_like(self.mean_)


class MinMaxScale(_Fitted):
    """Map each feature's training range [min, max] onto `feature_range` (default [0, 1]);
    constant features map to the low end.

    >>> MinMaxScale().fit_transform(np.array([[1.0], [3.0], [2.0]])).ravel().tolist()
    [0.0, 1.0, 0.5]
    """

    def __init__(self, feature_range: Tuple[float, float] = (0.0, 1.0)) -> None:
        lo, hi = (float(v) for v in feature_range)
        if not lo < hi:
            raise ValueError(f"MinMaxScale: feature_range must be (low, high) with low < high, "
                             f"got {feature_range!r}")
        self.feature_range = (lo, hi)

    def _fit(self, a: np.ndarray) -> None:
        self.min_ = a.min(axis=0).astype(np.float64)
        self.max_ = a.max(axis=0).astype(np.float64)
        span = self.max_ - self.min_
        lo, hi = self.feature_range
        self.offset_ = self.min_
        self.scale_ = (hi - lo) / np.where(span > 0, span, 1.0)
        self.shift_ = np.full_like(self.min_, lo)


# ---- random transforms ---------------------------------------------------------------------
class _RandomTransform:
    def __init__(self, seed: Seed) -> None:
        if seed is None or isinstance(seed, np.random.Generator):
            self._rng = seed
        else:
            self._rng = np.random.default_rng(int(seed))

    def _gen(self) -> np.random.Generator:
        # The global generator is looked up per call: manual_seed replaces it.
        return self._rng if self._rng is not None else default_generator()

    def __call__(self, x):
        a, as_tensor = _unwrap(x)
        if a.ndim not in (2, 3, 4):
            raise ShapeError(f"{type(self).__name__}: expected an image (H, W) or (C, H, W) or a "
                             f"batch (N, C, H, W), got shape {a.shape}")
        a = _floating(a)
        batch = a if a.ndim == 4 else a[None] if a.ndim == 3 else a[None, None]
        out = self._apply(batch, self._gen())
        return _wrap(out.reshape(a.shape), as_tensor)


class GaussianNoise(_RandomTransform):
    """Add N(mean, std) noise to every pixel, then clip to `clip` = (low, high) if given."""

    def __init__(self, std: float = 0.1, mean: float = 0.0,
                 clip: Optional[Tuple[float, float]] = None, seed: Seed = None) -> None:
        super().__init__(seed)
        self.std, self.mean, self.clip = float(std), float(mean), clip

    def _apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = x + rng.normal(self.mean, self.std, x.shape).astype(x.dtype)
        return np.clip(out, *self.clip) if self.clip is not None else out


class RandomFlip(_RandomTransform):
    """Mirror each image left-right (`horizontal`) and/or upside down (`vertical`), each with
    probability p, drawn per image."""

    def __init__(self, horizontal: bool = True, vertical: bool = False, p: float = 0.5,
                 seed: Seed = None) -> None:
        super().__init__(seed)
        self.horizontal, self.vertical, self.p = bool(horizontal), bool(vertical), float(p)

    def _apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = x
        for on, axis in ((self.horizontal, 3), (self.vertical, 2)):
            if on:
                flip = (rng.random(x.shape[0]) < self.p)[:, None, None, None]
                out = np.where(flip, np.flip(out, axis), out)
        return out


class _Affine(_RandomTransform):
    """Geometric transforms: per image an inverse 2x2 matrix and a translation (in pixels)."""

    def __init__(self, interpolation: str, fill: Union[float, str], seed: Seed) -> None:
        super().__init__(seed)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"{type(self).__name__}: interpolation must be 'bilinear' or "
                             f"'nearest', got {interpolation!r}")
        if not (fill == "edge" or isinstance(fill, (int, float, np.integer, np.floating))):
            raise ValueError(f"{type(self).__name__}: fill must be a number or 'edge', got {fill!r}")
        self.interpolation, self.fill = interpolation, fill if fill == "edge" else float(fill)

    def _apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        inv, shift = self._params(x.shape[0], x.shape[2], x.shape[3], rng)
        return warp(x, inv, shift, self.interpolation, self.fill)


class RandomRotation(_Affine):
    """Rotate each image about its centre by an angle drawn uniformly from [-degrees, degrees]
    (or from the range (low, high)), anticlockwise as displayed."""

    def __init__(self, degrees: Union[float, Tuple[float, float]], interpolation: str = "bilinear",
                 fill: float = 0.0, seed: Seed = None) -> None:
        super().__init__(interpolation, fill, seed)
        self.degrees = (-abs(degrees), abs(degrees)) if np.ndim(degrees) == 0 else tuple(degrees)

    def _params(self, n, h, w, rng):
        theta = np.deg2rad(rng.uniform(*self.degrees, n))
        c, s = np.cos(theta), np.sin(theta)
        # Rows are (y, x) with y pointing down, so an anticlockwise turn on screen maps an output
        # point back by the clockwise (transposed) rotation.
        inv = np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], -2)
        return inv, np.zeros((n, 2))


class RandomShift(_Affine):
    """Translate each image by up to `max_shift` pixels along each axis (`max_shift_y` for rows
    if given); an int draws whole-pixel shifts, a float any shift in the range."""

    def __init__(self, max_shift: Union[int, float], max_shift_y: Union[int, float, None] = None,
                 interpolation: str = "bilinear", fill: float = 0.0, seed: Seed = None) -> None:
        super().__init__(interpolation, fill, seed)
        self.max_shift = max_shift
        self.max_shift_y = max_shift if max_shift_y is None else max_shift_y

    def _params(self, n, h, w, rng):
        def draw(m):
            if isinstance(m, (int, np.integer)):
                return rng.integers(-abs(m), abs(m) + 1, n).astype(np.float64)
            return rng.uniform(-abs(m), abs(m), n)
        shift = np.stack([draw(self.max_shift_y), draw(self.max_shift)], -1)
        return np.broadcast_to(np.eye(2), (n, 2, 2)), shift


class RandomZoom(_Affine):
    """Scale each image about its centre by a factor drawn uniformly from `scale` = (low, high),
    or from (1 - scale, 1 + scale) for a float (factors above 1 enlarge)."""

    def __init__(self, scale: Union[float, Tuple[float, float]] = 0.1,
                 interpolation: str = "bilinear", fill: float = 0.0, seed: Seed = None) -> None:
        super().__init__(interpolation, fill, seed)
        self.scale = (1 - scale, 1 + scale) if np.ndim(scale) == 0 else tuple(scale)
        if min(self.scale) <= 0:
            raise ValueError(f"RandomZoom: zoom factors must be positive, got range {self.scale}")

    def _params(self, n, h, w, rng):
        factor = rng.uniform(*self.scale, n)
        return np.eye(2) / factor[:, None, None], np.zeros((n, 2))


def warp(x: np.ndarray, inv: np.ndarray, shift: np.ndarray, interpolation: str = "bilinear",
         fill: Union[float, str] = 0.0) -> np.ndarray:
    """Resample a batch (N, C, H, W): output pixel p (as (row, col)) reads the input at
    inv[n] @ (p - centre - shift[n]) + centre; points outside the image read `fill`, a number,
    or with fill="edge" the nearest edge pixel (Keras's fill_mode="nearest": no dark border on
    images with a bright background, such as the sign-language photographs).

    >>> x = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> warp(x, np.eye(2)[None], np.array([[0.0, 1.0]]))[0, 0].tolist()
    [[0.0, 0.0], [0.0, 2.0]]
    >>> warp(x, np.eye(2)[None], np.array([[0.0, 1.0]]), fill="edge")[0, 0].tolist()
    [[0.0, 0.0], [2.0, 2.0]]
    """
    n, c, h, w = x.shape
    ft = np.float32 if x.dtype == np.float32 else np.float64
    whole_pixels = np.all(inv == np.eye(2)) and np.all(shift == np.round(shift))
    if interpolation == "bilinear" and whole_pixels:
        interpolation = "nearest"  # whole-pixel moves: one read per pixel, and exact
    # A one-pixel border of `fill` round the image: clamping coordinates into it replaces
    # per-read bounds tests, and reads outside the image land on fill.
    hp, wp = h + 2, w + 2
    if fill == "edge":
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    else:
        padded = np.full((n, c, hp, wp), fill, dtype=x.dtype)
        padded[:, :, 1:-1, 1:-1] = x
    a = np.asarray(inv, dtype=np.float64)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ty, tx = cy + shift[:, 0], cx + shift[:, 1]
    by = cy + 1 - a[:, 0, 0] * ty - a[:, 0, 1] * tx  # + 1: the padded frame
    bx = cx + 1 - a[:, 1, 0] * ty - a[:, 1, 1] * tx
    rows = np.arange(h, dtype=ft)[None, :, None]
    cols = np.arange(w, dtype=ft)[None, None, :]

    def coord(k, b):
        return (a[:, k, 0, None, None].astype(ft) * rows + a[:, k, 1, None, None].astype(ft) * cols
                + b[:, None, None].astype(ft))
    sy, sx = coord(0, by), coord(1, bx)
    # flat index of (image n, channel 0) plus each channel's offset: one gather reads all of C
    base = ((np.arange(n) * (c * hp * wp))[:, None, None, None]
            + (np.arange(c) * (hp * wp))[:, None, None])
    flat = padded.reshape(-1)
    if interpolation == "nearest":
        # floor(v + 0.5): halves round up, the same way on every platform
        iy = np.clip(np.floor(sy + 0.5), 0, h + 1).astype(np.intp)
        ix = np.clip(np.floor(sx + 0.5), 0, w + 1).astype(np.intp)
        return flat[base + (iy * wp + ix)[:, None]]
    sy, sx = np.clip(sy, 0, h + 1), np.clip(sx, 0, w + 1)
    y0, x0 = np.minimum(np.floor(sy), h), np.minimum(np.floor(sx), w)
    wy, wx = (sy - y0).astype(x.dtype)[:, None], (sx - x0).astype(x.dtype)[:, None]
    i00 = base + (y0.astype(np.intp) * wp + x0.astype(np.intp))[:, None]
    top = flat[i00] * (1 - wx) + flat[i00 + 1] * wx
    bottom = flat[i00 + wp] * (1 - wx) + flat[i00 + wp + 1] * wx
    return (top * (1 - wy) + bottom * wy).astype(x.dtype, copy=False)
