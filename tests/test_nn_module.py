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
