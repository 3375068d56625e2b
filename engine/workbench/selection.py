"""Choosing the records of a workflow: the one implementation for the CLI and the GUI.

`split_records` picks the labelled records of a split (with the warnings both front ends show);
`training_split` turns a pool into training and validation names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..datasets import CLASSES, Dataset, select_split, stratified_split
from ..errors import UserError

Warn = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


@dataclass
class Selection:
    names: list[str]  # the labelled records used
    missing: list[str]  # records the split lists that the folder lacks


def split_records(ds: Dataset, split: str | None, limit: int | None = None, *, warn: Warn = _quiet,
                  need_labels: bool = False) -> list[str]:
    """Labelled record names of `split` in `ds`: `select_records(...).names`."""
    return select_records(ds, split, limit, warn=warn, need_labels=need_labels).names


def select_records(ds: Dataset, split: str | None, limit: int | None = None, *, warn: Warn = _quiet,
                   need_labels: bool = False) -> Selection:
    """Labelled record names of `split` in `ds` (first `limit` of them when given) and the missing ones.

    `warn(text)` receives one line for records of the split missing from the folder and for
    unlabelled records skipped. UserError when nothing is left, when `limit` < 1, or (with
    `need_labels`, for success rates that need the true class) when the dataset has no labels.
    """
    if need_labels and not ds.labels:
        raise UserError(f"{ds.folder}: no labels (REFERENCE*.csv) found; success rates need the true "
                        "classes (pass --labels FILE)")
    sp = select_split(ds, split)
    if sp.missing:
        warn(f"warning: {sp.describe_missing()}")
    names = [n for n in sp.names if ds.label(n) in CLASSES]
    if len(names) < len(sp.names):
        warn(f"note: {len(sp.names) - len(names)} unlabelled records of the split are skipped")
    if limit is not None:
        if int(limit) < 1:
            raise UserError("--limit must be at least 1")
        names = names[: int(limit)]
    if not names:
        raise UserError(f"{ds.folder}: no labelled records in split {split!r}")
    return Selection(names, list(sp.missing))


@dataclass
class TrainingSplit:
    train: list[str]
    val: list[str]
    description: str  # how the validation records were chosen (goes into the model card)


def training_split(ds: Dataset, names: list[str], val_split: str = "strat", seed: int = 0) -> TrainingSplit:
    """Training and validation names from a pool: 'strat' is a seeded stratified 10 % of the pool,
    anything else a split name or file whose labelled records are held out."""
    if val_split == "strat":
        tr, va = stratified_split(names, ds.labels, 0.1, seed)
        desc = f"seeded stratified 10% of the pool (seed {seed})"
    else:
        held = [n for n in select_split(ds, val_split).names if ds.label(n) in CLASSES]
        held_set = set(held)
        tr, va, desc = [n for n in names if n not in held_set], held, val_split
    if not tr or not va:
        raise UserError("training needs labelled records in both the training and the validation split")
    return TrainingSplit(tr, va, desc)
