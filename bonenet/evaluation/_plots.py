"""The report's plots (matplotlib, Agg): ROC with band, calibration, decision curve, risks, sites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path

__all__ = ["make_plots"]


def _fig(ncols: int = 1, *, w: float = 6.0, h: float = 5.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, ncols, figsize=(w * ncols, h), squeeze=False)
    return fig, ax[0]


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _auc_label(metrics: dict[str, Any], name: str) -> str:
    a = metrics["models"][name].get("auc_delong", {})
    if "auc" in a:
        return f"{name}  AUC {a['auc']:.3f} ({a['lower']:.3f}–{a['upper']:.3f})"
    return f"{name}  AUC undefined"


def make_plots(metrics: dict[str, Any], curves: dict[str, Any], out: Path) -> dict[str, Path]:
    """Draw every plot into ``out`` and return {plot name: PNG path}."""
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab10").colors
    models = list(curves["models"])
    pngs: dict[str, Path] = {}

    fig, (ax,) = _fig()
    for k, name in enumerate(models):
        c = curves["models"][name].get("roc")
        if not c:
            continue
        col = colors[k % 10]
        ax.fill_between(c["band"]["fpr"], c["band"]["lower"], c["band"]["upper"], color=col, alpha=0.15, lw=0)
        ax.step(c["fpr"], c["tpr"], where="post", color=col, lw=1.8, label=_auc_label(metrics, name))
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax.set(xlabel="1 − specificity (false-positive rate)", ylabel="sensitivity (true-positive rate)",
           title=f"ROC, {int(metrics['level'] * 100)} % bootstrap band", xlim=(0, 1), ylim=(0, 1.01))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "undefined: one outcome class", ha="center")
    pngs["roc"] = _save(fig, out / "roc.png")

    # Calibration: one panel for up to 3 models, small multiples (shared axes) beyond that.
    panels = [models] if len(models) <= 3 else [[m] for m in models]
    ncol = min(len(panels), 3)
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.5 if ncol == 1 else 4.3 * ncol, 5.2 if nrow == 1 and ncol == 1
                                                  else 3.9 * nrow), squeeze=False, sharex=True, sharey=True)
    hi = 0.0
    for pi, group in enumerate(panels):
        ax = axes[pi // ncol][pi % ncol]
        for name in group:
            col = colors[models.index(name) % 10]
            lw = curves["models"][name].get("calibration_lowess")
            b = curves["models"][name].get("calibration_binned")
            if lw:
                ax.fill_between(lw["grid"], lw["lower"], lw["upper"], color=col, alpha=0.15, lw=0)
                cal = metrics["models"][name]["calibration"]
                lab = f"{name}  slope {cal['slope']:.2f}, CITL {cal['citl']:+.2f}" if "slope" in cal else name
                ax.plot(lw["grid"], lw["observed"], color=col, lw=1.8, label=lab)
                hi = max(hi, max(lw["grid"]), max(lw["upper"]))
            if b:
                yerr = np.clip([np.subtract(b["observed"], b["lower"]), np.subtract(b["upper"], b["observed"])], 0, None)
                ax.errorbar(b["mean_predicted"], b["observed"], yerr=yerr, fmt="o", ms=4, color=col, alpha=0.8,
                            capsize=2)
                hi = max(hi, max(b["mean_predicted"]), max(b["upper"]))
    hi = min(1.0, hi * 1.05 + 0.01)
    for pi in range(nrow * ncol):
        ax = axes[pi // ncol][pi % ncol]
        if pi >= len(panels):
            ax.axis("off")
            continue
        ax.plot([0, hi], [0, hi], ls=":", color="grey", lw=1, label="ideal")
        ax.set(xlim=(0, hi), ylim=(0, hi))
        if len(panels) > 1:
            name = panels[pi][0]
            undefined = "calibration_lowess" not in curves["models"][name]
            ax.set_title(name + ("  (smoothed curve undefined)" if undefined else ""), fontsize=10)
        if pi % ncol == 0:
            ax.set_ylabel("observed risk")
        if pi // ncol == nrow - 1:
            ax.set_xlabel("predicted risk")
        ax.legend(loc="upper left", fontsize=7 if len(panels) > 1 else 8)
    fig.suptitle("Calibration: loess, degree 2 (band) and risk deciles (Wilson CI)")
    pngs["calibration"] = _save(fig, out / "calibration.png")

    fig, (ax,) = _fig(w=6.5)
    lo_nb, hi_nb = 0.0, 0.0
    for k, name in enumerate(models):
        d = curves["models"][name]["decision"]
        ax.plot(d["threshold"], d["net_benefit"], color=colors[k % 10], lw=1.8, label=name)
        hi_nb = max(hi_nb, max(d["net_benefit"]))
    d = curves["models"][models[0]]["decision"]
    ax.plot(d["threshold"], d["treat_all"], color="black", lw=1, ls="--", label="treat all")
    ax.axhline(0, color="grey", lw=1, ls=":", label="treat none")
    lo_nb = -0.25 * max(hi_nb, 1e-3)
    ax.set(ylim=(lo_nb, max(hi_nb, metrics["prevalence"]) * 1.1 + 1e-3), xlabel="threshold probability",
           ylabel="net benefit", title="Decision curve")
    for t in metrics["thresholds"]:
        ax.axvline(t, color="grey", lw=0.6, alpha=0.5)
    ax.legend(fontsize=8)
    pngs["decision"] = _save(fig, out / "decision_curve.png")

    ncol = min(len(models), 3)
    nrow = -(-len(models) // ncol)
    import matplotlib.pyplot as plt2

    fig, axes = plt2.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    for k, name in enumerate(models):
        ax = axes[k // ncol][k % ncol]
        r = curves["models"][name]["risk"]
        bins = np.linspace(0, max([*r["events"], *r["non_events"], 0.01]), 40)
        for vals, col, lab in ((r["non_events"], "tab:blue", "no fracture"), (r["events"], "tab:red", "fracture")):
            if vals:
                ax.hist(vals, bins=bins, density=True, alpha=0.55, color=col, label=f"{lab} (n={len(vals)})")
        ax.set(title=name, xlabel="predicted risk", ylabel="density")
        ax.legend(fontsize=7)
    for k in range(len(models), nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    pngs["risk"] = _save(fig, out / "risk_distributions.png")

    sites = metrics.get("subgroups", {}).get("site")
    if sites:
        labels = sorted({s for per in sites.values() for s in per})
        fig, (ax,) = _fig(w=7, h=0.5 + 0.45 * len(labels) * len(models) ** 0.5 + 1)
        step = 0.8 / max(len(models), 1)
        for k, name in enumerate(models):
            for j, s in enumerate(labels):
                a = sites[name].get(s, {}).get("auc", {})
                if "auc" in a:
                    yv = j + k * step
                    ax.errorbar(a["auc"], yv, xerr=[[a["auc"] - a["lower"]], [a["upper"] - a["auc"]]], fmt="o",
                                color=colors[k % 10], ms=4, capsize=2, label=name if j == 0 else None)
        ax.set_yticks(np.arange(len(labels)) + 0.4 - step / 2, labels)
        ax.axvline(0.5, color="grey", ls=":", lw=1)
        ax.set(xlabel="AUC (DeLong 95 % CI)", title="Discrimination per site")
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        pngs["sites"] = _save(fig, out / "sites.png")
    return pngs
