"""ag.data.transforms and PCA: values against direct numpy computations and per-pixel loops."""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from autograd.data import PCA
from autograd.data import transforms as T


def _images(min_side=1, max_side=7):
    """(N, C, H, W) float32/float64 batches, some of them non-contiguous views."""
    shape = st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(min_side, max_side),
                      st.integers(min_side, max_side))
    arrays = st.builds(lambda s, dt: (s, dt), shape, st.sampled_from([np.float32, np.float64]))

    @st.composite
    def build(draw):
        s, dt = draw(arrays)
        a = draw(hnp.arrays(dt, s, elements=st.floats(-4, 4, width=32)))
        if draw(st.booleans()):  # same values through a transposed view
            a = np.ascontiguousarray(a.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
        return a
    return build()


def _warp_loops(x, inv, shift, interpolation, fill):
    """Per-pixel reference of the inverse mapping, written plainly, and for "nearest" the
    pixels whose source point lies within rounding of a half-pixel (either neighbour is right)."""
    n, c, h, w = x.shape
    out = np.empty_like(x)
    tie = np.zeros(x.shape, bool)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    for b in range(n):
        for i in range(h):
            for j in range(w):
                dy, dx = i - cy - shift[b, 0], j - cx - shift[b, 1]
                sy = inv[b, 0, 0] * dy + inv[b, 0, 1] * dx + cy
                sx = inv[b, 1, 0] * dy + inv[b, 1, 1] * dx + cx

                def px(r, q):
                    return x[b, :, r, q] if 0 <= r < h and 0 <= q < w else np.full(c, fill)
                if interpolation == "nearest":
                    out[b, :, i, j] = px(int(np.floor(sy + 0.5)), int(np.floor(sx + 0.5)))
                    tie[b, :, i, j] = any(abs(v + 0.5 - np.round(v + 0.5)) < 1e-6 for v in (sy, sx))
                else:
                    r0, q0 = int(np.floor(sy)), int(np.floor(sx))
                    fy, fx = sy - r0, sx - q0
                    out[b, :, i, j] = ((1 - fy) * ((1 - fx) * px(r0, q0) + fx * px(r0, q0 + 1))
                                       + fy * ((1 - fx) * px(r0 + 1, q0) + fx * px(r0 + 1, q0 + 1)))
    return out, tie


@given(x=_images(), angle=st.floats(-180, 180), scale=st.floats(0.5, 2.0),
       shift=st.tuples(st.floats(-3, 3), st.floats(-3, 3)),
       interpolation=st.sampled_from(["bilinear", "nearest"]), fill=st.sampled_from([0.0, -1.0]))
@example(x=np.array([[[[0.0, 1.0, 1.0]]]], np.float32), angle=0.0, scale=1.9999999999999998,
         shift=(0.0, 0.0), interpolation="nearest", fill=0.0)  # a half-pixel tie on 1 of 3 pixels
def test_warp_matches_per_pixel_loops(x, angle, scale, shift, interpolation, fill):
    n = x.shape[0]
    t = np.deg2rad(angle)
    inv = np.broadcast_to(np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) / scale,
                          (n, 2, 2))
    sh = np.broadcast_to(np.array(shift), (n, 2))
    got = T.warp(x, inv, sh, interpolation, fill)
    want, tie = _warp_loops(x.astype(np.float64), inv, sh, interpolation, fill)
    assert got.dtype == x.dtype and got.shape == x.shape and got.flags.c_contiguous
    tol = 1e-4 if x.dtype == np.float32 else 1e-10
    # "nearest" at a source point within rounding of a half-pixel may pick either pixel
    np.testing.assert_allclose(got[~tie], want[~tie], atol=tol)


def test_rotation_by_quarter_turns_is_exact_on_square_images():
    x = np.arange(2 * 1 * 5 * 5, dtype=np.float32).reshape(2, 1, 5, 5)
    for interp in ("nearest", "bilinear"):
        r90 = T.RandomRotation((90, 90), interpolation=interp)(x)
        np.testing.assert_allclose(r90, np.rot90(x, 1, axes=(2, 3)), atol=1e-4)
        r180 = T.RandomRotation((180, 180), interpolation=interp)(x)
        np.testing.assert_allclose(r180, x[:, :, ::-1, ::-1], atol=1e-4)


def test_rotation_draws_angles_in_range_and_keeps_shape_and_dtype():
    x = np.zeros((200, 1, 41, 41), np.float32)
    x[:, 0, 2:20, 20] = 1.0  # a stick from the centre straight up
    out = T.RandomRotation(30, seed=0)(x)
    assert out.shape == x.shape and out.dtype == np.float32
    ys, xs = np.mgrid[0:41, 0:41]
    mass = out[:, 0].sum((1, 2))
    cy, cx = (out[:, 0] * ys).sum((1, 2)) / mass, (out[:, 0] * xs).sum((1, 2)) / mass
    angles = np.degrees(np.arctan2(20 - cy, cx - 20))  # 90 means straight up
    assert np.all(np.abs(angles - 90) <= 30.5)
    assert angles.min() < 63 and angles.max() > 117  # spread over the whole range
    np.testing.assert_allclose(mass, 18.0, rtol=0.05)  # bilinear rotation about keeps the mass


def _overlap(d, n):
    """Source and destination slices of a shift by d pixels along an axis of n."""
    return (slice(0, n - d), slice(d, n)) if d >= 0 else (slice(-d, n), slice(0, n + d))


def test_integer_shift_moves_pixels_exactly():
    x = np.random.default_rng(0).random((20, 2, 6, 7)).astype(np.float32)
    out = T.RandomShift(2, seed=1)(x)
    for img, res in zip(x, out):
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                want = np.zeros_like(img)
                ys, yd = _overlap(dy, 6)
                xs, xd = _overlap(dx, 7)
                want[:, yd, xd] = img[:, ys, xs]
                matches.append(np.array_equal(res, want))
        assert sum(matches) == 1


def test_zoom_about_the_centre():
    x = np.arange(25, dtype=np.float64).reshape(5, 5)
    out = T.RandomZoom((2.0, 2.0))(x)
    assert out.shape == (5, 5) and out[2, 2] == 12.0
    np.testing.assert_allclose(out[2], [11.0, 11.5, 12.0, 12.5, 13.0])
    np.testing.assert_array_equal(T.RandomZoom((1.0, 1.0))(x), x)
    small = T.RandomZoom((0.5, 0.5), fill=-1.0)(x)
    assert small[0, 0] == -1.0 and small[2, 2] == 12.0


def test_flip_probability_and_exactness():
    x = np.arange(400 * 6, dtype=np.float32).reshape(400, 1, 2, 3)
    np.testing.assert_array_equal(T.RandomFlip(p=1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomFlip(horizontal=False, vertical=True, p=1.0)(x),
                                  x[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomFlip(p=0.0)(x), x)
    out = T.RandomFlip(p=0.5, seed=0)(x)
    flipped = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    assert np.all(flipped | np.all(out == x, axis=(1, 2, 3))) and 150 < flipped.sum() < 250


def test_gaussian_noise_statistics_clip_and_seeds():
    x = np.full((100, 1, 10, 10), 0.5, np.float32)
    out = T.GaussianNoise(std=0.1, seed=0)(x)
    assert out.dtype == np.float32
    assert abs((out - x).mean()) < 0.005 and (out - x).std() == pytest.approx(0.1, rel=0.03)
    clipped = T.GaussianNoise(std=1.0, clip=(0.0, 1.0), seed=0)(x)
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    np.testing.assert_array_equal(T.GaussianNoise(0.1, seed=4)(x), T.GaussianNoise(0.1, seed=4)(x))
    noise = T.GaussianNoise(0.1)
    ag.manual_seed(2)
    a = noise(x)
    ag.manual_seed(2)
    np.testing.assert_array_equal(noise(x), a)
    assert not np.array_equal(noise(x), a)


def test_random_transforms_accept_single_images_and_tensors():
    img = np.random.default_rng(0).random((1, 8, 8)).astype(np.float32)
    for t in (T.RandomRotation(10, seed=0), T.RandomShift(1, seed=0), T.RandomZoom(0.1, seed=0),
              T.RandomFlip(seed=0), T.GaussianNoise(seed=0)):
        out = t(img)
        assert out.shape == (1, 8, 8) and out.dtype == np.float32
        assert t(img[0]).shape == (8, 8)
        as_tensor = t(ag.tensor(img))
        assert isinstance(as_tensor, ag.Tensor) and as_tensor.shape == (1, 8, 8)
    with pytest.raises(ag.ShapeError, match="RandomShift"):
        T.RandomShift(1)(np.zeros(5))


def test_normalize_per_channel_and_scalar():
    x = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 3.0)]).astype(np.float32)
    out = T.Normalize([1.0, 1.0], [1.0, 2.0])(x)
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_array_equal(out[1], 1.0)
    batch = np.stack([x, x])
    np.testing.assert_array_equal(T.Normalize([1.0, 1.0], [1.0, 2.0])(batch)[1], out)
    np.testing.assert_allclose(T.Normalize(0.1307, 0.3081)(x), (x - 0.1307) / 0.3081, rtol=1e-6)
    assert T.Normalize(0.5, 0.5)(np.zeros((1, 2, 2), np.uint8)).dtype == np.float32
    with pytest.raises(ag.ShapeError, match="Normalize"):
        T.Normalize([0, 0, 0], [1, 1, 1])(x)
    composed = T.Compose([T.Normalize(1.0, 2.0), T.Normalize(0.0, 0.5)])
    np.testing.assert_allclose(composed(x), (x - 1.0) / 2.0 / 0.5)


@given(train=hnp.arrays(np.float64, st.tuples(st.integers(2, 20), st.integers(1, 4)),
                        elements=st.integers(-800, 800).map(lambda v: v / 8)))
def test_standardize_fits_on_training_data(train):
    s = T.Standardize().fit(train)
    z = s(train)
    std = train.std(0)
    varying = std > 0  # on a 1/8 grid a varying feature has std >= 1/16
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(z.std(0)[varying], 1.0, rtol=1e-6)
    test = train[:1] + 1.0
    want = (test - train.mean(0)) / np.where(varying, std, 1)
    np.testing.assert_allclose(s.transform(test), want, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s.inverse_transform(s(test)), test, atol=1e-6)


def test_minmax_scale_fits_on_training_data():
    train = np.array([[0.0, 10.0, 5.0], [2.0, 30.0, 5.0], [1.0, 20.0, 5.0]])
    m = T.MinMaxScale().fit(train)
    np.testing.assert_allclose(m(train), [[0, 0, 0], [1, 1, 0], [0.5, 0.5, 0]])
    np.testing.assert_allclose(m(np.array([[4.0, 0.0, 6.0]])), [[2.0, -0.5, 1.0]])
    r = T.MinMaxScale((-1, 1)).fit(train)
    np.testing.assert_allclose(r(train)[:, 0], [-1, 1, 0])
    np.testing.assert_allclose(r.inverse_transform(r(train)), train)
    with pytest.raises(ag.data.NotFittedError, match="fit"):
        T.MinMaxScale()(train)
    with pytest.raises(ag.ShapeError, match=r"\(3,\)"):
        m(np.zeros((2, 4)))


# ---- PCA ----------------------------------------------------------------------------------
@given(X=hnp.arrays(np.float64, st.tuples(st.integers(3, 12), st.integers(1, 5)),
                    elements=st.floats(-10, 10)))
def test_pca_matches_the_covariance_eigendecomposition(X):
    cov = np.cov(X, rowvar=False).reshape(X.shape[1], X.shape[1])
    vals, vecs = np.linalg.eigh(cov)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    k = min(X.shape)
    p = PCA().fit(X)
    assert p.n_components_ == k
    np.testing.assert_allclose(p.explained_variance_, vals[:k], atol=1e-8 * (1 + vals[0]))
    if vals.sum() > 1e-6:
        np.testing.assert_allclose(p.explained_variance_ratio_.sum(), 1.0)
    comp = p.components_
    np.testing.assert_allclose(comp @ comp.T, np.eye(k), atol=1e-8)
    assert np.all(comp[np.arange(k), np.abs(comp).argmax(1)] > 0)  # the sign rule
    distinct = np.r_[True, np.diff(vals[:k]) < -1e-6 * (1 + vals[0])]
    distinct &= np.r_[np.diff(vals[:k]) < -1e-6 * (1 + vals[0]), True] | (np.arange(k) == k - 1)
    for i in np.flatnonzero(distinct & (vals[:k] > 1e-6)):
        assert abs(abs(comp[i] @ vecs[:, i]) - 1) < 1e-5
    np.testing.assert_allclose(p.inverse_transform(p.transform(X)), X, atol=1e-8)


def test_pca_reduces_and_reconstructs():
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((200, 2)) * [5.0, 2.0]
    X = (latent @ rng.standard_normal((2, 6)) + 0.01 * rng.standard_normal((200, 6)) + 3.0)
    X = X.astype(np.float32)
    p = PCA(2).fit(X)
    Z = p.transform(X)
    assert Z.shape == (200, 2) and Z.dtype == np.float32
    assert p.explained_variance_ratio_.sum() > 0.999
    np.testing.assert_allclose(p.inverse_transform(Z), X, atol=0.05)
    np.testing.assert_allclose(Z.var(0, ddof=1), p.explained_variance_, rtol=1e-4)
    assert PCA(0.999).fit(X).n_components_ == 2 and PCA(0.5).fit(X).n_components_ == 1
    assert isinstance(p.transform(ag.tensor(X)), ag.Tensor)
    with pytest.raises(ag.ShapeError, match="n_components=7"):
        PCA(7).fit(X)
    with pytest.raises(ag.ShapeError, match="expected 6 features"):
        p.transform(X[:, :5])
    with pytest.raises(ValueError):
        PCA(0)


def test_edge_fill_repeats_the_border_instead_of_a_constant():
    from autograd.data.transforms import RandomRotation, RandomShift, warp

    x = np.arange(1.0, 17.0, dtype=np.float32).reshape(1, 1, 4, 4)
    out = warp(x, np.eye(2)[None], np.array([[1.0, -2.0]]), fill="edge")[0, 0]
    r, c = np.clip(np.arange(4) - 1, 0, 3), np.clip(np.arange(4) + 2, 0, 3)
    np.testing.assert_array_equal(out, x[0, 0][np.ix_(r, c)])  # out[i, j] = x[i - 1, j + 2], clamped
    assert RandomShift(2, fill="edge", seed=0)(np.repeat(x, 8, axis=0)).min() >= 1.0  # never 0
    rotated = RandomRotation(30, fill="edge", seed=1)(np.full((4, 1, 6, 6), 0.7, np.float32))
    np.testing.assert_allclose(rotated, 0.7, rtol=1e-6)  # a flat image stays flat: no border
    with pytest.raises(ValueError, match="fill"):
        RandomShift(1, fill="wrap")
