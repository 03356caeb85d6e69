"""The error hierarchy and the messages users see: each names the op, the shapes, the limits."""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import autograd as ag
from autograd import (AnomalyError, AutogradError, DTypeError, GradcheckError, GraphError,
                      ShapeError)


# ---- hierarchy -----------------------------------------------------------------------------
@pytest.mark.parametrize("cls, builtin", [
    (ShapeError, ValueError), (DTypeError, TypeError), (GraphError, RuntimeError),
    (GradcheckError, AssertionError), (AnomalyError, FloatingPointError),
])
def test_hierarchy(cls, builtin):
    assert issubclass(cls, AutogradError) and issubclass(cls, builtin)
    assert issubclass(AutogradError, Exception) and not issubclass(AutogradError, builtin)
    with pytest.raises(builtin):  # users catching the builtin catch ours
        raise cls("x")


def test_errors_are_distinct():
    classes = [ShapeError, DTypeError, GraphError, GradcheckError, AnomalyError]
    for a in classes:
        for b in classes:
            assert issubclass(a, b) == (a is b)


def test_exported_from_errors_module():
    from autograd import errors

    assert errors.ShapeError is ag.ShapeError and errors.AutogradError is ag.AutogradError


# ---- shape errors --------------------------------------------------------------------------
def test_matmul_message_exact():
    with pytest.raises(ShapeError) as info:
        ag.tensor(np.ones((3, 4))) @ ag.tensor(np.ones((5, 6)))
    assert str(info.value) == "matmul: shapes (3, 4) and (5, 6) are not aligned: 4 (dim 1) != 5 (dim 0)"


def test_matmul_other_mismatches():
    with pytest.raises(ShapeError, match=r"^matmul: shapes \(3,\) and \(4,\) are not aligned"):
        ag.ones(3) @ ag.ones(4)
    with pytest.raises(ShapeError, match=r"^matmul: batch dimensions of \(2, 3, 4\) and \(5, 4, 2\)"):
        ag.ones(2, 3, 4) @ ag.ones(5, 4, 2)
    with pytest.raises(ShapeError, match=r"^matmul: .*\(\)"):
        ag.ones(3, 4) @ ag.tensor(1.0)


def test_reshape_wrong_size():
    with pytest.raises(ShapeError) as info:
        ag.ones(3, 4).reshape(5)
    assert str(info.value) == "reshape: cannot reshape a tensor of shape (3, 4) (12 elements) into shape (5,)"
    with pytest.raises(ShapeError, match=r"^reshape: .*\(2, 3\).*\(-1, 5\)"):
        ag.ones(2, 3).reshape(-1, 5)


def test_broadcast_failure_in_add_names_both_shapes():
    with pytest.raises(ValueError) as info:
        ag.ones(3, 4) + ag.ones(5)
    assert re.search(r"\(3, ?4\)", str(info.value)) and "(5,)" in str(info.value)


@pytest.mark.parametrize("name, fn", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("pow", lambda a, b: a ** b), ("maximum", ag.maximum),
    ("where", lambda a, b: ag.where(a > 0, a, b)),
])
def test_broadcast_failure_is_shape_error_naming_op(name, fn):
    with pytest.raises(ShapeError) as info:
        fn(ag.ones(3, 4), ag.ones(5))
    message = str(info.value).lower()
    assert name in message and "(3, 4)" in message and "(5,)" in message


def test_comparison_broadcast_failure():
    with pytest.raises(ShapeError, match=r"^less: shapes \(3, 4\) and \(2,\) do not broadcast"):
        ag.ones(3, 4) < ag.ones(2)


@pytest.mark.parametrize("call, op, axis", [
    (lambda t: t.sum(axis=2), "sum", 2), (lambda t: t.sum(axis=-3), "sum", -3),
    (lambda t: t.sum(dim=5), "sum", 5), (lambda t: t.mean(axis=3), "mean", 3),
    (lambda t: t.max(axis=2), "max", 2), (lambda t: t.var(axis=2), "var", 2),
    (lambda t: t.logsumexp(axis=2), "logsumexp", 2), (lambda t: ag.softmax(t, axis=2), "softmax", 2),
    (lambda t: t.squeeze(5), "squeeze", 5),
])
def test_axis_out_of_range(call, op, axis):
    with pytest.raises(ShapeError) as info:
        call(ag.ones(3, 4))
    assert str(info.value) == f"{op}: axis {axis} is out of range for a tensor with 2 dimensions"


def test_repeated_axis():
    with pytest.raises(ShapeError, match=r"^max: repeated axis in \(0, 0\)"):
        ag.ones(3).max(axis=(0, 0))


def test_argmax_axis_out_of_range():
    with pytest.raises(ShapeError, match="argmax: axis 3"):
        ag.ones(2, 3).argmax(axis=3)


def test_concatenate_and_stack_mismatch():
    with pytest.raises(ShapeError) as info:
        ag.cat([ag.ones(3, 4), ag.ones(3, 5)])
    assert str(info.value) == "concatenate: shapes (3, 4), (3, 5) differ outside axis 0"
    with pytest.raises(ShapeError, match=r"^stack: .*\(3,\), \(4,\)"):
        ag.stack([ag.ones(3), ag.ones(4)])
    with pytest.raises(ValueError, match="at least one"):
        ag.cat([])


def test_split_sizes_not_adding_up():
    with pytest.raises(ShapeError) as info:
        ag.split(ag.ones(5), [2, 2])
    assert str(info.value) == "split: sizes [2, 2] do not add up to 5 (axis 0 of shape (5,))"
    with pytest.raises(ValueError, match="positive"):
        ag.split(ag.ones(4), 0)


def test_getitem_out_of_range():
    with pytest.raises(IndexError) as info:
        ag.ones(3)[5]
    message = str(info.value)
    assert message.startswith("getitem: ") and "index 5" in message and "(3,)" in message
    with pytest.raises(IndexError, match=r"getitem: .*7.*\(3,\)"):
        ag.ones(3)[ag.tensor([0, 7])]
    with pytest.raises(IndexError, match=r"getitem: .*\(2, 3\)"):
        ag.ones(2, 3)[:, 5]
    with pytest.raises(IndexError, match=r"\(\)"):
        ag.tensor(1.0)[0]


def test_other_shape_errors():
    with pytest.raises(ShapeError, match=r"^broadcast_to: cannot broadcast shape \(3,\) to \(2, 4\)"):
        ag.ones(3).broadcast_to((2, 4))
    with pytest.raises(ShapeError, match=r"^permute: \(0, 0\) is not a permutation .*\(2, 3\)"):
        ag.ones(2, 3).permute(0, 0)
    with pytest.raises(ShapeError, match=r"\(2, 2\)"):
        ag.ones(2, 2).item()


# ---- dtype and graph errors ----------------------------------------------------------------
def test_dtype_errors_name_the_dtype():
    with pytest.raises(DTypeError, match="int64"):
        ag.tensor([1, 2]).requires_grad_()
    with pytest.raises(DTypeError, match="str"):
        ag.tensor("abc")
    with pytest.raises(DTypeError, match="complex128"):
        ag.tensor([1 + 2j])
    with pytest.raises(DTypeError, match="NoneType"):
        ag.tensor([1.0, 2.0]) + None


def test_graph_errors():
    with pytest.raises(GraphError, match="does not require grad"):
        ag.tensor(1.0).backward()
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match=r"shape \(2,\)"):
        (x * 2).backward()
    with pytest.raises(GraphError, match="in-place"):
        x += 1


# ---- robustness ----------------------------------------------------------------------------
_BAD_CALLS = textwrap.dedent("""
    import sys
    import numpy as np
    import autograd as ag

    calls = [
        lambda: ag.ones(3, 4) @ ag.ones(5, 6),
        lambda: ag.ones(0, 3) @ ag.ones(3, 0),
        lambda: ag.ones(2, 3, 4) @ ag.ones(5, 4, 2),
        lambda: ag.ones(3) @ ag.ones(4),
        lambda: ag.ones(3, 4).reshape(5),
        lambda: ag.ones(3, 4) + ag.ones(5),
        lambda: ag.ones(3, 4).sum(axis=7),
        lambda: ag.ones(0).max(),
        lambda: ag.ones(3)[10],
        lambda: ag.ones(3)[ag.tensor([0, -9])],
        lambda: ag.zeros(-1),
        lambda: ag.cat([ag.ones(2, 2), ag.ones(3)]),
        lambda: ag.split(ag.ones(5), [2, 2]),
        lambda: ag.softmax(ag.ones(0, 3)),
        lambda: ag.log_softmax(ag.ones(2, 0), axis=-1),
        lambda: ag.tensor(np.ones((2, 3), order="F")) @ ag.tensor(np.ones((3, 2))[::2]),
        lambda: ag.tensor(np.ones((4, 4))[::2, ::2]) @ ag.tensor(np.ones((2, 2))),
        lambda: ag.relu(ag.tensor(np.ones((3, 3))[:, 1])),
        lambda: ag.tensor([1, 2]) @ ag.tensor([1.0, 2.0]),
        lambda: ag.ones(2, 3).mean(axis=(0, 0)),
        lambda: ag.tensor([np.nan, np.inf]).exp().sum(),
    ]
    for name in ag.backend.available():
        with ag.backend.use(name):
            for k, call in enumerate(calls):
                try:
                    call()
                    print(name, k, "ok")
                except Exception as e:
                    print(name, k, type(e).__name__)
    print("survived")
""")


def test_bad_calls_do_not_crash_the_interpreter():
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", _BAD_CALLS], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[-1] == "survived"
    numpy_lines = [ln for ln in lines if ln.startswith("numpy ")]
    assert len(numpy_lines) == 21
    assert numpy_lines[0] == "numpy 0 ShapeError" and numpy_lines[1] == "numpy 1 ok"
