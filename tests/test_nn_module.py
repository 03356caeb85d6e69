"""Module: registration, traversal, modes, state dicts, repr and summary."""
import numpy as np
import pytest

import autograd as ag
from autograd import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.scale = nn.Parameter(ag.ones(3))
        self.note = "not a parameter"
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        return self.bn(self.fc(x)) * self.scale


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(512, 10))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(576, 64),
        nn.ReLU(), nn.Linear(64, 10))


def test_registration_and_traversal():
    b = Block()
    assert [n for n, _ in b.named_parameters()] == ["scale", "fc.weight", "fc.bias", "bn.weight",
                                                    "bn.bias"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in b.parameters())
    assert [type(m).__name__ for m in b.children()] == ["Linear", "BatchNorm1d"]
    assert [type(m).__name__ for m in b.modules()] == ["Block", "Linear", "BatchNorm1d"]
    assert b.note == "not a parameter"
    assert list(b.state_dict()) == ["scale", "fc.weight", "fc.bias", "bn.weight", "bn.bias",
                                    "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    b.fc = nn.Identity()  # reassignment replaces the registered submodule
    assert "fc.weight" not in dict(b.named_parameters())


def test_assigning_a_plain_tensor_to_a_parameter_is_an_error():
    # as torch: only a Parameter or None may replace a registered parameter
    lin = nn.Linear(2, 3)
    weight = lin.weight
    with pytest.raises(TypeError, match=r"cannot assign 'Tensor' as parameter 'weight' "
                                        r"\(nn.Parameter or None expected\)"):
        lin.weight = ag.zeros(3, 2)
    assert lin.weight is weight and [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    lin.weight = None  # keeps the name registered, with no value
    assert lin.weight is None and list(lin._parameters) == ["weight", "bias"]
    assert [n for n, _ in lin.named_parameters()] == ["bias"] and list(lin.state_dict()) == ["bias"]
    lin.weight = nn.Parameter(ag.ones(3, 2))
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]


def test_assigning_a_non_module_to_a_submodule_is_an_error():
    b = Block()
    with pytest.raises(TypeError, match=r"cannot assign 'int' as child module 'fc' "
                                        r"\(nn.Module or None expected\)"):
        b.fc = 3
    assert isinstance(b.fc, nn.Linear)
    b.fc = None
    assert b.fc is None and "fc" in b._modules and [type(m).__name__ for m in b.children()] == [
        "BatchNorm1d"]
    b.fc = nn.Parameter(ag.zeros(1))  # a Parameter replaces a submodule, as in torch
    assert "fc" not in b._modules and "fc" in dict(b.named_parameters())


def test_assigning_a_non_tensor_to_a_buffer_is_an_error():
    bn = nn.BatchNorm1d(3)
    running_mean = bn.running_mean
    for value, kind in [(0, "int"), (np.zeros(3), "ndarray"), ([0.0] * 3, "list")]:
        with pytest.raises(TypeError, match=rf"^BatchNorm1d: cannot assign '{kind}' as buffer "
                                            r"'running_mean' \(Tensor or None expected\)$"):
            bn.running_mean = value
    assert bn.running_mean is running_mean and "running_mean" in bn.state_dict()
    replacement = ag.ones(3)
    bn.running_mean = replacement  # a Tensor replaces the buffer, keeping its place
    assert bn.running_mean is replacement and list(bn._buffers)[0] == "running_mean"
    bn.running_mean = None  # keeps the name registered, with no value, as torch
    assert "running_mean" in bn._buffers and "running_mean" not in bn.state_dict()
    bn.running_mean = nn.Identity()  # as torch, a Module replaces a buffer
    assert "running_mean" not in bn._buffers and "running_mean" in bn._modules
    with pytest.raises(TypeError, match=r"^Block: cannot assign 'float' as buffer 'stats' "
                                        r"\(Tensor or None expected\)$"):
        Block().register_buffer("stats", 1.5)


def test_shared_parameter_listed_once():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, a)
    assert len(list(seq.parameters())) == 2


def test_train_eval_propagate_and_zero_grad():
    b = Block()
    b.eval()
    assert not any(m.training for m in b.modules())
    b.train()
    assert all(m.training for m in b.modules())
    b(ag.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in b.parameters())
    b.zero_grad()
    assert all(p.grad is None for p in b.parameters())


def test_state_dict_round_trip_and_copies():
    ag.manual_seed(0)
    a, b = Block(), Block()
    a(ag.randn(6, 4))  # moves a's running statistics
    state = a.state_dict()
    state["fc.weight"][...] = 7  # a copy: the module is untouched
    assert not np.all(a.fc.weight.detach().numpy() == 7)
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
    x = ag.randn(3, 4)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())


def test_load_state_dict_errors_name_key_and_shapes():
    m = nn.Linear(3, 2)
    state = m.state_dict()
    state["weight"] = np.zeros((2, 4), np.float32)
    with pytest.raises(ag.ShapeError, match=r"'weight'.*\(2, 4\).*\(2, 3\)"):
        m.load_state_dict(state)
    with pytest.raises(KeyError, match="bias"):
        m.load_state_dict({"weight": np.zeros((2, 3))})
    missing, unexpected = m.load_state_dict({"weight": np.ones((2, 3)), "extra": 1},
                                            strict=False)
    assert missing == ["bias"] and unexpected == ["extra"]
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones((2, 3)))


def test_load_state_dict_errors_are_runtime_errors_as_in_torch():
    """torch raises RuntimeError for a strict key mismatch and for a size mismatch; ours are
    also KeyError and ShapeError (ValueError), so either except clause catches them."""
    m = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="missing keys \\['bias'\\]") as key_error:
        m.load_state_dict({"weight": np.zeros((2, 3))})
    assert isinstance(key_error.value, KeyError) and isinstance(key_error.value, ag.StateDictError)
    with pytest.raises(RuntimeError, match="unexpected keys \\['extra'\\]"):
        m.load_state_dict({**m.state_dict(), "extra": np.zeros(1)})
    with pytest.raises(RuntimeError, match="'bias'") as shape_error:
        m.load_state_dict({**m.state_dict(), "bias": np.zeros(3)})
    assert isinstance(shape_error.value, ag.ShapeError) and isinstance(shape_error.value, ValueError)
    torch = pytest.importorskip("torch")
    t = torch.nn.Linear(3, 2)
    for bad in ({"weight": torch.zeros(2, 3)}, {**t.state_dict(), "bias": torch.zeros(3)}):
        with pytest.raises(RuntimeError):
            t.load_state_dict(bad)


def two_names(nn=nn):
    """One Linear registered as `a`, as `b` and inside `seq`, next to a Linear of its own
    (with nn=torch.nn, the same model in torch)."""
    m, shared = nn.Module(), nn.Linear(2, 2)
    m.a = m.b = shared
    m.seq = nn.Sequential(shared, nn.Linear(2, 1))
    return m


SHARED_KEYS = ["a.weight", "a.bias", "b.weight", "b.bias", "seq.0.weight", "seq.0.bias",
               "seq.1.weight", "seq.1.bias"]


def test_state_dict_lists_a_module_under_each_of_its_names():
    """As torch: state_dict and load_state_dict walk every name of a submodule (named_parameters
    lists a shared one once); strict loading takes what state_dict gave, wants every name, and
    the value under the last name wins."""
    m = two_names()
    assert list(m.state_dict()) == SHARED_KEYS
    assert [n for n, _ in m.named_parameters()] == ["a.weight", "a.bias", "seq.1.weight",
                                                    "seq.1.bias"]
    assert m.load_state_dict(m.state_dict()) == ([], [])
    only_a = {k: v for k, v in m.state_dict().items() if k.startswith("a.")}
    with pytest.raises(RuntimeError, match=r"missing keys \['b.weight', 'b.bias', 'seq.0.weight'"):
        m.load_state_dict(only_a)
    assert m.load_state_dict(only_a, strict=False) == (SHARED_KEYS[2:], [])
    state = m.state_dict()
    for i, key in enumerate(("a.weight", "b.weight", "seq.0.weight")):
        state[key][...] = i
    m.load_state_dict(state)
    np.testing.assert_array_equal(m.a.weight.detach().numpy(), np.full((2, 2), 2, np.float32))


def test_state_dict_of_a_module_under_two_names_matches_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = two_names(), two_names(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == SHARED_KEYS
    only_a = {k: v for k, v in theirs.state_dict().items() if k.startswith("a.")}
    missing, unexpected = theirs.load_state_dict(only_a, strict=False)
    assert ours.load_state_dict(only_a, strict=False) == (missing, unexpected)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy())


def test_module_state_dict_saves_and_loads(tmp_path):
    ag.manual_seed(1)
    a, b = Block(), Block()
    ag.save(a.state_dict(), tmp_path / "m.ag")
    b.load_state_dict(ag.load(tmp_path / "m.ag"))
    for va, vb in zip(a.state_dict().values(), b.state_dict().values()):
        np.testing.assert_array_equal(va, vb)


def test_repr_is_readable():
    text = repr(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    assert text == ("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                    "  (1): ReLU()\n)")


def test_summary_of_the_seeds_mlp():
    s = mlp().summary((1, 1, 28, 28))
    text = str(s)
    assert s.total_params == 407_050 and s.trainable_params == 407_050
    assert "Total params: 407,050" in text and repr(s) == text
    assert "(None, 512)" in text and "401,920" in text and "5,130" in text
    assert [row[2] for row in s.rows] == [0, 401_920, 0, 0, 5_130]


def test_summary_of_the_seeds_cnn():
    model = cnn()
    s = model.summary((1, 1, 28, 28))
    assert s.total_params == 93_322
    assert "Total params: 93,322" in str(s)
    assert s.rows[5][1] == "(None, 64, 5, 5)" and s.rows[8][1] == "(None, 576)"
    assert model.training  # summary restores the mode


def test_summary_counts_frozen_parameters():
    m = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    m[0].requires_grad_(False)
    s = m.summary((2, 3))
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (21, 5, 16)
    assert "Non-trainable params: 16" in str(s)


def test_setattr_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = 1

    with pytest.raises(AttributeError, match="super"):
        Bad()


def test_to_casts_parameters_and_buffers():
    b = Block().double()
    assert all(v.dtype == np.float64 for k, v in b.state_dict().items()
               if k != "bn.num_batches_tracked")
    assert b.bn.num_batches_tracked.dtype == np.int64
    out = b(ag.randn(4, 4, dtype=ag.float64))
    assert out.dtype == np.float64
    assert all(p.dtype == np.float32 for p in b.float().parameters())


def test_deepcopy_and_zero_grad_in_place():
    import copy

    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    twin = copy.deepcopy(m)
    assert isinstance(twin[0].weight, nn.Parameter)
    assert not np.shares_memory(twin[0].weight.data, m[0].weight.data)
    m(ag.randn(4, 3)).sum().backward()
    grad = m[0].weight.grad
    m.zero_grad(set_to_none=False)
    assert m[0].weight.grad is grad and not np.asarray(grad.data).any()


def test_summary_lists_a_container_with_its_own_parameters():
    s = Block().summary((2, 4))
    assert [row[0] for row in s.rows] == ["fc (Linear)", "bn (BatchNorm1d)", "block (Block)"]
    assert [row[2] for row in s.rows] == [15, 6, 3] and s.total_params == 24


# ---- register_buffer, register_parameter, add_module: torch's name checks -----------------------
def _holder():
    m = nn.Module()
    m.attr = 3
    m.p = nn.Parameter(ag.zeros(1))
    m.sub = nn.Linear(1, 1)
    m.register_buffer("b", ag.zeros(1))
    return m


REGISTER = {  # method: (a valid value, the table that may already hold the name)
    "register_buffer": (lambda: ag.ones(1), "b"),
    "register_parameter": (lambda: nn.Parameter(ag.ones(1)), "p"),
    "add_module": (lambda: nn.Identity(), "sub"),
}
KIND = {"register_buffer": "buffer", "register_parameter": "parameter", "add_module": "module"}


@pytest.mark.parametrize("method", list(REGISTER))
@pytest.mark.parametrize("name, error, message", [
    (1, TypeError, r"name should be a string, got int 1"),
    (None, TypeError, r"name should be a string, got NoneType"),
    ("", KeyError, r"name can\W+t be empty string"),
    ("a.b", KeyError, r"name can\W+t contain \W+.\W+, got \W+a\.b"),
    ("attr", KeyError, r"attribute 'attr' already exists"),  # a plain attribute
    ("forward", KeyError, r"attribute 'forward' already exists"),  # a method
    ("training", KeyError, r"attribute 'training' already exists"),
])
def test_register_rejects_names_as_torch(method, name, error, message):
    m = _holder()
    before = {t: dict(getattr(m, t)) for t in ("_parameters", "_buffers", "_modules")}
    value, _ = REGISTER[method]
    with pytest.raises(error, match=rf"Module.{method}: .*{message}"):
        getattr(m, method)(name, value())
    assert {t: dict(getattr(m, t)) for t in before} == before and m.attr == 3


@pytest.mark.parametrize("method", list(REGISTER))
def test_register_rejects_a_name_held_by_another_kind(method):
    m = _holder()
    value, own = REGISTER[method]
    for other in {"b", "p", "sub"} - {own}:
        held = getattr(m, other)
        with pytest.raises(KeyError, match=rf"attribute '{other}' already exists"):
            getattr(m, method)(other, value())
        assert getattr(m, other) is held
    replacement = value()  # re-registering a name of its own kind replaces it, in place
    getattr(m, method)(own, replacement)
    assert getattr(m, own) is replacement


def test_register_none_keeps_the_name():
    m = nn.Module()
    m.register_buffer("n", None)
    m.register_parameter("q", None)
    m.add_module("m", None)
    assert m.n is None and m.q is None and m.m is None
    assert list(m.state_dict()) == [] and list(m.named_buffers()) == []
    with pytest.raises(KeyError, match="attribute 'n' already exists"):
        m.register_parameter("n", None)  # the name is taken even with no value, as torch


def test_register_rejects_values_of_the_wrong_type_as_torch():
    m = nn.Module()
    with pytest.raises(TypeError, match=r"^Module: cannot assign 'ndarray' as buffer 'x' "
                                        r"\(Tensor or None expected\)$"):
        m.register_buffer("x", np.zeros(2))
    with pytest.raises(TypeError, match=r"^Module: cannot assign 'Tensor' as parameter 'x' "
                                        r"\(nn.Parameter or None expected\)$"):
        m.register_parameter("x", ag.zeros(2))  # a plain tensor: not silently an attribute
    with pytest.raises(TypeError, match=r"^Module: cannot assign 'int' as child module 'x' "
                                        r"\(nn.Module or None expected\)$"):
        m.add_module("x", 3)
    assert not hasattr(m, "x") and not m._parameters and not m._buffers and not m._modules


def test_register_before_init_is_a_clear_error():
    class Early(nn.Module):
        def __init__(self):
            self.register_buffer("b", ag.zeros(1))

    with pytest.raises(AttributeError, match=r"Early: call super\(\).__init__\(\) before "
                                             r"registering a buffer"):
        Early()


def test_setattr_with_a_parameter_takes_register_parameters_checks():
    m = nn.Module()
    with pytest.raises(KeyError, match="attribute 'forward' already exists"):
        m.forward = nn.Parameter(ag.zeros(1))
    m.w = 3  # a plain attribute is replaced by a parameter, as torch
    m.w = nn.Parameter(ag.zeros(1))
    assert "w" not in m.__dict__ and [n for n, _ in m.named_parameters()] == ["w"]


def test_non_persistent_buffers_are_not_saved_nor_expected():
    m = nn.Module()
    m.register_buffer("saved", ag.ones(2))
    m.register_buffer("cache", ag.full((2,), 3.0), persistent=False)
    assert [n for n, _ in m.named_buffers()] == ["saved", "cache"]
    assert list(m.state_dict()) == ["saved"]
    m.load_state_dict({"saved": np.zeros(2)})  # strict: "cache" is not missing
    with pytest.raises(KeyError, match=r"unexpected keys \['cache'\]"):
        m.load_state_dict({"saved": np.zeros(2), "cache": np.zeros(2)})
    np.testing.assert_array_equal(m.cache.numpy(), [3.0, 3.0])  # the failed load left it
    m.cache = ag.zeros(3)  # assigning a Tensor keeps it a non-persistent buffer
    assert list(m.state_dict()) == ["saved"] and m.cache.shape == (3,)
    m.register_buffer("cache", ag.zeros(3))  # re-registered persistent: saved again
    assert list(m.state_dict()) == ["saved", "cache"]
    m.register_buffer("cache", ag.zeros(3), persistent=False)
    m.cache = nn.Parameter(ag.ones(1))  # a parameter now: saved, as torch
    assert list(m.state_dict()) == ["cache", "saved"]


def test_a_deleted_buffer_can_be_registered_again():
    m = nn.Module()
    m.register_buffer("b", ag.ones(2), persistent=False)
    del m.b
    assert not hasattr(m, "b") and "b" not in m._buffers
    m.register_buffer("b", ag.zeros(3))  # persistent this time: no stale non-persistence
    assert m.b.shape == (3,) and list(m.state_dict()) == ["b"]
    del m.b
    m.b = ag.zeros(1)  # as torch: after del, a plain assignment is a plain attribute
    assert "b" not in m._buffers and list(m.state_dict()) == []


def _tied():
    a = nn.Linear(1, 1)
    s = nn.Sequential(a, a)
    s.register_buffer("b1", ag.zeros(1))
    a.register_buffer("ab", ag.zeros(1))
    s.tied = a.weight
    return s


def test_named_members_take_torchs_arguments():
    s = _tied()
    names = lambda pairs: [n for n, _ in pairs]  # noqa: E731
    assert names(s.named_parameters()) == ["tied", "0.bias"]
    assert names(s.named_parameters(remove_duplicate=False)) == [
        "tied", "0.weight", "0.bias", "1.weight", "1.bias"]
    assert names(s.named_parameters(prefix="m", recurse=False)) == ["m.tied"]
    assert names(s.named_parameters("m")) == ["m.tied", "m.0.bias"]
    assert names(s.named_buffers()) == ["b1", "0.ab"]
    assert names(s.named_buffers(remove_duplicate=False)) == ["b1", "0.ab", "1.ab"]
    assert names(s.named_buffers("x", False)) == ["x.b1"]
    assert [p is s.tied for p in s.parameters(recurse=False)] == [True]
    assert [b is s.b1 for b in s.buffers(False)] == [True] and len(list(s.buffers())) == 2
    assert names(s.named_modules(remove_duplicate=False)) == ["", "0", "1"]
    assert names(s.named_modules(prefix="x")) == ["x", "x.0"]


def test_named_members_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _tied(), torch.nn.Sequential(*[torch.nn.Linear(1, 1)] * 2)
    theirs.register_buffer("b1", torch.zeros(1))
    theirs[0].register_buffer("ab", torch.zeros(1))
    theirs.tied = theirs[0].weight
    for method in ("named_parameters", "named_buffers"):
        for kwargs in ({}, {"remove_duplicate": False}, {"recurse": False}, {"prefix": "m"}):
            assert ([n for n, _ in getattr(ours, method)(**kwargs)]
                    == [n for n, _ in getattr(theirs, method)(**kwargs)]), (method, kwargs)
    import inspect

    for method in ("register_buffer", "register_parameter", "add_module", "named_parameters",
                   "named_buffers", "parameters", "buffers", "named_modules"):
        ours_params = inspect.signature(getattr(nn.Module, method)).parameters
        theirs_params = inspect.signature(getattr(torch.nn.Module, method)).parameters
        assert [(p.name, p.default) for p in ours_params.values()] == [
            (p.name, p.default) for p in theirs_params.values()], method
