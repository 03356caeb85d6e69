"""Grad mode: no_grad, enable_grad, set_grad_enabled as context managers, decorators and calls."""
import threading

import pytest

import autograd as ag


@pytest.fixture(autouse=True)
def grad_mode_restored():
    """Every test starts with grad mode on and must leave it on."""
    assert ag.is_grad_enabled()
    yield
    enabled = ag.is_grad_enabled()
    ag.set_grad_enabled(True)
    assert enabled, "the test left grad mode off"


def records(x):
    return (x * 2).requires_grad


def test_default_is_enabled():
    x = ag.tensor(1.0, requires_grad=True)
    assert ag.is_grad_enabled() is True
    assert records(x)


def test_no_grad_context():
    x = ag.tensor(1.0, requires_grad=True)
    with ag.no_grad() as ctx:
        assert ctx is not None
        assert ag.is_grad_enabled() is False
        y = x * 2
        assert not y.requires_grad and y.grad_fn is None and y.item() == 2.0
    assert ag.is_grad_enabled() is True
    assert records(x)


def test_nesting():
    x = ag.tensor(1.0, requires_grad=True)
    with ag.no_grad():
        with ag.enable_grad():
            assert ag.is_grad_enabled() and records(x)
            with ag.no_grad():
                assert not ag.is_grad_enabled() and not records(x)
            assert ag.is_grad_enabled()
        assert not ag.is_grad_enabled()
        with ag.set_grad_enabled(True):
            assert records(x)
        assert not records(x)
    assert records(x)


def test_same_instance_reentrant():
    ng = ag.no_grad()
    with ng:
        with ng:
            assert not ag.is_grad_enabled()
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()


@pytest.mark.parametrize("make", [ag.no_grad, ag.enable_grad, lambda: ag.set_grad_enabled(False),
                                  lambda: ag.set_grad_enabled(True)])
def test_restore_on_exception(make):
    with ag.no_grad():
        with pytest.raises(KeyError):
            with make():
                raise KeyError("boom")
        assert ag.is_grad_enabled() is False
    with pytest.raises(KeyError):
        with make():
            raise KeyError("boom")
    assert ag.is_grad_enabled() is True


def test_exceptions_are_not_swallowed():
    with pytest.raises(ValueError, match="inside"):
        with ag.no_grad():
            raise ValueError("inside")


def test_no_grad_decorator():
    x = ag.tensor(1.0, requires_grad=True)

    @ag.no_grad()
    def double(t):
        """Doc."""
        assert not ag.is_grad_enabled()
        return t * 2

    assert double.__name__ == "double" and double.__doc__ == "Doc."
    assert ag.is_grad_enabled()  # decorating changes nothing by itself
    y = double(x)
    assert not y.requires_grad and y.item() == 2.0
    assert ag.is_grad_enabled()


def test_enable_grad_decorator_inside_no_grad():
    x = ag.tensor(1.0, requires_grad=True)

    @ag.enable_grad()
    def double(t):
        return t * 2

    with ag.no_grad():
        y = double(x)
        assert not ag.is_grad_enabled()
    assert y.requires_grad and y.grad_fn is not None


def test_set_grad_enabled_decorator():
    @ag.set_grad_enabled(False)
    def mode():
        return ag.is_grad_enabled()

    assert ag.is_grad_enabled()  # the decorator does not leave the mode off at definition time
    assert mode() is False
    assert ag.is_grad_enabled()


def test_decorator_restores_on_exception():
    @ag.no_grad()
    def fail():
        raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        fail()
    assert ag.is_grad_enabled()


def test_set_grad_enabled_plain_call():
    x = ag.tensor(1.0, requires_grad=True)
    try:
        ag.set_grad_enabled(False)
        assert ag.is_grad_enabled() is False
        assert not records(x)
        ag.set_grad_enabled(True)
        assert ag.is_grad_enabled() is True
        assert records(x)
        ag.set_grad_enabled(0)  # any false value
        assert ag.is_grad_enabled() is False
    finally:
        ag.set_grad_enabled(True)
    assert ag.is_grad_enabled() is True


def test_set_grad_enabled_context_manager():
    with ag.set_grad_enabled(False):
        assert ag.is_grad_enabled() is False
        with ag.set_grad_enabled(True):
            assert ag.is_grad_enabled() is True
        assert ag.is_grad_enabled() is False
    assert ag.is_grad_enabled() is True


def test_plain_set_inside_context_is_undone_on_exit():
    with ag.no_grad():
        ag.set_grad_enabled(True)
        assert ag.is_grad_enabled()
    assert ag.is_grad_enabled()
    with ag.enable_grad():
        ag.set_grad_enabled(False)
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()


def test_new_thread_starts_with_default():
    seen = []

    def work():
        x = ag.tensor(1.0, requires_grad=True)
        seen.append((ag.is_grad_enabled(), records(x)))
        with ag.no_grad():
            seen.append(ag.is_grad_enabled())

    with ag.no_grad():
        t = threading.Thread(target=work)
        t.start()
        t.join()
        assert ag.is_grad_enabled() is False  # the thread's no_grad did not leak here either
    assert seen == [(True, True), False]


def test_mode_is_per_thread():
    inside = threading.Event()
    release = threading.Event()
    seen = []

    def work():
        with ag.no_grad():
            inside.set()
            release.wait(5)
            seen.append(ag.is_grad_enabled())

    t = threading.Thread(target=work)
    t.start()
    assert inside.wait(5)
    assert ag.is_grad_enabled() is True  # another thread's no_grad does not switch this one off
    release.set()
    t.join()
    assert seen == [False]


def test_backward_under_no_grad():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with ag.no_grad():
        y.backward()
        assert not ag.is_grad_enabled()
    assert x.grad.tolist() == [2.0, 4.0]


def test_anomaly_mode_context_and_restore():
    from autograd.grad_mode import is_anomaly_enabled

    assert not is_anomaly_enabled()
    with ag.detect_anomaly():
        assert is_anomaly_enabled()
        with pytest.raises(KeyError):
            with ag.detect_anomaly(False):
                assert not is_anomaly_enabled()
                raise KeyError
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()
