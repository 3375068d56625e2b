"""Settings remembered between runs (QSettings): last folders, recent files, display options,
attack and band defaults, model choice, window layout.

`Settings(path)` stores to an INI file (tests use a temporary one); `Settings()` uses the
platform's usual place, or the file named by the ECGADV_SETTINGS environment variable.
"""

from __future__ import annotations

import functools
import os

from PySide6.QtCore import QSettings

ORG, APP = "ecg-adv-workbench", "ECG Adversarial Workbench"
MAX_RECENT = 10

@functools.cache
def defaults() -> dict:
    """Every saved setting with its default; attack parameters, band and strip layers come from
    their declarations (engine.attacks.registry, engine.band, gui.strip.layers). Computed on first
    use (engine.band imports PyTorch, which the app loads behind its splash screen)."""
    from engine.attacks.registry import DEFAULT_METHOD, all_params
    from engine.band import BandParams
    from engine.models import DEFAULT_MODEL

    from .strip.layers import DEFAULT_GAIN, settings_defaults

    band = BandParams()
    return {
        "model/spec": DEFAULT_MODEL,
        "attack/method": DEFAULT_METHOD,
        **{f"attack/{p.attr}": p.default for p in all_params()},
        "attack/target": "",
        "band/trials": band.trials,
        "band/noise_sd_mv": band.noise_sd_mv,
        "band/style": band.style,
        "view/mode": "rows",
        "view/seconds_per_row": 10.0,
        "view/real_size": False,
        "view/perturbation_gain": DEFAULT_GAIN,
        **settings_defaults(),
        "dirs/record": "",
        "dirs/dataset": "",
        "dirs/export": "",
        "dirs/model": "",
    }



class Settings:
    def __init__(self, path: str | None = None) -> None:
        path = path or os.environ.get("ECGADV_SETTINGS")
        if path:
            self.q = QSettings(path, QSettings.Format.IniFormat)
        else:
            self.q = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, APP)

    def get(self, key: str, default=None):
        d = defaults().get(key, default)
        v = self.q.value(key, d)
        t = type(d) if d is not None else None
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
