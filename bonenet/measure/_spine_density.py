"""Density on routine CT: internal (phantomless) and phantom calibration, contrast phase,
Genant grades and the research flags (Pickhardt L1 thresholds, ACR QCT categories).

Literature constants (cited again in docs/spine.md):

* Genant HK, Wu CY, van Kuijk C, Nevitt MC. Vertebral fracture assessment using a
  semiquantitative technique. J Bone Miner Res 1993;8(9):1137–1148 — grade 1 (mild)
  20–25 %, grade 2 (moderate) 25–40 %, grade 3 (severe) > 40 % reduction in anterior,
  middle and/or posterior height.
* Pickhardt PJ, Pooler BD, Lauder T, et al. Opportunistic screening for osteoporosis using
  abdominal CT scans obtained for other indications. Ann Intern Med 2013;158(8):588–595 —
  L1 trabecular attenuation ≤ 110 HU highly specific, ≤ 160 HU sensitive for
  osteoporosis, > 200 HU normal.
* Pickhardt PJ, Lauder T, Pooler BD, et al. Effect of IV contrast on lumbar trabecular
  attenuation at routine abdominal CT. Osteoporos Int 2016;27(1):147–152 — portal-venous
  minus unenhanced L1 attenuation +11.2 HU (95 % CI 8.2–14.2).
* Kaesmacher J, Liebl H, Baum T, Kirschke JS. Bone mineral density estimations from routine
  MDCT: a comparative study of contrast and calibration effects. J Comput Assist Tomogr
  2017;41(2):217–223 — contrast biases both phantom and internal calibration; arterial
  phase least predictable. bonenet therefore refuses to categorise arterial-phase scans.
* ACR–SPR–SSR Practice Parameter for the Performance of Musculoskeletal Quantitative CT
  (2018): trabecular vBMD < 80 mg/cm³ osteoporosis, 80–120 low bone mass, > 120 normal
  (:func:`bonenet.calibrate.acr_category`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..calibrate import Calibration, internal_calibration, phantom_calibration
from ..errors import CalibrationError, ConfigError
from ..volume import Volume

__all__ = [
    "CONTRAST_CORRECTION_HU",
    "GENANT_THRESHOLDS",
    "PHASES",
    "PICKHARDT_L1_HU",
    "genant_grade",
    "pickhardt_flag",
    "spine_internal_calibration",
    "spine_phantom_calibration",
    "tissue_rois",
]

#: Genant 1993 height-reduction cut-offs: grade 1 from 20 %, 2 from 25 %, 3 above 40 %.
GENANT_THRESHOLDS = (0.20, 0.25, 0.40)
#: Pickhardt 2013 L1 thresholds (HU): highly specific, sensitive, normal-above.
PICKHARDT_L1_HU = {"specific": 110.0, "sensitive": 160.0, "normal": 200.0}
#: Median aortic HU above which blood is taken as contrast-enhanced and not used as an
#: internal reference (unenhanced blood is about 40 HU; haematocrit moves it by ± 20 HU).
BLOOD_CONTRAST_HU = 100.0
#: Tissue ROIs are placed on one slice every this many mm (medians need no more).
ROI_SLICE_STEP_MM = 5.0
#: Contrast phases a user may declare.
PHASES = ("native", "portal", "arterial")
#: HU subtracted from trabecular attenuation per phase (Pickhardt 2016: portal +11.2 HU);
#: ``None`` = no published correction bonenet trusts: density categories are refused.
CONTRAST_CORRECTION_HU: dict[str, float | None] = {"native": 0.0, "portal": 11.2, "arterial": None}


def check_phase(phase: str) -> str:
    if phase not in PHASES:
        raise ConfigError(f"contrast phase {phase!r} unknown; declare one of {', '.join(PHASES)} "
                          "(--phase native for unenhanced scans)")
    return phase


def genant_grade(heights: Sequence[float], *, neighbour_height: float | None = None
                 ) -> tuple[int | None, float, str]:
    """Genant semi-quantitative grade from the anterior, middle and posterior heights (mm).

    The reduction is ``1 − min(h) / max(h)`` within the vertebra (wedge: anterior lowest;
    biconcave: middle lowest), or, when ``neighbour_height`` (mean of the adjacent
    vertebrae's largest height) is given, also ``1 − max(h) / neighbour_height`` (crush),
    whichever is larger.

    Returns
    -------
    grade : int or None
        0 normal (< 20 %), 1 mild (20–25 %), 2 moderate (25–40 %), 3 severe (> 40 %);
        None when a height is missing.
    reduction : float
        The height reduction (fraction).
    kind : str
        ``"wedge"``, ``"biconcave"``, ``"crush"``, or ``""`` for grade 0.
    """
    h = np.asarray(heights, dtype=np.float64)
    if h.shape != (3,) or not np.all(np.isfinite(h)) or np.any(h <= 0):
        return None, float("nan"), ""
    red = 1.0 - h.min() / h.max()
    kind = ("wedge", "biconcave", "crush")[int(np.argmin(h))]
    if neighbour_height is not None and np.isfinite(neighbour_height) and neighbour_height > 0:
        crush = 1.0 - h.max() / float(neighbour_height)
        if crush > red:
            red, kind = crush, "crush"
    t1, t2, t3 = GENANT_THRESHOLDS
    grade = 0 if red < t1 else 1 if red < t2 else 2 if red <= t3 else 3
    return grade, float(red), kind if grade else ""


def pickhardt_flag(hu: float) -> str:
    """Pickhardt 2013 research flag for an L1 trabecular attenuation (native-equivalent HU)."""
    if not np.isfinite(hu):
        return ""
    t = PICKHARDT_L1_HU
    if hu <= t["specific"]:
        return "osteoporosis likely (<=110 HU)"
    if hu <= t["sensitive"]:
        return "osteoporosis possible (<=160 HU)"
    if hu > t["normal"]:
        return "normal (>200 HU)"
    return "indeterminate (160-200 HU)"


def _body_outline(volume: Volume) -> np.ndarray:
    """The patient's body: the largest piece above −500 HU, holes filled slice by slice."""
    from scipy import ndimage as ndi

    inside = volume.array > -500.0
    lab, n = ndi.label(inside)
    if n == 0:
        raise CalibrationError("no tissue above -500 HU in the image: cannot place tissue ROIs")
    sizes = np.bincount(lab.ravel())[1:]
    body = lab == int(np.argmax(sizes)) + 1
    return np.stack([ndi.binary_fill_holes(s) for s in body])


def tissue_rois(volume: Volume, vertebrae: np.ndarray, *, tissues: Mapping[str, np.ndarray],
                phase: str = "native") -> dict[str, np.ndarray]:
    """Place air, subcutaneous-fat, muscle and blood ROIs in the slices of the vertebrae.

    * air: −1100 … −900 HU, more than 10 mm outside the body outline (inside the scanned
      field, not the padding outside the reconstruction circle);
    * subcutaneous fat: −190 … −30 HU within 30 mm inside the body outline;
    * muscle: the paraspinal/psoas masks eroded by 2 mm in-plane, 0 … 100 HU;
    * blood: the aorta mask eroded by 2 mm in-plane (native phase only: contrast changes
      blood).

    Every ROI is limited to the slices the vertebrae span, one every
    :data:`ROI_SLICE_STEP_MM` mm; distances are in-plane (skin depth, erosion of the masks).
    ROIs with fewer than 50 voxels are left out.
    """
    import edt

    zs = np.nonzero(vertebrae.any(axis=(1, 2)))[0]
    # tissue medians need no more than a slice every ~5 mm; distances are in-plane
    step = max(1, round(ROI_SLICE_STEP_MM / volume.spacing[0]))
    slab = slice(int(zs.min()), int(zs.max()) + 1, step)
    sp = (1e4, volume.spacing[1], volume.spacing[2])
    img = np.ascontiguousarray(volume.array[slab])
    body = _body_outline(volume.replace(array=img, meta={}))
    inside = edt.edt(body.astype(np.uint8), anisotropy=sp, black_border=False)
    outside = edt.edt((~body).astype(np.uint8), anisotropy=sp, black_border=False)
    local = {
        "air": (outside > 10.0) & (img > -1100) & (img < -900),
        "fat": body & (inside > 0) & (inside <= 30.0) & (img > -190) & (img < -30),
    }
    if "muscle" in tissues:
        d = edt.edt(np.ascontiguousarray(tissues["muscle"][slab], dtype=np.uint8), anisotropy=sp,
                    black_border=True)
        local["muscle"] = (d > 2.0) & (img > 0) & (img < 100)
    if "aorta" in tissues and phase == "native":
        d = edt.edt(np.ascontiguousarray(tissues["aorta"][slab], dtype=np.uint8), anisotropy=sp,
                    black_border=True)
        local["blood"] = d > 2.0
    rois = {}
    for k, m in local.items():
        if int(m.sum()) >= 50:
            full = np.zeros(volume.shape, dtype=bool)
            full[slab] = m
            rois[k] = full
    return rois


def spine_internal_calibration(volume: Volume, vertebrae: np.ndarray, *,
                               tissues: Mapping[str, np.ndarray], phase: str = "native",
                               material: str = "K2HPO4", **kwargs: object) -> Calibration:
    """Internal calibration (:func:`bonenet.calibrate.internal_calibration`) from ROIs placed
    by :func:`tissue_rois`; the ROIs' voxel counts are recorded in ``details``."""
    rois = tissue_rois(volume, vertebrae, tissues=tissues, phase=phase)
    dropped = ""
    if "blood" in rois:
        blood = float(np.median(volume.array[rois["blood"]]))
        if blood > BLOOD_CONTRAST_HU:  # unenhanced blood is 30–60 HU: contrast is present
            del rois["blood"]
            dropped = (f"aortic blood at {blood:.0f} HU (> {BLOOD_CONTRAST_HU:.0f}): contrast "
                       "present, blood left out of the calibration; declare --phase")
    if len(rois) < 2:
        raise CalibrationError(
            f"internal calibration found only {sorted(rois) or 'no'} reference tissue(s) in the "
            "vertebrae's slices (needs 2 of air, fat, muscle, blood); give masks with the "
            "paraspinal muscles and aorta (TotalSegmentator total task), or use a phantom")
    cal = internal_calibration(volume, rois, material=material, **kwargs)  # type: ignore[arg-type]
    cal.details["roi_voxels"] = {k: int(v.sum()) for k, v in rois.items()}
    if dropped:
        cal.details["warning"] = dropped
    return cal


def spine_phantom_calibration(volume: Volume, densities: Sequence[float], *, radius_mm: float,
                              material: str = "K2HPO4") -> Calibration:
    """Phantom calibration with rods searched outside the patient's body (under the table).

    Rods are found by :func:`bonenet.calibrate.find_rods` and matched to ``densities`` in
    order of their mean image value (the densest rod is the brightest).
    """
    from ..calibrate import find_rods, rod_mask

    outside = ~_body_outline(volume).any(axis=0)
    rods = find_rods(volume, n=len(densities), radius_mm=radius_mm, search=outside)
    means = [float(volume.array[rod_mask(volume.shape, r)].mean()) for r in rods]
    ordered = [rods[i] for i in np.argsort(means)]
    return phantom_calibration(volume, sorted(float(d) for d in densities), rods=ordered,
                               material=material)
