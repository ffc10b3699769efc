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

    The slice is the image column through the mean body centroid, shown with superior up
    and anterior left, pixels at their physical aspect ratio.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .._atomic import atomic_path

    vol = result.volume
    cents = np.array([g.body_centroid_mm for g in result.geometry.values()])
    c = int(np.clip(round(float(vol.world_to_index(cents.mean(axis=0, keepdims=True))[0, 2])),
                    0, vol.shape[2] - 1))
    img = vol.array[:, :, c]
    up = vol.direction[2, 0] >= 0  # P axis towards superior?
    ant_first = vol.direction[1, 1] >= 0  # rows towards posterior?
    def orient(a: np.ndarray) -> np.ndarray:
        a = a[::-1] if up else a
        return a if ant_first else a[:, ::-1]
    fig, ax = plt.subplots(figsize=(5, 7), dpi=100)
    ax.imshow(orient(img), cmap="gray", vmin=-250, vmax=750,
              aspect=vol.spacing[0] / vol.spacing[1], interpolation="nearest")
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    for k, (lv, g) in enumerate(result.geometry.items()):
        sl = orient(g.voi[:, :, c].astype(float))
        if sl.any():
            ax.contour(sl, levels=[0.5], colors=[colours[k % 10]], linewidths=1.2)
        b = orient(g.body[:, :, c].astype(float))
        if b.any():
            ax.contour(b, levels=[0.5], colors=[colours[k % 10]], linewidths=0.5, linestyles="dotted")
        row = next(r for r in result.rows if r["vertebra"] == lv)
        idx = vol.world_to_index(g.body_centroid_mm[None])[0]
        y = (vol.shape[0] - 1 - idx[0]) if up else idx[0]
        x = idx[1] if ant_first else vol.shape[1] - 1 - idx[1]
        grade = row["genant_grade"]
        text = f"{lv} {row['hu_median']:.0f} HU" + (f" G{grade}" if grade else "")
        ax.text(x + 25 / vol.spacing[1], y, text, color=colours[k % 10], fontsize=8, va="center")
    ax.set_title(f"bonenet spine QA ({result.phase}); VOI solid, body dotted", fontsize=8)
    ax.set_axis_off()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
