"""The Workbench layer: the one Qt-free implementation of every workflow, under both front ends.

* `Workbench` (session.py): the session state (model, dataset, record, attack, band) with
  listeners, and job factories built from that state;
* `jobs`: the workflow jobs `fn(progress, should_stop)` (open, classify, attack, band, export,
  evaluate, attack-eval, robustness, train), run inline by the CLI and in a QThread by the GUI;
* `selection`: which records a dataset workflow uses (split, labels, limit, train/validation).
"""

from . import jobs, selection
from .jobs import OpenedRecord, TrainRequest
from .session import Workbench

__all__ = ["Workbench", "OpenedRecord", "TrainRequest", "jobs", "selection"]
