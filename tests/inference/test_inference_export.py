from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from inference_helpers import ROI, TinyFusion

from bonenet.errors import CheckpointError
from bonenet.inference._export import export_network

STATE = {"use_images": True, "use_clinical": True, "image_columns": ["image"],
         "preprocess": {"roi_size": [ROI, ROI, ROI], "format": "x"},
         "encoder": {"feature_names": ["age", "bmi", "prior_fracture"], "format": "y"}}


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_parity_and_json(tmp_path, fmt):
    torch.manual_seed(0)
    net = TinyFusion()
    res = export_network(net, STATE, tmp_path, format=fmt, heads=("fracture", "survival"),
                         meta={"model": "tiny"})
    assert res.max_abs_diff < 1e-4 and res.model.exists()
    cfg = json.loads(res.config.read_text())
    assert cfg["inputs"] == ["images", "image_present", "clinical", "clinical_observed"]
    assert cfg["outputs"] == ["fracture", "survival"] and cfg["model"] == "tiny"
    assert cfg["preprocess"]["roi_size"] == [ROI] * 3
    # the exported model runs on another batch size and matches the network
    x = torch.rand(5, 1, 1, ROI, ROI, ROI)
    present = torch.ones(5, 1, dtype=torch.bool)
    clin, obs = torch.randn(5, 3), torch.ones(5, 3)
    with torch.inference_mode():
        ref = torch.sigmoid(net(images=x, image_present=present, clinical=clin,
                                clinical_observed=obs)["fracture"]).numpy()
    if fmt == "torchscript":
        got = torch.jit.load(str(res.model))(x, present, clin, obs)[0].detach().numpy()
    else:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(res.model), providers=["CPUExecutionProvider"])
        got = sess.run(["risk_fracture"], {"images": x.numpy(), "image_present": present.numpy(),
                                           "clinical": clin.numpy(), "clinical_observed": obs.numpy()})[0]
    np.testing.assert_allclose(got, ref, atol=1e-5)


class _Stochastic(TinyFusion):
    """Dropout left on: exported output cannot match -> parity must fail."""

    def forward(self, **kw):
        out = super().forward(**kw)
        return {k: torch.nn.functional.dropout(v, 0.5, training=True) for k, v in out.items()}


def test_parity_failure_raises_and_writes_nothing(tmp_path):
    with pytest.raises(CheckpointError, match="differs"):
        export_network(_Stochastic(), STATE, tmp_path, format="torchscript",
                       heads=("fracture",))
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "model.json").exists()
