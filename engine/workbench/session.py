"""The Workbench session: one object owns what the user works on, front ends observe it.

`Workbench` holds the current model, dataset, record (one lead), attack (method, parameters,
result) and band. Its `*_job` methods build cancellable jobs (see `jobs`) from that state; a front
end runs a job wherever it likes (the CLI inline, the GUI in its worker thread) and hands the
job's result back with the matching `set_*` method, which updates the state, drops what the change
makes stale (a new record drops the attack and band; a new model drops them too) and tells every
listener `fn(event, value)`. Events: "model", "dataset", "record", "attack", "band".
"""

from __future__ import annotations

from typing import Any, Callable

from . import jobs
from .jobs import Job, OpenedRecord, TrainRequest

Listener = Callable[[str, Any], None]


class Workbench:
    def __init__(self) -> None:
        self.model = None  # Classifier
        self.device_text = ""
        self.dataset = None  # engine.datasets.Dataset
        self.record: OpenedRecord | None = None
        self.prediction: dict | None = None  # classify result of the current record
        self.method: str | None = None
        self.params = None  # AttackParams of the current attack
        self.attack_result = None  # engine.attacks.AttackResult
        self.band_result = None  # engine.band.BandResult
        self._listeners: list[Listener] = []

    # -- observing ---------------------------------------------------------------------------
    def subscribe(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def _tell(self, event: str, value: Any) -> None:
        for fn in list(self._listeners):
            fn(event, value)

    # -- state changes (call with a job's result) ---------------------------------------------
    def set_model(self, clf, device_text: str = "") -> None:
        self.model, self.device_text = clf, device_text
        self.prediction = None
        self._drop_attack()
        self._tell("model", clf)

    def set_dataset(self, ds) -> None:
        self.dataset = ds
        self._tell("dataset", ds)

    def set_record(self, rec: OpenedRecord | None) -> None:
        self.record = rec
        self.prediction = None
        self._drop_attack()
        self._tell("record", rec)

    def set_prediction(self, pred: dict | None) -> None:
        self.prediction = pred

    def set_attack(self, method: str | None, result, params) -> None:
        self.method, self.attack_result, self.params = method, result, params
        self.band_result = None
        self._tell("attack", result)

    def set_band(self, band_result) -> None:
        self.band_result = band_result
        self._tell("band", band_result)

    def _drop_attack(self) -> None:
        had = self.attack_result is not None or self.band_result is not None
        self.method = self.params = self.attack_result = self.band_result = None
        if had:
            self._tell("attack", None)

    # -- jobs from the current state ------------------------------------------------------------
    def _need(self, what: str, value) -> Any:
        from ..errors import UserError

        if value is None:
            raise UserError(f"no {what}: open one first")
        return value

    def load_model_job(self, spec: str, device: str | None = None) -> Job:
        return jobs.load_model(spec, device)

    def open_record_job(self, path: str, label: str | None = None, lead: str | None = None,
                        fill_gaps: bool = False) -> Job:
        return jobs.open_record(path, label, lead, fill_gaps)

    def classify_job(self, detail: bool = False) -> Job:
        rec = self._need("record", self.record)
        return jobs.classify(self._need("model", self.model), rec.x_mv, rec.fs, detail, rec.channel)

    def attack_job(self, method: str, params) -> Job:
        return jobs.attack(self._need("model", self.model), self._need("record", self.record), method, params)

    def band_job(self, trials: int, noise_sd_mv: float, seed: int = 0, **options) -> Job:
        res = self._need("attack result", self.attack_result)
        return jobs.band(self._need("model", self.model), res, self.params, trials, noise_sd_mv, seed, **options)

    def export_adversarial_job(self, out_dir: str, model_name: str, overwrite: bool = False) -> Job:
        res = self._need("attack result", self.attack_result)
        rec = self.record
        return jobs.export_adversarial(out_dir, res, model=model_name, method=self.method, params=self.params,
                                       source=rec.path, overwrite=overwrite, gain=rec.gain or 1000.0,
                                       lead=rec.lead, source_fs=rec.fs, classifier=self.model)

    def export_band_job(self, out_dir: str, model_name: str, members: int = 10, overwrite: bool = False) -> Job:
        b = self._need("band", self.band_result)
        rec = self.record
        return jobs.export_band(out_dir, b, model=model_name, method=self.method, params=self.params,
                                source=rec.path, members=members, overwrite=overwrite, gain=rec.gain or 1000.0,
                                lead=rec.lead, source_fs=rec.fs, classifier=self.model)

    def list_dataset_job(self, folder: str, labels: str | None = None) -> Job:
        return jobs.list_dataset(folder, labels)

    def evaluate_job(self, split: str, limit: int | None = None, against=None) -> Job:
        """jobs.evaluate of the session's model; `against` a second model (spec or Classifier) scored
        on the same records, with the paired difference."""
        return jobs.evaluate(self._need("dataset", self.dataset), split, self._need("model", self.model),
                             limit=limit, against=against)

    def attack_eval_job(self, split: str, method: str, params, limit: int | None = None, **options) -> Job:
        return jobs.attack_eval(self._need("dataset", self.dataset), split, self._need("model", self.model),
                                method, params, limit, **options)

    def robustness_job(self, split: str, method: str, params, eps_text: str, limit: int | None = None) -> Job:
        return jobs.robustness(self._need("dataset", self.dataset), split, self._need("model", self.model),
                               method, params, eps_text, limit)

    def train_job(self, out: str, **request) -> Job:
        return jobs.train(TrainRequest(dataset=self._need("dataset", self.dataset), out=out, **request))
