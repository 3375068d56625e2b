"""Dataset actions from the window on the bundled samples: evaluate (confusion matrix),
attack evaluation, robustness curve and a one-epoch training run with its live curve."""

from __future__ import annotations

import os

from gui_fixtures import fast_attack, isolated, make_window, model_path, wait_idle  # noqa: F401


def test_evaluate_attack_eval_robustness(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    win.show_dataset_tab(0)
    assert win.dataset_dock.isVisible()
    panel = win.dataset_panel
    assert "12 records" in panel.source.text()

    panel.eval_split.setCurrentIndex(panel.eval_split.findData("all"))
    panel.eval_run.click()
    wait_idle(qtbot, win, 120)
    total = sum(int(panel.confusion.item(i, j).text()) for i in range(4) for j in range(4))
    assert total == 12
    assert "Accuracy" in panel.eval_summary.text() and "bootstrap over the records" in panel.eval_summary.text()

    fast_attack(win, steps=4, sap_steps=4)
    panel.ae_split.setCurrentIndex(panel.ae_split.findData("all"))
    panel.ae_limit.setValue(3)
    panel.ae_run.click()
    wait_idle(qtbot, win, 180)
    assert "success rate" in panel.ae_summary.text()
    assert panel.ae_table.rowCount() >= 1

    panel.rb_split.setCurrentIndex(panel.rb_split.findData("all"))
    panel.rb_limit.setValue(2)
    panel.rb_eps.setText("0.01, 0.3")
    panel.rb_run.click()
    wait_idle(qtbot, win, 180)
    text = panel.rb_summary.text()
    assert "ε 0.01 mV" in text and "ε 0.3 mV" in text and "running" not in text
    # the paper's ε is a grey dashed line at log10(0.01 mV) on the log ε axis
    import pyqtgraph as pg
    from PySide6.QtCore import Qt

    (line,) = [it for it in panel.rb_plot.getPlotItem().items if isinstance(it, pg.InfiniteLine)]
    assert line.value() == -2.0
    assert line.pen.style() == Qt.PenStyle.DashLine and line.pen.color().name() == "#888888"
    assert not isolated["errors"], isolated["errors"]

    panel.rb_eps.setText("0.01, nope")
    with qtbot.waitSignal(win.errorShown, timeout=60000) as sig:
        panel.rb_run.click()
    assert "not a number" in sig.args[0]


def test_train_one_epoch_with_live_curve(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    win.show_dataset_tab(3)
    panel = win.dataset_panel
    out = isolated["tmp"] / "gui-trained.safetensors"
    panel.tr_split.setCurrentIndex(panel.tr_split.findData("all"))
    panel.tr_epochs.setValue(1)
    panel.tr_out.setText(str(out))
    panel.tr_run.click()
    wait_idle(qtbot, win, 300)
    assert not isolated["errors"], isolated["errors"]
    assert out.is_file()
    xs, ys = panel.tr_loss.getData()
    assert list(xs) == [1]
    assert "Saved" in panel.tr_summary.text()


def test_large_dataset_lists_at_once_and_fills_in_background(qtbot, isolated, model_path):  # noqa: F811
    """8528 records (links to one sample) list in about a second; predictions arrive in batches
    while the GUI stays responsive; the filter and sorting work on the whole table."""
    import os
    import time

    from gui_fixtures import SAMPLES, Watchdog

    big = isolated["tmp"] / "big"
    big.mkdir()
    lines = []
    for i in range(8528):
        name = f"A{i + 1:05d}"
        os.symlink(SAMPLES / "A00009.hea", big / f"{name}.hea")
        os.symlink(SAMPLES / "A00009.mat", big / f"{name}.mat")
        lines.append(f"{name},{'NAOA~'[i % 5]}")
    (big / "REFERENCE.csv").write_text("\n".join(lines) + "\n")
    # the header names its signal file A00009.mat: every link reads the same signal
    win = make_window(qtbot, model_path, isolated["settings"], open_samples=False)
    wait_idle(qtbot, win, 120)
    dog = Watchdog(10)
    dog.start()
    t0 = time.monotonic()
    with qtbot.waitSignal(win.datasetListed, timeout=60000):
        win.open_folder(str(big), select_first=False, remember=False)
    listed = time.monotonic() - t0
    assert len(win.browser.names()) == 8528
    assert listed < 5.0, f"listing took {listed:.1f} s"
    qtbot.waitUntil(lambda: sum("pred" in d for d in win.browser.model.data_.values()) >= 64, timeout=60000)
    dog.stop()
    assert dog.max_gap < 0.25, f"GUI thread blocked for {1000 * dog.max_gap:.0f} ms while filling"
    assert "model predictions" in win.browser.count.text()
    # class filter and sorting over all rows
    win.browser.cls.setCurrentIndex(win.browser.cls.findData("~"))
    assert win.browser.proxy.rowCount() == 8528 // 5 + (1 if 8528 % 5 > 4 else 0)
    win.browser.cls.setCurrentIndex(0)
    from PySide6.QtCore import Qt

    win.browser.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
    assert win.browser.visible_names()[0] == "A08528"


def test_record_list_file_as_split(qtbot, isolated, model_path, tmp_path, monkeypatch):  # noqa: F811
    from gui.panels import dataset_widgets as dataset_panel  # the split chooser lives there
    from gui.panels.file_combo import CHOOSE  # the "Record list file…" entry's data

    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    win.show_dataset_tab(0)
    panel = win.dataset_panel
    combo = panel.eval_split
    lst = tmp_path / "three.txt"
    lst.write_text("# my records\nA00001\nA00009.hea\nA00013\n", encoding="utf-8")
    # cancelled: the previous choice stays
    monkeypatch.setattr(dataset_panel, "choose_list_file", lambda parent: "")
    before = combo.currentIndex()
    combo.activated.emit(combo.findData(CHOOSE))
    assert combo.currentIndex() == before
    # chosen: a "List: three.txt" entry, selected, used by evaluate
    monkeypatch.setattr(dataset_panel, "choose_list_file", lambda parent: str(lst))
    combo.activated.emit(combo.findData(CHOOSE))
    assert combo.currentData() == str(lst) and "three.txt" in combo.currentText()
    n_items = combo.count()
    combo.activated.emit(combo.findData(CHOOSE))  # the same file again: no duplicate
    assert combo.count() == n_items
    panel.eval_run.click()
    wait_idle(qtbot, win, 120)
    total = sum(int(panel.confusion.item(i, j).text()) for i in range(4) for j in range(4))
    assert total == 3
    assert not isolated["errors"], isolated["errors"]
    # a binary file is a one-line error dialog, and the window keeps working
    bad = tmp_path / "bad.txt"
    bad.write_bytes(bytes(range(256)) * 4)
    monkeypatch.setattr(dataset_panel, "choose_list_file", lambda parent: str(bad))
    combo.activated.emit(combo.findData(CHOOSE))
    with qtbot.waitSignal(win.errorShown, timeout=60000) as sig:
        panel.eval_run.click()
    assert "not a text file" in sig.args[0] or "is not UTF-8 text" in sig.args[0]  # engine.datasets' words


def test_train_tab_recipe_reaches_the_checkpoint_and_its_command(qtbot, isolated, model_path):  # noqa: F811
    """The Train tab offered architecture, records and epochs only: the README's best recipe could
    not be trained from the window, and its card said 'GUI train'. Now every option of `train` is
    in the Recipe section, a preset sets the README's recipe, and the command shown under the form
    is the one the checkpoint's card keeps."""
    from PySide6.QtCore import Qt

    from engine.models.checkpoint import load_checkpoint

    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    win.show_dataset_tab(3)
    panel = win.dataset_panel
    r = panel.tr_recipe
    assert not r.isVisible()
    qtbot.mouseClick(panel.tr_recipe_toggle, Qt.MouseButton.LeftButton)
    assert r.isVisible() and panel.tr_recipe_toggle.text() == "Recipe ▾"
    i = r.preset.findData("regularised-deep")
    r.preset.setCurrentIndex(i)
    r.preset.activated.emit(i)
    assert panel.tr_arch.currentData() == "default-whole" and panel.tr_minutes.value() == 42
    cmd = panel.tr_command.text()
    for frag in ("python main.py train samples --arch default-whole", "--max-minutes 42", "--ema 0.998",
                 "--depth 2", "--weight-decay 0.05", "--label-smoothing 0.1", "--augment stretch,noise"):
        assert frag in cmd, (frag, cmd)
    r.fields["ema"].setValue(0.99)  # an edit makes the recipe custom
    assert r.preset.currentData() is None and "--ema 0.99 " in panel.tr_command.text()
    assert not r.fields["adv_eps_mv"].isEnabled()
    r.adversarial.setCurrentIndex(r.adversarial.findData("pgd"))
    assert r.fields["adv_eps_mv"].isEnabled() and "--adversarial pgd --eps 0.01 --steps 1" in panel.tr_command.text()
    r.adversarial.setCurrentIndex(0)
    panel.tr_arch.setCurrentIndex(panel.tr_arch.findData("paper-cnn"))  # no residual stages to deepen
    assert not r.fields["depth"].isEnabled() and "--depth" not in panel.tr_command.text()
    panel.tr_arch.setCurrentIndex(panel.tr_arch.findData("default-whole"))
    assert r.fields["depth"].isEnabled() and "--depth 2" in panel.tr_command.text()

    out = isolated["tmp"] / "recipe.safetensors"
    panel.tr_minutes.setValue(0)
    assert panel.tr_minutes.text() == "no limit" and "--max-minutes" not in panel.tr_command.text()
    panel.tr_epochs.setValue(1)
    r.fields["batch_size"].setValue(8)
    panel.tr_split.setCurrentIndex(panel.tr_split.findData("all"))
    panel.tr_out.setText(str(out))
    shown = panel.tr_command.text()
    panel.tr_run.click()
    wait_idle(qtbot, win, 300)
    assert not isolated["errors"], isolated["errors"]
    meta = load_checkpoint(out).meta
    assert meta["arch_args"]["depth"] == 2
    t = meta["training"]
    assert (t["ema"], t["weight_decay"], t["label_smoothing"], t["augment"], t["batch_size"]) == \
        (0.99, 0.05, 0.1, "stretch,noise", 8)
    assert t["command"] == shown and str(isolated["tmp"]) not in shown


def test_evaluate_compares_with_another_model_on_the_same_records(qtbot, isolated, model_path,  # noqa: F811
                                                                   monkeypatch):
    """`evaluate --against` had no counterpart in the window: the Evaluate tab now scores a second
    model (bundled or a checkpoint file) on the same records with the paired difference."""
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    win.show_dataset_tab(0)
    panel = win.dataset_panel
    names = [panel.eval_against.itemData(i) for i in range(panel.eval_against.count())]
    assert names[0] == "" and "default-whole" in names and "paper-cnn" not in names  # no weights installed
    panel.eval_split.setCurrentIndex(panel.eval_split.findData("all"))
    panel.eval_against.setCurrentIndex(panel.eval_against.findData("default-whole"))
    panel.eval_run.click()
    wait_idle(qtbot, win, 180)
    assert not isolated["errors"], isolated["errors"]
    text = panel.eval_summary.text()
    assert "Against <b>default-whole</b>" in text and "paired bootstrap 95 %" in text, text
    assert ("no difference shown" in text) or ("is better" in text)
    # "Checkpoint file…": cancelled keeps the last choice; chosen adds one "File:" entry, used by evaluate
    from gui.panels import dataset_panel, file_combo

    combo = panel.eval_against
    chooser = combo.findData(file_combo.CHOOSE)
    n_items = combo.count()
    monkeypatch.setattr(dataset_panel, "choose_checkpoint", lambda parent: "")
    combo.setCurrentIndex(chooser)
    combo.activated.emit(chooser)
    assert combo.currentData() == "default-whole" and combo.count() == n_items
    monkeypatch.setattr(dataset_panel, "choose_checkpoint", lambda parent: str(model_path))
    for _ in range(2):  # the same file twice: one entry, placed before "Checkpoint file…"
        combo.activated.emit(combo.findData(file_combo.CHOOSE))
    assert combo.count() == n_items + 1 and combo.currentData() == str(model_path)
    assert combo.currentIndex() == combo.findData(file_combo.CHOOSE) - 1
    assert combo.currentText() == f"File: {os.path.basename(model_path)}"
    panel.eval_run.click()
    wait_idle(qtbot, win, 180)
    assert not isolated["errors"], isolated["errors"]
    assert "paired bootstrap 95 %" in panel.eval_summary.text()
    assert "no difference shown" in panel.eval_summary.text()  # the same weights as the model under test


def test_train_tab_choices_survive_a_restart_and_a_damaged_setting_does_not(qtbot, isolated, model_path):  # noqa: F811
    """The recipe set up in the Train tab is saved with the window's settings and comes back; a
    setting that is no valid request (hand-edited) is ignored and the tab keeps its defaults."""
    from gui.settings import Settings

    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    panel = win.dataset_panel
    r = panel.tr_recipe
    i = r.preset.findData("regularised-deep")
    r.preset.setCurrentIndex(i)
    r.preset.activated.emit(i)
    r.fields["seed"].setValue(3)
    panel.tr_out.setText("deep.safetensors")
    shown = panel.tr_command.text()
    win.save_settings()
    again = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, again, 120)
    p2 = again.dataset_panel
    assert p2.tr_command.text() == shown and p2.tr_recipe.fields["seed"].value() == 3
    assert p2.tr_minutes.value() == 42 and p2.tr_arch.currentData() == "default-whole"

    s = Settings(isolated["settings"])
    for bad in ('{"lr": -1}', "[1, 2]", "not json", '{"arch_args": {"depth": 99}}', '{"augment": ["warp"]}'):
        s.set("train/recipe", bad)
        s.sync()
        third = make_window(qtbot, model_path, isolated["settings"])
        wait_idle(qtbot, third, 120)
        fresh = third.dataset_panel
        assert fresh.tr_recipe.fields["lr"].value() == 1e-3 and fresh.tr_recipe.fields["depth"].value() == 1, bad
        assert not fresh.tr_recipe.augment["stretch"].isChecked() and not isolated["errors"], bad
