"""engine.export: records written whole or not at all, existing files never replaced without
overwrite, every band output checked before the first is written."""

from __future__ import annotations

import os

import numpy as np
import pytest

import engine.export as export
from engine.attacks import AttackParams
from engine.attacks.runner import AttackResult
from engine.band import BandResult
from engine.errors import UserError
from engine.records import read_record

FS = 300.0


def _result(name="R1") -> AttackResult:
    t = np.arange(900) / FS
    x = (np.sin(2 * np.pi * 1.2 * t)).astype(np.float32)
    return AttackResult(record=name, true="N", orig_pred="N", orig_probs={"N": 1.0}, adv_pred="A",
                        adv_probs={"A": 1.0}, success=True, measures={}, fs=FS, x0=x, x_adv=x + 0.01,
                        placement=None)


def _band(name="R1", k=3) -> BandResult:
    r = _result(name)
    members = np.stack([r.x_adv + 0.001 * i for i in range(k)])
    return BandResult(record=name, orig_pred="N", adv_pred="A", noise={}, concat={}, uniform={}, fs=FS,
                      lo=members.min(0), hi=members.max(0), members=members)


def _files(folder) -> list[str]:
    return sorted(os.listdir(folder))


def _write(folder, **kw):
    return export.write_adversarial(str(folder), _result(), model="m", method="pgd", params=AttackParams(),
                                    source="src", **kw)


def test_written_record_reads_back_and_leaves_no_temporary(tmp_path):
    base = _write(tmp_path, run="abc123")
    assert _files(tmp_path) == ["R1_pgd.dat", "R1_pgd.hea"]
    rec = read_record(base)
    assert np.allclose(rec.lead_mv()[0], _result().x_adv, atol=1e-3)
    assert "run: abc123" in rec.comments


def test_existing_record_refused_unless_overwrite(tmp_path):
    _write(tmp_path)
    hea = (tmp_path / "R1_pgd.hea").read_bytes()
    with pytest.raises(UserError, match="R1_pgd.hea already exists .*--overwrite"):
        _write(tmp_path)
    assert (tmp_path / "R1_pgd.hea").read_bytes() == hea
    (tmp_path / "R1_pgd.hea").unlink()  # a lone signal file is also somebody's data
    with pytest.raises(UserError, match="R1_pgd.dat already exists"):
        _write(tmp_path)
    _write(tmp_path, overwrite=True)
    assert _files(tmp_path) == ["R1_pgd.dat", "R1_pgd.hea"]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import wfdb

    real = wfdb.wrsamp

    def half(record_name, *a, write_dir=".", **k):  # the header lands, then the disk fills up
        real(record_name, *a, write_dir=write_dir, **k)
        os.remove(os.path.join(write_dir, record_name + ".dat"))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wfdb, "wrsamp", half)
    with pytest.raises(UserError, match="cannot write"):
        _write(tmp_path)
    assert _files(tmp_path) == [], "a failed write left files (or its temporary folder) behind"


def test_failed_rename_of_the_header_takes_back_the_signal_file(tmp_path, monkeypatch):
    real = os.replace

    def fail_hea(src, dst):
        if str(dst).endswith(".hea"):
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(export.os, "replace", fail_hea)
    with pytest.raises(UserError, match="Input/output error"):
        _write(tmp_path)
    assert _files(tmp_path) == []


def test_band_checks_every_member_before_writing(tmp_path):
    (tmp_path / "R1_sap_member0001.hea").write_text("not ours\n")
    with pytest.raises(UserError, match="R1_sap_member0001.hea already exists"):
        export.write_band(str(tmp_path), _band(), model="m", method="sap", params=AttackParams(), source="s",
                          members=3)
    assert _files(tmp_path) == ["R1_sap_member0001.hea"], "the band was written before the check"
    w = export.write_band(str(tmp_path), _band(), model="m", method="sap", params=AttackParams(), source="s",
                          members=3, overwrite=True)
    assert len(w["members"]) == 3 and read_record(w["members"][1]).n_samples == 900
    assert export.band_bases(str(tmp_path), "R1", "sap", 2)[1:] == [str(tmp_path / "R1_sap_member0000"),
                                                                   str(tmp_path / "R1_sap_member0001")]


def test_check_records_free_refuses_duplicates(tmp_path):
    with pytest.raises(UserError, match="two outputs are named a"):
        export.check_records_free([str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "a.hea")])


@pytest.mark.parametrize("ext", [".hea", ".dat"])
def test_a_folder_where_a_record_file_goes_is_refused_before_any_work(tmp_path, ext):
    """A folder named R1_pgd.hea (or .dat) in --out: with --overwrite it passed the checks, the
    attack ran, then the write failed after the .dat was moved into place ('Is a directory'),
    leaving a signal file without its header. Now refused up front, even with --overwrite."""
    (tmp_path / f"R1_pgd{ext}").mkdir()
    with pytest.raises(UserError, match=f"R1_pgd\\{ext} exists and is not a file"):
        export.check_records_free([str(tmp_path / "R1_pgd")], overwrite=True)
    with pytest.raises(UserError, match="is not a file"):
        _write(tmp_path, overwrite=True)
    assert _files(tmp_path) == [f"R1_pgd{ext}"]
