"""The paper code's behaviour, as one switch for attacks on `paper-cnn` (`--paper-code`).

Han et al.'s public code differs from the workbench's defaults in three ways (PAPER.md):
- a record longer than the 18000-sample input is cut to its FIRST 18000 samples (the workbench
  centres the crop); shorter records are zero-padded equally on both sides in both;
- during the PGD/SAP iterations δ (PGD) and θ (SAP) live on the zero padding too, and the
  perturbation is zeroed on the padding only once, at the end (the workbench keeps it zero on the
  padding at every step);
- the loss is the cross-entropy to the record's TRUE label (the workbench: to the model's own
  prediction), so a record without a label cannot be attacked this way.
Success is still judged as everywhere else (the prediction leaves the original prediction, or
reaches the target); with the paper's protocol (`--paper-protocol`, AF → Normal) the loss picks
each record's target by its true class, success by its original prediction. Only `paper-cnn` models (bundled, trained or imported from the paper's
`.pth`) accept the switch.
"""

from __future__ import annotations

import numpy as np

from .errors import UserError

PAPER_ARCH = "paper-cnn"


def uses_paper_code(method: str, params) -> bool:
    """True when `method` reads the paper-code switch and `params` turns it on."""
    from .attacks.registry import spec

    return bool(getattr(params, "paper_code", False)) and any(p.attr == "paper_code" for p in spec(method).params)


def check_paper_code(clf, inputs=()) -> None:
    """UserError (one line) unless `clf` is a paper-cnn and every input has a known true label."""
    arch = clf.meta.get("arch")
    if arch != PAPER_ARCH:
        raise UserError(f"--paper-code reproduces the paper's code on the paper CNN only; model {clf.name} "
                        f"is architecture {arch!r} (use --model {PAPER_ARCH} or a paper-cnn checkpoint)")
    for inp in inputs:
        if inp.true is None:
            raise UserError(f"--paper-code uses each record's true label in the loss; {inp.name} has no label "
                            "(give a labels file, or leave out --paper-code)")
        if inp.true not in clf.classes:
            raise UserError(f"--paper-code: {inp.name}'s label {inp.true!r} is not a class of model {clf.name} "
                            f"({', '.join(clf.classes)})")


def paper_place(n_samples: int, length: int):
    """The paper code's placement: the first `length` samples of a longer record; a shorter one
    centred in zero padding (engine.models.classifier.Placement)."""
    from .models.classifier import Placement, place

    if n_samples >= length:
        return Placement(length, 0, 0, length)
    return place(n_samples, length)


def paper_fit(x: np.ndarray, length: int):
    """x (n,) mV → ((length,) float32 model input, Placement) as the paper's DataLoader places it."""
    p = paper_place(len(x), length)
    return p.apply(x), p
