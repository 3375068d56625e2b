"""The Robustness card tab (issue 15 §3): builds the loaded model's card on the bundled samples as a
worker job (progress, cancel), shows it, compares two cards' key figures side by side, saves the HTML,
and refuses bad settings with a dialog before any job."""

from __future__ import annotations

from gui_fixtures import isolated, make_window, model_path, wait_idle  # noqa: F401


def _tiny(panel, attacks="pgd", eps="0.05", ens="0.05", limit=4):
    panel.split.setCurrentIndex(panel.split.findData("strat-val"))
    panel.limit.setValue(limit)
    panel.attacks.setText(attacks)
    panel.eps.setText(eps)
    panel.ens_eps.setText(ens)
    panel.iterations.setValue(2)
    panel.queries.setValue(5)


def test_card_tab_builds_compares_saves_and_cancels(qtbot, isolated, model_path):  # noqa: F811
    win = make_window(qtbot, model_path, isolated["settings"])
    wait_idle(qtbot, win, 120)
    panel = win.card_panel
    win.show_dataset_tab(win.dataset_panel.tabs.indexOf(panel))
    assert win.dataset_panel.tabs.currentWidget() is panel and not panel.save.isEnabled()

    # bad settings: one dialog, no job
    _tiny(panel, eps="0.05, abc")
    panel.run.click()
    assert isolated["errors"] and "ε" in isolated["errors"][-1][0] and not win.is_busy()
    isolated["errors"].clear()

    # first card: PGD
    _tiny(panel)
    panel.run.click()
    qtbot.waitUntil(lambda: "card" in win.status_msg.text().lower() or panel.doc is not None, timeout=60000)
    wait_idle(qtbot, win, 240)
    assert not isolated["errors"], isolated["errors"]
    doc = panel.doc
    assert doc is not None and doc["data"]["records"] == 4 and doc["settings"]["attacks"] == ["pgd"]
    assert "held" not in doc["universal"].get("skipped", "")  # strat-val: fitted on strat-train
    assert doc["universal"]["source"] == "fitted" and doc["universal"]["fit_split"] == "strat-train"
    assert "Robust accuracy under the ensemble" in panel.browser.toPlainText()
    assert panel.save.isEnabled() and panel.compare.rowCount() > 3

    # keep it, build a second card (SAP): both side by side
    panel.pin.click()
    _tiny(panel, attacks="sap")
    panel.universal.setChecked(False)
    panel.run.click()
    wait_idle(qtbot, win, 240)
    assert panel.doc is not doc and panel.doc["settings"]["attacks"] == ["sap"]
    cells = {panel.compare.item(i, 0).text(): (panel.compare.item(i, 1).text(), panel.compare.item(i, 2).text())
             for i in range(panel.compare.rowCount())}
    assert cells["sap success, ε 0.05 mV"][1] == "–" and cells["pgd success, ε 0.05 mV"][0] == "–"
    assert cells["pgd success, ε 0.05 mV"][1] != "–" and cells["Records"] == ("4", "4")
    assert "Kept" in panel.compare.horizontalHeaderItem(2).text()

    # save the shown card
    out = isolated["tmp"] / "card.html"
    assert win.cards.save(str(out)) == str(out)
    assert "Robustness card" in out.read_text(encoding="utf-8")

    # a long card is cancelled: the job stops, the shown card stays
    shown = panel.doc
    _tiny(panel, attacks="square", eps="0.001, 0.002, 0.003", ens="", limit=12)
    panel.queries.setValue(1_000_000)
    panel.run.click()
    qtbot.waitUntil(win.is_busy, timeout=10000)
    qtbot.waitUntil(lambda: "card" in win.status_msg.text().lower(), timeout=60000)
    assert not panel.run.isEnabled()
    win.cancel_jobs()
    wait_idle(qtbot, win, 60)
    assert panel.doc is shown and panel.run.isEnabled()
    assert not isolated["errors"], isolated["errors"]
