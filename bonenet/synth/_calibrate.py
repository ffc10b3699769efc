"""Re-derive the constants that map microstructure targets to generator parameters.

Run ``python -m bonenet.synth._calibrate`` (needs porespy, a dev dependency). It generates
filtered-noise phantoms over a grid of internal parameters (plus a few extra points at strong
perforation, p = 0.2–0.3) (length ℓ, plate half-thickness t,
plate-keep fraction p, anisotropy α) at 30 µm voxels, measures Tb.Th and Tb.Sp with porespy's
local thickness (an independent, standard method) and prints one JSON line per phantom.
:func:`fit` turns those lines into the constants in ``microstructure._CAL``.
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


def measure_grid(n: int = 160, h: float = 0.03) -> list[dict[str, float]]:
    """Measure Tb.Th / Tb.Sp (porespy local thickness) over the calibration grid."""
    import porespy as ps

    rows = []
    for ell, t, p, alpha in itertools.product((0.25, 0.4), (0.08, 0.12), (1.0, 0.6, 0.35),
                                              (1.0, 1.5)):
        m = _phantom(n, h, ell, t, p, alpha, seed=1)
        th = 2 * h * float(ps.filters.local_thickness(m, method="dt")[m].mean())
        sp = 2 * h * float(ps.filters.local_thickness(~m, method="dt")[~m].mean())
        row = {"ell": ell, "t": t, "p": p, "alpha": alpha, "bv_tv": float(m.mean()),
               "band": float(m.mean() / p), "tb_th": th, "tb_sp": sp}
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
    return {"band": kb.round(4).tolist(), "th": kt.round(4).tolist(), "sp": ks.round(4).tolist()}


if __name__ == "__main__":  # pragma: no cover - maintenance script
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as fh:
            rows = [json.loads(line) for line in fh if line.startswith("{\"ell")]
    else:
        rows = measure_grid()
    print(json.dumps(fit(rows)))
