"""Dataset actions from the window on the bundled samples: evaluate (confusion matrix),
attack evaluation, robustness curve and a one-epoch training run with its live curve."""

from __future__ import annotations

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
    assert "Accuracy" in panel.eval_summary.text()

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
