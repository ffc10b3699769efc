"""FusionModel: fusion modes, ablations, multi-image pooling, masking, risk, tracing."""

from __future__ import annotations

import math

import pytest
import torch

from bonenet.errors import ConfigError
from bonenet.models import FusionModel, build_fusion_model, create_model

F = 5


def _inputs(b=3, k=2, roi=16, dims=3):
    g = torch.Generator().manual_seed(0)
    images = torch.randn(b, k, 1, *([roi] * dims), generator=g)
    present = torch.ones(b, k, dtype=torch.bool)
    clinical = torch.randn(b, F, generator=g)
    observed = torch.ones(b, F)
    return images, present, clinical, observed


@pytest.mark.parametrize("fusion", ["concat", "gated", "film"])
def test_fusion_modes_all_heads(fusion):
    net = FusionModel(create_model("trabecular_cnn", spatial_dims=3), F, fusion=fusion,
                      heads=("fracture", "survival", "bmd_change"), n_intervals=10)
    out = net(*_inputs())
    assert out["fracture"].shape == (3,)
    assert out["survival"].shape == (3, 10, 2)
    assert out["bmd_change"].shape == (3,)
    loss = out["fracture"].sum() + out["survival"].sum() + out["bmd_change"].sum()
    loss.backward()
    assert net.image_encoder.stages[0].down[0].weight.grad.abs().sum() > 0
    assert net.clinical_encoder.net[0].weight.grad.abs().sum() > 0


def test_additive_fusion_is_image_term_plus_linear_clinical_term():
    torch.manual_seed(0)
    net = FusionModel(create_model("trabecular_cnn", spatial_dims=3), F, fusion="additive",
                      heads=("fracture", "survival")).eval()
    images, present, clinical, observed = _inputs()
    out = net(images, present, clinical, observed)
    assert out["fracture"].shape == (3,) and out["survival"].shape == (3, 10, 2)
    # linear in the clinical values: moving one value by d moves the logit by w * d, whatever the image
    w = net.clinical_coefficients("fracture")
    assert w.shape == (1, 2 * F)
    moved = clinical.clone()
    moved[:, 1] += 2.0
    delta = net(images, present, moved, observed)["fracture"] - out["fracture"]
    assert torch.allclose(delta, torch.full_like(delta, 2.0 * float(w[0, 1])), atol=1e-5)
    # the image term does not depend on the clinical values
    other = images.clone()
    other[0] += 0.5
    d_img = net(other, present, clinical, observed)["fracture"] - out["fracture"]
    d_img2 = net(other, present, moved, observed)["fracture"] - net(images, present, moved, observed)["fracture"]
    assert torch.allclose(d_img, d_img2, atol=1e-5) and d_img[0].abs() > 0
    # a missing value is masked in the linear term too
    observed[2, 3] = 0.0
    garbage = clinical.clone()
    garbage[2, 3] = 1e3
    assert torch.allclose(net(images, present, clinical, observed)["fracture"],
                          net(images, present, garbage, observed)["fracture"], atol=1e-5)
    # gradients reach both sides
    net.train()
    net(images, present, clinical, observed)["fracture"].sum().backward()
    assert net.image_encoder.stages[0].down[0].weight.grad.abs().sum() > 0
    assert net.clinical_linear["fracture"].weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="additive"):
        FusionModel(create_model("trabecular_cnn", spatial_dims=3), F, fusion="film").clinical_coefficients()


def test_linear_clinical_path_is_logistic_regression():
    """clinical_path='linear': the fracture logit is one linear map of [x·m, m]; fitted by
    maximum likelihood it reproduces an unpenalised scikit-learn logistic regression."""
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(3)
    n = 600
    x = torch.randn(n, F, generator=g)
    beta = torch.tensor([0.8, -0.5, 0.0, 0.3, 1.2])
    y = (torch.rand(n, generator=g) < torch.sigmoid(x @ beta - 0.7)).float()
    observed = torch.ones(n, F)
    net = FusionModel(None, F, clinical_path="linear", heads=("fracture", "survival"))
    assert net.linear_only and not hasattr(net, "trunk")
    opt = torch.optim.LBFGS(net.clinical_linear["fracture"].parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(clinical=x, clinical_observed=observed)["fracture"], y)
        loss.backward()
        return loss

    opt.step(closure)
    ref = LogisticRegression(C=1e9, max_iter=5000).fit(x.numpy(), y.numpy())
    w = net.clinical_coefficients("fracture")[0, :F].numpy()
    assert w == pytest.approx(ref.coef_[0], abs=2e-3)
    # the observed-indicator weights are collinear with the bias when nothing is missing: the
    # intercept is their sum plus the bias
    b = float(net.clinical_linear["fracture"].bias) + float(net.clinical_coefficients("fracture")[0, F:].sum())
    assert b == pytest.approx(float(ref.intercept_[0]), abs=2e-3)
    assert net(clinical=x[:4], clinical_observed=observed[:4])["survival"].shape == (4, 10, 2)
    with pytest.raises(ConfigError, match="no embedding"):
        net.embed(clinical=x, clinical_observed=observed)
    with pytest.raises(ConfigError, match="clinical-only"):
        FusionModel(create_model("trabecular_cnn", spatial_dims=3), F, clinical_path="linear")
    with pytest.raises(ConfigError, match="clinical_path must be one of"):
        FusionModel(None, F, clinical_path="wide")


@pytest.mark.parametrize("backbone", [None, "trabecular_cnn"])
def test_wide_deep_starts_from_the_linear_term_and_learns_both(backbone):
    torch.manual_seed(0)
    enc = create_model(backbone, spatial_dims=3) if backbone else None
    net = FusionModel(enc, F, fusion="film", clinical_path="wide_deep", heads=("fracture", "survival"))
    images, present, clinical, observed = _inputs()
    kw = {"images": images, "image_present": present} if backbone else {}
    out = net(clinical=clinical, clinical_observed=observed, **kw)
    # at initialisation the deep heads are zero: the output is exactly the linear clinical term
    from bonenet.models.fusion import _masked

    wide = net.clinical_linear["fracture"](_masked(clinical, observed)).squeeze(-1)
    assert torch.allclose(out["fracture"], wide, atol=1e-6)
    assert out["survival"].shape == (3, 10, 2)
    assert net.clinical_encoder is not None  # the deep clinical path is kept
    out["fracture"].sum().backward()
    assert net.clinical_linear["fracture"].weight.grad.abs().sum() > 0
    assert net.heads["fracture"].weight.grad.abs().sum() > 0  # the deep head leaves zero


def test_clinical_path_is_stored_and_rebuilt():
    ens = build_fusion_model(backbone=None, clinical_features=F, clinical_path="linear", ensemble=3)
    assert all(m.linear_only for m in ens.members)
    single = build_fusion_model(backbone=None, clinical_features=F)
    assert single.clinical_path == "mlp" and not single.wide


def test_trabecular_cnn_features_carry_the_input_level():
    """With input_stats the pooled input mean (the region's density) is part of the features,
    so two inputs that differ by a constant offset never collapse to the same features."""
    from bonenet.models.trabecular import TrabecularCNN

    net = TrabecularCNN(spatial_dims=3, input_stats=True).eval()
    x = torch.rand(2, 1, 16, 16, 16)
    a, b = net.forward_features(x), net.forward_features(x + 0.25)
    assert a.shape == (2, net.feature_dim) and net.feature_dim == 2 * (32 + 64) + 2
    assert torch.allclose(b[:, 0] - a[:, 0], torch.full((2,), 0.25), atol=1e-5)  # input mean first
    assert torch.allclose(b[:, 1], a[:, 1], atol=1e-5)  # input SD unchanged by an offset
    assert TrabecularCNN(spatial_dims=3).feature_dim == 2 * (32 + 64)  # off by default


def test_image_only_and_clinical_only_same_code():
    images, present, clinical, observed = _inputs()
    img_only = FusionModel(create_model("trabecular_cnn", spatial_dims=3), 0)
    assert img_only(images, present)["fracture"].shape == (3,)
    clin_only = build_fusion_model(backbone=None, clinical_features=F)
    assert clin_only(clinical=clinical, clinical_observed=observed)["fracture"].shape == (3,)
    with pytest.raises(ValueError, match="images"):
        img_only(clinical=clinical)
    with pytest.raises(ValueError, match="clinical"):
        clin_only()
    with pytest.raises(ConfigError, match="image encoder, clinical features, or both"):
        FusionModel(None, 0)


def test_padded_images_and_missing_clinical_are_ignored():
    torch.manual_seed(0)
    net = FusionModel(create_model("trabecular_cnn", spatial_dims=3), F, fusion="film").eval()
    images, present, clinical, observed = _inputs()
    present[0, 1] = False  # subject 0 has one image only
    observed[1, 2] = 0.0  # subject 1 misses variable 2
    base = net(images, present, clinical, observed)["fracture"]
    images2, clinical2 = images.clone(), clinical.clone()
    images2[0, 1] = 100.0  # garbage in the padded slot
    clinical2[1, 2] = 1e3  # garbage in the missing value
    again = net(images2, present, clinical2, observed)["fracture"]
    assert torch.allclose(base, again, atol=1e-6)
    # but a real image slot does matter
    images2[0, 0] = 5.0
    assert not torch.allclose(base, net(images2, present, clinical2, observed)["fracture"])


def test_pooling_over_images_is_order_invariant():
    net = FusionModel(create_model("trabecular_cnn", spatial_dims=2), 0).eval()
    images, present, _, _ = _inputs(dims=2, roi=32)
    a = net(images, present)["fracture"]
    b = net(images.flip(1), present)["fracture"]
    assert torch.allclose(a, b, atol=1e-6)


def test_risk_conversion_is_the_cumulative_incidence_of_fracture():
    # interval logits of fracture and death against "no event", 3 intervals, by hand
    logits = torch.tensor([[[0.0, -1.0], [-1.0, 0.5], [2.0, -0.3]]])
    out = FusionModel.risk({"fracture": torch.tensor([0.0]), "survival": logits})
    s, cif = 1.0, []
    total = 0.0
    for zf, zd in logits[0].tolist():
        den = 1 + math.exp(zf) + math.exp(zd)
        total += s * math.exp(zf) / den
        s *= 1 / den
        cif.append(total)
    torch.testing.assert_close(out["survival_curve"][0], torch.tensor(cif), atol=1e-6, rtol=1e-6)
    assert out["survival"].item() == pytest.approx(cif[-1], abs=1e-6)
    assert torch.allclose(out["fracture"], torch.tensor([0.5]))
    # without deaths (death logit -inf) it is 1 - prod(1 - h) of the fracture hazards
    zf = torch.tensor([[0.0, -1.0, 2.0]])
    no_death = torch.stack([zf, torch.full_like(zf, -1e4)], dim=-1)
    h = torch.sigmoid(zf)
    assert torch.allclose(FusionModel.risk({"survival": no_death})["survival"], 1 - (1 - h).prod(dim=1))


def test_old_single_cause_checkpoint_loads_and_gives_its_old_risk():
    torch.manual_seed(0)
    new = FusionModel(None, F, heads=("survival",), n_intervals=4, dropout=0.0).eval()
    sd = new.state_dict()
    old_w, old_b = torch.randn(4, sd["heads.survival.weight"].shape[1]), torch.randn(4)
    sd["heads.survival.weight"], sd["heads.survival.bias"] = old_w, old_b  # the old (J, hidden) layout
    new.load_state_dict(sd)
    _, _, clinical, observed = _inputs()
    z = new.embed(clinical=clinical, clinical_observed=observed)
    h = torch.sigmoid(z @ old_w.T + old_b)
    risk = FusionModel.risk(new(clinical=clinical, clinical_observed=observed))["survival"]
    torch.testing.assert_close(risk, 1 - (1 - h).prod(dim=1), atol=1e-6, rtol=1e-5)


def test_torchscript_trace_matches_eager():
    net = FusionModel(create_model("trabecular_cnn", spatial_dims=3), F, fusion="gated",
                      heads=("fracture", "survival")).eval()
    args = _inputs()
    traced = torch.jit.trace(net, args, strict=False)
    a, b = net(*args), traced(*args)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5)


def _fit_head(x, time, event, *, competing, steps=400):
    """Maximise the survival head's likelihood on (x, time, event); return 10-year risks."""
    from bonenet.training import survival_nll

    torch.manual_seed(0)
    net = FusionModel(None, x.shape[1], heads=("survival",), n_intervals=10, hidden=16, dropout=0.0)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        z = net(clinical=x)["survival"]
        if not competing:  # the old head: fracture hazards only, deaths censored
            z = z[..., 0]
        survival_nll(z, time, event).backward()
        opt.step()
    with torch.no_grad():
        z = net(clinical=x)["survival"]
        if competing:
            return FusionModel.risk({"survival": z})["survival"].numpy()
        return (1 - torch.prod(1 - torch.sigmoid(z[..., 0]), dim=1)).numpy()


def test_competing_head_recovers_true_cumulative_incidence_by_age_decade():
    """Fit the head on a 50 000-subject synthetic cohort (risk model only, no images); its mean
    10-year risk must be within 10 % of the true cumulative incidence overall and per age
    decade, where the deaths-censored head overstates it in the old."""
    import numpy as np

    from bonenet.synth import make_cohort

    c = make_cohort(50000, seed=5, images=False, show_progress=False)
    m, truth = c.manifest, c.truth
    cols = ["age", "bmi", "fn_tscore", "prior_fracture", "parent_hip_fracture", "current_smoking",
            "glucocorticoids", "rheumatoid_arthritis", "alcohol_3plus"]
    x = m[cols].to_numpy(dtype=float)
    x = np.column_stack([(x - x.mean(0)) / x.std(0), (m["sex"] == "F").to_numpy(float)])
    x = torch.tensor(x, dtype=torch.float32)
    time = torch.tensor(m["time_years"].to_numpy(), dtype=torch.float32)
    event = torch.tensor(m["event"].to_numpy(), dtype=torch.long)
    true = truth["oracle_risk_10y"].to_numpy()
    decade = np.minimum(m["age"].to_numpy() // 10 * 10, 80)
    pred = _fit_head(x, time, event, competing=True)
    assert abs(pred.mean() / true.mean() - 1) < 0.10, (pred.mean(), true.mean())
    for d in (50, 60, 70, 80):
        sel = decade == d
        assert abs(pred[sel].mean() / true[sel].mean() - 1) < 0.10, (d, pred[sel].mean(), true[sel].mean())
    print("competing head vs true CIF:", pred.mean(), true.mean(),
          [(d, pred[decade == d].mean(), true[decade == d].mean()) for d in (50, 60, 70, 80)])
    old = _fit_head(x, time, event, competing=False)
    print("deaths-censored head, 80-90 and overall:", old[decade == 80].mean(), old.mean())
    sel = decade == 80
    assert old[sel].mean() / true[sel].mean() - 1 > 0.15  # deaths censored: overstates the old's risk
