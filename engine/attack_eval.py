"""Dataset-level attack runs: a resumable JSONL results file, paper-style success rates, sharding.

Results file (JSON Lines):
- line 1, the header: {"kind": "ecgadv-attack-eval/2", "model", "model_sha", "method", "params",
  "lead", "dataset", "split", "records", "labels"}: "dataset" is the absolute folder, "records"
  maps every record of the run to a digest of its files (`record_digest`: the .hea and the data
  files it names), "labels" maps it to its true class. A rerun with the same file must use the
  same model (by weight checksum, `model_fingerprint`), method, attack parameters, lead, dataset
  folder, record list (as a set), record files and labels, otherwise it stops with a one-line
  error naming what differs -- unless `restart` (CLI `--overwrite`) is given, which replaces a
  results file that does not match (a matching one is always resumed). Files of the older
  "ecgadv-attack-eval/1" format do not identify their data and are refused the same way;
- then one line per finished record: the attack result (`AttackResult.to_json()`) plus
  "correct" (true label == original prediction, null when unlabelled) and "out" (saved example
  or null), or {"record", "error"} for a record that could not be read.
Lines are appended, flushed and fsync'ed as each batch finishes, so a killed run loses at most the
batch in flight. A rerun skips every record already in the file (resume: nothing lost, nothing
repeated). A torn last line (killed mid-write) is dropped and redone.

One writer at a time: the process that writes the results file (rank 0 under torchrun) holds
`engine.outputs.FileLock` on it (`<results>.lock`) for the whole run; a second run on the same
file stops with a one-line error. A lock left by a killed run is taken over.

Batch grouping: records are attacked `batch_size` at a time, and the outcome of one record does
not depend on which others share its batch, up to floating-point rounding: without
`random_start`, PGD reproduces to the sample on CPU; SAP (whose sign steps follow gradients that
round differently in another batch) moved, on 3 of the 12 bundled samples (batch 1 vs 4 or 12,
paper defaults), up to 8 % of the samples by 1-5 ADC quanta (at most 5 µV, within ε), changing
L2/SNR/PRD/square-wave by under 0.4 % and the class probabilities by under 5e-4, with every
prediction and success flag unchanged (tests/test_resume_identity.py checks flags equal, metrics
within 1 %, probabilities within 2e-3); a record that close to the decision boundary could in
principle flip. With `random_start` the start noise is
drawn per batch, so results do depend on the grouping (the same `batch_size` reproduces them).

Under torchrun (env WORLD_SIZE > 1) each rank attacks a strided shard of the records still to do
and appends to its own part file `<results>.rank<R>.part`; after a barrier rank 0 merges the parts
into the results file (skipping records already there) and deletes them. Leftover part files of
a killed distributed run are merged at the start of the next run, whatever its world size.

Success follows the paper: among records the model classified correctly, the share whose
prediction the attack changed (targeted: moved to the target; records already predicted as the
target are not counted). Records misclassified to begin with are attacked too and reported
separately ("misclassified"), with their own flip rate.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import numpy as np
import torch

from .attacks.base import AttackParams
from .attacks.runner import AttackInput, run_attack
from .datasets import Dataset
from .errors import Cancelled, UserError
from .intervals import clopper_pearson
from .models.classifier import Classifier
from .attack_identity import check_identity, dataset_identity, record_digest, run_id  # noqa: F401 (API)
from .outputs import FileLock, check_output, check_output_dir, same_file
from .results_file import (ResultsFormat, append_lines, open_results, read_jsonl_results, valid_record_row,
                           write_header)
from .records import read_record, record_base

KIND = "ecgadv-attack-eval/2"
OLD_KINDS = ("ecgadv-attack-eval/1",)  # results files without dataset identity: refused
CHECKED = ("kind", "model_sha", "method", "params", "lead")
MEASURES = ("linf_mv", "l2_mv", "snr_db", "prd", "smoothness", "square_wave")


# -- header ------------------------------------------------------------------------------------

def model_fingerprint(clf: Classifier) -> str:
    """SHA-256 (first 16 hex digits) over the model's input contract (arch, classes, fs, length,
    units_per_mv) and every state_dict entry's name, shape, dtype and value (weights and buffers
    such as BatchNorm statistics): any change to the weights changes it."""
    h = hashlib.sha256(json.dumps({"arch": clf.meta.get("arch"), "classes": clf.classes,
                                   "fs": clf.fs, "length": clf.length,
                                   "units_per_mv": clf.units_per_mv}, sort_keys=True).encode())
    for k, v in clf.module.state_dict().items():
        t = v.detach().cpu().contiguous()
        h.update(f"{k}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


def params_doc(params: AttackParams, method: str | None = None) -> dict:
    """The attack parameters as plain JSON, the form stored in headers and outputs: with `method`,
    only the parameters that attack reads (engine.attacks.registry.header_params; resuming
    compares these); without, every parameter of every registered attack."""
    from .attacks.registry import ATTACKS, header_params

    if method is not None:
        return header_params(method, params)
    doc: dict = {}
    for name in ATTACKS:
        doc.update(header_params(name, params))
    return doc


def make_header(clf: Classifier, method: str, params: AttackParams, lead: str | None = None,
                dataset: str | None = None, split: str | None = None,
                fingerprint: str | None = None, records: dict | None = None,
                labels: dict | None = None) -> dict:
    """The results file's first line; `records`/`labels` come from `dataset_identity`."""
    return {"kind": KIND, "model": clf.name, "model_sha": fingerprint or model_fingerprint(clf),
            "method": method, "params": params_doc(params, method), "lead": lead,
            "dataset": os.path.abspath(dataset) if dataset else None, "split": split,
            "records": records or {}, "labels": labels or {}}


def check_header(found: dict, want: dict, path: str) -> None:
    """UserError naming the first setting that differs between a results file and this run."""
    for key in CHECKED:
        a, b = found.get(key), want.get(key)
        if key == "params" and isinstance(a, dict) and isinstance(b, dict):
            # only the parameters of the attack that was run (method already matched above)
            from .attacks.registry import params_differences

            diff = params_differences(want.get("method"), a, b)
            if not diff:
                continue
            what = "attack parameters differ: " + "; ".join(diff)
        elif a == b:
            continue
        elif key == "model_sha":
            what = f"the model differs (file: {found.get('model')!r}, weights {a}; now {want.get('model')!r}, {b})"
        elif key == "kind":
            what = f"it is not an attack-eval results file (kind {a!r})"
        else:
            what = f"{key} differs ({a!r} in the file vs {b!r} now)"
        raise UserError(f"{path} was made with different settings: {what}; use another results file "
                        "(attack-eval --results, robustness --results-dir), or --overwrite to start this one afresh")


# -- the JSONL file ------------------------------------------------------------------------------

def _check_first(path: str, doc: dict) -> None:
    """UserError unless `doc` is an attack-eval header of the current format."""
    if doc.get("kind") in OLD_KINDS:
        raise UserError(f"{path} was written by an older version ({doc['kind']}) that does not "
                        "record which dataset files and records it holds; use another results "
                        "file, or --overwrite to start it afresh")
    if doc.get("kind") != KIND:
        raise UserError(f"{path} is not an attack-eval results file (its first line has no "
                        f"\"kind\": \"{KIND}\")")


def read_results(path: str, repair: bool = False) -> tuple[dict | None, dict[str, dict]]:
    """(header, {record: row}) of a results file; (None, {}) when it does not exist or is empty.

    A last line without its newline (the run was killed while writing it) is ignored, and with
    `repair` cut off the file so appending continues on a clean line. Lines without a "record"
    are passed over.
    """
    return read_jsonl_results(path, FORMAT, repair)


def _valid_row(doc: dict) -> bool:
    """A result row as this module writes it: a record name and either an error text or the
    predictions (class names), the success flag and finite-or-null measures."""
    if not valid_record_row(doc):
        return False
    if "error" in doc:
        return True
    if not (doc.get("true") is None or isinstance(doc["true"], str)):
        return False
    if doc.get("success") not in (True, False, None):
        return False
    return all(doc.get(k) is None or (isinstance(doc[k], (int, float)) and not isinstance(doc[k], bool))
               for k in MEASURES)


def part_path(results: str, rank: int) -> str:
    return f"{results}.rank{rank}.part"


def _check_file(found: dict, header: dict, path: str) -> None:
    check_header(found, header, path)
    check_identity(found, header, path)


FORMAT = ResultsFormat(check_first=_check_first, valid_row=_valid_row, row_what="result row",
                       check=_check_file, other_lines=True)


def consolidate(results: str, header: dict, restart: bool = False) -> dict[str, dict]:
    """Make sure `results` exists with a matching header; merge leftover part files into it.

    With `restart` a results file (or part file) that does not match `header`, is of the old
    format or is damaged is replaced by a fresh one instead of refused. Returns the finished
    rows. Only one process (rank 0, holding the lock) may call this at a time.
    """
    folder = os.path.dirname(os.path.abspath(results))
    if not os.path.isdir(folder):
        raise UserError(f"folder of the results file does not exist: {folder}")
    rows = open_results(results, header, FORMAT, restart=restart)
    for part in sorted(glob.glob(glob.escape(results) + ".rank*.part")):
        try:
            p_head, p_rows = read_results(part)
            if p_head is not None:
                _check_file(p_head, header, part)
        except UserError:
            if not restart:
                raise
            p_head = None  # another run's leftovers: dropped
        if p_head is not None:
            new = [r for name, r in p_rows.items() if name not in rows]
            append_lines(results, new)
            rows.update({r["record"]: r for r in new})
        os.remove(part)
    return rows


# -- summary -------------------------------------------------------------------------------------

def _mean(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None and np.isfinite(r[key])]
    return float(np.mean(vals)) if vals else None


def _rate(rows: list[dict]) -> dict:
    """Counts and the success rate of `rows` with its exact 95 % interval (engine.intervals):
    n rows, `attacked` (a success flag: the denominator), `success`, `success_rate`, `success_ci95`."""
    att = [r for r in rows if r.get("success") is not None]
    s = sum(1 for r in att if r["success"])
    ci = clopper_pearson(s, len(att))
    return {"n": len(rows), "attacked": len(att), "success": s, "success_rate": (s / len(att)) if att else None,
            "success_ci95": None if ci is None else list(ci)}


def summarize(rows: list[dict], classes: list[str] | None = None) -> dict:
    """Paper-style summary of result rows (see the module docstring). Every success rate comes with
    its denominator (`attacked`) and a 95 % Clopper–Pearson interval (`success_ci95`, fractions),
    overall, per true class and for the records misclassified to begin with."""
    ok = [r for r in rows if "error" not in r]
    labelled = [r for r in ok if r.get("true") is not None]
    correct = [r for r in labelled if r["true"] == r["orig_pred"]]
    wrong = [r for r in labelled if r["true"] != r["orig_pred"]]
    main = _rate(correct)
    att = [r for r in correct if r.get("success") is not None]
    order = list(classes or [])
    order += sorted({r["true"] for r in labelled} - set(order))
    per_class = {}
    for c in order:
        rc = [r for r in labelled if r["true"] == c]
        if not rc:
            continue
        cc = [r for r in rc if r["true"] == r["orig_pred"]]
        rate = _rate(cc)
        per_class[c] = {"n": len(rc), "correct": len(cc), "attacked": rate["attacked"],
                        "success": rate["success"], "success_rate": rate["success_rate"],
                        "success_ci95": rate["success_ci95"]}
    return {"n": len(ok), "correct": len(correct), "attacked": main["attacked"], "success": main["success"],
            "success_rate": main["success_rate"], "success_ci95": main["success_ci95"],
            "interval": "95% Clopper-Pearson (exact binomial)", "per_class": per_class,
            "misclassified": _rate(wrong),
            "unlabelled": len(ok) - len(labelled), "errors": len(rows) - len(ok),
            **{f"mean_{k}": _mean(att, k) for k in MEASURES}}


# -- distributed ---------------------------------------------------------------------------------

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if not self.active:
            return
        import torch.distributed as dist

        if self.backend == "nccl":
            dist.barrier(device_ids=[self.local_rank])
        else:
            dist.barrier()

    def share(self, obj):
        """Rank 0's `obj` on every rank (a collective: all ranks must call it)."""
        if not self.active:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def dist_from_env(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the torchrun process group when WORLD_SIZE > 1 (gloo on CPU, NCCL on CUDA).

    Returns the rank info and the device this rank should use (cuda:LOCAL_RANK on CUDA).
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return Dist(), device
    import torch.distributed as dist

    rank = _env_int("RANK", None)
    local = _env_int("LOCAL_RANK", rank)
    if not 0 <= rank < world or local < 0:
        raise UserError(f"RANK {rank} / LOCAL_RANK {local} do not fit WORLD_SIZE {world} (start the ranks "
                        "with torchrun)")
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
    if missing:
        raise UserError(f"WORLD_SIZE is {world} but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                        "not set: start several processes "
                        "with `torchrun --nproc_per_node N main.py ...`, or unset WORLD_SIZE for one")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        device = torch.device("cuda", local % max(1, torch.cuda.device_count()))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # shards can take hours and finish at different times: the final barrier must wait
        try:
            dist.init_process_group(backend, timeout=timedelta(days=7))
        except (ValueError, RuntimeError) as exc:  # a bad address or port, the rendezvous refused
            raise UserError(f"cannot join the torchrun process group ({' '.join(str(exc).split())[:200]})") from None
    return Dist(rank, world, local, backend), device


def _env_int(name: str, default: int | None) -> int:
    """A whole-number torchrun variable; UserError (one line) for anything else, or when absent
    without a default."""
    text = os.environ.get(name, "").strip()
    if not text:
        if default is None:
            raise UserError(f"WORLD_SIZE is set but {name} is not: start the ranks with torchrun")
        return default
    try:
        return int(text)
    except ValueError:
        raise UserError(f"environment variable {name}={text[:20]!r} is not a whole number (set by torchrun)") from None


# -- the run -------------------------------------------------------------------------------------

def read_inputs(ds: Dataset, names: list[str], lead: str | None
                ) -> tuple[list[AttackInput], dict[str, dict], dict[str, tuple[str, float, str, float]]]:
    """Read `names` of `ds` for an attack: (inputs in mV with their true labels and ADC quantum,
    {record: error row} for records that could not be read, {record: (path, gain, lead name, fs)})."""
    inputs, errors, origin = [], {}, {}
    for name in names:
        try:
            rec = read_record(ds.path(name), label=ds.label(name))
            x, ld = rec.lead_mv(lead)
            inputs.append(AttackInput(name=name, x_mv=x, fs=rec.fs, true=ds.label(name),
                                      quantum_mv=1.0 / ld.gain if ld.gain else 0.0))
            origin[name] = (rec.path, ld.gain, ld.name, rec.fs)
        except UserError as exc:
            errors[name] = {"record": name, "error": str(exc)}
    return inputs, errors, origin


def _same_run(base: str, rid: str) -> bool:
    """True when the WFDB record at `base` was saved by this very run (its "run:" comment), e.g.
    by the batch in flight when an earlier attempt was killed."""
    try:
        with open(base + ".hea", encoding="utf-8", errors="replace") as fh:
            return f"run: {rid}" in fh.read(1 << 16)
    except OSError:
        return False


def _example_base(out_dir: str, name: str, method: str) -> str:
    return os.path.join(out_dir, f"{name}_{method}")


def _check_examples(out_dir: str, names: list[str], method: str, rid: str, overwrite: bool) -> None:
    """Before any attack: the examples folder is writable and no example would replace a file
    that this run did not write (unless `overwrite`)."""
    check_output_dir(out_dir, "--out folder")
    if overwrite:
        return
    for n in names:
        base = _example_base(out_dir, n, method)
        for f in (base + ".hea", base + ".dat"):
            if os.path.lexists(f) and not _same_run(base, rid):
                raise UserError(f"{f} already exists (use --overwrite to replace it)")


def _prepare(clf: Classifier, ds: Dataset, names: list[str], method: str, params: AttackParams, results: str,
             lead: str | None, split: str | None, out_dir: str | None, overwrite: bool, restart: bool,
             ) -> tuple[dict, dict[str, dict], FileLock]:
    """Rank 0's start: check the outputs, take the lock, open or start the results file."""
    if not results:
        raise UserError("no results file given")
    folder = os.path.dirname(os.path.abspath(results))
    if not os.path.isdir(folder):
        raise UserError(f"folder of the results file does not exist: {folder}")
    if out_dir and os.path.abspath(out_dir) == os.path.abspath(results):
        raise UserError(f"the examples folder (--out) and the results file are both {results}")
    if out_dir and same_file(out_dir, ds.folder):
        raise UserError(f"the examples folder (--out) {out_dir} is the dataset folder: the examples would "
                        "become unlabelled records of the dataset; choose another folder")
    check_output(results, overwrite=True, what="results file")
    lock = FileLock(results).acquire()
    try:
        header = make_header(clf, method, params, lead, ds.folder, split, **dataset_identity(ds, names))
        rows = consolidate(results, header, restart=restart)
        if out_dir:
            _check_examples(out_dir, [n for n in names if n not in rows], method, run_id(header), overwrite)
    except BaseException:
        lock.release()
        raise
    return header, rows, lock


def run_eval(clf: Classifier, ds: Dataset, names: list[str], *, method: str, params: AttackParams,
             results: str, batch_size: int = 16, out_dir: str | None = None, lead: str | None = None,
             overwrite: bool = False, restart: bool = False, split: str | None = None,
             dist: Dist | None = None, progress: Callable[[int, int], None] | None = None,
             step_progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> dict | None:
    """Attack `names` of `ds`, appending to the results file; returns the summary (rank 0; other
    ranks return None). `progress(done, total)` counts this rank's records, finished earlier
    runs included; `step_progress` is run_attack's step callback for the batch in flight.
    `overwrite`: replace example files in `out_dir` (else any not written by this run is
    refused before the attack starts); `restart`: replace a results file that does not match
    this run (see the module docstring) instead of refusing it.
    Raises engine.errors.Cancelled (from the attack) or KeyboardInterrupt; what finished is kept.
    """
    from .export import write_adversarial

    dist = dist or Dist()
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    header, lock, problem, failure = None, None, None, None
    if dist.rank == 0:
        try:
            header, _, lock = _prepare(clf, ds, names, method, params, results, lead, split, out_dir,
                                       overwrite, restart)
        except Exception as exc:  # noqa: BLE001 -- shared below, then re-raised as it was
            failure = exc
            problem = str(exc) if isinstance(exc, UserError) else f"rank 0 failed ({type(exc).__name__})"
    # every rank stops with rank 0's error (none waits forever) and uses rank 0's header
    problem, header = dist.share((problem, header))
    if failure is not None:
        raise failure
    if problem:
        raise UserError(problem)
    try:
        return _run(clf, ds, names, header, method=method, params=params, results=results,
                    batch_size=batch_size, out_dir=out_dir, lead=lead, overwrite=overwrite, dist=dist,
                    progress=progress, step_progress=step_progress, should_stop=should_stop,
                    write_adversarial=write_adversarial)
    finally:
        if lock is not None:
            lock.release()


def _run(clf, ds, names, header, *, method, params, results, batch_size, out_dir, lead, overwrite, dist,
         progress, step_progress, should_stop, write_adversarial) -> dict | None:
    rid = run_id(header)
    _, done = read_results(results)
    todo = [n for n in names if n not in done]
    mine = todo[dist.rank::dist.world]
    finished_before = sum(1 for n in names if n in done)
    total = (len(mine) + finished_before) if not dist.active else len(mine)
    count = total - len(mine)
    if progress:
        progress(count, total)
    target = part_path(results, dist.rank) if dist.active else results
    if dist.active:
        write_header(target, header)
    for s in range(0, len(mine), batch_size):
        if should_stop and should_stop():
            raise Cancelled(f"attack-eval cancelled after {count} of {total} records")
        chunk = mine[s:s + batch_size]
        inputs, lines, origin = read_inputs(ds, chunk, lead)
        res = run_attack(clf, inputs, method, params, batch_size=max(1, len(inputs)),
                         progress=step_progress, should_stop=should_stop) if inputs else []
        for r in res:
            out = None
            if out_dir:
                base = _example_base(out_dir, r.record, method)
                exists = os.path.lexists(base + ".hea") or os.path.lexists(base + ".dat")
                path, gain, lead_name, fs = origin[r.record]
                out = write_adversarial(out_dir, r, model=clf.name, method=method, params=params,
                                        source=path, gain=gain or 1000.0, lead=lead_name, source_fs=fs,
                                        classifier=clf, overwrite=overwrite or (exists and _same_run(base, rid)),
                                        run=rid)
            lines[r.record] = {**r.to_json(), "correct": r.correct, "out": out}
        append_lines(target, [lines[n] for n in chunk if n in lines])
        count += len(chunk)
        if progress:
            progress(count, total)
    dist.barrier()
    if dist.rank != 0:
        return None
    rows = consolidate(results, header) if dist.active else read_results(results)[1]
    summary = summarize([rows[n] for n in names if n in rows], clf.classes)
    summary["pending"] = sum(1 for n in names if n not in rows)
    return summary
