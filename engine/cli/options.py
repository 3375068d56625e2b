"""Range-checked option values for the command line.

Every numeric option is declared as an engine.attacks.params.Param (flag, unit, default, range,
help) and parsed by its `type=` converter: a value outside the range, nan or inf is refused by
argparse with one line naming the allowed range (exit 2), before any work starts.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from ..attacks.params import Param
from ..attacks.registry import arg_type
from ..train_params import MAX_SEED, dest

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,3})?)$")


def add_ranged(p: argparse.ArgumentParser, flag: str, kind: type, lo: float, hi: float, default: Any,
               help: str, unit: str = "", lo_open: bool = False) -> Param:
    """Add `flag` whose values must lie in [lo, hi] (`lo_open`: lo excluded); default None means
    'not given' (the command picks a default). Returns the declaration."""
    attr = flag.lstrip("-").replace("-", "_")
    return add_declared(p, Param(attr, flag, flag, unit, default, lo, hi, help, kind=kind, lo_open=lo_open))


def add_declared(p: argparse.ArgumentParser, decl: Param) -> Param:
    """Add the option a Param declares, under the flag's name (--noise-sd -> args.noise_sd)."""
    shown = "" if decl.default is None else f" (default {decl.default:g}{' ' + decl.unit if decl.unit else ''})"
    p.add_argument(decl.flag, dest=dest(decl), type=arg_type(decl),
                   default=decl.default, metavar=(decl.unit or "N").upper(),
                   help=f"{decl.help}; {decl.range_text()}{shown}")
    return decl


def add_seed(p: argparse.ArgumentParser, help: str = "random seed") -> Param:
    return add_ranged(p, "--seed", int, 0, MAX_SEED, 0, help)


def add_batch_size(p: argparse.ArgumentParser, default: int | None, help: str = "records per batch",
                   hi: int = 4096) -> Param:
    return add_ranged(p, "--batch-size", int, 1, hi, default, help)


def add_attack_batch(p: argparse.ArgumentParser, default: int = 16) -> Param:
    """--batch-size of the commands that attack records (records attacked at once)."""
    return add_batch_size(p, default, "records attacked at once", hi=1024)


def add_results_file(p: argparse.ArgumentParser, flag: str, command: str) -> None:
    """The resumable JSONL results file of a dataset command (`command` names the default)."""
    p.add_argument(flag, default=None,
                   help="JSONL results file, appended as records finish; rerun to resume (default: "
                        f"{command}_<dataset>_<split>_<model>_<method>_eps<ε>.jsonl in the current folder)")


def add_limit(p: argparse.ArgumentParser, help: str = "only the first N labelled records of the split") -> Param:
    return add_ranged(p, "--limit", int, 1, 10_000_000, None, help)


SPLIT_HELP = ("all, paper-val, paper-train, strat-val[:SEED], strat-train[:SEED] or a file of record names "
              "(default all)")


def add_dataset_args(p: argparse.ArgumentParser, limit: bool = True) -> None:
    """The records a dataset command reads: the positional dataset folder, --split, --labels and
    (with `limit`) --limit."""
    p.add_argument("dataset")
    p.add_argument("--split", default="all", help=SPLIT_HELP)
    p.add_argument("--labels", default=None, help="label file (default: REFERENCE*.csv in the folder)")
    if limit:
        add_limit(p)


def device_type(text: str) -> str:
    """argparse type for --device: cpu, cuda, cuda:N, mps or auto."""
    t = text.strip().lower()
    if not _DEVICE.match(t):
        raise argparse.ArgumentTypeError(f"unknown device {text!r} (use cpu, cuda, cuda:N, mps or auto)")
    return t
