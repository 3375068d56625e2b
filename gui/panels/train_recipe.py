"""The Train tab's recipe: every training option the `train` command has, as widgets made from the
declarations in engine.train_params (range, unit, default and help), the named recipes as presets,
and the validation hold-out. `values()` gives TrainRequest fields; nothing numerical happens here."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit, QPushButton,
                               QWidget)

from engine.attacks.registry import ADV_TRAINING_METHODS
from engine.augment import AUGMENTATIONS
from engine.models import ARCHITECTURES
from engine.train_params import DEFAULT_VAL_SPLIT, RECIPES, TRAIN_PARAMS

from .params import param_widget, set_value, value_of

VAL_SPLITS = [(DEFAULT_VAL_SPLIT, "10 % of the chosen records, stratified by class (seeded)"),
              ("strat-val", "Stratified 10 % of the dataset (seed 0): the README's strat-val"),
              ("paper-val", "The paper's test split")]
# options shown as plain declared widgets, in this order (depth is given a default of 1 here)
PLAIN = ("seed", "lr", "batch_size", "ema", "weight_decay", "label_smoothing", "depth", "noise_sd_mv")
ADVERSARIAL = ("adv_eps_mv", "adv_steps", "adv_share")


class RecipeForm(QWidget):
    """Validation hold-out, seed, optimiser, regularisation, augmentation, adversarial training and
    the checkpoint to start from. `changed` fires on every edit."""

    changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.preset = QComboBox()
        self.preset.addItem("Custom", None)
        for key, (text, _fields) in RECIPES.items():
            self.preset.addItem(key.replace("-", " ").capitalize(), key)
            self.preset.setItemData(self.preset.count() - 1, text, Qt.ItemDataRole.ToolTipRole)
        self.preset.setToolTip("Set every option below to a named recipe")
        self.preset.activated.connect(lambda _i: self.apply_preset(self.preset.currentData()))
        form.addRow("Recipe", self.preset)
        self.val_split = QComboBox()
        for key, text in VAL_SPLITS:
            self.val_split.addItem(text, key)
        self.val_split.setToolTip("The records held out to choose the kept epoch (--val-split); a named split "
                                  "is held out of the chosen records")
        form.addRow("Validation", self.val_split)
        self.fields: dict[str, QWidget] = {}
        for name in PLAIN:
            p = TRAIN_PARAMS[name]
            if p.default is None:
                p = replace(p, default=1)
            self.fields[name] = param_widget(p)
            form.addRow(p.label, self.fields[name])
        aug = QWidget()
        row = QHBoxLayout(aug)
        row.setContentsMargins(0, 0, 0, 0)
        self.augment: dict[str, QCheckBox] = {}
        for name, text in AUGMENTATIONS.items():
            box = QCheckBox(name)
            box.setToolTip(text)
            self.augment[name] = box
            row.addWidget(box)
        row.addStretch(1)
        form.addRow("Augment", aug)
        self.adversarial = QComboBox()
        self.adversarial.addItem("Off", None)
        for m in ADV_TRAINING_METHODS:
            self.adversarial.addItem(m.upper() if m != "apgd-ce" else "APGD-CE", m)
        self.adversarial.setToolTip("Train on adversarial examples of each batch (--adversarial)")
        form.addRow("Adversarial", self.adversarial)
        for name in ADVERSARIAL:
            self.fields[name] = param_widget(TRAIN_PARAMS[name])
            form.addRow(TRAIN_PARAMS[name].label, self.fields[name])
        init = QWidget()
        row = QHBoxLayout(init)
        row.setContentsMargins(0, 0, 0, 0)
        self.init = QLineEdit()
        self.init.setPlaceholderText("random weights")
        self.init.setToolTip("Start from this checkpoint's weights (--init; same architecture): fine-tuning")
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.setToolTip("Choose a checkpoint")
        browse.clicked.connect(self._choose_init)
        row.addWidget(self.init, 1)
        row.addWidget(browse)
        form.addRow("Start from", init)
        for w in [self.val_split, self.adversarial]:
            w.currentIndexChanged.connect(self._edited)
        for w in [self.preset, self.val_split, self.adversarial]:  # long entries must not widen the dock
            w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            w.setMinimumContentsLength(12)
        for w in [*self.fields.values(), *self.augment.values()]:
            (w.toggled if isinstance(w, QCheckBox) else w.valueChanged).connect(self._edited)
        self.init.textChanged.connect(self._edited)
        self._arch = None
        self._applying = False
        self._sync_enabled()

    # ---- values --------------------------------------------------------------------------------
    def values(self) -> dict:
        """TrainRequest fields of the form (depth only where the architecture has stages to deepen)."""
        out = {name: value_of(self.fields[name]) for name in PLAIN + ADVERSARIAL if name != "depth"}
        depth = int(value_of(self.fields["depth"]))
        has_depth = self._arch is not None and "depth" in ARCHITECTURES[self._arch].arg_limits
        out["arch_args"] = {"depth": depth} if has_depth and depth != 1 else {}
        out["val_split"] = self.val_split.currentData()
        out["augment"] = tuple(n for n, box in self.augment.items() if box.isChecked())
        out["adversarial"] = self.adversarial.currentData()
        out["init"] = self.init.text().strip() or None
        return out

    def set_values(self, fields: dict) -> None:
        """Every option to `fields` (TrainRequest names), the rest to its declared default."""
        self._applying = True
        try:
            for name, w in self.fields.items():
                default = TRAIN_PARAMS[name].default
                v = fields.get("arch_args", {}).get("depth", 1) if name == "depth" else fields.get(name, default)
                set_value(w, v)
            self.val_split.setCurrentIndex(max(0, self.val_split.findData(fields.get("val_split",
                                                                                     DEFAULT_VAL_SPLIT))))
            chosen = tuple(fields.get("augment", ()))
            for n, box in self.augment.items():
                box.setChecked(n in chosen)
            self.adversarial.setCurrentIndex(max(0, self.adversarial.findData(fields.get("adversarial"))))
            self.init.setText(fields.get("init") or "")
        finally:
            self._applying = False
        self._sync_enabled()
        self.changed.emit()

    def apply_preset(self, key: str | None) -> None:
        """Set the options to a named recipe of engine.train_params.RECIPES (None: leave them)."""
        if key is None:
            return
        self.set_values(RECIPES[key][1])
        self.preset.setCurrentIndex(self.preset.findData(key))

    def preset_fields(self) -> dict:
        """The chosen preset's fields outside this form (architecture, time budget), or {}."""
        key = self.preset.currentData()
        return {k: v for k, v in RECIPES[key][1].items() if k in ("arch", "max_minutes")} if key else {}

    def set_arch(self, arch: str) -> None:
        self._arch = arch
        self._sync_enabled()

    # ---- internals -----------------------------------------------------------------------------
    def _edited(self, *_a) -> None:
        if self._applying:
            return
        self.preset.setCurrentIndex(0)  # an edit makes the recipe custom
        self._sync_enabled()
        self.changed.emit()

    def _sync_enabled(self) -> None:
        on = self.adversarial.currentData() is not None
        for name in ADVERSARIAL:
            self.fields[name].setEnabled(on)
        has_depth = self._arch is None or "depth" in ARCHITECTURES[self._arch].arg_limits
        self.fields["depth"].setEnabled(has_depth)
        self.fields["depth"].setToolTip(TRAIN_PARAMS["depth"].help if has_depth else
                                        f"{self._arch} has no residual stages to deepen")

    def _choose_init(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Start from checkpoint", "", "Checkpoints (*.safetensors)")
        if path:
            self.init.setText(path)
