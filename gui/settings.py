"""Settings remembered between runs (QSettings): last folders, recent files, display options,
attack and band defaults, model choice, window layout.

`Settings(path)` stores to an INI file (tests use a temporary one); `Settings()` uses the
platform's usual place, or the file named by the ECGADV_SETTINGS environment variable.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

ORG, APP = "ecg-adv-workbench", "ECG Adversarial Workbench"
MAX_RECENT = 10

DEFAULTS = {
    "model/spec": "default",
    "attack/method": "sap",
    "attack/eps_mv": 0.01,
    "attack/alpha_mv": 0.001,
    "attack/steps": 20,
    "attack/sap_steps": 40,
    "attack/target": "",
    "attack/seed": 0,
    "band/trials": 1000,
    "band/noise_sd_mv": 0.005,
    "band/style": "workbench",
    "view/mode": "rows",
    "view/seconds_per_row": 10.0,
    "view/real_size": False,
    "view/perturbation_gain": 100,
    "view/layer/original": True,
    "view/layer/adversarial": True,
    "view/layer/perturbation": True,
    "view/layer/band": True,
    "view/layer/members": True,
    "view/layer/difference": False,
    "dirs/record": "",
    "dirs/dataset": "",
    "dirs/export": "",
    "dirs/model": "",
}

_TYPES = {k: type(v) for k, v in DEFAULTS.items()}


class Settings:
    def __init__(self, path: str | None = None) -> None:
        path = path or os.environ.get("ECGADV_SETTINGS")
        if path:
            self.q = QSettings(path, QSettings.Format.IniFormat)
        else:
            self.q = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, APP)

    def get(self, key: str, default=None):
        d = DEFAULTS.get(key, default)
        v = self.q.value(key, d)
        t = _TYPES.get(key, type(d) if d is not None else None)
        if v is None or t is None:
            return v
        try:
            if t is bool:
                return v if isinstance(v, bool) else str(v).strip().lower() in ("1", "true", "yes", "on")
            if t is int:
                return int(float(v))
            if t is float:
                return float(v)
            if t is str:
                return str(v)
        except (TypeError, ValueError):
            return d
        return v

    def set(self, key: str, value) -> None:
        self.q.setValue(key, value)

    def recent_files(self) -> list[str]:
        v = self.q.value("recent/files", [])
        if isinstance(v, str):
            v = [v] if v else []
        return [str(x) for x in (v or []) if x]

    def add_recent(self, path: str) -> list[str]:
        path = os.path.abspath(path)
        items = [p for p in self.recent_files() if p != path]
        items.insert(0, path)
        items = items[:MAX_RECENT]
        self.q.setValue("recent/files", items)
        return items

    def clear_recent(self) -> None:
        self.q.setValue("recent/files", [])

    def sync(self) -> None:
        self.q.sync()
