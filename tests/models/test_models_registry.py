"""Registry-driven tests (STYLE.md §6): every registered extractor, 2D and 3D."""

from __future__ import annotations

import pytest
import torch

from bonenet.errors import CheckpointError, ConfigError
from bonenet.models import create_model, list_models, load_pretrained

# Same architecture (depth, blocks), narrower, so the whole registry trains in seconds.
TINY_KW = {
    "densenet121": {"init_features": 16, "growth_rate": 8},
    "resnet10": {"widen_factor": 0.25},
    "resnet18": {"widen_factor": 0.25},
    "resnet34": {"widen_factor": 0.25},
    "resnet50": {"widen_factor": 0.25},
    "seresnet50": {"inplanes": 16},
}
# DenseNet and SE-ResNet pool 32x: they need 32 voxels per axis (SE-ResNet50 at 16³ is
# left with a sub-voxel map and its BatchNorm statistics blow up); the others run at 16³.
HEAVY_3D = {"densenet121", "seresnet50"}


def _cases():
    for name in list_models():
        for dims in (2, 3):
            marks = [pytest.mark.slow] if dims == 3 and name in HEAVY_3D else []
            yield pytest.param(name, dims, marks=marks, id=f"{name}-{dims}d")


@pytest.mark.parametrize(("name", "spatial_dims"), list(_cases()))
def test_every_backbone_trains_two_steps(name, spatial_dims):
    torch.manual_seed(0)
    model = create_model(name, spatial_dims=spatial_dims, in_channels=1, **TINY_KW.get(name, {}))
    head = torch.nn.Linear(model.feature_dim, 1)
    opt = torch.optim.SGD([*model.parameters(), *head.parameters()], lr=1e-2)
    size = 32 if (spatial_dims == 2 or name in HEAVY_3D) else 16
    x = torch.randn(2, 1, *([size] * spatial_dims))
    y = torch.tensor([0.0, 1.0])
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(2):
        opt.zero_grad()
        feats = model.forward_features(x)
        assert feats.shape == (2, model.feature_dim)
        assert torch.isfinite(feats).all()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(feats).squeeze(1), y)
        assert torch.isfinite(loss)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads, "no gradient reached the backbone"
        assert all(torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
        opt.step()
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert changed > 0


def test_list_models_has_the_promised_backbones():
    names = list_models()
    for n in ("trabecular_cnn", "densenet121", "resnet10", "resnet18", "resnet34", "seresnet50"):
        assert n in names
    assert list_models(spatial_dims=2) == names


def test_unknown_model_lists_known_ones():
    with pytest.raises(ConfigError) as e:
        create_model("resnet181", spatial_dims=3)
    assert "resnet181" in str(e.value) and "resnet18" in str(e.value) and "trabecular_cnn" in str(e.value)


def test_bad_spatial_dims():
    with pytest.raises(ConfigError, match="spatial_dims"):
        create_model("trabecular_cnn", spatial_dims=4)


def test_in_channels_respected():
    m = create_model("trabecular_cnn", spatial_dims=3, in_channels=2)
    assert m.forward_features(torch.randn(2, 2, 16, 16, 16)).shape == (2, m.feature_dim)


def test_medicalnet_style_weights_load(tmp_path):
    src = create_model("resnet10", spatial_dims=3, medicalnet=True)
    sd = {f"module.{k}": v for k, v in src.state_dict().items()}
    sd["module.fc.weight"] = torch.zeros(3, 512)  # classifier the extractor does not have
    path = tmp_path / "resnet_10.pth"
    torch.save({"state_dict": sd}, path)
    dst = create_model("resnet10", spatial_dims=3, medicalnet=True)
    rep = load_pretrained(dst, path)
    assert rep.unexpected == ["fc.weight"] and rep.missing == []
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    # through create_model(pretrained=...)
    again = create_model("resnet10", spatial_dims=3, medicalnet=True, pretrained=str(path))
    x = torch.randn(1, 1, 16, 16, 16)
    src.eval()
    again.eval()
    assert torch.allclose(src.forward_features(x), again.forward_features(x))


def test_safetensors_and_errors(tmp_path):
    from safetensors.torch import save_file

    src = create_model("trabecular_cnn", spatial_dims=2)
    p = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(p))
    dst = create_model("trabecular_cnn", spatial_dims=2)
    assert load_pretrained(dst, p, strict=True).missing == []
    with pytest.raises(CheckpointError, match="does not exist"):
        load_pretrained(dst, tmp_path / "nope.pt")
    wrong = create_model("trabecular_cnn", spatial_dims=3)
    with pytest.raises(CheckpointError, match="shape"):
        load_pretrained(wrong, p)
    junk = tmp_path / "junk.pt"
    torch.save({"a.b": torch.zeros(1)}, junk)
    with pytest.raises(CheckpointError, match="match"):
        load_pretrained(dst, junk)
