"""Dataset-level attack runs: a resumable JSONL results file, paper-style success rates, sharding.

Results file (JSON Lines):
- line 1, the header: {"kind": "ecgadv-attack-eval/1", "model", "model_sha", "method", "params",
  "lead", "dataset", "split"}. A rerun with the same file must use the same model (by weight
  checksum), method, attack parameters and lead, otherwise it stops with an error;
- then one line per finished record: the attack result (`AttackResult.to_json()`) plus
  "correct" (true label == original prediction, null when unlabelled) and "out" (saved example
  or null), or {"record", "error"} for a record that could not be read.
Lines are appended, flushed and fsync'ed as each batch finishes, so a killed run loses at most the
batch in flight. A rerun skips every record already in the file (resume: nothing lost, nothing
repeated). A torn last line (killed mid-write) is dropped and redone.

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
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Callable

import numpy as np
import torch

from .attacks.base import AttackParams
from .attacks.runner import AttackInput, run_attack
from .datasets import Dataset
from .errors import Cancelled, UserError
from .models.classifier import Classifier
from .records import read_record, record_base

KIND = "ecgadv-attack-eval/1"
CHECKED = ("kind", "model_sha", "method", "params", "lead")
MEASURES = ("linf_mv", "l2_mv", "snr_db", "prd", "smoothness", "square_wave")


# -- header ------------------------------------------------------------------------------------

def model_fingerprint(clf: Classifier) -> str:
    """SHA-256 (first 16 hex digits) over the module's state_dict names, shapes and values."""
    h = hashlib.sha256(json.dumps({"arch": clf.meta.get("arch"), "classes": clf.classes,
                                   "fs": clf.fs, "length": clf.length,
                                   "units_per_mv": clf.units_per_mv}, sort_keys=True).encode())
    for k, v in clf.module.state_dict().items():
        t = v.detach().cpu().contiguous()
        h.update(f"{k}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


def params_doc(params: AttackParams) -> dict:
    """AttackParams as plain JSON (tuples as lists), the form stored in headers and outputs."""
    d = asdict(params)
    if not d["target_map"]:
        del d["target_map"]  # headers written before per-class targets existed still match
    return json.loads(json.dumps(d))


def make_header(clf: Classifier, method: str, params: AttackParams, lead: str | None = None,
                dataset: str | None = None, split: str | None = None,
                fingerprint: str | None = None) -> dict:
    return {"kind": KIND, "model": clf.name, "model_sha": fingerprint or model_fingerprint(clf),
            "method": method, "params": params_doc(params), "lead": lead,
            "dataset": os.path.abspath(dataset) if dataset else None, "split": split}


def check_header(found: dict, want: dict, path: str) -> None:
    """UserError naming the first setting that differs between a results file and this run."""
    for key in CHECKED:
        a, b = found.get(key), want.get(key)
        if a == b:
            continue
        if key == "params" and isinstance(a, dict) and isinstance(b, dict):
            diff = [f"{k} {a.get(k)!r} in the file vs {b.get(k)!r} now" for k in sorted(set(a) | set(b))
                    if a.get(k) != b.get(k)]
            what = "attack parameters differ: " + "; ".join(diff)
        elif key == "model_sha":
            what = f"the model differs (file: {found.get('model')!r}, weights {a}; now {want.get('model')!r}, {b})"
        elif key == "kind":
            what = f"it is not an attack-eval results file (kind {a!r})"
        else:
            what = f"{key} differs ({a!r} in the file vs {b!r} now)"
        raise UserError(f"{path} was made with different settings: {what}; "
                        "use another --results file (or delete this one) to start afresh")


# -- the JSONL file ------------------------------------------------------------------------------

def read_results(path: str, repair: bool = False) -> tuple[dict | None, dict[str, dict]]:
    """(header, {record: row}) of a results file; (None, {}) when it does not exist or is empty.

    A last line without its newline (the run was killed while writing it) is ignored, and with
    `repair` cut off the file so appending continues on a clean line.
    """
    if not os.path.exists(path):
        return None, {}
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise UserError(f"cannot read results file {path}: {exc.strerror}") from None
    pieces = data.split(b"\n")  # the last piece follows the last newline: empty unless torn
    header, rows = None, {}
    for i, raw in enumerate(pieces[:-1]):
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise UserError(f"{path}: line {i + 1} is not a JSON object; the results file is damaged")
        if header is None:
            if doc.get("kind") != KIND:
                raise UserError(f"{path} is not an attack-eval results file (its first line has no "
                                f"\"kind\": \"{KIND}\")")
            header = doc
        elif "record" in doc:
            rows.setdefault(doc["record"], doc)
    good_end = len(data) - len(pieces[-1])
    if repair and good_end < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(good_end)
            fh.flush()
            os.fsync(fh.fileno())
    return header, rows


def append_lines(path: str, docs: list[dict]) -> None:
    """Append JSON lines, flushed and fsync'ed (durable once this returns)."""
    if not docs:
        return
    text = "".join(json.dumps(d, default=float) + "\n" for d in docs)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def part_path(results: str, rank: int) -> str:
    return f"{results}.rank{rank}.part"


def consolidate(results: str, header: dict) -> dict[str, dict]:
    """Make sure `results` exists with a matching header; merge leftover part files into it.

    Returns the finished rows. Only one process (rank 0) may call this at a time.
    """
    folder = os.path.dirname(os.path.abspath(results))
    if not os.path.isdir(folder):
        raise UserError(f"folder of the results file does not exist: {folder}")
    found, rows = read_results(results, repair=True)
    if found is None:
        with open(results, "w", encoding="utf-8") as fh:  # empty or new: header first
            fh.write(json.dumps(header) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    else:
        check_header(found, header, results)
    for part in sorted(glob.glob(glob.escape(results) + ".rank*.part")):
        p_head, p_rows = read_results(part)
        if p_head is not None:
            check_header(p_head, header, part)
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
    att = [r for r in rows if r.get("success") is not None]
    s = sum(1 for r in att if r["success"])
    return {"n": len(rows), "attacked": len(att), "success": s, "success_rate": (s / len(att)) if att else None}


def summarize(rows: list[dict], classes: list[str] | None = None) -> dict:
    """Paper-style summary of result rows (see the module docstring)."""
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
                        "success": rate["success"], "success_rate": rate["success_rate"]}
    return {"n": len(ok), "correct": len(correct), "attacked": main["attacked"], "success": main["success"],
            "success_rate": main["success_rate"], "per_class": per_class,
            "misclassified": {k: v for k, v in _rate(wrong).items()},
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
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Dist(), device
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        device = torch.device("cuda", local % max(1, torch.cuda.device_count()))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # shards can take hours and finish at different times: the final barrier must wait
        dist.init_process_group(backend, timeout=timedelta(days=7))
    return Dist(rank, world, local, backend), device


# -- the run -------------------------------------------------------------------------------------

def _ours(base: str) -> bool:
    """True when a WFDB record at `base` was written by this program (provenance comment)."""
    try:
        with open(base + ".hea", encoding="utf-8", errors="replace") as fh:
            return "ecg-adv-workbench" in fh.read(4096)
    except OSError:
        return False


def run_eval(clf: Classifier, ds: Dataset, names: list[str], *, method: str, params: AttackParams,
             results: str, batch_size: int = 16, out_dir: str | None = None, lead: str | None = None,
             overwrite: bool = False, split: str | None = None, dist: Dist | None = None,
             progress: Callable[[int, int], None] | None = None,
             step_progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> dict | None:
    """Attack `names` of `ds`, appending to the results file; returns the summary (rank 0; other
    ranks return None). `progress(done, total)` counts this rank's records, finished earlier
    runs included; `step_progress` is run_attack's step callback for the batch in flight.
    Raises engine.errors.Cancelled (from the attack) or KeyboardInterrupt; what finished is kept.
    """
    from .export import write_adversarial

    dist = dist or Dist()
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    header = make_header(clf, method, params, lead, ds.folder, split)
    problem = None
    if dist.rank == 0:
        try:
            consolidate(results, header)
        except UserError as exc:
            problem = str(exc)
    problem = dist.share(problem)  # every rank stops with rank 0's error, none waits forever
    if problem:
        raise UserError(problem)
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
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(header) + "\n")
    for s in range(0, len(mine), batch_size):
        if should_stop and should_stop():
            raise Cancelled(f"attack-eval cancelled after {count} of {total} records")
        chunk = mine[s:s + batch_size]
        inputs, lines, origin = [], {}, {}
        for name in chunk:
            try:
                rec = read_record(ds.path(name), label=ds.label(name))
                x, ld = rec.lead_mv(lead)
                inputs.append(AttackInput(name=name, x_mv=x, fs=rec.fs, true=ds.label(name),
                                          quantum_mv=1.0 / ld.gain if ld.gain else 0.0))
                origin[name] = (rec.path, ld.gain)
            except UserError as exc:
                lines[name] = {"record": name, "error": str(exc)}
        res = run_attack(clf, inputs, method, params, batch_size=max(1, len(inputs)),
                         progress=step_progress, should_stop=should_stop) if inputs else []
        for r in res:
            out = None
            if out_dir:
                base = os.path.join(out_dir, f"{r.record}_{method}")
                exists = os.path.exists(base + ".hea") or os.path.exists(base + ".dat")
                out = write_adversarial(out_dir, r, model=clf.name, method=method, params=params,
                                        source=origin[r.record][0], gain=origin[r.record][1] or 1000.0,
                                        overwrite=overwrite or (exists and _ours(record_base(base))))
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
