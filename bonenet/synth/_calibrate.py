"""Re-derive the constants that map microstructure targets to generator parameters.

Run ``python -m bonenet.synth._calibrate`` . It generates filtered-noise phantoms over a grid
of internal parameters (length ℓ, plate half-thickness t, plate-keep fraction p, anisotropy
α) at 37.5 µm voxels (128³, 4.8 mm), measures Tb.Th, Tb.Sp and Tb.N with
:func:`bonenet.morphometry.trabecular` (sub-voxel Hildebrand–Rüegsegger local thickness;
Tb.N by ridge-to-ridge spacing) and prints one JSON line per phantom; :func:`fit` turns those
lines into the constants in ``microstructure._CAL``. ``python -m bonenet.synth._calibrate
rows.jsonl`` refits from saved lines.
"""

from __future__ import annotations

import itertools
import json
import sys

import numpy as np

from ._fields import band_distance, gaussian_field


def _phantom(n: int, h: float, ell: float, t: float, p: float, alpha: float, seed: int):
    rng = np.random.default_rng(seed)
    sp = (h, h, h)
    z1 = gaussian_field((n, n, n), spacing=sp, length_mm=ell, anisotropy=alpha, rng=rng)
    z2 = np.abs(gaussian_field((n, n, n), spacing=sp, length_mm=ell, anisotropy=alpha, rng=rng))
    band = band_distance(z1, sp) < t
    if p < 1.0:
        band &= z2 < np.quantile(z2[band], p)
    return band


GRID = [*itertools.product((0.25, 0.4), (0.08, 0.12), (1.0, 0.6, 0.35), (1.0, 1.5)),
        (0.28, 0.15, 0.2, 1.3), (0.28, 0.15, 0.3, 1.3), (0.35, 0.2, 0.2, 1.3),
        (0.35, 0.2, 0.3, 1.3), (0.28, 0.2, 0.2, 1.3), (0.35, 0.15, 0.2, 1.3)]


def measure_grid(n: int = 128, h: float = 0.0375) -> list[dict[str, float]]:
    """Measure Tb.Th / Tb.Sp / Tb.N (bonenet.morphometry) over the calibration grid."""
    from ..morphometry import trabecular

    rows = []
    for ell, t, p, alpha in GRID:
        m = _phantom(n, h, ell, t, p, alpha, seed=1)
        r = trabecular(m, spacing=h, smi=False)
        row = {"ell": ell, "t": t, "p": p, "alpha": alpha, "bv_tv": float(m.mean()),
               "band": float(m.mean() / p), "tb_th": r["Tb.Th"], "tb_sp": r["Tb.Sp"],
               "tb_n": r["Tb.N"]}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def fit(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    """Least-squares constants of the three relations used by ``microstructure``."""
    r = {k: np.array([row[k] for row in rows]) for k in rows[0]}
    q = 1.0 - r["p"]
    a1 = r["alpha"] - 1.0
    u = r["t"] / r["ell"]
    # band fraction = t/ℓ (k0 + k1 (α-1) + k2 t/ℓ)
    xb = np.stack([u, u * a1, u * u], 1)
    kb = np.linalg.lstsq(xb, r["band"], rcond=None)[0]
    # Tb.Th = 2t (a0 + a1 q + a2 q² + a3 q t/ℓ)
    xt = 2 * r["t"][:, None] * np.stack([np.ones_like(q), q, q**2, q * u], 1)
    kt = np.linalg.lstsq(xt, r["tb_th"], rcond=None)[0]
    # log Tb.Sp = c0 + c1 log ℓ + c2 log t + c3 q + c4 q² + c5 (α-1)
    xs = np.stack([np.ones_like(q), np.log(r["ell"]), np.log(r["t"]), q, q**2, a1], 1)
    ks = np.linalg.lstsq(xs, np.log(r["tb_sp"]), rcond=None)[0]
    # log Tb.N, same terms as Tb.Sp
    kn = np.linalg.lstsq(xs, np.log(r["tb_n"]), rcond=None)[0] if "tb_n" in r else np.zeros(6)
    return {"band": kb.round(4).tolist(), "th": kt.round(4).tolist(), "sp": ks.round(4).tolist(),
            "n": kn.round(4).tolist()}


if __name__ == "__main__":  # pragma: no cover - maintenance script
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as fh:
            rows = [json.loads(line) for line in fh if line.startswith("{\"ell")]
    else:
        rows = measure_grid()
    print(json.dumps(fit(rows)))
