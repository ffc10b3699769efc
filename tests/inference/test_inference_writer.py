from __future__ import annotations

import pytest

from bonenet.errors import ConfigError
from bonenet.inference import Pseudonymizer, ResumableCSV, merge_shards, read_rows, resolve_salt


def test_append_and_resume_reads_done_keys(tmp_path):
    p = tmp_path / "p.csv"
    w = ResumableCSV(p, ["subject_id", "p", "note"])
    w.append({"subject_id": "a", "p": 0.25, "note": 'has, comma and "quote"\nnewline'})
    w.append({"subject_id": "b", "p": float("nan")})
    w2 = ResumableCSV(p, ["subject_id", "p", "note"])
    assert w2.done == {"a", "b"}
    header, rows = read_rows(p)
    assert header == ["subject_id", "p", "note"]
    assert rows[0]["note"] == 'has, comma and "quote" newline'
    assert rows[1]["p"] == ""


def test_torn_final_line_is_cut_and_not_counted(tmp_path):
    p = tmp_path / "p.csv"
    w = ResumableCSV(p, ["subject_id", "p"])
    w.append({"subject_id": "a", "p": 1})
    with open(p, "ab") as fh:
        fh.write(b"b,0.5")  # torn: no newline
    assert read_rows(p)[1] == [{"subject_id": "a", "p": "1"}]
    w2 = ResumableCSV(p, ["subject_id", "p"])
    assert w2.done == {"a"}
    w2.append({"subject_id": "b", "p": 0.5})
    assert [r["subject_id"] for r in read_rows(p)[1]] == ["a", "b"]
    assert p.read_text().count("\n") == 3


def test_other_columns_refuse_to_resume(tmp_path):
    p = tmp_path / "p.csv"
    ResumableCSV(p, ["subject_id", "p"]).append({"subject_id": "a", "p": 1})
    with pytest.raises(ConfigError, match="new --out"):
        ResumableCSV(p, ["subject_id", "q"])


def test_remove_keys_and_merge_shards_dedupe(tmp_path):
    cols = ["subject_id", "p"]
    main = ResumableCSV(tmp_path / "m.csv", cols)
    main.append({"subject_id": "a", "p": 1})
    main.append({"subject_id": "x", "p": 1})
    assert main.remove_keys({"x"}) == 1
    s0 = ResumableCSV(tmp_path / "s0.csv", cols)
    s1 = ResumableCSV(tmp_path / "s1.csv", cols)
    s0.append({"subject_id": "b", "p": 2})
    s1.append({"subject_id": "c", "p": 3})
    s1.append({"subject_id": "a", "p": 9})  # duplicate of a row already merged
    n = merge_shards(tmp_path / "m.csv", [s0.path, s1.path], columns=cols)
    assert n == 3
    rows = read_rows(tmp_path / "m.csv")[1]
    assert [(r["subject_id"], r["p"]) for r in rows] == [("a", "1"), ("b", "2"), ("c", "3")]
    assert not s0.path.exists() and not s1.path.exists()


def test_pseudonyms_are_salted_stable_and_opaque(monkeypatch):
    a = Pseudonymizer("salt-one-1234")
    b = Pseudonymizer("salt-two-1234")
    assert a("PAT001") == a("PAT001") != b("PAT001")
    assert a("PAT001").startswith("sub-") and "PAT001" not in a("PAT001")
    ca, cb = a.salt_check(), b.salt_check()
    assert a.matches(ca) and b.matches(cb) and not a.matches(cb) and not b.matches(ca)
    assert ca["run_key"] != a.salt_check()["run_key"]  # a fresh random key per output folder
    assert Pseudonymizer(None)("PAT001") == "PAT001"
    monkeypatch.delenv("BONENET_SALT", raising=False)
    with pytest.raises(ConfigError, match="--salt"):
        resolve_salt(None, keep_ids=False)
    with pytest.raises(ConfigError, match="at least"):
        resolve_salt("short", keep_ids=False)
    assert resolve_salt(None, keep_ids=True) is None
    monkeypatch.setenv("BONENET_SALT", "from-the-environment")
    assert resolve_salt(None, keep_ids=False) == "from-the-environment"


def test_discovery_refuses_ambiguous_and_empty_inputs(tmp_path):
    from bonenet.errors import ManifestError
    from bonenet.inference import discover_studies

    (tmp_path / "s").mkdir()
    with pytest.raises(ManifestError, match="no study folders"):
        discover_studies(tmp_path / "s")
    (tmp_path / "s" / "X").mkdir()
    (tmp_path / "s" / "X.nii.gz").write_bytes(b"")
    (tmp_path / "s" / "notes.txt").write_text("ignored")
    with pytest.raises(ManifestError, match="twice"):
        discover_studies(tmp_path / "s")
    (tmp_path / "m.csv").write_text("subject_id,img\nA,a.nii.gz\n")
    with pytest.raises(ManifestError, match="image"):
        discover_studies(tmp_path / "m.csv")
    (tmp_path / "m.csv").write_text("subject_id,image,site,age\nA,a.nii.gz,s1,70\nB,,s1,\n")
    st = discover_studies(tmp_path / "m.csv")
    assert [s.key for s in st] == ["A", "B"] and st[0].extra == {"site": "s1"}
    assert st[0].images == ((tmp_path / "a.nii.gz").resolve(),) and st[1].images == ()
    assert st[0].clinical == {"age": "70"} and st[0].clinical_source == ("m.csv", 2)
