"""Treatment arms of the synthetic world: site-specific BMD gains and anti-fracture efficacy.

Each arm has the BMD change its trial reported at the lumbar spine and at the hip (measured,
not derived from the spine), and its anti-fracture efficacy as relative risks at three sites
(clinical vertebral, hip, other major osteoporotic sites: forearm and humerus), taken from
placebo-controlled fracture trials. The synthetic model's outcome is a first *major
osteoporotic fracture* (MOF: hip, clinical spine, forearm, humerus, as in FRAX), so the
efficacy on the MOF hazard is the site relative risks weighted by each site's share of MOF
(:data:`MOF_SITE_SHARES`).

Why the BMD gain does not also lower the risk: fracture-trial relative risks are intention-
to-treat *total* effects, which already include what the drug does through BMD; adding the
BMD pathway as well would count it twice. The BMD gains are kept as each subject's expected
change (``truth.csv``: ``hip_bmd_change_pct``), so a model can be asked to predict them.

Sources (also in docs/synth.md, "Sources checked"; what could not be re-read is said so):

- Wimalawansa SJ, Am J Med 1998;104:219–226, doi:10.1016/S0002-9343(98)00029-1
  (established postmenopausal osteoporosis, 72 women, 4 years; figures from the abstract,
  each P < 0.05 or less against baseline): spine / hip +7.0 / +4.8 % (HRT), +7.3 / +0.9 % (intermittent cyclical
  etidronate), +10.4 / +7.0 % (both); calcium + vitamin D control −2.5 % spine.
- Wimalawansa SJ, Am J Med 1995;99:36–42 (early postmenopausal, 4 years): vertebrae /
  femora +6.78 / +4.01 % (HRT), +6.79 / +1.20 % (etidronate), +10.9 / +7.25 % (both).
- Gallagher JC, Fowler SE, Detter JR, Sherman SS, J Clin Endocrinol Metab 2001;86(8):3618–3628
  (489 women aged 65–77, 3 years, intention to treat; checked: abstract): spine / femoral
  neck +4.36 / +2.98 % (HRT/ERT), +1.65 / +0.10 % (calcitriol; femoral neck P = 0.57), +4.91 /
  +3.80 % (both).
- Black DM et al., Lancet 1996;348:1535–1541 (FIT, vertebral-fracture arm, alendronate;
  checked: abstract, PMID 8950879): clinical vertebral RH 0.45 (0.27–0.72), hip 0.49
  (0.23–0.99), wrist 0.52 (0.31–0.87) (the abstract copy found breaks off at "0.5…"; 0.52 with
  its interval is quoted, citing Black 1996, by a review of alendronate's anti-fracture
  efficacy; a trade-press report of the paper gives wrist −48 %). The BMD gains (spine +6.2 %, femoral neck +4.1 % at 3 years, against placebo)
  are not in the abstract and were not re-read. Cummings SR et al., JAMA 1998;280:2077–2082
  (FIT, clinical-fracture arm): clinical fractures RR 0.86 overall, 0.64 with T-score < −2.5
  (consistent, not used).
- Cummings SR et al., N Engl J Med 2009;361:756–765 (FREEDOM, denosumab, 3 years): new
  vertebral RR 0.32 (0.26–0.41), hip HR 0.60, non-vertebral HR 0.80 (0.67–0.95). BMD: the
  Prolia US prescribing information (section 14.1, the FREEDOM trial) gives the 3-year
  gains against placebo as +8.8 % lumbar spine, +6.4 % total hip, +5.2 % femoral neck; the
  total-hip difference 6.4 % (6.2–6.6; denosumab +5.0 %, placebo −1.4 % from baseline) is also
  in a FREEDOM analysis (PMC3415619, Table 2). The NEJM paper's +9.2 / +6.0 % (used before)
  could not be re-read, so the arm uses the label's figures.
- Rossouw JE et al., JAMA 2002;288:321–333 (WHI, estrogen + progestin): hip HR 0.66,
  clinical vertebral 0.66, other osteoporotic fractures 0.77. Checked: the final WHI fracture
  report (Cauley JA et al., JAMA 2003;290:1729–1738) restates the 2002 result as hip and
  clinical vertebral fractures −34 %, total osteoporotic fractures −24 %, and finds total
  fractures HR 0.76 (0.69–0.83); the 0.77 for *other* osteoporotic fractures was not re-read.
  Used for HRT and estrogen.
- Wells GA et al., Cochrane Database Syst Rev 2008;(1):CD003376 (etidronate; checked: the
  abstract's figures as summarised by EBM Guidelines): vertebral RR 0.59 (0.36–0.96) over all
  8 trials, 0.53 (0.32–0.87) in the 6 *secondary-prevention* trials (n = 695), 3.03
  (0.32–28.4, not significant) in the 2 primary-prevention trials; no reduction of
  non-vertebral, hip or wrist fractures, which are therefore set to 1.0. The arm stands for
  established osteoporosis (its BMD comes from Wimalawansa 1998), so it uses the
  secondary-prevention 0.53 (0.59, the all-trials figure, was used before under that label).
- Calcitriol: no placebo-controlled evidence of an effect on MOF; set to 1.0 (assumption).
- Combinations (HRT + etidronate, estrogen + calcitriol): no fracture trial exists; each
  site takes the stronger component's RR (assumption: additive BMD gains do not establish
  additive fracture efficacy).
- MOF site shares: lifetime risks of women aged 45 in Malmö (Kanis JA et al., Osteoporos
  Int 2000;11:669–674): hip 23.3 %, clinical spine 15.4 %, forearm 21.5 %, humerus 13.3 %.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MOF_SITE_SHARES", "TREATMENTS", "Treatment"]

#: Share of each site in a first major osteoporotic fracture (Kanis et al. 2000, Malmö
#: lifetime risks of women aged 45: hip 23.3, spine 15.4, forearm 21.5 + humerus 13.3 %).
MOF_SITE_SHARES: dict[str, float] = {
    "hip": 23.3 / 73.5,
    "vertebral": 15.4 / 73.5,
    "other": (21.5 + 13.3) / 73.5,
}


@dataclass(frozen=True)
class Treatment:
    """One treatment arm.

    Attributes
    ----------
    spine_pct, hip_pct : float
        Mean BMD change (%) at the lumbar spine and at the hip as the trial reports it:
        change from baseline in the treated arm (Wimalawansa, Gallagher) or difference from
        placebo (FIT, FREEDOM).
    years : float
        Duration over which the change was measured (years).
    bmd_source : str
        Where the BMD figures come from.
    rr_vertebral, rr_hip, rr_other : float
        Anti-fracture efficacy (relative risk vs placebo) for clinical vertebral, hip and
        other MOF sites (forearm, humerus).
    efficacy_source : str
        Where the relative risks come from.
    """

    spine_pct: float
    hip_pct: float
    years: float
    bmd_source: str
    rr_vertebral: float = 1.0
    rr_hip: float = 1.0
    rr_other: float = 1.0
    efficacy_source: str = ""

    @property
    def rr_mof(self) -> float:
        """Relative risk of a first MOF: site RRs weighted by :data:`MOF_SITE_SHARES`."""
        s = MOF_SITE_SHARES
        return s["hip"] * self.rr_hip + s["vertebral"] * self.rr_vertebral + s["other"] * self.rr_other


_WHI = "WHI, Rossouw JAMA 2002 (hip 0.66, clinical vertebral 0.66, other 0.77)"
_ETI = ("Wells, Cochrane 2008 (vertebral 0.53, secondary-prevention trials; hip, non-vertebral "
        "not significant → 1.0)")
_W98 = "Wimalawansa, Am J Med 1998 (established osteoporosis, 4 years: spine, hip)"

#: Treatment arms (keys are what ``treatment`` takes).
TREATMENTS: dict[str, Treatment] = {
    "none": Treatment(0.0, 0.0, 0.0, "placebo / untreated (no BMD change modelled)",
                      efficacy_source="reference"),
    "hrt": Treatment(7.0, 4.8, 4.0, _W98, 0.66, 0.66, 0.77, _WHI),
    "etidronate": Treatment(7.3, 0.9, 4.0, _W98, 0.53, 1.0, 1.0, _ETI),
    "hrt+etidronate": Treatment(10.4, 7.0, 4.0, _W98, 0.53, 0.66, 0.77,
                                "no fracture trial: the stronger component per site (assumption)"),
    "estrogen": Treatment(4.36, 2.98, 3.0, "Gallagher, JCEM 2001 (3-year ITT, femoral neck)",
                          0.66, 0.66, 0.77, _WHI),
    "calcitriol": Treatment(1.65, 0.10, 3.0, "Gallagher, JCEM 2001 (3-year ITT, femoral neck)",
                            1.0, 1.0, 1.0, "no placebo-controlled MOF evidence → 1.0 (assumption)"),
    "estrogen+calcitriol": Treatment(4.91, 3.80, 3.0, "Gallagher, JCEM 2001 (3-year ITT, femoral neck)",
                                     0.66, 0.66, 0.77,
                                     "no fracture trial: the stronger component per site (assumption)"),
    "bisphosphonate": Treatment(6.2, 4.1, 3.0, "alendronate, FIT (Black, Lancet 1996; femoral neck)",
                                0.45, 0.49, 0.52,
                                "FIT vertebral-fracture arm, Black Lancet 1996 (clinical vertebral "
                                "0.45, hip 0.49, wrist 0.52)"),
    "denosumab": Treatment(8.8, 6.4, 3.0, "FREEDOM, Prolia US label 14.1 (3 years vs placebo; total hip)",
                           0.32, 0.60, 0.80,
                           "FREEDOM, Cummings NEJM 2009 (vertebral 0.32, hip 0.60, non-vertebral 0.80)"),
}
