"""``spine.csv`` text and the QA picture (mid-sagittal slice with VOIs and level labels)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .spine import SpineResult

__all__ = ["save_qa_png", "spine_csv_text"]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if not np.isfinite(v) else f"{v:.6g}"
    return str(v)


def spine_csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV text (RFC 4180 quoting) of ``rows`` in ``columns`` order; NaN → blank."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def save_qa_png(result: SpineResult, path: str | os.PathLike[str]) -> Path:
    """Mid-sagittal slice (soft-tissue/bone window) with each VOI outlined and labelled.

    The slice is the image column through the mean body centroid, cropped to the vertebrae's
    antero-posterior extent ± 40 mm, shown with superior up and anterior left, pixels at
    their physical aspect ratio.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .._atomic import atomic_path

    vol = result.volume
    cents = np.array([g.body_centroid_mm for g in result.geometry.values()])
    c = int(np.clip(round(float(vol.world_to_index(cents.mean(axis=0, keepdims=True))[0, 2])),
                    0, vol.shape[2] - 1))
    # rows: the vertebrae's antero-posterior extent ± 40 mm (the spine, not the whole trunk)
    boxes = [g.box for g in result.geometry.values() if g.box is not None]
    pad = round(40.0 / vol.spacing[1])
    r0 = max(min(b[1].start for b in boxes) - pad, 0) if boxes else 0
    r1 = min(max(b[1].stop for b in boxes) + pad, vol.shape[1]) if boxes else vol.shape[1]
    img = vol.array[:, r0:r1, c]
    up = vol.direction[2, 0] >= 0  # P axis towards superior?
    ant_first = vol.direction[1, 1] >= 0  # rows towards posterior?

    h_mm, w_mm = vol.shape[0] * vol.spacing[0], (r1 - r0) * vol.spacing[1]
    scale = 7.0 / max(h_mm, w_mm)
    fig, ax = plt.subplots(figsize=(max(w_mm * scale, 3.0) + 1.5, max(h_mm * scale, 1.5) + 0.6), dpi=100)
    ax.imshow(img[::-1] if up else img, cmap="gray", vmin=-250, vmax=750,
              aspect=vol.spacing[0] / vol.spacing[1], interpolation="nearest")
    if not ant_first:
        ax.invert_xaxis()
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    for k, (lv, g) in enumerate(result.geometry.items()):
        for mask, style, width in ((g.voi, "solid", 1.2), (g.body, "dotted", 0.6)):
            sl = mask[:, :, c].astype(float)
            sl = sl[::-1] if up else sl
            sl = sl[:, r0:r1]
            if sl.any():
                ax.contour(sl, levels=[0.5], colors=[colours[k % 10]], linewidths=width, linestyles=style)
        row = next(r for r in result.rows if r["vertebra"] == lv)
        idx = vol.world_to_index(g.body_centroid_mm[None])[0]
        y = (vol.shape[0] - 1 - idx[0]) if up else idx[0]
        grade = row["genant_grade"]
        text = f"{lv} {row['hu_median']:.0f} HU" + (f" G{grade}" if grade else "")
        ax.text(idx[1] - r0 + (1 if ant_first else -1) * 25 / vol.spacing[1], y, text,
                color=colours[k % 10], fontsize=8, va="center")
    ax.set_title(f"bonenet spine QA ({result.phase}); VOI solid, body dotted", fontsize=8)
    ax.set_axis_off()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
