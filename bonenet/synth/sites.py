"""Sites of a synthetic cohort: each has its own scanner (voxel size, noise, calibration) and
case mix, so external validation across sites can be studied."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SynthError
from .risk import CaseMix
from .scanner import HrpqctScanner, QctScanner

__all__ = ["DEFAULT_SITES", "Site", "default_sites"]


@dataclass(frozen=True)
class Site:
    """One recruiting site.

    Attributes
    ----------
    name : str
        Written to the ``site`` column.
    weight : float
        Relative share of the cohort's subjects.
    case_mix : CaseMix
        Age, sex and risk-factor mix.
    hrpqct : HrpqctScanner
        Scanner used when ``modality="hrpqct"``.
    qct : QctScanner
        Scanner used when ``modality="qct"`` (and the pixel size for ``"dxa"``).
    external : bool
        Subjects of an external site get ``split="external"``.
    """

    name: str
    weight: float = 1.0
    case_mix: CaseMix = field(default_factory=CaseMix)
    hrpqct: HrpqctScanner = field(default_factory=lambda: HrpqctScanner("xtremect2", 0.0607,
                                                                         0.040, 90.0))
    qct: QctScanner = field(default_factory=lambda: QctScanner("ct_a"))
    external: bool = False


DEFAULT_SITES: tuple[Site, ...] = (
    Site("site_a", 0.45, CaseMix(age_mean=68.0, female_fraction=0.90),
         HrpqctScanner("xtremect2", 0.0607, 0.040, 90.0),
         QctScanner("ct_a", pixel_mm=0.7, slice_mm=1.0, a_hu=0.0, b_hu_per_mg=1.0,
                    noise_hu=12.0)),
    Site("site_b", 0.35, CaseMix(age_mean=73.0, female_fraction=0.80, risk_factor_odds=1.3),
         HrpqctScanner("xtremect1", 0.082, 0.055, 110.0, density_slope=1613.9,
                       density_intercept=-392.2),
         QctScanner("ct_b", pixel_mm=0.9, slice_mm=1.5, a_hu=-15.0, b_hu_per_mg=0.85,
                    noise_hu=18.0, psf_sigma_mm=0.8)),
    Site("site_c", 0.20, CaseMix(age_mean=64.0, female_fraction=0.75, risk_factor_odds=0.8),
         HrpqctScanner("xtremect2", 0.0607, 0.045, 105.0, bone_density=1050.0,
                       density_slope=1580.0, density_intercept=-380.0),
         QctScanner("ct_c", pixel_mm=0.6, slice_mm=1.0, a_hu=12.0, b_hu_per_mg=1.12,
                    noise_hu=15.0, psf_sigma_mm=0.5, rods_mg=(0.0, 75.0, 150.0, 225.0)),
         external=True),
)


def default_sites(*, treatments: tuple[str, ...] = ("none",),
                  names: tuple[str, ...] | None = None) -> tuple[Site, ...]:
    """The built-in sites, optionally restricted to ``names`` and given treatment arms."""
    from dataclasses import replace

    sites = DEFAULT_SITES
    if names is not None:
        known = {s.name: s for s in DEFAULT_SITES}
        bad = [n for n in names if n not in known]
        if bad:
            raise SynthError(f"site(s) {bad} unknown; built-in sites are {', '.join(known)}")
        sites = tuple(known[n] for n in names)
    return tuple(replace(s, case_mix=replace(s.case_mix, treatments=tuple(treatments)))
                 for s in sites)
