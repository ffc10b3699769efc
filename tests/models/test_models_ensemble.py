"""FusionEnsemble: averaged outputs, independent members, the FusionModel interface, export."""

from __future__ import annotations

import pytest
import torch

from bonenet.errors import ConfigError
from bonenet.models import FusionEnsemble, FusionModel, build_fusion_model

N_CLIN = 4


def _inputs(b=3, roi=16):
    g = torch.Generator().manual_seed(0)
    return {"images": torch.randn(b, 1, 1, roi, roi, roi, generator=g),
            "image_present": torch.ones(b, 1, dtype=torch.bool),
            "clinical": torch.randn(b, N_CLIN, generator=g), "clinical_observed": torch.ones(b, N_CLIN)}


def _ensemble(k=3, dropout=0.2, heads=("fracture", "survival")):
    torch.manual_seed(0)
    return build_fusion_model(backbone="trabecular_cnn", clinical_features=N_CLIN, fusion="film",
                              heads=heads, hidden=16, dropout=dropout, ensemble=k,
                              backbone_kwargs={"channels": [4, 8]})


def test_build_gives_members_with_their_own_weights_and_averaged_outputs():
    ens = _ensemble(3).eval()
    assert isinstance(ens, FusionEnsemble) and len(ens) == 3
    assert ens.head_names == ("fracture", "survival") and ens.has_image and ens.has_clinical
    w = [m.image_encoder.stages[0].down[0].weight for m in ens.members]
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[1], w[2])
    x = _inputs()
    with torch.no_grad():
        members = ens.forward_members(**x)
        out = ens(**x)
    risk = ens.risk(out)
    member_risks = [FusionModel.risk(m) for m in members]
    for key in ("fracture", "survival", "survival_curve"):  # the ensemble's risk = the members' mean risk
        want = torch.stack([r[key] for r in member_risks]).mean(0)
        torch.testing.assert_close(risk[key], want, atol=1e-6, rtol=1e-5)
        assert not torch.allclose(member_risks[0][key], member_risks[1][key])
    assert risk["fracture"].shape == (3,) and risk["survival_curve"].shape == (3, 10)


def test_averaging_is_stable_at_extreme_risks():
    from bonenet.models.ensemble import _logit_of_mean_probability
    from bonenet.models.fusion import (
        competing_cumulative_incidence,
        survival_logits_of_mean_incidence,
    )

    z = torch.tensor([[-40.0, 0.0, 40.0], [-38.0, 2.0, 30.0]])
    p = torch.sigmoid(_logit_of_mean_probability(z))
    torch.testing.assert_close(p, torch.sigmoid(z).mean(0))
    h = torch.tensor([[[[-60.0, -5.0], [50.0, -2.0], [-3.0, 40.0]]],
                      [[[-60.0, 30.0], [-60.0, -60.0], [0.0, 0.0]]]])  # (K=2, B=1, J=3, causes=2)
    out = survival_logits_of_mean_incidence(h)
    assert torch.isfinite(out).all()
    for got, want in zip(competing_cumulative_incidence(out),
                         (torch.stack(c).mean(0) for c in zip(*map(competing_cumulative_incidence, h), strict=True)),
                         strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def test_ensemble_of_one_is_a_plain_fusion_model_and_bad_sizes_fail():
    assert isinstance(build_fusion_model(backbone=None, clinical_features=N_CLIN, ensemble=1), FusionModel)
    with pytest.raises(ConfigError, match="ensemble must be"):
        build_fusion_model(backbone=None, clinical_features=N_CLIN, ensemble=0)
    with pytest.raises(ConfigError, match="at least 2"):
        FusionEnsemble([FusionModel(None, N_CLIN)])
    with pytest.raises(ConfigError, match="member 1 differs"):
        FusionEnsemble([FusionModel(None, N_CLIN), FusionModel(None, N_CLIN + 1)])


def test_members_learn_as_if_trained_alone():
    """The mean of the members' losses gives each member exactly 1/K of its solo gradient, so
    under a per-parameter optimiser (AdamW) every member follows its own trajectory."""
    ens = _ensemble(3, dropout=0.0)
    x = _inputs()
    y = torch.tensor([0.0, 1.0, 0.0])
    losses = [torch.nn.functional.binary_cross_entropy_with_logits(o["fracture"], y)
              for o in ens.forward_members(**x)]
    (sum(losses) / len(losses)).backward()
    got = [m.heads["fracture"].weight.grad.clone() for m in ens.members]
    for i, member in enumerate(ens.members):
        member.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(member(**x)["fracture"], y).backward()
        torch.testing.assert_close(got[i], member.heads["fracture"].weight.grad / 3)


def test_ensemble_exports_with_parity(tmp_path):
    from bonenet.inference._export import export_network

    ens = _ensemble(2).eval()
    state = {"use_images": True, "use_clinical": True, "image_columns": ["image"],
             "preprocess": {"roi_size": [16, 16, 16]}, "encoder": {"feature_names": list("abcd")}}
    res = export_network(ens, state, tmp_path, format="torchscript", heads=("fracture", "survival"))
    assert res.max_abs_diff < 1e-5


def test_image_only_and_clinical_only_ensembles():
    torch.manual_seed(1)
    img = build_fusion_model(backbone="trabecular_cnn", clinical_features=0, ensemble=2,
                             backbone_kwargs={"channels": [4, 8]}).eval()
    x = _inputs()
    assert img(images=x["images"], image_present=x["image_present"])["fracture"].shape == (3,)
    clin = build_fusion_model(backbone=None, clinical_features=N_CLIN, ensemble=2).eval()
    assert clin(clinical=x["clinical"], clinical_observed=x["clinical_observed"])["fracture"].shape == (3,)


def test_member_0_starts_from_the_single_networks_weights():
    """One seed: the ensemble's first member is the network ``ensemble=1`` would build, the
    others are drawn after it — so an ensemble run is comparable to the single-network run."""
    single = _ensemble(1).state_dict()
    members = _ensemble(3).members
    for k, v in members[0].state_dict().items():
        assert torch.equal(v, single[k]), k
    assert not torch.equal(members[1].heads["fracture"].weight, members[0].heads["fracture"].weight)
