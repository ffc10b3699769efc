"""`bonenet scan`: the table, CSV/JSON outputs, and no patient identifiers by default."""

from __future__ import annotations

import csv
import json

from io_helpers import CORONAL, make_volume

from bonenet import io
from bonenet.cli import main


def test_scan_cli_table_csv_json_without_identifiers(tmp_path, capsys):
    root = tmp_path / "study"
    io.save(make_volume((5, 8, 8)), root / "ax", uid_seed="a", series_number=2,
            series_description="bone axial", patient_id="SECRET123", patient_name="Doe^Jane")
    io.save(make_volume((3, 8, 8), direction=CORONAL), root / "cor", uid_seed="a", series_number=3,
            patient_id="SECRET123", patient_name="Doe^Jane")
    rc = main(["scan", str(root), "--csv", str(tmp_path / "s.csv"), "--json", str(tmp_path / "s.json")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "bone axial" in out and "coronal" in out and "2 series" in out
    assert "SECRET123" not in out and "Doe" not in out
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [r["series_number"] for r in rows] == ["2", "3"]
    assert rows[0]["spacing"] == "2x0.7x0.8" and rows[0]["n_slices"] == "5"
    data = json.loads((tmp_path / "s.json").read_text())
    assert data[1]["orientation"] == "coronal" and len(data[1]["files"]) == 3
    assert "SECRET123" not in (tmp_path / "s.csv").read_text() + (tmp_path / "s.json").read_text()
    assert main(["scan", str(root), "--show-patient"]) == 0
    assert "SECRET123" in capsys.readouterr().out


def test_scan_cli_missing_folder(tmp_path, capsys):
    assert main(["scan", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err
