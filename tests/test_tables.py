"""The one subject-table reader: encodings, delimiters, identifier spellings, blanks,
duplicates and the matching report — the rules every subject-keyed CSV follows."""

from __future__ import annotations

import pytest

from bonenet.errors import ManifestError
from bonenet.tables import match_subjects, read_subject_table

ROWS = "subject_id{d}age{d}site\nP001 {d}71{d}Zürich\n  P002{d}65{d}Genève\n"


@pytest.mark.parametrize("delim,name", [(",", "comma"), (";", "semicolon"), ("\t", "tab")])
def test_delimiters_are_sniffed_and_ids_stripped(tmp_path, delim, name):
    p = tmp_path / "t.csv"
    p.write_text(ROWS.format(d=delim), encoding="utf-8")
    t = read_subject_table(p)
    assert t.ids == ["P001", "P002"] and t.delimiter == delim
    assert list(t.table["site"]) == ["Zürich", "Genève"]
    assert name in t.describe()


@pytest.mark.parametrize("encoding,expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
                                               ("cp1252", "cp1252"), ("latin-1", "cp1252")])
def test_encodings(tmp_path, encoding, expected):
    p = tmp_path / "t.csv"
    p.write_bytes(ROWS.format(d=",").encode(encoding))
    t = read_subject_table(p)
    assert t.encoding == expected
    assert list(t.table["site"]) == ["Zürich", "Genève"]  # BOM not glued to the header
    assert "subject_id" in t.table.columns


def test_undecodable_bytes_are_refused_with_the_fix(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes(b"subject_id,age\nP1,\x81\x8d\n")  # undefined in UTF-8 and in cp1252
    with pytest.raises(ManifestError, match=r"t\.csv.*UTF-8"):
        read_subject_table(p)


@pytest.mark.parametrize("header", ["Patient ID", "patient_id", "study_id", "ID", "Subject"])
def test_identifier_spellings(tmp_path, header):
    p = tmp_path / "t.csv"
    p.write_text(f"{header},age\nA,70\n")
    t = read_subject_table(p)
    assert t.ids == ["A"] and t.id_column == header


def test_two_identifier_columns_and_none_are_errors(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("patient_id,study_id,age\nA,B,70\n")
    with pytest.raises(ManifestError, match="all look like the subject identifier"):
        read_subject_table(p)
    p.write_text("name,age\nA,70\n")
    with pytest.raises(ManifestError, match=r"no subject identifier column.*name it 'subject_id'"):
        read_subject_table(p)


def test_duplicates_blank_ids_and_blank_required_cells_name_their_lines(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("subject_id,image\nA,a.nii\n,b.nii\nA ,c.nii\nC,\n")
    with pytest.raises(ManifestError) as err:
        read_subject_table(p, nonblank=("image",))
    msg = str(err.value)
    assert "line 3" in msg and "blank identifier" in msg
    assert "line 4" in msg and "duplicate of line 2" in msg
    assert "line 5" in msg and "'image': blank" in msg


def test_missing_required_column_names_the_close_match(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("subject_id;imgae\nA;x\n")
    with pytest.raises(ManifestError, match=r"'image' is missing \(did you mean 'imgae'\?\).*semicolon"):
        read_subject_table(p, required=("image",))


def test_ambiguous_delimiter_is_refused(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("subject_id,a;b\nA,1;2\n")
    with pytest.raises(ManifestError, match="comma and semicolon"):
        read_subject_table(p)


def test_match_report_counts_both_sides(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("subject_id,age\nA,1\nb,2\nC ,3\n")
    rep = match_subjects(read_subject_table(p), ["A", "B", "C", "D"])
    assert rep.unmatched_rows == ["b"]             # case is kept: 'b' is not 'B'
    assert rep.studies_without_row == ["B", "D"]
    assert rep.message() == "t.csv: 1 row(s) match no study; 2 study(ies) have no row"
    assert "b" not in rep.message()                # ids never in the printed line
