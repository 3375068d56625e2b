"""Certify every record of a split (engine.certify), resumably: one JSON line per finished record.

The results file (engine.results_file layout) starts with a header naming the model and the
smoothing parameters (σ, n0, n, alpha, seed; not the batch size, which does not change results);
rerunning the same command skips the records already done. The file is locked while a run
appends to it (engine.outputs.FileLock).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Callable

import numpy as np

from .certify import SmoothParams, certify_record, record_input, summarize
from .errors import Cancelled, UserError
from .outputs import FileLock
from .results_file import ResultsFormat, append_lines, open_results, write_header

KIND = "certify-eval"
MATCH = ("sigma_mv", "n0", "n", "alpha", "seed")


def _check_first(path: str, doc: dict) -> None:
    if doc.get("kind") != KIND:
        raise UserError(f"{path} is not a certify results file (its first line has no \"kind\": \"{KIND}\")")


def _valid_row(doc: dict) -> bool:
    return (isinstance(doc.get("record"), str) and isinstance(doc.get("label"), str)
            and (doc.get("pred") is None or isinstance(doc.get("pred"), str))
            and isinstance(doc.get("radius_mv"), (int, float)) and isinstance(doc.get("linf_mv"), (int, float)))


def _check(found: dict, want: dict, path: str) -> None:
    diff = [k for k in ("model", "model_sha") if found.get(k) != want.get(k)]
    diff += [k for k in MATCH if (found.get("params") or {}).get(k) != want["params"][k]]
    if diff:
        raise UserError(f"{path} holds another run's results ({', '.join(diff)} differ); pass another --out "
                        "or --overwrite to start it afresh")


FORMAT = ResultsFormat(check_first=_check_first, valid_row=_valid_row, row_what="certify row", check=_check)


def header_for(clf, params: SmoothParams, split: str) -> dict:
    """The first line: the model by name and by its weights' fingerprint (two checkpoints may share a
    name) and the smoothing parameters; a file made with others is not resumed."""
    from .attack_eval import model_fingerprint

    p = asdict(params)
    return {"kind": KIND, "model": clf.name, "model_sha": model_fingerprint(clf), "split": split,
            "params": {k: p[k] for k in MATCH}}


def input_digest(x: np.ndarray, label: str) -> str:
    """16 hex digits naming what a row was computed from: the record's samples (mV at the model's
    rate) and its label. A resumed row must name the same: not another dataset's record of that name."""
    h = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    h.update(f"\n{label}".encode())
    return h.hexdigest()[:16]


def certify_row(clf, name: str, label: str, x: np.ndarray, params: SmoothParams, should_stop=None) -> dict:
    """One record (n,) mV at the model's rate → its results row (certificate, label, clean prediction)."""
    import torch

    xin, logits_fn, _ = record_input(clf, x, clf.fs)
    with torch.no_grad():
        z = logits_fn(torch.as_tensor(xin[None], device=clf.device))
    c = certify_record(clf, x, clf.fs, params, should_stop=should_stop)
    return {"record": name, "label": label, "clean_pred": clf.classes[int(z.argmax())], **c.to_dict()}


def check_resumed_inputs(results: str, header: dict, done: dict[str, dict], digests: dict[str, str],
                         restart: bool, option: str) -> dict[str, dict]:
    """The rows of `done` to resume: UserError when a row of a record of this run was computed from
    other samples or another label (its "input_sha" is not `digests[name]`), unless `restart`,
    which starts the file afresh (header only; returns {})."""
    changed = [n for n in digests if n in done and done[n].get("input_sha") != digests[n]]
    if changed and not restart:
        raise UserError(f"{results} was made from different data: record {changed[0]}"
                        + (f" (and {len(changed) - 1} more)" if len(changed) > 1 else "")
                        + f" differs (samples or label) from the row in the file; use another {option}, "
                        "or --overwrite to start it afresh")
    if changed:
        write_header(results, header)
        return {}
    return done


def run_certify_eval(clf, names: list[str], labels: list[str], signals: list[np.ndarray], params: SmoothParams,
                     results: str, *, split: str = "", restart: bool = False,
                     progress: Callable[[int, int, str], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> dict:
    """Certify the records not yet in `results` (signals mV at the model's rate), appending a row
    for each; → engine.certify.summarize over every row of the split plus "rows", "d_median",
    "done_before" (rows found on resuming) and "results_file"."""
    lock = FileLock(results).acquire()
    try:
        header = header_for(clf, params, split)
        done = open_results(results, header, FORMAT, restart=restart)
        digests = {n: input_digest(x, lab) for n, lab, x in zip(names, labels, signals)}
        done = check_resumed_inputs(results, header, done, digests, restart, "--out")
        before = sum(n in done for n in names)
        for i, (name, lab, x) in enumerate(zip(names, labels, signals)):
            if name in done:
                continue
            if should_stop is not None and should_stop():
                raise Cancelled("certification cancelled")
            row = {**certify_row(clf, name, lab, x, params, should_stop), "input_sha": digests[name]}
            append_lines(results, [row])
            done[name] = row
            if progress is not None:
                progress(i + 1, len(names), f"certified {i + 1}/{len(names)}: {name} "
                                            f"{row['pred'] or 'abstain'} radius {row['radius_mv']:.4f} mV")
    finally:
        lock.release()
    rows = [done[n] for n in names]
    return {**summarize(rows, params.sigma_mv), "d_median": int(np.median([r["d"] for r in rows])),
            "done_before": before, "results_file": results, "rows": rows}
