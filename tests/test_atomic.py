"""Reliability of bonenet's output helpers: short writes, disk full, CSV formula injection,
the output-folder lock and the exit statuses of the command."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

import bonenet._atomic as atomic
from bonenet._atomic import (
    append_line_atomic,
    csv_safe,
    csv_safe_frame,
    output_lock,
    write_text_atomic,
)
from bonenet._writer import ResumableCSV, format_row
from bonenet.cli import main
from bonenet.errors import (
    EXIT_RESOURCE,
    DiskFullError,
    MemoryLimitError,
    OutputLockedError,
    exit_status_for,
)
from bonenet.inference import read_rows


def _short_writes(monkeypatch, *, at_most: int, fail_after: int | None = None):
    """os.write that writes at most ``at_most`` bytes per call, and raises ENOSPC once
    ``fail_after`` bytes went out (a disk filling up)."""
    real = os.write
    written = [0]

    def fake(fd, data):
        if fail_after is not None and written[0] >= fail_after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real(fd, bytes(data[:at_most]))
        written[0] += n
        return n

    monkeypatch.setattr(atomic.os, "write", fake)
    return written


def test_short_writes_still_write_whole_rows(tmp_path, monkeypatch):
    f = tmp_path / "rows.csv"
    _short_writes(monkeypatch, at_most=3)
    append_line_atomic(f, "1,alpha", header="id,v")
    append_line_atomic(f, "2,beta", header="id,v")
    write_text_atomic(tmp_path / "whole.txt", "x" * 1000)
    assert f.read_text() == "id,v\n1,alpha\n2,beta\n"
    assert (tmp_path / "whole.txt").read_text() == "x" * 1000


def test_disk_full_leaves_no_partial_row_and_is_a_resource_error(tmp_path, monkeypatch):
    f = tmp_path / "rows.csv"
    append_line_atomic(f, "1,alpha", header="id,v")
    before = f.read_bytes()
    written = _short_writes(monkeypatch, at_most=4, fail_after=4)
    with pytest.raises(DiskFullError, match="disk full") as exc:
        append_line_atomic(f, "2,a-long-row-that-does-not-fit", header="id,v")
    assert exc.value.errno == errno.ENOSPC and exit_status_for(exc.value) == EXIT_RESOURCE
    assert f.read_bytes() == before  # the 4 bytes that went out were cut back
    written[0] = -(10**9)  # space freed
    append_line_atomic(f, "3,gamma", header="id,v")
    assert f.read_text() == "id,v\n1,alpha\n3,gamma\n"  # nothing glued onto a torn row


def test_disk_full_on_a_whole_file_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "run.json"
    write_text_atomic(target, "old")
    _short_writes(monkeypatch, at_most=8, fail_after=8)
    with pytest.raises(DiskFullError, match=str(target)):
        write_text_atomic(target, "new" * 100)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_cli_exits_3_on_disk_full(tmp_path, monkeypatch, capsys):
    import shutil

    from pydicom.data import get_testdata_file

    d = tmp_path / "dicom"
    d.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), d / "a.dcm")
    _short_writes(monkeypatch, at_most=1 << 20, fail_after=0)
    assert main(["scan", str(d), "--csv", str(tmp_path / "scan.csv")]) == 3
    assert "disk full" in capsys.readouterr().err
    assert not (tmp_path / "scan.csv").exists()


def test_exit_statuses_of_error_classes():
    assert exit_status_for(MemoryLimitError("x")) == 3
    assert exit_status_for(OutputLockedError("x")) == 2
    assert exit_status_for(OSError(errno.ENOSPC, "full")) == 3
    assert exit_status_for(MemoryError()) == 3
    assert exit_status_for(ValueError()) == 2


@pytest.mark.parametrize("cell", ["=1+2", "+SUM(A1)", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)",
                                  "\tx", "\rx", '=HYPERLINK("http://evil","x")'])
def test_formula_cells_are_neutralised(cell):
    assert csv_safe(cell) == "'" + cell
    assert csv_safe(csv_safe(cell)) == csv_safe(cell)


@pytest.mark.parametrize("cell", [-0.25, -3, "-0.25", "+3e-2", "-17", "abc", "", None, "a=b"])
def test_numbers_and_plain_text_are_not_touched(cell):
    assert csv_safe(cell) == cell


def test_every_resumable_csv_row_is_neutralised(tmp_path):
    f = tmp_path / "p.csv"
    w = ResumableCSV(f, ["subject_id", "site", "p", "delta"])
    w.append({"subject_id": "=cmd|' /C calc'!A0", "site": "@evil", "p": 0.5, "delta": -0.125})
    w.append({"subject_id": "s2", "site": "\r=1", "p": 0.25, "delta": "-0.5"})
    rows = read_rows(f)[1]
    assert rows[0] == {"subject_id": "'=cmd|' /C calc'!A0", "site": "'@evil", "p": "0.5",
                       "delta": "-0.125"}
    assert rows[1]["site"] == "' =1" and rows[1]["delta"] == "-0.5"
    assert format_row(["-1", -1.5]) == "-1,-1.5"
    df = csv_safe_frame(pd.DataFrame({"id": ["=a", "b"], "x": [-1.0, 2.0]}))
    assert df["id"].tolist() == ["'=a", "b"] and df["x"].tolist() == [-1.0, 2.0]


def test_second_run_on_a_locked_folder_refuses(tmp_path):
    out = tmp_path / "out"
    with output_lock(out):
        with pytest.raises(OutputLockedError, match=str(os.getpid())):
            with output_lock(out):
                pass
    with output_lock(out):  # released
        pass


def test_lock_dies_with_its_holder_and_can_be_waited_for(tmp_path):
    """A lock held by a process is released when it exits (even killed): nothing stale."""
    out = tmp_path / "out"
    code = textwrap.dedent(f"""
        import sys, time
        from bonenet._atomic import output_lock
        with output_lock({str(out)!r}):
            print("locked", flush=True)
            sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(OutputLockedError, match=f"pid {proc.pid}"):
            with output_lock(out):
                pass
        proc.kill()
        proc.wait(30)
        with output_lock(out, wait=True):  # returns once the holder is gone
            pass
    finally:
        proc.kill()
        proc.wait(30)
        proc.stdin.close()
        proc.stdout.close()
