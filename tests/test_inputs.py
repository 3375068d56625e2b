"""engine.inputs.read_bounded: a file's bytes, or one line naming what is wrong with it."""

from __future__ import annotations

import os

import pytest

from engine.errors import UserError
from engine.inputs import read_bounded


def test_reads_a_file_up_to_the_limit(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(b"A00001,N\n")
    assert read_bounded(p, "label file", 9) == b"A00001,N\n"
    assert read_bounded(str(p), "label file", 10 ** 6) == b"A00001,N\n"


def _big(folder):
    (folder / "big.csv").write_bytes(b"x" * 11)
    return folder / "big.csv"


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "none.csv", "label file {p} does not exist"),
    (lambda d: d, "label file {p} is a folder, not a file"),
    (_big, "label file {p} is too large (at most 10 bytes)"),
])
def test_refusals_are_one_line_naming_the_file(tmp_path, make, message):
    p = make(tmp_path)
    with pytest.raises(UserError) as e:
        read_bounded(p, "label file", 10)
    assert str(e.value) == message.format(p=p)


def test_limits_in_mib_are_said_in_mib(tmp_path):
    p = tmp_path / "big.json"
    p.write_bytes(b" " * (2 ** 20 + 1))
    with pytest.raises(UserError, match=r"^card .* is too large \(at most 1 MiB\)$"):
        read_bounded(p, "card", 2 ** 20)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    p = tmp_path / "pipe"
    os.mkfifo(p)
    with pytest.raises(UserError, match="not a regular file"):
        read_bounded(p, "results file", 10)


def test_a_dangling_link_is_a_read_error_not_a_traceback(tmp_path):
    p = tmp_path / "link.csv"
    p.symlink_to(tmp_path / "gone.csv")
    with pytest.raises(UserError, match=r"^cannot read label file .*link\.csv: "):
        read_bounded(p, "label file", 10)
