import shutil

import pytest
from data_cohort_helpers import edit_manifest, write_cohort

from bonenet.data import BoneDataModule, read_manifest
from bonenet.errors import ClinicalValueError, ManifestError


@pytest.fixture()
def fresh(tmp_path, cohort):
    """A private copy of the shared cohort that a test may edit."""
    shutil.copytree(cohort.parent, tmp_path / "c")
    return tmp_path / "c" / "manifest.csv"


def test_valid_manifest_resolves_paths_and_parses_clinical(cohort):
    m = read_manifest(cohort)
    assert len(m) == 24 and m.root == cohort.parent
    assert m.table["image"][0] == str(cohort.parent / "studies" / "S000.nii.gz")
    assert {"age", "sex", "weight_kg", "bmi", "fn_tscore"} <= set(m.table.columns)
    assert m.table["fracture"].tolist()[:2] == [0.0, 1.0]
    assert m.table["_line"].tolist()[:2] == [2, 3]


def test_missing_file_names_line_subject_column_and_path(fresh):
    edit_manifest(fresh, 4, "image", "studies/nope.nii.gz")
    with pytest.raises(ManifestError) as err:
        read_manifest(fresh)
    msg = str(err.value)
    assert "line 6 (subject_id S004)" in msg and "column 'image'" in msg and "nope.nii.gz" in msg
    assert "not found" in msg


def test_missing_column_fails_at_construction_with_suggestion(tmp_path):
    path = write_cohort(tmp_path, n=4)
    text = path.read_text().replace("image,", "imgae,", 1)
    path.write_text(text)
    with pytest.raises(ManifestError, match=r"required column 'image' is missing \(did you mean 'imgae'\?\)"):
        BoneDataModule(str(path))
    # clinical-only use does not need the image column
    dm = BoneDataModule(str(path), use_images=False)
    assert dm.images_per_subject == 0 and dm.n_clinical_features > 0


@pytest.mark.parametrize("column,value,error,expect", [
    ("Age (years)", "250", ClinicalValueError, ["line 5 (subject_id S003)", "'Age (years)'", "'250'"]),
    ("Sex", "unknown-ish", ClinicalValueError, ["line 5", "'Sex'", "'unknown-ish'"]),
    ("subject_id", "S000", ManifestError, ["line 5", "duplicate of line 2"]),
    ("split", "trian", ManifestError, ["line 5", "'split'", "'trian'", "train, val, test or external"]),
    ("fracture", "2", ManifestError, ["line 5", "'fracture'", "'2'"]),
    ("event", "3", ManifestError, ["line 5", "'event'"]),
    ("time_years", "-1", ManifestError, ["line 5", "'time_years'"]),
])
def test_bad_rows_fail_in_setup_naming_line_and_column(tmp_path, column, value, error, expect):
    path = write_cohort(tmp_path, n=6, split=True)
    edit_manifest(path, 3, column, value)
    dm = BoneDataModule(str(path), roi_size=(8, 8, 8), intensity_window=(-100, 1000))
    with pytest.raises(error) as err:
        dm.setup()
    for piece in expect:
        assert piece in str(err.value)
    assert not dm.datasets  # nothing was built


def test_bmi_3_in_manifest_is_impossible(tmp_path):
    path = write_cohort(tmp_path, n=4)
    text = path.read_text().splitlines()
    text[0] += ",BMI"
    text[1:] = [line + (",3" if i == 1 else ",24") for i, line in enumerate(text[1:])]
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(ClinicalValueError, match=r"line 3 \(subject_id S001\), column 'BMI' \(bmi\): value '3'"):
        read_manifest(path)


def test_several_problems_reported_together(fresh):
    edit_manifest(fresh, 1, "image", "missing1.nii.gz")
    edit_manifest(fresh, 2, "image", "missing2.nii.gz")
    edit_manifest(fresh, 5, "subject_id", "")
    with pytest.raises(ManifestError, match="3 problem") as err:
        read_manifest(fresh)
    assert "missing1" in str(err.value) and "missing2" in str(err.value) and "line 7" in str(err.value)


def test_unreadable_or_absent_manifest(tmp_path):
    with pytest.raises(ManifestError, match="no such file"):
        read_manifest(tmp_path / "absent.csv")
