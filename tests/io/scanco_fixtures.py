"""A small synthetic HR-pQCT measurement as a clinic stores it: grey AIM + Scanco masks.

``python tests/io/scanco_fixtures.py`` rewrites the committed files in ``tests/io/data/scanco``
(needs aimio-py, the independent writer of half of them). The truth arrays are rebuilt by
:func:`phantom` so tests can compare what is read with what was meant.

Files (all voxel size 0.0607 mm, the XtremeCT II grid):

- ``C0000001.AIM``: grey values, short, v030, written by aimio-py, position (100, 120, 7),
  processing log with a Scanco calibration and a ``Patient Name`` line;
- ``C0000001_TRAB_MASK.AIM``: trabecular compartment, cropped to its bounding box, binary
  run-length (0x00150001), v020, written by bonenet;
- ``C0000001_CORT_MASK.AIM``: cortical compartment, cropped, binary run-length, v030,
  written by aimio-py;
- ``C0000001_SEG.AIM``: binarised bone, packed bits (0x00060001), v020, written by bonenet;
- ``labels_charcmp.aim``: three labels, char run-length (0x00080002), v020, bonenet;
- ``float_vms.aim``: float (VMS F-float, 0x00040004), v030, aimio-py;
- ``grey_v020.aim``: grey values, short, v020, written by bonenet's ``write_aim``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent / "data" / "scanco"
SPACING = 0.0607
SHAPE = (12, 60, 64)  # z, y, x
GREY_POSITION = (100, 120, 7)  # x, y, z on the scanner grid
CAL = {"mu_scaling": 8192, "density_slope": 1603.51904, "density_intercept": -391.209015, "mu_water": 0.2409}
LOG = (
    "!\n! Processing Log\n!\n"
    "!-------------------------------------------------------------------------------\n"
    "Created by                    ISQ_TO_AIM (IPL)\n"
    "Patient Name                  DOE^JOHN\n"
    "Index Patient                 4711\n"
    "Orig-ISQ-Dim-p                        2304        2304         168\n"
    "Mu_Scaling                            8192\n"
    "Calib. default unit type                 2 (Density)\n"
    "Density: unit                 mg HA/ccm\n"
    "Density: slope                  1.6035190430e+03\n"
    "Density: intercept             -3.9120901489e+02\n"
    "HU: mu water                         0.24090\n"
    "!-------------------------------------------------------------------------------\n"
)


def phantom() -> dict[str, np.ndarray]:
    """Truth on the grey grid (z, y, x): density (mg HA/cm³) and the compartment masks."""
    z, y, x = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    r = np.hypot(x - 31.5, (y - 29.5) * 1.1)
    peri = r < 26
    trab = r < 20
    cort = peri & ~trab
    rng = np.random.default_rng(7)
    plates = (np.sin(x * 0.9) + np.sin(y * 0.7) + np.sin(z * 0.8 + 1.0)) > 0.9
    density = rng.normal(0.0, 15.0, SHAPE)
    density[trab] = np.where(plates, 750.0, 120.0)[trab] + rng.normal(0, 15.0, int(trab.sum()))
    density[cort] = 1000.0 + rng.normal(0, 15.0, int(cort.sum()))
    seg = (density > 450.0) & peri
    return {"density": density, "trab_mask": trab, "cort_mask": cort, "periosteal_mask": peri, "seg": seg}


def native(density: np.ndarray) -> np.ndarray:
    """mg HA/cm³ → Scanco native int16 with :data:`CAL`."""
    v = (density - CAL["density_intercept"]) / CAL["density_slope"] * CAL["mu_scaling"]
    return np.round(v).astype(np.int16)


def bbox(mask: np.ndarray) -> tuple[slice, ...]:
    """The bounding box of a mask as (z, y, x) slices."""
    idx = np.argwhere(mask)
    return tuple(slice(int(a), int(b) + 1) for a, b in zip(idx.min(0), idx.max(0), strict=True))


def cropped(mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A mask cut to its bounding box, and its Scanco position (x, y, z) on the scanner grid."""
    box = bbox(mask)
    start_zyx = [s.start for s in box]
    pos = tuple(int(GREY_POSITION[i] + start_zyx[2 - i]) for i in range(3))
    return mask[box], pos  # type: ignore[return-value]


def write_all(folder: Path = HERE) -> None:
    """Write the fixture files (aimio-py and bonenet as the writers named in the docstring)."""
    import py_aimio

    from bonenet import Volume
    from bonenet.io import aim

    folder.mkdir(parents=True, exist_ok=True)
    t = phantom()
    sp = (SPACING,) * 3
    py_aimio.write_aim(str(folder / "C0000001.AIM"), native(t["density"]),
                       {"element_size": sp, "position": GREY_POSITION, "processing_log": LOG})
    trab, pos = cropped(t["trab_mask"])
    aim.write_aim_mask(trab, folder / "C0000001_TRAB_MASK.AIM", spacing_mm=sp, position=pos,
                       storage="bincmp", version="v020")
    cort, pos = cropped(t["cort_mask"])
    py_aimio.write_aim(str(folder / "C0000001_CORT_MASK.AIM"), np.where(cort, 127, 0).astype(np.int8),
                       {"element_size": sp, "position": pos})
    aim.write_aim_mask(t["seg"], folder / "C0000001_SEG.AIM", spacing_mm=sp, position=GREY_POSITION,
                       storage="bit8", version="v020")
    labels = np.zeros(SHAPE, np.int8)
    labels[t["cort_mask"]] = 1
    labels[t["trab_mask"]] = 2
    labels[t["seg"] & t["cort_mask"]] = 3
    aim.write_aim_mask(labels[:4], folder / "labels_charcmp.aim", spacing_mm=sp, storage="charcmp")
    f = np.random.default_rng(3).normal(0, 100, (3, 5, 7)).astype(np.float32)
    py_aimio.write_aim(str(folder / "float_vms.aim"), f, {"element_size": sp})
    vol = Volume(t["density"][:3].astype(np.float32), spacing=sp, units="mgHA/cm3", modality="HRPQCT")
    aim.write_aim(vol, folder / "grey_v020.aim", version="v020", mu_scaling=CAL["mu_scaling"],
                  density_slope=CAL["density_slope"], density_intercept=CAL["density_intercept"])


if __name__ == "__main__":
    write_all()
    for p in sorted(HERE.iterdir()):
        print(f"{p.name:28s} {p.stat().st_size:>8d} bytes")
