"""engine.outputs: no clobbering, writability checked up front, atomic writes, lock files."""

import os
import subprocess
import sys

import pytest

from engine.errors import UserError
from engine.outputs import FileLock, atomic_write, check_output, check_output_dir, write_text_atomic


def test_check_output_refuses_existing_unless_overwrite(tmp_path):
    p = tmp_path / "a.txt"
    assert check_output(p) == str(p)
    p.write_text("keep")
    with pytest.raises(UserError, match="already exists"):
        check_output(p)
    assert check_output(p, overwrite=True) == str(p)
    assert p.read_text() == "keep"
    assert os.listdir(tmp_path) == ["a.txt"]  # the probe left nothing


def test_check_output_missing_folder_and_folder_target(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        check_output(tmp_path / "nope" / "a.txt")
    with pytest.raises(UserError, match="is a folder"):
        check_output(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_check_output_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(UserError, match="cannot write"):
            check_output(ro / "a.txt")
    finally:
        ro.chmod(0o700)


def test_check_output_dir(tmp_path):
    assert check_output_dir(tmp_path / "new") == str(tmp_path / "new")
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UserError, match="is a file"):
        check_output_dir(f)


def test_atomic_write_failure_leaves_nothing(tmp_path):
    p = tmp_path / "out.json"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(p) as tmp:
            with open(tmp, "w") as fh:
                fh.write("half")
            raise RuntimeError("boom")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]
    write_text_atomic(p, "new")
    assert p.read_text() == "new"
    with pytest.raises(UserError, match="already exists"):
        write_text_atomic(p, "x", overwrite=False)
    assert p.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.json"]


def test_file_lock_excludes_second_writer_and_takes_over_stale(tmp_path):
    target = tmp_path / "r.jsonl"
    with FileLock(target):
        with pytest.raises(UserError, match="in use by process"):
            FileLock(target).acquire()
    assert not os.path.exists(str(target) + ".lock")
    # a lock left by a process that is gone is stale
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import json
    import socket
    (tmp_path / "r.jsonl.lock").write_text(json.dumps({"pid": int(proc.stdout), "host": socket.gethostname()}))
    with FileLock(target) as lk:
        assert lk.held


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        p = tmp_path / "new.txt"
        write_text_atomic(p, "x")
        assert (p.stat().st_mode & 0o777) == 0o644  # as open() would, not mkstemp's 0600
        q = tmp_path / "kept.txt"
        q.write_text("old")
        q.chmod(0o640)
        write_text_atomic(q, "new")
        assert (q.stat().st_mode & 0o777) == 0o640  # a replaced file keeps its mode
    finally:
        os.umask(old)
