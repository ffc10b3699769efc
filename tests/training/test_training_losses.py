"""Losses: censoring, competing death, unknown targets, class weighting, focal, Huber."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bonenet.training import (
    binary_loss,
    discrete_competing_targets,
    discrete_survival_targets,
    huber_loss,
    survival_nll,
)


def test_survival_targets_event_censor_death_unknown():
    t = torch.tensor([2.5, 2.5, 2.4, 12.0, math.nan, 3.0])
    e = torch.tensor([1, 0, 2, 1, 1, -1])
    s, f, known = discrete_survival_targets(t, e, n_intervals=10)
    # fracture at 2.5 y: survived years 0,1, failed in year 2
    assert s[0].tolist() == [1, 1] + [0] * 8
    assert f[0].tolist() == [0, 0, 1] + [0] * 7
    # censored at 2.5 y: observed half of year 2 -> counts as survived it
    assert s[1].tolist() == [1, 1, 1] + [0] * 7 and f[1].sum() == 0
    # died at 2.4 y (competing risk -> censored): less than half of year 2
    assert s[2].tolist() == [1, 1] + [0] * 8 and f[2].sum() == 0
    # fracture after the 10-year horizon -> survived all 10 intervals, no failure
    assert s[3].tolist() == [1] * 10 and f[3].sum() == 0
    assert known.tolist() == [True, True, True, True, False, False]


def test_survival_nll_matches_hand_computation():
    z = torch.tensor([[0.3, -0.2, 1.0, 0.0], [0.1, 0.1, 0.1, 0.1]], requires_grad=True)
    t = torch.tensor([1.2, 3.9])
    e = torch.tensor([1, 0])
    loss = survival_nll(z, t, e)
    h = torch.sigmoid(z.detach())
    ll0 = math.log(1 - h[0, 0]) + math.log(h[0, 1])
    ll1 = sum(math.log(1 - h[1, j]) for j in range(4))  # censored at 3.9: survived 0..3
    assert math.isclose(loss.item(), -(ll0 + ll1) / 2, rel_tol=1e-5)
    loss.backward()
    assert torch.isfinite(z.grad).all()


def test_survival_nll_all_unknown_is_zero_with_grad():
    z = torch.zeros(2, 10, requires_grad=True)
    loss = survival_nll(z, torch.tensor([math.nan, math.nan]), torch.tensor([-1, -1]))
    assert loss.item() == 0.0
    loss.backward()


def test_binary_loss_weighting_focal_and_nan():
    z = torch.tensor([0.5, -1.0, 2.0, 0.0])
    y = torch.tensor([1.0, 0.0, math.nan, 1.0])
    m = ~torch.isnan(y)
    ref = F.binary_cross_entropy_with_logits(z[m], y[m], pos_weight=torch.tensor(3.0))
    assert torch.isclose(binary_loss(z, y, pos_weight=3.0), ref)
    assert torch.isclose(binary_loss(z, y, focal_gamma=0.0), F.binary_cross_entropy_with_logits(z[m], y[m]))
    # focal down-weights easy examples: the loss is smaller than BCE
    assert binary_loss(z, y, focal_gamma=2.0) < binary_loss(z, y)


def test_huber_masks_unknown():
    p = torch.tensor([0.0, 1.0, 5.0])
    y = torch.tensor([0.5, math.nan, 0.0])
    assert torch.isclose(huber_loss(p, y, delta=1.0), F.huber_loss(p[[0, 2]], y[[0, 2]], delta=1.0))


def test_competing_targets_death_is_its_own_event():
    t = torch.tensor([2.5, 2.4, 2.4, 11.0])
    e = torch.tensor([1, 2, 0, 2])
    s, f, d, known = discrete_competing_targets(t, e, n_intervals=5)
    assert s[0].tolist() == [1, 1, 0, 0, 0] and f[0].tolist() == [0, 0, 1, 0, 0] and d[0].sum() == 0
    # died at 2.4 y: survived years 0, 1 and died in year 2 (not censored)
    assert s[1].tolist() == [1, 1, 0, 0, 0] and d[1].tolist() == [0, 0, 1, 0, 0] and f[1].sum() == 0
    # censored at 2.4 y: less than half of year 2 observed
    assert s[2].tolist() == [1, 1, 0, 0, 0] and d[2].sum() == 0
    # death after the horizon: survived every interval
    assert s[3].tolist() == [1] * 5 and d[3].sum() == 0
    assert known.all()


def test_competing_nll_matches_hand_computation():
    z = torch.tensor([[[0.3, -1.0], [-0.2, 0.4], [1.0, 0.0]],
                      [[0.1, 0.2], [0.1, -0.5], [0.0, 0.3]]], requires_grad=True)
    t = torch.tensor([1.2, 2.1])
    e = torch.tensor([1, 2])

    def logp(zf, zd):
        den = 1 + math.exp(zf) + math.exp(zd)
        return math.log(1 / den), math.log(math.exp(zf) / den), math.log(math.exp(zd) / den)

    zz = z.detach().tolist()
    ll0 = logp(*zz[0][0])[0] + logp(*zz[0][1])[1]  # survived year 0, fractured in year 1
    ll1 = logp(*zz[1][0])[0] + logp(*zz[1][1])[0] + logp(*zz[1][2])[2]  # died in year 2
    loss = survival_nll(z, t, e)
    assert math.isclose(loss.item(), -(ll0 + ll1) / 2, rel_tol=1e-5)
    loss.backward()
    assert torch.isfinite(z.grad).all()
