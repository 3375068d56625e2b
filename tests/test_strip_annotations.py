"""A record's reference annotations (.atr) on the strip: the model keeps them in record time, each
shows once at the top of its row, a zoomed-out view thins them rare-first, the paper export prints
them, and the window shows them (or why the .atr could not be read) for a record that has them."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from gui_fixtures import SAMPLES, isolated, make_window, model_path, wait_idle  # noqa: F401

FS = 300.0


def _sine(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    return (0.5 * np.sin(2 * np.pi * 1.2 * t)).astype(np.float32)


def test_model_keeps_annotations_in_record_time_and_drops_what_lies_outside():
    from gui.strip.model import StripModel

    m = StripModel()
    with pytest.raises(ValueError, match="set_record first"):
        m.set_annotations(np.array([1.0]), ["N"])
    m.set_record(_sine(30), FS)
    assert not m.has_layer("annotations")
    m.set_annotations(np.array([29.99, 0.0, 35.0, np.nan, -1.0, 10.0]), ["V", "(N", "N", "N", "N", "A"])
    assert m.has_layer("annotations")
    assert list(m.ann_i) == [0, 3000, 8997] and m.ann_text == ("(N", "A", "V")  # sorted, in the record only
    with pytest.raises(ValueError, match="2 annotation times but 1 labels"):
        m.set_annotations(np.array([1.0, 2.0]), ["N"])
    m.set_annotations(np.array([1.0]), ["N"])
    m.set_record(_sine(30), FS)  # a new record has no annotations until given its own
    assert not m.has_layer("annotations")
    m.set_annotations(np.array([1.0]), ["N"])
    m.set_annotations(None, ())
    assert not m.has_layer("annotations")


@pytest.fixture
def view(qtbot):
    from gui_fixtures import shown_strip

    return shown_strip(qtbot, 1200, 700)


def test_each_annotation_shows_once_at_the_top_of_its_row(view):
    from gui.strip.marks import annotation_marks

    view.set_record(_sine(30), FS, "sine")
    view.set_seconds_per_row(10.0)
    view.fit()
    view.set_annotations(np.array([0.5, 10.0, 19.0, 25.0]), ["N", "V", "(AFIB", "N"])
    x, y, labels, rows = annotation_marks(view.model, view._segments())
    m = view.model
    assert labels == ["N", "V", "(AFIB", "N"]  # 10.0 s: the first of row 1, not also the end of row 0
    np.testing.assert_allclose(x, [0.5, 0.0, 9.0, 5.0], atol=1e-9)
    assert list(rows) == [0, 1, 1, 2]
    assert list(y) == [m.row_top(0), m.row_top(1), m.row_top(1), m.row_top(2)]
    view.plot.grab()  # paint
    assert view.layer_drawn("annotations") and view.renderer.marks.drawn == 4
    view.set_layer_visible("annotations", False)
    assert not view.layer_drawn("annotations")
    view.set_layer_visible("annotations", True)
    view.set_adversarial(_sine(30) + 0.01)  # an overlay keeps them
    assert view.layer_drawn("annotations")
    view.set_record(_sine(30), FS, "other")  # another record drops them
    assert not view.has_layer("annotations") and not view.layer_drawn("annotations")


def test_zoomed_out_the_labels_thin_out_but_a_rare_one_stays(view):
    """A beat every 0.2 s for an hour, in one continuous strip: the item keeps about one label per
    few pixels, and the one ventricular beat among 18,000 normal ones is drawn."""
    from gui.strip.marks import BUCKET_PX

    view.set_record(_sine(3600), FS, "hour")
    t = np.arange(0.1, 3600, 0.2)
    labels = ["N"] * t.size
    labels[9000] = "V"
    view.set_annotations(t, labels)
    view.set_mode("continuous")
    view.set_view(0, 3600)
    view.plot.grab()
    marks = view.renderer.marks
    width = view.plot.width()
    assert 0 < marks.count() <= width / BUCKET_PX + 2
    assert "V" in marks._labels
    assert 0 < marks.drawn <= marks.count()


def _purple_pixels(path: str) -> int:
    from PySide6 import QtGui

    img = QtGui.QImage(path).convertToFormat(QtGui.QImage.Format.Format_RGB32)
    buf = np.frombuffer(img.constBits(), dtype=np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    b, g, r = (buf[..., k].astype(int) for k in range(3))
    return int(((b > r + 20) & (g < 110)).sum())  # paper is pink/red, the trace black: purple is the labels'


def test_paper_export_prints_the_annotations_when_shown(view, tmp_path):
    view.set_record(_sine(20), FS, "sine")
    view.set_annotations(np.array([1.0, 5.0, 12.0]), ["N", "V", "(AFIB"])
    spec = view.paper_spec()
    marks = [tr for tr in spec.traces if tr.kind == "marks"]
    assert len(marks) == 1 and list(marks[0].data[1]) == ["N", "V", "(AFIB"]
    on = view.export_png(str(tmp_path / "on.png"), dpi=150)
    view.set_layer_visible("annotations", False)
    assert all(tr.kind != "marks" for tr in view.paper_spec().traces)
    off = view.export_png(str(tmp_path / "off.png"), dpi=150)
    assert _purple_pixels(on) > 20 and _purple_pixels(off) == 0


def _record_with_atr(folder, atr: bytes | None = None):
    """A copy of bundled sample A00001 (real, 300 Hz) with an .atr: three beats and a rhythm change,
    or the bytes `atr`."""
    import wfdb

    for ext in (".hea", ".mat"):
        shutil.copy(SAMPLES / ("A00001" + ext), folder / ("A00001" + ext))
    if atr is not None:
        (folder / "A00001.atr").write_bytes(atr)
    else:
        wfdb.wrann("A00001", "atr", np.array([10, 300, 600, 900]), symbol=["+", "N", "V", "N"],
                   aux_note=["(AFIB", "", "", ""], write_dir=str(folder), fs=300)
    return str(folder / "A00001")


def test_window_shows_a_records_annotations_and_says_when_its_atr_is_unreadable(qtbot, isolated,  # noqa: F811
                                                                                 model_path, tmp_path):
    from PySide6.QtWidgets import QToolBar

    from gui.strip.layers import LAYER

    good = tmp_path / "good"
    bad = tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    with qtbot.waitSignal(win.classified, timeout=60000):
        win.open_record(_record_with_atr(good))
    wait_idle(qtbot, win)
    assert "4 annotations (A00001.atr)" in win.header.full_text()
    assert win.strip.has_layer("annotations")
    assert win.strip.model.ann_text == ("(AFIB", "N", "V", "N")
    # in the View menu with its shortcut, not on the crowded toolbar
    act = win.display.layer_actions["annotations"]
    assert act.shortcut().toString() == LAYER["annotations"].shortcut
    bars = win.findChildren(QToolBar)
    assert bars and all(act not in bar.actions() for bar in bars)
    assert any(win.display.layer_actions["original"] in bar.actions() for bar in bars)
    act.trigger()
    assert not win.strip.layer_visible("annotations")
    act.trigger()
    assert win.strip.layer_visible("annotations")
    with qtbot.waitSignal(win.classified, timeout=60000):
        win.open_record(_record_with_atr(bad, b"\x05\x04\x00\xec"))  # a beat, then a SKIP cut short
    wait_idle(qtbot, win)
    head = win.header.full_text()
    assert "A00001.atr: cannot read annotations (a SKIP runs past the end of the file)" in head
    assert not win.strip.has_layer("annotations") and not isolated["errors"]  # the record itself opened
