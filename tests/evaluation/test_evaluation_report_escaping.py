"""report.md carries no live HTML (or table-breaking pipes) from site names or model names."""

import numpy as np
import pandas as pd

from bonenet.evaluation import evaluate_predictions, write_report

EVIL_SITE = "<img src=x onerror=alert(1)>"
EVIL_MODEL = "x<script>alert(2)</script>|y"


def test_markdown_report_escapes_site_and_model_names(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x - 1.5)))).astype(int)
    df = pd.DataFrame({"subject_id": [f"S{i}" for i in range(n)], "fracture": y,
                       "site": np.where(np.arange(n) < 100, EVIL_SITE, "A"),
                       f"p_{EVIL_MODEL}": 1 / (1 + np.exp(-(x - 1.4)))})
    m, c = evaluate_predictions(df, models=[EVIL_MODEL], site_column="site",
                                external_sites=[EVIL_SITE], n_boot=20)
    paths = write_report(m, c, tmp_path / "rep")
    md = paths["markdown"].read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in md and "&lt;script&gt;" in md
    assert "<img" not in md and "<script" not in md
    assert "x&lt;script&gt;alert(2)&lt;/script&gt;\\|y" in md  # the pipe cannot split a cell
    html = paths["html"].read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
