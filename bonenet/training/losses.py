"""Losses for fracture risk: weighted BCE / focal, discrete-time competing-risks NLL, Huber.

Every loss ignores samples whose target is unknown (NaN, or ``event == -1``) and returns 0
(with a gradient path) when no sample in the batch has the target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["binary_loss", "discrete_competing_targets", "discrete_survival_targets", "huber_loss",
           "survival_nll"]


def _zero(like: torch.Tensor) -> torch.Tensor:
    return like.sum() * 0.0


def binary_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    pos_weight: float | None = None,
    focal_gamma: float = 0.0,
) -> torch.Tensor:
    """Binary cross-entropy (optionally class-weighted) or focal loss, mean over known targets.

    Parameters
    ----------
    logits, target : Tensor of shape (B,)
        Logits and 0/1 targets (NaN = unknown, ignored).
    pos_weight : float, optional
        Weight of the positive class (e.g. n_negative / n_positive).
    focal_gamma : float
        > 0 selects the focal loss ``(1 - p_t)^gamma * BCE`` (Lin et al. 2017).
    """
    known = ~torch.isnan(target)
    if not bool(known.any()):
        return _zero(logits)
    z, y = logits[known].float(), target[known].float()
    pw = None if pos_weight is None else torch.as_tensor(float(pos_weight), device=z.device)
    bce = F.binary_cross_entropy_with_logits(z, y, pos_weight=pw, reduction="none")
    if focal_gamma > 0:
        p = torch.sigmoid(z)
        p_t = p * y + (1 - p) * (1 - y)
        bce = (1 - p_t).pow(focal_gamma) * bce
    return bce.mean()


def discrete_survival_targets(
    time_years: torch.Tensor,
    event: torch.Tensor,
    *,
    n_intervals: int = 10,
    interval_years: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-interval survival indicators for discrete-time hazards (nnet-survival layout).

    Interval j covers [j, j+1) * ``interval_years``. A subject with a fracture (event 1) at t
    survived every interval before t's interval and failed in it. A censored subject (event 0)
    and a subject who died without fracture (event 2, the competing risk, treated as censoring
    at the time of death: the model estimates the cause-specific hazard of fracture) survived
    every interval fully observed, plus the interval of censoring when observed for at least
    half of it. Events after the horizon count as censored at the horizon.

    Returns
    -------
    survived : (B, n) float  1 where the subject is known to have survived interval j
    failed : (B, n) float    1 at the interval of the fracture
    known : (B,) bool        False where time or event is unknown
    """
    t = time_years.float() / interval_years
    ev = event.long()
    known = ~torch.isnan(t) & (ev >= 0) & (t >= 0)
    t = torch.nan_to_num(t, nan=0.0).clamp_min(0.0)
    j = torch.arange(n_intervals, device=t.device, dtype=t.dtype).unsqueeze(0)  # (1, n)
    tt = t.unsqueeze(1)
    is_event = (ev == 1).unsqueeze(1) & (tt < n_intervals)
    k = torch.floor(tt).clamp(max=n_intervals - 1)  # interval index of the time
    # event: survived j < k, failed j == k
    surv_event = (j < k).float()
    fail_event = (j == k).float()
    # censored: survived intervals with end <= t, or observed >= half of it
    surv_cens = ((j + 1.0) <= tt).float() + (((j + 1.0) > tt) & (j + 0.5 <= tt)).float()
    survived = torch.where(is_event, surv_event, surv_cens)
    failed = torch.where(is_event, fail_event, torch.zeros_like(fail_event))
    return survived, failed, known


def discrete_competing_targets(
    time_years: torch.Tensor,
    event: torch.Tensor,
    *,
    n_intervals: int = 10,
    interval_years: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-interval indicators for discrete-time competing risks (fracture vs death).

    As :func:`discrete_survival_targets`, except that a death (event 2) before the horizon is
    an event of its own: the subject survived every interval before the death's interval and
    died in it. Event codes 0 (censored) and 1 (fracture) mean what they always meant, so a
    table without deaths gives the single-cause targets.

    Returns
    -------
    survived, fractured, died : (B, n) float
    known : (B,) bool
    """
    survived, fractured, known = discrete_survival_targets(
        time_years, event, n_intervals=n_intervals, interval_years=interval_years)
    t = torch.nan_to_num(time_years.float() / interval_years, nan=0.0).clamp_min(0.0).unsqueeze(1)
    j = torch.arange(n_intervals, device=t.device, dtype=t.dtype).unsqueeze(0)
    is_death = (event.long() == 2).unsqueeze(1) & (t < n_intervals)
    k = torch.floor(t).clamp(max=n_intervals - 1)
    survived = torch.where(is_death, (j < k).float(), survived)
    died = torch.where(is_death, (j == k).float(), torch.zeros_like(survived))
    return survived, fractured, died, known


def survival_nll(
    hazard_logits: torch.Tensor,
    time_years: torch.Tensor,
    event: torch.Tensor,
    *,
    interval_years: float = 1.0,
) -> torch.Tensor:
    """Negative log-likelihood of a discrete-time survival model with right censoring.

    ``hazard_logits`` (B, J, 2) — the competing-risks head of
    :class:`bonenet.models.FusionModel`: per interval a softmax over {none, fracture, death}
    with the "none" logit fixed at 0; the likelihood is
    ``-Σ_j [s_ij log p_none + f_ij log p_fracture + d_ij log p_death]`` with ``s``, ``f``, ``d``
    from :func:`discrete_competing_targets`. ``hazard_logits`` (B, J) — a single-cause hazard
    model ``h = sigmoid(z)`` with deaths censored (``-Σ_j [s_ij log(1 − h) + f_ij log h]``),
    kept for single-cause models. Averaged over subjects with a known outcome.
    """
    n = hazard_logits.shape[1]
    z = hazard_logits.float()
    if z.ndim == 3:
        survived, fractured, died, known = discrete_competing_targets(
            time_years, event, n_intervals=n, interval_years=interval_years)
        if not bool(known.any()):
            return _zero(hazard_logits)
        lp = torch.log_softmax(torch.cat([torch.zeros_like(z[..., :1]), z], dim=-1), dim=-1)
        ll = survived * lp[..., 0] + fractured * lp[..., 1] + died * lp[..., 2]
        return -(ll.sum(dim=1)[known]).mean()
    survived, failed, known = discrete_survival_targets(
        time_years, event, n_intervals=n, interval_years=interval_years
    )
    if not bool(known.any()):
        return _zero(hazard_logits)
    ll = survived * F.logsigmoid(-z) + failed * F.logsigmoid(z)
    return -(ll.sum(dim=1)[known]).mean()


def huber_loss(pred: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0) -> torch.Tensor:
    """Huber (smooth L1) loss over known (non-NaN) targets."""
    known = ~torch.isnan(target)
    if not bool(known.any()):
        return _zero(pred)
    return F.huber_loss(pred[known].float(), target[known].float(), delta=delta)
