"""The model panel says what input a model takes: a fixed window or the whole record."""

from types import SimpleNamespace

from gui.panels.model_panel import ModelPanel


def _clf(whole: bool):
    return SimpleNamespace(meta={"arch": "default-whole" if whole else "default",
                                 "metrics": {"validation": {"f1_mean_nao": 0.82, "accuracy": 0.85}}},
                           fs=300.0, length=18300 if whole else 9000, whole=whole, classes=["N", "A", "O", "~"])


def test_model_info_names_whole_record_models(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.set_model_info(_clf(True), "CPU")
    assert "whole record ≤ 61 s" in panel.info.text() and "61 s input" not in panel.info.text()
    panel.set_model_info(_clf(False), "CPU")
    assert "30 s input" in panel.info.text()
