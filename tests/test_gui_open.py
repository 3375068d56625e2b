"""Opening in the window: the files of one record (dropped or given together) are one record; a
bundled model without weights names the path it loads them from and offers a weights file."""

from __future__ import annotations

from gui_fixtures import SAMPLES, isolated, make_window, model_path, wait_idle  # noqa: F401


def test_drop_of_one_records_files_opens_one_record(qtbot, isolated, model_path, monkeypatch):  # noqa: F811
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    opened = []
    monkeypatch.setattr(win.records, "open_record", lambda path, remember=True: opened.append(path))
    files = sorted(str(p) for p in SAMPLES.glob("A00001*"))
    assert len(files) == 2  # .hea and .mat, as a shell glob or a multi-file drop gives them
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(f) for f in files])
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    win.dropEvent(ev)
    assert len(opened) == 1 and opened[0] in files

    opened.clear()
    win.records.open_paths(files + [str(SAMPLES / "A00002.hea")])
    assert len(opened) == 1 and "dropped" in win.status_msg.text()


def test_missing_bundled_weights_name_the_path_and_offer_a_file(qtbot, isolated, model_path, tmp_path,
                                                                monkeypatch):  # noqa: F811
    from engine.models.checkpoint import BUILTIN
    from gui import dialogs

    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    wait_idle(qtbot, win)
    missing = tmp_path / "models" / "paper-cnn.safetensors"
    monkeypatch.setitem(BUILTIN, "paper-cnn", missing)
    asked = []
    monkeypatch.setattr(dialogs, "ask_missing_weights", lambda parent, text, title="": asked.append(text) or True)
    monkeypatch.setattr(dialogs, "ask_open_file", lambda *a, **k: model_path)
    with qtbot.waitSignal(win.modelLoaded, timeout=60000):
        win.load_model("paper-cnn")
    assert len(asked) == 1
    assert str(missing) in asked[0] and "--out resources/models/paper-cnn.safetensors" in asked[0]
    assert win.model_spec == model_path  # the chosen file was loaded
    assert not isolated["errors"]  # no plain error box on top of the question
