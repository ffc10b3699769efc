import os
import subprocess
import sys

import pytest

from bonenet._atomic import append_line_atomic, atomic_path, write_text_atomic
from bonenet.cli import main
from bonenet.errors import ConfigError


def test_cli_help_lists_every_command_and_each_has_an_example(capsys):
    import re

    assert main([]) == 2
    out = capsys.readouterr().out
    listed = re.findall(r"^    (\w+)\s{2,}\S", out, flags=re.M)
    assert {"scan", "synth", "features", "train", "baseline", "evaluate", "predict", "export",
            "spine", "screen", "demo", "info"} <= set(listed), out
    for command in listed:
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith(f"usage: bonenet {command}"), command
        if command not in ("info",):
            assert "example" in text.lower() or f"bonenet {command} " in text, command


def test_cli_runs_as_module():
    r = subprocess.run([sys.executable, "-m", "bonenet", "--version"], capture_output=True, text=True,
                       check=True)
    assert "bonenet" in r.stdout


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "first")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_append_line_writes_header_once(tmp_path):
    f = tmp_path / "rows.csv"
    append_line_atomic(f, "1,a", header="id,v")
    append_line_atomic(f, "2,b", header="id,v")
    assert f.read_text() == "id,v\n1,a\n2,b\n"


def test_select_device_refuses_missing_cuda(monkeypatch):
    import torch

    from bonenet.device import select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device(None) == "cpu"
    with pytest.raises(ConfigError, match="no CUDA"):
        select_device("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        select_device("tpu")
    monkeypatch.setenv("BONENET_DEVICE", "cpu")
    assert select_device() == "cpu"


def test_atomic_output_gets_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "p.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "p.txt").stat().st_mode & 0o777 == 0o644
