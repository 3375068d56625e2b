"""Resumable JSON Lines results files: read (torn last line repaired), open or start, append.

The layout shared by attack-eval and band-eval (engine.attack_eval, engine.band_eval): line 1 is
a header object, then one object per finished record ({"record": name, ...}). Lines are appended
flushed and fsync'ed; a last line without its newline (the run was killed while writing it) is
ignored when reading and, with `repair`, cut off so appending continues on a clean line.

Each caller describes its file with a `ResultsFormat` (how to recognise its header, which rows
are valid, how a header must match the run); the messages it raises name that file's kind.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Callable

from .errors import UserError
from .outputs import write_text_atomic

__all__ = ["ResultsFormat", "read_jsonl_results", "open_results", "check_replaceable", "write_header",
           "append_lines", "valid_record_row"]


@dataclass(frozen=True)
class ResultsFormat:
    """What a results file of one kind looks like.

    check_first(path, doc): raise UserError when `doc` (the first line) is not this kind's header.
    valid_row(doc): whether a record line is well formed.
    row_what: the row's name in the "line N is not a valid <row_what>" error.
    check(found, want, path): raise UserError naming what differs between the file's header and
      the run's (used by `open_results`).
    other_lines: lines without a "record" key are passed over (else they must be valid rows).
    """

    check_first: Callable[[str, dict], None]
    valid_row: Callable[[dict], bool]
    row_what: str
    check: Callable[[dict, dict, str], None]
    other_lines: bool = False


def valid_record_row(doc: dict) -> bool:
    """What every record line has: a record name and either an error text ("error") or the
    original and adversarial predictions (class names). Callers check the rest of a full row."""
    if not isinstance(doc.get("record"), str):
        return False
    if "error" in doc:
        return isinstance(doc["error"], str)
    return all(isinstance(doc.get(k), str) for k in ("orig_pred", "adv_pred"))


class _NonFinite(Exception):
    pass


def _no_constant(name: str):
    raise _NonFinite(name)


def _finite(obj):
    """`obj` with every non-finite float (NaN, ±inf) replaced by None: what results files hold."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _finite_scalar(obj):
    """json.dumps' `default`: a numpy scalar (float32, int64 …) as a float, non-finite as None."""
    return _finite(float(obj))


def read_jsonl_results(path: str, fmt: ResultsFormat, repair: bool = False) -> tuple[dict | None, dict[str, dict]]:
    """(header, {record: row}) of a results file; (None, {}) when it does not exist or is empty.

    A record's first row wins. A torn last line is ignored, and with `repair` cut off the file.
    Raises UserError (one line) for an unreadable file, a line that is not a JSON object, a first
    line that is not `fmt`'s header, or an invalid row.
    """
    if not os.path.exists(path):
        return None, {}
    if not os.path.isfile(path):  # a folder, device or pipe: reading it may block or never end
        raise UserError(f"results file {path} is not a regular file")
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
            doc = json.loads(raw, parse_constant=_no_constant)
        except _NonFinite:
            raise UserError(f"{path}: line {i + 1} holds NaN or Infinity, which this app never writes; the "
                            "results file is damaged") from None
        except (ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
            doc = None
        if not isinstance(doc, dict):
            if header is None:  # its first line: some other file, not a damaged results file
                raise UserError(f"{path} is not a results file (its first line is not a JSON object)")
            raise UserError(f"{path}: line {i + 1} is not a JSON object; the results file is damaged")
        if header is None:
            fmt.check_first(path, doc)
            header = doc
        elif fmt.other_lines and "record" not in doc:
            continue
        elif not fmt.valid_row(doc):
            raise UserError(f"{path}: line {i + 1} is not a valid {fmt.row_what}; the results file is damaged")
        else:
            rows.setdefault(doc["record"], doc)
    good_end = len(data) - len(pieces[-1])
    if header is None and pieces[-1].strip():
        # a header is written whole (atomically), so text without one complete line is some other
        # file named by mistake: never "repaired" (cut to nothing) and replaced
        raise UserError(f"{path} is not a results file (no complete first line); name another file")
    if repair and good_end < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(good_end)
            fh.flush()
            os.fsync(fh.fileno())
    return header, rows


MAX_HEADER_LINE = 256 * 1024 * 1024  # bytes read to find a results file's first line
# the "kind" of every results file's header (attack-eval, also of robustness and card cells; band-eval;
# certify; smooth-attack): a file of another kind may be replaced by --overwrite, nothing else
RESULTS_KINDS = ("ecgadv-attack-eval/", "ecgadv-band-eval/", "certify-eval", "smooth-attack")


def check_replaceable(path: str, fmt: ResultsFormat | None = None) -> None:
    """UserError unless `path` is absent, empty, or a results file: its first line a header that
    `fmt` accepts or whose "kind" is one of RESULTS_KINDS (another run's or another command's).
    What `restart` (--overwrite) may replace: a label file, a record, a checkpoint, a saved card
    or any other file named as a results file by mistake is never replaced."""
    if os.path.exists(path) and not os.path.isfile(path):
        raise UserError(f"results file {path} is not a regular file")
    try:
        with open(path, "rb") as fh:
            first = b""
            while not first.strip():
                line = fh.readline(MAX_HEADER_LINE)
                if not line:
                    return  # empty (or blank) file
                first = line
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserError(f"cannot read results file {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(first)
    except (ValueError, UnicodeDecodeError, RecursionError):
        doc = None
    if isinstance(doc, dict) and fmt is not None:
        try:
            fmt.check_first(path, doc)
            return  # this command's results file (of another run)
        except UserError:
            pass
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if not (isinstance(kind, str) and kind.startswith(RESULTS_KINDS)):
        what = f"a {kind[:40]!r} file" if isinstance(kind, str) else (
            "its first line is a JSON object without a results kind" if isinstance(doc, dict)
            else "its first line is not a JSON object")
        raise UserError(f"{path} is not a results file ({what}); --overwrite replaces only results files: "
                        "name another file, or delete this one yourself")


def write_header(path: str, header: dict) -> None:
    """Start (or replace) a results file with its header line, whole or not at all."""
    write_text_atomic(path, json.dumps(_finite(header), allow_nan=False) + "\n")


def open_results(path: str, header: dict, fmt: ResultsFormat, restart: bool = False) -> dict[str, dict]:
    """Resume or start the results file `path` for a run whose header is `header`; its rows.

    An existing file is repaired (torn last line) and its header checked with `fmt.check`; one
    that does not match, or is damaged, is refused (UserError) unless `restart`, which replaces
    it with a fresh file (never a folder, nor a file that is not a results file: check_replaceable).
    A new, empty or replaced file gets `header` first.
    The caller holds the file's engine.outputs.FileLock.
    """
    try:
        found, rows = read_jsonl_results(path, fmt, repair=True)
        if found is not None:
            fmt.check(found, header, path)
    except UserError:
        if not restart or os.path.isdir(path):
            raise
        check_replaceable(path, fmt)  # --overwrite replaces results files, never a label file or a record
        found, rows = None, {}
    if found is None:
        write_header(path, header)
    return rows


def append_lines(path: str, docs: list[dict]) -> None:
    """Append JSON lines, flushed and fsync'ed (durable once this returns)."""
    if not docs:
        return
    text = "".join(json.dumps(_finite(d), default=_finite_scalar, allow_nan=False) + "\n"
                   for d in docs)  # numpy scalars as floats, NaN/inf as null: strict JSON lines
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
