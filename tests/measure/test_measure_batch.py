"""``bonenet.measure``: the library room behind ``bonenet features`` (one study, a batch),
and the ways a manifest or an image used to give wrong numbers silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bonenet import Volume, io
from bonenet.cli import main
from bonenet.errors import ManifestError, MorphometryError
from bonenet.measure import feature_columns, measure_batch, measure_study, read_measure_manifest


def _plates(value: float = 900.0) -> Volume:
    arr = np.full((32, 32, 32), 50.0, np.float32)
    for k in range(2, 32, 6):
        arr[k:k + 2] = value
    return Volume(arr, spacing=(0.1, 0.1, 0.1), units="mgHA/cm3", modality="HRPQCT")


def test_measure_study_takes_a_volume_or_a_path(tmp_path):
    vol = _plates()
    io.save(vol, tmp_path / "a.nii.gz")
    a = measure_study(vol, smi=False)
    b = measure_study(tmp_path / "a.nii.gz", smi=False)
    assert a == pytest.approx(b, nan_ok=True) and set(a) <= set(feature_columns())
    assert a["bv_tv"] == pytest.approx(1 / 3, abs=0.05)


def test_non_finite_voxels_are_refused_not_measured():
    vol = _plates()
    vol.array[3, 3, 3] = np.nan
    vol.array[4, 4, 4] = np.inf
    with pytest.raises(MorphometryError, match="2 voxel"):
        measure_study(vol, smi=False)


def test_blank_image_cell_is_an_error_not_the_working_directory(tmp_path, monkeypatch):
    io.save(_plates(), tmp_path / "a.nii.gz")
    (tmp_path / "m.csv").write_text("subject_id,image\nA,a.nii.gz\nB,\n")
    monkeypatch.chdir(tmp_path)  # a studies root: '' would have loaded this folder
    with pytest.raises(ManifestError, match=r"line 3 \(subject 'B'\), column 'image': blank"):
        read_measure_manifest(tmp_path / "m.csv")


def test_features_refuses_to_overwrite_its_manifest_and_a_folder_out(tmp_path, capsys):
    io.save(_plates(), tmp_path / "a.nii.gz")
    man = tmp_path / "m.csv"
    man.write_text("subject_id,image\nA,a.nii.gz\n")
    assert main(["features", str(man), "--out", str(man)]) == 2
    assert "manifest itself" in capsys.readouterr().err
    assert man.read_text().startswith("subject_id,image")
    assert main(["features", str(man), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_batch_goes_on_past_a_bad_study(tmp_path):
    io.save(_plates(), tmp_path / "a.nii.gz")
    bad = _plates()
    bad.array[0, 0, 0] = np.nan
    io.save(bad, tmp_path / "b.nii.gz")
    studies = [("A", str(tmp_path / "a.nii.gz")), ("B", str(tmp_path / "b.nii.gz"))]
    res = measure_batch(studies, tmp_path / "f.csv", smi=False)
    assert (res.n_measured, res.n_failed) == (1, 1)
    err = pd.read_csv(res.errors)
    assert err.loc[0, "subject_id"] == "B" and "NaN" in err.loc[0, "message"]
    assert list(pd.read_csv(res.features)["subject_id"]) == ["A"]


def test_features_resume_after_a_kill_and_never_duplicate(tmp_path):
    """Rows are appended as studies finish: a run stopped part-way (here: a torn last row, as a
    SIGKILL mid-write leaves it) resumes with the rest, each study once."""
    for i in range(4):
        io.save(_plates(900.0 - 50 * i), tmp_path / f"s{i}.nii.gz")
    studies = [(f"S{i}", str(tmp_path / f"s{i}.nii.gz")) for i in range(4)]
    out = tmp_path / "f.csv"
    first = measure_batch(studies[:2], out, smi=False)
    assert first.n_measured == 2
    with open(out, "a") as fh:
        fh.write("S2,0.1")                               # a torn row: no newline
    again = measure_batch(studies, out, smi=False)
    assert (again.n_measured, again.n_skipped) == (2, 2)
    df = pd.read_csv(out)
    assert sorted(df["subject_id"]) == ["S0", "S1", "S2", "S3"]
    assert df["bv_tv"].notna().all() and set(df.columns) == {"subject_id", *feature_columns()}
    assert measure_batch(studies, out, smi=False).n_measured == 0   # nothing left to do
