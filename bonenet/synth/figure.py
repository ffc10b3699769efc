"""The README picture: healthy vs osteoporotic phantoms, slices and projections (matplotlib).

``python -m bonenet.synth.figure docs/img/synth_phantoms.png`` rebuilds it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .._atomic import atomic_path
from .bone import distal_section, vertebral_body
from .scanner import project_areal, simulate_hrpqct

__all__ = ["phantom_figure"]

_CASES = (
    ("healthy", {"bv_tv": 0.18, "tb_th": 0.21, "tb_sp": 0.85, "ct_th": 1.05, "ct_po": 0.02,
                 "bone_loss": 0.0}, 180.0),
    ("osteoporotic", {"bv_tv": 0.18, "tb_th": 0.21, "tb_sp": 0.85, "ct_th": 0.65, "ct_po": 0.08,
                      "bone_loss": 1.0}, 70.0),
)


def phantom_figure(path: str | Path, *, seed: int = 0) -> Path:
    """Draw healthy vs osteoporotic phantoms and save a PNG at ``path``.

    Columns: an XtremeCT II-like distal radius slice (mg HA/cm³), a zoom on its trabecular
    bone, a projection of the trabecular bone fraction through 2.4 mm (areal density, like a
    radiograph of the slab), and a DXA-like lumbar projection (g/cm²).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sp = (0.0607,) * 3
    fig, axes = plt.subplots(2, 4, figsize=(14.5, 7.0), constrained_layout=True)
    for row, (name, kw, vbmd) in enumerate(_CASES):
        sec = distal_section((40, 400, 400), spacing=sp, bone="radius", seed=seed, **kw)
        vol = simulate_hrpqct(sec.fraction, spacing=sp, scanner="xtremect2", seed=seed + 1)
        sl = vol.array[20]
        ax = axes[row, 0]
        im = ax.imshow(sl, cmap="gray", vmin=-100, vmax=1100)
        ax.set_title(f"{name} distal radius (HR-pQCT)\nBV/TV {sec.truth['bv_tv']:.2f}  "
                     f"Tb.Sp {sec.truth['tb_sp_mm']:.2f}  Ct.Th {kw['ct_th']:.2f} mm",
                     fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8, label="mg HA/cm³")
        ax = axes[row, 1]
        ax.imshow(sl[140:260, 140:260], cmap="gray", vmin=-100, vmax=1100)
        ax.set_title("trabecular bone, 7.3 mm field", fontsize=9)
        ax = axes[row, 2]
        proj = sec.fraction[:, 140:260, 140:260].sum(axis=0) * sp[0]
        im = ax.imshow(proj, cmap="magma", vmin=0.0, vmax=2.0)
        ax.set_title("projection through 2.4 mm\n(bone thickness, mm)", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
        vb = vertebral_body((80, 90, 80), spacing=(1.0, 1.0, 1.0), tb_vbmd=vbmd, seed=seed)
        dxa = project_areal(vb["density"], spacing=(1.0, 1.0, 1.0), seed=seed)
        ax = axes[row, 3]
        im = ax.imshow(dxa.array[0], cmap="bone", vmin=0, vmax=1.4)
        ax.set_title(f"DXA-like lumbar projection\ntrabecular vBMD {vbmd:.0f} mg/cm³", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8, label="g/cm²")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("bonenet.synth phantoms (synthetic; healthy vs osteoporotic)", fontsize=11)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path


if __name__ == "__main__":  # pragma: no cover
    print(phantom_figure(sys.argv[1] if len(sys.argv) > 1 else "docs/img/synth_phantoms.png"))
