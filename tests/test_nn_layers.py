"""Layers: forward against numpy formulas (and torch where importable), float64 gradcheck of
input and parameter gradients, train/eval behaviour, default initialisation, nn.init."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
from autograd import nn
from autograd.nn import functional as F

F64 = ag.float64


def _np(t):
    return np.asarray(t.detach().data)


def gradcheck_module(module, x):
    """gradcheck of module(x) with respect to x and every parameter."""
    names = [n for n, _ in module.named_parameters()]
    owners = {n: module.get_submodule(n.rpartition(".")[0]) if "." in n else module for n in names}

    def run(x, *params):
        saved = {n: owners[n]._parameters[n.rpartition(".")[2]] for n in names}
        try:
            for n, p in zip(names, params):
                owners[n]._parameters[n.rpartition(".")[2]] = p
            return module(x)
        finally:
            for n, p in saved.items():
                owners[n]._parameters[n.rpartition(".")[2]] = p

    leaves = [ag.tensor(np.asarray(x, np.float64), requires_grad=True)]
    leaves += [ag.tensor(_np(p).astype(np.float64), requires_grad=True) for p in module.parameters()]
    return ag.gradcheck(run, leaves, atol=1e-6, rtol=1e-5)


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ---- Linear and Conv2d -------------------------------------------------------------------------
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), st.booleans())
def test_linear_forward_and_gradients(n, fin, fout, bias):
    layer = nn.Linear(fin, fout, bias=bias, dtype=F64)
    x = _rand(n, fin)
    expected = x @ _np(layer.weight).T + (_np(layer.bias) if bias else 0)
    np.testing.assert_allclose(_np(layer(ag.tensor(x))), expected, rtol=1e-12)
    assert gradcheck_module(layer, x)


def test_linear_default_init_bounds_and_seed():
    ag.manual_seed(3)
    a = nn.Linear(100, 50)
    ag.manual_seed(3)
    b = nn.Linear(100, 50)
    np.testing.assert_array_equal(_np(a.weight), _np(b.weight))
    assert a.weight.shape == (50, 100) and a.weight.dtype == np.float32
    w = _np(a.weight)
    assert np.abs(w).max() <= 0.1 and np.abs(w).max() > 0.09  # U(+-1/sqrt(100))
    assert abs(w.std() - 0.1 / math.sqrt(3)) < 0.005
    assert np.abs(_np(a.bias)).max() <= 0.1


def test_linear_shape_error_names_layer_and_shapes():
    with pytest.raises(ag.ShapeError, match=r"Linear\(3, 2\).*\(4, 5\) float32 needs 3 features"):
        nn.Linear(3, 2)(ag.zeros(4, 5))
    with pytest.raises(ag.ShapeError, match=r"Linear\(3, 2\).*\(5,\)"):
        nn.Linear(3, 2)(np.zeros(5, np.float32))


def test_linear_uses_its_current_weight_and_bias():
    """forward reads the parameter table directly: a replaced parameter, a bias-free layer and
    a bias attribute set on one later are all honoured."""
    layer = nn.Linear(2, 1, dtype=F64)
    layer.weight = nn.Parameter(ag.tensor([[1.0, 2.0]], dtype=F64))
    layer.bias = nn.Parameter(ag.tensor([0.5], dtype=F64))
    x = ag.tensor([[3.0, 4.0]], dtype=F64)
    assert layer(x).tolist() == [[11.5]]
    free = nn.Linear(2, 1, bias=False, dtype=F64)
    free.weight = nn.Parameter(ag.tensor([[1.0, 2.0]], dtype=F64))
    assert free(x).tolist() == [[11.0]]
    free.bias = ag.tensor([1.0], dtype=F64)  # a plain attribute (not a Parameter): still added
    assert free(x).tolist() == [[12.0]]


def test_conv2d_forward_matches_naive_and_gradients():
    ag.manual_seed(0)
    conv = nn.Conv2d(2, 3, kernel_size=(3, 2), stride=(2, 1), padding=1, dtype=F64)
    x = _rand(2, 2, 5, 4)
    w, b = _np(conv.weight), _np(conv.bias)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    oh, ow = (5 + 2 - 3) // 2 + 1, (4 + 2 - 2) + 1
    expected = np.zeros((2, 3, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, 2 * i:2 * i + 3, j:j + 2]
            expected[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w) + b
    np.testing.assert_allclose(_np(conv(ag.tensor(x))), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck_module(conv, _rand(1, 2, 4, 3))
    bound = 1 / math.sqrt(2 * 3 * 2)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound


def test_pooling_layers():
    x = _rand(1, 2, 4, 4)
    out = _np(nn.MaxPool2d(2)(ag.tensor(x)))
    np.testing.assert_array_equal(out, x.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)))
    out = _np(nn.AvgPool2d(2)(ag.tensor(x)))
    np.testing.assert_allclose(out, x.reshape(1, 2, 2, 2, 2, 2).mean(axis=(3, 5)), rtol=1e-12)
    assert nn.MaxPool2d(3, stride=1, padding=1)(ag.tensor(x)).shape == (1, 2, 4, 4)


# ---- Flatten, Identity, Sequential -------------------------------------------------------------
def test_flatten_identity_sequential():
    x = ag.tensor(_rand(2, 3, 4, 5))
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Identity()(x) is x
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    y = ag.tensor(_rand(5, 3), dtype=ag.float32)
    np.testing.assert_array_equal(_np(seq(y)), _np(seq[2](seq[1](seq[0](y)))))
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and "3.weight" not in seq.state_dict()


def _unfused(modules, x):
    """The layers one after another, as a plain loop calls them (no Linear-ReLU fusion)."""
    for m in modules:
        x = m(x)
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lead", [(), (1,), (7,), (2, 3)])
@pytest.mark.parametrize("input_grad", [False, True])
def test_sequential_runs_linear_then_relu_as_one_node_with_the_same_bits(backend, dtype, lead, input_grad):
    """Values and every gradient bitwise those of the layers called one by one, on both
    backends, for 1-d to 3-d inputs, with and without a gradient for the input."""
    ag.manual_seed(3)
    seq = nn.Sequential(nn.Linear(6, 40, dtype=dtype), nn.ReLU(), nn.Linear(40, 5, dtype=dtype),
                        nn.ReLU(), nn.Linear(5, 3, bias=False, dtype=dtype), nn.ReLU())
    data = np.random.default_rng(1).standard_normal(lead + (6,)).astype(dtype)
    upstream = np.random.default_rng(2).standard_normal(lead + (3,)).astype(dtype)
    runs = []
    for run in (seq, lambda x: _unfused(seq, x)):
        seq.zero_grad()
        x = ag.tensor(data, requires_grad=input_grad)
        out = run(x)
        out.backward(ag.tensor(upstream))
        runs.append([out.detach().numpy()] + [p.grad.numpy() for p in seq.parameters()]
                    + ([x.grad.numpy()] if input_grad else []))
    fused, plain = runs
    assert len(fused) == 6 + input_grad
    for a, b in zip(fused, plain):
        assert a.dtype == b.dtype == dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert (fused[0] == 0).any() and (fused[0] > 0).any()  # the relus did cut something
    assert _node_names(seq(ag.tensor(data, requires_grad=True))) == ["LinearReLU"] * 3


def _node_names(out):
    """The names of the nodes from out back along each node's first recorded input."""
    names, node = [], out.grad_fn
    while node is not None:
        names.append(node.name())
        node = next((n for n, _ in node.next_functions if n is not None), None)
    return names


def test_sequential_fuses_only_exact_linear_then_relu_with_nothing_watching():
    """The pair, once; not a subclass that may change forward, not a ReLU after something else,
    and not while summary() records each layer's output."""
    class Shifted(nn.ReLU):
        def forward(self, x):
            return super().forward(x) + 1.0

    x = ag.tensor(_rand(4, 3), dtype=ag.float32)
    seq = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 5), Shifted(), nn.Tanh(), nn.ReLU())
    out = seq(x)
    assert _node_names(out) == ["Relu", "Tanh", "Add", "Relu", "Linear", "LinearReLU"]
    np.testing.assert_array_equal(_np(out), _np(_unfused(seq, x)))
    table = str(nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)).summary((784,)))
    assert "ReLU" in table and "407,050" in table


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float16])
def test_the_fused_pair_of_other_dtypes_gives_what_the_two_ops_give(backend, dtype):
    """Integer, bool (relu of bools is an int array) and float16 products, as relu(linear)."""
    from autograd.ops.linalg import linear_relu

    rng = np.random.default_rng(0)
    x, w, b = (ag.tensor((rng.integers(-2, 3, shape) > 0) if dtype is bool
                         else rng.integers(-2, 3, shape).astype(dtype)) for shape in ((4, 3), (5, 3), (5,)))
    want, got = ag.relu(F.linear(x, w, b)), linear_relu(x, w, b)
    assert got.dtype == want.dtype and got.shape == (4, 5)
    np.testing.assert_array_equal(_np(got), _np(want))
    assert (_np(want) == 0).any() and (_np(want) > 0).any()


def test_sequential_names_the_linear_layer_when_the_fused_pair_gets_a_bad_input():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    with pytest.raises(ag.ShapeError, match=r"Linear\(3, 4\): input of shape \(2, 5\) float32 needs 3 features"):
        seq(ag.zeros(2, 5))


# ---- Dropout -------------------------------------------------------------------------------------
def test_dropout_inverted_seeded_and_off_in_eval():
    x = ag.ones(1000, 100)
    drop = nn.Dropout(0.3)
    ag.manual_seed(5)
    a = _np(drop(x))
    ag.manual_seed(5)
    np.testing.assert_array_equal(a, _np(drop(x)))
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((a == 0).mean() - 0.3) < 0.01 and abs(a.mean() - 1) < 0.01
    drop.eval()
    assert drop(x) is x
    assert np.all(_np(nn.Dropout(1.0)(x)) == 0) and nn.Dropout(0.0)(x) is x


def test_dropout_gradient_is_the_mask():
    x = ag.ones(50, requires_grad=True)
    ag.manual_seed(2)
    y = nn.Dropout(0.5)(x)
    y.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), _np(y))


# ---- BatchNorm -------------------------------------------------------------------------------------
def _bn_reference(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


@pytest.mark.parametrize("cls, shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                        (nn.BatchNorm2d, (4, 3, 2, 5))])
def test_batchnorm_train_and_eval(cls, shape):
    bn = cls(3, momentum=0.2, dtype=F64)
    axes = (0,) + tuple(range(2, len(shape)))
    x1, x2 = _rand(*shape, seed=1) * 3 + 1, _rand(*shape, seed=2) - 2
    np.testing.assert_allclose(_np(bn(ag.tensor(x1))), _bn_reference(x1, axes, 1e-5), rtol=1e-10)
    bn(ag.tensor(x2))
    n = x1.size // 3
    rm = 0.8 * (0.8 * 0 + 0.2 * x1.mean(axis=axes)) + 0.2 * x2.mean(axis=axes)
    rv = 0.8 * (0.8 * 1 + 0.2 * x1.var(axis=axes) * n / (n - 1)) + 0.2 * x2.var(axis=axes) * n / (n - 1)
    np.testing.assert_allclose(_np(bn.running_mean), rm, rtol=1e-12)
    np.testing.assert_allclose(_np(bn.running_var), rv, rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 2
    bn.eval()
    shp = (1, 3) + (1,) * (len(shape) - 2)
    expected = (x1 - rm.reshape(shp)) / np.sqrt(rv.reshape(shp) + 1e-5)
    np.testing.assert_allclose(_np(bn(ag.tensor(x1))), expected, rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 2  # eval leaves the statistics alone


def test_batchnorm_momentum_none_is_a_cumulative_average():
    # momentum=None: factor 1/k at the k-th batch, so the running statistics are the plain
    # averages of the batch means and of the unbiased batch variances (the initial 0 and 1 drop out)
    bn = nn.BatchNorm1d(2, momentum=None, dtype=F64)
    batches = [[[1.0, 0.0], [3.0, 4.0]],     # means 2, 2; unbiased vars 2, 8
               [[0.0, 5.0], [0.0, 5.0]],     # means 0, 5; vars 0, 0
               [[4.0, -1.0], [10.0, 1.0]]]   # means 7, 0; vars 18, 2
    expected = [([2.0, 2.0], [2.0, 8.0]), ([1.0, 3.5], [1.0, 4.0]),
                ([3.0, 7 / 3], [20 / 3, 10 / 3])]
    for x, (mean, var) in zip(batches, expected):
        bn(ag.tensor(x, dtype=F64))
        np.testing.assert_allclose(_np(bn.running_mean), mean, rtol=1e-15)
        np.testing.assert_allclose(_np(bn.running_var), var, rtol=1e-15)
    assert int(bn.num_batches_tracked.item()) == 3
    bn.eval()
    np.testing.assert_allclose(_np(bn(ag.tensor([[3.0, 7 / 3 + 1.0]], dtype=F64))),
                               [[0.0, 1 / math.sqrt(10 / 3 + 1e-5)]], atol=1e-15)


def test_batchnorm_gradients_and_affine():
    bn = nn.BatchNorm2d(2, dtype=F64)
    bn.weight.data[...] = [1.5, -0.5]
    bn.bias.data[...] = [0.1, 0.2]
    assert gradcheck_module(bn, _rand(3, 2, 2, 2))
    bn.eval()
    assert gradcheck_module(bn, _rand(3, 2, 2, 2))
    plain = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert list(plain.parameters()) == [] and list(plain.state_dict()) == []
    plain.eval()  # without running stats, eval still uses the batch
    x = _rand(5, 4).astype(np.float32)
    np.testing.assert_allclose(_np(plain(ag.tensor(x))), _bn_reference(x, (0,), 1e-5), rtol=1e-4)


def test_batchnorm_matches_torch():
    torch = pytest.importorskip("torch")
    x = _rand(8, 3, 4, 4)
    ours, theirs = nn.BatchNorm2d(3, dtype=F64), torch.nn.BatchNorm2d(3).double()
    for _ in range(3):
        np.testing.assert_allclose(_np(ours(ag.tensor(x))),
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12)
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(_np(ours(ag.tensor(x))), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10)


def test_batchnorm_errors():
    with pytest.raises(ag.ShapeError, match=r"BatchNorm2d\(3\).*\(2, 3, 4\)"):
        nn.BatchNorm2d(3)(ag.zeros(2, 3, 4))
    with pytest.raises(ag.ShapeError, match="more than 1 value"):
        nn.BatchNorm1d(3)(ag.zeros(1, 3))


# ---- activations -----------------------------------------------------------------------------------
ACTIVATIONS = [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh(), np.tanh),
    (nn.Softmax(axis=1), lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
    (nn.LogSoftmax(dim=-1), lambda x: x - np.log(np.exp(x).sum(axis=-1, keepdims=True))),
    (nn.PReLU(), lambda x: np.where(x > 0, x, 0.25 * x)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.ELU(0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x))),
]


@pytest.mark.parametrize("layer, reference", ACTIVATIONS, ids=lambda v: type(v).__name__)
def test_activation_forward_and_gradients(layer, reference):
    x = _rand(3, 4) + 0.01  # no exact zeros: kinks are tested in test_kinks.py
    np.testing.assert_allclose(_np(layer(ag.tensor(x))), reference(x), rtol=1e-12)
    assert gradcheck_module(layer, x)


def test_prelu_per_channel_learns_its_slopes():
    layer = nn.PReLU(3, init=0.1, dtype=F64)
    layer.weight.data[...] = [0.1, 0.2, 0.3]
    x = _rand(2, 3, 4)
    expected = np.where(x > 0, x, np.array([0.1, 0.2, 0.3])[:, None] * x)
    np.testing.assert_allclose(_np(layer(ag.tensor(x))), expected, rtol=1e-12)
    assert gradcheck_module(layer, x)
    layer(ag.tensor(x)).sum().backward()
    np.testing.assert_allclose(_np(layer.weight.grad), np.where(x > 0, 0, x).sum(axis=(0, 2)))
    with pytest.raises(ag.ShapeError, match="prelu"):
        layer(ag.zeros(2, 4))


def test_sign_has_zero_gradient():
    x = ag.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    y = nn.Sign()(x)
    np.testing.assert_array_equal(_np(y), [-1, 0, 1])
    (y * 5).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [0, 0, 0])


# ---- nn.init ---------------------------------------------------------------------------------------
def test_init_fans_and_gains():
    w = ag.zeros(64, 16, 3, 3)
    assert nn.init.calculate_fan_in_and_fan_out(w) == (144, 576)
    assert nn.init.calculate_gain("relu") == math.sqrt(2)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    assert nn.init.calculate_gain("tanh") == 5 / 3
    with pytest.raises(ValueError):
        nn.init.calculate_fan_in_and_fan_out(ag.zeros(3))


@pytest.mark.parametrize("fn, kwargs, kind, scale", [
    (nn.init.xavier_uniform_, dict(gain=2.0), "uniform", 2.0 * math.sqrt(6 / (200 + 300))),
    (nn.init.xavier_normal_, dict(), "normal", math.sqrt(2 / (200 + 300))),
    (nn.init.kaiming_uniform_, dict(nonlinearity="relu"), "uniform", math.sqrt(6 / 200)),
    (nn.init.kaiming_normal_, dict(mode="fan_out", nonlinearity="relu"), "normal",
     math.sqrt(2 / 300)),
    (nn.init.uniform_, dict(a=-0.5, b=0.5), "uniform", 0.5),
    (nn.init.normal_, dict(std=0.3), "normal", 0.3),
])
def test_init_distributions(fn, kwargs, kind, scale):
    w = ag.zeros(300, 200, dtype=F64)
    ag.manual_seed(11)
    fn(w, **kwargs)
    a = _np(w)
    if kind == "uniform":
        assert np.abs(a).max() <= scale and np.abs(a).max() > 0.99 * scale
        assert abs(a.std() - scale / math.sqrt(3)) < 0.01 * scale
    else:
        assert abs(a.std() - scale) < 0.01 * scale and abs(a.mean()) < 0.01 * scale
    ag.manual_seed(11)
    np.testing.assert_array_equal(_np(fn(ag.zeros(300, 200, dtype=F64), **kwargs)), a)


def test_init_constants():
    w = ag.zeros(2, 3)
    np.testing.assert_array_equal(_np(nn.init.ones_(w)), np.ones((2, 3)))
    np.testing.assert_array_equal(_np(nn.init.constant_(w, 0.5)), np.full((2, 3), 0.5))
    np.testing.assert_array_equal(_np(nn.init.zeros_(w)), np.zeros((2, 3)))
