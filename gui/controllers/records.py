"""Opening records and folders, choosing a lead, classifying the current record, and filling the
record browser's durations and predictions in the background."""

from __future__ import annotations

import os

from engine.errors import MissingSamples
from engine.workbench import jobs

from .. import dialogs
from ..worker import BACKGROUND

FILL_BATCH = 32  # records per background fill job


def show_on_strip(strip, rec, x_mv=None, fs: float | None = None) -> None:
    """The session's record `rec` (OpenedRecord) on `strip` with its annotations, as `x_mv` at `fs`
    Hz when given (the model's rate: an attack's x0), else as read."""
    strip.set_record(rec.x_mv if x_mv is None else x_mv, rec.fs if fs is None else fs, rec.name,
                     units=getattr(rec, "units", "mV"))
    ann = getattr(rec, "annotations", None)
    if ann is not None:
        strip.set_annotations(ann.time_s, ann.label)  # in s: the same at any rate


def split_counts(ds) -> dict[str, int]:
    """Labelled records of `ds` in each named split of the dataset panel (a split that cannot be
    selected here is left out: unknown)."""
    from engine.datasets import select_split
    from engine.errors import UserError

    from ..panels.dataset_widgets import SPLITS

    out = {}
    for key, _text in SPLITS:
        try:
            out[key] = sum(1 for n in select_split(ds, key).names if ds.label(n))
        except (UserError, OSError):
            continue
    return out


class RecordController:
    def __init__(self, win) -> None:
        self.win = win
        self.wb = win.wb
        self._fill_gen = 0
        self.non_ecg_ok: set[tuple[str, str]] = set()  # (record path, lead) confirmed on a non-ECG channel
        self.detail: dict | None = None  # Classifier.classify_detail of the current record (what the model saw)
        self.wb.subscribe(self._changed)  # before the other controllers: a new record is drawn first

    # ---- asking -------------------------------------------------------------------------------
    def ask_open_record(self) -> None:
        w = self.win
        path = dialogs.ask_open_file(w, "Open WFDB record", w.settings.get("dirs/record") or str(w.samples),
                                     "WFDB headers (*.hea);;All files (*)")
        if path:
            self.open_path(path)

    def ask_open_folder(self) -> None:
        w = self.win
        path = dialogs.ask_directory(w, "Open folder or dataset", w.settings.get("dirs/dataset") or str(w.samples))
        if path:
            self.open_folder(path, select_first=True)

    # ---- opening ------------------------------------------------------------------------------
    def open_path(self, path: str) -> None:
        """A record (any of its files, or the base path) or a folder."""
        from engine.records import record_base

        if os.path.isdir(path):
            self.open_folder(path, select_first=True)
        elif os.path.isfile(path) and record_base(path) == path and not os.path.isfile(path + ".hea"):
            stem = os.path.splitext(path)[0]  # another file of a record (100.qrs): that record
            if stem != path and os.path.isfile(stem + ".hea"):
                self.open_record(stem + ".hea")
            else:  # not 'no such record: notes.txt.hea not found'
                self.win.show_error(f"{os.path.basename(path)} is not a WFDB record: open its .hea file (with its "
                                    ".dat or .mat), or a folder of records")
        else:
            self.open_record(path)

    def open_paths(self, paths: list[str]) -> None:
        """Dropped files or folders: the files of one record (A00001.hea, A00001.mat) are one record;
        a folder is listed; of several records the first is opened (its folder lists the others)."""
        from engine.records import record_base

        seen: dict[str, str] = {}
        for p in paths:
            if not p:
                continue
            key = p if os.path.isdir(p) else os.path.normcase(os.path.abspath(record_base(p)))
            seen.setdefault(key, p)
        uniq = list(seen.values())
        if not uniq:
            return
        self.open_path(uniq[0])
        if len(uniq) > 1:
            self.win.status_msg.setText(f"{len(uniq)} records dropped: opened {os.path.basename(record_base(uniq[0]))}; "
                                        "the others are listed in the record browser")

    def open_folder(self, folder: str, select_first: bool = True, remember: bool = True,
                    then_select: str | None = None) -> None:
        w = self.win

        def done(ds):
            self.wb.set_dataset(ds)
            w.browser.set_dataset(ds.folder, ds.names, ds.labels, ds.label_file)
            counts = split_counts(ds)
            w.dataset_panel.set_source(ds.folder, len(ds.names), len(ds.labels), counts)
            w.card_panel.split.set_counts(counts)
            if remember:
                w.settings.set("dirs/dataset", ds.folder)
                w.remember(ds.folder)
            self.start_fill()
            w.datasetListed.emit(ds.folder)
            if then_select:
                w.browser.select(then_select, emit=False)
            elif select_first and ds.names:
                w.browser.select(ds.names[0], emit=True)

        w.submit(self.wb.list_dataset_job(folder), f"Listing {folder}", on_done=done, kind="list")

    def open_record(self, path: str, remember: bool = True) -> None:
        """Open one record file; its folder is listed in the browser."""
        from engine.records import record_base

        w = self.win
        base = record_base(os.path.abspath(path))
        folder, name = os.path.split(base)

        def opened(rec):
            if remember:
                w.settings.set("dirs/record", folder)
                w.remember(base + ".hea")
            ds = self.wb.dataset
            if ds is None or os.path.abspath(ds.folder) != folder:
                self.open_folder(folder, select_first=False, remember=False, then_select=name)
            else:
                w.browser.select(name, emit=False)
            self.show_record(rec)

        self.load_record(path, opened)

    def _offer_other_channel(self, path, on_done, label, fill_gaps, one: str, details: str) -> None:
        """A record that failed to open without a lead choice: when it has channels but no ECG lead
        (a PLETH- or ABP-only record), offer to show its first channel; else show the error."""
        w = self.win

        def channels(progress, should_stop):
            from engine.records import read_record

            return [(c.name, c.units, c.is_ecg) for c in read_record(path).leads]

        def listed(chans):
            if not chans or any(is_ecg for _n, _u, is_ecg in chans):
                w.show_error(one, details)
                return
            names = ", ".join(f"{n} [{u}]" for n, u, _e in chans)
            question = (f"{os.path.basename(path)} has no ECG lead ({names}).\n\nShow {chans[0][0]} anyway? "
                        "It will not be classified or attacked unless you confirm that too.")
            if dialogs.confirm(w, question, "No ECG lead"):
                self.load_record(path, on_done, label, chans[0][0], fill_gaps)

        w.submit(channels, f"Reading {os.path.basename(path)}", on_done=listed,
                 on_error=lambda *_a: w.show_error(one, details), kind="open")

    def record_activated(self, name: str) -> None:
        ds = self.wb.dataset
        if ds is not None:
            self.load_record(ds.path(name), self.show_record, label=ds.label(name))

    def load_record(self, path: str, on_done, label: str | None = None, lead: str | None = None,
                    fill_gaps: bool = False) -> None:
        """Read a record in the worker; for short gaps of missing samples offer to interpolate them."""
        w = self.win

        def failed(one, details, exc=None):
            if not fill_gaps and isinstance(exc, MissingSamples) and exc.fillable:
                question = (f"{os.path.basename(path)}: {exc.n_missing} samples are missing (longest gap "
                            f"{exc.longest_gap_s:.2f} s).\n\nInterpolate short gaps (up to 0.5 s) "
                            "and open the record anyway?")
                if dialogs.confirm(w, question, "Missing samples"):
                    self.load_record(path, on_done, label, lead, fill_gaps=True)
                    return
            if lead is None and not isinstance(exc, MissingSamples):
                self._offer_other_channel(path, on_done, label, fill_gaps, one, details)
                return
            w.show_error(one, details)

        w.submit(self.wb.open_record_job(path, label, lead, fill_gaps), f"Opening {os.path.basename(path)}",
                 on_done=on_done, on_error=failed, group="open", replace_group=True, kind="open")

    def lead_chosen(self, _i: int) -> None:
        rec, lead = self.wb.record, self.win.lead_combo.currentData()
        if rec is None or not lead or lead == rec.lead:
            return
        self.load_record(rec.path, self._show_other_lead, label=rec.label, lead=lead, fill_gaps=rec.gaps_filled)

    def _show_other_lead(self, rec: jobs.OpenedRecord) -> None:
        """The same record on another lead: its row's attack status was the other lead's (the
        strip drops that attack), and its Model column becomes this lead's prediction."""
        self.win.browser.update_row(rec.name, status="", status_tip="", fooled=False)
        self.show_record(rec)

    def show_record(self, rec: jobs.OpenedRecord) -> None:
        w = self.win
        w.lead_combo.clear()
        for name, is_ecg in rec.leads:
            w.lead_combo.addItem(name if is_ecg else f"{name} (not ECG)", name)
        w.lead_combo.setCurrentIndex(max(0, w.lead_combo.findData(rec.lead)))
        multi = len(rec.leads) > 1
        w.lead_label.setVisible(multi)
        w.lead_combo.setVisible(multi)
        self.detail = None
        self.wb.set_record(rec)  # drops the attack and band; the "record" event draws it
        w.setWindowTitle(f"{rec.name} — ECG Adversarial Workbench")
        w.recordShown.emit(rec.name)
        self.classify_current()

    def _changed(self, event: str, value) -> None:
        if event == "record" and value is not None:  # the session's record on the strip, in its unit
            show_on_strip(self.win.strip, value)

    # ---- non-ECG channels ---------------------------------------------------------------------
    def is_ecg(self, rec=None) -> bool:
        """Whether the shown lead of `rec` (default: the current record) is an ECG channel."""
        rec = rec if rec is not None else self.wb.record
        return rec is None or dict(rec.leads).get(rec.lead, True)

    def confirm_channel(self, what: str) -> bool:
        """True when the current lead is ECG, or the user confirms `what` ('classify', 'attack') on a
        non-ECG channel (asked once per record and channel)."""
        rec = self.wb.record
        if rec is None or self.is_ecg(rec):
            return True
        key = (rec.path, rec.lead)
        if key in self.non_ecg_ok:
            return True
        question = (f"{rec.lead} is not an ECG channel. The model was trained on ECG leads in mV: "
                    f"its diagnosis of {rec.lead} means nothing, and an attack on it shows nothing "
                    f"about ECGs.\n\n{what.capitalize()} {rec.name} · {rec.lead} anyway?")
        if not dialogs.confirm(self.win, question, "Not an ECG channel"):
            return False
        self.non_ecg_ok.add(key)
        return True

    def classify_current(self) -> None:
        w = self.win
        rec, clf = self.wb.record, self.wb.model
        self.detail = None
        if rec is None or clf is None:
            return
        if not self.confirm_channel("classify"):
            self.detail = {"refused": True}
            w.model_panel.set_probs(None, None, rec.label)
            w.refresh_header()
            return

        def done(res):
            if self.wb.record is not rec or self.wb.model is not clf:
                return
            pred, probs = res["pred"], res["probs"]
            self.detail = res
            self.wb.set_prediction((pred, probs))
            w.model_panel.set_probs(probs, None, rec.label)
            # opened (gaps filled if asked): the table's fill error for this row no longer holds
            w.browser.update_row(rec.name, pred=pred, probs=probs, error=None, duration=rec.duration_s)
            w.refresh_header()
            w.classified.emit(rec.name, (pred, probs))

        w.submit(self.wb.classify_job(detail=True), f"Classifying {rec.name}", on_done=done, kind="classify",
                 group="classify", replace_group=True)

    # ---- background fill of durations / predictions ------------------------------------------
    def start_fill(self) -> None:
        """Durations and predictions for every listed record, in background batches that give way
        to user jobs (a dataset of 8528 records lists at once and fills in over time)."""
        self._fill_gen += 1
        self.win.host.cancel_group("fill")
        ds, clf = self.wb.dataset, self.wb.model
        if ds is None:
            return
        for i in range(0, len(ds.names), FILL_BATCH):
            self._submit_fill(ds, clf, ds.names[i:i + FILL_BATCH], self._fill_gen)

    def _submit_fill(self, ds, clf, names: list[str], gen: int) -> None:
        host = self.win.host

        def done(res):
            if gen != self._fill_gen:
                return
            self.win.browser.update_rows(res["rows"])
            if res["rest"]:
                self._submit_fill(ds, clf, res["rest"], gen)

        host.submit(jobs.fill_batch(ds, names, clf, yield_to=host.user_waiting), "Filling table",
                    on_done=done, on_error=lambda *_: None, priority=BACKGROUND, group="fill")
