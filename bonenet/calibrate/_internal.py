"""Internal (phantomless) calibration from air, fat, muscle and blood ROIs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import CalibrationError
from ..volume import Volume
from ._model import Calibration, units_for
from ._phantom import fit_linear

__all__ = ["HU_PER_MG_K2HPO4", "INTERNAL_EXPECTED_ERROR", "INTERNAL_REFERENCE_HU",
           "internal_calibration"]

#: Nominal CT numbers (HU, 120 kVp) of the reference tissues — documented parameters; the
#: sources and published ranges are in docs/morphometry.md ("Constants and their sources"):
#: air −1000 HU is the definition of the Hounsfield scale; fat −100 HU (visceral adipose
#: tissue −93.9 HU, individual means −105.7 to −79.0, Framingham CT substudy); muscle +50 HU
#: (mid-thigh muscle 49.2 ± 2.8 HU in lean, 33.9–39.3 HU in obese adults: Goodpaster et al.,
#: J Appl Physiol 2000;89:104–110); blood +40 HU (unenhanced aortic blood about 25–50 HU,
#: set by haematocrit). Internal-calibration methods measure the tissues per scan instead
#: (Lee et al., Bone 2017;103:325–333: air with aortic blood or hip adipose; Michalski et
#: al., Med Eng Phys 2020: air, adipose, blood, bone, muscle); override with ``reference_hu``.
INTERNAL_REFERENCE_HU = {"air": -1000.0, "fat": -100.0, "muscle": 50.0, "blood": 40.0}
#: Relative error of internal calibration against a simultaneous phantom. Kaesmacher et al.
#: (J Comput Assist Tomogr 2017;41:217–223) found a root-mean-square deviation of 7.8 %
#: between internally calibrated unenhanced MDCT and QCT; 0.10 is a rounded-up bound.
INTERNAL_EXPECTED_ERROR = 0.10
#: Default CT-number increase per mg/cm³ of K2HPO4 (120 kVp). No primary literature source
#: was found for this value in two search passes (docs/morphometry.md lists what was
#: searched); it is of the order of a Mindways phantom fit (σ_CT ≈ 1.25 HU per mg/cm³ in
#: Bonelab Ogo's example), and it depends on the scanner, kVp, filtration and patient size
#: (calibration slopes vary with peak tube voltage and phantom type, not tube current: Reeves
#: et al., "Methods for post hoc quantitative computed tomography bone density calibration"):
#: set it for your scanner (e.g. from one phantom scan: the slope of HU against rod density).
HU_PER_MG_K2HPO4 = 1.22


def internal_calibration(
    volume: Volume,
    rois: Mapping[str, np.ndarray],
    *,
    reference_hu: Mapping[str, float] | None = None,
    hu_per_mg: float = HU_PER_MG_K2HPO4,
    material: str = "K2HPO4",
    min_r2: float = 0.98,
) -> Calibration:
    """Phantomless calibration: correct the scanner's HU scale with tissues, then convert.

    The mean image value in each tissue ROI is regressed on the tissue's nominal CT number
    (:data:`INTERNAL_REFERENCE_HU`), which corrects the scanner's offset and gain; corrected
    HU are converted to density with ``hu_per_mg`` (CT-number increase per mg/cm³ of the
    reference material at the scan's tube voltage).

    Its accuracy is 5–10 % against a simultaneous phantom (tissue composition varies between
    people, and ``hu_per_mg`` depends on kVp and patient size); the result carries
    ``expected_error = 0.10``. Use a phantom when one is in the scan.

    Parameters
    ----------
    volume : Volume
        CT image in HU.
    rois : mapping of tissue name to 3D bool mask
        At least two of ``"air"``, ``"fat"``, ``"muscle"``, ``"blood"``.
    reference_hu : mapping, optional
        Nominal CT numbers, overriding the defaults per tissue.
    hu_per_mg : float
        HU per mg/cm³ of ``material``.
    material : {"K2HPO4", "HA"}
    min_r2 : float
        Smallest acceptable R² of the tissue fit.

    Raises
    ------
    CalibrationError
        Unknown tissue, fewer than two ROIs, an empty ROI, or a poor fit.
    """
    units = units_for(material)
    ref = dict(INTERNAL_REFERENCE_HU)
    ref.update(reference_hu or {})
    unknown = [k for k in rois if k not in ref]
    if unknown:
        raise CalibrationError(f"unknown tissue ROI(s) {unknown}; use {sorted(ref)} or give reference_hu")
    if len(rois) < 2:
        raise CalibrationError(f"internal calibration needs at least two tissue ROIs; got {list(rois)}")
    if not hu_per_mg > 0:
        raise CalibrationError(f"hu_per_mg must be positive; got {hu_per_mg}")
    measured, nominal = [], []
    for name, mask in rois.items():
        m = np.asarray(mask, dtype=bool)
        if m.shape != volume.shape:
            raise CalibrationError(f"{name} ROI has shape {m.shape}, image has {volume.shape}")
        vals = volume.array[m]
        if vals.size < 10:
            raise CalibrationError(f"{name} ROI holds {vals.size} voxels; draw it inside the tissue")
        measured.append(float(np.median(vals)))
        nominal.append(ref[name])
    # corrected_HU = a * measured + b
    a, b, r2, resid = fit_linear(measured, nominal)
    if len(rois) > 2 and not r2 >= min_r2:
        raise CalibrationError(
            f"tissue ROIs disagree with their nominal CT numbers (R²={r2:.3f} < {min_r2}): "
            f"measured {np.round(measured, 1).tolist()} for {list(rois)}; check the ROIs"
        )
    slope = a / hu_per_mg
    intercept = b / hu_per_mg
    return Calibration(slope, intercept, units, "internal", r2=r2,
                       residuals=tuple(float(r) / hu_per_mg for r in resid),
                       expected_error=INTERNAL_EXPECTED_ERROR,
                       details={"tissues": list(rois), "measured_hu": measured, "nominal_hu": nominal,
                                "hu_per_mg": hu_per_mg, "material": material})
