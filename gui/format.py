"""Text and HTML the main window shows: the record header, the model / attack / band summary line,
times and ETAs. Pure functions of engine objects (no widgets)."""

from __future__ import annotations

import html

from .panels.common import ADVERSARIAL_COLOR, BAND_COLOR, CLASS_NAMES, SHORT_NAMES, class_text

SEP = " &nbsp;·&nbsp; "
NO_RECORD = ("No record open: <b>File ▸ Open Record…</b> (Ctrl+O), Open Folder… (Ctrl+Shift+O), "
             "or drop a record's files on the window")
NO_RECORD_COMPACT = "No record open: Ctrl+O opens one"
WARN_COLOR = "#a05a00"


def clock(t: float) -> str:
    """Record time `t` (s) as m:ss (or h:mm:ss)."""
    t = int(round(t))
    h, m, sec = t // 3600, (t // 60) % 60, t % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def eta(s: float) -> str:
    """A remaining time in s as '<1 s', '42 s', '7 min' or '1.5 h'."""
    if s < 1:
        return "<1 s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def record_header(rec, compact: bool = False) -> str:
    """'name · duration · fs · lead · reference label' of an OpenedRecord (HTML); `compact`: the
    short form a narrow window shows (the full one is its tooltip)."""
    if rec is None:  # what to do, not only what is missing
        return NO_RECORD_COMPACT if compact else NO_RECORD
    dur = f"{rec.duration_s:.1f} s" if rec.duration_s < 120 else f"{rec.duration_s / 60:.1f} min"
    if compact:
        label = f"label <b>{class_text(rec.label)}</b>" if rec.label else "no label"
    else:
        label = (f"reference label <b>{class_text(rec.label, long=True)}</b>" if rec.label
                 else "no reference label")
    sep = " · " if compact else SEP
    gaps = (f"{sep}<span style='color:{WARN_COLOR}'>{'gaps filled' if compact else 'short gaps interpolated'}"
            "</span>") if rec.gaps_filled else ""
    lead = rec.lead if compact else f"lead {rec.lead}"
    if not dict(rec.leads).get(rec.lead, True):
        unit = getattr(rec, "units", "")
        lead = f"<span style='color:{WARN_COLOR}'>{lead}{f' [{unit}]' if unit else ''} (not ECG)</span>"
    parts = [f"<b>{rec.name}</b>", dur, f"{rec.fs:g} Hz", lead, label]
    ann, ann_error = getattr(rec, "annotations", None), getattr(rec, "annotation_error", "")
    if ann_error:  # said, not swallowed: the record opened without them
        parts.append(f"<span style='color:{WARN_COLOR}'>{'.atr unreadable' if compact else html.escape(ann_error)}"
                     "</span>")
    elif ann is not None and not compact:
        parts.append(html.escape(ann.summary()))
    return sep.join(parts) + gaps


def model_window(detail: dict | None, brief: bool = False) -> str:
    """What part of the record the model saw, from Classifier.classify_detail (HTML, short), or '';
    `brief`: only what the user must know (a window of a cropped record, saturation)."""
    if not detail or "window" not in detail:
        return ""
    if brief and not (detail.get("cropped") or detail.get("saturated")):
        return ""
    t0, t1 = detail["window"]
    if detail.get("windows"):
        seen = f"whole record in {len(detail['windows'])} windows"
    elif detail.get("cropped"):
        seen = f"saw {clock(t0)}–{clock(t1)} of {clock(detail['duration_s'])} only"
        seen = f"<span style='color:{WARN_COLOR}'>{seen}</span>"
    else:
        seen = "saw the whole record" + (" (zero-padded)" if detail.get("padded") else "")
    if detail.get("saturated"):
        seen += (f", <span style='color:{WARN_COLOR}'>{100 * detail.get('saturated_fraction', 0):.1f} % "
                 "saturated</span>")
    return seen


def attacked_window(result) -> str:
    """' on m:ss–m:ss' when the attack changed one window of a longer record, else ''."""
    pl = result.placement
    if pl.n >= len(result.x0):
        return ""
    return f" on {clock(pl.src_start / result.fs)}–{clock((pl.src_start + pl.n) / result.fs)}"


def session_summary(wb, detail: dict | None = None, compact: bool = False, brief: bool = False) -> str:
    """Model prediction (with what part of the record the model saw: `detail`, see model_window),
    attack outcome and band size of a Workbench session (HTML), or ''. `compact`: short class
    names and words (a narrow window); `brief` (with compact): the model's window only when cropped."""
    if wb.record is None:
        return ""
    parts = []
    name = (lambda c: SHORT_NAMES.get(c, c)) if compact else (lambda c: CLASS_NAMES.get(c, c))  # noqa: E731
    if wb.prediction is not None:
        p, probs = wb.prediction
        model = wb.model.name if wb.model else "?"
        seen = model_window(detail, brief=brief)
        head = f"{model}:" if compact else f"Model ({model}):"
        parts.append(f"{head} <b>{name(p)}</b> {100 * probs[p]:.0f} %" + (f" · {seen}" if seen else ""))
    elif detail and detail.get("refused"):
        parts.append(f"<span style='color:{WARN_COLOR}'>Not classified: {wb.record.lead} is not an ECG "
                     "channel</span>")
    elif wb.model is not None:
        parts.append("Model: classifying…")
    r = wb.attack_result
    if r is not None:
        what = f"{wb.method.upper()} ε {wb.params.eps_mv:g} mV{attacked_window(r)}"
        adv = f"<b>{name(r.adv_pred)}</b> {100 * r.adv_probs[r.adv_pred]:.0f} %"
        after = what if compact else f"after {what}"
        if r.success:
            verdict = "changed" if compact else "diagnosis changed"
            parts.append(f"<span style='color:{ADVERSARIAL_COLOR}'>{after}: {adv} — {verdict}</span>")
        else:
            parts.append(f"{after}: {adv} — not fooled")
    if wb.band_result is not None:
        parts.append(f"<span style='color:{BAND_COLOR}'>band: {wb.band_result.members.shape[0]} ECGs</span>")
    return (" │ " if compact else " &nbsp;│&nbsp; ").join(parts)


def attack_row_status(r, method: str, eps_mv: float) -> tuple[str, str]:
    """(short status, tooltip) of an attacked record for the record browser."""
    status = ("→ " + r.adv_pred) if r.success else ("held" if r.success is False else "at target")
    verdict = "diagnosis changed" if r.success else "not fooled" if r.success is False else "already the target"
    return status, f"{method.upper()} ε {eps_mv:g} mV: {r.orig_pred} → {r.adv_pred} ({verdict})"
