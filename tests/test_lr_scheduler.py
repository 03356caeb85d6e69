"""Schedulers: the learning rate at each epoch, by hand and against torch when importable."""
import math

import pytest

import autograd as ag
from autograd.optim import SGD, lr_scheduler as S


def _opt(lr=1.0, groups=1):
    params = [ag.tensor([1.0], requires_grad=True) for _ in range(groups)]
    return SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr)


def _lrs(sched, epochs, metrics=None):
    out = []
    for e in range(epochs):
        out.append(sched.optimizer.param_groups[0]["lr"])
        sched.optimizer.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[e])
    return out


def test_step_lr():
    assert _lrs(S.StepLR(_opt(), step_size=3, gamma=0.5), 8) == [1, 1, 1, .5, .5, .5, .25, .25]


def test_multistep_lr_and_the_seeds_schedule():
    lrs = _lrs(S.MultiStepLR(_opt(), milestones=[2, 5, 5], gamma=0.1), 7)
    assert lrs == pytest.approx([1, 1, 0.1, 0.1, 0.1, 0.001, 0.001], rel=1e-12)
    # the seeds: 0.3 for epochs 1-500, 0.05 for 501-900, 0.01 for 901-1000
    sched = S.MultiStepLR(_opt(0.3), milestones=[500, 900], gamma=[1 / 6, 1 / 5])
    lrs = _lrs(sched, 1000)
    assert lrs[0] == lrs[499] == 0.3
    assert lrs[500] == pytest.approx(0.05, rel=1e-14) and lrs[899] == lrs[500]
    assert lrs[900] == pytest.approx(0.01, rel=1e-14) and lrs[999] == lrs[900]
    with pytest.raises(ValueError, match="factors"):
        S.MultiStepLR(_opt(), milestones=[1, 2], gamma=[0.1])


def test_exponential_lr():
    assert _lrs(S.ExponentialLR(_opt(2.0), gamma=0.5), 4) == [2.0, 1.0, 0.5, 0.25]


def test_cosine_annealing_lr_closed_form():
    lrs = _lrs(S.CosineAnnealingLR(_opt(0.1), T_max=10, eta_min=0.001), 25)
    for t, lr in enumerate(lrs):  # past T_max it rises again (torch's periodic continuation)
        assert lr == pytest.approx(0.001 + 0.099 * (1 + math.cos(math.pi * t / 10)) / 2, abs=1e-12)


def test_lambda_lr_per_group():
    sched = S.LambdaLR(_opt(1.0, groups=2), [lambda e: 0.5 ** e, lambda e: 1 / (e + 1)])
    for e in range(4):
        assert sched.get_last_lr() == pytest.approx([0.5 ** e, 2.0 / (e + 1)])
        sched.optimizer.step()
        sched.step()


def test_reduce_lr_on_plateau():
    sched = S.ReduceLROnPlateau(_opt(1.0), factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    losses = [5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3]
    lrs = _lrs(sched, len(losses), losses)
    # bad epochs: 2, 3, 4 -> reduced after epoch 4 (3 > patience); cooldown 1; ...
    assert lrs == [1, 1, 1, 1, 1, .5, .5, .5, .5, .25, .25]
    sched = S.ReduceLROnPlateau(_opt(1.0), mode="max", patience=0, factor=0.1, min_lr=0.05)
    assert _lrs(sched, 4, [1, 0.5, 0.5, 0.5]) == pytest.approx([1, 1, 0.1, 0.05])


def test_reduce_lr_on_plateau_abs_threshold_and_min_lr_per_group():
    # abs: better means below best - 0.5 (rel 1e-4 would count 9.6 < 10 as better)
    opt = _opt(1.0, groups=2)  # lrs 1 and 2
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=1, threshold=0.5,
                                threshold_mode="abs", min_lr=[0.3, 0.05])
    lrs = []
    for metric in [10, 9.6, 9.4, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5, 8.3, 8.2, 8.1]:
        sched.step(metric)
        lrs.append([g["lr"] for g in opt.param_groups])
    # best: 10, then 9.4 (< 9.5); 9.0 and 8.9 are not below 8.9: halve. 8.8 is (best 8.8);
    # 8.7, 8.6 are not below 8.3: halve, group 0 to its min_lr 0.3, not 0.25. 8.5, 8.3 are
    # not: group 0 stays at 0.3, group 1 halves again. 8.2 is the new best, 8.1 is not.
    assert lrs == [[1, 2], [1, 2], [1, 2], [1, 2], [0.5, 1], [0.5, 1], [0.5, 1], [0.3, 0.5],
                   [0.3, 0.5], [0.3, 0.25], [0.3, 0.25], [0.3, 0.25]]
    assert sched.best == 8.2 and sched.num_bad_epochs == 1
    up = S.ReduceLROnPlateau(_opt(1.0), mode="max", factor=0.1, patience=0, threshold=1.0,
                             threshold_mode="abs")
    for metric in [1.0, 1.9, 2.1]:  # 1.9 is not above 1 + 1; 2.1 is
        up.step(metric)
    assert up.get_last_lr() == [pytest.approx(0.1)] and up.best == 2.1


def test_state_dict_round_trip(tmp_path):
    opt = _opt(1.0)
    sched = S.StepLR(opt, step_size=2, gamma=0.5)
    _lrs(sched, 3)
    ag.save(sched.state_dict(), tmp_path / "s.ag")
    other = S.StepLR(_opt(1.0), step_size=7, gamma=0.9)
    other.load_state_dict(ag.load(tmp_path / "s.ag"))
    assert other.last_epoch == 3 and other.step_size == 2 and other.get_last_lr() == [0.5]
    plateau = S.ReduceLROnPlateau(_opt())
    plateau.step(1.0)
    assert S.ReduceLROnPlateau(_opt()).state_dict() != plateau.state_dict()
    again = S.ReduceLROnPlateau(_opt())
    again.load_state_dict(plateau.state_dict())
    assert again.best == 1.0 and again.last_epoch == 1


@pytest.mark.parametrize("make", [
    lambda m, o: m.StepLR(o, step_size=3, gamma=0.3),
    lambda m, o: m.MultiStepLR(o, milestones=[2, 6, 6, 9], gamma=0.7),
    lambda m, o: m.ExponentialLR(o, gamma=0.93),
    lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
    lambda m, o: m.LambdaLR(o, lambda e: 1 / (1 + e) ** 0.5),
], ids=["step", "multistep", "exponential", "cosine", "lambda"])
def test_matches_torch(make):
    torch = pytest.importorskip("torch")
    ours = make(S, _opt(0.3, groups=2))
    tp = [torch.zeros(1, requires_grad=True) for _ in range(2)]
    topt = torch.optim.SGD([{"params": [tp[0]], "lr": 0.3}, {"params": [tp[1]], "lr": 0.6}])
    theirs = make(torch.optim.lr_scheduler, topt)
    for _ in range(30):
        assert ours.get_last_lr() == theirs.get_last_lr()  # bit for bit
        ours.optimizer.step(), topt.step()
        ours.step(), theirs.step()


def test_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    metrics = [1.0, 0.9, 0.95, 0.9, 0.91, 0.92, 0.93, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95] * 2
    ours = S.ReduceLROnPlateau(_opt(0.3), patience=1, cooldown=2, threshold=0.05)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, patience=1, cooldown=2,
                                                        threshold=0.05)
    for m in metrics:
        ours.step(m), theirs.step(m)
        assert ours.get_last_lr() == theirs.get_last_lr()


def test_second_scheduler_keeps_initial_lr():
    # StepLR halves 0.3 at epoch 2; a LambdaLR made afterwards still scales the *initial* 0.3
    # (torch: group.setdefault("initial_lr", ...)), so it sets the lr back to 0.3 * 1.0.
    opt = _opt(0.3)
    step = S.StepLR(opt, step_size=2, gamma=0.5)
    _lrs(step, 3)
    assert opt.param_groups[0]["lr"] == 0.15
    lam = S.LambdaLR(opt, lambda e: 1.0)
    assert lam.base_lrs == [0.3] and lam.get_last_lr() == [0.3]
    assert opt.param_groups[0]["initial_lr"] == 0.3


def test_resuming_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr.*param_groups\\[0\\]"):
        S.StepLR(_opt(0.3), step_size=2, last_epoch=3)


def test_second_scheduler_matches_torch():
    torch = pytest.importorskip("torch")
    opt = _opt(0.3)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    for o, m in ((opt, S), (topt, torch.optim.lr_scheduler)):
        step = m.StepLR(o, step_size=2, gamma=0.5)
        for _ in range(3):
            o.step(), step.step()
    ours, theirs = S.LambdaLR(opt, lambda e: 0.9 ** e), torch.optim.lr_scheduler.LambdaLR(
        topt, lambda e: 0.9 ** e)
    for _ in range(5):
        assert ours.base_lrs == theirs.base_lrs and ours.get_last_lr() == theirs.get_last_lr()
        opt.step(), topt.step()
        ours.step(), theirs.step()
