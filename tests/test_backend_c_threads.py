"""The kernels' thread pool (cpu.c's ag_parallel): workers started once and reused, woken from
sleep, shared by concurrent callers (the later ones run their team's parts on their own thread),
and the default thread count. Results are the same bits on any thread count and any caller.
"""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from _c_backend import import_c_backend

_c = import_c_backend()

import autograd as ag  # noqa: E402


def _work(seed: int) -> list[np.ndarray]:
    """Products down every threaded path (the packed kernel, the thin paths, a batch, a
    convolution with its bias) and a threaded activation."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    pairs = [((128, 10), (10, 512)), ((10, 128), (128, 512)), ((512, 128), (128, 10)),
             ((300, 300), (300, 300)), ((8, 64, 96), (96, 64))]
    out = [_c.matmul(rng.standard_normal(a, dtype=f32), rng.standard_normal(b, dtype=f32))
           for a, b in pairs]
    x = rng.standard_normal((300_000,), dtype=f32)
    out.append(_c.relu(x))
    image = ag.tensor(rng.standard_normal((16, 3, 28, 28), dtype=f32))
    weight = ag.tensor(rng.standard_normal((8, 3, 3, 3), dtype=f32))
    bias = ag.tensor(rng.standard_normal(8, dtype=f32))
    out.append(ag.nn.functional.conv2d(image, weight, bias, padding=1).numpy())
    return out


def _same_bits(got: list[np.ndarray], expected: list[np.ndarray]) -> bool:
    return all(g.tobytes() == e.tobytes() for g, e in zip(got, expected))


@pytest.fixture
def threads():
    """Sets the kernels' thread count for the test and restores it after."""
    before = _c.get_num_threads()
    yield _c.set_num_threads
    _c.set_num_threads(before)


def _finishes(body, seconds: float = 60.0) -> None:
    """Runs body on a thread of its own and fails if it has not returned in time: a lost
    wake-up makes a caller wait for its workers forever."""
    errors = []

    def run():
        try:
            body()
        except BaseException as error:  # reported on the test's thread
            errors.append(error)

    caller = threading.Thread(target=run, daemon=True)
    caller.start()
    caller.join(seconds)
    assert not caller.is_alive(), "a call waited for the pool's workers forever"
    if errors:
        raise errors[0]


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc (Linux)")
def test_workers_are_started_once_and_kept(threads):
    threads(1)
    expected = _work(0)

    def calls():
        threads(3)
        assert _same_bits(_work(0), expected)
        started = _os_threads()
        for count in (2, 3, 1, 3, 2) * 4:  # fewer than the pool has, more again, none
            threads(count)
            assert _same_bits(_work(0), expected), count
        assert _os_threads() == started

    _finishes(calls)


def test_sleeping_workers_wake_for_the_next_task(threads):
    """An idle worker spins for a millisecond, then sleeps until the next task."""
    threads(1)
    expected = _work(1)
    threads(2)

    def calls():
        for pause in (0.0, 0.005, 0.05, 0.0, 0.02):
            time.sleep(pause)
            assert _same_bits(_work(1), expected), pause

    _finishes(calls)


def test_concurrent_callers_get_their_own_bits(threads):
    """Kernels run with the GIL released: while one caller has the pool, another runs its
    team's parts one after another on its own thread, with the same bits."""
    threads(1)
    expected = {seed: _work(seed) for seed in range(4)}
    threads(2)
    failures = []

    def calls(seed):
        for _ in range(15):
            if not _same_bits(_work(seed), expected[seed]):
                failures.append(seed)

    def all_calls():
        callers = [threading.Thread(target=calls, args=(seed,), daemon=True) for seed in range(4)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()

    _finishes(all_calls, 120)
    assert failures == []


def _default_threads(env_value):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("OMP_NUM_THREADS", None)
    if env_value is not None:
        env["OMP_NUM_THREADS"] = env_value
    code = "from autograd.backend import _c; print(_c.get_num_threads())"
    return int(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                              capture_output=True, text=True).stdout)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs the CPU affinity mask")
def test_the_default_thread_count_is_omp_num_threads_else_the_cpus_we_may_use():
    cpus = len(os.sched_getaffinity(0))
    assert _default_threads(None) == cpus
    assert _default_threads("3") == 3
    assert _default_threads("5,2") == 5  # a nested-levels list: the outer level's count
    for ignored in ("", "0", "-2", "two"):
        assert _default_threads(ignored) == cpus, ignored
